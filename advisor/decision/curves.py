"""The recommendation's learning-curve reading: for each arm with curve points, fit the
curve (`curve_fit`) and say how many labelled examples it needs to reach the best other arm.

The target is the best other finished arm on the primary metric: measured on the same
evaluation items when that arm has a curve point on the full train split on the same split,
otherwise its test-split metric (the report says which split the target came from).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from advisor.decision.curve_fit import CurveFit, fit_curve
from advisor.evaluation.record import ArmResult
from advisor.evaluation.scoring import Metric

__all__ = ["fit_learning_curves", "MIN_POINTS"]

MIN_POINTS = 3  # three parameters: fewer points leave the curve undetermined


def _stat(metric: Metric, points: list[Any], labels: Sequence[str] | None) -> Callable[[np.ndarray | None], list[float]]:
    """The metric at every point on item indices `idx` (None: all items)."""
    if metric.decomposable:
        values = [np.array([metric.compute([t], [p], labels) for t, p in zip(pt.targets, pt.predictions)], dtype=float)
                  for pt in points]
        return lambda idx: [float(v.mean() if idx is None else v[idx].mean()) for v in values]

    def stat(idx: np.ndarray | None) -> list[float]:
        out = []
        for pt in points:
            ii = range(len(pt.targets)) if idx is None else idx
            out.append(metric.compute([pt.targets[i] for i in ii], [pt.predictions[i] for i in ii], labels))
        return out

    return stat


def _target(arm: ArmResult, arms: Sequence[ArmResult], primary: str, hib: bool, split: str) -> tuple[float, str, str] | None:
    others = [a for a in arms if a.name != arm.name and primary in a.metrics]
    if not others:
        return None
    best = max(others, key=lambda a: a.metrics[primary] if hib else -a.metrics[primary])
    lc = best.learning_curve
    full = next((p for p in (lc.points if lc else []) if p.fraction >= 1.0 and p.metric is not None), None)
    if lc is not None and lc.split == split and full is not None:
        return full.metric, best.name, split
    return best.metrics[primary], best.name, "test"


def fit_learning_curves(arms: Sequence[ArmResult], primary: str, metric: Metric, labels: Sequence[str] | None,
                        seed: int = 0) -> list[CurveFit]:
    """One fit per arm that recorded learning-curve points."""
    fits = []
    for arm in arms:
        lc = arm.learning_curve
        if lc is None:
            continue
        points = [p for p in lc.points if p.metric is not None and p.targets]
        target = _target(arm, arms, primary, metric.higher_is_better, lc.split)
        value, who, split = target if target else (None, None, None)
        if len(points) < MIN_POINTS or len({len(p.targets) for p in points}) != 1:
            fits.append(CurveFit(arm=arm.name, metric=primary, target=value, target_arm=who, target_split=split,
                                 n_max=max((p.n_train for p in points), default=0),
                                 message=f"{len(points)} usable curve points; the fit needs {MIN_POINTS} on the same items"))
            continue
        fits.append(fit_curve(arm.name, primary, [p.n_train for p in points], _stat(metric, points, labels),
                              len(points[0].targets), value, who, split, metric.higher_is_better,
                              metric.proportion or metric.name in ("macro_f1", "token_f1"), lc.max_extrapolation,
                              lc.bootstrap, seed))
    return fits
