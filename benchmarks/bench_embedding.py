"""Embedding benchmark: torch fp32 vs ONNX Runtime (fp32, dynamic int8) for all-MiniLM-L6-v2.

For each backend and thread count: chunks/s on the Debian FAQ chunks (the demo corpus,
chunked as its rag arm does: 160 tokens, overlap 24, headings in front) and on synthetic
chunks of exactly 112 tokens (words drawn from the same corpus, so realistic sub-word
pieces); each timing is the best of `--repeats` passes after one warm-up pass, with
time.perf_counter, all backends measured in this one run (ratios are against torch fp32
measured under the same load). Quality: recall@k and MRR of each backend's vectors on the
Debian FAQ questions (exact inner-product search; gold = chunks of the question's source
document that contain its answer, as the rag arm scores it), and the difference to torch.

The FLOP bound: all-MiniLM-L6-v2 needs 2 * (4 h^2 + 2 h f) FLOPs per token per layer for
its matrix products plus 4 L h for attention scores at sequence length L (h = 384,
f = 1536, 6 layers): about 22 MFLOPs a token, 2.5 GFLOPs for a 112-token chunk (+2 special
tokens). The machine's fp32 peak is measured here as the sustained rate of a large torch
fp32 matrix product on the same threads, so chunks/s bound = peak / FLOPs per chunk.

    python benchmarks/bench_embedding.py [--threads 1,2] [--backends torch,onnx,onnx-int8]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.retrieval.corpus import chunk_documents, read_corpus  # noqa: E402
from advisor.retrieval.embed import load_embedder  # noqa: E402
from advisor.retrieval.retrieve import mrr, recall_at_k  # noqa: E402
from advisor.evaluation.scoring import normalize_answer  # noqa: E402
from strategies.rag.arm import embed_text  # noqa: E402

FAQ = ROOT / "benchmarks" / "debian_faq"
TARGET_CHUNKS_PER_S = 23_479 / 180  # the 12 MB documentation set in 3 minutes


def flops_per_chunk(config: dict, tokens: int) -> float:
    h, f, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    per_token = layers * (2 * (4 * h * h + 2 * h * f) + 4 * tokens * h)
    return per_token * tokens


def gemm_gflops(threads: int, n: int = 1024, reps: int = 20) -> float:
    """Sustained fp32 matrix-product rate (GFLOP/s) on `threads` torch threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            a @ b
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = min(best, time.perf_counter() - t0)
        return 2 * n ** 3 * reps / best / 1e9
    finally:
        torch.set_num_threads(before)


def faq_chunks(count_tokens) -> list[dict]:
    docs, _ = read_corpus(FAQ / "corpus")
    return [c.as_dict() for c in chunk_documents(docs, count_tokens, 160, 24)]


def synthetic(tokenizer, words: list[str], n: int, tokens: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = tokenizer(" ".join(rng.choices(words, k=tokens * 2)), add_special_tokens=False)["input_ids"][:tokens]
        out.append(tokenizer.decode(ids))
    return out


def rate(emb, texts: list[str], batch: int, repeats: int) -> float:
    emb.encode(texts[: batch * 2], batch)  # warm-up (sessions, thread pools, allocator)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        emb.encode(texts, batch)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def quality(emb, chunks: list[dict], questions: list[dict], ks: list[int]) -> dict:
    vecs = emb.encode([embed_text(c, True) for c in chunks], 64)
    qv = emb.encode([q["question"] for q in questions], 64)
    ranked_ids = np.argsort(-(qv @ vecs.T), axis=1)[:, :max(ks + [10])]
    ranked = [[chunks[i]["id"] for i in row] for row in ranked_ids]
    golds = []
    for q in questions:
        target = f" {normalize_answer(q['answer'])} "
        golds.append({c["id"] for c in chunks if c["doc"] == q["source"] and target in f" {normalize_answer(c['text'])} "})
    keep = [i for i, g in enumerate(golds) if g]
    ranked, golds = [ranked[i] for i in keep], [golds[i] for i in keep]
    out = {f"recall@{k}": recall_at_k(ranked, golds, k) for k in ks}
    out["mrr@10"] = mrr(ranked, golds)
    out["queries"] = len(golds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--backends", default="torch,onnx,onnx-int8")
    ap.add_argument("--synthetic", type=int, default=384, help="synthetic chunks to time")
    ap.add_argument("--tokens", type=int, default=112, help="tokens per synthetic chunk")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--ks", default="1,3,5")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    ks = [int(k) for k in args.ks.split(",")]
    backends = args.backends.split(",")

    embs = {b: load_embedder("all-minilm-l6-v2", backend=b) for b in backends}
    first = embs[backends[0]]
    chunks = faq_chunks(first.count_tokens)
    texts = [embed_text(c, True) for c in chunks]
    questions = [json.loads(line) for line in (FAQ / "data" / "qa.jsonl").read_text().splitlines() if line.strip()]
    from transformers import AutoTokenizer

    from advisor.artifacts.models import resolve_model

    model_dir = resolve_model("all-minilm-l6-v2").path
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    config = json.loads((model_dir / "config.json").read_text())
    words = sorted({w for t in texts for w in t.split() if w.isalpha()})
    synth = synthetic(tok, words, args.synthetic, args.tokens)
    faq_tokens = float(np.mean([len(x) for x in tok(texts)["input_ids"]]))
    per_chunk = flops_per_chunk(config, args.tokens + 2)
    print(f"all-MiniLM-L6-v2: {flops_per_chunk(config, 1) / 1e6:.1f} MFLOPs/token at length 1, "
          f"{per_chunk / 1e9:.2f} GFLOPs per {args.tokens}-token chunk (+2 special tokens)")
    print(f"Debian FAQ: {len(chunks)} chunks, mean {faq_tokens:.0f} tokens with special tokens; "
          f"synthetic: {len(synth)} chunks of {args.tokens} tokens; batch {args.batch}; best of {args.repeats}")
    results: dict = {"flops_per_chunk": per_chunk, "faq_chunks": len(chunks), "rows": [], "quality": {}}
    print(f"{'backend':>10} {'thr':>3} {'FAQ ch/s':>9} {'x torch':>7} {'112t ch/s':>9} {'x torch':>7} "
          f"{'fp32 bound':>10} {'x bound':>7}")
    for t in threads:
        peak = gemm_gflops(t)
        bound = peak * 1e9 / per_chunk
        base: dict[str, float] = {}
        for b in backends:
            emb = embs[b]
            emb.threads = t
            faq_rate, syn_rate = rate(emb, texts, args.batch, args.repeats), rate(emb, synth, args.batch, args.repeats)
            base.setdefault("faq", faq_rate)
            base.setdefault("syn", syn_rate)
            print(f"{b:>10} {t:>3} {faq_rate:>9.1f} {faq_rate / base['faq']:>7.2f} {syn_rate:>9.1f} "
                  f"{syn_rate / base['syn']:>7.2f} {bound:>10.1f} {syn_rate / bound:>7.2f}", flush=True)
            results["rows"].append({"backend": b, "threads": t, "faq_chunks_per_s": faq_rate,
                                    "synthetic_chunks_per_s": syn_rate, "gemm_gflops": peak,
                                    "fp32_bound_chunks_per_s": bound})
        print(f"    {t} thread(s): measured fp32 GEMM peak {peak:.0f} GFLOP/s -> fp32 bound {bound:.0f} chunks/s "
              f"at {args.tokens} tokens; the 12 MB / 3 min target needs {TARGET_CHUNKS_PER_S:.0f} chunks/s")
    print(f"quality on the Debian FAQ ({len(questions)} questions; exact search over {len(chunks)} chunks):")
    ref = None
    for b in backends:
        embs[b].threads = max(threads)
        q = quality(embs[b], chunks, questions, ks)
        ref = ref or q
        diff = max(abs(q[k] - ref[k]) for k in q if k != "queries")
        results["quality"][b] = {**q, "max_abs_diff_vs_first": diff}
        cells = "  ".join(f"{k} {v:.3f}" for k, v in q.items() if k != "queries")
        print(f"{b:>10}: {cells}  (n={q['queries']}; max |diff| vs {backends[0]} {diff:.3f}: "
              f"{'within' if diff <= 0.01 else 'OUTSIDE'} 0.01)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
