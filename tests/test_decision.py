"""Cost model, paired statistics and the recommendation on records with known outcomes."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from advisor.decision.cost import arm_cost, break_even, builds_in_horizon
from advisor.decision.engine import recommend
from advisor.evaluation.scoring import ACCURACY, MACRO_F1, TOKEN_F1
from advisor.decision.significance import _macro_f1_fn, metric_ci, pair_test
from advisor.evaluation.sections import Usage
from advisor.spec.policy import DecisionSpec, PricingSpec
from tests.factories import arm_rows, make_run


# -- cost -------------------------------------------------------------------------------
def test_busy_time_and_one_off_costs_follow_the_stated_arithmetic() -> None:
    record, _ = make_run({"lora": {"accuracy": 0.9, "busy_s": 0.5, "one_off_s": 3600}})
    pricing = PricingSpec(serving_hourly_usd=0.09, training_hourly_usd=1.0, queries_per_month=1000, horizon_months=12,
                          retrain_every_months=3)
    cost = arm_cost(record.arms[0], "transformers", pricing, DecisionSpec())
    assert cost.per_query_usd == pytest.approx(0.5 * 0.09 / 3600)
    assert cost.per_1k_usd == pytest.approx(0.0125)
    assert cost.one_offs[0].builds == 4 and cost.one_off_usd == pytest.approx(4.0)
    assert cost.tco_usd == pytest.approx(4.0 + 1000 * 12 * 0.5 * 0.09 / 3600)
    assert cost.monthly_usd == pytest.approx(cost.tco_usd / 12)
    assert any("3600.0 s on cpu" in line and "4 build(s)" in line for line in cost.inputs)
    # knowledge that changes monthly forces monthly retraining
    often = arm_cost(record.arms[0], "transformers", pricing, DecisionSpec(knowledge_changes_every_months=1))
    assert often.one_offs[0].builds == 12


def test_api_backends_are_billed_by_tokens_at_separate_rates() -> None:
    record, _ = make_run({"api": {"accuracy": 0.8}})
    record.arms[0].usage = Usage(prompt_tokens=1000 * 100, completion_tokens=10 * 100)
    pricing = PricingSpec(api_input_usd_per_mtok=2.0, api_output_usd_per_mtok=8.0)
    cost = arm_cost(record.arms[0], "openai", pricing, DecisionSpec())
    assert cost.billing == "tokens"
    assert cost.per_query_usd == pytest.approx((1000 * 2.0 + 10 * 8.0) / 1e6)


def test_builds_in_horizon() -> None:
    assert builds_in_horizon(None, 12) == 1
    assert builds_in_horizon(12, 12) == 1
    assert builds_in_horizon(5, 12) == 3
    assert builds_in_horizon(0.5, 1) == 2


def test_break_even_is_where_total_costs_meet() -> None:
    record, _ = make_run({"lora": {"accuracy": 0.9, "busy_s": 0.1, "one_off_s": 36000},
                          "kshot": {"accuracy": 0.9, "busy_s": 0.4}})
    pricing = PricingSpec(training_hourly_usd=1.0, serving_hourly_usd=3.6, horizon_months=10)
    lora, kshot = (arm_cost(a, "transformers", pricing, DecisionSpec()) for a in record.arms)
    even = break_even(lora, kshot, 10)
    assert even.cheaper_above == "lora" and even.cheaper_below == "kshot"
    v = even.queries_per_month
    assert lora.tco_at(v, 10) == pytest.approx(kshot.tco_at(v, 10))
    assert v == pytest.approx(10.0 / (10 * (0.0004 - 0.0001)))
    # cheaper per query and nothing up front: no crossing
    record2, _ = make_run({"a": {"accuracy": 0.9, "busy_s": 0.1}, "b": {"accuracy": 0.9, "busy_s": 0.2}})
    a, b = (arm_cost(x, "transformers", pricing, DecisionSpec()) for x in record2.arms)
    assert break_even(a, b, 10) is None


# -- statistics ---------------------------------------------------------------------------
def test_fast_macro_f1_matches_sklearn_on_resamples() -> None:
    from sklearn.metrics import f1_score

    rng = random.Random(3)
    correct = [rng.random() < 0.7 for _ in range(60)]
    rows = arm_rows("a", correct)
    rows[5].prediction = None  # an unparseable answer counts against every label
    (fn,) = _macro_f1_fn([rows], ["ham", "spam"])
    idx = np.random.default_rng(0).integers(0, 60, size=60)
    t = [rows[i].target for i in idx]
    p = [rows[i].prediction or "(none)" for i in idx]
    assert fn(idx) == pytest.approx(f1_score(t, p, labels=["ham", "spam"], average="macro", zero_division=0))


def test_pair_test_mcnemar_matches_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    rng = random.Random(7)
    a = [rng.random() < 0.6 for _ in range(120)]
    b = [x if rng.random() < 0.7 else not x for x in a]
    t = pair_test(ACCURACY, "a", arm_rows("a", a), "b", arm_rows("b", b), ["ham", "spam"])
    table = [[sum(x and y for x, y in zip(a, b)), sum(x and not y for x, y in zip(a, b))],
             [sum(y and not x for x, y in zip(a, b)), sum(not x and not y for x, y in zip(a, b))]]
    assert t.p_value == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert t.delta == pytest.approx(sum(b) / 120 - sum(a) / 120)
    assert t.low <= t.delta <= t.high and t.mde is not None and 0 < t.mde < 1


def test_continuous_and_recomputed_metrics_get_bootstrap_tests() -> None:
    rows_a = arm_rows("a", [True] * 30 + [False] * 30)
    rows_b = arm_rows("b", [True] * 50 + [False] * 10)
    f1 = pair_test(MACRO_F1, "a", rows_a, "b", rows_b, ["ham", "spam"])
    assert f1.delta > 0 and f1.significant and "recomputing macro_f1" in f1.test
    for r, s in zip(rows_a, np.linspace(0, 1, 60)):
        r.prediction = r.target if s > 0.5 else "other words"
    tf = pair_test(TOKEN_F1, "a", rows_a, "b", rows_b, None)
    assert "paired bootstrap of the mean" in tf.test
    ci = metric_ci(MACRO_F1, rows_b, ["ham", "spam"], 0.8)
    assert ci.low < ci.high and "bootstrap" in ci.method


# -- recommendation -----------------------------------------------------------------------
def test_clear_winner_is_cited_with_its_difference_and_p_value() -> None:
    record, rows = make_run({"zero": {"accuracy": 0.55, "busy_s": 0.05},
                             "kshot": {"accuracy": 0.9, "busy_s": 0.3}},
                            decision={"weights": {"accuracy": 0.8, "latency": 0.1, "cost": 0.1}})
    rec = recommend(record, rows)
    assert rec.winner == "kshot" and rec.runner_up == "zero"
    assert any("kshot beats the runner-up zero by 35.0 points" in line and "p < 0.001" in line
               for line in rec.rationale)
    assert rec.intervals["kshot"]["accuracy"].method == "Wilson score interval"
    assert rec.tie is None


def test_no_significant_difference_prefers_the_cheaper_arm() -> None:
    base = [i % 3 != 0 for i in range(100)]
    better = list(base)
    better[0] = True  # one item apart: not significant
    record, rows = make_run({"lora": {"correct": better, "busy_s": 0.05, "one_off_s": 7200},
                             "kshot": {"correct": base, "busy_s": 0.06}},
                            pricing={"training_hourly_usd": 3.0},
                            decision={"rule": "weighted", "weights": {"accuracy": 1, "latency": 0, "cost": 0}})
    rec = recommend(record, rows)
    assert rec.tie.switched is True and rec.winner == "kshot"
    assert any("not significantly different" in line and "cheaper one, kshot" in line for line in rec.rationale)


def test_constraints_exclude_and_can_leave_nothing() -> None:
    record, rows = make_run({"slow": {"accuracy": 0.95, "p95_ms": 5000}, "weak": {"accuracy": 0.5, "p95_ms": 50}},
                            decision={"min_metric": 0.8, "max_p95_latency_ms": 1000})
    rec = recommend(record, rows)
    assert rec.winner is None and set(rec.violations) == {"slow", "weak"}
    assert "No arm meets the constraints" in rec.rationale[0]
    record, rows = make_run({"slow": {"accuracy": 0.95, "p95_ms": 5000}, "ok": {"accuracy": 0.85, "p95_ms": 500}},
                            decision={"max_p95_latency_ms": 1000})
    rec = recommend(record, rows)
    assert rec.winner == "ok" and rec.violations == {"slow": ["p95 latency 5,000 ms > max 1,000 ms"]}


def test_pareto_front_and_failed_arms() -> None:
    record, rows = make_run({"good": {"accuracy": 0.9, "busy_s": 0.1, "p95_ms": 100},
                             "worse": {"accuracy": 0.7, "busy_s": 0.2, "p95_ms": 200},
                             "broken": {"accuracy": 0.0, "status": "failed"}})
    rec = recommend(record, rows)
    assert rec.pareto == ["good"] and rec.dominated_by == {"worse": ["good"]}
    assert "broken" in rec.excluded and "failed" in rec.excluded["broken"]


def test_sensitivity_switches_at_the_break_even_volume() -> None:
    record, rows = make_run({"lora": {"accuracy": 0.9, "busy_s": 0.1, "one_off_s": 36000},
                             "kshot": {"accuracy": 0.9, "busy_s": 0.4}},
                            pricing={"training_hourly_usd": 1.0, "serving_hourly_usd": 3.6, "horizon_months": 10},
                            decision={"rule": "weighted", "weights": {"accuracy": 0, "latency": 0, "cost": 1}})
    rec = recommend(record, rows)
    (even,) = rec.break_even
    seg = rec.sensitivity
    assert [s.winner for s in seg] == ["kshot", "lora"]
    assert seg[0].to == pytest.approx(even.queries_per_month, rel=1e-3)
    assert any("lora is cheaper than kshot above" in line or "kshot is cheaper than lora below" in line
               for line in rec.rationale)


def test_recommendation_is_json_serialisable_and_finite() -> None:
    import json

    record, rows = make_run({"a": {"accuracy": 0.7}, "b": {"accuracy": 0.8, "one_off_s": 60, "kind": "index"}},
                            decision={"rule": "weighted"})
    rec = recommend(record, rows)
    text = json.dumps(rec.model_dump(mode="json"))
    assert "NaN" not in text and "Infinity" not in text
    assert all(math.isfinite(v) for v in rec.scores.values())
