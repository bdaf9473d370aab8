"""Scoped FAISS and torch thread settings: set for a block, restored afterwards.

FAISS keeps its OpenMP thread count in process-wide state. Searching one query at a time
on one thread (the served-system measurement) or building on a chosen number of threads
must not leave that setting changed behind the caller's back, so every change goes
through `faiss_threads`, which restores the previous value on exit (also on error).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Callable, Iterator

__all__ = ["faiss_threads", "torch_threads"]


@contextmanager
def _scoped(n: int, get: Callable[[], int], set_: Callable[[int], None]) -> Iterator[None]:
    """Set a process-wide thread count to `n` for the block, then restore the previous one."""
    before = get()
    set_(n)
    try:
        yield
    finally:
        set_(before)


def faiss_threads(n: int | None) -> AbstractContextManager[None]:
    """Run the block with FAISS on `n` OpenMP threads (None or 0: leave it as it is)."""
    if not n:
        return nullcontext()
    import faiss

    return _scoped(n, faiss.omp_get_max_threads, faiss.omp_set_num_threads)


def torch_threads(n: int | None) -> AbstractContextManager[None]:
    """Run the block with `n` torch CPU threads (None or 0: leave it as it is), then restore."""
    if not n:
        return nullcontext()
    import torch

    return _scoped(n, torch.get_num_threads, torch.set_num_threads)
