"""What can make a fine-tune's verdict untrustworthy, measured: overfitting (from the
learning curves), catastrophic forgetting (a general-knowledge probe before and after
tuning) and train/test leakage (word n-gram overlap)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from advisor.backends.base import Backend, ChoiceRequest
from advisor.evaluation.sections import ForgettingRisk, LeakagePair, LeakageRisk, OverfittingRisk
from advisor.spec.data import Sample

__all__ = ["overfitting", "leakage", "forgetting_probe", "load_probe", "PROBE_FILE"]

PROBE_FILE = Path(__file__).resolve().parent / "probe" / "general_mc.jsonl"
PROBE_SYSTEM = "Answer the question with the correct option only."


def overfitting(train_curve: list[tuple[float, float]], val_curve: list[tuple[float, float]], best_step: int,
                stopped_early: bool, steps: int, tolerance: float = 0.02) -> OverfittingRisk:
    """Flag when validation loss rose after its best point while training loss kept falling.

    rise = last validation loss / best validation loss - 1; the flag needs rise > tolerance
    (2% by default: smaller moves are noise on a few dozen examples) and a lower mean train
    loss after the best step than up to it.
    """
    out = OverfittingRisk(flag=False, best_step=best_step, steps=steps, stopped_early=stopped_early,
                          early_stop_step=steps if stopped_early else None, tolerance=tolerance)
    if len(val_curve) < 2:
        out.note = "fewer than two validations: cannot judge"
        return out
    best_val = min(v for _, v in val_curve)
    last_step, last_val = val_curve[-1]
    rise = last_val / best_val - 1 if best_val > 0 else 0.0
    before = [v for s, v in train_curve if s <= best_step]
    after = [v for s, v in train_curve if s > best_step]
    train_falling = bool(before and after and sum(after) / len(after) < sum(before) / len(before))
    out.best_val_loss, out.last_val_loss, out.val_rise = best_val, last_val, round(rise, 4)
    out.train_loss_falling = train_falling
    out.flag = rise > tolerance and train_falling
    if out.flag:
        out.note = (f"validation loss rose {rise:.1%} after step {best_step} while training loss fell; "
                    f"the adapter kept is the one from step {best_step}")
    return out


_WORD = re.compile(r"\w+", re.UNICODE)


def _grams(text: str, n: int) -> list[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return [tuple(words)] if words else []  # a short text counts as one gram: exact match only
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def leakage(train: list[Sample], test: list[Sample], n: int = 8, threshold: float = 0.5, max_listed: int = 50) -> LeakageRisk:
    """Share of each test input's word n-grams that occur in some train input; a test input
    at or above `threshold` is flagged with the train id it shares most n-grams with."""
    index: dict[tuple[str, ...], set[str]] = {}
    for s in train:
        for g in set(_grams(s.input, n)):
            index.setdefault(g, set()).add(s.id)
    flagged = []
    for s in test:
        grams = _grams(s.input, n)
        if not grams:
            continue
        hits = [index[g] for g in grams if g in index]
        share = len(hits) / len(grams)
        if share >= threshold:
            counts: dict[str, int] = {}
            for ids in hits:
                for tid in ids:
                    counts[tid] = counts.get(tid, 0) + 1
            match = max(sorted(counts), key=counts.__getitem__)
            flagged.append(LeakagePair(test_id=s.id, train_id=match, overlap=round(share, 3)))
    return LeakageRisk(ngram=n, threshold=threshold, test_checked=len(test), flagged=len(flagged),
                       overlap_share=round(len(flagged) / max(1, len(test)), 4),
                       flagged_ids=[f.test_id for f in flagged[:max_listed]], pairs=flagged[:max_listed],
                       warning=bool(flagged),
                       how=f"word {n}-grams of each test input looked up in all train inputs (lower-cased)")


def load_probe(path: Path = PROBE_FILE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _probe_accuracy(backend: Backend, items: list[dict[str, Any]], adapter: str | None) -> tuple[float, list[bool]]:
    requests = [ChoiceRequest([{"role": "system", "content": PROBE_SYSTEM}, {"role": "user", "content": it["question"]}],
                              tuple(it["choices"]), adapter=adapter) for it in items]
    scores = backend.score_choices(requests)
    right = [max(range(len(s.logprobs)), key=s.logprobs.__getitem__) == it["answer"] for s, it in zip(scores, items)]
    return sum(right) / len(right), right


def forgetting_probe(backend: Backend, adapter: str, items: list[dict[str, Any]] | None = None) -> ForgettingRisk:
    """Log-likelihood accuracy on the shipped general-knowledge set, base vs adapter."""
    items = items if items is not None else load_probe()
    base, base_right = _probe_accuracy(backend, items, None)
    tuned, tuned_right = _probe_accuracy(backend, items, adapter)
    return ForgettingRisk(
        probe=PROBE_FILE.stem, n=len(items), base=round(base, 4), tuned=round(tuned, 4), delta=round(tuned - base, 4),
        lost=[it["id"] for it, b, t in zip(items, base_right, tuned_right) if b and not t],
        gained=[it["id"] for it, b, t in zip(items, base_right, tuned_right) if t and not b],
        how="choice scoring (summed log-prob of each option) through the serving backend, with and without the adapter")
