"""`advisor run TASK --dry-run`: what running each arm would take, without running it.

Each arm's `estimate` hook counts requests and tokens with the real tokenizer. A short
calibration on this machine measures the backend's speed: batched prompt processing
(tokens/s, distinct prompts so no prefix is shared) and batched decoding (generated
tokens/s). Wall time = prompt tokens (less a shared prefix the backend caches) / prefill
speed + generated tokens / decode speed;
training ~ 3 x forward cost per token (forward + backward). Costs use the pricing block.
Nothing is written to disk.
"""

from __future__ import annotations

import random
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from advisor import registry
from advisor.backends.base import Backend, ChoiceRequest, GenerateRequest
from advisor.spec.data import load_splits
from advisor.errors import UserError
from advisor.artifacts.models import cache_root
from advisor.progress import NullReporter, Reporter
from advisor.spec.load import LoadedTask
from advisor.evaluation.strategy import Estimate, PrepareContext, Strategy
from advisor.spec.policy import PricingSpec

__all__ = ["calibrate", "estimate_run", "SpeedCalibration", "ArmEstimate", "DryRun"]

_WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
          "government company number group problem fact river music table window garden letter market").split()
TRAIN_FACTOR = 3.0  # a training step costs about 3 forward passes per token (forward + backward)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpeedCalibration(_Strict):
    """This machine's measured backend speeds."""

    batch: int
    prompt_tokens_per_s: float
    generated_tokens_per_s: float | None
    seconds: float
    how: str


class ArmEstimate(_Strict):
    """One arm's estimate (counts from its `estimate` hook) turned into seconds and dollars."""

    arm: str
    strategy: str
    estimate: Estimate
    predict_s: float
    train_s: float | None
    wall_s: float
    run_usd: float
    per_1k_usd: float | None
    notes: list[str] = Field(default_factory=list)


class DryRun(_Strict):
    task: str
    test_items: int
    backend: str
    calibration: SpeedCalibration
    arms: list[ArmEstimate]
    pricing: PricingSpec
    tuning: dict[str, Any] | None = Field(None, description="`tune --dry-run`: the budget's estimate per arm "
                                                            "(advisor.tuning.estimate)")


def calibrate(backend: Backend, batch: int, seed: int = 0) -> SpeedCalibration:
    """Measured prompt-processing and decoding speeds of `backend` at batch size `batch`."""
    rng = random.Random(seed)
    batch = max(2, min(batch, 8))

    def text(n: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(n))

    warm = [ChoiceRequest([{"role": "user", "content": text(8)}], ("yes", "no"))]
    backend.score_choices(warm)  # warm-up: first call pays one-off setup
    prompts = [ChoiceRequest([{"role": "user", "content": text(96)}], ("yes", "no")) for _ in range(batch)]
    t0 = time.perf_counter()
    scored = backend.score_choices(prompts)
    prefill_s = time.perf_counter() - t0
    prompt_tokens = sum(s.prompt_tokens for s in scored)
    gens = [GenerateRequest([{"role": "user", "content": text(6)}], max_new_tokens=16) for _ in range(batch)]
    t0 = time.perf_counter()
    out = backend.generate(gens)
    gen_s = time.perf_counter() - t0
    gen_tokens = sum(g.completion_tokens for g in out)
    gen_prompt = sum(g.prompt_tokens for g in out)
    prefill_tps = prompt_tokens / prefill_s if prefill_s > 0 else float("inf")
    decode_s = max(gen_s - gen_prompt / prefill_tps, 1e-9)
    return SpeedCalibration(
        batch=batch, prompt_tokens_per_s=round(prefill_tps, 1),
        generated_tokens_per_s=round(gen_tokens / decode_s, 1) if gen_tokens else None,
        seconds=round(prefill_s + gen_s, 3),
        how=f"{batch} distinct prompts of ~100 tokens scored in one batch; {batch} short prompts x 16 new "
            "tokens generated in one batch (prompt time subtracted); after one warm-up call")


def estimate_run(task: LoadedTask, arms: list[str] | None = None, limit: int | None = None,
                 backend_name: str | None = None, reporter: Reporter | None = None,
                 tuning: Any = None) -> DryRun:
    """Per-arm estimates and the calibration they rest on (and a tuning budget's, given a TuningSpec)."""
    from advisor.evaluation.runner import make_backend

    reporter = reporter or NullReporter()
    spec = task.spec
    names = [a.name for a in spec.arms]
    unknown = [a for a in arms or [] if a not in names]
    if unknown:
        raise UserError(f"unknown arm(s) {', '.join(unknown)}; the task defines: {', '.join(names)}")
    splits = load_splits(spec)
    test = splits.test[:limit] if limit else splits.test
    name = backend_name or spec.backend
    if name not in registry.backends:
        raise UserError(f"unknown backend {name!r}; expected one of: {', '.join(registry.backends.names())}")
    backend = make_backend(name, task, reporter)
    try:
        reporter.status("calibrating: measuring this machine's prompt and decoding speed")
        cal = calibrate(backend, spec.generation.batch_size, spec.seed)
        pricing = spec.pricing
        rows = []
        for arm in spec.arms:
            if arms and arm.name not in arms:
                continue
            strategy: Strategy = registry.strategies.get(arm.strategy)(task.arm_configs[arm.name], spec)
            ctx = PrepareContext(spec=spec, splits=splits, arm_name=arm.name, seed=spec.seed,
                                 cache_dir=cache_root() / "artifacts", run_dir=None, backend=backend,
                                 status=reporter.status)
            est = strategy.estimate(ctx, test)
            if arm.learning_curve is not None:
                from advisor.evaluation.learning_curve import estimate_learning_curve

                est = estimate_learning_curve(strategy, arm, ctx, splits, est)
            rows.append(_times(arm.name, arm.strategy, est, cal, pricing))
        tuned = None
        if tuning is not None:
            from advisor.tuning.estimate import estimate_tuning

            reporter.status("estimating the tuning budget")
            tuned = estimate_tuning(task, splits, backend, cal, tuning, arms, cache_root() / "artifacts")
    finally:
        backend.close()
    return DryRun(task=spec.name, test_items=len(test), backend=name, calibration=cal, arms=rows, pricing=pricing,
                  tuning=tuned)


def _times(arm: str, strategy: str, est: Estimate, cal: SpeedCalibration, pricing: PricingSpec) -> ArmEstimate:
    prefill = cal.prompt_tokens_per_s or float("inf")
    decode = cal.generated_tokens_per_s or float("inf")
    computed = est.prompt_tokens - est.cached_prompt_tokens
    serve_s = computed / prefill + est.completion_tokens / decode
    train_s = TRAIN_FACTOR * est.train_tokens / prefill
    requests = est.requests or 0
    notes = list(est.notes)
    if est.embed_texts:
        notes.append(f"embedding {est.embed_texts} texts not included in the time")
    return ArmEstimate(
        arm=arm, strategy=strategy, estimate=est, predict_s=round(serve_s, 1),
        train_s=round(train_s, 1) if est.train_tokens else None, wall_s=round(serve_s + train_s, 1),
        run_usd=serve_s / 3600 * pricing.serving_hourly_usd + train_s / 3600 * pricing.training_hourly_usd,
        per_1k_usd=serve_s / requests * 1000 / 3600 * pricing.serving_hourly_usd if requests else None, notes=notes)
