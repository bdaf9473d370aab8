"""The executor seam: independent units of work in, their results out.

Tuning trials, tuned arms and seed repeats are handed to an `Executor` as `Unit`s: a key
that names the unit by its inputs (task, arm, trial or seed), a function and its keyword
arguments, and the resources it would want on a cluster. `LocalExecutor` (the embedded
default) runs them one after the other in this process. A distributed executor (Ray, issue
#11) registers under another name in `executors` and implements the same two methods; the
tuning code never changes.

Failures stay inside their unit: `map` returns a `UnitResult` with the exception instead of
raising it, so one failed trial or arm never sinks the rest. Ctrl-C (KeyboardInterrupt) is
not an exception of the unit: it stops the whole map.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from advisor.registry import Registry

__all__ = ["Unit", "UnitResult", "Executor", "LocalExecutor", "executors", "get_executor"]


@dataclass(frozen=True)
class Unit:
    """One independent piece of work, named by its inputs."""

    key: str  # e.g. "tune/sms-spam/k-shot/trial-3" or "seed/sms-spam/lora/8"
    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)  # cpus, gpus, memory_gb: hints for a cluster


@dataclass
class UnitResult:
    key: str
    value: Any = None
    error: Exception | None = None
    seconds: float = 0.0  # wall seconds of the unit (time.perf_counter)

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(Protocol):
    """Runs units; `slots` says how many it runs at once (callers batch that many)."""

    name: str
    slots: int

    def map(self, units: Sequence[Unit], on_done: Callable[[UnitResult], None] | None = None) -> list[UnitResult]:
        """Results in the order of `units`; `on_done` is called as each finishes (any order)."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """Sequential, in-process: the default, and what tests and a laptop use."""

    name = "local"
    slots = 1

    def map(self, units: Sequence[Unit], on_done: Callable[[UnitResult], None] | None = None) -> list[UnitResult]:
        results = []
        for unit in units:
            started = time.perf_counter()
            try:
                result = UnitResult(unit.key, value=unit.fn(**unit.kwargs))
            except Exception as exc:  # the unit's failure, reported to the caller; Ctrl-C propagates
                result = UnitResult(unit.key, error=exc)
            result.seconds = time.perf_counter() - started
            results.append(result)
            if on_done is not None:
                on_done(result)
        return results

    def close(self) -> None:
        pass


executors: Registry[Any] = Registry("executors")
executors.register("local", LocalExecutor)
executors.register("ray", "advisor.tuning.ray_executor:RayExecutor")  # Ray is imported only when chosen


def get_executor(name: str = "local", **options: Any) -> Executor:
    """A fresh executor by registered name (third parties: the `advisor.executors` entry-point group);
    `options` (e.g. Ray's address) go to its constructor, those that are None are left out."""
    from advisor.errors import UserError

    if name not in executors:
        raise UserError(f"unknown executor {name!r}; expected one of: {', '.join(executors.names())}")
    options = {k: v for k, v in options.items() if v is not None}
    if options and name == "local":
        raise UserError(f"--address is for a cluster executor (ray); the local executor takes no {', '.join(options)}")
    return executors.get(name)(**options)
