"""An exclusive, inter-process file lock for the caches (models, indexes, adapters), so two
runs never build the same artifact at once; the second waits, then finds it built.

Built on the `filelock` package (portable, not POSIX-only). Waiting is bounded: after
`timeout` seconds (default `ADVISOR_LOCK_TIMEOUT_S`, else one hour; a LoRA build can take
that long) it raises a `UserError` naming the lock file instead of hanging forever.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from advisor.errors import UserError

__all__ = ["file_lock", "LockTimeout", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 3600.0


class LockTimeout(UserError):
    """Another process held a cache lock for longer than we were willing to wait."""


def _default_timeout() -> float:
    raw = os.environ.get("ADVISOR_LOCK_TIMEOUT_S")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise UserError(f"ADVISOR_LOCK_TIMEOUT_S={raw!r}: expected a number of seconds") from None


@contextlib.contextmanager
def file_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive lock `path` for the block; wait at most `timeout` seconds for it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wait = _default_timeout() if timeout is None else timeout
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise LockTimeout(
            f"{path}: another advisor process has held this cache lock for more than {wait:g} s",
            hint="wait for the other run to finish, or raise ADVISOR_LOCK_TIMEOUT_S; "
                 "if no other run is alive, the lock is free and this was a slow file system") from None
    try:
        yield
    finally:
        lock.release()
