"""Progress of a long embedding job: a rich bar on a terminal, periodic plain lines in a log.

Indexing a large corpus takes minutes; in a non-interactive log (CI, `nohup`, a pipe) a bar
prints nothing useful, so there the job prints one line every `every_s` seconds instead:
chunks done of the total, the rate since the start (chunks/s) and the time left at that rate.
A terminal gets a transient rich bar; if another live display already owns the terminal
(the runner's per-arm bars), the lines are printed instead of failing.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, Iterator, TextIO

__all__ = ["EmbedProgress", "format_eta", "progress_sink"]


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class EmbedProgress:
    """Context manager: `advance(n)` after each batch; prints a summary line at the end."""

    def __init__(self, total: int, what: str = "chunks", label: str = "embedding", enabled: bool = True,
                 stream: TextIO | None = None, every_s: float = 10.0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.total, self.what, self.label, self.enabled = total, what, label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.every_s, self.clock = every_s, clock
        self.done = 0
        self._bar: Any = None
        self._task: Any = None
        self._started = self._last = 0.0

    def __enter__(self) -> EmbedProgress:
        self._started = self._last = self.clock()
        if self.enabled and getattr(self.stream, "isatty", lambda: False)():
            try:
                from rich.console import Console
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                           TimeRemainingColumn)

                bar = Progress(TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(),
                               TextColumn(f"{self.what}"), TimeElapsedColumn(), TextColumn("eta"),
                               TimeRemainingColumn(), console=Console(file=self.stream), transient=True)
                bar.start()
                self._bar, self._task = bar, bar.add_task(self.label, total=self.total)
            except Exception:  # noqa: BLE001 - rich.errors.LiveError: another live display is active
                self._bar = None
        return self

    def line(self) -> str:
        elapsed = max(self.clock() - self._started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = format_eta(left) if left != float("inf") else "?"
        return (f"{self.label}: {self.done}/{self.total} {self.what} ({pct:.0f}%), {rate:.1f} {self.what}/s, "
                f"ETA {eta}")

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.advance(self._task, n)
            return
        now = self.clock()
        if now - self._last >= self.every_s and self.done < self.total:
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elapsed = max(self.clock() - self._started, 1e-9)
        if self.enabled and exc[0] is None and self.total and elapsed >= self.every_s:  # long jobs only
            print(f"{self.label}: {self.done} {self.what} in {elapsed:.1f} s ({self.done / elapsed:.1f} {self.what}/s)",
                  file=self.stream, flush=True)


class _StepSink:
    """`advance(n)` forwarded to a reporter's step callback (done, total, detail)."""

    def __init__(self, step: Callable[[int, int, str], None], total: int, what: str) -> None:
        self.step, self.total, self.what, self.done = step, total, what, 0
        if total:
            self.step(0, total, what)  # the job's start: the reporter times the rate from here, not from the first batch

    def advance(self, n: int) -> None:
        self.done += n
        self.step(self.done, self.total, self.what)


@contextlib.contextmanager
def progress_sink(progress: Callable[[int, int, str], None] | bool | None, total: int) -> Iterator[Any]:
    """Where an embedding job reports: the caller's reporter when it passes a step callback
    (inside a run), else its own bar / periodic log lines when `progress` is true."""
    if callable(progress):
        yield _StepSink(progress, total, "texts")
    else:
        with EmbedProgress(total, what="chunks", enabled=bool(progress)) as bar:
            yield bar
