"""Arms on Ray with 2 workers vs the local sequential executor, on the fake backend.

A task with several prompting arms (the SMS demo's data, its zero-shot / k-shot shape with
different shot counts) runs twice in this process through `run_task`: once with the local
executor (one arm after the other) and once with the Ray executor on a local Ray of 2 CPUs
(2 arms at a time). The fake backend sleeps a fixed delay per request (ADVISOR_FAKE_DELAY_S),
standing in for a model server, so the arms' time is dominated by waiting as it is with a
real server. Timing: wall clock (time.perf_counter) of the arms (the executor's map over the
arm units, what an executor can speed up) and of each whole run (which adds the driver's
serial work: splits, record, decision); both runs in one
process, one after the other, so machine load hits both. Ray's start-up overhead is reported
apart: `ray.init` plus a round that starts the 2 worker processes; the ratio is given without
it (a cluster that is already up) and with it (a Ray started for this one run). Both sides
are warmed up by one untimed run first (imports, data, the workers' first arm). The response
cache is off in every run (`cache=False`): with it on, the warm-up would answer the timed runs
from the cache and nothing would be measured.

    python benchmarks/bench_ray.py [--arms 4] [--limit 60] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

TASK = Path(__file__).resolve().parent / "sms_spam" / "task.yaml"


def _task_file(folder: Path, arms: int) -> Path:
    text = TASK.read_text()
    head = text[: text.index("arms:")]
    data = str(TASK.parent / "data" / "sms_spam.jsonl")
    lines = [head.replace("path: data/sms_spam.jsonl", f"path: {data}"), "arms:"]
    for i in range(arms):
        lines.append(f"  - name: shots-{i}\n    strategy: prompting\n"
                     f"    config: {{shots: {i}, mode: choice, template: \"SMS: {{input}}\"}}")
    path = folder / "task.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Timed:
    """Wraps an executor and times its map over the arm units (the part an executor can speed up)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.seconds = inner, inner.name, 0.0

    @property
    def slots(self) -> int:
        return self.inner.slots

    def map(self, units, on_done=None):
        started = time.perf_counter()
        try:
            return self.inner.map(units, on_done)
        finally:
            self.seconds += time.perf_counter() - started

    def close(self) -> None:
        self.inner.close()


def _noop() -> int:
    return os.getpid()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arms", type=int, default=4)
    ap.add_argument("--limit", type=int, default=60, help="test items per arm")
    ap.add_argument("--delay", type=float, default=0.05, help="seconds the fake backend takes per request")
    args = ap.parse_args()
    os.environ["ADVISOR_FAKE_DELAY_S"] = str(args.delay)  # read by FakeBackend, copied to the workers with it

    import ray

    from advisor.evaluation.runner import RunOptions, run_task
    from advisor.spec import load_task
    from advisor.tuning.executor import LocalExecutor, Unit
    from advisor.tuning.ray_executor import RayExecutor

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        task = load_task(_task_file(folder, args.arms))

        def run(executor, name: str) -> tuple[float, dict, float]:
            timed = Timed(executor)
            started = time.perf_counter()
            record, _ = run_task(task, RunOptions(backend="fake", limit=args.limit, out=folder / name,
                                                  executor=timed, cache=False))
            return time.perf_counter() - started, {a.name: a.metrics for a in record.arms}, timed.seconds

        run(LocalExecutor(), "warm-up")  # imports, data loading and scoring code warmed for both sides
        local_s, local_metrics, local_arm_s = run(LocalExecutor(), "local")

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        init_s = time.perf_counter() - started
        executor = RayExecutor()
        executor.map([Unit(f"warm-up/{i}", _noop, resources={"cpus": 1}) for i in range(2)])  # start 2 workers
        startup_s = time.perf_counter() - started
        try:
            run(executor, "ray-warm-up")  # the workers import advisor and the arms' code once, as locally
            ray_s, ray_metrics, ray_arm_s = run(executor, "ray")
        finally:
            executor.close()
            ray.shutdown()

    assert ray_metrics == local_metrics, "the Ray run must measure what the local run measured"
    requests = args.arms * args.limit
    print(f"task: {args.arms} prompting arms x {args.limit} test items = {requests} requests, "
          f"fake backend {args.delay * 1000:.0f} ms per request")
    print(f"arms (executor.map over the {args.arms} arm units): local {local_arm_s:.2f} s, ray {ray_arm_s:.2f} s: "
          f"ratio {local_arm_s / ray_arm_s:.2f}x (target >= 1.7x)")
    print(f"whole run (+ splits, record, decision in the driver): local {local_s:.2f} s, ray {ray_s:.2f} s "
          f"(Ray already up): ratio {local_s / ray_s:.2f}x")
    print(f"Ray start-up:     {startup_s:.2f} s (ray.init {init_s:.2f} s + 2 workers started)")
    print(f"whole-run ratio with Ray's start-up counted: {local_s / (ray_s + startup_s):.2f}x")


if __name__ == "__main__":
    main()
