"""A metric registered from outside the core is validated, scored, tested and reported like
a built-in one: every lookup goes through advisor.registry.metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor import registry
from advisor.cli import main
from advisor.evaluation.record import read_record
from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.scoring import Metric, score
from advisor.spec import load_task
from reports.documents import render_markdown
from tests.conftest import TASK_YAML, make_task, spam_rows

ERROR_RATE = Metric("error_rate", higher_is_better=False, proportion=True,
                    description="share of test items answered wrongly", item=lambda p, t: float(p != t))


@pytest.fixture
def error_rate():
    registry.metrics.register("error_rate", ERROR_RATE)
    yield ERROR_RATE
    registry.metrics._loaded.pop("error_rate", None)  # the registry has no unregister: tests only


def test_metric_declares_its_interval_and_item_scoring() -> None:
    assert ERROR_RATE.ci_method == "wilson" and ERROR_RATE.value(["a", "b"], ["a", "c"], None) == 0.5
    assert registry.metrics.get("token_f1").ci_method == "bootstrap"
    with pytest.raises(ValueError, match="needs `compute` or `item`"):
        Metric("empty", True, True, "nothing to compute")
    with pytest.raises(ValueError, match="Wilson intervals need a proportion"):
        Metric("bad", True, False, "x", item=lambda p, t: 0.5, ci_method="wilson")


def test_scoring_uses_the_registered_metric(error_rate) -> None:
    result = score("classification", ["ham", "spam", "ham"], ["ham", "ham", None], ["ham", "spam"], "error_rate")
    assert result.metrics["error_rate"] == pytest.approx(2 / 3) and result.metrics["accuracy"] == pytest.approx(1 / 3)
    assert result.correct == [True, False, False]  # lower is better: an item scoring 0 errors is right


def test_a_new_metric_runs_end_to_end(tmp_path: Path, error_rate, capsys) -> None:
    task = make_task(tmp_path, TASK_YAML.replace("instructions:", "metric: error_rate\ninstructions:"), spam_rows())
    assert main(["validate", str(task)]) == 0
    assert "metric error_rate" in capsys.readouterr().out
    record, run_dir = run_task(load_task(task), RunOptions(out=tmp_path / "run", limit=8))
    assert record.status == "ok"
    for arm in record.arms:  # the fake backend answers every toy item right
        assert arm.primary_metric == "error_rate" and arm.metrics["error_rate"] == 0.0
        assert arm.higher_is_better["error_rate"] is False and arm.metrics["accuracy"] == 1.0
    rec = read_record(run_dir)[0].recommendation
    assert rec.primary_metric == "error_rate" and rec.higher_is_better is False
    assert rec.intervals["zero"]["error_rate"].method == "Wilson score interval"
    assert any(p.metric == "error_rate" for p in rec.pairs)
    text = render_markdown(*read_record(run_dir))
    assert "| error_rate [95% CI] |" in text and "Paired tests on error_rate" in text


def test_an_unregistered_metric_fails_validation(tmp_path: Path, capsys) -> None:
    task = make_task(tmp_path, TASK_YAML.replace("instructions:", "metric: error_rate\ninstructions:"), spam_rows())
    assert main(["validate", str(task)]) == 2
    err = capsys.readouterr().err
    assert "task.yaml:" in err and "unknown metric 'error_rate'" in err
