"""Throughput of the transformers backend: one request at a time vs batched.

The same prompts (SMS messages from the demo task, free generation) go through the
backend three ways, after a warm-up: one at a time, batched, and batched with prefix
caching. Timing is wall clock (time.perf_counter) over the whole list; the ratio against
one-at-a-time is measured in the same process, so machine noise hits both sides.

    python benchmarks/bench_batching.py [--requests 32] [--batch-size 16] [--max-new-tokens 48] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from advisor.backends import transformers_backend as tb
from advisor.backends.base import GenerateRequest
from advisor.spec.model import GenerationSpec, ModelSpec, TaskSpec

DATA = Path(__file__).resolve().parent / "sms_spam" / "data" / "sms_spam.jsonl"


TARGET = 4.0  # issue #16: batched generation >= 4x one at a time


def _requests(n: int, max_new: int) -> list[GenerateRequest]:
    texts = [json.loads(line)["text"] for line in DATA.read_text().splitlines()[:n]]
    system = "Summarise the SMS message in one short sentence."
    return [GenerateRequest(messages=[{"role": "system", "content": system}, {"role": "user", "content": t}],
                            max_new_tokens=max_new) for t in texts]


def _timed(fn) -> tuple[float, list]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the backend's default: every core)")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    args = ap.parse_args()

    spec = TaskSpec.model_validate({"name": "bench-batching", "type": "generation", "data": {"path": "unused.jsonl"},
                                    "arms": [{"name": "a", "strategy": "prompting"}]})
    backend = tb.TransformersBackend(spec.model_copy(update={"model": ModelSpec(name=args.model, threads=args.threads),
                                                             "generation": GenerationSpec(batch_size=args.batch_size)}))
    requests = _requests(args.requests, args.max_new_tokens)
    backend.generate(requests[:2])  # warm-up: allocator, kernels, first-call overheads

    results = {}
    saved = tb.MIN_PREFIX
    tb.MIN_PREFIX = 10**9  # batching alone: no shared-prefix cache
    results["one at a time"] = _timed(lambda: [backend.generate([r])[0] for r in requests])
    results[f"batched ({args.batch_size})"] = _timed(lambda: backend.generate(requests))
    tb.MIN_PREFIX = saved
    backend._prefixes.clear()
    results[f"batched ({args.batch_size}) + prefix cache"] = _timed(lambda: backend.generate(requests))

    base_s = results["one at a time"][0]
    print(f"model {args.model} · {args.requests} requests · max_new_tokens {args.max_new_tokens} · "
          f"threads {args.threads} · wall clock, time.perf_counter")
    print(f"{'mode':<34}{'wall s':>9}{'req/s':>9}{'out tok/s':>11}{'ratio':>8}")
    for name, (seconds, gens) in results.items():
        out_tokens = sum(g.completion_tokens for g in gens)
        print(f"{name:<34}{seconds:>9.2f}{len(gens) / seconds:>9.2f}{out_tokens / seconds:>11.1f}{base_s / seconds:>7.2f}x")
    same = sum(a.text == b.text for a, b in zip(results["one at a time"][1], results[f"batched ({args.batch_size})"][1]))
    print(f"identical greedy outputs, batched vs one at a time: {same}/{len(requests)}")
    best = max(base_s / seconds for seconds, _ in results.values())
    print(f"best ratio {best:.2f}x one at a time (target {TARGET:g}x: {'met' if best >= TARGET else 'missed'})")


if __name__ == "__main__":
    main()
