"""Turn free model output into an answer: label matching and answer extraction."""

from __future__ import annotations

import re
from typing import Sequence

from advisor.evaluation.scoring import normalize_answer

__all__ = ["match_label", "extract_answer"]

_PREFIX = re.compile(r"^\s*(final answer|answer|label|category|class|a)\s*[:\-]\s*", re.IGNORECASE)


def match_label(text: str, labels: Sequence[str]) -> str | None:
    """The label the output names: exact, then leading, then earliest whole-word mention."""
    norm = normalize_answer(_PREFIX.sub("", text))
    by_norm = {normalize_answer(label): label for label in labels}
    if norm in by_norm:
        return by_norm[norm]
    for n, label in sorted(by_norm.items(), key=lambda kv: -len(kv[0])):
        if n and (norm.startswith(n + " ") or norm == n):
            return label
    best: tuple[int, str] | None = None
    for n, label in by_norm.items():
        m = re.search(rf"\b{re.escape(n)}\b", norm) if n else None
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), label)
    return best[1] if best else None


def extract_answer(text: str) -> str:
    """The answer part of a free reply: first non-empty line, without 'Answer:' or quotes."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    answer = _PREFIX.sub("", lines[0]).strip()
    return answer.rstrip(".").strip().strip("\"'`").strip()
