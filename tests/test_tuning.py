"""Tuning on the fake backend: search-space validation, the test-split firewall, pruning,
budgets, the executor seam, resume, repeats and the seed-aware comparison, LoRA defaults."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from advisor import registry
from advisor.cli import main
from advisor.errors import SpecError
from advisor.evaluation.record import ArmResult, read_record
from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.sections import PrepareFacts
from advisor.evaluation.strategy import PrepareContext, Prediction, Strategy
from advisor.spec import load_task
from advisor.spec.data import load_splits
from advisor.spec.tuning import BudgetSpec, TuningSpec
from advisor.tuning.driver import tune_arms
from advisor.tuning.executor import LocalExecutor, Unit
from advisor.tuning.repeats import seed_aware_difference
from advisor.tuning.results import SeedSpread
from advisor.tuning.space import FloatRange
from advisor.tuning.study import evaluate_config, tune_arm, validation_only
from tests.conftest import TASK_YAML, make_task, spam_rows


# -- fake arms -------------------------------------------------------------------------------
class _QualityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    quality: float = 0.5  # share of items answered right; also what each training step reports
    steps: int = 5
    sleep_s: float = 0.0  # per step (budget tests)
    seed: int | None = None


class _Recording(Strategy):
    """Answers right for the first `quality` share of items; records every sample id it saw."""

    Config = _QualityConfig
    seen: list[str] = []

    @staticmethod
    def search_space(config, spec, sizes):
        return {"quality": FloatRange(0.0, 1.0)}

    @staticmethod
    def seed_dependent(config):
        return True

    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        for split in (ctx.splits.train, ctx.splits.validation, ctx.splits.test):
            _Recording.seen += [s.id for s in split]
        for step in range(1, self.config.steps + 1):
            time.sleep(self.config.sleep_s)
            if ctx.report is not None:
                ctx.report(step, self.config.quality)
        return PrepareFacts()

    def predict(self, samples, backend):
        _Recording.seen += [s.id for s in samples]
        cut = round(self.config.quality * len(samples))
        if self.config.seed is not None:  # seed-dependent: a different item is wrong per seed
            cut = max(0, cut - self.config.seed % 2)
        return [Prediction(s.id, s.target if i < cut else ("ham" if s.target == "spam" else "spam"), "", 1, 0, 0.0)
                for i, s in enumerate(samples)]


@pytest.fixture
def recording():
    if "recording-test" not in registry.strategies:
        registry.strategies.register("recording-test", _Recording)
    _Recording.seen = []
    yield _Recording
    registry.strategies._loaded.pop("recording-test", None)  # other test files check the registered arms


REC_YAML = TASK_YAML + """\
  - name: rec
    strategy: recording-test
    config: {quality: 0.5}
"""


# -- search spaces -----------------------------------------------------------------------------
@pytest.mark.parametrize("search, message", [
    ("{bogus: [1, 2]}", "unknown parameter; this arm can tune: balanced, calibrate, shots"),
    ("{shots: [8, 2]}", "low (8) must be below high (2)"),
    ("{shots: [1.5, 4]}", "integer parameter needs integer bounds"),
    ("{shots: [1, 999]}", "999 is not a valid shots"),
    ("{shots: fast}", "expected a range [low, high]"),
    ("{calibrate: [yes-please]}", "is not a valid calibrate"),
    ("{shots: {low: 1, high: 4, spread: 2}}", "unknown key(s) spread"),
    ("[shots]", "expected a mapping"),
])
def test_bad_search_overrides_name_file_and_line(tmp_path: Path, search: str, message: str, capsys) -> None:
    text = TASK_YAML.replace("    config: {shots: 2}", f"    config:\n      shots: 2\n      search: {search}")
    path = make_task(tmp_path, text, spam_rows())
    with pytest.raises(SpecError) as err:
        load_task(path)
    assert message in str(err.value)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "search:" in ln)
    assert f"task.yaml:{line}: arms[1].config.search" in str(err.value)
    assert main(["validate", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_lora_log_range_and_choices_are_checked(tmp_path: Path) -> None:
    base = TASK_YAML.replace("  - name: gen\n    strategy: prompting\n    config: {mode: generate}\n",
                             "  - name: ft\n    strategy: lora\n    config:\n      search: SEARCH\n")
    for search, message in (("{learning_rate: {low: 0, high: 0.01, log: true}}", "log range needs low > 0"),
                            ("{target_modules: [attention, everything]}", "not a valid target_modules")):
        with pytest.raises(SpecError) as err:
            load_task(make_task(tmp_path, base.replace("SEARCH", search), spam_rows()))
        assert "arms[2].config.search" in str(err.value) and message in str(err.value)


def test_overrides_narrow_and_switch_off_parameters(tmp_path: Path) -> None:
    text = TASK_YAML.replace("    config: {shots: 2}", "    config:\n      shots: 2\n      search: {shots: [2, 3], "
                                                          "balanced: null, calibrate: [false]}")
    task = load_task(make_task(tmp_path, text, spam_rows()))
    assert "search" not in task.spec.arms[1].config  # the arm's own config stays clean
    result = tune_arm(task, "two-shot", load_splits(task.spec), registry.backends.get("fake")(task.spec), 
                      TuningSpec(budget=BudgetSpec(trials=6)), storage=None, cache_dir=tmp_path / "c")
    assert set(result.space) == {"shots", "calibrate"}
    own, rest = result.trials[0], result.trials[1:]
    assert own.enqueued and own.params == {"shots": 2, "calibrate": True}  # its own config, outside the override
    assert all(t.params["shots"] in (2, 3) and t.params["calibrate"] is False for t in rest)
    assert len({t.params["shots"] for t in rest if t.note is None}) == 2  # finite space: each config run once
    assert len(result.trials) < 6  # and the search stopped when the space was exhausted


# -- the test-split firewall -----------------------------------------------------------------
def test_tuning_never_sees_a_test_item(tmp_path: Path, recording) -> None:
    task = load_task(make_task(tmp_path, REC_YAML, spam_rows(60)))
    splits = load_splits(task.spec)
    tuned = tune_arms(task, splits, registry.backends.get("fake")(task.spec), ["rec", "two-shot"],
                      TuningSpec(budget=BudgetSpec(trials=4)), run_dir=None, cache_dir=tmp_path / "c")
    test_ids = {s.id for s in splits.test}
    assert recording.seen and not test_ids & set(recording.seen)
    assert set(recording.seen) <= {s.id for s in splits.train + splits.validation}
    assert len(tuned["rec"].trials) == 4 and tuned["rec"].validation_items == len(splits.validation)
    with pytest.raises(ValueError, match="test split"):
        evaluate_config(task, "rec", task.arm_configs["rec"], splits, splits.validation, None, tmp_path)
    assert validation_only(splits).test == []


def test_tune_then_test_once_through_the_run(tmp_path: Path, recording) -> None:
    task = load_task(make_task(tmp_path, REC_YAML, spam_rows(60)))
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run", arms=["rec"],
                                                tune=TuningSpec(budget=BudgetSpec(trials=5))))
    rec = record.arm("rec")
    t = rec.tuning
    assert t is not None and len(t.trials) == 5 and t.trials[0].enqueued and t.trials[0].params == {"quality": 0.5}
    assert t.best_value == max(tr.value for tr in t.trials if tr.value is not None) >= t.baseline_value
    assert rec.config["quality"] == t.best_params["quality"] == t.chosen_config["quality"]
    assert any(o.what.startswith("tuning") and o.seconds == t.seconds for o in rec.prepare.one_off)
    assert (run_dir / "tuning.sqlite3").is_file()
    curve = t.best_so_far()
    assert [x for x, _ in curve] == [1, 2, 3, 4, 5] and all(b >= a for (_, a), (_, b) in zip(curve, curve[1:]))
    again, _ = read_record(run_dir)
    assert again.arm("rec").tuning.trials == t.trials
    from reports.documents import render_html, render_markdown

    md = render_markdown(again, run_dir)
    assert "## Tuning (validation split only)" in md and "quality=" in md
    assert "best validation accuracy so far" in render_html(again, run_dir)


# -- pruning, budgets, resume ------------------------------------------------------------------
def test_median_pruner_stops_trials_that_report_worse(tmp_path: Path, recording) -> None:
    task = load_task(make_task(tmp_path, REC_YAML, spam_rows(60)))
    result = tune_arm(task, "rec", load_splits(task.spec), registry.backends.get("fake")(task.spec),
                      TuningSpec(budget=BudgetSpec(trials=12), sampler="random", seed=3), storage=None,
                      cache_dir=tmp_path / "c")
    pruned = [t for t in result.trials if t.state == "pruned"]
    complete = [t for t in result.trials if t.state == "complete"]
    assert pruned and "pruned at step" in pruned[0].note
    for t in pruned:  # each was below the median of the trials finished before it, at the step it stopped
        step, value = t.intermediate[-1]
        earlier = sorted(c.params["quality"] for c in complete if c.number < t.number)
        assert value < earlier[len(earlier) // 2] + 1e-9 and t.value is None
    assert len(result.trials) == 12


def test_seconds_budget_stops_a_running_trial(tmp_path: Path, recording) -> None:
    text = REC_YAML.replace("config: {quality: 0.5}", "config: {quality: 0.5, steps: 50, sleep_s: 0.01}")
    task = load_task(make_task(tmp_path, text, spam_rows(60)))
    result = tune_arm(task, "rec", load_splits(task.spec), registry.backends.get("fake")(task.spec),
                      TuningSpec(budget=BudgetSpec(seconds=0.1), pruner="none"), storage=None, cache_dir=tmp_path)
    assert len(result.trials) == 1 and result.trials[0].state == "pruned"
    assert "budget of 0.1 s ran out" in result.trials[0].note and result.trials[0].intermediate
    assert result.notes and result.notes[0].startswith("the budget of 0.1 s bought 0 complete trial(s) of 1 ")
    assert result.notes[0].endswith("the search space was barely explored; raise the budget")
    # a trials budget is what the user asked for: no note
    many = tune_arm(task, "rec", load_splits(task.spec), registry.backends.get("fake")(task.spec),
                    TuningSpec(budget=BudgetSpec(trials=1), pruner="none"), storage=None, cache_dir=tmp_path / "t")
    assert not any("budget" in n for n in many.notes)
    # 60 rows leave 6 validation items: the note gives the resolution they allow
    assert many.notes == ["it was scored on 6 validation item(s), so one item moves the metric by 17 points and "
                          "trials closer than that are tied by chance; give the task a validation split of at least "
                          "30 items"]


def test_a_budget_below_two_trials_is_said_in_the_dry_run() -> None:
    from advisor.tuning.estimate import below_one_trial

    assert below_one_trial(240, 600).startswith("a budget of 240 s buys less than one trial (~600 s each)")
    assert below_one_trial(240, 600).endswith("give it at least 1,200 s")
    assert "fewer than two trials" in below_one_trial(240, 150)


def test_interrupted_tune_resumes_from_its_storage(tmp_path: Path, recording) -> None:
    task = load_task(make_task(tmp_path, REC_YAML, spam_rows(60)))
    splits, fake = load_splits(task.spec), registry.backends.get("fake")(task.spec)
    db = tmp_path / "tuning.sqlite3"
    first = tune_arm(task, "rec", splits, fake, TuningSpec(budget=BudgetSpec(trials=2)), storage=db, cache_dir=tmp_path)
    recording.seen = []
    second = tune_arm(task, "rec", splits, fake, TuningSpec(budget=BudgetSpec(trials=3)), storage=db, cache_dir=tmp_path)
    assert [t.params for t in second.trials[:2]] == [t.params for t in first.trials]
    assert len(second.trials) == 3 and recording.seen  # one new trial ran, two were read back


# -- executor seam -------------------------------------------------------------------------------
class _CountingExecutor(LocalExecutor):
    name = "counting"

    def __init__(self):
        self.keys: list[str] = []

    def map(self, units, on_done=None):
        self.keys += [u.key for u in units]
        return super().map(units, on_done)


def test_local_executor_keeps_order_and_isolates_failures() -> None:
    def boom():
        raise RuntimeError("no")

    done = []
    results = LocalExecutor().map([Unit("a", lambda x: x * 2, {"x": 2}), Unit("b", boom), Unit("c", lambda: 3)],
                                  on_done=lambda r: done.append(r.key))
    assert [r.key for r in results] == done == ["a", "b", "c"]
    assert results[0].value == 4 and isinstance(results[1].error, RuntimeError) and results[2].ok


def test_arms_trials_and_seeds_all_go_through_the_executor(tmp_path: Path, recording) -> None:
    task = load_task(make_task(tmp_path, REC_YAML.replace("backend: fake", "backend: fake\nrepeats: 2"),
                               spam_rows(60)))
    executor = _CountingExecutor()
    run_task(task, RunOptions(out=tmp_path / "run", arms=["zero", "rec"], executor=executor,
                              tune=TuningSpec(budget=BudgetSpec(trials=2))))
    keys = executor.keys
    assert "tune/toy/rec" in keys and "tune/toy/rec/trial-0" in keys and "tune/toy/rec/trial-1" in keys
    assert "arm/toy/zero" in keys and "arm/toy/rec" in keys and "seed/toy/rec/1" in keys


# -- repeats and the seed-aware comparison -------------------------------------------------------
def test_repeats_record_each_seed_for_seed_dependent_arms_only(tmp_path: Path, recording) -> None:
    text = REC_YAML.replace("backend: fake", "backend: fake\nrepeats: 3\nseed: 4")
    record, _ = run_task(load_task(make_task(tmp_path, text, spam_rows(60))), RunOptions(out=tmp_path / "run"))
    rec = record.arm("rec")
    assert rec.seeds.seeds == [4, 5, 6] and rec.seeds.values[0] == rec.metrics["accuracy"]
    assert rec.seeds.values[1] < rec.seeds.values[0] == rec.seeds.values[2]  # odd seeds miss one item
    assert record.arm("two-shot").seeds.n == 3  # prompting with shots draws demonstrations
    assert record.arm("zero").seeds is None  # zero-shot does not depend on a seed
    assert record.arm("two-shot").seeds.what == "demonstration draw"


def _arm(name: str, values: list[float]) -> ArmResult:
    return ArmResult(name=name, strategy="prompting", status="ok", config={}, metrics={"accuracy": values[0]},
                     primary_metric="accuracy",
                     seeds=SeedSpread(metric="accuracy", seeds=list(range(len(values))), values=values, what="x"))


def test_a_difference_inside_the_seed_spread_is_a_tie() -> None:
    steady = _arm("a", [0.80, 0.80, 0.80])
    noisy = _arm("b", [0.60, 0.95, 0.70])  # mean 0.75, std 0.18
    tight = _arm("c", [0.74, 0.75, 0.76])
    assert seed_aware_difference(steady, noisy, paired_se=0.01).tie
    assert not seed_aware_difference(steady, tight, paired_se=0.01).tie
    one = ArmResult(name="d", strategy="lora", status="ok", config={}, metrics={"accuracy": 0.75}, primary_metric="accuracy")
    plain = seed_aware_difference(steady, one, paired_se=0.01)  # no spread: the paired test alone
    assert plain.se == pytest.approx(0.01) and not plain.tie


def test_the_decision_rule_reads_the_seed_spread() -> None:
    """advisor.decision's seed_metrics takes each seed's primary metric from `ArmResult.seeds`."""
    from advisor.decision.engine import seed_metrics

    assert seed_metrics(_arm("a", [0.8, 0.7, 0.9]), "accuracy") == [0.8, 0.7, 0.9]
    assert seed_metrics(_arm("a", [0.8, 0.7]), "macro_f1") == []  # the spread measured another metric
    assert seed_metrics(_arm("a", [0.8]), "accuracy") == []  # one seed: no spread
    one = ArmResult(name="d", strategy="lora", status="ok", config={}, metrics={"accuracy": 0.75}, primary_metric="accuracy")
    assert seed_metrics(one, "accuracy") == []
    with pytest.raises(Exception):  # strict like the other record sections
        SeedSpread(metric="accuracy", seeds=[0], values=[0.5], what="x", surprise=1)


# -- LoRA defaults from the data, and the dry run ------------------------------------------------
def test_lora_epochs_scale_with_examples_and_labels() -> None:
    from strategies.lora.config import LoraArmConfig, default_epochs, resolve_schedule

    assert default_epochs(400, 6) == 3.0  # 1,200 examples seen: 200 per label
    assert default_epochs(300, 2) == 3.5  # at least 1,000 examples seen
    assert default_epochs(20_000, 2) == 1.0 and default_epochs(50, 20) == 8.0  # bounded
    assert resolve_schedule(LoraArmConfig(max_steps=30), 400, 6).epochs is None  # explicit steps win
    assert resolve_schedule(LoraArmConfig(epochs=2), 400, 6).epochs == 2
    assert resolve_schedule(LoraArmConfig(), 400, 6).epochs == 3.0


def test_dry_run_estimates_the_tuning_budget(tmp_path: Path, capsys) -> None:
    path = make_task(tmp_path, TASK_YAML + "tuning: {budget: {trials: 5}}\n", spam_rows(60))
    assert main(["tune", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "tuning estimate: 5 trials per arm" in out and "shots [1," in out
    from advisor.evaluation.dryrun import estimate_run

    est = estimate_run(load_task(path), tuning=TuningSpec(budget=BudgetSpec(trials=5)))
    row = next(r for r in est.tuning["arms"] if r["arm"] == "two-shot")
    assert row["total_s"] == pytest.approx(5 * row["per_trial_s"]) and row["per_trial_s"] >= 0
    assert main(["run", str(path), "--trials", "3"]) == 2  # a budget without --tune is a mistake


def test_tune_command_end_to_end_on_the_fake_backend(tmp_path: Path, capsys) -> None:
    path = make_task(tmp_path, TASK_YAML + "tuning: {budget: {trials: 2}, seed: 5}\n", spam_rows(60))
    assert main(["tune", str(path), "--arms", "two-shot", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "tuning (validation only)" in out
    record, _ = read_record(tmp_path / "run")
    t = record.arm("two-shot").tuning
    assert len(t.trials) == 2 and t.seed == 5 and record.spec.tuning.budget.model_dump() == {"trials": 2, "seconds": None}
    assert main(["run", str(path), "--tune", "--seconds", "0.5", "--out", str(tmp_path / "run2"), "--arms", "zero"]) == 0
    assert read_record(tmp_path / "run2")[0].arm("zero").tuning.budget == {"seconds": 0.5}
    assert main(["run", str(path), "--executor", "nope"]) == 2
    assert "unknown executor 'nope'" in capsys.readouterr().err


def test_own_config_outside_the_space_is_still_trial_zero(tmp_path: Path, recording) -> None:
    text = REC_YAML.replace("config: {quality: 0.5}", "config:\n      quality: 0.5\n      search: {quality: [0.0, 0.1]}")
    task = load_task(make_task(tmp_path, text, spam_rows(60)))
    result = tune_arm(task, "rec", load_splits(task.spec), registry.backends.get("fake")(task.spec),
                      TuningSpec(budget=BudgetSpec(trials=3)), storage=None, cache_dir=tmp_path)
    own = result.trials[0]
    assert own.enqueued and own.params == {"quality": 0.5} and own.value == result.baseline_value
    assert all(0.0 <= t.params["quality"] <= 0.1 for t in result.trials[1:])
    assert result.best_value == own.value and result.best_params == {}  # nothing beat it: the own config stays
    assert result.chosen_config["quality"] == 0.5


def test_an_executor_with_more_slots_gets_trials_in_batches(tmp_path: Path, recording) -> None:
    class Wide(LocalExecutor):
        slots = 3

        def __init__(self):
            self.batches: list[int] = []

        def map(self, units, on_done=None):
            self.batches.append(len(units))
            return super().map(units, on_done)

    task = load_task(make_task(tmp_path, REC_YAML, spam_rows(60)))
    wide = Wide()
    result = tune_arm(task, "rec", load_splits(task.spec), registry.backends.get("fake")(task.spec),
                      TuningSpec(budget=BudgetSpec(trials=7), pruner="none"), storage=None, cache_dir=tmp_path,
                      executor=wide)
    assert wide.batches == [3, 3, 1] and len(result.trials) == 7 and result.trials[0].enqueued
