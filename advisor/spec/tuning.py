"""The `tuning` block of a task file: how much search each arm gets, and how.

Every arm gets the same budget (trials, or compute seconds), spent on the validation split
only; the block also fixes the sampler's seed so a tune is reproducible. `advisor tune` and
`advisor run --tune` use it; a plain run ignores it. The search space itself is declared by
each arm (and overridden with `search:` inside an arm's config), see `advisor.tuning.space`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from advisor.spec.base import Strict

__all__ = ["BudgetSpec", "TuningSpec", "DEFAULT_TRIALS"]

DEFAULT_TRIALS = 8


class BudgetSpec(Strict):
    """What each arm may spend: a number of trials or wall seconds of tuning (exactly one)."""

    trials: int | None = Field(None, ge=1, le=1000, description="trials per arm")
    seconds: float | None = Field(None, gt=0, description="wall seconds of tuning per arm (a trial that runs past "
                                                          "the budget is stopped at its next report)")

    @model_validator(mode="after")
    def _one(self) -> BudgetSpec:
        if (self.trials is None) == (self.seconds is None):
            raise ValueError("give exactly one of `trials` or `seconds`")
        return self

    def describe(self) -> str:
        return f"{self.trials} trials per arm" if self.trials is not None else f"{self.seconds:g} s per arm"


class TuningSpec(Strict):
    """Equal-budget tuning of every arm on the validation split (Optuna)."""

    budget: BudgetSpec = Field(default_factory=lambda: BudgetSpec(trials=DEFAULT_TRIALS),
                               description=f"per arm: {{trials: N}} or {{seconds: S}} (default {DEFAULT_TRIALS} trials)")
    seed: int | None = Field(None, description="sampler seed; default: the task seed")
    sampler: Literal["tpe", "random"] = Field("tpe", description="tpe: Optuna's TPESampler; random: RandomSampler")
    pruner: Literal["median", "none"] = Field(
        "median", description="median: stop a trial whose intermediate validation value is below the median of "
                              "earlier trials at the same step (arms that report steps: LoRA)")
    max_validation: int | None = Field(None, ge=1, description="validation items each trial scores (null: all)")
    include_config: bool = Field(True, description="trial 0 is the arm's own configuration (when inside the space)")
