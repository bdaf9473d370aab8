"""Learning-curve points: an arm prepared on nested shares of the train split and evaluated
on the validation split (or, if the task says so, the test split).

The subsets are nested and seeded: the train split is shuffled once with a seed derived from
the task seed and the arm name, and the share f takes the first round(f x n) examples of
that order, so every smaller subset is inside every larger one. The share 1.0 is the train
split as the arm itself sees it (in its own order, so a cached LoRA adapter is reused).
Each point records its items' targets and predictions, so the fit's bootstrap
(`advisor.decision.curve_fit`) resamples the same items across points.
"""

from __future__ import annotations

import random
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["CurvePoint", "LearningCurve", "subset", "run_learning_curve", "estimate_learning_curve"]


class CurvePoint(BaseModel):
    """The arm prepared on `n_train` train examples and scored on the evaluation items."""

    fraction: float
    n_train: int
    metric: float | None = None
    n_eval: int = 0
    prepare_s: float = Field(0.0, description="wall seconds of the arm's prepare (training, indexing) at this size")
    predict_s: float = Field(0.0, description="wall seconds of predicting the evaluation items")
    reused: bool = Field(False, description="the prepared artifact came from the cache")
    targets: list[str] = Field(default_factory=list)
    predictions: list[str | None] = Field(default_factory=list)
    error: str | None = None


class LearningCurve(BaseModel):
    """One arm's learning-curve points (measurements only; the fit lives in the recommendation)."""

    arm: str
    metric: str
    split: Literal["validation", "test"]
    seed: int
    n_train_full: int
    max_extrapolation: float = 10.0
    bootstrap: int = 1000
    points: list[CurvePoint] = Field(default_factory=list)
    how: str = ""


def subset(train: list[Any], fraction: float, seed: int) -> list[Any]:
    """The nested, seeded share `fraction` of `train` (all of it, in order, at 1.0)."""
    if fraction >= 1.0:
        return list(train)
    order = list(train)
    random.Random(seed).shuffle(order)
    return order[: max(1, round(fraction * len(order)))]


def _seed(spec: Any, arm_name: str) -> int:
    return (int(spec.seed) * 1_000_003 + sum(ord(ch) * 31 ** i for i, ch in enumerate(arm_name))) % (2**31)


def run_learning_curve(task: Any, arm_index: int, splits: Any, backend: Any, ctx_base: dict[str, Any],
                       status=lambda msg: None) -> LearningCurve:
    """Prepare and evaluate the arm at every fraction of its `learning_curve` block."""
    from advisor import registry
    from advisor.errors import UserError
    from advisor.evaluation.scoring import score
    from advisor.evaluation.strategy import PrepareContext
    from advisor.spec.data import Splits

    spec = task.spec
    arm = spec.arms[arm_index]
    lc = arm.learning_curve
    items = list(splits.validation if lc.split == "validation" else splits.test)
    if not items:
        raise UserError(f"arm {arm.name!r}: learning_curve.split is {lc.split} but that split is empty",
                        hint="give the data block a validation share, or set learning_curve.split: test")
    seed = _seed(spec, arm.name)
    primary = spec.primary_metric
    curve = LearningCurve(arm=arm.name, metric=primary, split=lc.split, seed=seed, n_train_full=len(splits.train),
                          max_extrapolation=lc.max_extrapolation, bootstrap=lc.bootstrap,
                          how=(f"the arm prepared on nested shares of the train split (one shuffle, seed {seed}) and "
                               f"scored on the {len(items)} {lc.split} items; prepare_s includes training/indexing"))
    for fraction in lc.fractions:
        train = subset(splits.train, fraction, seed)
        point = CurvePoint(fraction=fraction, n_train=len(train))
        status(f"learning curve {arm.name}: {fraction:.0%} of train ({len(train)} examples) on {lc.split}")
        try:
            strategy = registry.strategies.get(arm.strategy)(task.arm_configs[arm.name], spec)
            ctx = PrepareContext(arm_name=arm.name, **{**ctx_base, "splits": Splits(train, splits.validation, splits.test)},
                                 validation_scored=lc.split == "validation")
            t0 = time.perf_counter()
            info = strategy.prepare(ctx)
            point.prepare_s = round(time.perf_counter() - t0, 3)
            point.reused = bool(getattr(info, "reused", False))
            t0 = time.perf_counter()
            preds = strategy.predict(items, backend)
            point.predict_s = round(time.perf_counter() - t0, 3)
            point.targets = [s.target for s in items]
            point.predictions = [p.prediction for p in preds]
            point.metric = score(spec.type, point.targets, point.predictions, spec.labels, primary).metrics[primary]
            point.n_eval = len(items)
        except UserError as exc:
            point.error = str(exc)
        except Exception as exc:  # one failed point must not sink the arm's measured result
            point.error = f"{type(exc).__name__}: {exc}"
        curve.points.append(point)
    return curve


def estimate_learning_curve(strategy: Any, arm: Any, ctx: Any, splits: Any, base: Any) -> Any:
    """Dry run: `base` (the arm's own Estimate) plus the arm's estimate at every fraction on the
    evaluation items (training steps and tokens, requests and prompt tokens), summed."""
    from advisor.spec.data import Splits

    lc = arm.learning_curve
    items = list(splits.validation if lc.split == "validation" else splits.test)
    seed = _seed(ctx.spec, arm.name)
    total = base.model_dump()
    for fraction in lc.fractions:
        sub = Splits(subset(splits.train, fraction, seed), splits.validation, splits.test)
        est = strategy.estimate(type(ctx)(**{**ctx.__dict__, "splits": sub}), items).model_dump()
        for key, value in est.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = (total.get(key) or 0) + value
    total["notes"] = list(total.get("notes") or []) + [
        f"learning curve: {len(lc.fractions)} points ({', '.join(f'{f:g}' for f in lc.fractions)} of train) on "
        f"{len(items)} {lc.split} items, included above"]
    return type(base).model_validate(total)
