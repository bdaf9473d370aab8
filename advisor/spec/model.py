"""The task spec: what a task file may say, strictly typed.

Every model forbids unknown keys, so a typo is an error that names its line rather than a
silently ignored setting. Arm configs are validated against each strategy's own `Config`
in `advisor.spec.load`, because the strategy, not the core, owns them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from advisor.spec.executor import ExecutorSpec
from advisor.spec.base import Strict
from advisor.spec.corpus import CorpusSpec
from advisor.spec.evaluation import EvaluationSpec
from advisor.spec.curve import LearningCurveSpec
from advisor.spec.policy import DecisionSpec, PricingSpec
from advisor.spec.serving import ServingSpec
from advisor.spec.tuning import TuningSpec

__all__ = [
    "TaskType", "Strict", "SplitSpec", "DataSpec", "ModelSpec", "GenerationSpec", "ArmSpec",
    "TaskSpec", "DEFAULT_METRIC", "DEFAULT_MODEL",
]

TaskType = Literal["classification", "qa", "extraction", "generation"]
DEFAULT_MODEL = "smollm2-135m-instruct"
# The metric a task type is judged by when the spec names none.
DEFAULT_METRIC: dict[str, str] = {
    "classification": "accuracy",
    "qa": "exact_match",
    "extraction": "exact_match",
    "generation": "token_f1",
}


class SplitSpec(Strict):
    """Ratios used when the data comes as one file."""

    train: float = Field(0.8, ge=0, le=1, description="share of rows for training/demonstrations")
    validation: float = Field(0.1, ge=0, le=1, description="share of rows for validation")
    test: float = Field(0.1, gt=0, le=1, description="share of rows for the test split")
    seed: int = Field(0, description="seed of the shuffle before splitting")

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must be 1.0, got {total:g}")
        return self


class DataSpec(Strict):
    """Where the examples are and which fields hold input, target and id."""

    path: Path | None = Field(None, description="one JSONL/CSV file, split by `split`")
    train: Path | None = Field(None, description="train file (with validation/test instead of path)")
    validation: Path | None = None
    test: Path | None = None
    format: Literal["auto", "jsonl", "csv"] = Field("auto", description="auto: by file extension")
    split: SplitSpec = Field(default_factory=SplitSpec)
    input_field: str = Field("input", description="field holding the model input text")
    target_field: str = Field("target", description="field holding the expected answer or label")
    id_field: str | None = Field(None, description="field holding a unique id; default: file and row")

    @model_validator(mode="after")
    def _one_layout(self) -> DataSpec:
        separate = [self.train, self.validation, self.test]
        if self.path is not None and any(p is not None for p in separate):
            raise ValueError("give either `path` (one file, split by ratios) or `train`/`test` files, not both")
        if self.path is None and (self.train is None or self.test is None):
            raise ValueError("give `path`, or at least `train` and `test` files")
        return self


class ModelSpec(Strict):
    """The base model every arm shares."""

    name: str = Field(DEFAULT_MODEL, description="registry short name or a local Hugging Face folder")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights dtype; auto = bfloat16 on CPUs with AVX512-BF16 or AMX and on CUDA (float16 "
                            "where CUDA lacks bf16), float32 otherwise")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for the in-process backend and LoRA training; default: torch's "
                                "(one per core); set 1 for steadier latencies on a shared machine"
    )
    max_context: int | None = Field(None, ge=64, description="context window in tokens; default from the model")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the in-process backend runs")


class GenerationSpec(Strict):
    """Decoding settings shared by all arms unless an arm overrides them."""

    max_new_tokens: int = Field(32, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy")
    batch_size: int = Field(8, ge=1, le=512, description="requests handed to the backend at once")
    stop: list[str] = Field(default_factory=list, description="extra stop strings")


class ArmSpec(Strict):
    """One adaptation arm: a named instance of a registered strategy with its config."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description="unique arm name")
    strategy: str = Field(description="registered strategy, e.g. prompting")
    config: dict[str, Any] = Field(default_factory=dict, description="strategy-specific settings")
    learning_curve: LearningCurveSpec | None = Field(
        None, description="also run the arm on nested shares of the train split (see advisor.spec.curve)")


class TaskSpec(Strict):
    """One task file, validated and with paths resolved against the file's folder."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str = ""
    type: TaskType
    data: DataSpec
    labels: list[str] | None = Field(None, min_length=2, description="label set (classification)")
    instructions: str = Field("", description="system prompt given to every arm")
    metric: str | None = Field(None, description="primary metric; default by task type")
    model: ModelSpec = Field(default_factory=ModelSpec)
    backend: str = Field("transformers", description="registered backend used for every arm")
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec, description="HTTP backends (vllm, openai)")
    seed: int = Field(0, description="seed for demonstrations and anything else random")
    arms: list[ArmSpec] = Field(min_length=1)
    corpus: CorpusSpec | None = Field(None, description="documents for retrieval arms (see advisor.spec.corpus)")
    pricing: PricingSpec = Field(default_factory=PricingSpec, description="hardware and API prices, volume")
    decision: DecisionSpec = Field(default_factory=DecisionSpec, description="constraints, weights, alpha")
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec,
                                       description="extra metrics, degenerate/groundedness thresholds")
    tuning: TuningSpec | None = Field(None, description="equal-budget tuning for `advisor tune` (see advisor.spec.tuning)")
    executor: ExecutorSpec | None = Field(None, description="where arms and trials run (see advisor.spec.executor)")
    repeats: int = Field(1, ge=1, le=50, description="seeds each seed-dependent arm runs with (demo draws, LoRA "
                                                     "init and data order); the record keeps every seed's metric")

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        if self.type == "classification" and not self.labels:
            raise ValueError("a classification task needs `labels` (at least two)")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("`labels` contains duplicates")
        names = [a.name for a in self.arms]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"arm names must be unique; repeated: {', '.join(dupes)}")
        return self

    @property
    def primary_metric(self) -> str:
        return self.metric or DEFAULT_METRIC[self.type]
