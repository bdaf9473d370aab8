"""Report sections for tuning and seed spread: per arm the chosen configuration, what the
budget bought (best-so-far curve against trials spent) and each seed's metric.

Read from `ArmResult.tuning` and `ArmResult.seeds` only; absent sections render nothing.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from advisor import fmt
from reports.data import ReportData
from reports.svg import PALETTE, Chart

__all__ = ["tuning_blocks", "tuning_curves", "tuning_terminal", "seed_items"]


def _value(v: float | None) -> str:
    return "—" if v is None else fmt.pct(v)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "(own config)"


def _summary(t: Any) -> str:
    states = [tr.state for tr in t.trials]
    return (f"{len(states)} trials ({states.count('complete')} complete, {states.count('pruned')} pruned, "
            f"{states.count('failed')} failed) in {t.seconds:,.1f} s")


def seed_items(d: ReportData) -> list[str]:
    out = []
    for a in d.arms:
        s = a.seeds
        if s is None or s.n < 2:
            continue
        out.append(f"{a.name}: {s.metric} over {s.n} seeds ({s.what}) mean {fmt.pct(s.mean)}, std "
                   f"{100 * s.std:.1f} points, min {fmt.pct(s.low)}, max {fmt.pct(s.high)}; per seed "
                   + ", ".join(f"{seed}: {fmt.pct(v)}" for seed, v in zip(s.seeds, s.values)))
    return out


def tuning_blocks(d: ReportData) -> list:
    from reports.document import Block

    tuned = [a for a in d.arms if a.tuning is not None]
    out: list = []
    if tuned:
        t0 = tuned[0].tuning
        out.append(Block("h2", "Tuning (validation split only)"))
        out.append(Block("p", f"Every arm had the same budget ({', '.join(f'{k} {v:g}' for k, v in t0.budget.items())} "
                              f"per arm; sampler {t0.sampler}, pruner {t0.pruner}, seed {t0.seed}) to maximise "
                              f"{t0.metric} on {t0.validation_items} validation items; the test split was read once, "
                              "with the chosen configuration. Tuning seconds count as a one-off cost."))
        rows = [[a.name, _params(a.tuning.best_params), _value(a.tuning.baseline_value), _value(a.tuning.best_value),
                 _value(a.metrics.get(a.tuning.metric)), _summary(a.tuning),
                 "; ".join(f"{k} {v['range']}" for k, v in a.tuning.space.items()) or "nothing to tune"]
                for a in tuned]
        out.append(Block("table", headers=["arm", "chosen", "own config (val)", "best (val)", "test", "trials",
                                           "search space"], rows=rows))
    seeds = seed_items(d)
    if seeds:
        out.append(Block("h2", "Seed spread"))
        out.append(Block("ul", items=seeds))
    return out


def tuning_curves(d: ReportData) -> str | None:
    tuned = [a for a in d.arms if a.tuning is not None and a.tuning.best_so_far()]
    if not tuned:
        return None
    m = tuned[0].tuning.metric
    x = "seconds" if "seconds" in tuned[0].tuning.budget else "trials"  # the unit the budget was given in
    chart = Chart(f"best validation {m} so far against {x} spent", "trials" if x == "trials" else "tuning seconds",
                  f"{m} (%)")
    for i, a in enumerate(tuned):
        pts = [(bx, 100 * y) for bx, y in a.tuning.best_so_far(x)]
        color = PALETTE[i % len(PALETTE)]
        chart.line(pts, color, a.name)
        chart.points(pts, color)
    return chart.to_svg()


def tuning_terminal(d: ReportData) -> Table | None:
    tuned = [a for a in d.arms if a.tuning is not None]
    if not tuned:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="tuning (validation only)",
                  caption="best so far: validation value after each trial")
    for col in ("arm", "chosen", "val: own → best", "best so far", "trials"):
        table.add_column(col)
    for a in tuned:
        t = a.tuning
        curve = " ".join(f"{100 * v:.0f}" for _, v in t.best_so_far())
        pruned = sum(tr.state == "pruned" for tr in t.trials)
        table.add_row(a.name, _params(t.best_params), f"{_value(t.baseline_value)} → {_value(t.best_value)}", curve,
                      f"{len(t.trials)} ({pruned} pruned), {t.seconds:,.0f} s")
    return table
