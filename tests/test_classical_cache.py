"""The classical arm's fit is cached by content: an unchanged rerun reuses it and reports the
one-off cost measured when it was fitted (reused=True); changed rows, config or seed refit."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.strategy import PrepareContext
from advisor.spec import load_task
from advisor.spec.data import load_splits
from strategies.classical.arm import ClassicalStrategy
from tests.conftest import make_task, spam_rows

TASK = """\
name: classic
type: classification
data: {{path: data.jsonl, input_field: text, target_field: label, id_field: id,
        split: {{train: 0.6, validation: 0.2, test: 0.2, seed: 1}}}}
labels: [ham, spam]
instructions: say ham or spam .
backend: fake
seed: {seed}
arms:
  - name: classical
    strategy: classical
    config: {config}
"""


def _prepare(tmp_path: Path, rows=None, config="{cs: [0.1, 10.0], cv_folds: 3, char_ngrams: null}", seed=0):
    task = load_task(make_task(tmp_path / "task", TASK.format(config=config, seed=seed), rows or spam_rows(40)))
    arm = ClassicalStrategy(task.arm_configs["classical"], task.spec)
    splits = load_splits(task.spec)
    ctx = PrepareContext(spec=task.spec, splits=splits, arm_name="classical", seed=task.spec.seed,
                         cache_dir=tmp_path / "artifacts", run_dir=None, backend=None)
    return arm, arm.prepare(ctx), splits


@pytest.fixture(autouse=True)
def _task_folder(tmp_path: Path) -> None:
    (tmp_path / "task").mkdir()


def test_an_unchanged_fit_is_reused_with_its_original_cost(tmp_path: Path, monkeypatch) -> None:
    arm, first, splits = _prepare(tmp_path)
    cost = first.one_off[0]
    assert first.reused is False and cost.reused is False and cost.seconds > 0 and cost.artifact
    import sklearn.model_selection

    def no_fit(*a, **k):
        raise AssertionError("refitted an unchanged classical arm")

    monkeypatch.setattr(sklearn.model_selection, "GridSearchCV", no_fit)
    again, second, _ = _prepare(tmp_path)
    reused = second.one_off[0]
    assert second.reused is True and reused.reused is True and second.cache_key == first.cache_key
    assert (reused.seconds, reused.built, reused.artifact) == (cost.seconds, cost.built, cost.artifact)
    assert second.classical == first.classical  # the facts measured when it was fitted
    probs = [p.extra.probabilities for p in arm.predict(splits.test, None)]
    assert [p.extra.probabilities for p in again.predict(splits.test, None)] == probs


@pytest.mark.parametrize("change", ["row", "config", "seed"])
def test_a_changed_row_config_or_seed_refits(tmp_path: Path, change: str) -> None:
    _, first, _ = _prepare(tmp_path)
    rows = spam_rows(40)
    if change == "row":
        rows[0] = {**rows[0], "text": rows[0]["text"] + " today"}
    kwargs = {"rows": rows}
    if change == "config":
        kwargs["config"] = "{cs: [0.1, 1.0], cv_folds: 3, char_ngrams: null}"
    if change == "seed":
        kwargs["seed"] = 1
    _, second, _ = _prepare(tmp_path, **kwargs)
    assert second.reused is False and second.one_off[0].reused is False
    assert second.cache_key != first.cache_key


def test_a_rerun_reports_the_fit_as_reused(tmp_path: Path) -> None:
    text = TASK.format(config="{cs: [1.0], cv_folds: 3, char_ngrams: null}", seed=0)
    path = make_task(tmp_path / "task", text, spam_rows(40))
    cold, _ = run_task(load_task(path), RunOptions(out=tmp_path / "cold"))
    warm, _ = run_task(load_task(path), RunOptions(out=tmp_path / "warm"))
    c, w = cold.arms[0].prepare.one_off[0], warm.arms[0].prepare.one_off[0]
    assert not c.reused and w.reused and w.seconds == c.seconds and w.built == c.built
    assert warm.arms[0].metrics == cold.arms[0].metrics


def test_a_fit_scored_on_validation_leaves_validation_out(tmp_path: Path) -> None:
    """Tuning trials and validation learning-curve points score the fit on validation: the
    classical arm must not have fitted on those items (it scored 100% on them before)."""
    _, run_facts, splits = _prepare(tmp_path)
    assert run_facts.classical.examples == len(splits.train) + len(splits.validation)
    task = load_task(tmp_path / "task" / "task.yaml")
    arm = ClassicalStrategy(task.arm_configs["classical"], task.spec)
    ctx = PrepareContext(spec=task.spec, splits=splits, arm_name="classical", seed=task.spec.seed,
                         cache_dir=tmp_path / "artifacts", run_dir=None, backend=None, validation_scored=True)
    facts = arm.prepare(ctx)
    assert facts.classical.examples == len(splits.train) and not facts.reused  # a different fit, its own cache key
