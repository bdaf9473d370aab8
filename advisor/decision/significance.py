"""How sure we are: a 95% interval for every arm's metrics, and a paired test for every pair.

Arms answer the same test items, so pairs are compared item by item:
- proportion metrics (accuracy, exact match): exact McNemar test on per-item correctness,
  Newcombe's paired interval for the difference, and the minimum detectable effect (Connor);
- other per-item metrics (token F1): paired bootstrap of the mean difference;
- macro-F1, which is not a mean over items: paired bootstrap recomputing it on resampled items.
Intervals for one arm: Wilson for proportions, seeded percentile bootstrap otherwise.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Callable, Sequence

import numpy as np

from advisor.decision import stats
from advisor.decision.types import MetricCI, PairTest
from advisor.evaluation.record import SampleRow
from advisor.evaluation.scoring import Metric

__all__ = ["MetricCI", "PairTest", "metric_ci", "pair_test", "item_values"]

N_RESAMPLES = 2000


def item_values(metric: Metric, rows: Sequence[SampleRow], labels: Sequence[str] | None) -> np.ndarray | None:
    """Each item's contribution to a decomposable metric (its mean is the metric), else None."""
    if not metric.decomposable:
        return None
    return np.array([metric.value([r.target], [r.prediction], labels) for r in rows], dtype=float)


def _macro_f1_fn(rows_list: Sequence[Sequence[SampleRow]], labels: Sequence[str] | None) -> list[Callable]:
    """Vectorised macro-F1 over index resamples, one function per arm (same label coding)."""
    targets = [r.target for r in rows_list[0]]
    names = list(labels) if labels else sorted(set(targets))
    code = {name: i for i, name in enumerate(names)}
    k = len(names)
    t = np.array([code.get(x, k) for x in targets])

    def make(rows: Sequence[SampleRow]) -> Callable[[np.ndarray], float]:
        p = np.array([code.get(r.prediction, k) if r.prediction is not None else k for r in rows])

        def f(idx: np.ndarray) -> float:
            tt, pp = t[idx], p[idx]
            tp = np.bincount(tt[tt == pp], minlength=k + 1)[:k]
            fp = np.bincount(pp, minlength=k + 1)[:k] - tp
            fn = np.bincount(tt, minlength=k + 1)[:k] - tp
            denom = 2 * tp + fp + fn
            f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
            return float(f1.mean())

        return f

    return [make(rows) for rows in rows_list]


def _recompute_fns(metric: Metric, rows_list: Sequence[Sequence[SampleRow]], labels) -> list[Callable]:
    if metric.name == "macro_f1":
        return _macro_f1_fn(rows_list, labels)

    def make(rows):
        targets, preds = [r.target for r in rows], [r.prediction for r in rows]
        return lambda idx: metric.value([targets[i] for i in idx], [preds[i] for i in idx], labels)

    return [make(rows) for rows in rows_list]


def _index_bootstrap(fns: list[Callable], n: int, seed: int, n_resamples: int) -> np.ndarray:
    """(n_resamples, len(fns)) statistics over shared item resamples."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, len(fns)))
    for r in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        out[r] = [f(idx) for f in fns]
    return out


def metric_ci(metric: Metric, rows: Sequence[SampleRow], labels: Sequence[str] | None, value: float,
              seed: int = 0, confidence: float = 0.95) -> MetricCI:
    """Interval for one arm's metric over its test items."""
    n = len(rows)
    if metric.ci_method == "wilson":
        successes = int(round(value * n))
        low, high = stats.wilson_interval(successes, n, confidence)
        return MetricCI(metric.name, value, low, high, n, "Wilson score interval")
    values = item_values(metric, rows, labels)
    if values is not None:
        low, high = stats.bootstrap_interval(values, confidence=confidence, n_resamples=N_RESAMPLES, seed=seed)
        return MetricCI(metric.name, value, low, high, n, f"percentile bootstrap over items ({N_RESAMPLES}, seed {seed})")
    (fn,) = _recompute_fns(metric, [rows], labels)
    dist = _index_bootstrap([fn], n, seed, N_RESAMPLES)[:, 0]
    alpha = 1 - confidence
    low, high = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    return MetricCI(metric.name, value, float(low), float(high), n,
                    f"percentile bootstrap recomputing {metric.name} on resampled items ({N_RESAMPLES}, seed {seed})")


def pair_test(metric: Metric, a_name: str, a_rows: Sequence[SampleRow], b_name: str, b_rows: Sequence[SampleRow],
              labels: Sequence[str] | None, alpha: float = 0.05, seed: int = 0) -> PairTest:
    """Paired comparison of B with A on the items both answered (rows aligned by id)."""
    b_by_id = {r.id: r for r in b_rows}
    pairs = [(r, b_by_id[r.id]) for r in a_rows if r.id in b_by_id]
    if not pairs:
        raise ValueError(f"arms {a_name} and {b_name} share no test items")
    a_rows, b_rows = [p[0] for p in pairs], [p[1] for p in pairs]
    n = len(pairs)
    confidence = 1 - alpha
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(0.8)
    if metric.proportion:
        a_items, b_items = item_values(metric, a_rows, labels), item_values(metric, b_rows, labels)
        a_ok, b_ok = a_items > 0.5, b_items > 0.5
        mc = stats.mcnemar_exact(a_ok, b_ok)
        low, high = stats.paired_accuracy_delta_interval(a_ok, b_ok, confidence)
        delta = float(b_ok.mean() - a_ok.mean())
        baseline = float((a_ok.mean() + b_ok.mean()) / 2)
        discordance = mc.discordant / n if mc.discordant else None
        try:
            mde = stats.min_detectable_effect(n, baseline, alpha=alpha, discordance=discordance) \
                if discordance or 0 < baseline < 1 else None
        except ValueError:
            mde = None
        return PairTest(a_name, b_name, metric.name, n, delta, low, high, mc.p_value, "exact McNemar (Newcombe CI)",
                        None if mde is None or math.isinf(mde) else mde, mc.p_value < alpha, mc.a_only, mc.b_only)
    a_items, b_items = item_values(metric, a_rows, labels), item_values(metric, b_rows, labels)
    if a_items is not None and b_items is not None:
        res = stats.paired_bootstrap(a_items, b_items, n_resamples=N_RESAMPLES, seed=seed, confidence=confidence)
        sd = float(np.std(b_items - a_items, ddof=1)) if n > 1 else 0.0
        mde = z * sd / math.sqrt(n) if sd > 0 else None
        return PairTest(a_name, b_name, metric.name, n, res.delta, res.ci_low, res.ci_high, res.p_value,
                        f"paired bootstrap of the mean ({N_RESAMPLES}, seed {seed})", mde, res.p_value < alpha)
    fa, fb = _recompute_fns(metric, [a_rows, b_rows], labels)
    all_idx = np.arange(n)
    delta = fb(all_idx) - fa(all_idx)
    dist = _index_bootstrap([fa, fb], n, seed, N_RESAMPLES)
    deltas = dist[:, 1] - dist[:, 0]
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    k = int(np.count_nonzero(deltas <= 0)) if delta > 0 else (int(np.count_nonzero(deltas >= 0)) if delta < 0 else N_RESAMPLES)
    p_value = min(1.0, 2.0 * (k + 1) / (N_RESAMPLES + 1))
    sd = float(np.std(deltas, ddof=1))
    return PairTest(a_name, b_name, metric.name, n, float(delta), float(low), float(high), p_value,
                    f"paired bootstrap recomputing {metric.name} ({N_RESAMPLES}, seed {seed})",
                    z * sd if sd > 0 else None, p_value < alpha)
