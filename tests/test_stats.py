"""Tests for advisor.decision.stats: reference values from statsmodels/numpy, published and hand-worked examples."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from advisor.decision import stats as S
from advisor.decision.stats import (
    bootstrap_interval,
    mcnemar_exact,
    min_detectable_effect,
    paired_accuracy_delta_interval,
    paired_bootstrap,
    percentiles,
    wilson_interval,
)


def _pairs(both: int, b_only: int, a_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Per-item correctness vectors (a, b) realising the given paired 2x2 counts."""
    a = [True] * both + [False] * b_only + [True] * a_only + [False] * neither
    b = [True] * both + [True] * b_only + [False] * a_only + [False] * neither
    return a, b


# --- Wilson -------------------------------------------------------------------------------------


def test_wilson_hand_value() -> None:
    # 7/10 at 95%: z^2 = 3.841459, centre = (0.7 + 0.192073) / 1.384146 = 0.644493,
    # half = 1.959964 * sqrt(0.021 + 0.0096036) / 1.384146 = 0.247715.
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.396778, abs=1e-6)
    assert high == pytest.approx(0.892209, abs=1e-6)


@pytest.mark.parametrize(
    ("successes", "n", "confidence"),
    [(0, 10, 0.95), (10, 10, 0.95), (7, 10, 0.95), (1, 3, 0.9), (412, 500, 0.99), (5000, 12000, 0.8)],
)
def test_wilson_matches_statsmodels(successes: int, n: int, confidence: float) -> None:
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    ref = proportion.proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert wilson_interval(successes, n, confidence) == pytest.approx(ref, abs=1e-10)


def test_wilson_bounds_at_extremes() -> None:
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == 1.0


@pytest.mark.parametrize(
    ("successes", "n", "confidence"), [(0, 0, 0.95), (3, 2, 0.95), (-1, 5, 0.95), (1, 5, 1.0), (1, 5, 0.0)]
)
def test_wilson_bad_inputs(successes: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, n, confidence)


# --- McNemar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cells",
    [
        (30, 0, 0, 20),  # all equal: no discordant items
        (10, 8, 0, 2),  # one-sided: B fixes 8 items, breaks none
        (10, 0, 8, 2),  # one-sided the other way
        (40, 5, 5, 10),  # balanced
        (59, 6, 16, 80),
        (0, 1, 0, 0),  # a single discordant item
        (3100, 400, 330, 1170),  # large table, n = 5000
    ],
)
def test_mcnemar_matches_statsmodels(cells: tuple[int, int, int, int]) -> None:
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    both, b_only, a_only, neither = cells
    a, b = _pairs(*cells)
    res = mcnemar_exact(a, b)
    assert (res.n, res.b_only, res.a_only, res.discordant) == (sum(cells), b_only, a_only, b_only + a_only)
    table = [[both, a_only], [b_only, neither]]  # rows: A right/wrong, columns: B right/wrong
    ref = contingency.mcnemar(table, exact=True).pvalue
    assert res.p_value == pytest.approx(ref, rel=1e-12, abs=1e-300)
    assert 0.0 <= res.p_value <= 1.0


def test_mcnemar_hand_values() -> None:
    assert mcnemar_exact(*_pairs(5, 0, 0, 5)).p_value == 1.0
    assert mcnemar_exact(*_pairs(0, 8, 0, 0)).p_value == pytest.approx(2 / 2**8)  # 2 * 0.5^8
    assert mcnemar_exact(*_pairs(0, 1, 1, 0)).p_value == 1.0  # 2 * 0.75 capped at 1


def test_mcnemar_bad_inputs() -> None:
    with pytest.raises(ValueError, match="length"):
        mcnemar_exact([True, False], [True])
    with pytest.raises(ValueError):
        mcnemar_exact([], [])
    with pytest.raises(ValueError):
        mcnemar_exact([0, 2], [1, 1])


# --- bootstrap_interval -------------------------------------------------------------------------


def test_bootstrap_contains_true_mean_and_narrows_with_n() -> None:
    rng = np.random.default_rng(123)
    small = rng.normal(loc=0.3, scale=1.0, size=40)
    large = rng.normal(loc=0.3, scale=1.0, size=4000)
    lo_s, hi_s = bootstrap_interval(small)
    lo_l, hi_l = bootstrap_interval(large)
    assert lo_s < 0.3 < hi_s and lo_l < 0.3 < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5  # width ~ 1/sqrt(n): 10x more data -> ~10x narrower


def test_bootstrap_seeded_determinism() -> None:
    values = np.random.default_rng(7).random(150)
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    assert bootstrap_interval(values, seed=3) != bootstrap_interval(values, seed=4)


def test_bootstrap_chunking_and_callable_path_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(8).random(300)
    reference = bootstrap_interval(values, n_resamples=500)
    monkeypatch.setattr(S, "_CHUNK_ELEMENTS", 1000)  # 3 resamples per chunk
    assert bootstrap_interval(values, n_resamples=500) == pytest.approx(reference, abs=1e-12)
    slow = bootstrap_interval(values, statistic=lambda v: float(np.mean(v)), n_resamples=500)
    assert slow == pytest.approx(reference, abs=1e-12)


def test_bootstrap_arbitrary_statistic() -> None:
    values = np.arange(100, dtype=float)
    lo, hi = bootstrap_interval(values, statistic=lambda v: float(np.percentile(v, 90)), n_resamples=300)
    assert lo <= 89.1 <= hi and 70 < lo and hi <= 99


def test_bootstrap_constant_input() -> None:
    assert bootstrap_interval([0.1] * 50) == (pytest.approx(0.1), pytest.approx(0.1))
    assert bootstrap_interval([2.0]) == (2.0, 2.0)


@pytest.mark.parametrize(
    "kwargs", [{"values": []}, {"values": [1.0, float("nan")]}, {"values": [1.0, 2.0], "confidence": 1.5},
               {"values": [1.0, 2.0], "n_resamples": 0}, {"values": [[1.0, 2.0]]}]
)
def test_bootstrap_bad_inputs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        bootstrap_interval(**kwargs)


# --- paired_bootstrap ---------------------------------------------------------------------------


def test_paired_bootstrap_clear_difference() -> None:
    rng = np.random.default_rng(11)
    a = rng.normal(size=200)
    b = a + 0.5 + rng.normal(scale=0.2, size=200)
    res = paired_bootstrap(a, b, n_resamples=2000)
    assert res.delta == pytest.approx(float(np.mean(b) - np.mean(a)))
    assert 0.3 < res.ci_low < res.delta < res.ci_high < 0.7
    assert res.p_value == pytest.approx(2 / 2001)  # no resampled delta <= 0
    flipped = paired_bootstrap(b, a, n_resamples=2000)
    assert flipped.delta == pytest.approx(-res.delta)
    assert (flipped.ci_low, flipped.ci_high) == pytest.approx((-res.ci_high, -res.ci_low))


def test_paired_bootstrap_identical_inputs() -> None:
    a = np.random.default_rng(12).random(100)
    res = paired_bootstrap(a, a.copy())
    assert res.delta == 0.0 and res.p_value == 1.0
    assert (res.ci_low, res.ci_high) == (0.0, 0.0)


def test_paired_bootstrap_noise_gives_large_p_and_is_deterministic() -> None:
    a = [1, 0, 1, 1, 0, 1, 0, 1, 1, 0] * 5
    b = [1, 1, 0, 1, 0, 1, 0, 1, 0, 1] * 5  # same accuracy, different items
    res = paired_bootstrap(a, b, n_resamples=1000, seed=5)
    assert res.delta == 0.0 and res.p_value == 1.0 and res.ci_low < 0 < res.ci_high
    assert paired_bootstrap(a, b, n_resamples=1000, seed=5) == res


def test_paired_bootstrap_bad_inputs() -> None:
    with pytest.raises(ValueError, match="length"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


# --- Newcombe paired interval -------------------------------------------------------------------


def test_newcombe_published_example() -> None:
    # Cavo et al. (2012) table [[59, 6], [16, 80]] as worked in Fagerland, Lydersen & Laake (2017),
    # ch. 8: difference -0.0621, Newcombe square-and-add 95% CI -0.1186 to -0.0046.
    # Rows there are our arm B, columns arm A.
    low, high = paired_accuracy_delta_interval(*_pairs(59, 6, 16, 80))
    assert low == pytest.approx(-0.1186, abs=5e-5)
    assert high == pytest.approx(-0.0046, abs=5e-5)


def test_newcombe_symmetry_and_degenerate_cases() -> None:
    a, b = _pairs(14, 5, 0, 22)
    low, high = paired_accuracy_delta_interval(a, b)
    assert low < 5 / 41 < high
    assert paired_accuracy_delta_interval(b, a) == pytest.approx((-high, -low))
    low, high = paired_accuracy_delta_interval(*_pairs(20, 0, 0, 20))  # arms agree on every item
    assert low < 0 < high and low == pytest.approx(-high)
    low, high = paired_accuracy_delta_interval(*_pairs(0, 10, 0, 0))  # B right everywhere, A nowhere
    assert 0.5 < low < 1.0 and high == 1.0
    with pytest.raises(ValueError):
        paired_accuracy_delta_interval([True], [True, False])


# --- minimum detectable effect ------------------------------------------------------------------


def test_mde_hand_value_and_connor_round_trip() -> None:
    # n=100, baseline 0.7 -> psi = 2*0.7*0.3 = 0.42; z_a = 1.959964, z_b = 0.841621:
    # d = sqrt(0.42) * (1.959964*10 + 0.841621*sqrt(100 - 3.841459 + 0.708326)) / (100 + 0.708326)
    #   = 0.648074 * 27.88295 / 100.708326 = 0.179431
    mde = min_detectable_effect(100, 0.7)
    assert mde == pytest.approx(0.179431, abs=1e-6)
    z_a, z_b, psi = NormalDist().inv_cdf(0.975), NormalDist().inv_cdf(0.8), 0.42
    n_back = (z_a * math.sqrt(psi) + z_b * math.sqrt(psi - mde**2)) ** 2 / mde**2  # Connor (1987)
    assert n_back == pytest.approx(100, rel=1e-9)


def test_mde_monotone_in_n_and_options() -> None:
    values = [min_detectable_effect(n, 0.8) for n in range(1, 3000)]
    assert all(x >= y for x, y in zip(values, values[1:]))
    finite = [v for v in values if math.isfinite(v)]
    assert len(finite) > 2900 and all(x > y for x, y in zip(finite, finite[1:]))
    assert min_detectable_effect(3, 0.8) == math.inf  # n <= z^2: nothing is detectable
    assert min_detectable_effect(500, 0.7, discordance=0.1) < min_detectable_effect(500, 0.7)
    assert min_detectable_effect(500, 0.7, power=0.9) > min_detectable_effect(500, 0.7)
    assert min_detectable_effect(500, 0.7, alpha=0.01) > min_detectable_effect(500, 0.7)


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0, "baseline": 0.5}, {"n": 10, "baseline": 1.2}, {"n": 10, "baseline": 1.0},
     {"n": 10, "baseline": 0.5, "alpha": 0.0}, {"n": 10, "baseline": 0.5, "power": 1.0},
     {"n": 10, "baseline": 0.5, "discordance": 0.0}],
)
def test_mde_bad_inputs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        min_detectable_effect(**kwargs)


# --- percentiles --------------------------------------------------------------------------------


def test_percentiles_match_numpy() -> None:
    values = np.random.default_rng(2).exponential(scale=1.5, size=101)  # latencies, seconds
    out = percentiles(values, qs=(0, 50, 95, 99.9, 100))
    assert list(out) == ["p0", "p50", "p95", "p99.9", "p100"]
    for q, key in zip((0, 50, 95, 99.9, 100), out):
        assert out[key] == pytest.approx(float(np.percentile(values, q)), rel=1e-12)
    assert percentiles([1, 2, 3, 4]) == {"p50": 2.5, "p95": pytest.approx(3.85)}


def test_percentiles_bad_inputs() -> None:
    with pytest.raises(ValueError):
        percentiles([])
    with pytest.raises(ValueError):
        percentiles([1.0, 2.0], qs=(101,))


# --- scipy-backed Wilson / McNemar equal the closed forms they replaced, on a table of cases ---

def _wilson_closed_form(successes: int, n: int, confidence: float) -> tuple[float, float]:
    import math
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


WILSON_TABLE = [(s, n, c) for n in (1, 2, 5, 10, 37, 100, 1000) for s in sorted({0, 1, n // 3, n // 2, n - 1, n})
                for c in (0.8, 0.9, 0.95, 0.99)]


@pytest.mark.parametrize("successes,n,confidence", WILSON_TABLE)
def test_wilson_via_scipy_equals_the_closed_form(successes: int, n: int, confidence: float) -> None:
    assert wilson_interval(successes, n, confidence) == pytest.approx(_wilson_closed_form(successes, n, confidence),
                                                                     abs=1e-12)


@pytest.mark.parametrize("a_only,b_only", [(0, 0), (0, 1), (1, 1), (0, 8), (3, 9), (9, 3), (5, 5), (2, 17),
                                           (40, 61), (100, 130), (0, 300)])
def test_mcnemar_via_scipy_binomtest_equals_twice_the_binomial_tail(a_only: int, b_only: int) -> None:
    from scipy.stats import binom

    d = a_only + b_only
    expected = 1.0 if d == 0 else min(1.0, 2.0 * float(binom.cdf(min(a_only, b_only), d, 0.5)))
    got = mcnemar_exact(*_pairs(4, b_only, a_only, 3)).p_value
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_one_bootstrap_engine_matches_a_per_resample_loop_and_one_p_value_formula() -> None:
    from advisor.decision.stats import bootstrap_p_value, index_bootstrap, per_resample

    vals = np.random.default_rng(1).normal(size=23)
    engine = index_bootstrap([lambda idx: vals[idx].mean(axis=1), per_resample(lambda row: float(np.median(vals[row])))],
                             len(vals), 300, seed=9)
    rng = np.random.default_rng(9)  # the plain loop both old engines were equivalent to
    loop = np.array([[vals[i].mean(), np.median(vals[i])] for i in (rng.integers(0, 23, size=23) for _ in range(300))])
    np.testing.assert_allclose(engine, loop, rtol=1e-12)
    deltas = np.array([-0.5, 0.1, 0.2, 0.3])
    assert bootstrap_p_value(deltas, 0.25) == pytest.approx(2 * 2 / 5)  # one delta <= 0, +1
    assert bootstrap_p_value(deltas, -0.1) == pytest.approx(1.0)  # three >= 0: 2*4/5 capped
    assert bootstrap_p_value(deltas, 0.0) == 1.0
    with pytest.raises(ValueError, match="no items"):
        index_bootstrap([lambda idx: idx.mean(axis=1)], 0, 10, seed=0)
