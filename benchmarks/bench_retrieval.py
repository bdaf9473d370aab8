"""Retrieval benchmark: FAISS exact vs HNSW at 1k / 10k / 100k vectors, and embedding throughput.

Vectors are synthetic but shaped like sentence embeddings: 384-d, L2-normalised, drawn
around 200 random topic centres (real corpora cluster by topic; uniform random vectors are
an unrealistically hard case for graph indexes). Queries are held-out points of the same
distribution. Single queries run one at a time on one FAISS thread, as a served system
answers, after 50 warm-up queries; times from time.perf_counter. recall@10 of HNSW is
measured against exact search on the same queries. Embedding throughput is all-MiniLM-L6-v2
on the Debian FAQ chunks (the demo corpus), batch 64, default embedding backend.

    python benchmarks/bench_retrieval.py [--sizes 1000,10000,100000] [--queries 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.retrieval.index import IndexParams, build_faiss  # noqa: E402
from advisor.decision.stats import percentiles  # noqa: E402


def clustered(n: int, dims: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    labels = rng.integers(0, len(centres), n)
    x = centres[labels] + rng.normal(0, 0.06, (n, dims)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def single_query_ms(index, queries: np.ndarray, k: int = 10) -> tuple[dict[str, float], np.ndarray]:
    for q in queries[:50]:  # warm-up
        index.search(q[None, :], k)
    times, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, i = index.search(q[None, :], k)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0])
    return percentiles(times, (50, 95)), np.array(ids)


def embedding_throughput(threads: int) -> str:
    from advisor.retrieval.corpus import chunk_documents, read_corpus
    from advisor.retrieval.embed import load_embedder

    emb = load_embedder("all-minilm-l6-v2", threads=threads)
    docs, _ = read_corpus(ROOT / "benchmarks" / "debian_faq" / "corpus")
    chunks = chunk_documents(docs, emb.count_tokens, 160, 24)
    texts = [c.text for c in chunks]
    emb.encode(texts[:32])  # warm-up
    t0 = time.perf_counter()
    emb.encode(texts, batch_size=64)
    s = time.perf_counter() - t0
    mean_tokens = sum(c.tokens for c in chunks) / len(chunks)
    return (f"embedding: {len(texts)} chunks (mean {mean_tokens:.0f} tokens) in {s:.2f} s = "
            f"{len(texts) / s:.1f} chunks/s (all-MiniLM-L6-v2, {emb.backend}, {threads} thread(s), batch 64; "
            f"backends compared: benchmarks/bench_embedding.py)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--threads", type=int, default=2, help="threads for building and embedding (queries use 1)")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--no-embed", action="store_true", help="skip the embedding-throughput part")
    args = ap.parse_args()
    import faiss

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (200, args.dims)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    params = IndexParams(hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef_search,
                         build_threads=args.threads)
    print(f"FAISS {faiss.__version__}; {args.dims}-d clustered unit vectors; {args.queries} single queries, "
          f"1 FAISS thread; build with {args.threads} thread(s); HNSW M={args.hnsw_m} "
          f"efConstruction={args.ef_construction} efSearch={args.ef_search}")
    print(f"{'vectors':>8} {'index':>6} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9}")
    for n in (int(s) for s in args.sizes.split(",")):
        data = clustered(n, args.dims, rng, centres)
        queries = clustered(args.queries, args.dims, rng, centres)
        exact_ids = None
        for kind in ("flat", "hnsw"):
            t0 = time.perf_counter()
            index = build_faiss(data, kind, params)
            build_s = time.perf_counter() - t0
            if kind == "hnsw":
                index.hnsw.efSearch = args.ef_search
            faiss.omp_set_num_threads(1)
            lat, ids = single_query_ms(index, queries)
            faiss.omp_set_num_threads(args.threads)
            if kind == "flat":
                exact_ids, recall = ids, 1.0
            else:
                recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact_ids)]))
            print(f"{n:>8} {kind:>6} {build_s:>8.2f} {lat['p50']:>8.3f} {lat['p95']:>8.3f} {recall:>9.3f}", flush=True)
    if not args.no_embed:
        print(embedding_throughput(args.threads))


if __name__ == "__main__":
    main()
