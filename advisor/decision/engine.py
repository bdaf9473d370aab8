"""The recommendation: which arm to adopt, why, how sure we are, and when the answer changes.

From the measured arms: constraints (minimum metric, maximum p95 latency, maximum monthly
cost) give the feasible set; the Pareto front is taken over (primary metric, p95 latency,
monthly cost); a weighted ranking picks a winner and a runner-up. When the two are not
significantly different on the primary metric (paired test), we say so and prefer the
cheaper. Sensitivity: the monthly query volumes at which the winner changes.

Ranking score per arm = weighted mean of three criteria on fixed, interpretable scales (not
min-max, which would turn a 10% latency gap into the whole range): the primary metric as it is
(a fraction; 1 - value when lower is better), and latency and cost relative to the best
feasible arm on a log scale, losing their whole weight at 1,000x the best (DECADES). With the
default weights (0.6/0.2/0.2), 10x the cost or the latency weighs as much as 11 points of the
metric; `exchange_rates` in the record states it for the weights used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

from advisor import fmt
from advisor.decision.cost import ArmCost, arm_cost, break_even
from advisor.decision.significance import PairTest, metric_ci, pair_test
from advisor.decision.types import (
    RECOMMENDATION_VERSION, Assumptions, BreakEven, DecisionHow, ExchangeRates, MetricCI, Recommendation, Tie,
    VolumeRange,
)
from advisor.evaluation.record import ArmResult, RunRecord, SampleRow, group_by_arm
from advisor.evaluation.scoring import Metric, get_metric as _metric
from advisor.spec.policy import DecisionSpec, PricingSpec

__all__ = ["recommend", "defaults_used", "exchange_rates", "RECOMMENDATION_VERSION", "DECADES"]

_VOLUME_RANGE = (10.0, 1e10)  # queries per month scanned for the sensitivity analysis


DECADES = 3.0  # latency or cost at 10**DECADES x the best feasible arm's scores 0


def _relative(values: list[float]) -> list[float]:
    """1 for the lowest value, minus 1/DECADES for every factor of 10 above it, floored at 0."""
    best = max(min(values), 1e-12)
    return [max(0.0, 1.0 - math.log10(max(v, best) / best) / DECADES) for v in values]


def exchange_rates(decision: DecisionSpec) -> ExchangeRates:
    """Metric points (fraction) that 10x the latency or the cost is worth under the weights."""
    w = decision.weights
    per_decade = 1.0 / DECADES
    return ExchangeRates(latency_10x_in_points=(w.latency * per_decade / w.accuracy) if w.accuracy else None,
                         cost_10x_in_points=(w.cost * per_decade / w.accuracy) if w.accuracy else None)


@dataclass
class _Verdict:
    """One decision at one monthly volume."""

    volume: float
    monthly: dict[str, float]
    violations: dict[str, list[str]]
    feasible: list[str]
    pareto: list[str]
    dominated_by: dict[str, list[str]]
    scores: dict[str, float]
    ranking: list[str]
    winner: str | None
    runner_up: str | None
    tie: Tie | None = None


class _Decider:
    """One decision over fixed measurements; `at(volume)` re-decides at another volume."""

    def __init__(self, arms: list[ArmResult], costs: dict[str, ArmCost], metric: Metric, primary: str,
                 pricing: PricingSpec, decision: DecisionSpec, tests: dict[tuple[str, str], PairTest]):
        self.arms, self.costs, self.metric, self.primary = arms, costs, metric, primary
        self.pricing, self.decision, self.tests = pricing, decision, tests

    def value(self, arm: ArmResult) -> float:
        return float(arm.metrics.get(self.primary, float("nan")))

    @staticmethod
    def p95(arm: ArmResult) -> float:
        return arm.latency.p95_ms if arm.latency.p95_ms is not None else math.inf

    def violations(self, arm: ArmResult, monthly: float) -> list[str]:
        d, out = self.decision, []
        v = self.value(arm)
        if d.min_metric is not None:
            short = v < d.min_metric if self.metric.higher_is_better else v > d.min_metric
            if short:
                out.append(f"{self.primary} {fmt.pct(v)} {'<' if self.metric.higher_is_better else '>'} "
                           f"required {fmt.pct(d.min_metric)}")
        if d.max_p95_latency_ms is not None and self.p95(arm) > d.max_p95_latency_ms:
            out.append(f"p95 latency {fmt.ms(self.p95(arm))} > max {fmt.ms(d.max_p95_latency_ms)}")
        if d.max_monthly_cost_usd is not None and monthly > d.max_monthly_cost_usd:
            out.append(f"monthly cost {fmt.usd(monthly)} > max {fmt.usd(d.max_monthly_cost_usd)}")
        return out

    def test(self, a: str, b: str) -> PairTest:
        """The primary-metric test with delta = metric(b) - metric(a)."""
        t = self.tests[(a, b)] if (a, b) in self.tests else self.tests[(b, a)]
        if t.a == a:
            return t
        return PairTest(a, b, t.metric, t.n, -t.delta, -t.high, -t.low, t.p_value, t.test, t.mde, t.significant,
                        t.b_only, t.a_only)

    def at(self, volume: float) -> _Verdict:
        months = self.pricing.horizon_months
        monthly = {a.name: self.costs[a.name].monthly_at(volume, months) for a in self.arms}
        violations = {a.name: self.violations(a, monthly[a.name]) for a in self.arms}
        feasible = [a for a in self.arms if not violations[a.name]]
        hib = self.metric.higher_is_better

        def better_eq(x: ArmResult, y: ArmResult) -> bool:  # x at least as good as y on every criterion
            vx, vy = self.value(x), self.value(y)
            return ((vx >= vy) if hib else (vx <= vy)) and self.p95(x) <= self.p95(y) and monthly[x.name] <= monthly[y.name]

        def dominates(x: ArmResult, y: ArmResult) -> bool:
            strict = (self.value(x) != self.value(y) or self.p95(x) != self.p95(y) or monthly[x.name] != monthly[y.name])
            return better_eq(x, y) and strict

        dominated_by = {a.name: [b.name for b in feasible if b is not a and dominates(b, a)] for a in feasible}
        pareto = [a.name for a in feasible if not dominated_by[a.name]]
        scores: dict[str, float] = {}
        if feasible:
            w = self.decision.weights
            total = w.accuracy + w.latency + w.cost
            acc = [self.value(a) if hib else 1.0 - self.value(a) for a in feasible]
            lat = _relative([min(self.p95(a), 1e12) for a in feasible])
            cst = _relative([monthly[a.name] for a in feasible])
            for a, x, y, z in zip(feasible, acc, lat, cst):
                scores[a.name] = (w.accuracy * x + w.latency * y + w.cost * z) / total
        order = sorted(feasible, key=lambda a: (-scores[a.name], -self.value(a) if hib else self.value(a),
                                                monthly[a.name], a.name))
        ranking = [a.name for a in order]
        winner = ranking[0] if ranking else None
        runner = ranking[1] if len(ranking) > 1 else None
        tie: Tie | None = None
        if winner and runner:
            t = self.test(runner, winner)  # delta = winner - runner
            if not t.significant:
                cheaper = runner if monthly[runner] < monthly[winner] else winner
                tie = Tie(between=[winner, runner], p_value=t.p_value, cheaper=cheaper,
                          switched=bool(self.decision.prefer_cheaper_when_tied and cheaper == runner))
                if tie.switched:
                    winner, runner = runner, winner
                    ranking[0], ranking[1] = winner, runner
        return _Verdict(volume=volume, monthly=monthly, violations=violations, feasible=[a.name for a in feasible],
                        pareto=pareto, dominated_by=dominated_by, scores=scores, ranking=ranking, winner=winner,
                        runner_up=runner, tie=tie)


def _sensitivity(decider: _Decider) -> list[VolumeRange]:
    """Volume ranges (queries/month) with their winner: scan a log grid, bisect each change."""
    lo, hi = (math.log10(v) for v in _VOLUME_RANGE)
    grid = [10 ** (lo + i * (hi - lo) / 200) for i in range(201)]
    winners = [decider.at(v).winner for v in grid]
    segments = [VolumeRange(from_=grid[0], to=None, winner=winners[0])]
    for (v0, w0), (v1, w1) in zip(zip(grid, winners), zip(grid[1:], winners[1:])):
        if w0 == w1:
            continue
        a, b = v0, v1
        for _ in range(40):  # to ~0.01% in log space
            mid = math.sqrt(a * b)
            if decider.at(mid).winner == w0:
                a = mid
            else:
                b = mid
        segments[-1].to = b
        segments.append(VolumeRange(from_=b, to=None, winner=w1))
    return segments


def _tradeoff(d: _Decider, now: _Verdict, winner: str, runner: str) -> str:
    """Why a less accurate arm still ranks first: its latency and cost, and the weights."""
    arm = {a.name: a for a in d.arms}
    w = d.decision.weights
    rates = exchange_rates(d.decision)
    cost = (f"10x the cost weighs {fmt.points(rates.cost_10x_in_points)}" if rates.cost_10x_in_points is not None
            else "the metric has no weight")
    return (f", but ranks first on latency and cost: p95 {fmt.ms(d.p95(arm[winner]))} against "
            f"{fmt.ms(d.p95(arm[runner]))}, {fmt.usd(now.monthly[winner])} against {fmt.usd(now.monthly[runner])} "
            f"a month (weights accuracy {w.accuracy:g}, latency {w.latency:g}, cost {w.cost:g}; {cost}).")


def _rationale(d: _Decider, now: _Verdict, costs: dict[str, ArmCost], cis: dict[str, dict[str, MetricCI]],
               evens: list[BreakEven], excluded: dict[str, str]) -> list[str]:
    lines: list[str] = []
    winner, runner = now.winner, now.runner_up
    m = d.primary
    if winner is None:
        lines.append("No arm meets the constraints: " + "; ".join(
            f"{name}: {', '.join(v)}" for name, v in now.violations.items() if v) + ".")
        return lines
    c, ci = costs[winner], cis[winner][m]
    arm = next(a for a in d.arms if a.name == winner)
    lines.append(f"Adopt {winner}: {m} {fmt.pct(ci.value)} {fmt.interval(ci.low, ci.high)} on "
                 f"{ci.n} test items, p95 latency {fmt.ms(d.p95(arm))}, {fmt.usd(c.per_1k_usd)} per 1,000 queries"
                 + (f", {fmt.usd(c.one_off_usd)} one-off over {d.pricing.horizon_months:g} months" if c.one_offs else "")
                 + f"; {fmt.usd(now.monthly[winner])}/month at {fmt.volume(d.pricing.queries_per_month)} queries/month.")
    if runner:
        t = d.test(runner, winner)
        if t.significant:
            ahead = (t.delta > 0) == d.metric.higher_is_better
            lines.append(f"{winner} {'beats' if ahead else 'trails'} the runner-up {runner} by {fmt.points(abs(t.delta))} "
                         f"{fmt.interval(t.low, t.high)} on {m}, {fmt.p_value(t.p_value)} ({t.test})"
                         + ("." if ahead else _tradeoff(d, now, winner, runner)))
        else:
            mde = f"; with {t.n} items only differences above {fmt.points(t.mde)} are reliably detected" if t.mde else ""
            tie = now.tie
            why = (f"so the cheaper one, {winner}, is preferred" if tie and tie.switched
                   else f"{winner} is ahead on the weighted ranking" + (" and is also the cheaper" if tie and tie.cheaper == winner else ""))
            lines.append(f"{winner} and {runner} are not significantly different on {m}: difference "
                         f"{fmt.points(t.delta)} {fmt.interval(t.low, t.high)}, {fmt.p_value(t.p_value)}{mde}; {why}.")
    for one in c.one_offs:
        lines.append(f"{winner} costs {fmt.usd(one.usd_total)} once for {one.what} ({one.seconds:.0f} s on {one.hardware}"
                     + (f", {one.builds} builds" if one.builds > 1 else "") + (", reused from cache" if one.reused else "") + ").")
    for e in evens:
        if winner not in (e.cheaper_above, e.cheaper_below):
            continue
        other = e.cheaper_below if e.cheaper_above == winner else e.cheaper_above
        side = "above" if e.cheaper_above == winner else "below"
        lines.append(f"{winner} is cheaper than {other} {side} {fmt.volume(e.queries_per_month)} queries/month.")
    dominated = {k: v for k, v in now.dominated_by.items() if v}
    if dominated:
        lines.append("Dominated (another arm is at least as accurate, fast and cheap): "
                     + "; ".join(f"{k} by {', '.join(v)}" for k, v in dominated.items()) + ".")
    for name, v in now.violations.items():
        if v:
            lines.append(f"{name} is excluded: {', '.join(v)}.")
    for name, why in excluded.items():
        lines.append(f"{name} is not considered: {why}.")
    return lines


def recommend(record: RunRecord, rows: Sequence[SampleRow], defaults_used: Sequence[str] = ()) -> Recommendation:
    """The recommendation for a finished (or partial) run, as stored in run.json."""
    spec = record.spec
    pricing, decision, labels = spec.pricing, spec.decision, spec.labels
    by_arm = group_by_arm(list(rows))
    arms = [a for a in record.arms if a.status == "ok" and a.n > 0 and by_arm.get(a.name)]
    excluded = {a.name: (f"status {a.status}" + (f" ({a.errors[0]})" if a.errors else "")) if a.status != "ok"
                else "no answered test items" for a in record.arms if a not in arms}
    primary = next((a.primary_metric for a in arms if a.primary_metric), None) or spec.primary_metric
    metric = _metric(primary)
    seed = spec.seed
    cis = {a.name: {m: metric_ci(_metric(m), by_arm[a.name], labels, v, seed=seed) for m, v in a.metrics.items()}
           for a in arms}
    tests: dict[tuple[str, str], PairTest] = {}
    pairs: list[PairTest] = []
    for a, b in combinations(arms, 2):
        for m in a.metrics:
            if m not in b.metrics:
                continue
            t = pair_test(_metric(m), a.name, by_arm[a.name], b.name, by_arm[b.name], labels, decision.alpha, seed)
            pairs.append(t)
            if m == primary:
                tests[(a.name, b.name)] = t
    costs = {a.name: arm_cost(a, record.backend.name, pricing, decision) for a in arms}
    evens = [e for a, b in combinations(arms, 2)
             if (e := break_even(costs[a.name], costs[b.name], pricing.horizon_months)) is not None]
    decider = _Decider(arms, costs, metric, primary, pricing, decision, tests)
    now = decider.at(pricing.queries_per_month)
    sensitivity = _sensitivity(decider) if arms else []
    return Recommendation(
        version=RECOMMENDATION_VERSION,
        winner=now.winner,
        runner_up=now.runner_up,
        primary_metric=primary,
        higher_is_better=metric.higher_is_better,
        rationale=_rationale(decider, now, costs, cis, evens, excluded),
        tie=now.tie,
        ranking=now.ranking,
        scores={k: round(v, 4) for k, v in now.scores.items()},
        exchange_rates=exchange_rates(decision),
        feasible=now.feasible,
        violations={k: v for k, v in now.violations.items() if v},
        pareto=now.pareto,
        dominated_by={k: v for k, v in now.dominated_by.items() if v},
        excluded=excluded,
        intervals=cis,
        pairs=pairs,
        costs=costs,
        monthly_usd={k: round(v, 6) for k, v in now.monthly.items()},
        break_even=evens,
        sensitivity=sensitivity,
        assumptions=Assumptions(pricing=pricing, decision=decision, defaults_used=list(defaults_used)),
        how=DecisionHow(
            ranking="score = weighted mean of the primary metric (fraction) and of latency and cost relative to "
                    f"the best feasible arm on a log scale (0 at {10 ** DECADES:,.0f}x the best); ties on the "
                    "primary metric (paired test not significant) go to the cheaper arm",
            cost="serving: busy seconds per query x serving $/h; one-offs: measured seconds x training $/h x builds",
            sensitivity=f"winner re-decided over {fmt.volume(_VOLUME_RANGE[0])}..{fmt.volume(_VOLUME_RANGE[1])} "
                        "queries/month (log grid, switch points bisected)",
        ),
    )


def defaults_used(pricing: PricingSpec, decision: DecisionSpec) -> list[str]:
    """Names of pricing/decision fields the task file left at their defaults."""
    out = [f"pricing.{k}" for k, f in PricingSpec.model_fields.items()
           if k not in pricing.model_fields_set and f.default is not None]
    out += [f"decision.{k}" for k in ("weights", "alpha") if k not in decision.model_fields_set]
    return out
