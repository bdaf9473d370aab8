"""Typed results of the decision layer: intervals, paired tests, costs and the recommendation.

The recommendation carries its own `version` (RECOMMENDATION_VERSION): a reader checks it
against the shape it knows. Everything here is strict: an unknown or misspelled key fails
validation instead of reading as zero.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from advisor.decision.curve_fit import CurveFit
from advisor.decision.flags import ArmFlag
from advisor.decision.rules import RuleOutcome
from advisor.spec.policy import DecisionSpec, PricingSpec

__all__ = ["RECOMMENDATION_VERSION", "MetricCI", "PairTest", "OneOff", "ArmCost", "Tie", "BreakEven",
           "VolumeRange", "ValueRange", "ExchangeRates", "Assumptions", "DecisionHow", "Recommendation"]

RECOMMENDATION_VERSION = 2
_STRICT = ConfigDict(extra="forbid")


@dataclass(config=_STRICT)
class MetricCI:
    """A 95% interval for one arm's metric over its test items."""

    metric: str
    value: float
    low: float
    high: float
    n: int
    method: str


@dataclass(config=_STRICT)
class PairTest:
    """B compared with A on the same items; `delta` = metric(B) - metric(A), in metric units."""

    a: str
    b: str
    metric: str
    n: int
    delta: float
    low: float
    high: float
    p_value: float
    test: str
    mde: float | None  # smallest |delta| this n detects with 80% power at the level alpha
    significant: bool
    a_only: int | None = None  # McNemar: items only A got right
    b_only: int | None = None


@dataclass(config=_STRICT)
class OneOff:
    """One one-off cost, priced: `builds` times `seconds` at `hourly_usd`."""

    kind: str
    what: str
    seconds: float
    hardware: str
    reused: bool
    builds: int  # how often it is paid in the horizon (retraining / re-indexing cadence)
    usd_each: float
    usd_total: float


@dataclass(config=_STRICT)
class ArmCost:
    """One arm's costs, all in US dollars; `inputs` says where each number came from."""

    arm: str
    billing: str  # "busy-time" or "tokens"
    per_query_usd: float
    per_1k_usd: float
    busy_s_per_query: float | None
    one_offs: list[OneOff] = Field(default_factory=list)
    one_off_usd: float = 0.0  # all one-offs over the horizon
    monthly_usd: float = 0.0  # at the expected volume, one-offs amortised over the horizon
    tco_usd: float = 0.0  # total over the horizon at the expected volume
    inputs: list[str] = Field(default_factory=list)

    def tco_at(self, queries_per_month: float, horizon_months: float) -> float:
        return self.one_off_usd + queries_per_month * horizon_months * self.per_query_usd

    def monthly_at(self, queries_per_month: float, horizon_months: float) -> float:
        return self.tco_at(queries_per_month, horizon_months) / horizon_months


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Tie(_Strict):
    """Winner and runner-up not significantly different on the primary metric."""

    between: list[str]
    p_value: float
    cheaper: str
    switched: bool = Field(description="the cheaper runner-up was promoted to winner")


class BreakEven(_Strict):
    """The monthly volume above which `cheaper_above` costs less in total than `cheaper_below`."""

    cheaper_above: str
    cheaper_below: str
    queries_per_month: float
    how: str


class VolumeRange(_Strict):
    """Queries/month from `from` to `to` (None: no upper end) with the arm that wins there."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    from_: float = Field(alias="from")
    to: float | None = None
    winner: str | None


class ExchangeRates(_Strict):
    """Metric points (fraction) that 10x the latency or the cost is worth under the weights."""

    latency_10x_in_points: float | None
    cost_10x_in_points: float | None


class Assumptions(_Strict):
    pricing: PricingSpec
    decision: DecisionSpec
    defaults_used: list[str] = Field(default_factory=list, description="pricing/decision fields left at defaults")


class ValueRange(_Strict):
    """Values of a correct answer ($) from `from` to `to` (None: no upper end) with the arm that
    wins there under the value rule at the expected volume."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    from_: float = Field(alias="from")
    to: float | None = None
    winner: str | None


class DecisionHow(_Strict):
    ranking: str
    cost: str
    sensitivity: str
    rule: str | None = Field(None, description="the rule that picked the winner: metric-first, value or weighted")
    value_sensitivity: str | None = None
    flags: str | None = None


class Recommendation(_Strict):
    """Which arm to adopt, why, how sure we are, and at which volumes the answer changes."""

    version: Literal[2] = RECOMMENDATION_VERSION
    winner: str | None
    runner_up: str | None = None
    primary_metric: str
    higher_is_better: bool
    rationale: list[str] = Field(default_factory=list, description="sentences citing the measured numbers")
    warnings: list[str] = Field(default_factory=list, description="answer-quality warnings (also in the rationale)")
    tie: Tie | None = None
    ranking: list[str] = Field(default_factory=list, description="feasible arms, best first")
    scores: dict[str, float] = Field(default_factory=dict, description="weighted ranking score per feasible arm")
    exchange_rates: ExchangeRates
    feasible: list[str] = Field(default_factory=list)
    violations: dict[str, list[str]] = Field(default_factory=dict, description="constraints each arm violates")
    pareto: list[str] = Field(default_factory=list)
    dominated_by: dict[str, list[str]] = Field(default_factory=dict)
    excluded: dict[str, str] = Field(default_factory=dict, description="arms not considered, and why")
    intervals: dict[str, dict[str, MetricCI]] = Field(default_factory=dict, description="arm -> metric -> interval")
    pairs: list[PairTest] = Field(default_factory=list)
    costs: dict[str, ArmCost] = Field(default_factory=dict)
    monthly_usd: dict[str, float] = Field(default_factory=dict)
    break_even: list[BreakEven] = Field(default_factory=list)
    sensitivity: list[VolumeRange] = Field(default_factory=list)
    rule: str | None = Field(None, description="metric-first, value or weighted (None: records before the rules)")
    outcome: RuleOutcome | None = Field(None, description="what the rule decided: best, tied arms, net values")
    value_sensitivity: list[ValueRange] = Field(default_factory=list)
    flags: list[ArmFlag] = Field(default_factory=list, description="under-trained or collapsed arms")
    learning_curves: list[CurveFit] = Field(default_factory=list)
    assumptions: Assumptions
    how: DecisionHow

    def interval(self, arm: str, metric: str) -> MetricCI | None:
        return self.intervals.get(arm, {}).get(metric)
