"""Seed spread: re-run seed-dependent arms under several seeds, and compare arms with it.

`repeats: N` in a task re-runs every arm whose result depends on a seed (the strategy's
`seed_dependent(config)` hook: demonstration draws, LoRA initialisation and data order) with
seeds s, s+1, ..., s+N-1 on the same test items; the first is the run already recorded. The
arm's `seeds` section keeps each seed's primary metric. Arms that do not depend on a seed
(nearest-neighbour demos, retrieval) keep `seeds = None`: their spread is zero.

Comparing two arms with seed spread (`seed_aware_difference`): the difference of the arms'
seed means is tested against the sum of two variances, the test-sample variance of the
paired difference (from the paired test on the items) and the between-seed variance of each
arm's mean (s^2 / n seeds). This is the "account for every source of variance" procedure of
Bouthillier et al. (2021), "Accounting for Variance in Machine Learning Benchmarks", MLSys:
seeds (initialisation, data order, sampled examples) move results about as much as the test
sample does, so a difference inside the seed spread is not called real. With one seed the
test reduces to the paired test alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from advisor import registry
from advisor.backends.base import Backend
from advisor.evaluation.record import ArmResult
from advisor.evaluation.scoring import score
from advisor.evaluation.strategy import PrepareContext
from advisor.spec.data import Sample, Splits
from advisor.spec.load import LoadedTask
from advisor.tuning.executor import Executor, LocalExecutor, Unit
from advisor.tuning.results import SeedSpread

__all__ = ["seeds_for", "run_seed", "seed_spreads", "seed_spread", "SeedAwareDifference", "seed_aware_difference"]

SEEDED_WHAT = {"prompting": "demonstration draw", "lora": "adapter initialisation and data order"}


def seeds_for(config: Any, task_seed: int, n: int) -> list[int]:
    first = getattr(config, "seed", None)
    first = task_seed if first is None else first
    return [first + k for k in range(n)]


def run_seed(task: LoadedTask, arm_name: str, config: Any, seed: int, splits: Splits, test: list[Sample],
             backend: Backend, cache_dir: Path, status: Callable[[str], None] = lambda m: None) -> float:
    """The primary metric of the arm on `test` with its seed set to `seed`."""
    spec = task.spec
    arm = next(a for a in spec.arms if a.name == arm_name)
    cls = registry.strategies.get(arm.strategy)
    seeded = cls.Config.model_validate({**config.model_dump(mode="json"), "seed": seed})
    strategy = cls(seeded, spec)
    ctx = PrepareContext(spec=spec, splits=splits, arm_name=arm_name, seed=seed, cache_dir=cache_dir, run_dir=None,
                         backend=backend, status=status)
    strategy.prepare(ctx)
    preds = []
    chunk = spec.generation.batch_size * 4
    for start in range(0, len(test), chunk):
        preds += strategy.predict(test[start:start + chunk], backend)
    result = score(spec.type, [s.target for s in test], [p.prediction for p in preds], spec.labels, spec.primary_metric)
    return float(result.metrics[spec.primary_metric])


def seed_spreads(task: LoadedTask, results: list[ArmResult], splits: Splits, test: list[Sample], backend: Backend,
                 cache_dir: Path, executor: Executor | None = None,
                 status: Callable[[str], None] = lambda m: None) -> None:
    """Fill `seeds` on every finished, seed-dependent arm (extra seeds run through the executor)."""
    spec = task.spec
    if spec.repeats < 2:
        return
    executor = executor or LocalExecutor()
    metric = spec.primary_metric
    for result in results:
        arm = next((a for a in spec.arms if a.name == result.name), None)
        if arm is None or result.status != "ok" or metric not in result.metrics:
            continue
        cls = registry.strategies.get(arm.strategy)
        config = task.arm_configs[arm.name]
        if not cls.seed_dependent(config) or "seed" not in cls.Config.model_fields:
            continue
        seeds = seeds_for(config, spec.seed, spec.repeats)
        status(f"repeats: {arm.name} under seeds {', '.join(map(str, seeds[1:]))}")
        units = [Unit(key=f"seed/{spec.name}/{arm.name}/{s}", fn=run_seed,
                      kwargs=dict(task=task, arm_name=arm.name, config=config, seed=s, splits=splits, test=test,
                                  backend=backend, cache_dir=cache_dir, status=status)) for s in seeds[1:]]
        values, used = [float(result.metrics[metric])], [seeds[0]]
        notes = []
        for s, r in zip(seeds[1:], executor.map(units)):
            if r.ok:
                values.append(r.value)
                used.append(s)
            else:
                notes.append(f"seed {s} failed: {type(r.error).__name__}: {r.error}")
        result.seeds = SeedSpread(metric=metric, seeds=used, values=values,
                                  what=SEEDED_WHAT.get(arm.strategy, "the arm's seed"),
                                  how=(f"{metric} on the same {len(test)} test items under each seed; the first is the "
                                       "recorded run" + ("; " + "; ".join(notes) if notes else "")))


def seed_spread(arm: ArmResult) -> SeedSpread | None:
    """The arm's seed spread, or None when it ran with one seed (or does not depend on one)."""
    return arm.seeds if arm.seeds is not None and arm.seeds.n > 1 else None


@dataclass(frozen=True)
class SeedAwareDifference:
    difference: float  # mean over seeds of a minus that of b
    se: float  # sqrt(paired test-sample variance + between-seed variances of both means)
    z: float
    p_value: float  # two-sided, normal approximation
    tie: bool  # p >= alpha: not called real
    method: str


def seed_aware_difference(a: ArmResult, b: ArmResult, paired_se: float, alpha: float = 0.05) -> SeedAwareDifference:
    """Is a's metric different from b's, once the seeds' spread is counted? (Bouthillier et al. 2021)

    paired_se: standard error of the per-item paired difference on the test items (e.g. from
    the paired test the decision already runs). Arms without a spread contribute no seed variance.
    """
    metric = (a.seeds or b.seeds).metric if (a.seeds or b.seeds) else (a.primary_metric or "accuracy")
    mean = lambda r: r.seeds.mean if seed_spread(r) else float(r.metrics.get(metric, 0.0))  # noqa: E731
    var = lambda r: r.seeds.std ** 2 / r.seeds.n if seed_spread(r) else 0.0  # noqa: E731
    diff = mean(a) - mean(b)
    se = math.sqrt(max(0.0, paired_se) ** 2 + var(a) + var(b))
    z = diff / se if se > 0 else (math.inf if diff else 0.0)
    p = math.erfc(abs(z) / math.sqrt(2)) if math.isfinite(z) else 0.0
    return SeedAwareDifference(difference=diff, se=se, z=z, p_value=p, tie=p >= alpha,
                               method="z test on the difference of seed means, variance = paired test-sample "
                                      "variance + between-seed variance of each mean (Bouthillier et al. 2021)")
