"""The recommendation: which arm to adopt, why, how sure we are, and when the answer changes.

From the measured arms: constraints (minimum metric, maximum p95 latency, maximum monthly
cost) give the feasible set; the Pareto front is taken over (primary metric, p95 latency,
monthly cost); a rule (`advisor.decision.rules`: metric-first by default, value when the
task prices a correct answer, or weighted) picks a winner and a runner-up among the feasible
arms. Sensitivity: the monthly query volumes, and the values of a correct answer, at which
the winner changes. Arms that look under-trained or collapsed are flagged
(`advisor.decision.flags`) and the rationale says their result is a lower bound; arms with
learning-curve points get a fitted curve (`advisor.decision.curves`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

from advisor import fmt
from advisor.decision.cost import ArmCost, arm_cost, break_even
from advisor.decision.answer_flags import answer_flags
from advisor.decision.curves import fit_learning_curves
from advisor.decision.flags import arm_flags
from advisor.decision.rationale import rationale
from advisor.decision.rules import COST_TIE_REL, DECADES, RuleInputs, RuleOutcome, decide, exchange_rates
from advisor.decision.sensitivity import VALUE_RANGE, VOLUME_RANGE, scan
from advisor.decision.significance import PairTest, metric_ci, pair_test
from advisor.decision.types import (
    RECOMMENDATION_VERSION, Assumptions, DecisionHow, Recommendation, Tie, ValueRange, VolumeRange,
)
from advisor.evaluation.record import ArmResult, RunRecord, SampleRow, group_by_arm
from advisor.evaluation.scoring import Metric, get_metric as _metric
from advisor.spec.policy import DecisionSpec, PricingSpec

__all__ = ["recommend", "defaults_used", "exchange_rates", "RECOMMENDATION_VERSION", "DECADES", "seed_metrics"]


def seed_metrics(arm: ArmResult, primary: str) -> list[float]:
    """The arm's per-seed primary metric when the run repeated it over seeds (`repeats: N`: the
    arm's `seeds` section, advisor.tuning.repeats.seed_spread); else [] (one seed, or the spread
    measured another metric)."""
    from advisor.tuning.repeats import seed_spread

    spread = seed_spread(arm)
    if spread is None or spread.metric != primary:
        return []
    return [float(v) for v in spread.values]


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
    outcome: RuleOutcome | None = None


class _Decider:
    """One decision over fixed measurements; `at(volume)` re-decides at another volume."""

    def __init__(self, arms: list[ArmResult], costs: dict[str, ArmCost], metric: Metric, primary: str,
                 pricing: PricingSpec, decision: DecisionSpec, tests: dict[tuple[str, str], PairTest],
                 cis: dict[str, tuple[float, float]]):
        self.arms, self.costs, self.metric, self.primary = arms, costs, metric, primary
        self.pricing, self.decision, self.tests, self.cis = pricing, decision, tests, cis
        self.rule = decision.effective_rule
        self.seeds = {a.name: s for a in arms if (s := seed_metrics(a, primary))}

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

    def inputs(self, volume: float, feasible: list[str], monthly: dict[str, float],
               value_per_correct: float | None = None) -> RuleInputs:
        months = self.pricing.horizon_months
        by = {a.name: a for a in self.arms}
        return RuleInputs(
            feasible=feasible, value={n: self.value(by[n]) for n in feasible}, p95={n: self.p95(by[n]) for n in feasible},
            monthly=monthly, per_query={n: self.costs[n].per_query_usd for n in feasible},
            one_off_monthly={n: self.costs[n].one_off_usd / months for n in feasible}, volume=volume,
            higher_is_better=self.metric.higher_is_better, ci=self.cis, test=self.test, decision=self.decision,
            seeds=self.seeds, value_per_correct=value_per_correct)

    def at(self, volume: float, rule: str | None = None, value_per_correct: float | None = None) -> _Verdict:
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
        o = decide(self.inputs(volume, [a.name for a in feasible], monthly, value_per_correct), rule or self.rule)
        tie = Tie.model_validate(o.weighted_tie) if o.weighted_tie else None
        return _Verdict(volume=volume, monthly=monthly, violations=violations, feasible=[a.name for a in feasible],
                        pareto=pareto, dominated_by=dominated_by, scores=o.scores, ranking=o.ranking, winner=o.winner,
                        runner_up=o.runner_up, tie=tie, outcome=o)


def _value_sensitivity(decider: _Decider, volume: float) -> list[ValueRange]:
    """Winner under the value rule at `volume` for each value of a correct answer (higher-is-
    better metrics only: a share of correct answers times a price)."""
    if not decider.metric.higher_is_better:
        return []
    return [ValueRange(from_=s.start, to=s.end, winner=s.winner)
            for s in scan(lambda v: decider.at(volume, "value", v).winner, *VALUE_RANGE)]


def _how(decision: DecisionSpec, pricing: PricingSpec) -> DecisionHow:
    rule = decision.effective_rule
    ranking = {
        "metric-first": ("constraints decide feasibility; the best feasible arm on the primary metric leads; arms not "
                         f"significantly worse than it (paired test at alpha {decision.alpha:g}; with per-seed metrics, "
                         "a difference within the seed spread by Welch's t-test) are tied; among tied arms the cheaper "
                         f"per month at the expected volume (costs within {COST_TIE_REL:.0%} count as equal), then the "
                         "faster p95, wins"),
        "value": ("net value per month = volume x (metric x value_per_correct_usd - (1 - metric) x cost_per_error_usd "
                  f"- cost per query) - one-offs / {pricing.horizon_months:g} months; the highest wins; its interval "
                  "maps the metric's 95% interval through the same formula"),
        "weighted": ("score = weighted mean of the primary metric (fraction) and of latency and cost relative to the "
                     f"best feasible arm on a log scale (0 at {10 ** DECADES:,.0f}x the best); ties on the primary "
                     "metric (paired test not significant) go to the cheaper arm"),
    }[rule]
    return DecisionHow(
        rule=rule, ranking=ranking,
        cost="serving: busy seconds per query x serving $/h; one-offs: measured seconds x training $/h x builds",
        sensitivity=f"winner re-decided over {fmt.volume(VOLUME_RANGE[0])}..{fmt.volume(VOLUME_RANGE[1])} "
                    "queries/month (log grid, switch points bisected)",
        value_sensitivity=(f"winner under the value rule at the expected volume for a value per correct answer of "
                           f"${VALUE_RANGE[0]:g}..${VALUE_RANGE[1]:g} (log grid, switch points bisected)"),
        flags=("under-trained: last validation loss > 1% below the minimum of the earlier ones and no early stop; "
               "collapsed: one label (or no parseable answer) >= 90% of predictions and >= 25 points above its share "
               "of the reference"),
    )


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
    primary_ci = {n: (c[primary].low, c[primary].high) for n, c in cis.items() if primary in c}
    decider = _Decider(arms, costs, metric, primary, pricing, decision, tests, primary_ci)
    now = decider.at(pricing.queries_per_month)
    sensitivity = [VolumeRange(from_=s.start, to=s.end, winner=s.winner)
                   for s in scan(lambda v: decider.at(v).winner, *VOLUME_RANGE)] if arms else []
    by_value = _value_sensitivity(decider, pricing.queries_per_month) if arms else []
    flags = arm_flags(arms, by_arm, bool(labels))
    curves = fit_learning_curves(arms, primary, metric, labels, seed)
    lines = rationale(decider, now, costs, cis, evens, excluded, by_value, flags)
    lines += [f"{a.name}'s tuning says little: {n}." for a in arms if a.tuning for n in a.tuning.notes]
    for f in curves:
        split = next(a.learning_curve.split for a in arms if a.name == f.arm and a.learning_curve)
        fitted = f" (fit {f.form}: a {f.a:.3f}, b {f.b:.3g}, c {f.c:.3f})" if f.a is not None else ""
        target = f"; target from the {f.target_split} split" if f.target_split and f.target_split != split else ""
        lines.append(f"Learning curve on the {split} split{fitted}: {f.message}{target}.")
    warnings = answer_flags(arms, now.winner, spec.evaluation)  # degenerate arms, an ungrounded winner
    lines += warnings
    return Recommendation(
        version=RECOMMENDATION_VERSION,
        winner=now.winner,
        runner_up=now.runner_up,
        primary_metric=primary,
        higher_is_better=metric.higher_is_better,
        rationale=lines,
        warnings=warnings,
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
        rule=now.outcome.rule if now.outcome else decision.effective_rule,
        outcome=now.outcome,
        value_sensitivity=by_value,
        flags=flags,
        learning_curves=curves,
        assumptions=Assumptions(pricing=pricing, decision=decision, defaults_used=list(defaults_used)),
        how=_how(decision, pricing),
    )


def defaults_used(pricing: PricingSpec, decision: DecisionSpec) -> list[str]:
    """Names of pricing/decision fields the task file left at their defaults."""
    out = [f"pricing.{k}" for k, f in PricingSpec.model_fields.items()
           if k not in pricing.model_fields_set and f.default is not None]
    out += [f"decision.{k}" for k in ("alpha",) if k not in decision.model_fields_set]
    if decision.effective_rule == "weighted" and "weights" not in decision.model_fields_set:
        out.append("decision.weights")
    return out
