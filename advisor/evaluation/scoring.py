"""Task metrics and per-sample correctness.

Each metric declares whether higher is better, so the decision layer never assumes it.
Classification uses scikit-learn's implementations; QA and extraction use SQuAD-style
normalised exact match and token F1. A prediction of None (the model's output matched no
label) counts as wrong and shows in the confusion matrix as "(none)".
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

__all__ = ["Metric", "ScoreResult", "normalize_answer", "exact_match", "token_f1", "score", "METRICS",
           "get_metric", "ACCURACY", "MACRO_F1", "EXACT_MATCH", "TOKEN_F1", "CONTAINS_ANSWER", "contains_answer", "NONE_LABEL"]

NONE_LABEL = "(none)"
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and English articles, collapse whitespace (SQuAD)."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def exact_match(prediction: str | None, target: str) -> bool:
    return prediction is not None and normalize_answer(prediction) == normalize_answer(target)


def contains_answer(prediction: str | None, target: str) -> bool:
    """The normalised target occurs as whole words inside the normalised prediction (lenient QA)."""
    gold = normalize_answer(target)
    return bool(gold) and prediction is not None and f" {gold} " in f" {normalize_answer(prediction)} "


def token_f1(prediction: str | None, target: str) -> float:
    """Harmonic mean of token precision and recall after normalisation (0..1)."""
    pred = normalize_answer(prediction or "").split()
    gold = normalize_answer(target).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Metric:
    """A task-level metric. `proportion` metrics are means of 0/1 items (Wilson CIs apply);
    `decomposable` ones are means of per-item values (compute on one item gives its value),
    which paired tests need; macro-F1 is neither and is recomputed on resampled items."""

    name: str
    higher_is_better: bool
    proportion: bool
    description: str
    compute: Callable[[Sequence[str], Sequence[str | None], Sequence[str] | None], float] = field(repr=False)
    decomposable: bool = True
    # How its interval is computed: "wilson" (proportions), "bootstrap" (means of item values),
    # "recompute" (bootstrap recomputing the metric); None = derived from proportion/decomposable.
    ci_method: str | None = None


def _accuracy(targets, preds, labels) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(list(targets), [p if p is not None else NONE_LABEL for p in preds]))


def _macro_f1(targets, preds, labels) -> float:
    from sklearn.metrics import f1_score

    preds = [p if p is not None else NONE_LABEL for p in preds]
    labels = list(labels) if labels else sorted(set(targets))
    return float(f1_score(list(targets), preds, labels=labels, average="macro", zero_division=0))


def _mean(items) -> float:
    items = list(items)
    return sum(items) / len(items) if items else 0.0


ACCURACY = Metric("accuracy", True, True, "share of test items whose label is exactly right", _accuracy)
MACRO_F1 = Metric("macro_f1", True, False, "F1 averaged over labels with equal weight", _macro_f1, decomposable=False)
EXACT_MATCH = Metric("exact_match", True, True, "share of answers equal to the target after normalisation",
                     lambda t, p, _: _mean(exact_match(a, b) for a, b in zip(p, t)))
TOKEN_F1 = Metric("token_f1", True, False, "mean token-overlap F1 between answer and target",
                  lambda t, p, _: _mean(token_f1(a, b) for a, b in zip(p, t)))
CONTAINS_ANSWER = Metric("contains_answer", True, True,
                         "share of answers that contain the target's words in order, after normalisation",
                         lambda t, p, _: _mean(contains_answer(a, b) for a, b in zip(p, t)))
METRICS = {m.name: m for m in (ACCURACY, MACRO_F1, EXACT_MATCH, TOKEN_F1, CONTAINS_ANSWER)}
_CONTINUOUS = ("rouge_l", "semantic_similarity")
_BY_TYPE = {
    "classification": ("accuracy", "macro_f1"),
    "qa": ("exact_match", "token_f1"),
    "extraction": ("exact_match", "token_f1"),
    "generation": ("token_f1", "exact_match"),
}


@dataclass
class ScoreResult:
    """Metric values, per-item correctness (and item score), and a confusion matrix."""

    metrics: dict[str, float]
    correct: list[bool]
    item_scores: list[float]
    confusion: dict | None = None


def get_metric(name: str) -> Metric:
    """A metric by name through the registry (built-ins and third-party entry points)."""
    from advisor import registry

    return registry.metrics.get(name) if name in registry.metrics else METRICS[name]


def score(task_type: str, targets: Sequence[str], predictions: Sequence[str | None],
          labels: Sequence[str] | None = None, primary: str | None = None, extra: Sequence[str] = ()) -> ScoreResult:
    """All metrics that fit the task type (plus `primary` and `extra`), and per-item correctness."""
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
    names = list(_BY_TYPE[task_type])
    if primary and primary not in names:
        names.insert(0, primary)
    names += [n for n in extra if n not in names]
    values = {n: get_metric(n).compute(targets, predictions, labels) for n in names} if targets else {}
    if task_type == "classification":
        correct = [p == t for p, t in zip(predictions, targets)]
        item_scores = [float(c) for c in correct]
    elif primary in _CONTINUOUS:  # a long-answer metric: the item score is its per-item value
        metric = get_metric(primary)
        item_scores = [metric.compute([t], [p], labels) for p, t in zip(predictions, targets)]
        correct = [exact_match(p, t) for p, t in zip(predictions, targets)]
    elif task_type == "generation":
        item_scores = [token_f1(p, t) for p, t in zip(predictions, targets)]
        correct = [exact_match(p, t) for p, t in zip(predictions, targets)]
    else:
        judge = contains_answer if primary == "contains_answer" else exact_match  # correctness follows the primary
        correct = [judge(p, t) for p, t in zip(predictions, targets)]
        item_scores = [token_f1(p, t) for p, t in zip(predictions, targets)]
    confusion = None
    if task_type == "classification" and labels:
        from sklearn.metrics import confusion_matrix

        cols = list(labels) + ([NONE_LABEL] if any(p is None for p in predictions) else [])
        preds = [p if p is not None else NONE_LABEL for p in predictions]
        matrix = confusion_matrix(list(targets), preds, labels=cols).tolist() if targets else []
        confusion = {"labels": cols, "matrix": matrix, "rows": "target", "columns": "prediction"}
    return ScoreResult(metrics=values, correct=correct, item_scores=item_scores, confusion=confusion)
