"""How many labelled examples does an arm need to reach a target? A learning-curve fit.

Form: the inverse power law m(n) = a - b * n^(-c) (a: the asymptote, b >= 0, 0 < c <= 3),
fitted by least squares (`scipy.optimize.curve_fit`, trust-region reflective, with bounds;
a in [0, 1] for proportion metrics). A lower-is-better metric is fitted as -m. The number
of examples needed to reach a target t is n* = (b / (a - t))^(1/c) when a > t, else never;
a measured point that already meets the target caps n* at its size.

Uncertainty: a percentile bootstrap over the evaluation items. All points were evaluated on
the same items, so each resample draws item indices once and recomputes every point's metric
on them, then refits; n*'s 95% interval is the 2.5th and 97.5th percentiles over resamples
(a resample that never reaches the target counts as infinitely many examples). The curve is
never read beyond `max_extrapolation` x the largest observed train size: an n* past it is
reported as "not reached in range".

Warnings (`CurveFit.warnings`; the message then says the reading is unreliable):
- **non-monotone**: a larger train size scored worse than a smaller one, and the drop is
  real: the 95% bootstrap interval of the difference (same resampled items for both
  points) lies wholly below zero. A learning curve that falls means the arm is unstable at
  this budget (seed, steps, learning rate), not that data hurts; the power law cannot
  describe it.
- **fit at a bound**: the exponent c ended at a bound of its range (0.001 or 3) while the
  curve is not flat (b > 0), or, for a proportion, the asymptote a ended at 100% while the
  best measured point is more than 10 points below it: the three points do not pin the form
  down, so n* is an artefact of the bounds.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, Field

__all__ = ["CurveFit", "FORM", "fit_power_law", "needed_n", "fit_curve", "non_monotone", "bound_warnings"]

FORM = "m(n) = a - b * n^(-c)"
C_BOUNDS = (1e-3, 3.0)  # the exponent's range in the fit
A_GAP = 0.10  # a proportion's asymptote at 100% with the best point further below than this: a bound artefact


class CurveFit(BaseModel):
    """The fitted curve of one arm and what it says about reaching a target."""

    arm: str
    metric: str
    form: str = FORM
    a: float | None = None
    b: float | None = None
    c: float | None = None
    target: float | None = Field(None, description="the metric to reach (the best other arm's)")
    target_arm: str | None = None
    target_split: str | None = None
    n_max: int = Field(0, description="largest train size observed")
    range_max: float = Field(0, description="n_max x max_extrapolation: the curve is not read beyond it")
    needed_n: float | None = Field(None, description="examples needed to reach the target (point estimate); None: never")
    low: float | None = None
    high: float | None = Field(None, description="None: beyond the range (or never) at the 97.5th percentile")
    status: Literal["reached", "extrapolated", "not-reached", "no-target", "fit-failed"] = "fit-failed"
    resamples: int = 0
    failed_resamples: int = 0
    method: str = ""
    message: str = ""
    warnings: list[str] = Field(default_factory=list, description="why the reading is unreliable (non-monotone, fit at a bound)")


def _model(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(n, -c)


def fit_power_law(ns: Sequence[float], ys: Sequence[float], proportion: bool = True) -> tuple[float, float, float] | None:
    """(a, b, c) of m(n) = a - b n^-c by bounded least squares; None when the fit fails."""
    from scipy.optimize import curve_fit

    x, y = np.asarray(ns, dtype=float), np.asarray(ys, dtype=float)
    hi_a = 1.0 if proportion else np.inf
    lo_a = 0.0 if proportion else -np.inf
    a0 = min(max(float(y.max()) + 0.02, lo_a + 1e-6), hi_a - 1e-6) if proportion else float(y.max()) + 0.02
    c0 = 0.5
    b0 = max((a0 - float(y.min())) * float(x.min()) ** c0, 1e-6)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OptimizeWarning: covariance not estimable with 3 points
            params, _ = curve_fit(_model, x, y, p0=(a0, b0, c0), method="trf", maxfev=20000,
                                  bounds=((lo_a, 0.0, C_BOUNDS[0]), (hi_a, np.inf, C_BOUNDS[1])))
    except (RuntimeError, ValueError):
        return None
    a, b, c = (float(v) for v in params)
    return (a, b, c) if all(math.isfinite(v) for v in (a, b, c)) else None


def needed_n(a: float, b: float, c: float, target: float) -> float:
    """Examples at which the curve reaches `target` (0 when it starts above it; inf: never)."""
    if b <= 0:
        return 0.0 if a >= target else math.inf
    if a <= target:
        return math.inf
    return (b / (a - target)) ** (1.0 / c)


def non_monotone(ns: Sequence[int], stat: Callable[[np.ndarray | None], list[float]], n_items: int, sign: float,
                 resamples: int, seed: int) -> list[str]:
    """Drops between consecutive train sizes whose bootstrap 95% interval lies below zero."""
    order = sorted(range(len(ns)), key=lambda i: ns[i])
    ys = [sign * v for v in stat(None)]
    drops = [(i, j) for i, j in zip(order, order[1:]) if ys[j] < ys[i]]
    if not drops or n_items < 2:
        return []
    rng = np.random.default_rng(seed + 1)
    diffs: dict[tuple[int, int], list[float]] = {d: [] for d in drops}
    for _ in range(max(resamples, 200)):
        idx = rng.integers(0, n_items, size=n_items)
        v = [sign * x for x in stat(idx)]
        for i, j in drops:
            diffs[(i, j)].append(v[j] - v[i])
    out = []
    for (i, j), d in diffs.items():
        high = float(np.percentile(d, 97.5))
        if high < 0:
            out.append(f"non-monotone: {ns[j]} examples scored {sign * ys[j]:.1%} against {sign * ys[i]:.1%} at "
                       f"{ns[i]} (drop {ys[i] - ys[j]:.1%}, 95% bootstrap interval of the difference below zero): "
                       "the arm is unstable at this budget")
    return out


def bound_warnings(a: float, b: float, c: float, best: float, proportion: bool) -> list[str]:
    """The fitted parameters sitting on the bounds of their range (see module docstring)."""
    out = []
    if b > 1e-9 and (c <= C_BOUNDS[0] * 1.01 or c >= C_BOUNDS[1] * 0.999):
        out.append(f"fit at a bound: the exponent c = {c:.3g} sits at the edge of its range "
                   f"[{C_BOUNDS[0]:g}, {C_BOUNDS[1]:g}]")
    if proportion and a >= 0.999 and best < a - A_GAP:
        out.append(f"fit at a bound: the asymptote a sits at 100% while the best point is {best:.1%}")
    return out


def fit_curve(arm: str, metric: str, ns: Sequence[int], stat: Callable[[np.ndarray | None], list[float]], n_items: int,
              target: float | None, target_arm: str | None, target_split: str | None, higher_is_better: bool = True,
              proportion: bool = True, max_extrapolation: float = 10.0, resamples: int = 1000,
              seed: int = 0) -> CurveFit:
    """Fit the curve and read off the examples needed to reach `target`.

    `stat(idx)` returns the metric at every point on the evaluation items `idx` (None: all).
    """
    sign = 1.0 if higher_is_better else -1.0
    ys = [sign * v for v in stat(None)]
    out = CurveFit(arm=arm, metric=metric, target=target, target_arm=target_arm, target_split=target_split,
                   n_max=int(max(ns)), range_max=float(max(ns)) * max_extrapolation,
                   method=(f"bounded least squares (scipy curve_fit, trf) on {len(ns)} points; 95% interval of n* by "
                           f"percentile bootstrap over the {n_items} evaluation items ({resamples} resamples, seed {seed})"))
    fitted = fit_power_law(ns, ys, proportion and higher_is_better)
    if fitted is None:
        out.message = f"the curve {FORM} could not be fitted to {len(ns)} points"
        return out
    out.a, out.b, out.c = sign * fitted[0], sign * fitted[1], fitted[2]
    out.warnings = (non_monotone(ns, stat, n_items, sign, resamples, seed)
                    + bound_warnings(*fitted, max(ys), proportion and higher_is_better))
    if target is None:
        out.status = "no-target"
        out.message = "no other arm to compare with"
        return _caveat(out)
    t = sign * target

    def reach(params: tuple[float, float, float], observed: Sequence[float]) -> float:
        """n* from the fit, or the smallest size whose measured metric already meets the target."""
        met = [n for n, y in zip(ns, observed) if y >= t]
        return min(float(min(met)), needed_n(*params, t)) if met else needed_n(*params, t)

    point = reach(fitted, ys)
    rng = np.random.default_rng(seed)
    draws, failed = [], 0
    for _ in range(resamples):
        idx = rng.integers(0, n_items, size=n_items)
        observed = [sign * v for v in stat(idx)]
        f = fit_power_law(ns, observed, proportion and higher_is_better)
        if f is None:
            failed += 1
            continue
        draws.append(reach(f, observed))
    out.resamples, out.failed_resamples = len(draws), failed
    if draws:
        arr = np.asarray(draws)  # order statistics, not interpolation: inf (never reached) is a valid draw
        lo, hi = float(np.percentile(arr, 2.5, method="lower")), float(np.percentile(arr, 97.5, method="higher"))
        out.low = float(lo) if math.isfinite(lo) and lo <= out.range_max else None
        out.high = float(hi) if math.isfinite(hi) and hi <= out.range_max else None
    out.needed_n = point if math.isfinite(point) else None
    who = f"{target_arm}'s {metric} {target:.1%}" if target_arm else f"{metric} {target:.1%}"
    interval = (f" [{'%.0f' % out.low if out.low is not None else 'beyond range'}, "
                f"{'%.0f' % out.high if out.high is not None else 'beyond range'}]")
    if point <= out.n_max:
        out.status = "reached"
        out.message = f"{arm} reaches {who} at about {max(point, 1):.0f} labelled examples{interval} (within the data)"
    elif point <= out.range_max:
        out.status = "extrapolated"
        out.message = (f"{arm} would reach {who} at about {point:.0f} labelled examples{interval}, "
                       f"{point / out.n_max:.1f}x the {out.n_max} it was given (extrapolated)")
    else:
        out.status = "not-reached"
        out.message = (f"{arm} does not reach {who} within {max_extrapolation:g}x its data "
                       f"({out.range_max:.0f} examples; fitted asymptote {out.a:.1%})")
    return _caveat(out)


def _caveat(out: CurveFit) -> CurveFit:
    if out.warnings:
        out.message += "; this reading is unreliable: " + "; ".join(out.warnings)
    return out
