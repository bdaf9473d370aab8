"""Progress reporting seam: the runner talks to a Reporter, the CLI supplies a rich one."""

from __future__ import annotations

import time
from typing import Any, Callable

from advisor.forwarded import Forwarded

__all__ = ["Reporter", "NullReporter", "RichReporter", "StepFn", "Steps"]

# step(label, done, total, detail): a long one-off job (LoRA training, embedding a corpus)
# reports how far it got; the reporter draws it (arms never draw their own bars or tqdm).
StepFn = Callable[[str, int, int, str], None]
# What a worker (train loop, embedder) is handed: steps(done, total, detail).
Steps = Callable[[int, int, str], None]


def no_step(label: str, done: int, total: int, detail: str = "") -> None:
    """A StepFn that ignores the report (tests, library use)."""


class Reporter(Forwarded):
    """Receives progress events; the base class ignores them (tests, library use).

    A unit running on another worker gets a stub that forwards these calls to the driver."""

    forwarded = ("status", "arm_start", "advance", "arm_end", "step")

    def status(self, message: str) -> None: ...
    def arm_start(self, name: str, total: int) -> None: ...
    def advance(self, name: str, n: int) -> None: ...
    def arm_end(self, name: str, status: str) -> None: ...
    def step(self, label: str, done: int, total: int, detail: str = "") -> None: ...
    def close(self) -> None: ...


NullReporter = Reporter


class RichReporter(Reporter):
    """A progress bar per arm, and status lines, on a rich console (stderr by default)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.console = console
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 console=console, transient=False,
                                 disable=not console.is_terminal)  # a log gets the lines of `step` instead
        self.tasks: dict[str, Any] = {}
        self._step_done: dict[str, int] = {}
        self._step_log: dict[str, tuple[float, float]] = {}  # job -> (started, last line printed), perf_counter s
        self._arm_done: dict[str, int] = {}
        self._arm_total: dict[str, int] = {}
        self.log_every_s = 10.0
        self.started = False

    def status(self, message: str) -> None:
        self.console.print(f"[dim]·[/dim] {message}")

    def arm_start(self, name: str, total: int) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        self.tasks[name] = self.progress.add_task(f"arm {name}", total=total)
        self._arm_done[name], self._arm_total[name] = 0, total
        self._log_line(f"arm:{name}", f"arm {name}", 0, total, restart=True)

    def advance(self, name: str, n: int) -> None:
        self.progress.advance(self.tasks[name], n)
        self._arm_done[name] = self._arm_done.get(name, 0) + n
        self._log_line(f"arm:{name}", f"arm {name}", self._arm_done[name], self._arm_total.get(name, 0))

    def step(self, label: str, done: int, total: int, detail: str = "") -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        key = f"step:{label}"
        description = f"{label} {detail}".strip()
        if key not in self.tasks or done < self._step_done.get(key, 0):  # a new job under the same label
            self.tasks[key] = self.progress.add_task(description, total=max(1, total))
        restart = done < self._step_done.get(key, 0)
        self._step_done[key] = done
        self.progress.update(self.tasks[key], completed=done, total=max(1, total), description=description)
        self._log_line(key, description, done, total, restart=restart)

    def _log_line(self, key: str, description: str, done: int, total: int, restart: bool = False) -> None:
        """In a log (CI, nohup, a pipe) a bar shows nothing, so a line every `log_every_s` and at the end;
        the rate counts from the job's first report (done=0 when the job announces its start)."""
        now = time.perf_counter()
        if restart or key not in self._step_log:
            self._step_log[key] = (now, now)
        if self.console.is_terminal:
            return
        started, last = self._step_log[key]
        if (now - last >= self.log_every_s and done) or (total and done >= total):
            self._step_log[key] = (started, now)
            rate = done / max(now - started, 1e-9)
            eta = (total - done) / rate if rate > 0 else 0.0
            speed = f"{rate:,.1f}/s" if rate >= 1 or rate == 0 else f"{1 / rate:,.1f} s each"
            self.console.print(f"· {description}: {done:,}/{total:,} ({speed}, eta {eta:,.0f} s)")

    def arm_end(self, name: str, status: str) -> None:
        colour = {"ok": "green", "failed": "red", "cancelled": "yellow"}.get(status, "white")
        self.progress.update(self.tasks[name], description=f"arm {name} [{colour}]{status}[/{colour}]")

    def close(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False
