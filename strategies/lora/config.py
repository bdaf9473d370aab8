"""The LoRA arm's settings: every training knob, each with a default sized for the model.

`None` means "pick for me": `resolve_defaults` fills rank, alpha, learning rate and the
target modules from the base model's size and architecture, so a task file can name the
arm and nothing else, and every value actually used is recorded beside the adapter.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from advisor.evaluation.sections import ResolvedTraining
from advisor.prompting.prompts import InputTemplate
from advisor.spec.base import Strict
from strategies.lora.methods import Method, default_learning_rate, merges

import math

__all__ = ["LoraArmConfig", "ResolvedTraining", "resolve_defaults", "TRAINING_FIELDS", "default_epochs",
           "resolve_schedule"]


class LoraArmConfig(Strict):
    """Settings of a LoRA arm (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- adapter ---------------------------------------------------------------------------
    method: Method = Field("lora", description="PEFT method: lora, dora (LoRA with magnitude/direction), ia3 "
                                               "(learned rescaling vectors) or prompt_tuning (trained soft prompt)")
    virtual_tokens: int = Field(20, ge=1, le=512, description="prompt_tuning: trained embeddings before every prompt")
    rank: int | None = Field(None, ge=1, le=512, description="LoRA rank r; default by model size (8 below 1B params, else 16)")
    alpha: float | None = Field(None, gt=0, description="LoRA alpha (scale = alpha / r); default 2 x rank")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: Literal["auto", "attention", "all-linear"] | list[str] = Field(
        "auto", description="auto/attention: the attention projections found in the architecture; all-linear: "
                            "every linear layer but the output head; or a list of module names")
    # -- optimisation ----------------------------------------------------------------------
    learning_rate: float | None = Field(None, gt=0, le=1, description="AdamW peak learning rate; default by model size")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW weight decay on the LoRA weights")
    epochs: float | None = Field(None, gt=0, le=100, description="passes over the train split (ignored when max_steps "
                                 "is set); default from the data: see default_epochs")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs")
    max_train_examples: int | None = Field(None, ge=1, description="use only the first N train examples (seeded order)")
    batch_size: int = Field(8, ge=1, le=1024, description="examples per micro-batch")
    grad_accum: int = Field(1, ge=1, le=1024, description="micro-batches per optimizer step")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of steps with linearly rising learning rate")
    schedule: Literal["linear", "cosine", "constant"] = Field("cosine", description="decay after warm-up")
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient clipping by global norm; null = off")
    max_length: int | None = Field(
        None, ge=16, description="tokens per training example; default: the 95th percentile of the train examples' "
                                 "lengths, capped by the model window and 2048")
    overflow: Literal["truncate", "skip"] = Field(
        "truncate", description="an example longer than max_length: prompt cut from the left first, then the answer "
                                "kept from its start without end of turn (truncate), or the example left out (skip)")
    # -- validation and early stopping -----------------------------------------------------
    eval_every: int | None = Field(None, ge=1, description="optimizer steps between validations; default ~8 per run")
    eval_examples: int | None = Field(64, ge=1, description="validation examples used (null = all)")
    patience: int | None = Field(3, ge=1, description="validations without improvement before stopping; null = never")
    early_stop_metric: Literal["val_loss", "val_accuracy"] = Field(
        "val_loss", description="val_accuracy (classification): labels ranked by likelihood, like choice scoring")
    min_delta: float = Field(0.0, ge=0, description="improvement smaller than this does not count")
    # -- runtime ---------------------------------------------------------------------------
    seed: int | None = Field(None, description="training seed; default: the task seed")
    threads: int | None = Field(None, ge=1, description="CPU threads for training; default: the model block's threads")
    dtype: Literal["auto", "float32", "bfloat16"] = Field("auto", description="training dtype; auto: bf16 on CUDA, fp32 on CPU")
    qlora: bool = Field(False, description="load the base model in 4 bits (bitsandbytes, CUDA only)")
    log_every: int = Field(1, ge=1, description="optimizer steps between train-loss points on the curve")
    merge_export: bool = Field(False, description="also save a merged model folder (base + adapter) beside the adapter")
    # -- inference (same prompt as the prompting arm's zero-shot) ---------------------------
    mode: Literal["auto", "choice", "generate"] = Field("auto", description="classification: choice scoring or generation")
    template: InputTemplate = Field("{input}", description="user turn; {input} is replaced by the sample text")
    instructions: str | None = Field(None, description="overrides the task's instructions for this arm")
    max_new_tokens: int | None = Field(None, ge=1, le=4096, description="overrides generation.max_new_tokens")
    calibrate: bool = Field(False, description="choice scoring: contextual calibration (off: the adapter learnt the prior)")
    length_normalize: bool = Field(False, description="choice scoring: mean log-prob per token")
    # -- risk checks ---------------------------------------------------------------------
    forgetting_probe: bool = Field(True, description="score the shipped general-knowledge probe before and after tuning")
    leakage_ngram: int = Field(8, ge=1, le=64, description="word n-gram length of the train/test overlap check")
    leakage_threshold: float = Field(0.5, gt=0, le=1, description="a test input is flagged when this share of its n-grams occurs in train")

    @field_validator("target_modules")
    @classmethod
    def _names(cls, v):
        if isinstance(v, list) and (not v or not all(isinstance(x, str) and x.strip() for x in v)):
            raise ValueError("target_modules list must name at least one module")
        return v

    @model_validator(mode="after")
    def _qlora_dtype(self) -> LoraArmConfig:
        if self.qlora and self.dtype == "float32":
            raise ValueError("qlora computes in bfloat16; use dtype auto or bfloat16")
        if self.qlora and self.method not in ("lora", "dora"):
            raise ValueError(f"qlora trains LoRA/DoRA on a 4-bit base; method {self.method!r} is not supported with it")
        if self.merge_export and not merges(self.method):
            raise ValueError(f"method {self.method!r} cannot be merged into the base weights: set merge_export false")
        return self


# Fields that change the trained adapter: they (and only they) enter the cache key.
TRAINING_FIELDS = (
    "method", "virtual_tokens", "rank", "alpha", "dropout", "target_modules", "learning_rate", "weight_decay", "epochs", "max_steps",
    "max_train_examples", "batch_size", "grad_accum", "warmup_ratio", "schedule", "max_grad_norm", "max_length", "overflow",
    "eval_every", "eval_examples", "patience", "early_stop_metric", "min_delta", "dtype", "qlora", "template",
    "instructions", "mode",
)


# Examples a small adapter should see before it is judged: at least ~1,000, and ~200 per label
# so every label is seen often (one epoch of 50 steps collapsed onto one label of six).
MIN_EXAMPLES_SEEN, PER_LABEL_SEEN, MAX_DEFAULT_EPOCHS = 1000, 200, 8.0


def default_epochs(n_train: int, n_labels: int) -> float:
    """Epochs when the config sets neither epochs nor max_steps: enough passes that the adapter
    sees max(1000, 200 x labels) examples, rounded up to half an epoch, between 1 and 8."""
    target = max(MIN_EXAMPLES_SEEN, PER_LABEL_SEEN * max(1, n_labels))
    epochs = math.ceil(2 * target / max(1, n_train)) / 2
    return min(MAX_DEFAULT_EPOCHS, max(1.0, epochs))


def resolve_schedule(config: "LoraArmConfig", n_train: int, n_labels: int) -> "LoraArmConfig":
    """The config with `epochs` filled from the data when neither epochs nor max_steps is set."""
    if config.epochs is not None or config.max_steps is not None:
        return config
    return config.model_copy(update={"epochs": default_epochs(n_train, n_labels)})


def resolve_defaults(config: LoraArmConfig, total_params: int, attention_modules: list[str]) -> ResolvedTraining:
    """Rank, alpha and learning rate from the model size; targets from the architecture.

    Small models have little capacity to spare and tolerate larger steps: below 1B parameters
    rank 8 and lr 5e-4 (a few dozen steps reach a good adapter), up to 10B rank 16 and 2e-4
    (the common LoRA/QLoRA setting), above that 1e-4. alpha = 2r keeps the update scale
    alpha/r = 2 whatever the rank.
    """
    billions = total_params / 1e9
    rank = config.rank or (8 if billions < 1 else 16)
    lr = config.learning_rate or default_learning_rate(
        config.method, 5e-4 if billions < 1 else 2e-4 if billions < 10 else 1e-4)
    targets: list[str] | str
    if isinstance(config.target_modules, list):
        targets = list(config.target_modules)
    elif config.target_modules == "all-linear":
        targets = "all-linear"
    else:
        targets = attention_modules
    return ResolvedTraining(rank=rank, alpha=config.alpha or 2.0 * rank, learning_rate=lr, target_modules=targets)
