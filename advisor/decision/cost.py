"""The cost model: what each arm costs per query, once, and over the horizon.

Per query, an arm costs the serving hardware's price for the busy seconds it measured
(wall time the backend spent on the arm's test requests, divided by the requests), or, on an
API backend, its tokens at the API's prices. Once, it costs the measured seconds of its
one-off work (training an adapter, building an index) at the training hardware's price,
repeated at the retraining or re-indexing cadence within the horizon. Every figure carries
the inputs it was computed from, so a reader can redo the arithmetic.
"""

from __future__ import annotations

import math

from advisor import fmt
from advisor.decision.types import ArmCost, BreakEven, OneOff
from advisor.evaluation.record import ArmResult
from advisor.spec.policy import DecisionSpec, PricingSpec

__all__ = ["ArmCost", "OneOff", "arm_cost", "break_even", "API_BACKENDS", "builds_in_horizon"]

API_BACKENDS = frozenset({"openai"})  # backends billed per token rather than per busy second


def builds_in_horizon(cadence_months: float | None, horizon_months: float) -> int:
    """Times a one-off is paid: once at the start, then every `cadence_months` within the horizon."""
    if cadence_months is None:
        return 1
    return max(1, math.ceil(horizon_months / cadence_months - 1e-9))


def _cadence(kind: str, pricing: PricingSpec, decision: DecisionSpec) -> float | None:
    base = {"training": pricing.retrain_every_months, "index": pricing.reindex_every_months}.get(kind)
    change = decision.knowledge_changes_every_months
    if change is None or kind not in ("training", "index"):
        return base
    return change if base is None else min(base, change)


def arm_cost(arm: ArmResult, backend_name: str, pricing: PricingSpec, decision: DecisionSpec) -> ArmCost:
    """Price one measured arm. Needs at least one answered test request."""
    if arm.n <= 0:
        raise ValueError(f"arm {arm.name} answered no test requests; its cost per query is unknown")
    hours = pricing.horizon_months
    inputs: list[str] = []
    if backend_name in API_BACKENDS:
        prompt = arm.usage.prompt_tokens / arm.n
        completion = arm.usage.completion_tokens / arm.n
        per_query = (prompt * pricing.api_input_usd_per_mtok + completion * pricing.api_output_usd_per_mtok) / 1e6
        busy = None
        billing = "tokens"
        inputs.append(f"per query: {prompt:.1f} prompt tokens x ${pricing.api_input_usd_per_mtok:g}/M + "
                      f"{completion:.1f} generated tokens x ${pricing.api_output_usd_per_mtok:g}/M "
                      f"(mean over {arm.n} test requests)")
    else:
        busy = arm.throughput.busy_s / arm.n
        per_query = busy * pricing.serving_hourly_usd / 3600 / pricing.utilization
        billing = "busy-time"
        inputs.append(f"per query: {busy * 1000:.1f} ms busy (backend wall time over {arm.n} test requests, "
                      f"batched as measured) x ${pricing.serving_hourly_usd:g}/h"
                      + (f" / utilization {pricing.utilization:g}" if pricing.utilization != 1 else ""))
    one_offs = []
    for item in arm.prepare.one_off:
        cadence = _cadence(item.kind, pricing, decision)
        builds = builds_in_horizon(cadence, hours)
        each = item.seconds / 3600 * pricing.training_hourly_usd
        one_offs.append(OneOff(kind=item.kind, what=item.what, seconds=item.seconds, hardware=item.hardware,
                               reused=item.reused, builds=builds, usd_each=each, usd_total=each * builds))
        inputs.append(f"one-off: {item.what} {item.seconds:.1f} s on {item.hardware} "
                      f"x ${pricing.training_hourly_usd:g}/h x {builds} build(s) in {hours:g} months"
                      + (f" (every {cadence:g} months)" if cadence else "")
                      + (" — artifact reused from cache; seconds are from when it was built" if item.reused else ""))
    one_off_usd = sum(o.usd_total for o in one_offs)
    volume = pricing.queries_per_month
    inputs.append(f"monthly: {volume:,.0f} queries/month x per-query cost + one-offs / {hours:g} months")
    cost = ArmCost(arm=arm.name, billing=billing, per_query_usd=per_query, per_1k_usd=per_query * 1000,
                   busy_s_per_query=busy, one_offs=one_offs, one_off_usd=one_off_usd, inputs=inputs)
    cost.tco_usd = cost.tco_at(volume, hours)
    cost.monthly_usd = cost.monthly_at(volume, hours)
    return cost


def break_even(a: ArmCost, b: ArmCost, horizon_months: float) -> BreakEven | None:
    """The monthly volume above which the arm with the lower per-query cost is the cheaper one.

    Total cost over the horizon is one_off + volume x horizon x per_query for each arm; the
    lines cross at volume = (one_off_x - one_off_y) / (horizon x (per_query_y - per_query_x)).
    None when one arm is cheaper at every volume (no crossing above zero queries).
    """
    if math.isclose(a.per_query_usd, b.per_query_usd, rel_tol=1e-12, abs_tol=0.0):
        return None
    low, high = (a, b) if a.per_query_usd < b.per_query_usd else (b, a)  # low: cheaper per query
    extra = low.one_off_usd - high.one_off_usd  # what the per-query-cheaper arm pays up front
    if extra <= 0:
        return None  # cheaper per query and no dearer up front: cheaper at every volume
    volume = extra / (horizon_months * (high.per_query_usd - low.per_query_usd))
    return BreakEven(cheaper_above=low.arm, cheaper_below=high.arm, queries_per_month=volume,
                     how=f"{low.arm} pays ${extra:.4g} more up front and saves "
                         f"${(high.per_query_usd - low.per_query_usd) * 1000:.4g} per 1k queries; "
                         f"equal total cost over {horizon_months:g} months at {fmt.volume(volume)} queries/month")
