"""What each shipped arm may tune (its search space) and whether its result depends on a seed.

Attached to the strategy classes as `search_space`, `tuning_fixed` and `seed_dependent`
(see `advisor.tuning.space` for the declaration types and the task's `search:` overrides).
Ranges are sized to the data (`sizes`: train/validation/labels counts; None while a task file
is only validated, when only the parameter names and kinds matter) and to the model the arm
runs on. Parameters map 1:1 onto fields of the arm's config.

- prompting: shots (few-shot arms only: a zero-shot arm stays zero-shot unless its `search:`
  names shots), calibration (choice scoring), balanced vs random demonstration draws.
- knn-shot: shots (neighbours per input), calibration.
- rag: top_k, chunk_tokens (each size builds one cached index), mmr_lambda (declared, off
  by default: name it in `search:` to tune it).
- lora: learning rate (log-uniform), rank, epochs (or max_steps when the config fixes steps),
  target modules (attention projections vs every linear layer).
"""

from __future__ import annotations

from typing import Any

from advisor.tuning.space import Choice, FloatRange, IntRange, Param

__all__ = ["prompting_space", "knn_shot_space", "rag_space", "lora_space", "lora_fixed", "demos_drawn",
           "always_seeded", "never_seeded"]

MAX_SHOTS = 16  # demonstrations beyond ~16 rarely help a small model and crowd its window


def _train(sizes: dict[str, int] | None) -> int:
    return max(1, (sizes or {}).get("train", 64))


def _choice_scored(config: Any, spec: Any) -> bool:
    return config.mode == "choice" or (config.mode == "auto" and spec.type == "classification" and bool(spec.labels))


def prompting_space(config: Any, spec: Any, sizes: dict[str, int] | None) -> dict[str, Param]:
    few = config.shots > 0
    out = {"shots": IntRange(1, min(MAX_SHOTS, _train(sizes)), enabled=few)}
    if spec.labels:
        out["balanced"] = Choice(True, False, enabled=few)
    out["calibrate"] = Choice(True, False, enabled=_choice_scored(config, spec))
    return out


def knn_shot_space(config: Any, spec: Any, sizes: dict[str, int] | None) -> dict[str, Param]:
    return {"shots": IntRange(1, min(MAX_SHOTS, _train(sizes)), enabled=config.shots > 0),
            "calibrate": Choice(True, False, enabled=_choice_scored(config, spec))}


def rag_space(config: Any, spec: Any, sizes: dict[str, int] | None) -> dict[str, Param]:
    sizes_tok = sorted({64, 128, 200, config.chunk_tokens})  # MiniLM reads 256 tokens: longer chunks are cut
    return {"top_k": IntRange(1, 10), "chunk_tokens": Choice(*sizes_tok),
            "mmr_lambda": FloatRange(0.0, 1.0, enabled=False)}


def lora_space(config: Any, spec: Any, sizes: dict[str, int] | None) -> dict[str, Param]:
    from strategies.lora.config import default_epochs

    out = {"learning_rate": FloatRange(1e-4, 3e-3, log=True), "rank": Choice(4, 8, 16, 32),
           "target_modules": Choice("attention", "all-linear")}
    if config.max_steps:
        out["max_steps"] = IntRange(max(1, config.max_steps // 2), config.max_steps * 4)
    else:
        labels = len(spec.labels or []) or 2
        base = config.epochs or default_epochs(_train(sizes), labels)
        out["epochs"] = FloatRange(1.0, max(2.0, min(10.0, 2 * base)))
    return out


def lora_fixed(config: Any, spec: Any, sizes: dict[str, int] | None) -> dict[str, Any]:
    """Settings every LoRA trial shares: validations at the same steps (so the pruner compares
    like with like) and no forgetting probe (it does not change the validation metric)."""
    from strategies.lora.config import resolve_schedule
    from strategies.lora.train import plan_steps

    resolved = resolve_schedule(config, _train(sizes), len(spec.labels or []) or 2)
    steps, _ = plan_steps(_train(sizes), resolved)
    return {"eval_every": config.eval_every or max(1, steps // 8), "forgetting_probe": False}


def demos_drawn(config: Any) -> bool:
    """A prompting arm's answer depends on the seed when it draws demonstrations."""
    return config.shots > 0


def always_seeded(config: Any) -> bool:
    return True


def never_seeded(config: Any) -> bool:
    return False
