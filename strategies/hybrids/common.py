"""What the hybrid arms share: merging the serving arm's facts into the LoRA arm's record."""

from __future__ import annotations

from typing import Any

__all__ = ["merge_prepare", "merge_estimates"]


def merge_prepare(out: dict[str, Any], serving: dict[str, Any]) -> dict[str, Any]:
    """The LoRA arm's prepare facts plus the serving arm's one-off costs (index builds) and
    index facts, so the cost model amortises both."""
    out = dict(out)
    out["one_off"] = list(out.get("one_off", [])) + list(serving.get("one_off", []))
    for key in ("index", "corpus_problems", "demonstrations"):
        if key in serving:
            out[key] = serving[key]
    return out


def merge_estimates(training: dict[str, Any], serving: dict[str, Any]) -> dict[str, Any]:
    """Training keys from the LoRA arm's estimate, request keys from the serving arm's."""
    out = {k: v for k, v in serving.items() if k != "notes"}
    for key in ("training_steps", "train_tokens"):
        if key in training:
            out[key] = training[key]
    out["notes"] = list(training.get("notes", [])) + list(serving.get("notes", []))
    return out
