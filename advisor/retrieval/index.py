"""FAISS vector indexes kept in the content-addressed artifact cache.

An index is built from rows (chunk records) and their normalised vectors: exact
inner-product search (`IndexFlatIP`) for small collections, HNSW above `approximate_above`
vectors or when asked. It is saved under `<cache>/index/<key>/` where the key hashes exactly
what changes the result: embedder identity, chunking parameters, the corpus content hash
and the index parameters (canonical JSON, sorted keys). A later run with the same key loads
it instead of rebuilding, and reports it as reused with the seconds measured when it was
built. Builds go to a temporary folder renamed into place under a file lock, so a crash or
a concurrent run never leaves half an index behind.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from advisor.artifacts.cache import atomic_write_json, build_folder
from advisor.threads import faiss_threads

__all__ = ["IndexParams", "VectorIndex", "cache_key", "cached_index", "build_faiss"]

FORMAT = 1  # bump when the on-disk layout changes: old artifacts then miss instead of misload


@dataclass(frozen=True)
class IndexParams:
    kind: str = "auto"  # auto | flat | hnsw
    approximate_above: int = 50_000  # auto: vectors above which HNSW is used
    hnsw_m: int = 32  # graph neighbours per node
    ef_construction: int = 200  # build-time beam width
    ef_search: int = 128  # query-time beam width (recall vs latency)
    build_threads: int | None = None  # FAISS threads while building; None = FAISS default

    def resolved_kind(self, n: int) -> str:
        if self.kind != "auto":
            return self.kind
        return "hnsw" if n > self.approximate_above else "flat"


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps({"format": FORMAT, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def build_faiss(vectors: np.ndarray, kind: str, params: IndexParams):
    """A FAISS index over `vectors` (rows L2-normalised; inner product = cosine)."""
    import faiss

    dims = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dims)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dims, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
    else:
        raise ValueError(f"unknown index kind {kind!r}; expected auto, flat or hnsw")
    with faiss_threads(params.build_threads):
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@dataclass
class VectorIndex:
    """A loaded index: FAISS structure, the vectors (for MMR), row records and build facts."""

    index: Any
    vectors: np.ndarray
    rows: list[dict[str, Any]]
    meta: dict[str, Any]
    reused: bool = False
    path: Path | None = None
    ef_search: int = 128

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row indices) of the k nearest rows for each query, best first; -1 = none.

        Served-system measurement: one FAISS thread for the search, the caller's thread
        count restored afterwards (see `faiss_threads`).
        """
        if hasattr(self.index, "hnsw"):
            self.index.hnsw.efSearch = max(self.ef_search, k)
        q = np.ascontiguousarray(queries.reshape(-1, self.vectors.shape[1]), dtype=np.float32)
        with faiss_threads(1):
            return self.index.search(q, min(k, len(self.rows)))


def _dir_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _load(folder: Path, params: IndexParams) -> VectorIndex:
    import faiss

    meta = json.loads((folder / "meta.json").read_text())
    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text(encoding="utf-8").splitlines() if line]
    vectors = np.load(folder / "vectors.npy")
    index = faiss.read_index(str(folder / "index.faiss"))
    return VectorIndex(index, vectors, rows, meta, path=folder, ef_search=params.ef_search)


def cached_index(cache_dir: Path, key_parts: dict[str, Any], params: IndexParams,
                 make: Callable[[], tuple[list[dict[str, Any]], np.ndarray, dict[str, Any]]],
                 size_hint: int | None = None, status: Callable[[str], None] = lambda m: None) -> VectorIndex:
    """Load the index named by `key_parts` (+ index parameters) or build it with `make`.

    `make()` returns (rows, vectors, facts) and is only called on a cache miss; its wall
    time plus the FAISS build is the recorded build cost. `size_hint` (rows expected) picks
    the index kind before building; without it the kind is decided from the built rows.
    """
    root = Path(cache_dir) / "index"
    # The kind can depend on the size: key on the request, record the resolved kind in meta.
    request: dict[str, Any] = {"kind": params.kind}
    if params.kind == "auto":
        request["approximate_above"] = params.approximate_above
    if params.kind != "flat":
        request.update(hnsw_m=params.hnsw_m, ef_construction=params.ef_construction)
    key = cache_key({**key_parts, "index": request})
    folder = root / key
    if (folder / "meta.json").exists():
        loaded = _load(folder, params)
        loaded.reused = True
        return loaded
    with build_folder(root, key, "meta.json") as build:
        if build.done:  # another process built it while we waited
            loaded = _load(folder, params)
            loaded.reused = True
            return loaded
        import faiss

        started = time.perf_counter()
        rows, vectors, facts = make()
        made = time.perf_counter() - started
        kind = params.resolved_kind(len(rows) if size_hint is None else size_hint)
        status(f"building a {kind} FAISS index over {len(rows)} vectors")
        t0 = time.perf_counter()
        index = build_faiss(vectors, kind, params)
        index_s = time.perf_counter() - t0
        tmp = build.tmp
        faiss.write_index(index, str(tmp / "index.faiss"))
        np.save(tmp / "vectors.npy", vectors)
        with (tmp / "rows.jsonl").open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        (tmp / "config.json").write_text(json.dumps({"key": key, **key_parts, "index": request}, indent=2,
                                                    sort_keys=True, default=str))
        meta = {"key": key, "kind": kind, "vectors": int(len(rows)), "dims": int(vectors.shape[1]),
                "build_seconds": round(made + index_s, 3), "faiss_seconds": round(index_s, 3),
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **facts,
                "how": "build_seconds = wall seconds (time.perf_counter) of chunking, embedding and FAISS add"}
        meta["bytes"] = _dir_bytes(tmp)
        atomic_write_json(tmp / "meta.json", meta)  # the "built" marker: written last
    return VectorIndex(index, vectors, rows, meta, reused=False, path=folder, ef_search=params.ef_search)
