"""Tuning: what each arm may tune, equal budgets, the Optuna search, seed repeats, executors.

This sub-package owns the search-space declarations and their validation (`space`), the
per-arm Optuna study run on the validation split only (`study`), the driver that tunes every
arm on the same budget (`driver`), re-running seed-dependent arms under several seeds and the
seed-aware comparison (`repeats`), the typed record sections (`results`) and the executor seam
through which trials and arms run (`executor`: local and sequential by default, so a
distributed executor can be added without touching the tuning code). Optuna is imported only
when a study runs, so `import advisor` stays light.
"""

from advisor.tuning.executor import Executor, LocalExecutor, Unit, UnitResult, get_executor
from advisor.tuning.results import SeedSpread, TrialResult, TuningResult

__all__ = ["Executor", "LocalExecutor", "Unit", "UnitResult", "get_executor", "SeedSpread", "TrialResult",
           "TuningResult"]
