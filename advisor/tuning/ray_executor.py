"""The Ray executor: arms, trials and seed repeats as Ray tasks, each on the resources it declares.

`advisor run|tune TASK --executor ray [--address auto|ray://HOST:PORT]` (or `executor:` /
`ray_address:` in the task). Without an address, a Ray is started on this machine for the
run (no dashboard) and shut down after it; with one, the run joins that cluster and leaves it
running. Ray is imported here only, so `import advisor` and the local executor need none.

- Each unit is one Ray task with the CPUs, GPUs and memory its arm declares
  (`advisor.tuning.resources`, shrunk to what the cluster has).
- Shared inputs (the serving backend, the task) go to Ray's object store once per map and are
  read from there by every worker; artifacts are content-addressed in the cache folder, so a
  worker builds an index or adapter once, and a cluster that shares the cache folder (NFS,
  `ADVISOR_CACHE`) builds it once for all workers.
- Progress and sample rows stream back over a Ray queue, put there in batches by a background
  thread of the worker (`advisor.tuning.outbox`), and the driver alone writes the run
  directory (`advisor.forwarded`, `advisor.evaluation.sink`).
- A worker that dies fails only its unit: it is resubmitted once, then recorded with the
  reason (`RemoteExecutor`). Ctrl-C cancels every running task (force: their workers are
  killed), kills the serving actor and the queue, and shuts down a Ray this run started.
- Tuning: each arm's study is a Ray Tune run with Optuna's TPE sampler and the median
  stopping rule (`advisor.tuning.ray_tune`).
- Serving: a `vllm` backend that would start its own server runs as a Ray actor holding the
  server (GPUs = tensor_parallel_size) and every worker sends its requests to it
  (`advisor.backends.ray_actor`); `serving.base_url` attaches to an existing deployment.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from advisor.backends.base import Backend
from advisor.tuning.executor import Unit
from advisor.tuning.outbox import outbox_for
from advisor.tuning.remote import RemoteExecutor, WorkerLost, run_unit
from advisor.tuning.resources import fit

__all__ = ["RayExecutor", "RayPool", "ray_processes"]


class _QueueChannel:
    """The channel workers send forwarded calls on: a Ray queue actor (picklable handle).

    A worker never puts on the queue from the unit's thread: a blocking `ray.get` there makes
    Ray lend the unit's CPU away and start a fresh worker process for a queued unit. Messages
    go through this process's outbox instead (`advisor.tuning.outbox`): a background thread
    puts what accumulated in one call, and `run_unit` waits for it before the result returns."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.key = ("ray-queue", uuid.uuid4().hex)  # one outbox per queue in each worker process

    def send(self, message: tuple) -> None:
        outbox_for(self.key, self.queue.put_nowait_batch).send(message)


def _worker(fn: Any, kwargs: dict[str, Any], shared_names: list[str], *shared: Any) -> tuple[Any, float]:
    """Runs on a Ray worker: `shared` are object-store values Ray resolved for us."""
    kwargs = dict(kwargs)
    kwargs.update(zip(shared_names, shared))
    return run_unit(fn, kwargs)


class RayPool:
    """Ray tasks under a RemoteExecutor."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 status: Any = lambda m: None) -> None:
        try:
            import ray
        except ImportError:
            from advisor.errors import UserError

            raise UserError("--executor ray needs Ray, which is not installed",
                            hint="pip install 'advisor[ray]'") from None
        self.ray = ray
        started = time.perf_counter()
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address:
                ray.init(address=address, **kwargs)
            else:  # a Ray for this run only; workers inherit this environment (PYTHONPATH included)
                ray.init(num_cpus=num_cpus, **kwargs)
        self.startup_s = time.perf_counter() - started  # Ray's start-up overhead (perf_counter seconds)
        from ray.util.queue import Queue

        self.queue = Queue(actor_options={"num_cpus": 0})
        self.channel = _QueueChannel(self.queue)
        self.cluster = {k: float(v) for k, v in ray.cluster_resources().items()}
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        self.largest = {k: max(float(n.get(k, 0)) for n in nodes) for k in ("CPU", "GPU", "memory")} if nodes else self.cluster
        self.slots = max(1, int(self.cluster.get("CPU", 1)))
        self.status = status
        self._remote = ray.remote(_worker)
        self._shared: dict[int, Any] = {}  # id(object) -> its object-store ref, for this executor's life
        self.notes: set[str] = set()
        self.actors: list[Any] = []  # serving actors this run started (killed on close)

    def _share(self, value: Any) -> Any:
        if id(value) not in self._shared:
            self._shared[id(value)] = (self.ray.put(value), value)  # the value kept alive so its id stays unique
        return self._shared[id(value)][0]

    def submit(self, unit: Unit) -> Any:
        options, notes = fit(unit.resources or {"cpus": 1}, self.cluster, self.largest)
        for note in notes:
            if note not in self.notes:
                self.notes.add(note)
                self.status(f"resources: {note}")
        shared = [k for k, v in unit.kwargs.items() if isinstance(v, Backend)]
        rest = {k: v for k, v in unit.kwargs.items() if k not in shared}
        refs = [self._share(unit.kwargs[k]) for k in shared]
        # max_retries=0: the executor retries a dead worker's unit itself, once, and records the rest
        return self._remote.options(max_retries=0, retry_exceptions=False, name=unit.key, **options).remote(
            unit.fn, rest, shared, *refs)

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=timeout_s)
        return ready

    def result(self, handle: Any) -> tuple[Any, float]:
        from ray import exceptions as rx

        try:
            return self.ray.get(handle)
        except rx.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, BaseException) else RuntimeError(str(exc))) from None
        except (rx.WorkerCrashedError, rx.NodeDiedError, rx.LocalRayletDiedError, rx.OutOfMemoryError,
                rx.ObjectLostError, rx.RayActorError) as exc:
            raise WorkerLost(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None

    def drain(self) -> list[tuple]:
        n = self.queue.qsize()
        return self.queue.get_nowait_batch(n) if n else []

    def cancel(self, handles: list[Any]) -> None:
        for handle in handles:
            try:
                self.ray.cancel(handle, force=True)
            except Exception:  # already finished or its worker already gone
                pass

    def close(self) -> None:
        if not self.ray.is_initialized():
            return
        for actor in [*self.actors, getattr(self.queue, "actor", None)]:
            if actor is not None:
                try:
                    self.ray.kill(actor)
                except Exception:
                    pass
        self.actors.clear()
        self._shared.clear()
        if self.owns_ray:
            self.ray.shutdown()


class RayExecutor(RemoteExecutor):
    """`--executor ray`: every unit a Ray task; tuning through Ray Tune."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 status: Any = lambda m: None) -> None:
        address = address or os.environ.get("ADVISOR_RAY_ADDRESS") or None
        super().__init__(RayPool(address, num_cpus, status=status), status=status)

    @property
    def startup_s(self) -> float:
        return self.pool.startup_s

    def tune_arm(self, **kwargs: Any) -> Any:
        """One arm's study as a Ray Tune run (see advisor.tuning.ray_tune)."""
        from advisor.tuning.ray_tune import tune_arm_on_ray

        return tune_arm_on_ray(pool=self.pool, **kwargs)

    def serve(self, backend_name: str, task: Any, status: Any) -> Backend | None:
        """The run's backend as a Ray actor when it would start a server of its own (vLLM); else None."""
        spec = task.spec
        if backend_name != "vllm" or spec.serving.base_url:
            return None
        from advisor.backends.ray_actor import start_backend_actor

        backend = start_backend_actor(self.pool, backend_name, spec, status)
        self.pool.actors.append(backend.actor)
        return backend


def ray_processes() -> list[tuple[int, str]]:
    """(pid, name) of Ray's daemons on this machine (raylet, gcs_server, workers): a test checks none outlive it."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(name in cmd for name in ("raylet", "gcs_server", "ray::", "default_worker.py")):
            out.append((int(entry), cmd[:120]))
    return out
