"""Prompting arm pieces: demonstrations, context fitting, answer parsing, scoring."""

from __future__ import annotations

from collections import Counter

import pytest

from advisor.prompting.answers import extract_answer, match_label
from advisor.backends.fake import FakeBackend
from advisor.spec.data import Sample
from advisor.prompting.prompts import PromptParts, fit_prompts
from advisor.evaluation.scoring import exact_match, score, token_f1
from advisor.spec.model import ModelSpec
from tests.factories import task_spec
from strategies.prompting.arm import pick_demonstrations


def _samples(n: int, labels=("a", "b", "c")) -> list[Sample]:
    return [Sample(id=f"s{i}", input=f"text {i}", target=labels[i % len(labels) if i < 30 else 0]) for i in range(n)]


def test_demonstrations_are_seeded_and_balanced() -> None:
    pool = _samples(60)  # skewed: after the first 30 every sample is "a"
    demos = pick_demonstrations(pool, 6, seed=3, labels=["a", "b", "c"], balanced=True)
    assert Counter(d.target for d in demos) == {"a": 2, "b": 2, "c": 2}
    assert [d.id for d in demos] == [d.id for d in pick_demonstrations(pool, 6, 3, ["a", "b", "c"], True)]
    assert [d.id for d in demos] != [d.id for d in pick_demonstrations(pool, 6, 4, ["a", "b", "c"], True)]
    assert pick_demonstrations(pool, 0, 3, None, True) == []
    assert len(pick_demonstrations(pool, 5, 3, None, False)) == 5


def test_fit_drops_demonstrations_then_cuts_the_input() -> None:
    backend = FakeBackend(task_spec(ModelSpec(max_context=64)))
    demos = tuple((f"demo {i} " + "word " * 8, "a") for i in range(4))
    long_input = "w " * 200
    parts = [PromptParts(system="sys", input="short one", demos=demos), PromptParts(system="sys", input=long_input,
                                                                                  template="Q: {input} end")]
    (p1, i1), (p2, i2) = fit_prompts(parts, backend, reserve=8)
    for p, info in ((p1, i1), (p2, i2)):
        assert info.prompt_tokens <= 64 - 8
        assert backend.count_tokens([p.messages()])[0] == info.prompt_tokens
    assert i1.demos_dropped >= 1 and i1.chars_cut == 0 and p1.input == "short one"
    assert i2.chars_cut > 0 and p2.user.startswith("Q: ") and p2.user.endswith(" end")  # template kept whole


def test_fit_refuses_when_instructions_alone_overflow() -> None:
    backend = FakeBackend(task_spec(ModelSpec(max_context=64)))
    with pytest.raises(ValueError, match="exceed"):
        fit_prompts([PromptParts(system="s " * 100, input="x")], backend, reserve=4)


@pytest.mark.parametrize("text, expected", [
    ("spam", "spam"), ("Spam.", "spam"), ("Answer: ham", "ham"), ("I think this is spam, not ham", "spam"),
    ("hamster", None), ("no idea", None), ("HAM!!", "ham"),
])
def test_match_label(text: str, expected: str | None) -> None:
    assert match_label(text, ["ham", "spam"]) == expected


def test_extract_answer_and_qa_metrics() -> None:
    assert extract_answer('Answer: "Paris".\nBecause it is the capital.') == "Paris"
    assert extract_answer("\n\n  42 \n") == "42"
    assert exact_match("The Paris!", "paris") and not exact_match(None, "paris")
    assert token_f1("the big red dog", "red dog") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert token_f1("", "") == 1.0 and token_f1("cat", "dog") == 0.0


def test_classification_scores_match_sklearn() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    targets = ["a", "b", "a", "c", "b", "a"]
    preds = ["a", "a", "a", None, "b", "c"]
    result = score("classification", targets, preds, ["a", "b", "c"], "accuracy")
    filled = [p or "(none)" for p in preds]
    assert result.metrics["accuracy"] == pytest.approx(accuracy_score(targets, filled))
    assert result.metrics["macro_f1"] == pytest.approx(f1_score(targets, filled, labels=["a", "b", "c"], average="macro"))
    assert result.correct == [True, False, True, False, True, False]
    assert result.confusion.labels == ["a", "b", "c", "(none)"]
    assert result.confusion.matrix[2] == [0, 0, 0, 1]  # the c item got no label


def test_qa_scores() -> None:
    result = score("qa", ["Paris", "blue whale"], ["paris.", "a whale"], None, "exact_match")
    assert result.metrics["exact_match"] == 0.5 and result.correct == [True, False]
    assert result.item_scores[1] == pytest.approx(token_f1("a whale", "blue whale"))
