"""Learning curves: the fit against known parameters, the 'not reached in range' reading,
nested seeded subsets, and the runner evaluating points on validation, never on test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advisor import registry
from advisor.decision.curve_fit import fit_curve, fit_power_law, needed_n
from advisor.evaluation.learning_curve import subset
from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.sections import PrepareFacts
from advisor.evaluation.strategy import Prediction, Strategy
from advisor.spec.load import load_task
from tests.conftest import TASK_YAML, make_task, spam_rows

A, B, C = 0.9, 2.0, 0.5  # m(n) = 0.9 - 2 n^-0.5


def law(n: float) -> float:
    return A - B * n ** -C


def test_fit_recovers_known_parameters_and_the_needed_size() -> None:
    ns = [25, 50, 100, 200]
    a, b, c = fit_power_law(ns, [law(n) for n in ns])
    assert (a, b, c) == pytest.approx((A, B, C), rel=1e-4)
    assert needed_n(A, B, C, 0.8) == pytest.approx((2.0 / 0.1) ** 2)  # 400 examples
    assert needed_n(A, B, C, 0.95) == float("inf")  # above the asymptote


def _synthetic_stat(ns: list[int], n_items: int, seed: int = 0):
    """Per-item 0/1 outcomes whose share at each size follows the law (nested: an item right
    at a smaller size stays right), and the bootstrap statistic over them."""
    rng = np.random.default_rng(seed)
    u = rng.random(n_items)
    items = [(u < law(n)).astype(float) for n in ns]
    return lambda idx: [float(v.mean() if idx is None else v[idx].mean()) for v in items]


def test_bootstrap_interval_covers_the_true_size_when_extrapolating() -> None:
    ns = [50, 100, 200]  # the target needs 400 examples: 2x the data
    fit = fit_curve("lora", "accuracy", ns, _synthetic_stat(ns, 4000), 4000, target=0.8, target_arm="knn-shot",
                    target_split="validation", resamples=200, max_extrapolation=10)
    assert fit.status == "extrapolated"
    assert fit.needed_n == pytest.approx(400, rel=0.25)
    assert fit.low < 400 < fit.high < fit.range_max
    # from 4x further away the point estimate drifts, but the interval still covers the truth
    ns = [25, 50, 100]
    fit = fit_curve("lora", "accuracy", ns, _synthetic_stat(ns, 4000), 4000, target=0.8, target_arm="knn-shot",
                    target_split="validation", resamples=200, max_extrapolation=10)
    assert fit.low < 400 and (fit.high is None or fit.high > 400)
    assert "would reach knn-shot's accuracy 80.0% at about" in fit.message and "(extrapolated)" in fit.message


def test_target_reached_within_the_data() -> None:
    ns = [100, 200, 400, 800]
    fit = fit_curve("lora", "accuracy", ns, _synthetic_stat(ns, 4000), 4000, target=0.8, target_arm="k",
                    target_split="test", resamples=100)
    assert fit.status == "reached" and fit.needed_n == pytest.approx(400, rel=0.35)


def test_a_flat_curve_at_the_target_is_reached_at_the_smallest_size() -> None:
    ns = [25, 50, 100]
    fit = fit_curve("a", "accuracy", ns, lambda idx: [1.0, 1.0, 1.0], 40, target=1.0, target_arm="b",
                    target_split="test", resamples=20)
    assert fit.status == "reached" and fit.needed_n == 25


def test_not_reached_in_range_is_said_and_never_extrapolated_past_the_factor() -> None:
    ns = [25, 50, 100]
    stat = _synthetic_stat(ns, 4000)
    # 0.88 needs (2 / 0.02)^2 = 10,000 examples: 100x the data, beyond 10x
    fit = fit_curve("lora", "accuracy", ns, stat, 4000, target=0.88, target_arm="knn-shot", target_split="test",
                    resamples=100, max_extrapolation=10)
    assert fit.status == "not-reached" and fit.range_max == 1000
    assert "does not reach knn-shot's accuracy 88.0% within 10x its data (1000 examples" in fit.message
    assert fit.high is None  # the upper end lies beyond the range
    # above the asymptote: never
    fit = fit_curve("lora", "accuracy", ns, stat, 4000, target=0.97, target_arm="knn-shot", target_split="test",
                    resamples=50)
    assert fit.status == "not-reached" and fit.needed_n is None


def test_subsets_are_nested_and_seeded() -> None:
    train = list(range(100))
    quarter, half, full = (subset(train, f, seed=3) for f in (0.25, 0.5, 1.0))
    assert len(quarter) == 25 and len(half) == 50 and full == train
    assert set(quarter) <= set(half)
    assert subset(train, 0.5, seed=3) == half and subset(train, 0.5, seed=4) != half


class _Learner(Strategy):
    """Answers the first round(n_eval x n / (n + 10)) items it sees right, where n is the
    number of train examples it was prepared on; remembers every id it predicted."""

    Config = registry.strategies.get("prompting").Config
    seen: list[str] = []

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.n = 0

    def prepare(self, ctx):
        self.n = len(ctx.splits.train)
        return PrepareFacts()

    def predict(self, samples, backend):
        type(self).seen += [s.id for s in samples]
        k = round(len(samples) * self.n / (self.n + 10))
        flip = {"ham": "spam", "spam": "ham"}
        return [Prediction(s.id, s.target if i < k else flip[s.target], "x", 1, 1, 0.001) for i, s in enumerate(samples)]


def test_runner_records_curve_points_on_validation_and_the_recommendation_reads_them(tmp_path: Path) -> None:
    if "learner" not in registry.strategies:
        registry.strategies.register("learner", _Learner)
    text = TASK_YAML.replace("  - name: two-shot\n    strategy: prompting",
                             "  - name: two-shot\n    strategy: learner\n"
                             "    learning_curve: {fractions: [0.25, 0.5, 1.0], bootstrap: 60}")
    text = text.replace("split: {train: 0.5, validation: 0.1, test: 0.4, seed: 1}",
                        "split: {train: 0.5, validation: 0.2, test: 0.3, seed: 1}")
    task = load_task(make_task(tmp_path, text, spam_rows(200)))
    _Learner.seen = []
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run"))
    lc = record.arm("two-shot").learning_curve
    assert lc is not None and lc.split == "validation"
    assert [p.n_train for p in lc.points] == [25, 50, 100] and all(p.n_eval == 40 for p in lc.points)
    assert [p.metric for p in lc.points] == pytest.approx([round(40 * n / (n + 10)) / 40 for n in (25, 50, 100)])
    test_ids = set(record.splits.test_ids)
    curve_ids = _Learner.seen[len(test_ids):]  # the arm's own test predictions come first
    assert set(_Learner.seen[:len(test_ids)]) == test_ids and not set(curve_ids) & test_ids
    (fit,) = record.recommendation.learning_curves
    assert fit.arm == "two-shot" and fit.target_arm in ("zero", "gen") and fit.a is not None
    assert any(line.startswith("Learning curve on the validation split (fit m(n) = a - b * n^(-c)")
               for line in record.recommendation.rationale)
    # the reports show the points, the fit and the plot
    from reports.documents import render_html, render_markdown

    md = render_markdown(record, run_dir)
    assert "## Learning curves" in md and "| two-shot | 25% | 25 |" in md and fit.message in md
    html = render_html(record, run_dir)
    assert "accuracy against labelled examples (validation split)" in html and "two-shot fit" in html


def test_dry_run_counts_the_curve_points(tmp_path: Path) -> None:
    from advisor.evaluation.dryrun import estimate_run

    curve = "  - name: two-shot\n    strategy: prompting\n    learning_curve: {fractions: [0.5, 1.0]}"
    plain = estimate_run(load_task(make_task(tmp_path, TASK_YAML, spam_rows(60))), arms=["two-shot"])
    with_curve = estimate_run(load_task(make_task(tmp_path, TASK_YAML.replace(
        "  - name: two-shot\n    strategy: prompting", curve))), arms=["two-shot"])
    (a,), (b,) = plain.arms, with_curve.arms
    validation = 6  # 10% of 60 rows
    assert b.estimate.requests == a.estimate.requests + 2 * validation  # two points, each scoring the validation items
    assert b.estimate.prompt_tokens > a.estimate.prompt_tokens
    assert any("learning curve: 2 points (0.5, 1 of train) on 6 validation items" in n for n in b.notes)


def test_bad_fractions_name_their_line(tmp_path: Path) -> None:
    from advisor.errors import UserError

    bad = "  - name: two-shot\n    strategy: prompting\n    learning_curve: {fractions: [0, 1.0]}"
    with pytest.raises(UserError, match=r"task.yaml:\d+.*learning_curve.fractions.*\(0, 1\]"):
        load_task(make_task(tmp_path, TASK_YAML.replace("  - name: two-shot\n    strategy: prompting", bad), spam_rows(20)))


def test_a_curve_that_falls_for_real_is_flagged_unreliable() -> None:
    """The SMS tune's curve: 80% at 25%, 46% at 50%, 82% at 100% of the data, on 50 items."""
    n_items, ns = 50, [75, 150, 300]
    rng = np.random.default_rng(1)
    shares = [0.80, 0.46, 0.82]
    items = [(rng.permutation(n_items) < round(s * n_items)).astype(float) for s in shares]
    stat = lambda idx: [float(v.mean() if idx is None else v[idx].mean()) for v in items]  # noqa: E731
    fit = fit_curve("lora", "accuracy", ns, stat, n_items, target=0.97, target_arm="classical",
                    target_split="test", resamples=200)
    assert any(w.startswith("non-monotone: 150 examples scored 46.0% against 80.0% at 75") for w in fit.warnings)
    assert "this reading is unreliable: non-monotone" in fit.message


def test_a_noisy_dip_and_a_clean_curve_are_not_flagged() -> None:
    ns = [50, 100, 200]
    clean = fit_curve("lora", "accuracy", ns, _synthetic_stat(ns, 4000), 4000, target=0.8, target_arm="k",
                      target_split="test", resamples=100)
    assert clean.warnings == [] and "unreliable" not in clean.message
    # one item's difference on 40 items: a dip well inside the noise
    items = [np.array([1.0] * 30 + [0.0] * 10), np.array([1.0] * 29 + [0.0] * 11), np.array([1.0] * 34 + [0.0] * 6)]
    stat = lambda idx: [float(v.mean() if idx is None else v[idx].mean()) for v in items]  # noqa: E731
    dip = fit_curve("lora", "accuracy", [25, 50, 100], stat, 40, target=0.9, target_arm="k", target_split="test",
                    resamples=100)
    assert not any(w.startswith("non-monotone") for w in dip.warnings)


def test_parameters_on_their_bounds_are_named() -> None:
    from advisor.decision.curve_fit import bound_warnings

    assert bound_warnings(0.9, 2.0, 3.0, 0.85, True)[0].startswith("fit at a bound: the exponent c = 3")
    assert bound_warnings(1.0, 2.0, 0.5, 0.70, True) == [
        "fit at a bound: the asymptote a sits at 100% while the best point is 70.0%"]
    assert bound_warnings(1.0, 0.0, 3.0, 1.0, True) == []  # flat at 100%: a real ceiling, no artefact
    assert bound_warnings(0.9, 2.0, 0.5, 0.85, True) == []
