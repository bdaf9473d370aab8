"""Load a task file: parse YAML, validate strictly, resolve paths, validate arm configs.

Every problem becomes a `SpecError` naming the file, the line and the field; all problems
found in one pass are reported together so a user fixes them in one go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from advisor import registry
from advisor.errors import SpecError, TaskProblem, UserError
from advisor.spec.model import TaskSpec
from advisor.spec.yamlsrc import LineMap, load_yaml

__all__ = ["LoadedTask", "load_task", "check_arm_needs", "format_validation_error"]


@dataclass(frozen=True)
class LoadedTask:
    """A validated task: the spec with absolute data paths, and each arm's typed config."""

    spec: TaskSpec
    path: Path
    arm_configs: dict[str, BaseModel]
    lines: LineMap
    searches: dict[str, dict[str, Any]] = field(default_factory=dict)  # arm -> `search:` overrides (advisor.tuning.space)


def _describe(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(
    path: Path, lines: LineMap, exc: ValidationError, prefix: tuple[Any, ...] = (), allowed: dict | None = None
) -> SpecError:
    """One SpecError listing every pydantic error as `file:line: field: message`."""
    problems: list[tuple[int | None, str, str]] = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        message = _describe(err)
        if err.get("type") == "extra_forbidden" and allowed is not None:
            parent = allowed.get(loc[:-1])
            if parent:
                message += f"; expected one of: {', '.join(parent)}"
        problems.append((lines.line_of(loc), _field_name(loc), message))
    first_line, first_field, first_msg = problems[0]
    error = SpecError(path, first_line, first_field, first_msg)
    if len(problems) > 1:
        rest = "\n".join(f"{path}:{ln}: {fld}: {msg}" if ln else f"{path}: {fld}: {msg}" for ln, fld, msg in problems[1:])
        error.message += "\n" + rest
    return error


def _allowed_fields(model: type[BaseModel], loc: tuple[Any, ...], data: Any, out: dict) -> None:
    """Map location -> allowed keys, walking the data so list items get their own entry."""
    out[loc] = sorted(model.model_fields)
    if not isinstance(data, dict):
        return
    for name, info in model.model_fields.items():
        ann = info.annotation
        for candidate in getattr(ann, "__args__", ()) + (ann,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and name in data:
                _allowed_fields(candidate, loc + (name,), data[name], out)
            inner = getattr(candidate, "__args__", ())
            if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
                items = data.get(name)
                for i, item in enumerate(items if isinstance(items, list) else []):  # `arms: 5` is pydantic's to report
                    _allowed_fields(inner[0], loc + (name, i), item, out)


def _resolve(spec: TaskSpec, base: Path) -> TaskSpec:
    updates = {}
    for key in ("path", "train", "validation", "test"):
        value = getattr(spec.data, key)
        if value is not None:
            updates[key] = (base / value).resolve() if not value.is_absolute() else value
    model = spec.model
    local = (base / model.name)
    if not Path(model.name).is_absolute() and ("/" in model.name or model.name.startswith(".")) and local.exists():
        model = model.model_copy(update={"name": str(local.resolve())})
    corpus = spec.corpus
    if corpus is not None and not corpus.path.is_absolute():
        corpus = corpus.model_copy(update={"path": (base / corpus.path).resolve()})
    return spec.model_copy(update={"data": spec.data.model_copy(update=updates), "model": model, "corpus": corpus})


def _check_duplicate_labels(path: Path, lines: LineMap, labels: Any) -> None:
    """A repeated label is reported at its own line (the model's check can only name `labels`)."""
    if not isinstance(labels, list):
        return
    first: dict[Any, int] = {}
    for i, label in enumerate(labels):
        if not isinstance(label, (str, int, float, bool)):
            continue
        if label in first:
            j = first[label]
            raise SpecError(path, lines.line_of(("labels", i)), f"labels[{i}]",
                            f"duplicate label {label!r} (also labels[{j}], line {lines.line_of(('labels', j))})")
        first[label] = i


def check_arm_needs(task: LoadedTask, train_rows: int, arms: list[str] | None = None) -> None:
    """Every arm's demand on the train split, checked when the data is read (validate and
    run), so a task that cannot run fails with exit 2 before anything is written. An arm
    states its need with its `min_train_rows(config)` hook (Strategy's default: its shots)."""
    for i, arm in enumerate(task.spec.arms):
        if arms is not None and arm.name not in arms:
            continue
        config = task.arm_configs.get(arm.name)
        need = registry.strategies.get(arm.strategy).min_train_rows(config)
        if need > train_rows:
            field = ("arms", i, "config", "shots")
            raise SpecError(task.path, task.lines.line_of(field), f"arms[{i}].config.shots",
                            f"arm {arm.name!r} needs {need} training examples but the train split has "
                            f"{train_rows} row(s); lower shots or add training data")


def load_task(path: str | Path) -> LoadedTask:
    """Parse and validate a task file; raises SpecError on any problem."""
    path = Path(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(path, lines.line_of(()), None, "a task file must be a YAML mapping of fields")
    _check_duplicate_labels(path, lines, data.get("labels"))
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as exc:
        allowed: dict = {}
        _allowed_fields(TaskSpec, (), data, allowed)
        raise format_validation_error(path, lines, exc, allowed=allowed) from None
    spec = _resolve(spec, path.resolve().parent)

    for key in ("path", "train", "validation", "test"):
        file = getattr(spec.data, key)
        if file is not None and not file.is_file():
            raise SpecError(path, lines.line_of(("data", key)), f"data.{key}", f"data file not found: {file}")
    if spec.corpus is not None and not spec.corpus.path.exists():
        raise SpecError(path, lines.line_of(("corpus", "path")), "corpus.path", f"corpus not found: {spec.corpus.path}")
    if spec.primary_metric not in registry.metrics:
        raise SpecError(path, lines.line_of(("metric",)), "metric",
                        f"unknown metric {spec.primary_metric!r}; expected one of: {', '.join(registry.metrics.names())}")
    if spec.primary_metric == "judge":
        raise SpecError(path, lines.line_of(("metric",)), "metric",
                        "`judge` grades answers after the arms ran and cannot be the primary metric; "
                        "add an evaluation.judge block and choose another metric")
    judge = spec.evaluation.judge
    if judge is not None and judge.backend not in registry.backends:
        raise SpecError(path, lines.line_of(("evaluation", "judge", "backend")), "evaluation.judge.backend",
                        f"unknown backend {judge.backend!r}; expected one of: {', '.join(registry.backends.names())}")
    for i, name in enumerate(spec.evaluation.metrics):
        if name not in registry.metrics:
            raise SpecError(path, lines.line_of(("evaluation", "metrics", i)), f"evaluation.metrics[{i}]",
                            f"unknown metric {name!r}; expected one of: {', '.join(registry.metrics.names())}")
    if spec.backend not in registry.backends:
        raise SpecError(path, lines.line_of(("backend",)), "backend",
                        f"unknown backend {spec.backend!r}; expected one of: {', '.join(registry.backends.names())}")

    from advisor.evaluation.strategy import Strategy  # here: the evaluation package imports the spec package

    configs: dict[str, BaseModel] = {}
    searches: dict[str, dict[str, Any]] = {}
    arms = []
    for i, arm in enumerate(spec.arms):
        raw_search = arm.config.get("search") if isinstance(arm.config, dict) else None
        if "search" in arm.config:  # tuning's search space, not a setting of the arm itself
            arm = arm.model_copy(update={"config": {k: v for k, v in arm.config.items() if k != "search"}})
        arms.append(arm)
        if arm.strategy not in registry.strategies:
            raise SpecError(path, lines.line_of(("arms", i, "strategy")), f"arms[{i}].strategy",
                            f"unknown strategy {arm.strategy!r}; expected one of: {', '.join(registry.strategies.names())}")
        strategy_cls = registry.strategies.get(arm.strategy)
        if not (isinstance(strategy_cls, type) and issubclass(strategy_cls, Strategy)):
            raise SpecError(path, lines.line_of(("arms", i, "strategy")), f"arms[{i}].strategy",
                            f"strategy {arm.strategy!r} is registered as {strategy_cls!r}, which is not a subclass "
                            "of advisor.evaluation.strategy.Strategy")
        config_cls = strategy_cls.Config
        try:
            configs[arm.name] = config_cls.model_validate(arm.config)
        except ValidationError as exc:
            allowed = {("arms", i, "config"): sorted([*config_cls.model_fields, "search"])}
            raise format_validation_error(path, lines, exc, prefix=("arms", i, "config"), allowed=allowed) from None
        try:  # the arm's own checks (e.g. rag: the corpus holds documents)
            strategy_cls.check_task(spec, configs[arm.name])
        except UserError as exc:
            loc = exc.loc if isinstance(exc, TaskProblem) else ("arms", i, "config")
            raise SpecError(path, lines.line_of(loc), _field_name(loc), exc.message) from None
        if "search" in spec.arms[i].config:
            from advisor.tuning.space import parse_search, space_of

            searches[arm.name] = parse_search(raw_search, space_of(strategy_cls, configs[arm.name], spec, None),
                                              strategy_cls.Config, arm.config, path=path, lines=lines,
                                              loc=("arms", i, "config", "search"))
    spec = spec.model_copy(update={"arms": arms})
    return LoadedTask(spec=spec, path=path.resolve(), arm_configs=configs, lines=lines, searches=searches)
