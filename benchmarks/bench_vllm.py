"""Throughput: the transformers backend (batched, in process) vs the vLLM backend (concurrent
requests to a vLLM server started for the benchmark), same model, dtype and prompts.

The workload is the tool's: `classify` = SMS spam/ham prompts answered in one word (up to 4
new tokens: prompt-heavy, like a choice or generate classification arm), `qa` = Debian FAQ
questions answered in two or three sentences (64-128 new tokens: decode-heavy, like a QA or
RAG arm), `mixed` = both lists, each sent as its own batch as the runner sends an arm's
requests. Both backends warm up first; then the same requests go through each, timed as a
whole with time.perf_counter. Reported per backend and workload: output tokens/s, requests/s,
p50/p95 end-to-end latency, p50 time to first token, and the ratio vLLM / transformers
(wall time and output tokens/s), measured in one run so machine noise hits both.

vLLM CPU settings under test: `--omp-bind` (VLLM_CPU_OMP_THREADS_BIND; default every core
of this process: "0-1" on 2 cores), `--kv-cache-gib` (VLLM_CPU_KVCACHE_SPACE), and any
server flags via `--server-args` (e.g. "--max-num-seqs 32 --enable-chunked-prefill
--max-num-batched-tokens 2048"); the server always runs with --enforce-eager on CPU.

    python benchmarks/bench_vllm.py [--workload mixed] [--requests 32] [--dtype auto] [--threads 2]

Needs the vLLM virtualenv (bash scripts/dev.sh test creates .venv-vllm; or set
ADVISOR_VLLM_PYTHON). Run it alone: both sides use every core given to them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from advisor.backends.base import GenerateRequest, Generation
from advisor.spec.model import ModelSpec, TaskSpec
from advisor.decision.stats import percentiles

BENCH = Path(__file__).resolve().parent
SMS = BENCH / "sms_spam" / "data" / "sms_spam.jsonl"
FAQ = BENCH / "debian_faq" / "data" / "qa.jsonl"
ROOT = BENCH.parent


def _requests(workload: str, n: int, max_new: int) -> list[GenerateRequest]:
    if workload == "classify":
        texts = [json.loads(line)["text"] for line in SMS.read_text().splitlines()[:n]]
        system = ("You sort SMS text messages. Spam is unsolicited advertising, prize or lottery claims, premium-rate "
                  "offers and scams; ham is an ordinary personal message. Reply with one word: spam or ham.")
        return [GenerateRequest(messages=[{"role": "system", "content": system},
                                          {"role": "user", "content": f"SMS: {t}"}], max_new_tokens=4) for t in texts]
    questions = [json.loads(line)["question"] for line in FAQ.read_text().splitlines()[:n]]
    system = "You answer questions about the Debian operating system in two or three full sentences."
    return [GenerateRequest(messages=[{"role": "system", "content": system}, {"role": "user", "content": q}],
                            max_new_tokens=max_new) for q in questions]


def _row(name: str, seconds: float, gens: list[Generation]) -> dict:
    ok = [g for g in gens if g.error is None]
    lat = percentiles([g.latency_s * 1000 for g in ok], (50, 95))
    ttft = [g.ttft_s * 1000 for g in ok if g.ttft_s is not None]
    tokens = sum(g.completion_tokens for g in ok)
    return {"backend": name, "wall_s": round(seconds, 2), "requests": len(gens), "errors": len(gens) - len(ok),
            "output_tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
            "requests_per_s": round(len(gens) / seconds, 2), "p50_ms": round(lat["p50"], 1),
            "p95_ms": round(lat["p95"], 1), "ttft_p50_ms": round(percentiles(ttft, (50,))["p50"], 1) if ttft else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", choices=["classify", "qa", "mixed"], default="mixed")
    ap.add_argument("--requests", type=int, default=32, help="requests per workload")
    ap.add_argument("--max-new-tokens", type=int, default=96, help="qa answers (classify: 4)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="transformers CPU threads")
    ap.add_argument("--concurrency", type=int, default=32, help="vLLM requests in flight")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--omp-bind", default=None, help="VLLM_CPU_OMP_THREADS_BIND (default: every core, e.g. 0-1)")
    ap.add_argument("--kv-cache-gib", type=float, default=1.0, help="VLLM_CPU_KVCACHE_SPACE")
    ap.add_argument("--server-args", default="", help="extra vLLM server flags, one string")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.backends.vllm_backend import VllmBackend

    os.environ.setdefault("ADVISOR_VLLM_PYTHON", str(ROOT / ".venv-vllm" / "bin" / "python"))
    cores = sorted(os.sched_getaffinity(0))
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = args.omp_bind or f"{cores[0]}-{cores[-1]}"
    workloads = ["classify", "qa"] if args.workload == "mixed" else [args.workload]
    batches = {w: _requests(w, args.requests, args.max_new_tokens) for w in workloads}
    model = ModelSpec(name=args.model, dtype=args.dtype, threads=args.threads)
    spec = TaskSpec.model_validate({"name": "bench", "type": "generation", "data": {"path": "x.jsonl"},
                                    "model": model.model_dump(), "generation": {"batch_size": args.requests},
                                    "serving": {"concurrency": args.concurrency, "kv_cache_gib": args.kv_cache_gib,
                                                "server_args": args.server_args.split()},
                                    "arms": [{"name": "p", "strategy": "prompting"}]})
    rows: dict[str, list[dict]] = {w: [] for w in workloads}
    outs: dict[str, dict[str, list[Generation]]] = {w: {} for w in workloads}
    tf = TransformersBackend(spec)
    dtype = tf.info.dtype
    for w, reqs in batches.items():
        tf.generate(reqs[:4])  # warm-up
        started = time.perf_counter()
        outs[w]["tf"] = tf.generate(reqs)
        rows[w].append(_row(f"transformers (batch {len(reqs)}, {args.threads} thr)", time.perf_counter() - started,
                            outs[w]["tf"]))
    tf.close()

    vllm = VllmBackend(spec, status=lambda m: print("·", m, flush=True))
    try:
        for w, reqs in batches.items():
            vllm.generate(reqs[:4])  # warm-up
            started = time.perf_counter()
            outs[w]["vllm"] = vllm.generate(reqs)
            rows[w].append(_row(f"vllm (concurrency {args.concurrency})", time.perf_counter() - started,
                                outs[w]["vllm"]))
        version = vllm.info.extra.get("version")
    finally:
        vllm.close()

    print(f"\nmodel {args.model} ({dtype}) · {args.requests} requests a workload · {len(cores)} CPUs · vLLM {version} "
          f"· VLLM_CPU_OMP_THREADS_BIND={os.environ['VLLM_CPU_OMP_THREADS_BIND']} · KV {args.kv_cache_gib:g} GiB · "
          f"server args: {args.server_args or '(none)'} · wall clock, time.perf_counter")
    print(f"{'workload':<9}{'backend':<38}{'wall s':>8}{'out tok/s':>11}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'TTFT p50':>10}")
    summary = {}
    for w in workloads:
        for r in rows[w]:
            print(f"{w:<9}{r['backend']:<38}{r['wall_s']:>8.2f}{r['tokens_per_s']:>11.1f}{r['requests_per_s']:>8.2f}"
                  f"{r['p50_ms']:>9.0f}{r['p95_ms']:>9.0f}{(r['ttft_p50_ms'] or 0):>10.0f}")
        tf_row, v_row = rows[w]
        speed = tf_row["wall_s"] / v_row["wall_s"]
        same = sum(a.text == b.text for a, b in zip(outs[w]["tf"], outs[w]["vllm"]))
        summary[w] = {"wall_ratio": round(speed, 3), "identical": same}
        print(f"{w}: vLLM / transformers = {speed:.2f}x by wall time (target 2x: {'met' if speed >= 2 else 'missed'}),"
              f" identical greedy outputs {same}/{len(batches[w])}")
    total_tf = sum(rows[w][0]["wall_s"] for w in workloads)
    total_v = sum(rows[w][1]["wall_s"] for w in workloads)
    print(f"all workloads: {total_tf / total_v:.2f}x by wall time ({total_tf:.1f} s vs {total_v:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary, "dtype": dtype,
                                         "ratio_all": round(total_tf / total_v, 3)}, indent=2))


if __name__ == "__main__":
    main()
