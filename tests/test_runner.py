"""End to end on the fake backend: the record, failed arms, Ctrl-C and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor import registry
from advisor.errors import UserError
from advisor.evaluation.record import read_record, read_samples
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from advisor.evaluation.sections import ArmDetails, OneOffCost
from strategies.prompting.arm import PromptingStrategy
from tests.conftest import TASK_YAML, make_task, spam_rows


def test_run_writes_a_complete_record(task_dir: Path) -> None:
    record, run_dir = run_task(load_task(task_dir / "task.yaml"), RunOptions(out=task_dir / "run"))
    data = json.loads((run_dir / "run.json").read_text())
    assert list(data)[0] == "schema_version"
    assert data["status"] == "ok" and [a["name"] for a in data["arms"]] == ["zero", "two-shot", "gen"]
    for key in ("run_id", "created", "spec", "environment", "splits", "backend"):
        assert data[key]
    assert data["environment"]["python"] and "packages" in data["environment"]
    zero = record.arm("zero")
    # The fake backend's choice scoring finds the label named in the text: all correct.
    assert zero.metrics["accuracy"] == 1.0 and zero.n == 16
    assert zero.latency.p50_ms >= 0 and zero.latency.how and zero.usage.prompt_tokens > 0
    matrix = zero.confusion.matrix
    assert zero.confusion.labels == ["ham", "spam"] and matrix[0][1] == matrix[1][0] == 0
    assert matrix[0][0] + matrix[1][1] == 16
    assert record.arm("two-shot").prepare.shots == 2
    # Generation answers with the first word of the input, which is the label.
    assert record.arm("gen").metrics["accuracy"] == 1.0
    rows = read_samples(run_dir)
    assert len(rows) == 48 and {r.arm for r in rows} == {"zero", "two-shot", "gen"}
    assert all(r.correct for r in rows) and all(r.latency_ms >= 0 for r in rows)


def test_limit_and_arm_subset(task_dir: Path) -> None:
    record, run_dir = run_task(load_task(task_dir / "task.yaml"), RunOptions(out=task_dir / "r", limit=5, arms=["gen"]))
    assert [a.name for a in record.arms] == ["gen"] and record.arms[0].n == 5
    assert record.splits.test_used == 5 and len(read_samples(run_dir)) == 5
    with pytest.raises(UserError, match="unknown arm"):
        run_task(load_task(task_dir / "task.yaml"), RunOptions(out=task_dir / "r2", arms=["nope"]))
    assert not (task_dir / "r2").exists()


class _Broken(PromptingStrategy):
    def predict(self, samples, backend):
        raise RuntimeError("arm exploded")


class _Interrupting(PromptingStrategy):
    calls = 0

    def predict(self, samples, backend):
        type(self).calls += 1
        if type(self).calls == 2:
            raise KeyboardInterrupt
        return super().predict(samples, backend)


class _Finishing(PromptingStrategy):
    """Reports arm-level details over every row, resumed ones included."""

    def prepare(self, ctx):
        facts = super().prepare(ctx)
        facts.one_off = [OneOffCost(kind="index", what="test index", seconds=1.5, hardware="cpu")]
        return facts

    def finish(self, samples, rows):  # a third-party arm: free-form `extra`
        return ArmDetails(extra={"rows_seen": len(rows), "ids_in_order": [r.id for r in rows] == [s.id for s in samples]})


@pytest.fixture
def extra_strategies():
    for name, cls in (("broken", _Broken), ("interrupting", _Interrupting), ("finishing", _Finishing)):
        if name not in registry.strategies:
            registry.strategies.register(name, cls)
    yield


def test_failed_arm_is_recorded_and_others_run(task_dir: Path, extra_strategies) -> None:
    text = TASK_YAML.replace("  - name: two-shot\n    strategy: prompting", "  - name: two-shot\n    strategy: broken")
    task = load_task(make_task(task_dir, text))
    record, run_dir = run_task(task, RunOptions(out=task_dir / "run"))
    assert record.status == "partial"
    broken = record.arm("two-shot")
    assert broken.status == "failed" and "arm exploded" in broken.errors[0]
    assert record.arm("zero").status == "ok" and record.arm("gen").status == "ok"
    assert "arm exploded" in (run_dir / "errors.log").read_text()


def test_ctrl_c_keeps_finished_work_and_resume_completes(tmp_path: Path, extra_strategies) -> None:
    rows = spam_rows(200)
    text = TASK_YAML.replace("  - name: two-shot\n    strategy: prompting", "  - name: two-shot\n    strategy: interrupting")
    task = load_task(make_task(tmp_path, text, rows))
    _Interrupting.calls = 0
    with pytest.raises(KeyboardInterrupt):
        run_task(task, RunOptions(out=tmp_path / "run"))
    record, _ = read_record(tmp_path / "run")
    assert record.status == "cancelled"
    assert record.arm("zero").status == "ok" and record.arm("two-shot").status == "cancelled"
    kept = read_samples(tmp_path / "run", "two-shot")
    assert len(kept) == 32  # one chunk (4 batches of 8) finished before the interrupt
    resumed, _ = run_task(task, RunOptions(resume=tmp_path / "run"))
    assert resumed.status == "ok" and [a.name for a in resumed.arms] == ["zero", "two-shot", "gen"]
    assert record.wall_s > 0 and resumed.wall_s > record.wall_s  # the interrupted attempt's time is kept
    assert resumed.arm("two-shot").n == 80 and resumed.arm("zero").n == 80
    ids = [r.id for r in read_samples(tmp_path / "run", "two-shot")]
    assert len(ids) == len(set(ids)) == 80  # nothing computed twice


def test_finish_hook_and_one_off_costs_reach_the_record(task_dir: Path, extra_strategies) -> None:
    text = TASK_YAML.replace("  - name: two-shot\n    strategy: prompting", "  - name: two-shot\n    strategy: finishing")
    task = load_task(make_task(task_dir, text))
    record, run_dir = run_task(task, RunOptions(out=task_dir / "run", limit=10))
    arm = read_record(run_dir)[0].arm("two-shot")
    assert arm.details.extra == {"rows_seen": 10, "ids_in_order": True}
    assert arm.prepare.one_off[0].kind == "index" and arm.prepare.one_off[0].seconds == 1.5
    assert record.arm("zero").details == ArmDetails()


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    rows = spam_rows()
    rows[3]["label"] = "eggs"
    task = load_task(make_task(tmp_path, TASK_YAML, rows))
    with pytest.raises(UserError):
        run_task(task, RunOptions(out=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_existing_run_dir_is_not_overwritten(task_dir: Path) -> None:
    run_task(load_task(task_dir / "task.yaml"), RunOptions(out=task_dir / "run", limit=2))
    with pytest.raises(UserError, match="already holds a run"):
        run_task(load_task(task_dir / "task.yaml"), RunOptions(out=task_dir / "run", limit=2))
