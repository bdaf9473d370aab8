"""Scoped FAISS and torch thread settings: set for a block, restored afterwards.

FAISS keeps its OpenMP thread count in process-wide state. Searching one query at a time
on one thread (the served-system measurement) or building on a chosen number of threads
must not leave that setting changed behind the caller's back, so every change goes
through `faiss_threads`, which restores the previous value on exit (also on error).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["faiss_threads", "torch_threads"]


@contextmanager
def faiss_threads(n: int | None) -> Iterator[None]:
    """Run the block with FAISS on `n` OpenMP threads (None or 0: leave it as it is)."""
    if not n:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` torch CPU threads (None or 0: leave it as it is), then restore."""
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
