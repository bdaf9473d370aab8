"""Retrieval over a vector index, and retrieval-quality metrics.

`Retriever.retrieve(query)` embeds one query and searches the index for it alone, as a
served system answers one user at a time, timing the embedding and the search separately
(milliseconds, `time.perf_counter`). Results can be cut by a score threshold and
re-ranked for diversity with maximal marginal relevance (MMR, Carbonell & Goldstein 1998):
each next pick maximises lambda * sim(query, d) - (1 - lambda) * max sim(d, picked).

`recall_at_k` and `mrr` score ranked id lists against gold sets: recall@k is the share of
queries with at least one gold item in the first k, MRR the mean of 1 / rank of the first
gold item (0 when none was retrieved).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from advisor.retrieval.embed import Embedder
from advisor.retrieval.index import VectorIndex

__all__ = ["Hit", "Retrieved", "Retriever", "mmr", "recall_at_k", "mrr", "first_gold_rank"]


@dataclass(frozen=True)
class Hit:
    row: int  # position in the index's rows
    score: float  # cosine similarity to the query


@dataclass
class Retrieved:
    hits: list[Hit]
    embed_ms: float
    search_ms: float
    notes: list[str] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return self.embed_ms + self.search_ms


def mmr(query: np.ndarray, candidates: np.ndarray, scores: Sequence[float], k: int, lam: float) -> list[int]:
    """Indices into `candidates` picked by maximal marginal relevance (vectors normalised)."""
    if k <= 0 or len(candidates) == 0:
        return []
    sims = candidates @ candidates.T
    picked: list[int] = []
    left = list(range(len(candidates)))
    while left and len(picked) < k:
        def gain(i: int) -> float:
            redundancy = max((float(sims[i, j]) for j in picked), default=0.0)
            return lam * float(scores[i]) - (1 - lam) * redundancy
        best = max(left, key=gain)
        picked.append(best)
        left.remove(best)
    return picked


class Retriever:
    """Top-k search with an optional threshold and MMR, one query at a time."""

    def __init__(self, embedder: Embedder, index: VectorIndex, k: int, threshold: float | None = None,
                 mmr_lambda: float | None = None, fetch_k: int | None = None) -> None:
        self.embedder, self.index, self.k = embedder, index, k
        self.threshold, self.mmr_lambda = threshold, mmr_lambda
        self.fetch_k = fetch_k or (4 * k if mmr_lambda is not None else k)

    def warm_up(self) -> None:
        """One untimed query, so first-call set-up (thread pools, lazy init) is not measured."""
        self.retrieve("warm-up query")

    def retrieve(self, query: str, k: int | None = None) -> Retrieved:
        k = k or self.k
        t0 = time.perf_counter()
        qv = self.embedder.encode([query])[0]
        t1 = time.perf_counter()
        fetch = max(k, self.fetch_k)
        scores, idx = self.index.search(qv, fetch)
        hits = [Hit(int(i), float(s)) for s, i in zip(scores[0], idx[0]) if i >= 0]
        notes = []
        if self.threshold is not None:
            dropped = sum(1 for h in hits[:k] if h.score < self.threshold)
            if dropped:
                notes.append(f"score threshold {self.threshold} dropped {dropped} of the top {k}")
            hits = [h for h in hits if h.score >= self.threshold]
        if self.mmr_lambda is not None and len(hits) > 1:
            vecs = self.index.vectors[[h.row for h in hits]]
            order = mmr(qv, vecs, [h.score for h in hits], k, self.mmr_lambda)
            hits = [hits[i] for i in order]
        hits = hits[:k]
        t2 = time.perf_counter()
        return Retrieved(hits, (t1 - t0) * 1000, (t2 - t1) * 1000, notes)


def first_gold_rank(ranked: Sequence[Any], gold: set[Any]) -> int | None:
    """1-based rank of the first gold item, or None."""
    return next((i + 1 for i, item in enumerate(ranked) if item in gold), None)


def recall_at_k(ranked_lists: Sequence[Sequence[Any]], golds: Sequence[set[Any]], k: int) -> float:
    """Share of queries with a gold item among their first k results."""
    if not golds:
        raise ValueError("recall@k needs at least one query with gold items")
    hits = sum(1 for ranked, gold in zip(ranked_lists, golds) if any(item in gold for item in list(ranked)[:k]))
    return hits / len(golds)


def mrr(ranked_lists: Sequence[Sequence[Any]], golds: Sequence[set[Any]]) -> float:
    """Mean reciprocal rank of the first gold item (0 for a query whose gold was not retrieved)."""
    if not golds:
        raise ValueError("MRR needs at least one query with gold items")
    total = 0.0
    for ranked, gold in zip(ranked_lists, golds):
        rank = first_gold_rank(list(ranked), gold)
        total += 1.0 / rank if rank else 0.0
    return total / len(golds)
