"""The CLI's regression-report commands: `advisor cache stats|clear` and `advisor history TASK`,
and the history side of `run` (index every finished run) and `compare --against`.

Kept apart from advisor/cli.py so the main command table stays short; cli.py adds these
parsers and calls these handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor import registry
from advisor.errors import UserError

__all__ = ["add_parsers", "cmd_cache", "cmd_history", "index_finished", "baseline_from_history"]


def add_parsers(sub) -> None:
    cache = sub.add_parser("cache", help="the response cache (answers reused by unchanged requests)")
    csub = cache.add_subparsers(dest="cache_command", required=True)
    csub.add_parser("stats", help="answers stored, size, age, per backend and model")
    csub.add_parser("clear", help="delete every stored answer")
    hist = sub.add_parser("history", help="a task's indexed runs: trend per arm (table, or an HTML page of plots)")
    hist.add_argument("task", help="task name (or its task.yaml)")
    hist.add_argument("--history", type=Path, help="history database (default runs/history.sqlite)")
    hist.add_argument("--format", default="terminal", choices=["terminal", "html", "json"])
    hist.add_argument("-o", "--output", type=Path, help="write to this file (html default: history.html)")
    hist.add_argument("--last", type=int, help="only the newest N runs")


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def cmd_cache(args: argparse.Namespace) -> int:
    from advisor.backends.response_store import ResponseStore

    store = ResponseStore()
    out = _console()
    if args.cache_command == "clear":
        n = store.clear()
        out.print(f"removed {n} answers from {store.path}")
        return 0
    stats = store.stats()
    span = f", measured {stats.oldest} to {stats.newest}" if stats.oldest else ""
    out.print(f"{stats.path}: {stats.answers} answers, {stats.bytes / 1e6:.2f} MB{span}")
    for backend, model, kind, n in stats.by_model:
        out.print(f"  {backend} / {model} ({kind}): {n}")
    return 0


def _task_name(task: str) -> str:
    path = Path(task)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        from advisor.spec import load_task

        return load_task(path).spec.name
    return task


def cmd_history(args: argparse.Namespace) -> int:
    from advisor.evaluation.history import history_path, task_history

    if args.last is not None and args.last < 1:
        raise UserError(f"--last must be 1 or more, got {args.last}")
    name = _task_name(args.task)
    runs = task_history(history_path(None, args.history), name, args.last)
    render = registry.history_renderers.get(args.format)
    if args.format == "terminal":
        render(runs, name, _console())
        return 0
    text = render(runs, name, None)
    out = args.output or (Path("history.html") if args.format == "html" else None)
    if out is None:
        print(text, end="")
        return 0
    from advisor.artifacts.cache import atomic_write_text

    try:
        atomic_write_text(out, text)
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror})") from None
    _console(stderr=True).print(f"wrote {out}")
    return 0


def index_finished(record, run_dir: Path, override: Path | None) -> Path | None:
    """Index a run that finished (not cancelled) into the history; returns the database's path."""
    from advisor.evaluation.history import history_path, index_run

    if record.status in ("cancelled", "running"):
        return None
    path = history_path(run_dir, override)
    try:
        index_run(record, run_dir, path)
    except UserError as exc:  # the run and its record are complete; a history problem must not fail it
        from rich.markup import escape

        _console(stderr=True).print(f"[yellow]warning:[/yellow] run not added to the history: {escape(str(exc))}")
        return None
    return path


def baseline_from_history(new: Path, against: str, override: Path | None) -> Path:
    """The run directory `compare NEW --against last|best|N|RUN_ID` gates against."""
    from advisor.evaluation.history import history_path, pick_baseline
    from advisor.evaluation.record import read_record

    record, run_dir = read_record(new)
    path = history_path(run_dir, override)
    base = pick_baseline(path, record.task.name, against, exclude=record.run_id)
    if not Path(base.run_dir).exists():
        raise UserError(f"{path}: run {base.run_id} was indexed from {base.run_dir}, which no longer exists")
    return Path(base.run_dir)
