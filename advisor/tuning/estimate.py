"""The dry run's tuning estimate: how long a budget would take, before anything runs.

Per arm, one trial is estimated with the arm's own `estimate` hook on the validation items
(requests, tokens, training steps) at the trial settings tuning fixes, with the midpoint of
the epochs/steps range for arms that train; the dry run's measured speeds turn that into
seconds. A trials budget costs trials x one trial; a seconds budget costs the seconds (a
trial may overrun it until its next report). Pruning can only shorten LoRA trials.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from advisor import registry
from advisor.backends.base import Backend
from advisor.evaluation.strategy import PrepareContext
from advisor.spec.data import Splits
from advisor.spec.load import LoadedTask
from advisor.spec.tuning import TuningSpec
from advisor.tuning.space import merge_space, space_of, trial_config
from advisor.tuning.study import space_size, validation_only

__all__ = ["estimate_tuning", "tuning_table", "below_one_trial"]


def estimate_tuning(task: LoadedTask, splits: Splits, backend: Backend, cal: Any, tuning: TuningSpec,
                    arms: list[str] | None, cache_dir: Any) -> dict[str, Any]:
    from advisor.evaluation.dryrun import _times

    spec = task.spec
    splits = validation_only(splits)
    items = splits.validation[: tuning.max_validation] if tuning.max_validation else splits.validation
    sizes = {"train": len(splits.train), "validation": len(splits.validation), "labels": len(spec.labels or [])}
    rows = []
    for arm in spec.arms:
        if arms and arm.name not in arms:
            continue
        cls = registry.strategies.get(arm.strategy)
        base = task.arm_configs[arm.name]
        space = merge_space(space_of(cls, base, spec, sizes), task.searches.get(arm.name))
        fixed = dict(cls.tuning_fixed(base, spec, sizes) or {})
        for name in ("epochs", "max_steps"):
            if name in space:
                p = space[name]
                mid = (p.low + p.high) / 2
                fixed[name] = round(mid) if p.kind == "int" else mid
        config = trial_config(cls.Config, base, {}, fixed)
        ctx = PrepareContext(spec=spec, splits=splits, arm_name=arm.name, seed=spec.seed, cache_dir=cache_dir,
                             run_dir=None, backend=backend)
        est = cls(config, spec).estimate(ctx, items)
        per_trial = _times(arm.name, arm.strategy, est, cal, spec.pricing).wall_s
        budget = tuning.budget
        trials = budget.trials
        if trials is not None:  # a finite space is exhausted early (an arm with nothing to tune: one trial)
            trials = int(min(trials, space_size(space) + (0 if _inside(space, base) else 1)))
        total = None if per_trial is None else (trials * per_trial if trials is not None else float(budget.seconds))
        notes = ["nothing to tune: one trial"] if not space else []
        if budget.seconds is not None and per_trial is not None and space and per_trial > budget.seconds / 2:
            notes.append(below_one_trial(budget.seconds, per_trial))
        rows.append({"arm": arm.name, "parameters": {k: p.describe() for k, p in space.items()},
                     "per_trial_s": per_trial, "trials": trials, "total_s": total, "notes": notes})
    known = [r["total_s"] for r in rows if r["total_s"] is not None]
    return {"budget": tuning.budget.describe(), "validation_items": len(items), "arms": rows,
            "total_s": round(sum(known), 1) if known else None,
            "how": "one trial = the arm's estimate on the validation items at the midpoint of its epochs/steps range, "
                   "timed with this machine's measured speeds; total = trials x one trial (or the seconds budget)"}


def below_one_trial(seconds: float, per_trial: float) -> str:
    """The warning for a seconds budget that buys fewer than two trials of an arm."""
    what = "less than one trial" if per_trial > seconds else "fewer than two trials"
    return (f"a budget of {seconds:,.0f} s buys {what} (~{per_trial:,.0f} s each): the arm's own configuration "
            f"is about all it tries, and a trial still running when the budget ends is stopped; give it at least "
            f"{max(2 * per_trial, 1):,.0f} s")


def _inside(space: dict, base: Any) -> bool:
    return all(p.contains(getattr(base, k, None)) for k, p in space.items())


def tuning_table(est: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=f"tuning estimate: {est['budget']} · {est['validation_items']} "
                                             f"validation items per trial",
                  caption=f"all arms: ~{est['total_s'] or 0:,.0f} s; " + est["how"])
    for col in ("arm", "tunes", "one trial", "trials", "budget"):
        table.add_column(col, justify="left" if col in ("arm", "tunes") else "right")
    for r in est["arms"]:
        tunes = ", ".join(f"{k} {v}" for k, v in r["parameters"].items()) or "—"
        table.add_row(r["arm"], tunes, "—" if r["per_trial_s"] is None else f"{r['per_trial_s']:,.1f} s",
                      "—" if r["trials"] is None else str(r["trials"]),
                      "—" if r["total_s"] is None else f"{r['total_s']:,.0f} s")
    notes = [f"{r['arm']}: {n}" for r in est["arms"] for n in r["notes"]]
    if notes:
        table.caption += "\n" + "\n".join(f"! {n}" for n in notes)
    return table
