"""Search spaces: what an arm may tune, declared by the arm, overridden by the task.

Each strategy declares its tunable parameters with a `search_space(config, spec, sizes)`
hook (sizes: train/validation/labels counts, or None while a task file is only being
validated), with ranges sized to the model and the data. A task narrows or widens them
with `search:` inside an arm's config:

    config:
      shots: 4
      search:
        shots: [1, 12]                          # int/float: [low, high]
        learning_rate: {low: 1e-4, high: 3e-3, log: true}
        target_modules: [attention, all-linear] # categorical: the choices
        calibrate: null                         # do not tune: keep the config's value

Every override is checked strictly: an unknown parameter, a range upside down, a log range
through zero, or a value the arm's own config would reject is a `SpecError` naming the
task file's line. Parameters map 1:1 onto fields of the arm's config.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from advisor.errors import SpecError

__all__ = ["Param", "IntRange", "FloatRange", "Choice", "SearchSpace", "parse_search", "merge_space", "trial_config",
           "space_of"]


class Param(BaseModel):
    """One tunable parameter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: int | None = None
    choices: list[Any] | None = None
    enabled: bool = True  # False: declared but tuned only when the task's `search:` names it

    def suggest(self, trial: Any, name: str) -> Any:
        """A value from an Optuna trial."""
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=self.step or 1, log=self.log)
        if self.kind == "float":
            return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)
        return trial.suggest_categorical(name, self.choices)

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return value in (self.choices or [])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low <= value <= self.high and (self.kind == "float" or float(value).is_integer())

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices or []) + "}"
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"[{low:g}, {high:g}]" + (" log" if self.log else "")


def IntRange(low: int, high: int, log: bool = False, enabled: bool = True) -> Param:  # noqa: N802 - a declaration
    return Param(kind="int", low=low, high=max(low, high), log=log, enabled=enabled)


def FloatRange(low: float, high: float, log: bool = False, enabled: bool = True) -> Param:  # noqa: N802
    return Param(kind="float", low=low, high=high, log=log, enabled=enabled)


def Choice(*choices: Any, enabled: bool = True) -> Param:  # noqa: N802
    return Param(kind="categorical", choices=list(choices), enabled=enabled)


SearchSpace = dict[str, Param]


def space_of(strategy_cls: Any, config: BaseModel, spec: Any, sizes: dict[str, int] | None) -> SearchSpace:
    """The arm's own declaration ({} for an arm that declares nothing)."""
    return dict(strategy_cls.search_space(config, spec, sizes) or {})


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_value(config_cls: type[BaseModel], base: dict[str, Any], name: str, value: Any) -> str | None:
    """The arm config's own complaint about `name = value`, or None."""
    try:
        config_cls.model_validate({**base, name: value})
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"{value!r} is not a valid {name}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}"
    return None


def parse_search(raw: Any, declared: SearchSpace, config_cls: type[BaseModel], base: dict[str, Any], *, path: Any,
                 lines: Any, loc: tuple[Any, ...]) -> dict[str, Param | None]:
    """Validate a `search:` block against the arm's declared parameters; None = do not tune."""
    where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")

    def fail(sub: tuple[Any, ...], message: str) -> SpecError:
        field = where + "".join(f".{s}" if not isinstance(s, int) else f"[{s}]" for s in sub)
        return SpecError(path, lines.line_of(loc + sub), field, message)

    if not isinstance(raw, dict):
        raise fail((), "expected a mapping of parameter -> range or choices")
    out: dict[str, Param | None] = {}
    for name, value in raw.items():
        if name not in declared:
            can = ", ".join(sorted(declared)) or "nothing"
            raise fail((name,), f"unknown parameter; this arm can tune: {can}")
        default = declared[name]
        if value is None:
            out[name] = None
            continue
        if default.kind == "categorical":
            choices = value.get("choices") if isinstance(value, dict) else value
            if isinstance(value, dict) and set(value) - {"choices"}:
                raise fail((name,), f"a categorical parameter takes a list of choices (or {{choices: [...]}}); "
                                    f"unexpected: {', '.join(sorted(set(value) - {'choices'}))}")
            if not isinstance(choices, list) or not choices:
                raise fail((name,), "expected a non-empty list of choices, e.g. " + default.describe())
            for c in choices:
                problem = _check_value(config_cls, base, name, c)
                if problem:
                    raise fail((name,), problem)
            out[name] = Param(kind="categorical", choices=choices)
            continue
        if isinstance(value, list):
            if len(value) != 2:
                raise fail((name,), f"expected [low, high], got a list of {len(value)}")
            spec = {"low": value[0], "high": value[1]}
        elif isinstance(value, dict):
            extra = set(value) - {"low", "high", "log", "step"}
            if extra:
                raise fail((name,), f"unknown key(s) {', '.join(sorted(extra))}; expected low, high, log, step")
            if "low" not in value or "high" not in value:
                raise fail((name,), "a range needs both low and high")
            spec = dict(value)
        else:
            raise fail((name,), f"expected a range [low, high] or {{low, high, log}} for this {default.kind} "
                                f"parameter (null: do not tune), got {value!r}")
        low, high = spec["low"], spec["high"]
        if not (_number(low) and _number(high)):
            raise fail((name,), f"low and high must be numbers, got {low!r} and {high!r}")
        if default.kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
            raise fail((name,), f"an integer parameter needs integer bounds, got {low!r} and {high!r}")
        if low >= high:
            raise fail((name,), f"low ({low:g}) must be below high ({high:g})")
        log = spec.get("log", default.log)
        if not isinstance(log, bool):
            raise fail((name, "log"), f"expected true or false, got {log!r}")
        if log and low <= 0:
            raise fail((name,), f"a log range needs low > 0, got {low:g}")
        step = spec.get("step")
        if step is not None and (default.kind != "int" or not isinstance(step, int) or step < 1):
            raise fail((name, "step"), "step is a positive integer, for integer parameters only")
        for bound in (low, high):
            problem = _check_value(config_cls, base, name, int(bound) if default.kind == "int" else bound)
            if problem:
                raise fail((name,), problem)
        out[name] = Param(kind=default.kind, low=low, high=high, log=log, step=step)
    return out


def merge_space(declared: SearchSpace, overrides: dict[str, Param | None] | None) -> SearchSpace:
    """The declared space with the task's overrides applied (None removes a parameter; a
    parameter declared `enabled=False` is tuned only when the task names it)."""
    space = {k: p for k, p in declared.items() if p.enabled}
    for name, param in (overrides or {}).items():
        if param is None:
            space.pop(name, None)
        else:
            space[name] = param
    return space


def trial_config(config_cls: type[BaseModel], base: BaseModel, params: dict[str, Any],
                 fixed: dict[str, Any] | None = None) -> BaseModel:
    """The arm's config with a trial's parameters (and fixed tuning settings) applied, re-validated."""
    data = base.model_dump(mode="json")
    data.update(fixed or {})
    data.update(params)
    return config_cls.model_validate(data)
