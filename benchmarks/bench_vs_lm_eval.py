"""advisor vs lm-evaluation-harness, side by side: label log-likelihood classification.

    python benchmarks/bench_vs_lm_eval.py [--tasks sms_spam,man_pages] [--shots 0,4] [--limit N]

Both tools score the same test items of a shipped classification task (the SMS demo, and
the long-document man-pages set) with the same weights (SmolLM2-135M-Instruct, the local
safetensors folder advisor converted; fp32), the same number of demonstrations, batch 8
and 2 threads, each in its own process timed by /usr/bin/time: wall seconds and peak
resident memory of the whole process (start-up, model load and scoring), so both carry
their fixed costs. lm-evaluation-harness runs from its own virtualenv (.venv-lm-eval,
pinned LM_EVAL, created on first use with the CPU torch from constraints.txt) on a task
written here (YAML + local JSONL, no hub download).

Prompts. `plain`: advisor renders lm-eval's plain prompt (prompting `chat: false`:
instructions, demonstrations `input label`, blank lines between, the input; labels scored
as " label"; no calibration), and lm-eval takes advisor's demonstrations in advisor's order
(`first_n` sampler), so the prompts are identical: the table counts identical prompts and
equal predictions, and accuracy must agree. `own`: advisor's arm as the task file sets it
(chat template, calibration), against the same lm-eval run; accuracy differs by design.
The time and memory targets are advisor (plain) <= 0.5x and <= 1.0x lm-eval.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LM_EVAL = "lm_eval[hf]==0.4.13"
VENV = ROOT / ".venv-lm-eval"
MODEL = "smollm2-135m-instruct"
TASKS = {"sms_spam": ("SMS: {input}\nAnswer:", 150), "man_pages": ("Manual page: {input}\nSection:", 130)}
TIME_TARGET, MEMORY_TARGET = 0.5, 1.0


def stderr(correct: list[bool]) -> float:
    """Standard error of the mean accuracy, as lm-eval reports it (sample standard deviation)."""
    n = len(correct)
    if n < 2:
        return float("nan")
    p = sum(correct) / n
    return math.sqrt(p * (1 - p) * n / (n - 1) / n)


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".advisor-lm-eval"
    if stamp.exists() and stamp.read_text() == LM_EVAL:
        return python
    print(f"== setting up {VENV.name} ({LM_EVAL}, CPU torch; a few minutes the first time)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), "torch", LM_EVAL],
                   check=True)
    stamp.write_text(LM_EVAL)
    return python


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of a process, from GNU time."""
    stats = log.with_suffix(".time")
    with log.open("w") as fh:
        rc = subprocess.run(["/usr/bin/time", "-o", str(stats), "-f", "%e %M", *cmd], env=env, stdout=fh,
                            stderr=subprocess.STDOUT).returncode
    if rc:
        sys.exit(f"command failed ({rc}): {' '.join(cmd)}\n{log.read_text()[-3000:]}")
    wall, kib = stats.read_text().split()[-2:]
    return float(wall), int(kib) / 1024


# -- the advisor side (run in a child process) ------------------------------------------------
def advisor_side(args: argparse.Namespace) -> None:
    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.evaluation.strategy import PrepareContext
    from advisor.spec import load_task
    from advisor.spec.data import load_splits
    from advisor.spec.model import GenerationSpec, ModelSpec
    from strategies.prompting.arm import PromptingConfig, PromptingStrategy

    spec = load_task(ROOT / "benchmarks" / args.task / "task.yaml")
    spec = getattr(spec, "spec", spec)
    splits = load_splits(spec)
    test = splits.test[:args.limit]
    template = TASKS[args.task][0]
    if args.prompts == "plain":
        config = PromptingConfig(shots=args.shots, mode="choice", template=template, chat=False, calibrate=False)
    else:
        arm = next(a for a in spec.arms if a.strategy == "prompting" and a.config.get("mode") == "choice")
        config = PromptingConfig(**{**arm.config, "shots": args.shots})
    started = time.perf_counter()
    backend = TransformersBackend(spec.model_copy(update={
        "model": ModelSpec(name=args.model, dtype="float32", threads=args.threads),
        "generation": GenerationSpec(batch_size=args.batch_size)}))
    loaded = time.perf_counter()
    arm = PromptingStrategy(config, spec)
    arm.prepare(PrepareContext(spec=spec, splits=splits, arm_name="bench", seed=spec.seed, cache_dir=Path(args.out).parent,
                               run_dir=None, backend=backend))
    preds = arm.predict(test, backend)
    done = time.perf_counter()
    Path(args.out).write_text(json.dumps({
        "ids": [s.id for s in test], "targets": [s.target for s in test], "answers": [p.prediction for p in preds],
        "prompts": [arm.parts(s).plain_text() for s in test],
        "demos": [{"id": d.id, "query": template.replace("{input}", d.input), "label": d.target} for d in arm.demos],
        "load_s": loaded - started, "score_s": done - loaded}))


# -- the lm-eval side ---------------------------------------------------------------------------
def write_lm_eval_task(folder: Path, name: str, spec, items: list[dict], demos: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("test", items), ("train", demos or items[:1])):
        with (folder / f"{split}.jsonl").open("w") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    labels = list(spec.labels)
    (folder / f"{name}.yaml").write_text("\n".join([
        f"task: {name}", "dataset_path: json",
        "dataset_kwargs:", "  data_files:", f"    test: {folder / 'test.jsonl'}", f"    train: {folder / 'train.jsonl'}",
        "test_split: test", "fewshot_split: train", "fewshot_config:", "  sampler: first_n",
        "output_type: multiple_choice", f"description: {json.dumps(spec.instructions.strip() + chr(10) * 2)}",
        'doc_to_text: "{{query}}"', "doc_to_target: label", f"doc_to_choice: {json.dumps(labels)}",
        'target_delimiter: " "', f"fewshot_delimiter: {json.dumps(chr(10) * 2)}",
        "metric_list:", "  - metric: acc", "    aggregation: mean", "    higher_is_better: true", ""]))


def read_lm_eval(out: Path, name: str, labels: list[str]) -> dict:
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"][name]
    samples = [json.loads(line) for line in next(out.rglob(f"samples_{name}_*.jsonl")).read_text().splitlines()]
    by_id = {}
    for s in samples:
        lls = [float(r[0]) for r in s["filtered_resps"]]
        args = s["arguments"]
        first = args[0] if isinstance(args, list) else next(iter(args.values()))
        context = first[0] if isinstance(first, list) else next(iter(first.values()))
        by_id[s["doc"]["id"]] = (labels[max(range(len(lls)), key=lls.__getitem__)], context)
    return {"acc": results["acc,none"], "stderr": results["acc_stderr,none"], "by_id": by_id}


def run_pair(args: argparse.Namespace, task: str, shots: int, python: Path, model_path: Path, work: Path,
             env: dict[str, str]) -> list[dict]:
    from advisor.spec import load_task

    spec = load_task(ROOT / "benchmarks" / task / "task.yaml")
    spec = getattr(spec, "spec", spec)
    rows = []
    sides = {}
    for prompts in ("plain", "own"):
        out = work / f"advisor-{task}-{shots}-{prompts}.json"
        cmd = [sys.executable, __file__, "--side", "advisor", "--model", args.model, "--task", task, "--shots", str(shots), "--prompts", prompts,
               "--limit", str(args.limit or TASKS[task][1]), "--threads", str(args.threads),
               "--batch-size", str(args.batch_size), "--out", str(out)]
        wall, mem = timed(cmd, env, out.with_suffix(".log"))
        sides[prompts] = (json.loads(out.read_text()), wall, mem)
    plain = sides["plain"][0]
    template = TASKS[task][0]
    texts = {s.id: s.input for s in _test_items(spec, args.limit or TASKS[task][1])}
    items = [{"id": i, "query": template.replace("{input}", texts[i]), "label": t} for i, t in zip(plain["ids"], plain["targets"])]
    name = f"advisor_{task}_{shots}"
    folder = work / name
    write_lm_eval_task(folder, name, spec, items, plain["demos"])
    out = folder / "out"
    cmd = [str(python), "-m", "lm_eval", "run", "--model", "hf", "--model_args",
           f"pretrained={model_path},dtype=float32", "--tasks", name, "--include_path", str(folder),
           "--num_fewshot", str(shots), "--batch_size", str(args.batch_size), "--device", "cpu",
           "--output_path", str(out), "--log_samples"]
    lm_wall, lm_mem = timed(cmd, env, folder / "lm-eval.log")
    lm = read_lm_eval(out, name, list(spec.labels))
    for prompts, (res, wall, mem) in sides.items():
        correct = [a == t for a, t in zip(res["answers"], res["targets"])]
        same = sum(lm["by_id"][i][0] == a for i, a in zip(res["ids"], res["answers"]))
        identical = sum(lm["by_id"][i][1] == p for i, p in zip(res["ids"], res["prompts"])) if prompts == "plain" else None
        rows.append({"task": task, "shots": shots, "prompts": prompts, "n": len(correct),
                     "acc": sum(correct) / len(correct), "stderr": stderr(correct), "wall_s": wall, "peak_mib": mem,
                     "score_s": res["score_s"], "lm_acc": lm["acc"], "lm_stderr": lm["stderr"], "lm_wall_s": lm_wall,
                     "lm_peak_mib": lm_mem, "same_prediction": same, "identical_prompts": identical})
    return rows


def _test_items(spec, limit: int):
    from advisor.spec.data import load_splits

    return load_splits(spec).test[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="sms_spam,man_pages")
    ap.add_argument("--shots", default="0,4")
    ap.add_argument("--limit", type=int, default=0, help="test items per task (default: the whole test split)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=MODEL, help="packaged model name or a local HF folder (a tiny one checks the plumbing)")
    ap.add_argument("--side", choices=["advisor"], help=argparse.SUPPRESS)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--prompts", choices=["plain", "own"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side == "advisor":
        args.shots = int(args.shots)
        return advisor_side(args)

    from advisor.artifacts.models import resolve_model

    python = ensure_venv()
    model_path = resolve_model(args.model, "float32").path
    threads = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-lm-eval-") as tmp:
        env["HF_DATASETS_CACHE"] = str(Path(tmp) / "hf-datasets")
        for task in args.tasks.split(","):
            for shots in (int(s) for s in args.shots.split(",")):
                print(f"-- {task}, {shots} shots", flush=True)
                rows += run_pair(args, task, shots, python, model_path, Path(tmp), env)
    print(f"\nmodel {args.model} fp32 · batch {args.batch_size} · {args.threads} threads · wall and peak RSS of each "
          f"process (GNU time) · accuracy ± stderr · targets: time <= {TIME_TARGET}x, memory <= {MEMORY_TARGET}x lm-eval")
    head = (f"{'task':<10}{'shots':>6} {'prompts':<8}{'n':>5} {'advisor acc':>14} {'lm-eval acc':>14}"
            f"{'same pred':>10}{'same prompt':>12}{'advisor s':>10}{'lm-eval s':>10}{'time x':>8}"
            f"{'adv MiB':>9}{'lm MiB':>8}{'mem x':>7}")
    print(head)
    for r in rows:
        tx, mx = r["wall_s"] / r["lm_wall_s"], r["peak_mib"] / r["lm_peak_mib"]
        ident = "-" if r["identical_prompts"] is None else f"{r['identical_prompts']}/{r['n']}"
        print(f"{r['task']:<10}{r['shots']:>6} {r['prompts']:<8}{r['n']:>5} "
              f"{100 * r['acc']:>6.1f} ± {100 * r['stderr']:>4.1f} {100 * r['lm_acc']:>6.1f} ± {100 * r['lm_stderr']:>4.1f}"
              f"{r['same_prediction']:>6}/{r['n']:<3}{ident:>12}{r['wall_s']:>10.1f}{r['lm_wall_s']:>10.1f}"
              f"{tx:>7.2f}x{r['peak_mib']:>9.0f}{r['lm_peak_mib']:>8.0f}{mx:>6.2f}x"
              + ("" if r["prompts"] == "own" else f"  {'met' if tx <= TIME_TARGET and mx <= MEMORY_TARGET else 'MISSED'}"))


if __name__ == "__main__":
    main()
