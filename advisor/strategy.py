"""The arm (strategy) contract the runner drives, and the types arms hand back.

An arm is a registered class with a strict `Config`, built from (config, spec); `prepare`
does its one-off work (pick demonstrations, build an index, train an adapter) and
`predict` turns test samples into predictions through one backend, batched. Both are
independent units of work named by their inputs, so a later executor can ship them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

from pydantic import BaseModel

from advisor.backends.base import Backend
from advisor.data import Sample, Splits
from advisor.spec.model import TaskSpec

__all__ = ["PrepareContext", "Prediction", "Strategy"]


@dataclass
class PrepareContext:
    """Everything an arm may use while preparing; no global state."""

    spec: TaskSpec
    splits: Splits
    arm_name: str
    seed: int
    cache_dir: Path  # content-addressed artifact cache root
    run_dir: Path | None
    backend: Backend | None
    status: Callable[[str], None] = lambda msg: None


@dataclass
class Prediction:
    """An arm's answer for one sample with what producing it cost (seconds, tokens)."""

    sample_id: str
    prediction: str | None  # normalised answer; None = unparseable / no label matched
    raw: str  # what the model produced (or the chosen label for choice scoring)
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    ttft_s: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Strategy(Protocol):
    """What a registered arm provides."""

    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel, spec: TaskSpec) -> None: ...

    def prepare(self, ctx: PrepareContext) -> dict[str, Any]:
        """One-off work; returns facts for the record (ids used, seconds, artifacts)."""
        ...

    def predict(self, samples: list[Sample], backend: Backend) -> list[Prediction]:
        """Answers for `samples`, in order, from one batched call (or a few) to `backend`."""
        ...
