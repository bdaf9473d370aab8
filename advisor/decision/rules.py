"""The rules that pick one arm among the feasible ones, in the user's terms.

- **metric-first** (the default): the best arm on the primary metric (its direction
  respected) leads; every feasible arm that is *not significantly worse* than it (the paired
  test on the test items at the decision's alpha, or, when the arms carry per-seed metrics,
  a difference within the seed spread) is tied with it; among tied arms the cheaper per
  month at the expected volume wins (monthly costs within `COST_TIE_REL` of each other count
  as equal), then the faster p95. An arm significantly worse than the best never wins on
  cost: only a constraint (it excludes the better arm) or a price on a correct answer (the
  value rule) can make it win.
- **value**: the highest net value per month,
      net = V x (m x value_per_correct - (1 - m) x cost_per_error - c) - O / H
  with V queries per month, m the primary metric (a share of correct answers), c the cost per
  query, O the one-offs over the horizon and H the horizon in months. Its interval maps the
  metric's 95% interval through the same formula (net is linear in m).
- **weighted**: the older weighted mean of the metric and of latency and cost relative to the
  best feasible arm on a log scale (see `exchange_rates`); kept as an explicit option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from pydantic import BaseModel, Field

from advisor.spec.policy import DecisionSpec

if TYPE_CHECKING:  # types.py imports this module; PairTest lives there
    from advisor.decision.types import PairTest

__all__ = ["RuleInputs", "RuleOutcome", "NetValue", "TieReason", "decide", "net_value", "seed_tie", "exchange_rates",
           "DECADES", "COST_TIE_REL"]

DECADES = 3.0  # weighted rule: latency or cost at 10**DECADES x the best feasible arm's scores 0
# Monthly costs within 5% of each other count as equal: busy-time measurements of the same
# arm vary by a few percent between runs on a shared machine, so a smaller gap is not a saving.
COST_TIE_REL = 0.05


class TieReason(BaseModel):
    """Why an arm counts as tied with the best one (metric-first rule)."""

    arm: str
    delta: float = Field(description="metric(arm) - metric(best), in metric units")
    low: float
    high: float
    p_value: float
    test: str
    by: str = Field(description="'paired test' (not significant) or 'seed spread' (Welch t over seeds)")


class NetValue(BaseModel):
    """Net value per month of one arm under the value rule, in US dollars."""

    arm: str
    monthly_usd: float
    low: float = Field(description="at the low end of the metric's 95% interval")
    high: float = Field(description="at the high end of the metric's 95% interval")
    gross_usd: float = Field(description="V x (m x value_per_correct - (1 - m) x cost_per_error)")
    serving_usd: float = Field(description="V x cost per query")
    one_off_usd: float = Field(description="one-offs over the horizon / horizon months")


class RuleOutcome(BaseModel):
    """What a rule decided at one volume."""

    rule: str
    winner: str | None = None
    runner_up: str | None = None
    ranking: list[str] = Field(default_factory=list)
    best: str | None = Field(None, description="metric-first: the best feasible arm on the primary metric")
    tied: list[TieReason] = Field(default_factory=list, description="metric-first: arms tied with the best")
    by_cost: bool = Field(False, description="metric-first: the winner was picked among tied arms on cost or latency")
    scores: dict[str, float] = Field(default_factory=dict, description="weighted: each arm's score")
    weighted_tie: dict[str, str | float | bool | list[str]] | None = Field(
        None, description="weighted: the top two not significantly different")
    net: dict[str, NetValue] = Field(default_factory=dict, description="value: each arm's net value per month")
    margin: dict[str, float] | None = Field(
        None, description="value: winner minus runner-up net value per month with its interval from the paired test")
    note: str | None = None


@dataclass
class RuleInputs:
    """Measurements of the feasible arms at one volume (all money in US dollars)."""

    feasible: list[str]
    value: dict[str, float]
    p95: dict[str, float]
    monthly: dict[str, float]  # total per month: volume x per query + one-offs / horizon
    per_query: dict[str, float]
    one_off_monthly: dict[str, float]
    volume: float
    higher_is_better: bool
    ci: dict[str, tuple[float, float]]
    test: Callable[[str, str], PairTest]  # delta = metric(second) - metric(first)
    decision: DecisionSpec
    seeds: dict[str, list[float]] = field(default_factory=dict)
    value_per_correct: float | None = None  # overrides the decision's (value sensitivity)


def seed_tie(a: list[float] | None, b: list[float] | None, alpha: float) -> tuple[bool, float] | None:
    """Is the difference of two arms' per-seed metrics within the seed spread?

    Welch's t-test on the per-seed metrics (the comparison of score distributions over seeds
    recommended by Reimers & Gurevych, EMNLP 2017): (tie, p). None when either arm has fewer
    than two seeds or the seeds do not vary at all.
    """
    if not a or not b or len(a) < 2 or len(b) < 2:
        return None
    from scipy import stats as sps

    if max(a) == min(a) and max(b) == min(b):
        return None
    res = sps.ttest_ind(a, b, equal_var=False)
    p = float(res.pvalue)
    if not math.isfinite(p):
        return None
    return p >= alpha, p


def exchange_rates(decision: DecisionSpec):
    """Weighted rule: metric points (fraction) that 10x the latency or the cost is worth."""
    from advisor.decision.types import ExchangeRates

    w = decision.weights
    per_decade = 1.0 / DECADES
    return ExchangeRates(latency_10x_in_points=(w.latency * per_decade / w.accuracy) if w.accuracy else None,
                         cost_10x_in_points=(w.cost * per_decade / w.accuracy) if w.accuracy else None)


def _metric_key(x: RuleInputs, name: str) -> float:
    return -x.value[name] if x.higher_is_better else x.value[name]


def _metric_first(x: RuleInputs) -> RuleOutcome:
    out = RuleOutcome(rule="metric-first")
    names = x.feasible
    if not names:
        return out
    best = min(names, key=lambda n: (_metric_key(x, n), x.monthly[n], x.p95[n], n))
    out.best = best
    tied = [best]
    for n in names:
        if n == best:
            continue
        t = x.test(best, n)
        if not t.significant:
            out.tied.append(TieReason(arm=n, delta=t.delta, low=t.low, high=t.high, p_value=t.p_value, test=t.test,
                                      by="paired test"))
            tied.append(n)
            continue
        spread = seed_tie(x.seeds.get(best), x.seeds.get(n), x.decision.alpha)
        if spread is not None and spread[0]:
            out.tied.append(TieReason(arm=n, delta=t.delta, low=t.low, high=t.high, p_value=spread[1],
                                      test=f"Welch t over seeds ({len(x.seeds[best])} and {len(x.seeds[n])} seeds)",
                                      by="seed spread"))
            tied.append(n)
    cheapest = min(x.monthly[n] for n in tied)
    limit = cheapest * (1 + COST_TIE_REL) + 1e-12
    # Among tied arms: cheaper first (costs within COST_TIE_REL are equal), then faster.
    order = sorted(tied, key=lambda n: (x.monthly[n] > limit, x.p95[n] if x.monthly[n] <= limit else x.monthly[n],
                                        x.monthly[n], _metric_key(x, n), n))
    rest = sorted((n for n in names if n not in tied), key=lambda n: (_metric_key(x, n), x.monthly[n], x.p95[n], n))
    out.ranking = order + rest
    out.winner = out.ranking[0]
    out.runner_up = out.ranking[1] if len(out.ranking) > 1 else None
    out.by_cost = out.winner != best
    return out


def net_value(x: RuleInputs, name: str, metric: float) -> tuple[float, float, float]:
    """(net, gross, serving) per month at `metric` for one arm, in US dollars."""
    vpc = x.value_per_correct if x.value_per_correct is not None else (x.decision.value_per_correct_usd or 0.0)
    cpe = x.decision.cost_per_error_usd or 0.0
    gross = x.volume * (metric * vpc - (1.0 - metric) * cpe)
    serving = x.volume * x.per_query[name]
    return gross - serving - x.one_off_monthly[name], gross, serving


def _value(x: RuleInputs) -> RuleOutcome:
    out = RuleOutcome(rule="value")
    if not x.higher_is_better:
        out = _metric_first(x)
        out.note = "the value rule needs a higher-is-better metric (a share of correct answers); metric-first used"
        return out
    for n in x.feasible:
        net, gross, serving = net_value(x, n, x.value[n])
        lo, hi = x.ci.get(n, (x.value[n], x.value[n]))
        out.net[n] = NetValue(arm=n, monthly_usd=net, low=net_value(x, n, lo)[0], high=net_value(x, n, hi)[0],
                              gross_usd=gross, serving_usd=serving, one_off_usd=x.one_off_monthly[n])
    out.ranking = sorted(x.feasible, key=lambda n: (-out.net[n].monthly_usd, x.monthly[n], x.p95[n], n))
    out.winner = out.ranking[0] if out.ranking else None
    out.runner_up = out.ranking[1] if len(out.ranking) > 1 else None
    if out.winner and out.runner_up:
        t = x.test(out.runner_up, out.winner)  # delta = metric(winner) - metric(runner-up)
        vpc = x.value_per_correct if x.value_per_correct is not None else (x.decision.value_per_correct_usd or 0.0)
        per_point = x.volume * (vpc + (x.decision.cost_per_error_usd or 0.0))  # $ per unit of metric
        fixed = x.monthly[out.winner] - x.monthly[out.runner_up]
        out.margin = {"monthly_usd": out.net[out.winner].monthly_usd - out.net[out.runner_up].monthly_usd,
                      "low": per_point * t.low - fixed, "high": per_point * t.high - fixed, "p_value": t.p_value}
    return out


def _weighted(x: RuleInputs) -> RuleOutcome:
    out = RuleOutcome(rule="weighted")
    if not x.feasible:
        return out
    w = x.decision.weights
    total = w.accuracy + w.latency + w.cost

    def relative(values: list[float]) -> list[float]:
        best = max(min(values), 1e-12)
        return [max(0.0, 1.0 - math.log10(max(v, best) / best) / DECADES) for v in values]

    acc = [x.value[n] if x.higher_is_better else 1.0 - x.value[n] for n in x.feasible]
    lat = relative([min(x.p95[n], 1e12) for n in x.feasible])
    cst = relative([x.monthly[n] for n in x.feasible])
    for n, a, b, c in zip(x.feasible, acc, lat, cst):
        out.scores[n] = (w.accuracy * a + w.latency * b + w.cost * c) / total
    ranking = sorted(x.feasible, key=lambda n: (-out.scores[n], _metric_key(x, n), x.monthly[n], n))
    if len(ranking) > 1:
        winner, runner = ranking[0], ranking[1]
        t = x.test(runner, winner)
        if not t.significant:
            cheaper = runner if x.monthly[runner] < x.monthly[winner] else winner
            switched = bool(x.decision.prefer_cheaper_when_tied and cheaper == runner)
            out.weighted_tie = {"between": [winner, runner], "p_value": t.p_value, "cheaper": cheaper,
                                "switched": switched}
            if switched:
                ranking[0], ranking[1] = runner, winner
    out.ranking = ranking
    out.winner = ranking[0]
    out.runner_up = ranking[1] if len(ranking) > 1 else None
    return out


def decide(x: RuleInputs, rule: str) -> RuleOutcome:
    """Apply one rule ('metric-first', 'value' or 'weighted') to the feasible arms."""
    if rule == "value":
        return _value(x)
    if rule == "weighted":
        return _weighted(x)
    return _metric_first(x)
