"""A worker's messages to the driver, sent off the unit's thread, in order, several per call.

A unit running on a Ray worker forwards its sample rows and progress to the driver
(`advisor.forwarded`) over a Ray queue. Putting a message on that queue is a call to the
queue's actor and a wait for its reply; made from the task's own thread, that wait is a
blocking `ray.get`, and Ray lends a task's CPU to the next task in line while the task blocks
in `ray.get`. With every CPU busy there is no idle worker to lend it to, so Ray starts a new
worker process for a queued unit; that unit then runs in a cold process (imports and first
calls paid again) while the warm worker it would have reused sits idle and is stopped a second
later as surplus. Measured on the benchmark's 4 prompting arms on 2 CPUs (raylet debug log): a
worker blocked on a put, Ray started a worker for the third arm at that moment, and that arm
took twice its local time.

`Outbox.send` only appends to a list; one background thread per process delivers what has
accumulated with one call (`send_batch`), so the unit's thread never waits on the driver and
never gives up its CPU, and a chunk of rows plus its progress costs one round trip instead of
one each. Order is kept (one sender, batches in arrival order). `flush_outboxes` waits until
everything sent so far was delivered: `run_unit` calls it before a unit's result goes back, so
the driver has applied a unit's rows by the time it sees the result, as before.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable

__all__ = ["Outbox", "outbox_for", "flush_outboxes", "DeliveryError"]


class DeliveryError(RuntimeError):
    """Messages for the driver could not be delivered (its queue is gone)."""


class Outbox:
    """Messages appended by any thread, delivered in order by one background thread."""

    def __init__(self, send_batch: Callable[[list[Any]], None], name: str = "advisor-outbox") -> None:
        self._send_batch = send_batch
        self._name = name
        self._cond = threading.Condition()
        self._pending: list[Any] = []
        self._busy = False  # a batch is being delivered
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.batches = 0  # calls of send_batch made (for tests and diagnostics)

    def send(self, message: Any) -> None:
        with self._cond:
            self._pending.append(message)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._deliver, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _deliver(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending))
                batch, self._pending, self._busy = self._pending, [], True
            try:
                self._send_batch(batch)
            except BaseException as exc:  # kept for flush: the unit's thread reports it
                with self._cond:
                    self._error = self._error or exc
            finally:
                with self._cond:
                    self.batches += 1
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every message sent so far was delivered; raise DeliveryError if one was not."""
        with self._cond:
            done = self._cond.wait_for(lambda: not self._pending and not self._busy, timeout_s)
            error, self._error = self._error, None
        if error is not None:
            raise DeliveryError(f"messages for the driver were lost: {type(error).__name__}: {error}") from error
        if not done:
            raise DeliveryError(f"messages for the driver not delivered within {timeout_s:g} s")


_outboxes: dict[Hashable, Outbox] = {}
_lock = threading.Lock()


def outbox_for(key: Hashable, send_batch: Callable[[list[Any]], None]) -> Outbox:
    """This process's outbox for one destination (`send_batch` is used when it is first made)."""
    with _lock:
        box = _outboxes.get(key)
        if box is None:
            box = _outboxes[key] = Outbox(send_batch)
        return box


def flush_outboxes(timeout_s: float | None = None) -> None:
    """Flush every outbox of this process (a worker calls it before returning a unit's result)."""
    with _lock:
        boxes = list(_outboxes.values())
    for box in boxes:
        box.flush(timeout_s)
