"""Benchmark: what the response cache saves on reruns of the demo (issue 15).

Three `advisor run` processes on the same task, one after the other, with a fresh response cache
(ADVISOR_RESPONSE_CACHE in a temporary folder) and a fresh artifact cache (LoRA adapters, vector
indexes, classical fits: ADVISOR_CACHE_DIR in the temporary folder, with links to the converted
models and embedders, which stay where they are; `--reuse-artifacts` keeps the user's cache):
  1. cold: every answer computed;
  2. unchanged rerun: every model answer should come from the cache;
  3. one arm's prompt changed (through a copied task file): only that arm should be computed.
For each it prints the process wall time (time.perf_counter around the whole command: Python
start, model load, arms, decision, reports), the arms' own seconds (sum of the record's per-arm
wall_s) and the answers from the cache, then the warm/cold ratios (target: unchanged rerun
<= 5% of cold; the changed run ~ the changed arm's cold seconds). Finally `advisor history` over
the three runs.

    python benchmarks/bench_cache.py --limit 40 --arms zero-shot,k-shot,knn-shot,classical,lora --lora-steps 20

`--lora-steps` sets the LoRA arms' max_steps in the benchmark's copy of the task (all three runs
use that copy), to keep the cold run's training short.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _run(task: Path, out: Path, args, env: dict) -> dict:
    cmd = [sys.executable, "-m", "advisor.cli", "run", str(task), "--out", str(out), "--history",
           str(out.parent / "history.sqlite")]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    if args.arms:
        cmd += ["--arms", args.arms]
    if args.backend:
        cmd += ["--backend", args.backend]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"advisor run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    record = json.loads((out / "run.json").read_text())
    arms = {a["name"]: a for a in record["arms"]}
    return {"wall_s": wall, "arms_s": sum(a["wall_s"] or 0 for a in arms.values()), "arms": arms,
            "winner": (record.get("recommendation") or {}).get("winner"),
            "model_loaded": (record.get("response_cache") or {}).get("model_loaded")}


def _copy_task(task: Path, folder: Path, name: str, edit) -> Path:
    """A copy of the task file (data and corpus paths made absolute), changed by `edit(spec)`."""
    spec = yaml.safe_load(task.read_text(encoding="utf-8"))
    for block in ("data", "corpus"):
        if isinstance(spec.get(block), dict):
            for key in ("path", "train", "validation", "test"):
                if isinstance(spec[block].get(key), str):
                    spec[block][key] = str((task.parent / spec[block][key]).resolve())
    edit(spec)
    out = folder / name
    out.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return out


def _lora_steps(steps: int | None):
    def edit(spec: dict) -> None:
        for arm in spec["arms"]:
            if steps and "lora" in arm.get("strategy", ""):
                arm.setdefault("config", {})["max_steps"] = steps
    return edit


def _change_template(arm: str):
    def edit(spec: dict) -> None:
        target = next(a for a in spec["arms"] if a["name"] == arm)
        target.setdefault("config", {})["template"] = "Text message: {input}"  # one arm's prompt changed, nothing else
    return edit


def _fresh_artifacts(folder: Path) -> Path:
    """An artifact cache root in `folder` that links the user's converted models and embedders (no
    LoRA adapters, indexes or classical fits: the cold run builds them)."""
    from advisor.artifacts.models import cache_root

    real, root = cache_root(), folder / "cache"
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    for name in ("models", "embedders", "packages", "wheels", "artifacts/embedders"):
        if (real / name).exists() and not (root / name).exists():
            (root / name).symlink_to(real / name)
    return root


def _line(name: str, r: dict) -> str:
    cached = sum((a.get("cache") or {}).get("from_cache", 0) for a in r["arms"].values())
    total = sum(a["n"] for a in r["arms"].values())
    def one_off(a: dict) -> str:
        costs = (a.get("prepare") or {}).get("one_off") or []
        return "".join(" [one-off reused]" if c.get("reused") else " [one-off built]" for c in costs)

    per_arm = ", ".join(f"{n} {a['wall_s']:.1f} s{one_off(a)}" for n, a in r["arms"].items())
    return (f"{name:<18} wall {r['wall_s']:7.1f} s   arms {r['arms_s']:7.1f} s ({per_arm})   "
            f"answers from cache {cached}/{total}   model loaded {r['model_loaded']}   winner {r['winner']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", type=Path, default=ROOT / "benchmarks" / "sms_spam" / "task.yaml")
    p.add_argument("--arms", default="zero-shot,k-shot,classical")
    p.add_argument("--change", default="k-shot", help="the arm whose prompt the third run changes")
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--backend", default=None)
    p.add_argument("--keep", type=Path, help="keep the runs and history here (default: a temporary folder)")
    p.add_argument("--lora-steps", type=int, default=None, help="LoRA arms' max_steps in the copied task")
    p.add_argument("--reuse-artifacts", action="store_true",
                   help="use the user's artifact cache (adapters, indexes, fits built before count as reused)")
    args = p.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-cache-"))
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ADVISOR_RESPONSE_CACHE": str(folder / "responses.sqlite"), "PYTHONPATH": str(ROOT)}
    env.pop("ADVISOR_NO_CACHE", None)
    if not args.reuse_artifacts:
        env["ADVISOR_CACHE_DIR"] = str(_fresh_artifacts(folder))
    task = _copy_task(args.task, folder, "task.yaml", _lora_steps(args.lora_steps))
    print(f"task {args.task.name}, arms {args.arms}, --limit {args.limit}, LoRA steps "
          f"{args.lora_steps or 'as in the task'}, {'user' if args.reuse_artifacts else 'fresh'} artifact cache; "
          f"runs in {folder}")
    cold = _run(task, folder / "runs" / "1-cold", args, env)
    print(_line("cold", cold), flush=True)
    warm = _run(task, folder / "runs" / "2-unchanged", args, env)
    print(_line("unchanged rerun", warm), flush=True)
    changed = _run(_copy_task(task, folder, "task-changed.yaml", _change_template(args.change)), folder / "runs" / "3-one-changed", args, env)
    print(_line(f"{args.change} changed", changed), flush=True)
    arm_cold = cold["arms"][args.change]["wall_s"]
    print(f"\nunchanged rerun / cold: wall {warm['wall_s'] / cold['wall_s']:.1%}, "
          f"arms {warm['arms_s'] / cold['arms_s']:.1%} (target <= 5%)")
    print(f"one arm changed / cold: wall {changed['wall_s'] / cold['wall_s']:.1%}, "
          f"arms {changed['arms_s'] / cold['arms_s']:.1%}; {args.change} alone cold: {arm_cold:.1f} s "
          f"= {arm_cold / cold['arms_s']:.1%} of the cold arms; changed run's arms / that: "
          f"{changed['arms_s'] / arm_cold:.2f}x")
    print()
    subprocess.run([sys.executable, "-m", "advisor.cli", "history", str(task), "--history",
                    str(folder / "runs" / "history.sqlite")], env={**env, "COLUMNS": "110"})


if __name__ == "__main__":
    main()
