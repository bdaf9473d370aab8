"""The decision rules (metric-first, value, weighted), the value sensitivity and the arm flags,
on synthetic records whose outcomes are known by construction."""

from __future__ import annotations

import random

import pytest

from advisor.decision.engine import recommend
from advisor.decision.flags import collapsed, under_trained
from advisor.decision.rules import RuleInputs, decide
from advisor.decision.significance import pair_test
from advisor import registry
from advisor.evaluation.scoring import Metric, get_metric
from advisor.evaluation.sections import TrainingCurves, TrainingFacts
from tests.factories import make_run

HOURLY = 0.09  # the default serving price, $/h


def busy_for(monthly_usd: float, volume: float = 100_000) -> float:
    """Busy seconds per query that cost `monthly_usd` a month at `volume` at the default price."""
    return monthly_usd / volume * 3600 / HOURLY


def issue_case(**decision):
    """The issue's case: knn-shot 14.7 points better than k-shot on 150 items (significant),
    at ~5x the cost ($2.89 against $0.53 a month at 100k queries) and ~5x the p95."""
    return make_run({"k-shot": {"accuracy": 49 / 150, "busy_s": busy_for(0.53), "p95_ms": 400},
                     "knn-shot": {"accuracy": 71 / 150, "busy_s": busy_for(2.89), "p95_ms": 2000}},
                    decision=decision, n=150)


def test_default_rule_takes_the_significantly_better_arm_despite_5x_cost() -> None:
    record, rows = issue_case()
    rec = recommend(record, rows)
    assert rec.rule == "metric-first"
    assert rec.winner == "knn-shot" and rec.runner_up == "k-shot"
    assert rec.monthly_usd["knn-shot"] == pytest.approx(2.89) and rec.monthly_usd["k-shot"] == pytest.approx(0.53)
    text = " ".join(rec.rationale)
    assert "knn-shot beats the runner-up k-shot by 14.7 points" in text
    assert "k-shot would save $2.36 a month, but an arm that is significantly worse never wins on cost alone" in text
    assert rec.scores == {}  # no weighted score under the default rule


def test_only_a_constraint_or_a_small_value_per_correct_picks_the_cheaper_arm() -> None:
    record, rows = issue_case(max_monthly_cost_usd=1.0)
    rec = recommend(record, rows)
    assert rec.winner == "k-shot" and rec.violations == {"knn-shot": ["monthly cost $2.89 > max $1.00"]}
    # the value rule: the crossing is where the extra accuracy pays for the extra cost per query
    d_cost = (busy_for(2.89) - busy_for(0.53)) * HOURLY / 3600  # $ per query
    crossing = d_cost / (22 / 150)
    record, rows = issue_case(value_per_correct_usd=crossing / 3)
    rec = recommend(record, rows)
    assert rec.rule == "value" and rec.winner == "k-shot"
    record, rows = issue_case(value_per_correct_usd=crossing * 3)
    assert recommend(record, rows).winner == "knn-shot"
    # the default rule's sensitivity says where that value lies
    record, rows = issue_case()
    rec = recommend(record, rows)
    low, high = rec.value_sensitivity
    assert (low.winner, high.winner) == ("k-shot", "knn-shot")
    assert low.to == pytest.approx(crossing, rel=1e-3)
    assert any("Priced per correct answer instead" in line and "k-shot below $0.00016, knn-shot above" in line
               for line in rec.rationale)


def test_weighted_rule_stays_available_and_prints_its_exchange_rate() -> None:
    record, rows = issue_case(rule="weighted")
    rec = recommend(record, rows)
    assert rec.winner == "k-shot"  # the old verdict: 5x cost and latency outweigh 14.7 points
    assert rec.scores["k-shot"] > rec.scores["knn-shot"]
    assert any("Rule weighted (accuracy 0.6, latency 0.2, cost 0.2): 10x the cost weighs 11.1 points" in line
               for line in rec.rationale)
    assert any("knn-shot" in line and "but ranks first on latency and cost" in line for line in rec.rationale)


def test_tie_goes_to_the_cheaper_arm() -> None:
    base = [i % 3 != 0 for i in range(100)]
    better = list(base)
    better[0] = True  # one item apart: not significant
    record, rows = make_run({"pricey": {"correct": better, "busy_s": busy_for(3.0)},
                             "cheap": {"correct": base, "busy_s": busy_for(1.0)}})
    rec = recommend(record, rows)
    assert rec.winner == "cheap" and rec.runner_up == "pricey"
    assert rec.outcome.best == "pricey" and rec.outcome.by_cost is True
    assert [t.arm for t in rec.outcome.tied] == ["cheap"]
    assert any("pricey is best on accuracy (67.0%) but cheap is not significantly worse (difference -1.0 points" in line
               and "cheap is the cheaper: $1.00 against $3.00 a month" in line for line in rec.rationale)
    tie = next(t for t in rec.outcome.tied if t.arm == "cheap")
    caution = next(line for line in rec.rationale if line.startswith("Not significantly worse is not the same as equal"))
    assert f"allows cheap to be up to {-100 * tie.low:.1f} points worse than pricey on accuracy" in caution


def test_tie_on_cost_goes_to_the_faster_arm() -> None:
    base = [i % 3 != 0 for i in range(100)]
    better = list(base)
    better[0] = True
    record, rows = make_run({"slow": {"correct": better, "busy_s": busy_for(1.00), "p95_ms": 900},
                             "fast": {"correct": base, "busy_s": busy_for(1.02), "p95_ms": 300}})
    rec = recommend(record, rows)
    assert rec.winner == "fast"  # 2% dearer counts as equal cost (COST_TIE_REL), and it is faster
    assert any("as cheap (within 5%) and faster: p95 300 ms against 900 ms" in line for line in rec.rationale)
    # a real cost gap beats latency
    record, rows = make_run({"slow": {"correct": better, "busy_s": busy_for(1.0), "p95_ms": 900},
                             "fast": {"correct": base, "busy_s": busy_for(2.0), "p95_ms": 300}})
    assert recommend(record, rows).winner == "slow"


def test_infeasible_arms_are_excluded_before_ranking() -> None:
    record, rows = make_run({"best": {"accuracy": 0.95, "p95_ms": 5000}, "ok": {"accuracy": 0.8, "p95_ms": 500},
                             "weak": {"accuracy": 0.5, "p95_ms": 50}},
                            decision={"max_p95_latency_ms": 1000, "min_metric": 0.6})
    rec = recommend(record, rows)
    assert rec.winner == "ok" and rec.feasible == ["ok"]
    assert set(rec.violations) == {"best", "weak"}
    record, rows = make_run({"best": {"accuracy": 0.95, "p95_ms": 5000}}, decision={"max_p95_latency_ms": 1000})
    rec = recommend(record, rows)
    assert rec.winner is None and "No arm meets the constraints" in rec.rationale[0]


def test_a_significantly_worse_arm_never_wins_on_cost_alone() -> None:
    """Random accuracies and costs: the default winner is never significantly worse than the
    best feasible arm, however much cheaper it is."""
    rng = random.Random(5)
    tempting = switched = 0  # the cases the property is about must occur in the sample
    for trial in range(6):
        arms = {}
        for i in range(3):
            acc = rng.uniform(0.4, 0.95)
            arms[f"a{i}"] = {"correct": [rng.random() < acc for _ in range(120)],
                             "busy_s": busy_for(rng.choice([0.01, 1.0, 100.0])), "p95_ms": rng.uniform(50, 5000)}
        record, rows = make_run(arms, n=120)
        rec = recommend(record, rows)
        best = rec.outcome.best
        sig_worse = {p.a if p.b == best else p.b for p in rec.pairs if best in (p.a, p.b)
                     and p.metric == "accuracy" and p.significant}
        tempting += any(rec.monthly_usd[n] < rec.monthly_usd[best] for n in sig_worse)
        assert rec.winner not in sig_worse
        if rec.winner != best:
            switched += 1
            assert rec.monthly_usd[rec.winner] <= rec.monthly_usd[best] * 1.05
    assert tempting and switched


def test_direction_of_the_metric_is_respected() -> None:
    error = Metric("error_rate", higher_is_better=False, proportion=True, description="share wrong",
                   item=lambda p, t: float(p != t))
    registry.metrics.register("error_rate", error)
    record, rows = make_run({"good": {"accuracy": 0.9, "busy_s": busy_for(5.0)},
                             "bad": {"accuracy": 0.6, "busy_s": busy_for(0.5)}})
    for a in record.arms:
        a.metrics = {"error_rate": 1.0 - a.metrics["accuracy"]}
        a.primary_metric = "error_rate"
    try:
        rec = recommend(record, rows)
    finally:
        registry.metrics._loaded.pop("error_rate", None)  # the registry has no unregister: tests only
    assert rec.higher_is_better is False and rec.winner == "good"
    assert rec.value_sensitivity == []  # a price per correct answer needs a higher-is-better share


def test_seed_spread_turns_a_significant_difference_into_a_tie() -> None:
    record, rows = make_run({"a": {"accuracy": 0.80}, "b": {"accuracy": 0.65}})
    by = {n: [r for r in rows if r.arm == n] for n in ("a", "b")}
    t = pair_test(get_metric("accuracy"), "a", by["a"], "b", by["b"], ["ham", "spam"])
    assert t.significant

    def inputs(seeds):
        return RuleInputs(feasible=["a", "b"], value={"a": 0.80, "b": 0.65}, p95={"a": 100.0, "b": 100.0},
                          monthly={"a": 4.0, "b": 1.0}, per_query={"a": 4e-5, "b": 1e-5},
                          one_off_monthly={"a": 0.0, "b": 0.0}, volume=1e5, higher_is_better=True, ci={},
                          test=lambda x, y: t, decision=record.spec.decision, seeds=seeds)

    assert decide(inputs({}), "metric-first").winner == "a"  # significant on the test items
    spread = decide(inputs({"a": [0.80, 0.55, 0.70], "b": [0.65, 0.75, 0.60]}), "metric-first")
    assert spread.winner == "b" and spread.by_cost
    (tie,) = spread.tied
    assert tie.by == "seed spread" and "Welch t over seeds (3 and 3 seeds)" in tie.test
    steady = decide(inputs({"a": [0.80, 0.81, 0.79], "b": [0.65, 0.66, 0.64]}), "metric-first")
    assert steady.winner == "a" and not steady.tied  # a real difference survives the seeds


def test_value_rule_maximises_net_value_with_intervals() -> None:
    record, rows = make_run({"cheap": {"accuracy": 0.70, "busy_s": busy_for(10.0)},
                             "good": {"accuracy": 0.90, "busy_s": busy_for(100.0), "one_off_s": 3600}},
                            pricing={"training_hourly_usd": 12.0, "horizon_months": 12},
                            decision={"value_per_correct_usd": 0.01, "cost_per_error_usd": 0.002})
    rec = recommend(record, rows)
    net = rec.outcome.net
    # V x (m x 0.01 - (1 - m) x 0.002) - V x per-query - one-offs / 12
    assert net["cheap"].monthly_usd == pytest.approx(100_000 * (0.7 * 0.01 - 0.3 * 0.002) - 10.0)
    assert net["good"].monthly_usd == pytest.approx(100_000 * (0.9 * 0.01 - 0.1 * 0.002) - 100.0 - 12.0 / 12)
    ci = rec.intervals["good"]["accuracy"]
    assert net["good"].low == pytest.approx(100_000 * (ci.low * 0.012 - 0.002) - 101.0)
    assert rec.winner == "good"
    margin = rec.outcome.margin
    assert margin["monthly_usd"] == pytest.approx(net["good"].monthly_usd - net["cheap"].monthly_usd)
    assert margin["low"] < margin["monthly_usd"] < margin["high"] and margin["low"] > 0
    assert any(line.startswith("Net value per month = 100,000 queries x (accuracy x $0.01 - (1 - accuracy) x $0.002")
               for line in rec.rationale)
    assert any("good earns" in line and "excludes zero" in line for line in rec.rationale)


def test_volume_sensitivity_under_the_default_rule() -> None:
    base = [i % 3 != 0 for i in range(100)]
    record, rows = make_run({"lora": {"correct": base, "busy_s": 0.1, "one_off_s": 36000},
                             "kshot": {"correct": base, "busy_s": 0.4}},
                            pricing={"training_hourly_usd": 1.0, "serving_hourly_usd": 3.6, "horizon_months": 10})
    rec = recommend(record, rows)
    (even,) = rec.break_even
    seg = rec.sensitivity
    assert [s.winner for s in seg] == ["kshot", "lora"]  # tied arms: the cheaper at each volume
    # same p95: within 5% the cheaper still decides, so the switch is at the break-even volume
    assert seg[0].to == pytest.approx(even.queries_per_month, rel=1e-3)


# -- flags ----------------------------------------------------------------------------------
def _with_curve(curve, stopped_early=False):
    record, rows = make_run({"lora": {"accuracy": 0.6, "strategy": "lora"}, "kshot": {"accuracy": 0.7}})
    record.arms[0].prepare.training = TrainingFacts(curves=TrainingCurves(validation=[tuple(p) for p in curve]),
                                                    stopped_early=stopped_early, steps=30)
    return record, rows


def test_under_trained_means_the_last_validation_loss_is_a_new_low_by_over_1_percent() -> None:
    record, _ = _with_curve([[0, 1.0], [10, 0.6], [20, 0.5], [30, 0.45]])
    flag = under_trained(record.arms[0])
    assert flag is not None and flag.values["drop"] == pytest.approx(0.1)
    assert under_trained(_with_curve([[0, 1.0], [10, 0.5], [20, 0.4], [30, 0.399]])[0].arms[0]) is None  # 0.25%
    assert under_trained(_with_curve([[0, 1.0], [10, 0.4], [20, 0.45]])[0].arms[0]) is None  # rose at the end
    assert under_trained(_with_curve([[0, 1.0], [10, 0.4]], stopped_early=True)[0].arms[0]) is None
    assert under_trained(_with_curve([[0, 1.0]])[0].arms[0]) is None


def test_collapsed_predictions_are_flagged_against_the_reference() -> None:
    record, rows = make_run({"lora": {"accuracy": 0.5}})
    for r in rows:  # targets alternate ham/spam; answer "ham" for 95 of 100
        r.prediction = "ham" if int(r.id[1:]) < 95 else "spam"
    flag = collapsed(record.arms[0], rows)
    assert flag is not None and flag.values == {"label": "ham", "share": 0.95, "reference_share": 0.5}
    for r in rows:  # a reference that is itself 95% ham: no collapse
        r.target = r.prediction
    assert collapsed(record.arms[0], rows) is None
    for r in rows:  # nothing parseable: collapsed onto "no answer"
        r.prediction = None
    flag = collapsed(record.arms[0], rows)
    assert flag is not None and "no parseable answer for 100 of 100 items" in flag.detail


def test_flagged_arm_is_never_silently_ranked_last() -> None:
    record, rows = _with_curve([[0, 1.0], [10, 0.6], [20, 0.5], [30, 0.45]])
    rec = recommend(record, rows)
    assert rec.winner == "kshot"
    assert [f.kind for f in rec.flags] == ["under-trained"]
    assert any(line.startswith("lora looks under-trained (validation loss still falling at the last evaluation: "
                               "0.4500 at step 30 against a best of 0.5000 before it (10.0% lower")
               and line.endswith("its result is a lower bound; run `advisor tune`.") for line in rec.rationale)


def test_a_flagged_arm_that_was_tuned_asks_for_a_larger_budget_not_for_a_tune() -> None:
    from advisor.tuning.results import TuningResult

    record, rows = _with_curve([[0, 1.0], [10, 0.6], [20, 0.5], [30, 0.45]])
    record.arms[0].tuning = TuningResult(metric="accuracy", higher_is_better=True, budget={"trials": 2},
                                         sampler="TPE", pruner="median", seed=0, space={})
    rec = recommend(record, rows)
    assert [(f.kind, f.tuned) for f in rec.flags] == [("under-trained", True)]
    line = next(line for line in rec.rationale if line.startswith("lora looks under-trained"))
    assert line.endswith("its result is a lower bound; raise the tuning budget (`--trials` or `--seconds`) "
                         "or widen its `search:` space.")
    assert "run `advisor tune`" not in " ".join(rec.rationale)
