"""What the hybrid arms share: merging the serving arm's facts into the LoRA arm's record."""

from __future__ import annotations

from advisor.evaluation.sections import PrepareFacts
from advisor.evaluation.strategy import Estimate

__all__ = ["merge_prepare", "merge_estimates"]


def merge_prepare(out: PrepareFacts, serving: PrepareFacts) -> PrepareFacts:
    """The LoRA arm's prepare facts plus the serving arm's one-off costs (index builds) and
    index facts, so the cost model amortises both."""
    return out.model_copy(update={
        "one_off": list(out.one_off) + list(serving.one_off), "index": serving.index,
        "corpus_problems": list(serving.corpus_problems), "demonstrations": serving.demonstrations})


def merge_estimates(training: Estimate, serving: Estimate) -> Estimate:
    """Training keys from the LoRA arm's estimate, request keys from the serving arm's."""
    return serving.model_copy(update={"training_steps": training.training_steps, "train_tokens": training.train_tokens,
                                      "notes": list(training.notes) + list(serving.notes)})
