"""Metrics for long answers: ROUGE-L F-measure and semantic similarity to the reference.

- `rouge_l`: ROUGE-L F-measure (longest common subsequence of words, Porter-stemmed) from the
  `rouge-score` package (Google's reference implementation), per item, averaged.
- `semantic_similarity`: cosine between the answer's and the reference's sentence embeddings
  from the shipped embedder (all-MiniLM-L6-v2), per item, averaged. An empty or missing
  answer scores 0. MiniLM cosines are not percentages: the shipped calibration set
  (`benchmarks/calibration/similarity_pairs.jsonl`, measured by
  `benchmarks/calibration/calibrate_similarity.py`; numbers in the README) says where
  paraphrases, fluent on-topic wrong answers and unrelated answers land.

Both are means of per-item values, so their intervals are percentile bootstraps over items
and pairs are compared by the paired bootstrap (`ci_method="bootstrap"`). The embedder is
loaded on first use and cached for the process (one run); embeddings are memoised by text,
so the decision layer's per-item recomputation embeds nothing twice. Tests inject a
model-free embedder with `use_embedder`.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Sequence

import numpy as np

from advisor.evaluation.scoring import Metric

__all__ = ["ROUGE_L", "SEMANTIC_SIMILARITY", "rouge_l", "semantic_similarities", "use_embedder", "embedder_identity",
           "SIMILARITY_EMBEDDER"]

SIMILARITY_EMBEDDER = "all-minilm-l6-v2"
_MEMO_MAX = 50_000  # texts whose embedding is kept (384 float32 each: ~75 MB at most)

_lock = threading.Lock()
_state: dict = {"embedder": None, "memo": {}}


def _embedder():
    with _lock:
        if _state["embedder"] is None:
            from advisor.retrieval.embed import load_embedder

            _state["embedder"] = load_embedder(SIMILARITY_EMBEDDER, threads=1)
        return _state["embedder"]


def embedder_identity() -> str | None:
    """The loaded similarity embedder's identity (None until first used)."""
    e = _state["embedder"]
    return getattr(e, "identity", None) if e is not None else None


@contextlib.contextmanager
def use_embedder(embedder) -> Iterator[None]:
    """Use `embedder` (any object with `encode` and `identity`) for semantic similarity, then restore."""
    with _lock:
        before = dict(_state)
        _state.update(embedder=embedder, memo={})
    try:
        yield
    finally:
        with _lock:
            _state.clear()
            _state.update(before)


def _encode(texts: list[str]) -> dict[str, np.ndarray]:
    embedder = _embedder()
    memo: dict[str, np.ndarray] = _state["memo"]
    todo = sorted({t for t in texts if t not in memo})
    if todo:
        vecs = embedder.encode(todo, batch_size=32)
        if len(memo) + len(todo) > _MEMO_MAX:
            memo.clear()
        memo.update(zip(todo, vecs))
    return {t: memo[t] for t in texts}


def semantic_similarities(predictions: Sequence[str | None], targets: Sequence[str]) -> list[float]:
    """Cosine of each (answer, reference) pair; 0 for an empty answer or reference."""
    pairs = [((p or "").strip(), (t or "").strip()) for p, t in zip(predictions, targets)]
    vecs = _encode([x for pair in pairs for x in pair if x])
    out = []
    for p, t in pairs:
        if not p or not t:
            out.append(0.0)
        else:
            out.append(float(np.clip(np.dot(vecs[p], vecs[t]), -1.0, 1.0)))
    return out


_scorer = None


def rouge_l(prediction: str | None, target: str) -> float:
    """ROUGE-L F-measure of one answer against its reference (0..1; 0 when either is empty)."""
    global _scorer
    if _scorer is None:
        from rouge_score import rouge_scorer

        _scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    if not (prediction or "").strip() or not (target or "").strip():
        return 0.0
    return float(_scorer.score(target, prediction)["rougeL"].fmeasure)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


ROUGE_L = Metric("rouge_l", True, False,
                 "mean ROUGE-L F-measure (longest common word subsequence, Porter stems; rouge-score) against the reference",
                 lambda t, p, _: _mean([rouge_l(a, b) for a, b in zip(p, t)]), item=rouge_l, ci_method="bootstrap")
SEMANTIC_SIMILARITY = Metric(
    "semantic_similarity", True, False,
    f"mean cosine between answer and reference embeddings ({SIMILARITY_EMBEDDER}); empty answers score 0",
    lambda t, p, _: _mean(semantic_similarities(p, t)), item=lambda p, t: semantic_similarities([p], [t])[0],
    ci_method="bootstrap")
