"""The `learning_curve` block of an arm: re-run the arm on nested subsets of the train split.

Opt-in per arm because it multiplies the arm's one-off work (a LoRA adapter is trained once
per fraction; the dry run counts every point). Points are evaluated on the validation split
by default, so the test split is read no more than the arm itself reads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from advisor.spec.base import Strict

__all__ = ["LearningCurveSpec"]


class LearningCurveSpec(Strict):
    """Fractions of the train split to train/run the arm on, and where to evaluate them."""

    fractions: list[float] = Field(
        default_factory=lambda: [0.25, 0.5, 1.0], min_length=2,
        description="shares of the train split, each in (0, 1]; nested subsets of one seeded shuffle")
    split: Literal["validation", "test"] = Field(
        "validation", description="where each point is evaluated (validation keeps the test split untouched)")
    max_extrapolation: float = Field(
        10.0, ge=1.0, le=1000.0,
        description="the fitted curve is never read beyond this factor of the full train split's size")
    bootstrap: int = Field(1000, ge=50, le=20000, description="bootstrap resamples of the evaluation items for the fit's interval")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < f <= 1 for f in v):
            raise ValueError("every fraction must be in (0, 1]")
        if len(set(v)) != len(v):
            raise ValueError("fractions must be distinct")
        return sorted(v)
