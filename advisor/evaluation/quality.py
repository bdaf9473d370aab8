"""Answer quality beyond the metric: degenerate outputs and support by passages.

Per row (computed when the row is made, kept in `SampleRow.extra`):
- `degenerate`: why a generated answer is degenerate, or absent: "empty" (no letter or digit),
  "boilerplate" (nothing but phrases like "The answer to the question is:" or articles), "echo" (the
  question or the instructions repeated back, nothing added), "repetition" (a loop: one
  word-trigram pattern filling most of the answer, or a word repeated four times in a row);
- `gold_support`: support of the answer by the sample's gold passage, when the task names a
  `evaluation.gold_passage_field`;
- `groundedness` (retrieval arms, set by the arm): support by the passages it retrieved.

Support is entailment-free n-gram support: the share of the answer's word bigrams (SQuAD
normalisation: lower case, no punctuation or articles) that occur in the passages; an answer
of one word counts its unigram. It measures copying/paraphrase at the phrase level, not
truth: a supported answer can still be wrong, and an unsupported one says what the passages
do not. An answer below `evaluation.grounded_threshold` "ignores" the gold passage; this
measure cannot tell ignoring from contradicting.

`summarize_quality` turns an arm's rows into an `AnswerQuality` for the record.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from pydantic import BaseModel, ConfigDict

from advisor.evaluation.scoring import normalize_answer

__all__ = ["AnswerQuality", "degenerate_reason", "support", "row_checks", "summarize_quality", "DEGENERATE_KINDS",
           "SUPPORT_HOW"]

DEGENERATE_KINDS = ("empty", "boilerplate", "echo", "repetition")
SUPPORT_HOW = ("share of the answer's word bigrams (SQuAD-normalised) found in the passages; one-word answers "
               "use the word; entailment-free (copy/paraphrase support, not truth)")
_BOILERPLATE = re.compile(
    r"\b(?:here is |here's )?(?:the |my |final )?(?:answer|response|reply)(?: to (?:the|this|your) question)?"
    r"(?: is| would be)?\b|\b(?:based on|according to|from) (?:the )?(?:numbered )?(?:passages?|context|text|"
    r"information(?: provided| given)?)\b|\b(?:the )?question(?: is)?\b|\b(?:sure|okay|ok|certainly)\b|"
    r"\bpassages?\s*\d*\b|\b(?:i think|i believe)\b", re.IGNORECASE)
_STOP = frozenset("a an the is are was were be to of and or in on at for with by it this that as".split())


class AnswerQuality(BaseModel):
    """One arm's answer-quality counts (generated answers only)."""

    model_config = ConfigDict(extra="allow")

    n: int  # answers checked
    degenerate: int = 0
    degenerate_share: float = 0.0
    degenerate_by_kind: dict[str, int] = {}
    groundedness_n: int | None = None  # answers with retrieved passages
    groundedness_mean: float | None = None  # mean support by the retrieved passages (0..1)
    grounded_share: float | None = None  # share with support >= threshold
    gold_n: int | None = None  # answers whose sample names a gold passage
    gold_ignored: int | None = None  # ... with support by it below the threshold
    gold_ignored_share: float | None = None
    threshold: float | None = None
    how: str = ""


def _words(text: str) -> list[str]:
    return normalize_answer(text).split()


def degenerate_reason(answer: str | None, question: str = "", prompts: Sequence[str] = ()) -> str | None:
    """Why `answer` is degenerate (one of DEGENERATE_KINDS), or None when it is a real answer."""
    if not re.search(r"\w", answer or ""):
        return "empty"
    words = _words(answer or "")
    if not words or not _words(_BOILERPLATE.sub(" ", answer or "")):
        return "boilerplate"
    for source in (question, *prompts):
        src = _words(source)
        if len(src) >= 3:
            inside = sum((Counter(words) & Counter(src)).values())
            # nearly every answer word comes from the source, and the answer is mostly the source
            if inside >= 0.9 * len(words) and inside >= 0.6 * len(src):
                return "echo"
    if any(len(set(words[i:i + 4])) == 1 for i in range(len(words) - 3)):
        return "repetition"
    if len(words) >= 8:
        grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
        if len(set(grams)) <= 0.4 * len(grams):
            return "repetition"
    return None


def _grams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def support(answer: str | None, passages: Sequence[str]) -> float | None:
    """Share of the answer's word bigrams (unigram for one word) that occur in `passages` (0..1);
    None when the answer or the passages are empty."""
    words = _words(answer or "")
    if not words or not any(p.strip() for p in passages):
        return None
    n = 2 if len(words) >= 2 else 1
    have: set[tuple[str, ...]] = set()
    for p in passages:
        have.update(_grams(_words(p), n))
    grams = _grams(words, n)
    return sum(1 for g in grams if g in have) / len(grams)


def row_checks(task_type: str, question: str, answer: str | None, raw: str, instructions: str = "",
               gold_passage: str | None = None, generated: bool = True) -> dict:
    """The `extra` entries the runner adds to a generated answer's row: `quality_checked`, the
    degenerate reason (when there is one) and the support by the gold passage (when known)."""
    if task_type == "classification" or not generated:
        return {}
    out: dict = {"quality_checked": True}
    said = raw if raw.strip() else (answer or "")
    reason = degenerate_reason(said, question, [instructions] if instructions else [])
    if reason:
        out["degenerate"] = reason
    if gold_passage:
        s = support(answer, [gold_passage])
        out["gold_support"] = round(s if s is not None else 0.0, 4)
    return out


def _as_dict(extra) -> dict:
    return extra if isinstance(extra, dict) else {k: getattr(extra, k, None) for k in
                                                  ("quality_checked", "degenerate", "gold_support", "groundedness")}


def summarize_quality(extras: Sequence, threshold: float) -> AnswerQuality | None:
    """Counts over one arm's rows' `extra` (dicts or SampleExtra); None when no row was checked."""
    checked = [e for e in map(_as_dict, extras) if e.get("quality_checked")]
    if not checked:
        return None
    kinds = Counter(e["degenerate"] for e in checked if e.get("degenerate"))
    q = AnswerQuality(n=len(checked), degenerate=sum(kinds.values()),
                      degenerate_share=round(sum(kinds.values()) / len(checked), 4),
                      degenerate_by_kind=dict(sorted(kinds.items())), threshold=threshold, how=SUPPORT_HOW)
    grounded = [float(e["groundedness"]) for e in checked if e.get("groundedness") is not None]
    if grounded:
        q.groundedness_n = len(grounded)
        q.groundedness_mean = round(sum(grounded) / len(grounded), 4)
        q.grounded_share = round(sum(1 for g in grounded if g >= threshold) / len(grounded), 4)
    gold = [float(e["gold_support"]) for e in checked if e.get("gold_support") is not None]
    if gold:
        q.gold_n = len(gold)
        q.gold_ignored = sum(1 for g in gold if g < threshold)
        q.gold_ignored_share = round(q.gold_ignored / len(gold), 4)
    return q
