"""Typed record sections written by tuning and repeats: `ArmResult.tuning` and `ArmResult.seeds`.

They are strict record sections (advisor.evaluation.sections.Section: extra="forbid"), both
default to None on the arm, so a record written without tuning or repeats reads as before.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from advisor.evaluation.sections import Section as _Section

__all__ = ["TrialResult", "TuningResult", "SeedSpread"]


class TrialResult(_Section):
    """One tuning trial: the parameters tried, its validation value, seconds, and how it ended."""

    number: int
    params: dict[str, Any]
    value: float | None = None  # the primary metric on the validation split (None: pruned before the end, failed)
    state: Literal["complete", "pruned", "failed"]
    seconds: float  # wall seconds of the trial (prepare + predict on validation), time.perf_counter
    intermediate: list[list[float]] = Field(default_factory=list)  # [step, value] reported while training
    note: str | None = None  # why it was pruned or failed
    enqueued: bool = False  # the arm's own configuration, tried first


class TuningResult(_Section):
    """How an arm was tuned and what was chosen; `seconds` is a one-off cost of the arm."""

    metric: str
    higher_is_better: bool
    budget: dict[str, Any]  # {"trials": N} or {"seconds": S}
    sampler: str
    pruner: str
    seed: int
    space: dict[str, Any]  # parameter -> declaration (kind, low/high/log or choices)
    trials: list[TrialResult] = Field(default_factory=list)
    best_params: dict[str, Any] = Field(default_factory=dict)
    best_value: float | None = None
    baseline_value: float | None = None  # the arm's own configuration on validation (trial 0), when tried
    chosen_config: dict[str, Any] = Field(default_factory=dict)  # the full arm config the test run used
    seconds: float = 0.0  # wall seconds of all trials (resumed ones included)
    validation_items: int = 0
    storage: str | None = None  # the Optuna SQLite file (resumable)
    notes: list[str] = Field(default_factory=list)  # why this tuning says little (under two trials bought, too few validation items)
    how: str = ""

    def best_so_far(self, x: Literal["trials", "seconds"] = "trials") -> list[tuple[float, float]]:
        """[(budget spent, best validation value so far)] after each finished trial, in trial order."""
        out: list[tuple[float, float]] = []
        best: float | None = None
        spent = 0.0
        for t in sorted(self.trials, key=lambda t: t.number):
            spent += t.seconds
            if t.state == "complete" and t.value is not None:
                if best is None or (t.value > best if self.higher_is_better else t.value < best):
                    best = t.value
            if best is not None:
                out.append((t.number + 1 if x == "trials" else round(spent, 3), best))
        return out


class SeedSpread(_Section):
    """The primary metric of one arm under several seeds (the first is the reported run)."""

    metric: str
    seeds: list[int]
    values: list[float]
    what: str  # what the seed changes: demonstration draw, LoRA init and data order
    how: str = ""

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); 0 with one seed."""
        if len(self.values) < 2:
            return 0.0
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (len(self.values) - 1))

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)
