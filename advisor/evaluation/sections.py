"""Typed sections of an arm's result: what `prepare` did, what `finish` measured, and the
latency, throughput and usage summaries. Every field has a unit or a meaning here, so no
reader (cost model, decision, renderer) needs to guess a dictionary key.

Sections are strict (`extra="forbid"`): a misspelled key is a validation error when the
record is built, never a silent zero. New strategies add their own typed section as a new
optional field of `PrepareFacts` or `ArmDetails` (default None); third-party arms that cannot
change the core may use `ArmDetails.extra` (free-form, shown verbatim, never read by the core).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Section", "OneOffCost", "TrainingCurves", "TrainingExamples", "ResolvedTraining", "TrainingLengths", "TrainingFacts", "IndexFacts", "Calibration",
    "PrepareFacts", "RaftFacts", "MemoryFacts", "ClassicalFacts", "GoldInfo", "RetrievalDetails", "OverfittingRisk", "LeakagePair", "LeakageRisk",
    "ForgettingRisk", "LoraRisks", "ArmDetails", "Latency", "Throughput", "Usage", "Confusion",
]


class Section(BaseModel):
    """Base of every record section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OneOffCost(Section):
    """A cost an arm pays once (not per query): training an adapter, building an index.

    A reused artifact reports the seconds measured when it was built, with `reused=True`: the
    cost was real once, and the decision engine amortises it over the horizon either way.
    `kind` decides which cadence in the pricing block repeats it (training -> retrain
    cadence, index -> re-index cadence).
    """

    kind: Literal["training", "index", "other"]
    what: str = Field(description="what was built, e.g. 'LoRA training', 'FAISS index build'")
    seconds: float = Field(ge=0, description="measured wall seconds of the work")
    hardware: str = Field(description="'cpu' or 'cuda' (priced at the pricing block's training hardware)")
    reused: bool = False
    built: str | None = Field(None, description="ISO time the artifact was built")
    artifact: str | None = Field(None, description="where it lives in the artifact cache")


Point = tuple[float, float]  # (optimizer step, value)


class TrainingCurves(Section):
    train: list[Point] = Field(default_factory=list, description="[step, mean answer-token loss (nats)]")
    validation: list[Point] = Field(default_factory=list, description="[step, validation loss (nats)]")
    validation_accuracy: list[Point] = Field(default_factory=list, description="[step, accuracy] (classification)")


class TrainingExamples(Section):
    train: int
    validation: int


class ResolvedTraining(Section):
    """The values training actually used after 'auto' defaults were filled in."""

    rank: int
    alpha: float
    learning_rate: float
    target_modules: list[str] | str
    method: str | None = Field(None, description="lora, dora, ia3, prompt_tuning or full (every weight)")


class TrainingLengths(Section):
    """How training examples were fitted into max_length (long answers never end the arm)."""

    max_length: int
    how: str = Field(description="'set in the arm config', or how the automatic value was chosen")
    examples: int = 0
    prompt_cut: int = Field(0, description="examples whose prompt was cut from the left (answer whole)")
    answer_cut: int = Field(0, description="examples whose answer was kept from its start, end of turn dropped")
    skipped: int = Field(0, description="examples left out (overflow: skip)")
    longest: int = Field(0, description="tokens of the longest example before fitting")


class TrainingFacts(Section):
    """A fine-tune, as measured when the adapter was built (kept in the adapter cache)."""

    curves: TrainingCurves = Field(default_factory=TrainingCurves)
    lengths: TrainingLengths | None = None
    best_step: int = Field(0, description="optimizer step of the kept adapter (lowest validation loss)")
    stopped_early: bool = False
    steps: int = Field(0, description="optimizer steps run")
    planned_steps: int = 0
    epochs: float = 0.0
    examples: TrainingExamples | None = None
    trainable_params: int = 0
    total_params: int = 0
    trainable_share: float = Field(0.0, description="trainable / total parameters (fraction)")
    tokens: int = Field(0, description="non-padding tokens through forward+backward")
    answer_tokens: int = 0
    tokens_per_s: float = Field(0.0, description="tokens / train_s")
    train_s: float = Field(0.0, description="seconds in optimizer steps")
    eval_s: float = Field(0.0, description="seconds in validations")
    wall_s: float = Field(0.0, description="model load + training + validations + save, seconds")
    peak_memory_mb: float = 0.0
    peak_memory_how: str = ""
    hardware: str = Field("cpu", description="'cpu' or 'cuda'")
    hardware_detail: str = ""
    dtype: str = "float32"
    threads: int | None = None
    qlora: bool = False
    method: str | None = Field(None, description="PEFT method (lora, dora, ia3, prompt_tuning) or full fine-tuning")
    resolved: ResolvedTraining | None = None
    notes: list[str] = Field(default_factory=list)
    defaults_from_data: list[str] = Field(default_factory=list,
                                          description="defaults this run filled from the data (epochs, answer length)")
    how: str = ""
    reused: bool = False

    @property
    def seconds_per_step(self) -> float | None:
        return self.train_s / self.steps if self.steps else None


class IndexFacts(Section):
    """A vector index over a corpus or the train inputs, as built (or reused from the cache)."""

    kind: str = Field(description="'flat' (exact) or 'hnsw' (approximate)")
    vectors: int
    dims: int
    bytes: int | None = Field(None, description="size on disk")
    build_seconds: float = Field(0.0, description="chunking + embedding + FAISS add, wall seconds")
    embed_seconds: float | None = None
    faiss_seconds: float | None = None
    chunks_per_s: float | None = None
    embed_backend: str | None = Field(None, description="what computed the vectors: torch, onnx-fp32, onnx-int8, hash")
    embed_backend_why: str | None = Field(None, description="why that backend (embed_backend auto: what was installed)")
    embed_threads: int | None = Field(None, description="threads while embedding the corpus")
    built: str | None = None
    key: str | None = None
    how: str | None = None
    reused: bool = False
    documents: int | None = None
    chunk_tokens: int | None = None
    chunk_overlap: int | None = None
    embedder: str | None = None


class Calibration(Section):
    """Choice-mode calibration: each label's mean log-prob on content-free inputs."""

    content_free_inputs: list[str]
    label_logprob_offsets: dict[str, float]


class RaftFacts(Section):
    """rag-lora: how many training questions got each kind of context (RAFT style)."""

    gold: int = Field(description="questions shown the gold passage among distractors")
    distractors: int = Field(description="questions shown distractor passages only")
    retrieved: int = Field(description="questions shown the passages as retrieved (validation included)")
    gold_unknown_fell_back: int = Field(description="gold asked for but none known: shown as retrieved")
    gold_share: float
    distractor_share: float
    top_k: int
    how: str


class MemoryFacts(Section):
    """full-ft: the training-memory estimate checked before training (GiB)."""

    params: int
    weights_gib: float
    gradients_gib: float
    adam_gib: float
    best_copy_gib: float
    activations_gib: float
    total_gib: float


class ClassicalFacts(Section):
    """classical: the TF-IDF + logistic regression fit (C chosen by cross-validation)."""

    examples: int = Field(description="train + validation examples fitted on")
    folds: int
    scoring: str
    best_c: float
    cv: list[dict[str, float]] = Field(description="per C: mean and std of the CV score")
    features: int
    model_bytes: int = Field(description="pickled pipeline size")
    wall_s: float = Field(description="grid search + refit, wall seconds")
    how: str


class PrepareFacts(Section):
    """What an arm's `prepare` did: its one-off costs and the facts the report shows."""

    seconds: float | None = Field(None, description="wall seconds of prepare in this run (the runner measures it)")
    one_off: list[OneOffCost] = Field(default_factory=list)
    mode: Literal["choice", "generate"] | None = None
    shots: int | None = None
    demonstration_ids: list[str] | None = None
    demonstrations: str | None = Field(None, description="how demonstrations were chosen when they vary per input")
    calibration: Calibration | None = None
    training: TrainingFacts | None = None
    adapter: str | None = None
    cache_key: str | None = None
    reused: bool | None = None
    merged_model: str | None = None
    index: IndexFacts | None = None
    corpus_problems: list[str] = Field(default_factory=list)
    raft: RaftFacts | None = None
    memory_estimate: MemoryFacts | None = None
    classical: ClassicalFacts | None = None


class GoldInfo(Section):
    field: str | None
    answer_in_passage: bool
    unreachable: int = Field(description="questions whose gold set matched no chunk")
    how: str


class RetrievalDetails(Section):
    """Retrieval quality and speed, from the test rows (`finish`)."""

    k: int = Field(description="passages (or demonstrations) retrieved per query")
    n_with_gold: int = Field(0, description="test items with a gold passage set")
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_mean_ms: float | None = None
    latency_n: int | None = None
    how: str | None = None
    recall_at_k: dict[str, float] | None = Field(None, description="k -> share of queries with a gold hit in the top k")
    mrr: float | None = None
    gold: GoldInfo | None = None


class OverfittingRisk(Section):
    flag: bool
    best_step: int
    steps: int
    stopped_early: bool
    early_stop_step: int | None = None
    tolerance: float = Field(description="relative rise of validation loss tolerated as noise")
    best_val_loss: float | None = None
    last_val_loss: float | None = None
    val_rise: float | None = Field(None, description="last / best validation loss - 1")
    train_loss_falling: bool | None = None
    note: str | None = None


class LeakagePair(Section):
    test_id: str
    train_id: str
    overlap: float = Field(description="share of the test input's n-grams found in the train input")


class LeakageRisk(Section):
    ngram: int
    threshold: float
    test_checked: int
    flagged: int
    overlap_share: float = Field(description="flagged / test_checked")
    flagged_ids: list[str] = Field(default_factory=list)
    pairs: list[LeakagePair] = Field(default_factory=list)
    warning: bool
    how: str


class ForgettingRisk(Section):
    probe: str
    n: int
    base: float = Field(description="probe accuracy of the base model (fraction)")
    tuned: float = Field(description="probe accuracy with the adapter (fraction)")
    delta: float
    lost: list[str] = Field(default_factory=list)
    gained: list[str] = Field(default_factory=list)
    how: str
    seconds: float | None = None
    backend: str | None = None
    reused: bool = False


class LoraRisks(Section):
    overfitting: OverfittingRisk
    leakage: LeakageRisk
    forgetting: ForgettingRisk | None = None


class ArmDetails(Section):
    """What an arm's `finish` hook measured once all test rows exist."""

    retrieval: RetrievalDetails | None = None
    risks: LoraRisks | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="third-party arms only; built-in arms add a "
                                                                     "typed field instead. Shown, never read.")


class Latency(Section):
    """Per-request wall time over the arm's answered test items (errors excluded)."""

    how: str = ""
    n: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    mean_ms: float | None = None
    ttft_p50_ms: float | None = None
    tpot_p50_ms: float | None = None


class Throughput(Section):
    busy_s: float = Field(0.0, description="wall seconds the backend spent on this arm's requests")
    how: str = ""
    requests_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    completion_tokens_per_s: float | None = None


class Usage(Section):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Confusion(Section):
    labels: list[str]
    matrix: list[list[int]]
    rows: Literal["target"] = "target"
    columns: Literal["prediction"] = "prediction"
