"""The `pricing` and `decision` blocks of a task file: what things cost and what the team wants.

Every field has a stated default, and the report prints which defaults were used, so a
figure never rests on a number nobody chose. Prices are in US dollars.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from advisor.spec.base import Strict

__all__ = ["PricingSpec", "DecisionSpec", "DecisionRule", "WeightsSpec", "DEFAULT_HOURLY_USD"]

# A 2-vCPU x86 cloud VM on demand (e.g. AWS c7i.large, us-east-1, late 2026 list price
# $0.0893/h), the class of machine the CPU measurements come from.
DEFAULT_HOURLY_USD = 0.09


class PricingSpec(Strict):
    """Prices and volumes the cost model needs."""

    serving_hourly_usd: float = Field(
        DEFAULT_HOURLY_USD, ge=0, description="$/hour of the hardware that serves queries (priced per busy second)")
    training_hourly_usd: float = Field(
        DEFAULT_HOURLY_USD, ge=0, description="$/hour of the hardware that trains adapters and builds indexes")
    api_input_usd_per_mtok: float = Field(0.0, ge=0, description="API backends: $ per million prompt tokens")
    api_output_usd_per_mtok: float = Field(0.0, ge=0, description="API backends: $ per million generated tokens")
    queries_per_month: float = Field(100_000, gt=0, description="expected production volume")
    horizon_months: float = Field(12, gt=0, description="months over which one-off costs are amortised")
    retrain_every_months: float | None = Field(
        None, gt=0, description="LoRA adapters are retrained this often (None: trained once in the horizon)")
    reindex_every_months: float | None = Field(
        None, gt=0, description="RAG indexes are rebuilt this often (None: built once in the horizon)")
    utilization: float = Field(
        1.0, gt=0, le=1, description="share of paid serving hours that do useful work; cost per query / utilization")


class WeightsSpec(Strict):
    """How much each criterion counts in the ranking (normalised to sum 1)."""

    accuracy: float = Field(0.6, ge=0, description="weight of the primary metric")
    latency: float = Field(0.2, ge=0, description="weight of p95 latency")
    cost: float = Field(0.2, ge=0, description="weight of monthly cost at the expected volume")

    @model_validator(mode="after")
    def _some_weight(self) -> WeightsSpec:
        if self.accuracy + self.latency + self.cost <= 0:
            raise ValueError("at least one weight must be positive")
        return self


DecisionRule = Literal["metric-first", "value", "weighted"]


class DecisionSpec(Strict):
    """Hard constraints, the rule that picks among feasible arms, and the significance level.

    Rules (`rule`; default: `value` when a value per correct answer or a cost per error is
    given, else `metric-first`):
    - metric-first: the best arm on the primary metric wins; arms not significantly worse
      than it are tied, and among tied arms the cheaper per month (then the faster p95) wins;
    - value: the highest net value per month = volume x (metric x value_per_correct_usd -
      (1 - metric) x cost_per_error_usd - cost per query) - one-offs amortised per month;
    - weighted: the weighted score of metric, log latency and log cost (`weights`).
    """

    min_metric: float | None = Field(
        None, description="lowest acceptable primary metric, as a fraction (0.8 = 80%) for proportion metrics")
    max_p95_latency_ms: float | None = Field(None, gt=0, description="highest acceptable p95 latency per request")
    max_monthly_cost_usd: float | None = Field(
        None, gt=0, description="highest acceptable cost per month at the expected volume (one-offs amortised)")
    knowledge_changes_every_months: float | None = Field(
        None, gt=0, description="the task's knowledge changes this often: adapters must be retrained and "
                                "indexes rebuilt at least this often")
    rule: DecisionRule | None = Field(
        None, description="metric-first, value or weighted; default: value when value_per_correct_usd or "
                          "cost_per_error_usd is set, else metric-first")
    value_per_correct_usd: float | None = Field(
        None, ge=0, description="what one correct answer is worth to the team, in US dollars (value rule)")
    cost_per_error_usd: float | None = Field(
        None, ge=0, description="what one wrong answer costs the team, in US dollars (value rule)")
    weights: WeightsSpec = Field(default_factory=WeightsSpec, description="criteria weights of the weighted rule")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="significance level of the paired tests")
    prefer_cheaper_when_tied: bool = Field(
        True, description="weighted rule: when the top two are not significantly different on the primary metric, "
                          "pick the cheaper")

    @property
    def effective_rule(self) -> str:
        if self.rule is not None:
            return self.rule
        return "value" if self.value_per_correct_usd is not None or self.cost_per_error_usd is not None else "metric-first"

    @model_validator(mode="after")
    def _value_needs_prices(self) -> DecisionSpec:
        if self.rule == "value" and self.value_per_correct_usd is None and self.cost_per_error_usd is None:
            raise ValueError("rule value needs value_per_correct_usd or cost_per_error_usd")
        return self
