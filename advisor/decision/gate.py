"""`advisor compare BASELINE NEW`: per-arm deltas with tests, and a pass/fail gate for CI.

An arm fails the gate when its primary metric drops significantly (paired test where both
runs answered the same items, an unpaired one otherwise), or by more than `max_drop`, or
when it failed or disappeared; the run fails when the recommendation changed. Each check
can be switched off. The JUnit XML and Markdown writers are renderers (reports/gate.py,
registered in `advisor.registry.gate_writers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advisor import fmt
from advisor.errors import UserError
from advisor.evaluation.record import RunRecord, SampleRow, group_by_arm, read_record, read_samples
from advisor.decision.significance import item_values, pair_test
from advisor.evaluation.scoring import get_metric

__all__ = ["GateOptions", "ArmCheck", "Comparison", "compare_runs"]


@dataclass
class GateOptions:
    alpha: float = 0.05
    max_drop: float | None = 0.05  # fraction of the metric (0.05 = 5 points); None: no threshold
    fail_on_significant_drop: bool = True
    fail_on_recommendation_change: bool = True
    fail_on_missing_arm: bool = True


@dataclass
class ArmCheck:
    arm: str
    metric: str
    baseline: float | None
    new: float | None
    delta: float | None  # new - baseline
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    test: str = ""
    n: int = 0
    p95_ms: tuple[float | None, float | None] = (None, None)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    baseline: str
    new: str
    arms: list[ArmCheck]
    recommendation: tuple[str | None, str | None]
    failures: list[str]  # run-level

    @property
    def failed(self) -> bool:
        return bool(self.failures or any(a.failures for a in self.arms))


def _load(path: Path) -> tuple[RunRecord, dict[str, list[SampleRow]]]:
    record, run_dir = read_record(path)
    return record, group_by_arm(read_samples(run_dir))


def _unpaired(metric, base_rows, new_rows, labels) -> tuple[float, str]:
    from scipy import stats as sps

    a, b = item_values(metric, base_rows, labels), item_values(metric, new_rows, labels)
    if a is None or b is None:
        return float("nan"), "no unpaired test for a non-decomposable metric"
    if metric.proportion:
        table = [[int(a.sum()), len(a) - int(a.sum())], [int(b.sum()), len(b) - int(b.sum())]]
        return float(sps.fisher_exact(table).pvalue), "Fisher exact (items differ between runs)"
    if np.std(a) == 0 and np.std(b) == 0:
        return (1.0 if a.mean() == b.mean() else 0.0), "Welch t-test (constant items)"
    return float(sps.ttest_ind(a, b, equal_var=False).pvalue), "Welch t-test (items differ between runs)"


def compare_runs(baseline: Path, new: Path, options: GateOptions | None = None) -> Comparison:
    opts = options or GateOptions()
    base, base_rows = _load(baseline)
    cur, cur_rows = _load(new)
    if base.task.name != cur.task.name:
        raise UserError(f"{new}: task {cur.task.name!r} is not the baseline's task {base.task.name!r}")
    labels = cur.spec.labels
    checks: list[ArmCheck] = []
    for name in [a.name for a in base.arms] + [a.name for a in cur.arms if base.arm(a.name) is None]:
        b_arm, n_arm = base.arm(name), cur.arm(name)
        metric_name = (n_arm or b_arm).primary_metric or cur.spec.primary_metric
        check = ArmCheck(arm=name, metric=metric_name, baseline=None, new=None, delta=None)
        checks.append(check)
        if b_arm is None:
            check.new = n_arm.metrics.get(metric_name)
            check.notes.append("new arm (not in the baseline)")
            continue
        check.baseline = b_arm.metrics.get(metric_name)
        if n_arm is None:
            (check.failures if opts.fail_on_missing_arm else check.notes).append("arm missing from the new run")
            continue
        if n_arm.status != "ok":
            check.failures.append(f"arm {n_arm.status} in the new run" + (f": {n_arm.errors[0]}" if n_arm.errors else ""))
            continue
        if b_arm.status != "ok":
            check.notes.append(f"baseline arm was {b_arm.status}; nothing to compare against")
            continue
        check.new = n_arm.metrics.get(metric_name)
        check.p95_ms = (b_arm.latency.p95_ms, n_arm.latency.p95_ms)
        if check.baseline is None or check.new is None:
            check.notes.append(f"{metric_name} missing from one run")
            continue
        metric = get_metric(metric_name)
        check.delta = check.new - check.baseline
        rows_b, rows_n = base_rows.get(name, []), cur_rows.get(name, [])
        if rows_b and rows_n and {r.id for r in rows_b} == {r.id for r in rows_n}:
            t = pair_test(metric, "baseline", rows_b, "new", rows_n, labels, opts.alpha)
            check.low, check.high, check.p_value, check.test, check.n = t.low, t.high, t.p_value, f"paired: {t.test}", t.n
        elif rows_b and rows_n:
            check.p_value, check.test = _unpaired(metric, rows_b, rows_n, labels)
            check.n = min(len(rows_b), len(rows_n))
        else:
            check.test = "no samples.jsonl beside a run.json; delta only"
        drop = -check.delta if metric.higher_is_better else check.delta
        significant = check.p_value is not None and not math.isnan(check.p_value) and check.p_value < opts.alpha
        if drop > 0 and significant and opts.fail_on_significant_drop:
            check.failures.append(f"{metric_name} dropped {fmt.points(drop)}, significant ({fmt.p_value(check.p_value)})")
        if opts.max_drop is not None and drop > opts.max_drop + 1e-12:
            check.failures.append(f"{metric_name} dropped {fmt.points(drop)} > allowed {fmt.points(opts.max_drop)}")
    winners = (base.recommendation.winner if base.recommendation else None,
               cur.recommendation.winner if cur.recommendation else None)
    failures = []
    if winners[0] != winners[1] and opts.fail_on_recommendation_change:
        failures.append(f"recommendation changed: {winners[0] or 'none'} -> {winners[1] or 'none'}")
    return Comparison(str(baseline), str(new), checks, winners, failures)
