"""Throughput: the transformers backend (batched, in process) vs the vLLM backend (concurrent
requests to a vLLM server started for the benchmark), same model, dtype and prompts.

Both warm up first; then the same list of requests goes through each, timed as one whole
with time.perf_counter. Reported per backend: output tokens/s and requests/s over the wall
time, p50/p95 end-to-end latency per request and p50 time to first token, and the
throughput ratio vLLM / transformers, measured in one run so machine noise hits both.
A transformers request's latency and TTFT are those of the batch that carried it; a vLLM
request's are its own (streamed).

    python benchmarks/bench_vllm.py [--requests 32] [--max-new-tokens 64] [--threads 2]

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
from advisor.spec.model import GenerationSpec, ModelSpec, TaskSpec
from advisor.decision.stats import percentiles

DATA = Path(__file__).resolve().parent / "sms_spam" / "data" / "sms_spam.jsonl"
ROOT = Path(__file__).resolve().parent.parent


def _requests(n: int, max_new: int) -> list[GenerateRequest]:
    texts = [json.loads(line)["text"] for line in DATA.read_text().splitlines()[:n]]
    system = "Summarise the SMS message in one short sentence."
    return [GenerateRequest(messages=[{"role": "system", "content": system}, {"role": "user", "content": t}],
                            max_new_tokens=max_new) for t in texts]


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
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="transformers CPU threads")
    ap.add_argument("--concurrency", type=int, default=32, help="vLLM requests in flight")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.backends.vllm_backend import VllmBackend

    os.environ.setdefault("ADVISOR_VLLM_PYTHON", str(ROOT / ".venv-vllm" / "bin" / "python"))
    requests = _requests(args.requests, args.max_new_tokens)
    model = ModelSpec(name=args.model, dtype=args.dtype, threads=args.threads)
    spec = TaskSpec.model_validate({"name": "bench", "type": "generation", "data": {"path": "x.jsonl"},
                                    "model": model.model_dump(), "serving": {"concurrency": args.concurrency},
                                    "arms": [{"name": "p", "strategy": "prompting"}]})
    results = []
    tf = TransformersBackend(model, GenerationSpec(batch_size=args.requests))
    tf.generate(requests[:4])  # warm-up
    started = time.perf_counter()
    tf_out = tf.generate(requests)
    results.append(_row(f"transformers (batch {args.requests}, {args.threads} threads)", time.perf_counter() - started, tf_out))
    tf.close()

    vllm = VllmBackend(model, spec=spec, status=lambda m: print("·", m, flush=True))
    try:
        vllm.generate(requests[:4])  # warm-up
        started = time.perf_counter()
        vllm_out = vllm.generate(requests)
        results.append(_row(f"vllm (concurrency {args.concurrency})", time.perf_counter() - started, vllm_out))
        version = vllm.info.extra.get("version")
    finally:
        vllm.close()

    print(f"\nmodel {args.model} ({args.dtype}) · {args.requests} requests · max_new_tokens {args.max_new_tokens} · "
          f"{os.cpu_count()} CPUs · vLLM {version} · wall clock, time.perf_counter")
    print(f"{'backend':<40}{'wall s':>8}{'out tok/s':>11}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'TTFT p50':>10}")
    for r in results:
        print(f"{r['backend']:<40}{r['wall_s']:>8.2f}{r['tokens_per_s']:>11.1f}{r['requests_per_s']:>8.2f}"
              f"{r['p50_ms']:>9.0f}{r['p95_ms']:>9.0f}{(r['ttft_p50_ms'] or 0):>10.0f}")
    ratio = results[1]["tokens_per_s"] / results[0]["tokens_per_s"]
    same = sum(a.text == b.text for a, b in zip(tf_out, vllm_out))
    print(f"throughput ratio vLLM / transformers (output tokens/s): {ratio:.2f}x")
    print(f"identical greedy outputs: {same}/{len(requests)}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": round(ratio, 3), "identical": same,
                                         "requests": len(requests)}, indent=2))


if __name__ == "__main__":
    main()
