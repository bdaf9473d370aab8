"""One arm's study on Ray Tune: the same search, budget and record as the local Optuna study.

The search space, fixed settings, seed and validation items come from
`advisor.tuning.study.study_setup`, so both paths search the same thing:
- search: Ray's `OptunaSearch` driving Optuna's TPE sampler built by the local path
  (`study._sampler`: seeded, same startup trials), over a define-by-run space that calls the
  same `suggest` methods in the same order; the arm's own configuration is the first point
  (`points_to_evaluate`) when it lies inside the space, else it runs first as one unit;
- pruning: Ray's `MedianStoppingRule` on the steps an arm reports (LoRA validates while
  training): a trial whose best value at step t is below the median of the other trials'
  running means at t is stopped, after one step and two trials (Optuna's MedianPruner in the
  local path compares the value at step t with the median of earlier trials' values at t);
- budget: `num_samples` trials (at most the size of a finite space) or `time_budget_s`;
- resources: each trial asks what its arm declares (`advisor.tuning.resources`), so as many
  run at once as the cluster holds.
Trials read the validation split only (`validation_only`). Ray Tune's own result files go to
a temporary folder that is removed afterwards: the run directory is written by the driver.
Differences from the local path, by design of Ray Tune: concurrent trials are proposed before
earlier ones report (TPE sees fewer results), and a repeated configuration runs again
instead of reusing the earlier value.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from advisor.backends.base import Backend
from advisor.forwarded import Forwarding, forwarding
from advisor.spec.data import Sample, Splits
from advisor.spec.load import LoadedTask
from advisor.spec.tuning import TuningSpec
from advisor.tuning.executor import Unit
from advisor.tuning.outbox import flush_outboxes
from advisor.tuning.remote import RemoteExecutor
from advisor.tuning.resources import fit, resources_for
from advisor.tuning.results import TrialResult, TuningResult
from advisor.tuning.space import trial_config
from advisor.tuning.study import _sampler, evaluate_config, space_size, study_setup, summarize

__all__ = ["tune_arm_on_ray"]


class _Space:
    """The define-by-run space: the local path's `suggest` calls, in its order (picklable, Tune saves it)."""

    def __init__(self, space: dict) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict:
        return {k: p.suggest(trial, k) for k, p in self.space.items()}


def _trial(params: dict, *, task: LoadedTask, arm_name: str, splits: Splits, items: list[Sample], backend: Backend,
           cache_dir: Path, base: Any, fixed: dict, config_cls: type) -> None:
    """A Ray Tune function trainable: one configuration on the validation items."""
    from ray import tune

    def report(step: int, value: float) -> None:
        tune.report({"value": float(value), "step": int(step), "final": 0})

    config = trial_config(config_cls, base, params, fixed)
    try:
        value = evaluate_config(task, arm_name, config, splits, items, backend, cache_dir, report=report)
    finally:
        flush_outboxes()  # its progress messages reach the driver's queue before the trial ends
    tune.report({"value": float(value), "final": 1})


def _trials_of(grid: Any, first_number: int, own_first: bool) -> list[TrialResult]:
    """Ray Tune's results as the record's trials, numbered in the order Tune created them."""
    out = []
    for n, result in enumerate(grid, start=first_number):
        metrics = result.metrics or {}
        frame = result.metrics_dataframe
        steps = [] if frame is None or "final" not in frame else [
            [int(row["step"]), round(float(row["value"]), 6)] for _, row in frame.iterrows() if not row["final"]]
        if result.error is not None:
            state, note = "failed", f"{type(result.error).__name__}: {str(result.error).splitlines()[0]}"
        elif metrics.get("final") == 1:
            state, note = "complete", None
        else:
            state, note = "pruned", f"stopped by the median rule at step {metrics.get('step')}"
        out.append(TrialResult(number=n, params=dict(result.config or {}), state=state,
                               value=float(metrics["value"]) if state == "complete" else None,
                               seconds=round(float(metrics.get("time_total_s", 0.0)), 3), intermediate=steps,
                               note=note, enqueued=own_first and n == first_number))
    return out


@contextmanager
def _quiet_tune() -> Iterator[None]:
    """Ray Tune without its own progress tables (the driver reports progress)."""
    saved = {k: os.environ.get(k) for k in _QUIET}
    os.environ.update(_QUIET)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_QUIET = {"RAY_AIR_NEW_OUTPUT": "0"}  # the legacy reporter at verbose=0 prints nothing


def tune_arm_on_ray(*, pool: Any, task: LoadedTask, arm_name: str, splits: Splits, backend: Backend,
                    tuning: TuningSpec, storage: Path | None, cache_dir: Path, executor: Any = None,
                    status: Callable[[str], None] = lambda m: None) -> TuningResult:
    """Spend the budget on one arm with Ray Tune; every trial and the chosen configuration are returned."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler, MedianStoppingRule
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = task.spec
    splits, items, arm, cls, base, space, fixed, metric, higher, seed = study_setup(task, arm_name, splits, tuning)
    budget = tuning.budget
    base_params = {k: getattr(base, k, None) for k in space}
    inside = all(p.contains(base_params[k]) for k, p in space.items())
    trials: list[TrialResult] = []
    own_outside: set[int] = set()
    seconds_left = budget.seconds
    if tuning.include_config and (not inside or not space):  # the own config cannot be a point of the space
        status(f"tuning {arm_name} on Ray: trial 1 (own config)")
        unit = Unit(key=f"tune/{spec.name}/{arm_name}/trial-0", fn=evaluate_config,
                    kwargs=dict(task=task, arm_name=arm_name, config=base, splits=splits, items=items, backend=backend,
                                cache_dir=cache_dir),
                    resources=resources_for(arm.strategy, base, spec, kind="trial").as_dict())
        r = RemoteExecutor(pool, status).map([unit])[0]
        trials.append(TrialResult(number=0, params=base_params, state="complete" if r.ok else "failed",
                                  value=r.value if r.ok else None, seconds=round(r.seconds, 3), enqueued=True,
                                  note=None if r.ok else f"{type(r.error).__name__}: {r.error}"))
        own_outside.add(0)
        if seconds_left is not None:
            seconds_left -= r.seconds
    samples = (budget.trials - len(trials)) if budget.trials is not None else -1
    finite = space_size(space)
    if finite != float("inf"):
        samples = int(finite) if samples < 0 else min(samples, int(finite))
    if space and samples != 0 and (seconds_left is None or seconds_left > 0):
        options, _ = fit(resources_for(arm.strategy, base, spec, kind="trial"), pool.cluster, pool.largest)
        per_trial = {"cpu": options["num_cpus"], "gpu": options.get("num_gpus", 0)}
        if "memory" in options:
            per_trial["memory"] = options["memory"]
        mode = "max" if higher else "min"
        search = OptunaSearch(space=_Space(space), metric="value",
                              mode=mode, sampler=_sampler(tuning, seed),
                              points_to_evaluate=[base_params] if tuning.include_config and inside else None)
        scheduler = (FIFOScheduler() if tuning.pruner == "none" else
                     MedianStoppingRule(time_attr="training_iteration", metric="value", mode=mode, grace_period=1,
                                        min_samples_required=2))
        folder = Path(tempfile.mkdtemp(prefix="advisor-raytune-"))
        ctx = Forwarding(pool.channel)
        try:
            with forwarding(ctx):  # the backend's progress reporter becomes a stub on the workers
                trainable = tune.with_parameters(_trial, task=task, arm_name=arm_name, splits=splits, items=items,
                                                 backend=backend, cache_dir=cache_dir, base=base, fixed=fixed,
                                                 config_cls=cls.Config)
            concurrent = max(1, int(pool.slots // max(1.0, per_trial["cpu"])))
            status(f"tuning {arm_name} on Ray Tune: {samples if samples > 0 else 'as many as fit'} trials, "
                   f"{concurrent} at a time")
            tuner = tune.Tuner(
                tune.with_resources(trainable, per_trial),
                tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler, num_samples=samples,
                                            max_concurrent_trials=concurrent, time_budget_s=seconds_left),
                run_config=tune.RunConfig(name=f"{arm_name}", storage_path=str(folder), verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=1)))
            with _quiet_tune():
                grid = tuner.fit()
            for message in pool.drain():
                ctx.apply(message)
            trials += _trials_of(grid, len(trials), bool(tuning.include_config and inside))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return summarize(trials, own_outside, space, fixed, base, cls, tuning, seed, metric, higher, items, None,
                     how="trials on Ray Tune (OptunaSearch with the TPE sampler, median stopping rule); "
                         "seconds = Ray Tune's time_total_s of each trial")
