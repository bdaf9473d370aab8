"""The PEFT methods the fine-tuning arm can train (`method:`), as peft configurations.

- `lora`: low-rank updates of the target projections (Hu et al. 2021); with `qlora` on a
  4-bit NF4 base (CUDA).
- `dora`: LoRA with the weight split into magnitude and direction (Liu et al. 2024);
  peft's `LoraConfig(use_dora=True)`, same rank/alpha/targets.
- `ia3`: learned vectors rescaling keys, values and the feed-forward input (Liu et al.
  2022); peft's `IA3Config`, targets from peft's per-architecture table unless listed.
- `prompt_tuning`: `virtual_tokens` trained embeddings before every prompt (Lester et al.
  2021); peft's `PromptTuningConfig`, initialised from the task's instructions text.

Each needs its own learning-rate scale: vectors and soft prompts move far less per step
than LoRA matrices, so their defaults are larger (IA3 3e-3 as in its paper; prompt tuning
3e-2, the usual order for soft prompts on small models).
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["Method", "METHODS", "default_learning_rate", "peft_config", "merges"]

Method = Literal["lora", "dora", "ia3", "prompt_tuning"]
METHODS: tuple[str, ...] = ("lora", "dora", "ia3", "prompt_tuning")


def default_learning_rate(method: str, lora_default: float) -> float:
    """Peak learning rate when the arm names none; LoRA/DoRA keep the size-based default."""
    return {"ia3": 3e-3, "prompt_tuning": 3e-2}.get(method, lora_default)


def merges(method: str) -> bool:
    """Whether the adapter can be merged into the base weights (merge_export)."""
    return method != "prompt_tuning"


def peft_config(method: str, *, rank: int, alpha: float, dropout: float, target_modules: Any,
                virtual_tokens: int, init_text: str, tokenizer_path: str) -> Any:
    """The peft config object for `method` (peft imported here: it pulls torch)."""
    if method in ("lora", "dora"):
        from peft import LoraConfig

        return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, bias="none",
                          task_type="CAUSAL_LM", use_dora=method == "dora")
    if method == "ia3":
        from peft import IA3Config

        if isinstance(target_modules, list):  # named by the user: the MLP ones among them scale the input
            feedforward = [m for m in target_modules if any(k in m for k in ("down", "fc2", "c_proj", "dense_4h"))]
            return IA3Config(target_modules=target_modules, feedforward_modules=feedforward, task_type="CAUSAL_LM")
        return IA3Config(task_type="CAUSAL_LM")  # keys, values, FFN input from peft's architecture table
    if method == "prompt_tuning":
        from peft import PromptTuningConfig, PromptTuningInit

        if init_text.strip():
            return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=virtual_tokens,
                                      prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=init_text,
                                      tokenizer_name_or_path=tokenizer_path)
        return PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=virtual_tokens,
                                  prompt_tuning_init=PromptTuningInit.RANDOM)
    raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
