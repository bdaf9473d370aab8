"""Warnings the recommendation carries about the answers themselves, not the metric.

A metric can reward fluent inventions and cannot see an arm that mostly answers "The
answer is:". These checks read each arm's `quality` (advisor.evaluation.quality) and say so:
- `degenerate_lines`: every arm whose share of degenerate answers is above
  `evaluation.degenerate_threshold`;
- `ungrounded_lines`: the winner, when it retrieved passages and its answers' mean support by
  them is below `evaluation.grounded_threshold`, or when it ignores the gold passage on more
  than half of the items that name one.
They never change the winner: they are rationale lines a reader must see beside it.
"""

from __future__ import annotations

from typing import Sequence

from advisor import fmt
from advisor.evaluation.record import ArmResult
from advisor.spec.evaluation import EvaluationSpec

__all__ = ["degenerate_lines", "ungrounded_lines", "answer_flags"]


def degenerate_lines(arms: Sequence[ArmResult], threshold: float) -> list[str]:
    out = []
    for a in arms:
        q = a.quality
        if q is None or not q.n or q.degenerate_share <= threshold:
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in q.degenerate_by_kind.items())
        out.append(f"Warning: {a.name} gives degenerate answers on {fmt.pct(q.degenerate_share)} of {q.n} items "
                   f"({kinds}; threshold {fmt.pct(threshold)}); its metric is not a measure of real answers.")
    return out


def ungrounded_lines(arms: Sequence[ArmResult], winner: str | None, threshold: float) -> list[str]:
    arm = next((a for a in arms if a.name == winner), None)
    if arm is None or arm.quality is None:
        return []
    q, out = arm.quality, []
    if q.groundedness_mean is not None and q.groundedness_mean < threshold:
        out.append(f"Warning: the winner {winner} is weakly grounded: on average {fmt.pct(q.groundedness_mean)} of "
                   f"its answers' word pairs occur in the passages it retrieved (threshold {fmt.pct(threshold)}; "
                   f"{fmt.pct(q.grounded_share)} of answers are supported).")
    if q.gold_ignored_share is not None and q.gold_ignored_share > 0.5:
        out.append(f"Warning: the winner {winner} ignores the gold passage on {fmt.pct(q.gold_ignored_share)} of the "
                   f"{q.gold_n} items that name one (support below {fmt.pct(threshold)}): its answers may be "
                   "fluent but not taken from the documents.")
    return out


def answer_flags(arms: Sequence[ArmResult], winner: str | None, ev: EvaluationSpec) -> list[str]:
    """All answer-quality warning lines for a recommendation (empty when there is nothing to say)."""
    return ungrounded_lines(arms, winner, ev.grounded_threshold) + degenerate_lines(arms, ev.degenerate_threshold)
