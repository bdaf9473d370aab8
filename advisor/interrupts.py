"""SIGTERM and SIGHUP handled like Ctrl-C.

A CI runner cancels a job with SIGTERM and a closed terminal sends SIGHUP; by default both
kill Python on the spot, leaving the record marked `running`. `handle_termination` turns
them into `Interrupted`, a KeyboardInterrupt, so the same code path as Ctrl-C runs: the
current batch stops, the record is kept and marked cancelled, servers are stopped, and
the process exits with 128 + the signal number (130 for Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["Interrupted", "handle_termination", "exit_code"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A termination signal, raised where Ctrl-C would be; str() names the signal."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def exit_code(exc: BaseException) -> int:
    return 128 + exc.signum if isinstance(exc, Interrupted) else 130


def _raise(signum: int, frame) -> None:  # noqa: ARG001 - the signal handler's signature
    raise Interrupted(signum)


@contextlib.contextmanager
def handle_termination() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise `Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
