"""RAFT-style training passages (Zhang et al. 2024, "RAFT: Adapting Language Model to
Domain Specific RAG"): the adapter learns to answer from retrieved passages, including
when the passage that holds the answer is missing.

Each training question is assigned, with a seed, one of three kinds of context:
- `gold`: the gold passage among distractors (the model learns to find and use it),
- `distractors`: distractors only (the model learns not to trust an irrelevant passage
  and to answer from what it knows),
- `retrieved`: the passages retrieval actually returns (what serving will show).
Distractors are retrieved passages that are not gold (hard negatives), best ranked first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

__all__ = ["ContextPlan", "assign_kinds", "compose"]

KINDS = ("gold", "distractors", "retrieved")


@dataclass
class ContextPlan:
    """How many training questions got each kind, and why some fell back to `retrieved`."""

    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    no_gold: int = 0  # gold asked for but the question names none / no chunk matched

    def as_dict(self) -> dict[str, int]:
        return {**self.counts, "gold_unknown_fell_back": self.no_gold}


def assign_kinds(ids: Sequence[str], gold_share: float, distractor_share: float, seed: int) -> dict[str, str]:
    """Sample id -> kind: a seeded shuffle, the first round(gold_share x n) get `gold`, the
    next round(distractor_share x n) `distractors`, the rest `retrieved`."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    n_gold = round(gold_share * len(order))
    n_dis = min(len(order) - n_gold, round(distractor_share * len(order)))
    kinds = {}
    for i, sid in enumerate(order):
        kinds[sid] = "gold" if i < n_gold else "distractors" if i < n_gold + n_dis else "retrieved"
    return kinds


def compose(kind: str, ranked: Sequence[str], gold: set[str] | None, top_k: int, rng: random.Random,
            plan: ContextPlan) -> list[str]:
    """Chunk ids (best first, or with the gold one at a random place) for one training question.

    `ranked` holds more candidates than `top_k` so enough distractors remain after the gold
    ones are removed. Without a known gold set, `gold` and `distractors` fall back to the
    retrieved passages (counted in `plan.no_gold`)."""
    if kind != "retrieved" and not gold:
        plan.no_gold += 1
        kind = "retrieved"
    plan.counts[kind] += 1
    if kind == "retrieved":
        return list(ranked[:top_k])
    assert gold is not None
    distractors = [c for c in ranked if c not in gold]
    if kind == "distractors":
        return distractors[:top_k]
    found = [c for c in ranked if c in gold]
    chosen = found[0] if found else sorted(gold)[0]
    out = distractors[:top_k - 1]
    out.insert(rng.randint(0, len(out)), chosen)
    return out
