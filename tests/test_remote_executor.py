"""The engine-independent half of a cluster executor, with a fake worker pool (no Ray needed).

The fake pool pickles each unit as Ray would (under the forwarding context, so driver objects
become stubs), runs it on a thread that unpickles it first (a "worker"), and can kill the
worker of a unit for its first N tries. Covered: resource declarations and their fit to a
cluster, results in order with on_done per unit, a dead worker retried once then recorded
with the reason, a unit's own error never retried, Ctrl-C cancelling the rest, progress and
sample rows forwarded to the driver, and a whole run through the fake pool equal to a local one.
"""

from __future__ import annotations

import itertools
import json
import pickle
import queue
import sys
import threading
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.errors import UserError
from advisor.evaluation.record import read_record, read_samples
from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.sink import ArmSink
from advisor.progress import Reporter
from advisor.spec import load_task
from advisor.tuning.executor import Unit, get_executor
from advisor.tuning.remote import RemoteExecutor, WorkerLost
from advisor.tuning.resources import Resources, fit, resources_for

_CHANNELS: dict[int, "queue.Queue"] = {}  # what a pickled channel finds again in this process
_ids = itertools.count()


class FakeChannel:
    def __init__(self) -> None:
        self.cid = next(_ids)
        _CHANNELS[self.cid] = queue.Queue()

    def __reduce__(self):
        return (_channel, (self.cid,))

    def send(self, message: tuple) -> None:
        _CHANNELS[self.cid].put(message)


def _channel(cid: int) -> FakeChannel:
    ch = FakeChannel.__new__(FakeChannel)
    ch.cid = cid
    return ch


class Handle:
    def __init__(self, box: dict) -> None:
        self.box = box


class FakePool:
    """Threads as workers; `deaths[key]` = how many first tries of that unit lose their worker."""

    def __init__(self, deaths: dict[str, int] | None = None, slots: int = 2) -> None:
        self.channel = FakeChannel()
        self.slots = slots
        self.deaths = dict(deaths or {})
        self.cancelled: list[str] = []
        self.submitted: list[str] = []
        self.closed = False

    def submit(self, unit: Unit):
        payload = pickle.dumps((unit.fn, unit.kwargs))  # under forwarding: driver objects become stubs
        self.submitted.append(unit.key)
        box: dict = {"key": unit.key}
        dies = self.deaths.get(unit.key, 0) > 0
        if dies:
            self.deaths[unit.key] -= 1

        def work() -> None:
            fn, kwargs = pickle.loads(payload)
            try:
                box["value"] = (fn(**kwargs), 0.01)
            except Exception as exc:
                box["error"] = exc
            if dies:
                box["error"] = WorkerLost("fake worker killed (SIGKILL)")

        box["thread"] = threading.Thread(target=work, daemon=True)
        box["thread"].start()
        return Handle(box)

    def wait(self, handles, timeout_s):
        for h in handles:
            h.box["thread"].join(timeout_s)
        return [h for h in handles if not h.box["thread"].is_alive()]

    def result(self, handle):
        box = handle.box
        if "error" in box:
            raise box["error"]
        return box["value"]

    def drain(self):
        q, out = _CHANNELS[self.channel.cid], []
        while not q.empty():
            out.append(q.get())
        return out

    def cancel(self, handles):
        self.cancelled += [h.box["key"] for h in handles]

    def close(self):
        self.closed = True


class Recorder(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.thread_ids: set[int] = set()

    def status(self, message: str) -> None:
        self.lines.append(message)
        self.thread_ids.add(threading.get_ident())


def _double(x: int, reporter: Reporter | None = None) -> int:
    if reporter is not None:
        reporter.status(f"worker doubles {x}")
    return 2 * x


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _fails(x: int) -> int:
    raise ValueError(f"bad input {x}")


# --- resources -------------------------------------------------------------------------------

def test_each_arm_declares_what_it_needs() -> None:
    assert resources_for("prompting") == Resources(cpus=1, gpus=0, memory_gb=1)
    assert resources_for("rag").cpus == 2 and resources_for("knn-shot").gpus == 0  # embedding wants CPUs
    assert resources_for("lora").gpus == 1 and resources_for("full-ft").memory_gb > resources_for("lora").memory_gb
    assert resources_for("rag", kind="trial").cpus == 1  # a trial reuses the cached index
    assert resources_for("lora", kind="trial").gpus == 1


def test_a_strategy_may_declare_its_own(monkeypatch) -> None:
    from advisor import registry

    cls = registry.strategies.get("classical")
    monkeypatch.setattr(cls, "resources", classmethod(lambda c, config, spec: Resources(cpus=3, memory_gb=5)),
                        raising=False)
    assert resources_for("classical") == Resources(cpus=3, gpus=0, memory_gb=5)


def test_resources_fit_the_cluster() -> None:
    cpu_cluster = {"CPU": 8.0, "memory": 16 * 1024 ** 3}
    options, notes = fit(resources_for("lora"), cpu_cluster, {"CPU": 2.0, "memory": 4 * 1024 ** 3})
    assert "num_gpus" not in options and options["num_cpus"] == 1 and "memory" not in options
    assert any("GPU" in n for n in notes) and any("8 GiB wanted" in n for n in notes)
    gpu_cluster = {"CPU": 16.0, "GPU": 2.0, "memory": 64 * 1024 ** 3}
    options, notes = fit(resources_for("lora"), gpu_cluster)
    assert options == {"num_cpus": 1.0, "num_gpus": 1.0, "memory": 8 * 1024 ** 3} and notes == []
    options, notes = fit({"cpus": 4}, {"CPU": 2.0})
    assert options["num_cpus"] == 2.0 and "4 CPUs wanted" in notes[0]


# --- failures --------------------------------------------------------------------------------

def test_a_dead_worker_fails_only_its_unit_retried_once_then_recorded() -> None:
    pool = FakePool(deaths={"once": 1, "always": 5})
    statuses: list[str] = []
    executor = RemoteExecutor(pool, status=statuses.append)
    units = [Unit("ok", _double, {"x": 1}), Unit("once", _double, {"x": 2}), Unit("always", _double, {"x": 3}),
             Unit("own-error", _fails, {"x": 4})]
    done: list[str] = []
    results = executor.map(units, on_done=lambda r: done.append(r.key))
    assert [r.key for r in results] == ["ok", "once", "always", "own-error"]  # the order of the units
    assert sorted(done) == sorted(r.key for r in results)
    assert results[0].value == 2 and results[1].value == 4  # the retried unit's own result
    assert executor.attempts == {"ok": 1, "once": 2, "always": 2, "own-error": 1}
    assert isinstance(results[2].error, WorkerLost) and "2 tries" in str(results[2].error)
    assert isinstance(results[3].error, ValueError)  # the unit's own error: recorded, not retried
    assert any("once: its worker died" in s for s in statuses)


def test_ctrl_c_cancels_the_units_still_running() -> None:
    pool = FakePool()
    executor = RemoteExecutor(pool)
    units = [Unit("first", _double, {"x": 1})] + [Unit(f"slow-{i}", _sleep, {"seconds": 2})
                                                   for i in range(2)]

    def interrupt(result) -> None:
        raise KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        executor.map(units, on_done=interrupt)
    assert sorted(pool.cancelled) == ["slow-0", "slow-1"]


# --- the driver keeps the run directory ------------------------------------------------------

def test_driver_objects_are_forwarded_not_shipped(tmp_path: Path) -> None:
    reporter = Recorder()
    executor = RemoteExecutor(FakePool())
    results = executor.map([Unit("a", _double, {"x": 5, "reporter": reporter})])
    assert results[0].value == 10
    assert reporter.lines == ["worker doubles 5"]  # applied on the driver, by the driver's thread
    assert reporter.thread_ids == {threading.get_ident()}
    assert pickle.loads(pickle.dumps(reporter)).lines == ["worker doubles 5"]  # outside an executor: itself


_SENT: list = []


class _ListChannel:
    """A channel whose copies (a worker's) all deliver into one module-level list, as a Ray queue does."""

    def send(self, message) -> None:
        _SENT.append(message)


def test_a_forwarded_method_taken_off_its_object_is_forwarded_too() -> None:
    """`status=reporter.status` shipped with cloudpickle (as Ray ships units) calls the driver's
    reporter by message, not the reporter's code on a stand-in without its state."""
    cloudpickle = pytest.importorskip("cloudpickle")
    from advisor.forwarded import Forwarding, forwarding

    reporter = Recorder()
    ctx = Forwarding(_ListChannel())
    _SENT.clear()
    with forwarding(ctx):
        payload = cloudpickle.dumps({"status": reporter.status})
    say = pickle.loads(payload)["status"]
    say("from a worker")
    assert reporter.lines == [] and len(_SENT) == 1
    for message in _SENT:
        ctx.apply(message)
    assert reporter.lines == ["from a worker"]
    reporter.status("on the driver")  # taken off the object on the driver, it is the real method
    assert reporter.lines[-1] == "on the driver"


def test_a_run_on_fake_workers_equals_a_local_run(task_dir: Path, tmp_path: Path) -> None:
    task = load_task(task_dir / "task.yaml")
    local, _ = run_task(task, RunOptions(backend="fake", arms=["zero", "two-shot"], out=tmp_path / "local"))
    pool = FakePool()
    remote, run_dir = run_task(task, RunOptions(backend="fake", arms=["zero", "two-shot"], out=tmp_path / "remote",
                                                executor=RemoteExecutor(pool)))
    assert pool.submitted == ["arm/toy/zero", "arm/toy/two-shot"]
    assert [(a.name, a.metrics, a.n) for a in remote.arms] == [(a.name, a.metrics, a.n) for a in local.arms]
    rows = lambda d: sorted((r.arm, r.id, r.prediction) for r in read_samples(d))  # noqa: E731
    assert rows(run_dir) == rows(tmp_path / "local")
    assert read_record(run_dir)[0].status == "ok"


def test_a_retried_arm_is_written_once(tmp_path: Path) -> None:
    from advisor.evaluation.record import SampleRow

    sink = ArmSink(tmp_path)
    row = SampleRow(arm="a", id="s1", input="x", target="ham", prediction="ham", raw="ham", correct=True,
                    score=1.0, latency_ms=1.0, prompt_tokens=1, completion_tokens=1)
    sink.append([row])
    sink.append([row])  # the same sample answered again by the retried unit
    assert len((tmp_path / "samples.jsonl").read_text().splitlines()) == 1


# --- choosing an executor --------------------------------------------------------------------

def test_address_needs_a_cluster_executor(task_dir: Path, capsys) -> None:
    with pytest.raises(UserError, match="local executor takes no address"):
        get_executor("local", address="auto")
    assert main(["run", str(task_dir / "task.yaml"), "--backend", "fake", "--address", "auto"]) == 2
    assert "use it with --executor ray" in capsys.readouterr().err


def test_ray_missing_is_a_clear_error(monkeypatch, task_dir: Path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if `advisor[ray]` were not installed
    assert main(["run", str(task_dir / "task.yaml"), "--backend", "fake", "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert "needs Ray" in err and "advisor[ray]" in err


def test_executor_block_in_the_task_is_strict(task_dir: Path, capsys) -> None:
    path = task_dir / "task.yaml"
    path.write_text(path.read_text() + "executor: {name: ray, adress: auto}\n")
    assert main(["validate", str(path)]) == 2
    assert "adress" in capsys.readouterr().err
    path.write_text(path.read_text().replace("adress", "address"))
    assert load_task(path).spec.executor.address == "auto"
    assert json.loads(load_task(path).spec.model_dump_json())["executor"]["name"] == "ray"
