"""One arm's Optuna study on the validation split: trials through the executor, pruning, storage.

A trial builds the arm with the trial's configuration, prepares it (draw demonstrations,
build an index, train an adapter) on a `Splits` whose test list is empty, answers the
validation items through the run's backend and scores them with the task's primary metric.
The test split is not passed in, so tuning cannot read it (`validation_only`).

Sampler: Optuna's TPE (Bergstra et al. 2011), seeded; the first trial is the arm's own
configuration when it lies inside the space, so tuning never reports a best below it on
validation. Pruner: the median rule (Optuna's MedianPruner): an arm that reports steps
(LoRA validates while training) is stopped when its value at a step is below the median of
earlier trials at that step. A seconds budget also stops a running trial at its next report.
Storage: SQLite in the run directory, so an interrupted tune resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from advisor import registry
from advisor.backends.base import Backend
from advisor.evaluation.scoring import get_metric, score
from advisor.evaluation.strategy import PrepareContext
from advisor.spec.data import Sample, Splits
from advisor.spec.load import LoadedTask
from advisor.spec.tuning import TuningSpec
from advisor.tuning.executor import Executor, LocalExecutor, Unit
from advisor.tuning.resources import resources_for
from advisor.tuning.results import TrialResult, TuningResult
from advisor.tuning.space import merge_space, space_of, trial_config

__all__ = ["validation_only", "evaluate_config", "tune_arm", "TrialStopped", "space_size", "summarize", "study_setup"]


class TrialStopped(Exception):
    """Raised from a trial's report callback: the pruner or the budget ended the trial."""


MIN_VALIDATION = 30  # fewer validation items than this: one item is worth over 3 points, the note says so


def validation_only(splits: Splits) -> Splits:
    """The splits tuning may see: train and validation; the test list is empty.

    With no validation split, the last 20% of the (already seeded-shuffled) train split is
    held out as validation, so tuning still never touches test."""
    train, val = list(splits.train), list(splits.validation)
    if not val:
        cut = max(1, len(train) // 5)
        train, val = train[:-cut], train[-cut:]
    return Splits(train=train, validation=val, test=[])


def evaluate_config(task: LoadedTask, arm_name: str, config: Any, splits: Splits, items: list[Sample],
                    backend: Backend, cache_dir: Path, report: Callable[[int, float], None] | None = None,
                    status: Callable[[str], None] = lambda m: None) -> float:
    """The primary metric of `config` on `items` (validation samples), through `backend`."""
    spec = task.spec
    if splits.test:
        raise ValueError("tuning must not see the test split")  # a guard for callers; validation_only empties it
    arm = next(a for a in spec.arms if a.name == arm_name)
    strategy = registry.strategies.get(arm.strategy)(config, spec)
    ctx = PrepareContext(spec=spec, splits=splits, arm_name=arm_name, seed=spec.seed, cache_dir=cache_dir,
                         run_dir=None, backend=backend, status=status, report=report, validation_scored=True)
    strategy.prepare(ctx)
    preds = []
    chunk = spec.generation.batch_size * 4
    for start in range(0, len(items), chunk):
        preds += strategy.predict(items[start:start + chunk], backend)
    result = score(spec.type, [s.target for s in items], [p.prediction for p in preds], spec.labels,
                   spec.primary_metric)
    return float(result.metrics[spec.primary_metric])


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _sampler(tuning: TuningSpec, seed: int):
    import optuna

    if tuning.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    trials = tuning.budget.trials or 12
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, trials // 3)))


def _pruner(tuning: TuningSpec):
    import optuna

    if tuning.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


def space_size(space: dict) -> float:
    size = 1.0
    for p in space.values():
        if p.kind == "categorical":
            size *= len(p.choices)
        elif p.kind == "int" and not p.log:
            size *= (int(p.high) - int(p.low)) // (p.step or 1) + 1
        else:
            return float("inf")
    return size


def study_setup(task: LoadedTask, arm_name: str, splits: Splits, tuning: TuningSpec) -> tuple:
    """What a study of one arm works with (local or on Ray): splits, validation items, arm, its
    class and own config, the search space, fixed trial settings, metric, direction and seed."""
    spec = task.spec
    splits = validation_only(splits)
    items = splits.validation[: tuning.max_validation] if tuning.max_validation else splits.validation
    arm = next(a for a in spec.arms if a.name == arm_name)
    cls = registry.strategies.get(arm.strategy)
    base = task.arm_configs[arm_name]
    sizes = {"train": len(splits.train), "validation": len(splits.validation), "labels": len(spec.labels or [])}
    space = merge_space(space_of(cls, base, spec, sizes), task.searches.get(arm_name))
    fixed = dict(cls.tuning_fixed(base, spec, sizes) or {})
    metric = spec.primary_metric
    higher = get_metric(metric).higher_is_better
    seed = tuning.seed if tuning.seed is not None else spec.seed
    return splits, items, arm, cls, base, space, fixed, metric, higher, seed


def tune_arm(task: LoadedTask, arm_name: str, splits: Splits, backend: Backend, tuning: TuningSpec, *,
             storage: Path | None, cache_dir: Path, executor: Executor | None = None,
             status: Callable[[str], None] = lambda m: None) -> TuningResult:
    """Spend the budget on one arm; every trial and the chosen configuration are returned."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    executor = executor or LocalExecutor()
    spec = task.spec
    splits, items, arm, cls, base, space, fixed, metric, higher, seed = study_setup(task, arm_name, splits, tuning)
    budget = tuning.budget
    name = f"{arm_name}-" + _digest({"space": {k: p.model_dump() for k, p in space.items()}, "fixed": fixed,
                                     "base": base.model_dump(mode="json"), "metric": metric, "seed": seed,
                                     "items": [s.id for s in items], "train": [s.id for s in splits.train],
                                     "sampler": tuning.sampler, "pruner": tuning.pruner, "backend": backend.info.model_id})
    url = f"sqlite:///{storage}" if storage is not None else None
    study = optuna.create_study(study_name=name, storage=url, load_if_exists=True, sampler=_sampler(tuning, seed),
                                pruner=_pruner(tuning), direction="maximize" if higher else "minimize")
    base_params = {k: getattr(base, k, None) for k in space}
    inside = all(p.contains(base_params[k]) for k, p in space.items())
    own_first = False  # the arm's own config has "auto" values outside the space (LoRA rank, lr): run it as is
    if tuning.include_config and not study.trials:
        if inside:
            study.enqueue_trial(base_params, user_attrs={"enqueued": True})
        else:
            own_first = True
    finite = space_size(space)
    seen: dict[str, float] = {}

    def finished() -> list:
        return [t for t in study.trials if t.state.is_finished()]

    def spent() -> float:
        return sum(float(t.user_attrs.get("seconds", 0.0)) for t in finished())

    for t in finished():
        if t.state == optuna.trial.TrialState.COMPLETE and (t.params or not space):
            seen.setdefault(json.dumps(t.params, sort_keys=True), t.value)
    started = time.perf_counter()
    already = spent()

    def left() -> bool:
        if budget.trials is not None:
            return len(finished()) < budget.trials and (len(seen) < finite or not finished())
        return already + (time.perf_counter() - started) < budget.seconds and (len(seen) < finite or not finished())

    deadline = None if budget.seconds is None else started + (budget.seconds - already)

    def reporter(trial: Any, intermediate: list[list[float]]) -> Callable[[int, float], None]:
        def report(step: int, value: float) -> None:
            intermediate.append([step, round(float(value), 6)])
            trial.report(float(value), step)
            if trial.should_prune():
                raise TrialStopped(f"pruned at step {step}: value {value:.4f} below the median of earlier trials")
            if deadline is not None and time.perf_counter() > deadline:
                raise TrialStopped(f"stopped at step {step}: the tuning budget of {budget.seconds:g} s ran out")
        return report

    while left():
        # As many trials as the executor runs at once (1 locally); each is told when its result is back.
        room = executor.slots if budget.trials is None else min(executor.slots, budget.trials - len(finished()))
        batch = []
        for _ in range(max(1, room)):
            trial = study.ask()
            if own_first:
                own_first, params, key = False, {}, "own config"
                trial.set_user_attr("enqueued", True)
                trial.set_user_attr("own_params", base_params)
            else:
                params = {k: p.suggest(trial, k) for k, p in space.items()}
                key = json.dumps(params, sort_keys=True)
            if key in seen:  # TPE proposed a configuration already measured: reuse it, do not re-run
                trial.set_user_attr("seconds", 0.0)
                trial.set_user_attr("note", "same configuration as an earlier trial: its value reused")
                study.tell(trial, seen[key])
                continue
            status(f"tuning {arm_name}: trial {trial.number + 1}" + (f"/{budget.trials}" if budget.trials else "")
                   + f" {params}")
            intermediate: list[list[float]] = []
            config = trial_config(cls.Config, base, params, fixed)
            unit = Unit(key=f"tune/{spec.name}/{arm_name}/trial-{trial.number}", fn=evaluate_config,
                        kwargs=dict(task=task, arm_name=arm_name, config=config, splits=splits, items=items,
                                    backend=backend, cache_dir=cache_dir, report=reporter(trial, intermediate),
                                    status=status),
                        resources=resources_for(arm.strategy, config, spec, kind="trial").as_dict())
            batch.append((trial, params, key, intermediate, unit))
        if not batch:
            continue
        for (trial, params, key, intermediate, _), result in zip(batch, executor.map([b[-1] for b in batch])):
            trial.set_user_attr("seconds", round(result.seconds, 3))
            trial.set_user_attr("intermediate", intermediate)
            if isinstance(result.error, TrialStopped):
                trial.set_user_attr("note", str(result.error))
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            elif result.error is not None:
                trial.set_user_attr("note", f"{type(result.error).__name__}: {result.error}")
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                if params or not space:  # the own config outside the space is no point of it
                    seen[key] = result.value
                study.tell(trial, result.value)
    return _result(study, space, fixed, base, cls, tuning, seed, metric, higher, items, storage)


def _result(study: Any, space: dict, fixed: dict, base: Any, cls: Any, tuning: TuningSpec, seed: int, metric: str,
            higher: bool, items: list[Sample], storage: Path | None) -> TuningResult:
    import optuna

    states = {optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
              optuna.trial.TrialState.FAIL: "failed"}
    trials = [TrialResult(number=t.number, params=t.params or t.user_attrs.get("own_params", {}), state=states[t.state],
                          value=t.value if t.state == optuna.trial.TrialState.COMPLETE else None,
                          seconds=float(t.user_attrs.get("seconds", 0.0)), intermediate=t.user_attrs.get("intermediate", []),
                          note=t.user_attrs.get("note"), enqueued=bool(t.user_attrs.get("enqueued")))
              for t in study.trials if t.state in states]
    own_outside = {t.number for t in study.trials if t.user_attrs.get("enqueued") and not t.params}
    return summarize(trials, own_outside, space, fixed, base, cls, tuning, seed, metric, higher, items, storage)


def summarize(trials: list[TrialResult], own_outside: set[int], space: dict, fixed: dict, base: Any, cls: Any,
              tuning: TuningSpec, seed: int, metric: str, higher: bool, items: list[Sample], storage: Path | None,
              how: str | None = None) -> TuningResult:
    """The record of a finished study (local Optuna or Ray Tune): best trial, chosen config, every trial."""
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    best = (max if higher else min)(complete, key=lambda t: t.value) if complete else None
    best_params = {} if best is None or best.number in own_outside else best.params
    baseline = next((t.value for t in trials if t.enqueued and t.state == "complete"), None)
    # The chosen config keeps the trials' fixed settings (so a LoRA adapter trained in the best
    # trial is reused from the cache), except those that only make trials cheaper (`trial_only`).
    keep = {k: v for k, v in fixed.items() if k not in getattr(cls, "trial_only", ())}
    chosen = trial_config(cls.Config, base, best_params, keep)
    notes = []
    if tuning.budget.seconds is not None and space and len(complete) < 2:
        ran = [t.seconds for t in trials if t.seconds > 0]
        notes.append(f"the budget of {tuning.budget.seconds:g} s bought {len(complete)} complete trial(s) of {len(trials)} "
                     + (f"(the longest ran {max(ran):,.0f} s)" if ran else "")
                     + ": the search space was barely explored; raise the budget")
    if space and len(items) < MIN_VALIDATION:
        notes.append(f"it was scored on {len(items)} validation item(s), so one item moves the metric by "
                     f"{100 / max(len(items), 1):.0f} points and trials closer than that are tied by chance; give the "
                     f"task a validation split of at least {MIN_VALIDATION} items")
    return TuningResult(
        metric=metric, higher_is_better=higher, budget=tuning.budget.model_dump(exclude_none=True),
        sampler=tuning.sampler, pruner=tuning.pruner, seed=seed,
        space={k: {**p.model_dump(exclude_none=True, exclude={"enabled"}), "range": p.describe()} for k, p in space.items()},
        trials=trials, best_params=best_params, best_value=best.value if best else None,
        baseline_value=baseline, chosen_config=chosen.model_dump(mode="json"),
        seconds=round(sum(t.seconds for t in trials), 3), validation_items=len(items),
        storage=str(storage) if storage else None, notes=notes,
        how=(f"each trial: the arm prepared with the trial's configuration, then {len(items)} validation items "
             f"scored with {metric} through the run's backend; seconds = wall time of prepare + validation "
             "(time.perf_counter); the test split is never passed to tuning" + (f"; {how}" if how else "")))
