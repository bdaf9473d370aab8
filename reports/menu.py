"""Report sections for the whole menu of arms: fine-tuning methods side by side, and whether
the classical (no-LLM) baseline matches the LLM arms.

Both read only the record: training facts from each arm's `prepare.training`, differences
from the recommendation's paired tests. "Matches" means not significantly worse on the
primary metric at the run's alpha (a paired test on the same test items), never "equal".
"""

from __future__ import annotations

from typing import Any

from advisor import fmt
from reports.data import ReportData

__all__ = ["fine_tuning_rows", "classical_verdicts", "FINE_TUNING_HEADERS"]

FINE_TUNING_HEADERS = ["arm", "strategy", "method", "trainable params", "share", "training s", "steps", "metric"]


def fine_tuning_rows(d: ReportData) -> list[list[str]]:
    """One row per arm that trained weights (adapter or full), when there are two or more."""
    rows = []
    for a in d.arms:
        t = a.prepare.training
        if t is None or not t.trainable_params:
            continue
        method = t.method or (t.resolved.method if t.resolved else None) or "lora"
        seconds = f"{t.wall_s:.1f}" + (" (cached)" if t.reused else "")
        rows.append([a.name, a.strategy, method, f"{t.trainable_params:,}", fmt.pct(t.trainable_share),
                     seconds, str(t.steps), fmt.pct(a.metrics.get(d.primary))])
    return rows if len(rows) >= 2 else []


def classical_verdicts(d: ReportData) -> list[str]:
    """Plain sentences: does each classical arm match (not significantly worse than) each LLM arm?"""
    rec = d.rec
    if rec is None:
        return []
    pairs = [p for p in rec.pairs if p.metric == d.primary]
    alpha = rec.assumptions.decision.alpha
    kinds = {a.name: a.strategy for a in d.arms if a.status == "ok"}
    lines = []
    for base in (n for n, s in kinds.items() if s == "classical"):
        worse, matched, better = [], [], []
        for other in (n for n, s in kinds.items() if s != "classical"):
            p = _pair(pairs, base, other)
            if p is None:
                continue
            delta, significant, p_value = p
            label = f"{other} ({fmt.points(delta)}, {fmt.p_value(p_value)})"
            (worse if significant and delta < 0 else better if significant else matched).append(label)
        if not (worse or matched or better):
            continue
        if not worse:
            lines.append(f"The classical baseline {base} (TF-IDF + logistic regression, no LLM) matches every LLM arm "
                         f"on {d.primary}: not significantly worse than any at alpha {alpha:g}"
                         + (f"; significantly better than {', '.join(better)}" if better else "")
                         + (f"; tied with {', '.join(matched)}" if matched else "") + ".")
        else:
            lines.append(f"The classical baseline {base} is significantly worse on {d.primary} than "
                         f"{', '.join(worse)}" + (f"; it matches {', '.join(matched)}" if matched else "")
                         + (f" and beats {', '.join(better)}" if better else "") + ".")
    return lines


def _pair(pairs: list[Any], base: str, other: str) -> tuple[float, bool, float] | None:
    """(delta = base - other, significant, p) from the paired test of the two arms."""
    for p in pairs:
        if p.b == base and p.a == other:
            return p.delta, p.significant, p.p_value
        if p.a == base and p.b == other:
            return -p.delta, p.significant, p.p_value
    return None
