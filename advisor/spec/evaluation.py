"""The `evaluation` block of a task file: extra metrics and the answer-quality checks.

Everything here is optional. `metrics` adds reported (not deciding) metrics beside the
primary one, e.g. `[semantic_similarity, rouge_l]` for long answers. The thresholds say when
the recommendation flags an arm: too many degenerate answers (empty, an echo of the
question, boilerplate only, a repetition loop), or a winner whose answers are not supported
by the passages it retrieved. `gold_passage_field` names a data field holding the passage
that answers each question; every arm then reports the share of answers that ignore it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from advisor.spec.base import Strict
from advisor.spec.serving import ServingSpec

__all__ = ["EvaluationSpec", "JudgeSpec"]

class JudgeSpec(Strict):
    """A model that grades answers against the reference (the `judge` metric, reported, never primary)."""

    model: str = Field(description="judge model: registry name, local folder, or the served model name (openai)")
    backend: str = Field("transformers", description="registered backend the judge runs on (e.g. openai, vllm)")
    serving: ServingSpec | None = Field(None, description="HTTP backends: where the judge is served (default: `serving`)")
    rubric: str | None = Field(None, description="system prompt with the 1-5 grading rubric; default: the built-in one")
    max_new_tokens: int = Field(4, ge=1, le=64, description="tokens the judge may reply with (a digit is enough)")


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
    judge: JudgeSpec | None = Field(None, description="grade answers with a judge model (adds the `judge` metric)")

    @model_validator(mode="after")
    def _judge_not_listed(self) -> EvaluationSpec:
        if "judge" in self.metrics:
            raise ValueError("`judge` is added by an `evaluation.judge` block, not listed in `metrics`")
        return self
