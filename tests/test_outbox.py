"""A worker's messages to the driver leave from a background thread, in order and in batches,
and a unit's result goes back only after its messages were delivered (advisor.tuning.outbox).

Why it matters on Ray: a blocking `ray.get` on the task's own thread (a put on the driver's
queue) makes Ray lend the task's CPU to a queued unit and start a cold worker process for it.
No Ray here: the queue is a fake that records which thread called it and with what.
"""

from __future__ import annotations

import pickle
import threading

import pytest

from advisor.tuning.outbox import DeliveryError, Outbox, flush_outboxes, outbox_for
from advisor.tuning.remote import run_unit


def test_messages_leave_from_a_background_thread_in_order_and_in_batches() -> None:
    taken, release, calls = threading.Event(), threading.Event(), []

    def send_batch(batch: list) -> None:
        calls.append((threading.current_thread() is threading.main_thread(), list(batch)))
        taken.set()
        assert release.wait(10)

    box = Outbox(send_batch)
    box.send(0)
    assert taken.wait(10)  # the first message is being delivered (and held there)
    for i in range(1, 10):
        box.send(i)  # returns at once: the sender never waits on the driver
    release.set()
    box.flush(timeout_s=10)
    assert [batch for _, batch in calls] == [[0], list(range(1, 10))]  # what piled up went in one call
    assert not any(on_main for on_main, _ in calls)
    assert box.batches == 2


def test_a_lost_batch_is_reported_by_flush_and_later_messages_still_go() -> None:
    delivered = []

    def send_batch(batch: list) -> None:
        if "bad" in batch:
            raise ConnectionError("queue actor died")
        delivered.extend(batch)

    box = Outbox(send_batch)
    box.send("bad")
    with pytest.raises(DeliveryError, match="queue actor died"):
        box.flush(timeout_s=10)
    box.send("good")
    box.flush(timeout_s=10)
    assert delivered == ["good"]


def _unit(key: str, n: int) -> int:
    box = outbox_for(key, lambda batch: None)  # made by the test first: its send_batch is the one used
    for i in range(n):
        box.send(i)
    return n


def test_a_units_result_returns_only_after_its_messages_were_delivered() -> None:
    release, delivered = threading.Event(), []

    def send_batch(batch: list) -> None:
        assert release.wait(10)
        delivered.extend(batch)

    outbox_for("test-unit-flush", send_batch)
    finished, out = threading.Event(), {}

    def worker() -> None:
        out["value"], _ = run_unit(_unit, {"key": "test-unit-flush", "n": 3})
        out["delivered"] = list(delivered)
        finished.set()

    threading.Thread(target=worker, daemon=True).start()
    assert not finished.wait(0.3)  # held: the messages are not delivered yet, so no result either
    release.set()
    assert finished.wait(10)
    assert out == {"value": 3, "delivered": [0, 1, 2]}


class _FakeRayQueue:
    """Stands in for ray.util.queue.Queue: only the batch put exists (a single `put` would fail)."""

    calls: list = []

    def put_nowait_batch(self, items: list) -> None:
        _FakeRayQueue.calls.append((threading.current_thread() is threading.main_thread(), list(items)))


def test_the_ray_channel_puts_from_the_outbox_not_from_the_units_thread() -> None:
    from advisor.tuning.ray_executor import _QueueChannel

    _FakeRayQueue.calls = []
    channel = pickle.loads(pickle.dumps(_QueueChannel(_FakeRayQueue())))  # as a worker gets it
    for i in range(5):
        channel.send((1, "advance", ("arm", i), {}))
    flush_outboxes(timeout_s=10)
    sent = [m for _, batch in _FakeRayQueue.calls for m in batch]
    assert [m[2][1] for m in sent] == [0, 1, 2, 3, 4]
    assert _FakeRayQueue.calls and not any(on_main for on_main, _ in _FakeRayQueue.calls)
