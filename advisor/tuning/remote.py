"""Running units away from the driver: forwarded driver objects, retries, cancellation.

A unit shipped to another process (a Ray worker) must not write the run directory or draw
progress itself: the driver alone does that, so resume and the record work as they do
locally. Objects that belong to the driver (the progress reporter, an arm's sample sink)
derive from `advisor.forwarded.Forwarded`: while a `RemoteExecutor` pickles a unit for a
worker they become stubs that send messages, which the driver applies as they arrive.

`RemoteExecutor` is the part of a distributed executor that does not depend on the engine:
it submits every unit to a `Pool` (Ray in `advisor.tuning.ray_executor`, a thread pool in the
tests), applies forwarded messages as they arrive, calls `on_done` as units finish, retries a
unit once when its worker died (`WorkerLost`), records it with the reason after that, and
cancels everything still running when the driver is interrupted (Ctrl-C).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol, Sequence

from advisor.forwarded import Forwarding, forwarding
from advisor.tuning.executor import Unit, UnitResult
from advisor.tuning.outbox import DeliveryError, flush_outboxes

__all__ = ["WorkerLost", "Pool", "RemoteExecutor", "run_unit"]


class WorkerLost(RuntimeError):
    """The process running a unit died (killed, out of memory, node lost): not the unit's own error."""


def run_unit(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[Any, float]:
    """What a worker runs: the unit's function, and its wall seconds (time.perf_counter). The
    messages it sent the driver are delivered before it returns (`advisor.tuning.outbox`)."""
    started = time.perf_counter()
    try:
        value = fn(**kwargs)
    except BaseException:
        try:
            flush_outboxes()  # its error trace and last rows still reach the driver
        except DeliveryError:
            pass  # the unit's own error is the one to report
        raise
    flush_outboxes()
    return value, time.perf_counter() - started


class Pool(Protocol):
    """The engine under a RemoteExecutor. `result` returns (value, seconds), raises `WorkerLost`
    when the worker died, or raises the unit's own exception."""

    channel: Any  # picklable; `channel.send(message)` on a worker, `drain()` on the driver
    slots: int

    def submit(self, unit: Unit) -> Any: ...
    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]: ...
    def result(self, handle: Any) -> tuple[Any, float]: ...
    def drain(self) -> list[tuple]: ...
    def cancel(self, handles: list[Any]) -> None: ...
    def close(self) -> None: ...


class RemoteExecutor:
    """Every unit submitted at once (the pool schedules them on their resources); results in order."""

    name = "remote"
    retries = 1  # resubmissions of a unit whose worker died

    def __init__(self, pool: Pool, status: Callable[[str], None] = lambda m: None) -> None:
        self.pool = pool
        self.status = status
        self.attempts: dict[str, int] = {}  # unit key -> submissions, for the record and tests

    @property
    def slots(self) -> int:
        return self.pool.slots

    def _submit(self, unit: Unit, ctx: Forwarding) -> Any:
        self.attempts[unit.key] = self.attempts.get(unit.key, 0) + 1
        with forwarding(ctx):
            return self.pool.submit(unit)

    def map(self, units: Sequence[Unit], on_done: Callable[[UnitResult], None] | None = None) -> list[UnitResult]:
        ctx = Forwarding(self.pool.channel)
        results: list[UnitResult | None] = [None] * len(units)
        pending: dict[Any, int] = {}
        try:
            for i, unit in enumerate(units):
                pending[self._submit(unit, ctx)] = i
            while pending:
                done = self.pool.wait(list(pending), 0.2)
                for message in self.pool.drain():  # before on_done: a unit's samples land before its result
                    ctx.apply(message)
                for handle in done:
                    i = pending.pop(handle)
                    unit = units[i]
                    try:
                        value, seconds = self.pool.result(handle)
                        result = UnitResult(unit.key, value=value, seconds=seconds)
                    except WorkerLost as exc:
                        tries = self.attempts[unit.key]
                        if tries <= self.retries:
                            self.status(f"{unit.key}: its worker died ({exc}); retrying it ({tries} of "
                                        f"{self.retries + 1} tries used)")
                            pending[self._submit(unit, ctx)] = i
                            continue
                        result = UnitResult(unit.key, error=WorkerLost(
                            f"worker died on each of {tries} tries; last: {exc}"))
                    except Exception as exc:  # the unit's own failure: not retried (it would fail again)
                        result = UnitResult(unit.key, error=exc)
                    results[i] = result
                    if on_done is not None:
                        on_done(result)
        except BaseException:  # Ctrl-C, SIGTERM or a raising on_done: nothing keeps running out there
            self.pool.cancel(list(pending))
            raise
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.pool.close()
