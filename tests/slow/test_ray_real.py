"""The Ray executor on a real local Ray (2 CPUs, no dashboard): the SMS demo's prompting arms
and a 2-trial tune through `--executor ray`, against local runs on the same seeds.

The fake backend answers (the point is the executor, not the model), on 12 test items. Checks:
the record equals the local run's (metrics, sample ids, the tuning trials and chosen config),
every sample row reached the run directory through the driver's sink (workers only send
rows), the arms really ran in Ray workers, and no Ray process outlives the test.
Measured on 2 busy cores: about 45 s for the whole module (Ray's start-up is ~7 s of it).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from advisor.cli import main

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'advisor[ray]')")
pytestmark = pytest.mark.slow

TASK = Path(__file__).resolve().parents[2] / "benchmarks" / "sms_spam" / "task.yaml"
COMMON = ["--backend", "fake", "--limit", "12"]


@pytest.fixture(scope="module")
def local_ray():
    from advisor.tuning.ray_executor import ray_processes

    before = {pid for pid, _ in ray_processes()}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
    deadline = time.monotonic() + 15
    left = [p for p in ray_processes() if p[0] not in before]
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = [p for p in ray_processes() if p[0] not in before]
    assert not left, f"Ray processes outlived the test: {left}"


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _rows(run_dir: Path) -> list[tuple[str, str, str]]:
    return sorted((r["arm"], r["id"], r["prediction"]) for r in map(json.loads, (run_dir / "samples.jsonl").open()))


def test_prompting_arms_and_a_tune_on_ray_equal_local_runs(local_ray, tmp_path: Path, monkeypatch) -> None:
    from advisor.evaluation.sink import ArmSink

    written: list[tuple[int, str, str]] = []  # (pid, arm, id) of every row the driver's sink appended
    original = ArmSink.append

    def counting(self, rows):
        written.extend((os.getpid(), r.arm, r.id) for r in rows)
        return original(self, rows)

    monkeypatch.setattr(ArmSink, "append", counting)
    arms = ["--arms", "zero-shot,k-shot"]
    assert main(["run", str(TASK), *COMMON, *arms, "--out", str(tmp_path / "local")]) == 0
    local_written = len(written)
    written.clear()
    from advisor.evaluation import runner

    driver, run_arm = os.getpid(), runner._run_arm

    def on_a_worker(**kwargs):  # shipped by value to the workers; an arm run by the driver fails the run
        assert os.getpid() != driver, "an arm ran in the driver process"
        return run_arm(**kwargs)

    monkeypatch.setattr(runner, "_run_arm", on_a_worker)
    assert main(["run", str(TASK), *COMMON, *arms, "--executor", "ray", "--out", str(tmp_path / "ray")]) == 0
    monkeypatch.setattr(runner, "_run_arm", run_arm)
    local, remote = _record(tmp_path / "local"), _record(tmp_path / "ray")
    assert [(a["name"], a["metrics"], a["n"]) for a in remote["arms"]] == \
        [(a["name"], a["metrics"], a["n"]) for a in local["arms"]]
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert remote["splits"]["test_ids"] == local["splits"]["test_ids"]
    # The driver wrote every row (workers only sent them), and nothing else did.
    assert len(written) == local_written == 24 and {pid for pid, _, _ in written} == {os.getpid()}
    assert sorted((a, i) for _, a, i in written) == [(a, i) for a, i, _ in _rows(tmp_path / "ray")]

    tune = ["tune", str(TASK), *COMMON, "--arms", "k-shot", "--trials", "2"]
    assert main([*tune, "--out", str(tmp_path / "tune-local")]) == 0
    assert main([*tune, "--executor", "ray", "--out", str(tmp_path / "tune-ray")]) == 0
    local_arm = _record(tmp_path / "tune-local")["arms"][0]
    ray_arm = _record(tmp_path / "tune-ray")["arms"][0]
    assert ray_arm["metrics"] == local_arm["metrics"]
    assert [(t["params"], t["value"]) for t in ray_arm["tuning"]["trials"]] == \
        [(t["params"], t["value"]) for t in local_arm["tuning"]["trials"]]
    assert ray_arm["tuning"]["chosen_config"] == local_arm["tuning"]["chosen_config"]
    assert "Ray Tune" in ray_arm["tuning"]["how"] and len(ray_arm["tuning"]["trials"]) == 2
    assert _rows(tmp_path / "tune-ray") == _rows(tmp_path / "tune-local")
    assert not list(tmp_path.glob("tune-ray/*ray*")), "Ray Tune's files stay out of the run directory"


def test_the_serving_actor_answers_every_worker_and_goes_with_close(local_ray) -> None:
    """The backend in one Ray actor (as `vllm` runs on a cluster; the fake backend here): a task on
    a worker and the driver get the same answers, and closing it from the driver kills the actor."""
    from types import SimpleNamespace

    from advisor.backends.base import GenerateRequest
    from advisor.backends.ray_actor import start_backend_actor
    from advisor.spec import load_task

    spec = load_task(TASK).spec
    pool = SimpleNamespace(cluster={k: float(v) for k, v in ray.cluster_resources().items()})
    backend = start_backend_actor(pool, "fake", spec)
    requests = [GenerateRequest(messages=[{"role": "user", "content": "spam here"}], max_new_tokens=2)]

    @ray.remote(num_cpus=1)
    def on_worker(b):
        texts = [g.text for g in b.generate(requests)]
        b.close()  # a worker's copy closing does not stop the shared server
        return texts, os.getpid()

    texts, pid = ray.get(on_worker.remote(backend))
    assert pid != os.getpid()
    assert texts == [g.text for g in backend.generate(requests)] == ["spam"]  # still serving after that
    backend.close()
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(backend.actor.describe.remote(), timeout=30)
