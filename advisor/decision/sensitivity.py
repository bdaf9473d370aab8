"""When does the winner change? Scans of one input (queries per month, value of a correct
answer) over a log grid, each switch point bisected to ~0.01% in log space.

The value scan re-decides with the value rule at the expected volume for every value per
correct answer from $1e-8 to $1e4; it answers "how much must a correct answer be worth
before the cheaper, less accurate arm wins?" whatever rule the task uses.
"""

from __future__ import annotations

import math
from typing import Callable

from pydantic import BaseModel

__all__ = ["Segment", "scan", "VOLUME_RANGE", "VALUE_RANGE"]

VOLUME_RANGE = (10.0, 1e10)  # queries per month
VALUE_RANGE = (1e-8, 1e4)  # US dollars per correct answer


class Segment(BaseModel):
    """`winner` wins for inputs from `start` up to `end` (None: to the end of the range)."""

    start: float
    end: float | None = None
    winner: str | None = None

    def as_dict(self) -> dict:
        return {"from": self.start, "to": self.end, "winner": self.winner}


def scan(winner_at: Callable[[float], str | None], lo: float, hi: float, points: int = 201) -> list[Segment]:
    """Ranges of the input with their winner: a log grid of `points`, each change bisected."""
    a_log, b_log = math.log10(lo), math.log10(hi)
    grid = [10 ** (a_log + i * (b_log - a_log) / (points - 1)) for i in range(points)]
    winners = [winner_at(v) for v in grid]
    segments = [Segment(start=grid[0], winner=winners[0])]
    for (v0, w0), (v1, w1) in zip(zip(grid, winners), zip(grid[1:], winners[1:])):
        if w0 == w1:
            continue
        a, b = v0, v1
        for _ in range(40):
            mid = math.sqrt(a * b)
            if winner_at(mid) == w0:
                a = mid
            else:
                b = mid
        segments[-1].end = b
        segments.append(Segment(start=b, winner=w1))
    return segments
