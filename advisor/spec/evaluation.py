"""The `evaluation` block of a task file: extra metrics and the answer-quality checks.

Everything here is optional. `metrics` adds reported (not deciding) metrics beside the
primary one, e.g. `[semantic_similarity, rouge_l]` for long answers. The thresholds say when
the recommendation flags an arm: too many degenerate answers (empty, an echo of the
question, boilerplate only, a repetition loop), or a winner whose answers are not supported
by the passages it retrieved. `gold_passage_field` names a data field holding the passage
that answers each question; every arm then reports the share of answers that ignore it.
"""

from __future__ import annotations

from pydantic import Field

from advisor.spec.base import Strict

__all__ = ["EvaluationSpec"]


class EvaluationSpec(Strict):
    """Extra metrics and the thresholds of the answer-quality flags."""

    metrics: list[str] = Field(default_factory=list,
                               description="extra metrics reported beside the primary one (registry names)")
    degenerate_threshold: float = Field(
        0.2, ge=0, le=1, description="flag an arm whose share of degenerate answers is above this")
    grounded_threshold: float = Field(
        0.5, ge=0, le=1, description="an answer is supported when at least this share of its word bigrams occur "
                                     "in the passages; flag a retrieval winner whose mean support is below it")
    gold_passage_field: str | None = Field(
        None, description="data field holding each question's gold passage text (every arm: share ignoring it)")
