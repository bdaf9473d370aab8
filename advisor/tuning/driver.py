"""Tune every arm on the same budget, then hand the chosen configurations to the run.

`tune_arms` runs one study per arm (`advisor.tuning.study.tune_arm`), each arm as one unit
through the executor, all on the validation split; it returns each arm's `TuningResult`.
`apply_tuning` swaps the chosen configurations into the task so the test run uses them, and
`attach_tuning` puts the tuning record and its one-off cost on each arm's result.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from advisor.backends.base import Backend
from advisor.evaluation.record import ArmResult
from advisor.evaluation.sections import OneOffCost
from advisor.spec.data import Splits
from advisor.spec.load import LoadedTask
from advisor.spec.tuning import TuningSpec
from advisor.tuning.executor import Executor, LocalExecutor, Unit
from advisor.tuning.results import TuningResult
from advisor.tuning.study import tune_arm, validation_only

__all__ = ["tune_arms", "apply_tuning", "attach_tuning", "STORAGE_FILE"]

STORAGE_FILE = "tuning.sqlite3"


def tune_arms(task: LoadedTask, splits: Splits, backend: Backend, arms: list[str], tuning: TuningSpec, *,
              run_dir: Path | None, cache_dir: Path, executor: Executor | None = None,
              status: Callable[[str], None] = lambda m: None) -> dict[str, TuningResult]:
    """Each arm's study on the same budget; arms whose tuning failed are left out (and say why)."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        from advisor.errors import UserError

        raise UserError("tuning needs Optuna, which is not installed", hint="pip install 'advisor[tune]'") from None
    executor = executor or LocalExecutor()
    firewalled = validation_only(splits)  # from here on nothing below can reach the test split
    storage = run_dir / STORAGE_FILE if run_dir is not None else None
    study = getattr(executor, "tune_arm", None)  # an engine with its own tuner (Ray Tune) runs each study itself
    units = [Unit(key=f"tune/{task.spec.name}/{name}", fn=study or tune_arm,
                  kwargs=dict(task=task, arm_name=name, splits=firewalled, backend=backend, tuning=tuning,
                              storage=storage, cache_dir=cache_dir, executor=executor, status=status))
             for name in arms]
    out: dict[str, TuningResult] = {}
    run = LocalExecutor().map if study else executor.map  # the study spreads its trials on the cluster
    for name, result in zip(arms, run(units)):
        if result.ok:
            out[name] = result.value
        else:
            status(f"tuning {name} failed ({type(result.error).__name__}: {result.error}); its own config is used")
    return out


def apply_tuning(task: LoadedTask, tuned: dict[str, TuningResult]) -> LoadedTask:
    """The task with each tuned arm's chosen configuration in place of its own."""
    from advisor import registry

    configs = dict(task.arm_configs)
    for arm in task.spec.arms:
        if arm.name in tuned:
            configs[arm.name] = registry.strategies.get(arm.strategy).Config.model_validate(tuned[arm.name].chosen_config)
    return dataclasses.replace(task, arm_configs=configs)


def attach_tuning(result: ArmResult, tuning: TuningResult | None, hardware: str = "cpu") -> None:
    """Record the tuning on the arm and count its seconds as a one-off cost (like training)."""
    if tuning is None:
        return
    result.tuning = tuning
    cost = OneOffCost(kind="other", what="tuning (validation trials)", seconds=tuning.seconds, hardware=hardware)
    result.prepare.one_off = [*result.prepare.one_off, cost]
