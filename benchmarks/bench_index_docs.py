"""Indexing a real documentation set: the Python 3.11 reST sources from Debian's python3.11-doc.

The corpus is built from the package at benchmark time (nothing is committed): the 497
`.rst.txt` pages under /usr/share/doc/python3.11/html/_sources (about 11 MB of text;
`apt-get install python3.11-doc`, or point --docs at any folder of text files). It is
indexed exactly as a rag arm indexes its corpus (read, chunk by embedder tokens, embed with
headings in front, FAISS add) into a fresh temporary artifact cache, so nothing is reused;
the wall time of the whole build (time.perf_counter) is compared with the 3-minute target.
Progress lines go to stderr every 10 s when it is not a terminal.

    python benchmarks/bench_index_docs.py [--backend auto] [--threads 2] [--chunk-tokens 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.retrieval.corpus import chunk_documents, corpus_hash, read_corpus  # noqa: E402
from advisor.retrieval.embed import load_embedder  # noqa: E402
from advisor.retrieval.index import IndexParams, cached_index  # noqa: E402
from strategies.rag.arm import embed_text  # noqa: E402

DOCS = Path("/usr/share/doc/python3.11/html/_sources")
TARGET_S = 180.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=Path, default=DOCS)
    ap.add_argument("--backend", default="auto", help="auto | torch | onnx | onnx-int8")
    ap.add_argument("--threads", type=int, default=None, help="embedding threads (default: every core)")
    ap.add_argument("--chunk-tokens", type=int, default=200, help="the rag arm's default")
    ap.add_argument("--overlap", type=int, default=32, help="the rag arm's default")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--limit-mb", type=float, default=None, help="index only the first N MB of pages (a quick check)")
    args = ap.parse_args()
    if not args.docs.is_dir():
        sys.exit(f"{args.docs} not found: apt-get install python3.11-doc, or give --docs FOLDER")
    with tempfile.TemporaryDirectory() as cache:
        corpus = args.docs
        if args.limit_mb:
            corpus = Path(cache) / "docs"
            corpus.mkdir()
            total = 0
            for f in sorted(args.docs.rglob("*.txt")):
                if total > args.limit_mb * 1e6:
                    break
                dest = corpus / f.relative_to(args.docs)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(f.read_bytes())
                total += f.stat().st_size
        size = sum(f.stat().st_size for f in corpus.rglob("*") if f.is_file())
        t_load = time.perf_counter()
        emb = load_embedder("all-minilm-l6-v2", threads=args.threads, backend=args.backend, cache_dir=Path(cache),
                            status=lambda m: print(f"· {m}", file=sys.stderr))
        load_s = time.perf_counter() - t_load
        facts = {}

        def make():
            docs, _ = read_corpus(corpus)
            t0 = time.perf_counter()
            chunks = chunk_documents(docs, emb.count_tokens, args.chunk_tokens, args.overlap)
            facts["chunk_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            vecs = emb.encode([embed_text(c.as_dict(), True) for c in chunks], args.batch, progress=True)
            facts["embed_s"] = time.perf_counter() - t0
            facts["docs"], facts["chunks"] = len(docs), len(chunks)
            return [c.as_dict() for c in chunks], vecs, {}

        t0 = time.perf_counter()
        index = cached_index(Path(cache), {"what": "bench", "corpus": corpus_hash(corpus), "emb": emb.identity},
                             IndexParams(), make)
        total_s = time.perf_counter() - t0
    print(f"{facts['docs']} pages, {size / 1e6:.1f} MB -> {facts['chunks']} chunks ({args.chunk_tokens} tokens, "
          f"overlap {args.overlap}); embedder {emb.backend} on {emb.threads} thread(s) "
          f"(loaded in {load_s:.1f} s, ONNX export included when not cached)")
    print(f"index build {total_s:.1f} s = chunking {facts['chunk_s']:.1f} s + embedding {facts['embed_s']:.1f} s "
          f"({facts['chunks'] / facts['embed_s']:.1f} chunks/s) + FAISS {index.meta['faiss_seconds']:.1f} s; "
          f"target <= {TARGET_S:.0f} s: {'met' if total_s <= TARGET_S else 'MISSED'} "
          f"(ratio {total_s / TARGET_S:.2f} of the target)")


if __name__ == "__main__":
    main()
