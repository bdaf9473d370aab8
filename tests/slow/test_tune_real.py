"""Slow tier: `advisor tune` on the real model (SmolLM2) for the demo's choice-scored prompting
arms, 2 trials per arm on 24 validation messages, then 24 test messages with the chosen configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.cli import main
from advisor.evaluation.record import read_record
from advisor.spec import load_task
from advisor.spec.data import load_splits
from tests.slow.demo import demo_copy

pytestmark = pytest.mark.slow


def test_tune_two_trials_per_prompting_arm_on_the_real_model(tmp_path: Path) -> None:
    task = demo_copy(tmp_path / "task", generation=False,  # the demo with a small tuning block
                     extra="tuning: {budget: {trials: 2}, seed: 1, max_validation: 24}\n")
    out = tmp_path / "run"
    assert main(["tune", str(task), "--arms", "zero-shot,k-shot", "--limit", "24", "--out", str(out)]) == 0
    record, _ = read_record(out)
    splits = load_splits(load_task(task).spec)
    for name in ("zero-shot", "k-shot"):
        arm = record.arm(name)
        t = arm.tuning
        assert arm.status == "ok" and t is not None and t.validation_items == 24
        assert len(t.trials) == 2 and t.trials[0].enqueued and all(tr.state == "complete" for tr in t.trials)
        assert t.best_value == max(tr.value for tr in t.trials) and 0 <= t.best_value <= 1
        assert {k: arm.config[k] for k in t.best_params} == t.best_params  # the test run used the chosen config
        assert t.seconds > 0 and arm.n == 24
    assert set(record.arm("k-shot").tuning.space) == {"shots", "balanced", "calibrate"}
    assert set(record.arm("zero-shot").tuning.space) == {"calibrate"}
    assert record.splits.test_ids == [s.id for s in splits.test[:24]]
    html = (out / "report.html").read_text()  # one tuning chart, a line per tuned arm
    assert html.count("<figcaption>Tuning: best validation value so far") == 1
    assert "best validation accuracy so far against trials spent" in html
