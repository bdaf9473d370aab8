"""Progress reporting seam: the runner talks to a Reporter, the CLI supplies a rich one."""

from __future__ import annotations

from typing import Any

__all__ = ["Reporter", "NullReporter", "RichReporter"]


class Reporter:
    """Receives progress events; the base class ignores them (tests, library use)."""

    def status(self, message: str) -> None: ...
    def arm_start(self, name: str, total: int) -> None: ...
    def advance(self, name: str, n: int) -> None: ...
    def arm_end(self, name: str, status: str) -> None: ...
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
                                 console=console, transient=False)
        self.tasks: dict[str, Any] = {}
        self.started = False

    def status(self, message: str) -> None:
        self.console.print(f"[dim]·[/dim] {message}")

    def arm_start(self, name: str, total: int) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        self.tasks[name] = self.progress.add_task(f"arm {name}", total=total)

    def advance(self, name: str, n: int) -> None:
        self.progress.advance(self.tasks[name], n)

    def arm_end(self, name: str, status: str) -> None:
        colour = {"ok": "green", "failed": "red", "cancelled": "yellow"}.get(status, "white")
        self.progress.update(self.tasks[name], description=f"arm {name} [{colour}]{status}[/{colour}]")

    def close(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False
