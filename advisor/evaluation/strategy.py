"""The arm (strategy) contract the runner drives, and the types arms hand back.

An arm is a registered subclass of `Strategy` with a strict `Config`, built from
(config, spec); `prepare` does its one-off work (pick demonstrations, build an index, train
an adapter) and returns typed `PrepareFacts`; `predict` turns test samples into predictions
through one backend, batched; `finish` returns typed `ArmDetails`. Both prepare and predict
are independent units of work named by their inputs, so a later executor can ship them out.
The optional hooks have no-op defaults here, so the runner, the dry run and the loader call
them unconditionally.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from pydantic import BaseModel, Field

from advisor.backends.base import Backend, CachedAnswer
from advisor.evaluation.record import SampleExtra, SampleRow
from advisor.evaluation.sections import ArmDetails, OneOffCost, PrepareFacts, Section
from advisor.spec.data import Sample, Splits
from advisor.spec.model import TaskSpec

if TYPE_CHECKING:
    from advisor.tuning.space import Param

__all__ = ["PrepareContext", "Prediction", "Strategy", "OneOffCost", "Estimate"]


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
    # step(label, done, total, detail): progress of a long one-off job, drawn by the reporter
    step: Callable[[str, int, int, str], None] = lambda label, done, total, detail="": None
    # Tuning: arms that learn step by step (LoRA) call report(step, validation value, higher is
    # better) at each validation; the tuner may raise from it to stop a hopeless trial.
    report: Callable[[int, float], None] | None = None
    # The caller scores this preparation on the validation split (a tuning trial, a learning-curve
    # point on validation): an arm must not fit on validation items then (the classical arm fits
    # on train + validation in a run; here on train only).
    validation_scored: bool = False


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
    extra: SampleExtra = field(default_factory=SampleExtra)
    tpot_s: float | None = None  # time per output token (streaming backends)
    cached: CachedAnswer | None = None  # the backend's answer came from the response cache (pass it on)


class Estimate(Section):
    """What running an arm would take, without running it (the dry run multiplies by measured speeds)."""

    requests: int | None = Field(None, description="test requests the arm sends to the backend")
    prompt_tokens: int = Field(0, description="prompt tokens over all test requests (counted with the real tokenizer)")
    cached_prompt_tokens: int = Field(0, description="of those, tokens a prefix-caching backend computes once")
    completion_tokens: int = Field(0, description="upper bound of generated tokens (max_new_tokens x requests)")
    choice_requests: int = Field(0, description="requests answered by choice scoring (one forward pass, no decoding)")
    train_tokens: int = Field(0, description="tokens processed by training (examples x epochs)")
    training_steps: int = Field(0, description="optimizer steps")
    embed_texts: int = Field(0, description="texts to embed (corpus chunks + queries)")
    notes: list[str] = Field(default_factory=list, description="shown beside the estimate")


class Strategy(ABC):
    """Base of every registered arm."""

    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel, spec: TaskSpec) -> None:
        self.config = config
        self.spec = spec

    @classmethod
    def check_task(cls, spec: TaskSpec, config: BaseModel) -> None:
        """Task-file problems this arm can see before anything runs (`advisor validate` and the
        loader call it; paths in `spec` are already resolved against the task file's folder):
        raise UserError (the arm's config line is named) or TaskProblem(loc=...) for another field."""

    # -- tuning and data hooks (arms override them; these defaults declare nothing) ----------
    @staticmethod
    def search_space(config: BaseModel, spec: TaskSpec, sizes: dict[str, int] | None) -> dict[str, Param]:
        """What `advisor tune` may vary: {config field: advisor.tuning.space.Param}."""
        return {}

    @staticmethod
    def tuning_fixed(config: BaseModel, spec: TaskSpec, sizes: dict[str, int] | None) -> dict[str, Any]:
        """Config values every trial uses (e.g. a step budget sized to the data)."""
        return {}

    @staticmethod
    def seed_dependent(config: BaseModel) -> bool:
        """Whether the arm's result depends on its seed (it is then repeated under more seeds)."""
        return False

    @staticmethod
    def min_train_rows(config: BaseModel) -> int:
        """Training rows the arm needs (checked when the data is read); default: its shots."""
        shots = getattr(config, "shots", 0)
        return shots if isinstance(shots, int) and not isinstance(shots, bool) else 0

    @abstractmethod
    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        """One-off work; returns facts for the record (ids used, one-off costs, artifacts)."""

    @abstractmethod
    def predict(self, samples: list[Sample], backend: Backend) -> list[Prediction]:
        """Answers for `samples`, in order, from one batched call (or a few) to `backend`."""

    def finish(self, samples: list[Sample], rows: list[SampleRow]) -> ArmDetails:
        """Arm-level results beyond the task metric, computed once all test rows exist
        (resumed ones included): retrieval recall@k, risk checks. Default: none."""
        return ArmDetails()

    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        """The dry run: requests and tokens without training, embedding or generating."""
        return Estimate(notes=["this arm gives no estimate"])
