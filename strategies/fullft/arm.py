"""The full fine-tuning arm (`full-ft`): every weight of a small model trained with the LoRA
arm's trainer, data formatting, validation, early stopping, cache and risk checks.

The only differences from `lora`: no adapter (all parameters require gradients; the saved
artifact is a whole model folder the transformers backend serves as a model variant), a
smaller default learning rate, and a memory check at validation: when the estimate in
`strategies.fullft.memory` exceeds the memory available, the task is refused (exit 2) with
the numbers, before anything runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from advisor.artifacts.models import resolve_model
from advisor.errors import UserError
from advisor.evaluation.sections import MemoryFacts, PrepareFacts
from advisor.spec.model import TaskSpec
from strategies.fullft.memory import GIB, available_bytes, estimate_training_bytes
from strategies.lora.arm import LoraStrategy
from strategies.lora.config import LoraArmConfig

__all__ = ["FullFtConfig", "FullFtStrategy"]


class FullFtConfig(LoraArmConfig):
    """The LoRA arm's training settings minus the adapter ones, plus a memory limit."""

    memory_limit_gb: float | None = Field(None, gt=0, description="memory training may use (GiB); default: what "
                                                                  "the machine has available when the task is checked")

    @model_validator(mode="after")
    def _no_adapter_settings(self) -> FullFtConfig:
        adapter = {"method": "lora", "rank": None, "alpha": None, "target_modules": "auto", "qlora": False,
                   "merge_export": False, "virtual_tokens": 20}
        set_ = [k for k, default in adapter.items() if getattr(self, k) != default]
        if set_:
            raise ValueError(f"full-ft trains every weight: adapter settings do not apply ({', '.join(set_)})")
        return self


class FullFtStrategy(LoraStrategy):
    """Full fine-tuning of a small model; registered as `full-ft`."""

    Config = FullFtConfig

    @classmethod
    def check_task(cls, spec: TaskSpec, config: FullFtConfig) -> None:
        LoraStrategy.check_task(spec, config)
        if spec.backend != "transformers":
            raise UserError(f"full-ft serves a whole fine-tuned model, which only the transformers backend loads "
                            f"(backend is {spec.backend!r})")
        import torch

        device = spec.model.device if spec.model.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = config.dtype if config.dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
        from advisor.backends.dtype import resolve_dtype

        folder = resolve_model(spec.model.name, resolve_dtype(spec.model.dtype, device)[0]).path
        seq_len = config.max_length or _longest_auto_length(spec, folder)  # auto follows the data, at most this
        est = estimate_training_bytes(folder, dtype, config.batch_size, seq_len)
        if config.memory_limit_gb is not None:
            limit, how = int(config.memory_limit_gb * GIB), "memory_limit_gb in the arm config"
        else:
            limit, how = available_bytes(device)
        if est.total > limit:
            parts = est.as_dict()
            raise UserError(
                f"full-ft of {spec.model.name} ({est.params / 1e6:,.0f}M parameters) needs about "
                f"{parts['total_gib']:.1f} GiB (weights {parts['weights_gib']:.1f} + gradients {parts['gradients_gib']:.1f}"
                f" + 2 Adam states {parts['adam_gib']:.1f} + best copy {parts['best_copy_gib']:.1f} + activations "
                f"{parts['activations_gib']:.1f} at batch {config.batch_size} x {seq_len} tokens, {dtype}) "
                f"but the limit is {limit / GIB:.1f} GiB ({how} on {device})",
                hint="use strategy: lora, a smaller model, or a smaller batch_size / max_length")

    def train_options(self) -> dict[str, Any]:
        return {"full": True}

    def key_extra(self) -> dict[str, Any]:
        return {"full-ft": 1}

    def prepare(self, ctx) -> PrepareFacts:
        out = super().prepare(ctx)
        resolved = resolve_model(self.spec.model.name, self._base_dtype())
        dtype = out.training.dtype if out.training is not None else "float32"
        lengths = out.training.lengths if out.training is not None else None
        seq_len = self.config.max_length or (lengths.max_length if lengths is not None else
                                             _longest_auto_length(self.spec, resolved.path))
        est = estimate_training_bytes(resolved.path, dtype, self.config.batch_size, seq_len)
        return out.model_copy(update={"memory_estimate": MemoryFacts(**est.as_dict())})


def _longest_auto_length(spec: TaskSpec, folder) -> int:
    """The most an automatic max_length can be (strategies.lora.data.auto_max_length caps it by
    the model window and 2048): the memory check before training assumes it."""
    import json

    window = spec.model.max_context or int(json.loads((folder / "config.json").read_text()).get(
        "max_position_embeddings") or 2048)
    return min(window, 2048)
