"""Statistics for comparing evaluation "arms" (prompting, RAG, LoRA, ...) on the same test items.

Every arm is run on the *same* items, so comparisons are paired: per-item outcomes of two arms are
correlated and the right tools are paired tests (exact McNemar, paired bootstrap, Newcombe's paired
interval) rather than two-sample ones.  All functions are pure; every random procedure takes an
explicit integer ``seed`` and is deterministic for it.  Proportions and accuracies are fractions in
[0, 1] (not percent) unless stated otherwise.

scipy is imported lazily inside the functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "McNemarResult",
    "PairedResult",
    "bootstrap_interval",
    "bootstrap_p_value",
    "index_bootstrap",
    "per_resample",
    "percentile_interval",
    "mcnemar_exact",
    "min_detectable_effect",
    "paired_accuracy_delta_interval",
    "paired_bootstrap",
    "percentiles",
    "wilson_interval",
]

Statistic = Callable[..., float]

# numpy reductions that accept ``axis=1``: applied to a whole (resamples, items) matrix at once.
_AXIS_REDUCTIONS: tuple[Callable[..., object], ...] = (
    np.mean, np.median, np.sum, np.std, np.var, np.min, np.max, np.nanmean, np.nanmedian,
)
# Upper bound on resample-index matrix size per chunk (elements; 2**20 int64 = 8 MiB).
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test of arm A vs arm B on the same items (counts are numbers of items)."""

    n: int  # items compared
    b_only: int  # items where A is wrong and B is right
    a_only: int  # items where A is right and B is wrong
    discordant: int  # b_only + a_only
    p_value: float  # two-sided exact binomial p-value, in [0, 1]


@dataclass(frozen=True)
class PairedResult:
    """Paired-bootstrap comparison; ``delta`` is statistic(B) - statistic(A), in the data's units."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided bootstrap p-value, in (0, 1]


def _z(confidence: float) -> float:
    """Two-sided standard-normal critical value, e.g. 1.95996... for confidence 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _as_float_array(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; at least one value is required")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_bool_pair(
    a_correct: Sequence[bool], b_correct: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two per-item correctness vectors (bools or 0/1) of equal, non-zero length."""
    arrays = []
    for name, seq in (("a_correct", a_correct), ("b_correct", b_correct)):
        arr = np.asarray(seq)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name} must contain only booleans or 0/1 values")
        arrays.append(arr.astype(bool))
    a, b = arrays
    if a.size != b.size:
        raise ValueError(f"a_correct and b_correct differ in length: {a.size} != {b.size}")
    if a.size == 0:
        raise ValueError("a_correct and b_correct are empty; at least one item is required")
    return a, b


def _check_resampling(n_resamples: int) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        raise ValueError(f"n_resamples must be an integer, got {n_resamples!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")


def index_bootstrap(
    fns: Sequence[Callable[[np.ndarray], np.ndarray]], n: int, n_resamples: int, seed: int
) -> np.ndarray:
    """The one bootstrap engine: (n_resamples, len(fns)) statistics over shared item resamples.

    Each ``fn`` maps a (rows, n) matrix of resampled item indices to ``rows`` statistics. The
    same indices serve every fn, which is what makes a paired bootstrap paired. Indices are
    drawn in chunks of at most ~_CHUNK_ELEMENTS (bounded memory); numpy's generator yields the
    same stream whatever the chunking, so results depend only on ``seed``.
    """
    _check_resampling(n_resamples)
    if n < 1:
        raise ValueError("no items to resample")
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n)
    out = np.empty((n_resamples, len(fns)), dtype=float)
    for start in range(0, n_resamples, rows_per_chunk):
        rows = min(rows_per_chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(rows, n))
        for j, fn in enumerate(fns):
            values = np.asarray(fn(idx), dtype=float)
            if values.shape != (rows,):
                raise ValueError("statistic must return one scalar per resample")
            out[start : start + rows, j] = values
    return out


def per_resample(fn: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], np.ndarray]:
    """Adapt a statistic of one 1-D index array to `index_bootstrap` (one call per resample)."""
    return lambda idx: np.fromiter((fn(row) for row in idx), dtype=float, count=len(idx))


def _column_fn(column: np.ndarray, statistic: Statistic) -> Callable[[np.ndarray], np.ndarray]:
    """`statistic` of `column` over index resamples; numpy reductions run on the whole chunk."""
    if any(statistic is f for f in _AXIS_REDUCTIONS):  # identity: callables may be unhashable
        return lambda idx: statistic(column[idx], axis=1)
    return per_resample(lambda row: statistic(column[row]))


def percentile_interval(dist: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of a bootstrap distribution (numpy's default quantile method)."""
    alpha = 1.0 - confidence
    low, high = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_p_value(deltas: np.ndarray, observed: float) -> float:
    """The one two-sided bootstrap p-value: 2 * (k + 1) / (resamples + 1), capped at 1.

    k counts resampled deltas on the other side of zero from the observed delta (<= 0 when it
    is positive, >= 0 when negative); the +1 keeps it from being 0. Observed 0 gives 1.0.
    """
    if observed > 0:
        k = int(np.count_nonzero(deltas <= 0))
    elif observed < 0:
        k = int(np.count_nonzero(deltas >= 0))
    else:
        k = len(deltas)
    return min(1.0, 2.0 * (k + 1) / (len(deltas) + 1))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (e.g. one arm's accuracy).

    Preferred over the Wald interval because it stays inside [0, 1] and keeps near-nominal
    coverage at small n and at accuracies near 0 or 1, which is common for strong LLM arms.
    Computed by scipy (``binomtest(...).proportion_ci(method="wilson")``). Returns (low, high)
    as fractions.
    """
    if n <= 0:
        raise ValueError(f"n must be a positive number of trials, got {n}; no interval for 0 items")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    from scipy.stats import binomtest

    _z(confidence)  # validates confidence
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    # At 0 or n successes the bound is exactly 0 or 1; avoid rounding residue like 1e-17.
    low = 0.0 if successes == 0 else max(0.0, float(ci.low))
    high = 1.0 if successes == n else min(1.0, float(ci.high))
    return low, high


def bootstrap_interval(
    values: Sequence[float],
    statistic: Statistic = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval for ``statistic`` of per-item ``values`` (resampling items).

    Numpy reductions (np.mean, np.median, ...) are evaluated on a whole chunk of resamples with
    ``axis=1``; any other callable is called once per resample on a 1-D array.  Constant input
    returns (c, c) with c = statistic(values): the bootstrap distribution is degenerate.
    """
    arr = _as_float_array(values, "values")
    _z(confidence)  # validates confidence
    _check_resampling(n_resamples)
    if np.all(arr == arr[0]):
        c = float(statistic(arr))
        return c, c
    dist = index_bootstrap([_column_fn(arr, statistic)], arr.size, n_resamples, seed)[:, 0]
    return percentile_interval(dist, confidence)


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> McNemarResult:
    """Exact (binomial) McNemar test of whether arms A and B have the same accuracy.

    Only discordant items carry information; under H0 each is equally likely to favour A or B, so
    p = min(1, 2 * P[Binomial(discordant, 0.5) <= min(a_only, b_only)]), computed as scipy's
    two-sided ``binomtest(b_only, discordant, 0.5)`` (equal for the symmetric p = 0.5).  Same as
    statsmodels' ``mcnemar(table, exact=True)``.  With no discordant items p is 1.0.
    """
    from scipy.stats import binomtest

    a, b = _as_bool_pair(a_correct, b_correct)
    b_only = int(np.count_nonzero(~a & b))
    a_only = int(np.count_nonzero(a & ~b))
    discordant = a_only + b_only
    if discordant == 0:
        p_value = 1.0
    else:
        p_value = min(1.0, float(binomtest(b_only, discordant, 0.5).pvalue))
    return McNemarResult(n=int(a.size), b_only=b_only, a_only=a_only, discordant=discordant, p_value=p_value)


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Statistic = np.mean,
    n_resamples: int = 5000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedResult:
    """Paired bootstrap of delta = statistic(b) - statistic(a) over items (same indices for both).

    Works for any per-item metric (correctness 0/1, scores, latency in seconds).  CI: percentile
    interval of the resampled deltas.  p-value: `bootstrap_p_value`.
    """
    arr_a = _as_float_array(a, "a")
    arr_b = _as_float_array(b, "b")
    if arr_a.size != arr_b.size:
        raise ValueError(f"a and b differ in length: {arr_a.size} != {arr_b.size}")
    _z(confidence)
    _check_resampling(n_resamples)
    delta = float(statistic(arr_b)) - float(statistic(arr_a))
    dist = index_bootstrap([_column_fn(arr_a, statistic), _column_fn(arr_b, statistic)],
                           arr_a.size, n_resamples, seed)
    deltas = dist[:, 1] - dist[:, 0]
    low, high = percentile_interval(deltas, confidence)
    p_value = bootstrap_p_value(deltas, delta)
    return PairedResult(delta=delta, ci_low=float(low), ci_high=float(high), p_value=p_value)


def paired_accuracy_delta_interval(
    a_correct: Sequence[bool], b_correct: Sequence[bool], confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for accuracy(B) - accuracy(A) on the same items: Newcombe's paired method 10.

    Newcombe RG (1998), "Improved confidence intervals for the difference between binomial
    proportions based on paired data", Stat Med 17:2635-2650, method 10: square-and-add of the two
    marginal Wilson intervals, corrected for their correlation phi.  phi follows Newcombe's worked
    form as implemented in Fagerland, Lydersen & Laake (2017), "Statistical Analysis of Contingency
    Tables", ch. 8: numerator AD - BC, reduced by n/2 when above n/2, set to 0 when in [0, n/2],
    and phi = 0 when any margin is empty.  Chosen over Wald because it stays in [-1, 1] and has
    good coverage with few discordant items.
    """
    a, b = _as_bool_pair(a_correct, b_correct)
    n = int(a.size)
    both = int(np.count_nonzero(a & b))  # cell A (both right)
    b_only = int(np.count_nonzero(~a & b))  # cell B
    a_only = int(np.count_nonzero(a & ~b))  # cell C
    neither = n - both - b_only - a_only  # cell D
    n_b, n_a = both + b_only, both + a_only  # correct counts of B and A
    p1, p2 = n_b / n, n_a / n
    l1, u1 = wilson_interval(n_b, n, confidence)
    l2, u2 = wilson_interval(n_a, n, confidence)
    margins = (n_b, n - n_b, n_a, n - n_a)
    if min(margins) == 0:
        phi = 0.0
    else:
        num = float(both * neither - b_only * a_only)  # AD - BC
        num = num - n / 2 if num > n / 2 else (0.0 if num >= 0 else num)
        phi = num / math.sqrt(math.prod(float(m) for m in margins))
    diff = p1 - p2
    d1, d2 = p1 - l1, u2 - p2
    e1, e2 = u1 - p1, p2 - l2
    low = diff - math.sqrt(max(0.0, d1 * d1 + d2 * d2 - 2 * phi * d1 * d2))
    high = diff + math.sqrt(max(0.0, e1 * e1 + e2 * e2 - 2 * phi * e1 * e2))
    return max(-1.0, low), min(1.0, high)


def min_detectable_effect(
    n: int,
    baseline: float,
    alpha: float = 0.05,
    power: float = 0.8,
    discordance: float | None = None,
) -> float:
    """Smallest accuracy difference (fraction) a two-sided paired test on n items detects.

    Uses Connor's (1987, Biometrics 43:207-211) normal approximation to McNemar's test,
        n = (z_{1-alpha/2} sqrt(psi) + z_{power} sqrt(psi - d^2))^2 / d^2,
    solved exactly for d (larger root of the resulting quadratic).  psi is the expected fraction of
    discordant items; by default 2 * baseline * (1 - baseline), the rate for two independent arms
    at the baseline accuracy.  Arms scored on the same items are usually positively correlated
    (fewer discordant items), so this default is conservative (over-states the MDE).
    Returns math.inf when no achievable difference (d <= psi) is detectable, e.g. tiny n.
    """
    if n <= 0:
        raise ValueError(f"n must be a positive number of items, got {n}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    if not 0.0 <= baseline <= 1.0:
        raise ValueError(f"baseline accuracy must be a fraction in [0, 1], got {baseline!r}")
    if discordance is None:
        discordance = 2.0 * baseline * (1.0 - baseline)
        if discordance == 0.0:
            raise ValueError("baseline of 0 or 1 implies no discordant items; pass discordance explicitly")
    if not 0.0 < discordance <= 1.0:
        raise ValueError(f"discordance must be a fraction in (0, 1], got {discordance!r}")
    z_a = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    z_b = NormalDist().inv_cdf(power)
    if n <= z_a * z_a:  # even d = sqrt(psi) would not reach significance
        return math.inf
    root = (z_a * math.sqrt(n) + z_b * math.sqrt(n - z_a * z_a + z_b * z_b)) / (n + z_b * z_b)
    mde = math.sqrt(discordance) * root
    return mde if mde <= discordance else math.inf


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95)) -> dict[str, float]:
    """Percentiles of ``values`` (e.g. latency in seconds) keyed "p50", "p95", "p99.9", ...

    Linear interpolation between order statistics (numpy's default method).
    """
    arr = _as_float_array(values, "values")
    out: dict[str, float] = {}
    for q in qs:
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {q!r}")
        out[f"p{float(q):g}"] = float(np.percentile(arr, q))
    return out
