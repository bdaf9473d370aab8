"""The arm (strategy) contract the runner drives, and the types arms hand back.

An arm is a registered class with a strict `Config`, built from (config, spec); `prepare`
does its one-off work (pick demonstrations, build an index, train an adapter) and
`predict` turns test samples into predictions through one backend, batched. Both are
independent units of work named by their inputs, so a later executor can ship them out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Protocol

from pydantic import BaseModel

from advisor.backends.base import Backend
from advisor.spec.data import Sample, Splits
from advisor.spec.model import TaskSpec

__all__ = ["PrepareContext", "Prediction", "Strategy", "OneOffCost", "ESTIMATE_KEYS"]


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
    # Tuning: arms that learn step by step (LoRA) call report(step, validation value, higher is
    # better) at each validation; the tuner may raise from it to stop a hopeless trial.
    report: Callable[[int, float], None] | None = None


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
    tpot_s: float | None = None  # time per output token (streaming backends)


@dataclass
class OneOffCost:
    """A cost an arm pays once (not per query): training an adapter, building an index.

    `prepare` returns these under the key "one_off" (a list of `as_dict()`s). A reused
    artifact reports the seconds measured when it was built, with `reused=True`: the cost
    was real once, and the decision engine amortises it over the horizon either way.
    `kind` decides which cadence in the pricing block repeats it (training -> retrain
    cadence, index -> re-index cadence).
    """

    kind: Literal["training", "index", "other"]
    what: str  # "LoRA training", "FAISS index build"
    seconds: float  # measured wall seconds of the work
    hardware: str  # "cpu", "cuda" (priced by the pricing block's training hardware)
    reused: bool = False
    built: str | None = None  # ISO time the artifact was built
    artifact: str | None = None  # where it lives in the artifact cache

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# What `estimate` returns (every key optional; the dry run multiplies them by measured speeds):
ESTIMATE_KEYS = {
    "requests": "test requests the arm sends to the backend",
    "prompt_tokens": "prompt tokens over all test requests (counted with the real tokenizer)",
    "cached_prompt_tokens": "of those, tokens a prefix-caching backend computes once (a prompt prefix all requests share)",
    "completion_tokens": "upper bound of generated tokens (max_new_tokens x generate requests)",
    "choice_requests": "requests answered by choice scoring (one forward pass, no decoding)",
    "train_tokens": "tokens processed by training (examples x epochs or steps x batch tokens)",
    "training_steps": "optimizer steps",
    "embed_texts": "texts to embed (corpus chunks + queries)",
    "notes": "list of strings shown beside the estimate",
}


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

    # Optional hooks (the runner calls them when the class defines them):
    #
    # def finish(self, samples: list[Sample], rows: list[SampleRow]) -> dict[str, Any]:
    #     Arm-level results beyond the task metric, computed once all test rows exist
    #     (resumed ones included): retrieval recall@k, learning curves, risk checks.
    #     Stored as ArmResult.details; must be JSON-serialisable.
    #
    # def estimate(self, ctx: PrepareContext, test: list[Sample]) -> dict[str, Any]:
    #     What running the arm would take, without running it (the dry run): keys from
    #     ESTIMATE_KEYS. Must not train, embed or generate; may count tokens.
