"""What the response cache contributed to a run: per arm, answers reused and the seconds they saved.

A reused answer keeps the latency and busy seconds measured when it was computed, so the arm's
latency, throughput and cost read the same as in the run that measured them; this section says
how many answers were reused, when they were measured, and what this run spent anew. Computed
from the sample rows alone (`SampleRow.cached_at`), so a resumed run and a re-rendered report
agree with the run itself.
"""

from __future__ import annotations

from typing import Iterable

from pydantic import Field

from advisor.evaluation.sections import Section

__all__ = ["CacheUse", "ResponseCacheRun", "cache_use", "cache_line"]


class CacheUse(Section):
    """One arm: how many of its answers came from the response cache."""

    answers: int = Field(description="test answers of the arm")
    from_cache: int = Field(description="of those, answered from the response cache (no new latency or cost)")
    measured_from: str | None = Field(None, description="earliest time a reused answer was computed (UTC)")
    measured_to: str | None = Field(None, description="latest time a reused answer was computed (UTC)")
    reused_busy_s: float = Field(0.0, description="busy seconds of the reused answers, as measured when computed")
    new_busy_s: float = Field(0.0, description="busy seconds this run spent on answers computed now")


class ResponseCacheRun(Section):
    """The run: whether the response cache was on, where it lives, and its hits and misses."""

    enabled: bool
    path: str | None = None
    hits: int = Field(0, description="backend requests answered from the cache (calibration and tuning included)")
    misses: int = Field(0, description="backend requests sent to the model")


def cache_use(rows: Iterable) -> CacheUse:
    """The CacheUse of one arm's SampleRows."""
    rows = list(rows)
    reused = [r for r in rows if r.cached_at is not None]
    dates = sorted(r.cached_at for r in reused)
    return CacheUse(answers=len(rows), from_cache=len(reused), measured_from=dates[0] if dates else None,
                    measured_to=dates[-1] if dates else None,
                    reused_busy_s=round(sum(r.busy_share_s for r in reused), 4),
                    new_busy_s=round(sum(r.busy_share_s for r in rows if r.cached_at is None), 4))


def cache_line(use: CacheUse | None) -> str | None:
    """'N of M answers from cache, measured on <date>' for reports; None when nothing was reused."""
    if use is None or not use.from_cache:
        return None
    first, last = (use.measured_from or "")[:10], (use.measured_to or "")[:10]
    when = first if first == last else f"{first} to {last}"
    return (f"{use.from_cache} of {use.answers} answers from cache, measured on {when} "
            f"(latency and cost as measured then; {use.new_busy_s:g} s spent anew)")
