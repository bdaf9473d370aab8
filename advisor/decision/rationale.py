"""The recommendation's rationale: one sentence per reason, each citing the measured numbers
it rests on (metric with interval, paired difference with p-value, dollars a month, p95)."""

from __future__ import annotations

from typing import Any, Sequence

from advisor import fmt
from advisor.decision.types import ArmCost
from advisor.decision.flags import ArmFlag, advice
from advisor.decision.rules import COST_TIE_REL, RuleOutcome, exchange_rates

__all__ = ["rationale", "signed_usd", "value_segments"]


def signed_usd(x: float) -> str:
    return ("-" if x < 0 else "") + fmt.usd(abs(x))


def _price(x: float) -> str:
    return f"${x:.2g}" if x < 0.01 else fmt.usd(x)


def value_segments(segments: Sequence[Any]) -> str:
    """'k-shot below $0.00016, knn-shot above' from a value scan (ValueRange items)."""
    if len(segments) == 1:
        return f"{segments[0].winner or 'no arm'} at any value"
    parts = []
    for i, s in enumerate(segments):
        who = s.winner or "no arm"
        if i == 0:
            parts.append(f"{who} below {_price(s.to)}")
        elif s.to is None:
            parts.append(f"{who} above {_price(s.from_)}")
        else:
            parts.append(f"{who} from {_price(s.from_)} to {_price(s.to)}")
    return ", ".join(parts)


def _metric_first(d: Any, now: Any, o: RuleOutcome) -> list[str]:
    m, monthly, by = d.primary, now.monthly, {a.name: a for a in d.arms}
    winner, runner, best = o.winner, o.runner_up, o.best
    lines = []
    tied = {t.arm: t for t in o.tied}
    alpha = d.decision.alpha
    if o.by_cost:
        t = tied[winner]
        cheaper = monthly[winner] < monthly[best] / (1 + COST_TIE_REL)
        why = (f"the cheaper: {fmt.usd(monthly[winner])} against {fmt.usd(monthly[best])} a month" if cheaper else
               f"as cheap (within {COST_TIE_REL:.0%}) and faster: p95 {fmt.ms(d.p95(by[winner]))} against "
               f"{fmt.ms(d.p95(by[best]))}")
        lines.append(f"{best} is best on {m} ({fmt.pct(d.value(by[best]))}) but {winner} is not significantly worse "
                     f"(difference {fmt.points(t.delta)} {fmt.interval(t.low, t.high)}, {fmt.p_value(t.p_value)}, "
                     f"{t.test}" + (", within the seed spread" if t.by == "seed spread" else "")
                     + f"); among tied arms the cheaper, then the faster, wins: {winner} is {why}.")
        if t.low < 0:  # a tie is a lack of evidence of a difference, not evidence of none
            lines.append(f"Not significantly worse is not the same as equal: the 95% interval of the difference allows "
                         f"{winner} to be up to {fmt.points(-t.low)} worse than {best} on {m}; more test items narrow it.")
    elif runner:
        t = d.test(runner, winner)  # delta = winner - runner
        if runner in tied:
            lines.append(f"{winner} is best on {m}; {runner} is not significantly worse ({fmt.points(-t.delta)} "
                         f"{fmt.interval(-t.high, -t.low)}, {fmt.p_value(t.p_value)}) but is not cheaper "
                         f"({fmt.usd(monthly[runner])} against {fmt.usd(monthly[winner])} a month).")
        else:
            saving = monthly[winner] - monthly[runner]
            lines.append(f"{winner} beats the runner-up {runner} by {fmt.points(abs(t.delta))} "
                         f"{fmt.interval(t.low, t.high)} on {m}, {fmt.p_value(t.p_value)} ({t.test}), significant at "
                         f"alpha {alpha:g}" + (f"; {runner} would save {fmt.usd(saving)} a month, but an arm that is "
                                                "significantly worse never wins on cost alone." if saving > 0 else "."))
    others = [t for t in o.tied if t.arm not in (winner, runner)]
    if others:
        lines.append(f"Also tied with {best} (not significantly worse): " + "; ".join(
            f"{t.arm} {fmt.points(t.delta)}, {fmt.p_value(t.p_value)}" for t in others) + ".")
    return lines


def _value(d: Any, o: RuleOutcome) -> list[str]:
    dec, pricing = d.decision, d.pricing
    parts = []
    if dec.value_per_correct_usd is not None:
        parts.append(f"{d.primary} x {_price(dec.value_per_correct_usd)}")
    if dec.cost_per_error_usd is not None:
        parts.append(f"(1 - {d.primary}) x {_price(dec.cost_per_error_usd)}")
    formula = " - ".join(parts) if parts else "0"
    arms = [n for n in o.ranking[:3]]
    lines = [f"Net value per month = {fmt.volume(pricing.queries_per_month)} queries x ({formula} - cost per query) - "
             f"one-offs / {pricing.horizon_months:g} months: " + "; ".join(
                 f"{n} {signed_usd(o.net[n].monthly_usd)} [{signed_usd(o.net[n].low)}, {signed_usd(o.net[n].high)}]"
                 for n in arms) + f" (intervals from the {d.primary} 95% interval)."]
    if o.margin and o.runner_up:
        mg = o.margin
        sure = "the margin's interval excludes zero" if mg["low"] > 0 else "the margin's interval includes zero"
        lines.append(f"{o.winner} earns {signed_usd(mg['monthly_usd'])} a month more than {o.runner_up} "
                     f"[{signed_usd(mg['low'])}, {signed_usd(mg['high'])}] (paired difference on {d.primary}, "
                     f"{fmt.p_value(mg['p_value'])}); {sure}.")
    return lines


def _weighted(d: Any, now: Any, o: RuleOutcome) -> list[str]:
    by, m, monthly = {a.name: a for a in d.arms}, d.primary, now.monthly
    w = d.decision.weights
    rates = exchange_rates(d.decision)
    lines = [f"Rule weighted (accuracy {w.accuracy:g}, latency {w.latency:g}, cost {w.cost:g}): "
             + (f"10x the cost weighs {fmt.points(rates.cost_10x_in_points)} of {m}, 10x the p95 latency "
                f"{fmt.points(rates.latency_10x_in_points)}." if rates.cost_10x_in_points is not None
                else "the metric has no weight.")]
    winner, runner = o.winner, o.runner_up
    if not runner:
        return lines
    t = d.test(runner, winner)
    if t.significant:
        ahead = (t.delta > 0) == d.metric.higher_is_better
        line = (f"{winner} {'beats' if ahead else 'trails'} the runner-up {runner} by {fmt.points(abs(t.delta))} "
                f"{fmt.interval(t.low, t.high)} on {m}, {fmt.p_value(t.p_value)} ({t.test})")
        if not ahead:
            line += (f", but ranks first on latency and cost: p95 {fmt.ms(d.p95(by[winner]))} against "
                     f"{fmt.ms(d.p95(by[runner]))}, {fmt.usd(monthly[winner])} against {fmt.usd(monthly[runner])} a month")
        lines.append(line + ".")
    else:
        mde = f"; with {t.n} items only differences above {fmt.points(t.mde)} are reliably detected" if t.mde else ""
        tie = o.weighted_tie or {}
        why = (f"so the cheaper one, {winner}, is preferred" if tie.get("switched")
               else f"{winner} is ahead on the weighted ranking" + (" and is also the cheaper" if tie.get("cheaper") == winner else ""))
        lines.append(f"{winner} and {runner} are not significantly different on {m}: difference "
                     f"{fmt.points(t.delta)} {fmt.interval(t.low, t.high)}, {fmt.p_value(t.p_value)}{mde}; {why}.")
    return lines


def rationale(d: Any, now: Any, costs: dict[str, ArmCost], cis: dict[str, dict],
              evens: list[Any], excluded: dict[str, str], by_value: Sequence[Any],
              flags: Sequence[ArmFlag]) -> list[str]:
    """The rationale lines of a decision `now` (from `_Decider.at`) by the engine's decider `d`."""
    lines: list[str] = []
    winner, o = now.winner, now.outcome
    m = d.primary
    if winner is None:
        lines.append("No arm meets the constraints: " + "; ".join(
            f"{name}: {', '.join(v)}" for name, v in now.violations.items() if v) + ".")
        lines += _flag_lines(flags)
        return lines
    c, ci = costs[winner], cis[winner][m]
    arm = next(a for a in d.arms if a.name == winner)
    lines.append(f"Adopt {winner}: {m} {fmt.pct(ci.value)} {fmt.interval(ci.low, ci.high)} on "
                 f"{ci.n} test items, p95 latency {fmt.ms(d.p95(arm))}, {fmt.usd(c.per_1k_usd)} per 1,000 queries"
                 + (f", {fmt.usd(c.one_off_usd)} one-off over {d.pricing.horizon_months:g} months" if c.one_offs else "")
                 + f"; {fmt.usd(now.monthly[winner])}/month at {fmt.volume(d.pricing.queries_per_month)} queries/month.")
    if o.rule == "metric-first":
        lines += _metric_first(d, now, o)
    elif o.rule == "value":
        lines += _value(d, o)
    else:
        lines += _weighted(d, now, o)
    if o.note:
        lines.append(o.note[0].upper() + o.note[1:] + ".")
    if by_value and o.rule != "value":
        lines.append(f"Priced per correct answer instead (value rule at {fmt.volume(d.pricing.queries_per_month)} "
                     f"queries/month): {value_segments(by_value)}.")
    elif len(by_value) > 1:
        lines.append(f"By value per correct answer: {value_segments(by_value)}.")
    lines += _flag_lines(flags)
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


def _flag_lines(flags: Sequence[ArmFlag]) -> list[str]:
    return [f"{f.arm} looks {f.kind} ({f.detail}); its result is a lower bound; {advice(f)}." for f in flags]
