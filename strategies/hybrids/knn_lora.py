"""knn-lora: the LoRA adapter served with retrieved demonstrations.

Training is the LoRA arm's, unchanged (zero-shot prompts, same cache key): a run with both
`lora` and `knn-lora` arms of the same training settings trains one adapter. Serving is the
knn-shot arm's: each test input gets the `shots` training examples nearest to it as
demonstrations, and every request carries the adapter. A common production pattern: a tuned
model that still gets a few similar solved cases in its prompt.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from advisor.spec.data import Sample
from advisor.spec.model import TaskSpec
from advisor.evaluation.sections import ArmDetails, PrepareFacts
from advisor.evaluation.strategy import Estimate, PrepareContext
from strategies.hybrids.common import merge_estimates, merge_prepare
from strategies.lora.arm import LoraStrategy
from strategies.lora.config import LoraArmConfig
from strategies.rag.common import EmbeddingSettings
from strategies.rag.knn_shot import KnnShotConfig, KnnShotStrategy

__all__ = ["KnnLoraConfig", "KnnLoraStrategy"]


class KnnLoraConfig(LoraArmConfig, EmbeddingSettings):
    """LoRA training settings, plus the demonstrations served with the adapter."""

    shots: int = Field(4, ge=1, le=64, description="nearest training examples shown before each test input")


class KnnLoraStrategy(LoraStrategy):
    """LoRA adapter + per-input nearest-neighbour demonstrations; registered as `knn-lora`."""

    Config = KnnLoraConfig

    def __init__(self, config: KnnLoraConfig, spec: TaskSpec) -> None:
        super().__init__(config, spec)
        embedding = {k: getattr(config, k) for k in EmbeddingSettings.model_fields}
        self.serving = KnnShotStrategy(KnnShotConfig(
            shots=config.shots, mode=config.mode, template=config.template, instructions=config.instructions,
            max_new_tokens=config.max_new_tokens, calibrate=config.calibrate, length_normalize=config.length_normalize,
            seed=config.seed, **embedding), spec)

    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        out = super().prepare(ctx)
        return merge_prepare(out, self.serving_info)

    def finish(self, samples: list[Sample], rows: list[Any]) -> ArmDetails:
        return super().finish(samples, rows).model_copy(update={"retrieval": self.serving.finish(samples, rows).retrieval})

    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        return merge_estimates(super().estimate(ctx, test), self.serving.estimate(ctx, test))
