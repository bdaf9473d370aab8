"""Task metrics and per-sample correctness.

Each metric declares whether higher is better, how one item is scored and which interval
it gets, so the decision layer never assumes it. Every lookup goes through
`advisor.registry.metrics`: a metric registered there (here, by a third party or a test)
is scored, summarised, tested and reported like the built-in ones.
Classification metrics (accuracy, macro-F1, the confusion matrix) are plain Python that
gives scikit-learn's values (a test compares them): importing scikit-learn pulls in scipy
and pandas, several seconds in each fresh process, and every Ray worker is one (it scored
its first rows seconds late). QA and extraction use SQuAD-style normalised exact match and
token F1. A prediction of None (the model's output matched no
label) counts as wrong and shows in the confusion matrix as "(none)".
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

from advisor.evaluation.sections import Confusion

__all__ = ["Metric", "ScoreResult", "normalize_answer", "exact_match", "token_f1", "score", "get_metric",
           "ACCURACY", "MACRO_F1", "EXACT_MATCH", "TOKEN_F1", "CONTAINS_ANSWER", "contains_answer", "NONE_LABEL"]

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
    which paired tests need; macro-F1 is neither and is recomputed on resampled items.

    `item(prediction, target)` scores one item (0..1); a proportion metric with an item
    function decides each sample's `correct` when it is the task's primary metric. `compute`
    defaults to the mean of `item`. `ci_method` defaults to "wilson" for proportions and
    "bootstrap" (percentile, over items or recomputed on resampled items) otherwise.
    """

    name: str
    higher_is_better: bool
    proportion: bool
    description: str
    compute: Callable[[Sequence[str], Sequence[str | None], Sequence[str] | None], float] | None = field(
        default=None, repr=False)
    decomposable: bool = True
    item: Callable[[str | None, str], float] | None = field(default=None, repr=False)
    ci_method: Literal["wilson", "bootstrap"] | None = None

    def __post_init__(self) -> None:
        if self.compute is None and self.item is None:
            raise ValueError(f"metric {self.name!r} needs `compute` or `item`")
        if self.compute is None:
            item = self.item
            object.__setattr__(self, "compute", lambda t, p, _labels: _mean(item(a, b) for a, b in zip(p, t)))
        if self.ci_method is None:
            object.__setattr__(self, "ci_method", "wilson" if self.proportion else "bootstrap")
        if self.ci_method == "wilson" and not self.proportion:
            raise ValueError(f"metric {self.name!r}: Wilson intervals need a proportion (0/1 items)")

    def value(self, targets: Sequence[str], predictions: Sequence[str | None], labels: Sequence[str] | None) -> float:
        assert self.compute is not None
        return float(self.compute(targets, predictions, labels))


def _accuracy(targets, preds, labels) -> float:
    """sklearn.metrics.accuracy_score with None predictions as NONE_LABEL."""
    targets = list(targets)
    hits = sum(t == (p if p is not None else NONE_LABEL) for t, p in zip(targets, preds))
    return hits / len(targets) if targets else 0.0


def _macro_f1(targets, preds, labels) -> float:
    """sklearn.metrics.f1_score(average="macro", zero_division=0) over `labels` (else the targets'
    labels): per label 2 tp / (2 tp + fp + fn), 0 where the label is in neither column."""
    targets = list(targets)
    preds = [p if p is not None else NONE_LABEL for p in preds]
    names = list(labels) if labels else sorted(set(targets))
    if not names:
        return 0.0
    tp = Counter(t for t, p in zip(targets, preds) if t == p)
    in_targets, in_preds = Counter(targets), Counter(preds)
    return sum(2 * tp[n] / (in_targets[n] + in_preds[n]) if in_targets[n] + in_preds[n] else 0.0
               for n in names) / len(names)


def _confusion(targets: Sequence[str], preds: Sequence[str], cols: Sequence[str]) -> list[list[int]]:
    """sklearn.metrics.confusion_matrix(labels=cols): rows true, columns predicted; pairs with a
    label outside `cols` are left out."""
    index = {name: i for i, name in enumerate(cols)}
    matrix = [[0] * len(cols) for _ in cols]
    for t, p in zip(targets, preds):
        i, j = index.get(t), index.get(p)
        if i is not None and j is not None:
            matrix[i][j] += 1
    return matrix


def _mean(items) -> float:
    items = list(items)
    return sum(items) / len(items) if items else 0.0


ACCURACY = Metric("accuracy", True, True, "share of test items whose label is exactly right", _accuracy,
                  item=lambda p, t: float(p is not None and p == t))
MACRO_F1 = Metric("macro_f1", True, False, "F1 averaged over labels with equal weight", _macro_f1, decomposable=False)
EXACT_MATCH = Metric("exact_match", True, True, "share of answers equal to the target after normalisation",
                     item=lambda p, t: float(exact_match(p, t)))
TOKEN_F1 = Metric("token_f1", True, False, "mean token-overlap F1 between answer and target", item=token_f1)
CONTAINS_ANSWER = Metric("contains_answer", True, True,
                         "share of answers that contain the target's words in order, after normalisation",
                         item=lambda p, t: float(contains_answer(p, t)))
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
    confusion: Confusion | None = None


def get_metric(name: str) -> Metric:
    """The registered metric `name` (advisor.registry.metrics)."""
    from advisor import registry

    return registry.metrics.get(name)


def score(task_type: str, targets: Sequence[str], predictions: Sequence[str | None],
          labels: Sequence[str] | None = None, primary: str | None = None, extra: Sequence[str] = ()) -> ScoreResult:
    """All metrics that fit the task type (plus `primary` and `extra`), and per-item correctness.

    The item score is the primary metric's per-item value when that metric is continuous
    (token F1, ROUGE-L, semantic similarity), else token F1 (0/1 for classification)."""
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
    names = list(_BY_TYPE[task_type])
    if primary and primary not in names:
        names.insert(0, primary)
    names += [n for n in extra if n not in names]
    values = {n: get_metric(n).value(targets, predictions, labels) for n in names} if targets else {}
    judge = get_metric(primary or names[0])
    if judge.proportion and judge.item is not None:  # correctness follows a 0/1 primary metric
        correct = [(judge.item(p, t) >= 0.5) == judge.higher_is_better for p, t in zip(predictions, targets)]
    elif task_type == "classification":
        correct = [p == t for p, t in zip(predictions, targets)]
    else:
        correct = [exact_match(p, t) for p, t in zip(predictions, targets)]
    if task_type == "classification":
        item_scores = [float(c) for c in correct]
    elif not judge.proportion and judge.decomposable and judge.item is not None:
        item_scores = [float(judge.item(p, t)) for p, t in zip(predictions, targets)]
    else:
        item_scores = [token_f1(p, t) for p, t in zip(predictions, targets)]
    confusion = None
    if task_type == "classification" and labels:
        cols = list(labels) + ([NONE_LABEL] if any(p is None for p in predictions) else [])
        preds = [p if p is not None else NONE_LABEL for p in predictions]
        matrix = _confusion(list(targets), preds, cols) if targets else []
        confusion = Confusion(labels=cols, matrix=matrix)
    return ScoreResult(metrics=values, correct=correct, item_scores=item_scores, confusion=confusion)
