"""Accuracy, macro-F1 and the confusion matrix give scikit-learn's values without importing it:
importing scikit-learn (with scipy and pandas) costs seconds in every fresh process, and each
Ray worker is one, so the first rows an arm scored on a new worker came seconds late."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from advisor.evaluation.scoring import NONE_LABEL, _accuracy, _confusion, _macro_f1


def _cases():
    rng = random.Random(11)
    for _ in range(30):
        labels = ["ham", "spam", "promo"][: rng.randint(2, 3)]
        n = rng.randint(1, 40)
        targets = [rng.choice(labels + ["other"]) for _ in range(n)]  # a target outside the labels too
        preds = [rng.choice(labels + [None, "junk"]) for _ in range(n)]  # no label matched / a stray answer
        yield labels, targets, preds


def test_classification_metrics_equal_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    for labels, targets, preds in _cases():
        coded = [p if p is not None else NONE_LABEL for p in preds]
        assert _accuracy(targets, preds, labels) == pytest.approx(metrics.accuracy_score(targets, coded))
        for given in (labels, None):
            want = metrics.f1_score(targets, coded, labels=given or sorted(set(targets)), average="macro",
                                    zero_division=0)
            assert _macro_f1(targets, preds, given) == pytest.approx(want)
        cols = labels + [NONE_LABEL]
        if set(cols) & set(targets):  # sklearn refuses a matrix whose labels miss every target
            assert _confusion(targets, coded, cols) == metrics.confusion_matrix(targets, coded, labels=cols).tolist()


def test_scoring_a_classification_task_imports_no_sklearn() -> None:
    code = ("import sys; from advisor.evaluation.scoring import score; "
            "r = score('classification', ['ham', 'spam'], ['ham', None], ['ham', 'spam']); "
            "assert r.metrics['accuracy'] == 0.5 and r.confusion.matrix == [[1, 0, 0], [0, 0, 1], [0, 0, 0]], r; "
            "print(sorted(m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
