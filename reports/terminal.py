"""Rich terminal summary of a run: a table per arm with CIs and cost, and a recommendation panel."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from advisor import fmt
from advisor.evaluation.record import RunRecord
from reports.arm_sections import Table as Facts, arm_retrieval_text, risk_summary, risk_table, training_text
from reports.data import ReportData, gather
from reports.examples import DEFAULT_EXAMPLES, clip, quality_rows, select_examples, top_two
from reports.menu import classical_verdicts

__all__ = ["render_terminal", "arm_table", "recommendation_panel", "arm_facts", "curve_table", "quality_table",
           "print_examples"]


def arm_table(d: ReportData) -> Table:
    """One row per arm; other metrics and throughput are in the Markdown/HTML reports."""
    record, m = d.record, d.primary
    winner = d.rec.winner if d.rec else None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"{record.task.name} · {record.splits.test_used} test samples · run {record.run_id}",
                  caption="% [95% CI]; latency: wall ms per request incl. batch wait; $: measured busy time "
                          "at the pricing block's rates ($/1k: per 1,000 queries); ★ recommended")
    table.add_column("arm", style="bold", no_wrap=True)
    table.add_column(f"{m} %", justify="right", no_wrap=True)
    for col in ("p95 ms", "$/1k", "one-off", "$/mo"):  # n is in the title; p50 in the other reports
        table.add_column(col, justify="right", no_wrap=True)
    for arm in record.arms:
        colour = {"ok": "green", "failed": "red", "cancelled": "yellow"}[arm.status]
        ci = d.ci(arm.name, m)
        value = fmt.pct(arm.metrics.get(m)).rstrip("%") + (f" {fmt.interval(*ci)}" if ci else "")
        cost = d.cost(arm.name)
        name = ("★ " if arm.name == winner else "") + escape(arm.name)
        if arm.status != "ok":
            name += f" [{colour}]({arm.status})[/{colour}]"
        lat = arm.latency
        if arm.status == "ok" and arm.n != record.splits.test_used:
            value += f" (n={arm.n})"
        table.add_row(name, value, f"{lat.p95_ms:.0f}" if lat.p95_ms is not None else "—",
                      fmt.usd(cost.per_1k_usd if cost else None),
                      fmt.usd(cost.one_off_usd) if cost and cost.one_offs else "—", fmt.usd(d.monthly(arm.name)))
    return table


def curve_table(d: ReportData) -> Table | None:
    """Learning-curve points: one row per arm, one column per share of the train split."""
    found = d.data_curves()
    if not found:
        return None
    shares = sorted({p.fraction for arm, _ in found for p in arm.learning_curve.points})
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False,
                  title=f"learning curve: {d.primary} % on {found[0][0].learning_curve.split} (train examples)")
    table.add_column("arm", style="bold", no_wrap=True)
    for f in shares:
        table.add_column(f"{f:.0%}", justify="right", no_wrap=True)
    for arm, _ in found:
        by = {p.fraction: p for p in arm.learning_curve.points}
        table.add_row(escape(arm.name), *[(f"{100 * by[f].metric:.1f} ({by[f].n_train})" if f in by and by[f].metric
                                           is not None else "—") for f in shares])
    return table


def recommendation_panel(d: ReportData) -> Panel | None:
    rec = d.rec
    if rec is None:
        error = d.record.decision_error
        return Panel(f"[red]decision failed:[/red] {escape(error)}", title="recommendation") if error else None
    head = (f"[bold green]Adopt {escape(rec.winner)}[/bold green]" if rec.winner
            else "[bold red]No arm meets the constraints[/bold red]")
    if rec.runner_up:
        head += f"  (runner-up: {escape(rec.runner_up)})"
    lines = [head, ""] + [f"• {escape(line)}" for line in rec.rationale]
    if len(rec.sensitivity) > 1:
        lines.append("• by volume: " + ", ".join(
            f"{s.winner or 'no arm'} wins from {fmt.volume(s.from_)}" for s in rec.sensitivity) + " queries/month")
    if rec.how.rule:
        lines.append(f"[dim]rule: {escape(rec.how.rule)}[/dim]")
    if rec.assumptions.defaults_used:
        lines.append(f"[dim]defaults used: {', '.join(rec.assumptions.defaults_used)}[/dim]")
    return Panel("\n".join(lines), title="recommendation", border_style="green" if rec.winner else "red")


def _markup(text: str) -> str:
    """**bold** (the shared sections' only markup) as rich markup, the rest escaped."""
    parts = escape(text).split("**")
    return "".join(f"[bold]{p}[/bold]" if i % 2 else p for i, p in enumerate(parts))


def _facts_table(facts: Facts) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for h in facts.headers:
        table.add_column(h, overflow="fold")
    for row in facts.rows:
        table.add_row(*(_markup(c) for c in row))
    return table


def arm_facts(d: ReportData, console: Console) -> None:
    """Training, retrieval and risks per arm, in sentences (the tables of numbers are in the HTML report)."""
    for name, t in d.training().items():
        console.print(f"[bold]LoRA training ({escape(name)}):[/bold] " + " ".join(escape(x) for x in training_text(t)))
    for a in d.arms:
        text = arm_retrieval_text(a)
        if text is not None:
            console.print(f"[bold]Retrieval ({escape(a.name)}):[/bold] " + escape(text).replace("`", ""))
    for name, risks in d.risks().items():
        console.print(f"[bold]Risks ({escape(name)}):[/bold] {escape(risk_summary(risks))}")
        console.print(_facts_table(risk_table(risks)))


def quality_table(d: ReportData) -> Table | None:
    """Degenerate shares and groundedness per arm (None when no arm generated free answers)."""
    rows = quality_rows(d)
    if not rows:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="answers",
                  caption="degenerate: empty / boilerplate / echo / repetition; grounded: word-pair support by the "
                          "retrieved passages; gold ignored: support by the gold passage below the threshold")
    for col in ("arm", "degenerate", "kinds", "grounded", "gold ignored"):
        table.add_column(col, justify="left" if col in ("arm", "kinds") else "right")
    for r in rows:
        table.add_row(escape(r[0]), r[2], escape(r[3]), r[4], r[6])
    return table


def print_examples(d: ReportData, console: Console) -> None:
    chosen = select_examples(d, d.examples)
    if not chosen:
        return
    pair = top_two(d)
    console.print("[bold]examples[/bold]" + (f" (where {escape(pair[0])} and {escape(pair[1])} disagree most)" if pair else ""))
    for ex in chosen:
        console.print(f"[bold]{escape(ex.id)}[/bold]" + (f" [dim]{escape(ex.why)}[/dim]" if ex.why else "")
                      + f": {escape(clip(ex.input, 200))}")
        console.print(f"  reference: {escape(clip(ex.target, 240))}")
        for arm, row in ex.answers.items():
            flag = f" [red]{row.extra.degenerate}[/red]" if row.extra.degenerate else ""
            answer = row.prediction if row.prediction is not None else row.raw
            console.print(f"  {escape(arm)} ({row.score:.2f}){flag}: {escape(clip(answer or '(empty)', 240))}")
            passages = row.extra.passages or []
            if passages:
                console.print(f"  [dim]{escape(arm)} passage [1/{len(passages)}]: {escape(clip(passages[0], 160))}[/dim]")


def render_terminal(record: RunRecord, run_dir: Path | None = None, console: Console | None = None,
                    examples: int = DEFAULT_EXAMPLES) -> None:
    """Print the summary table, the recommendation, each arm's errors and the run's status line."""
    console = console or Console()
    d = gather(record, run_dir, examples)
    console.print(arm_table(d))
    from reports.tuning import seed_items, tuning_terminal

    tuned = tuning_terminal(d)
    if tuned is not None:
        console.print(tuned)
    for line in seed_items(d):
        console.print(f"seeds · {escape(line)}")
    answers = quality_table(d)
    if answers is not None:
        console.print(answers)
    panel = recommendation_panel(d)
    if panel is not None:
        console.print(panel)
    arm_facts(d, console)
    curves = curve_table(d)
    if curves is not None:
        console.print(curves)
    print_examples(d, console)
    for line in classical_verdicts(d):
        console.print(f"[bold]{escape(line)}[/bold]")
    for arm in record.arms:
        for err in arm.errors:
            console.print(f"[red]arm {escape(arm.name)}:[/red] {escape(err)}")
    from advisor.evaluation.cache_use import cache_line

    for arm in record.arms:
        if cache_line(arm.cache):
            console.print(f"cache · {escape(arm.name)}: {escape(cache_line(arm.cache))}")
    console.print(f"run status: [bold]{record.status}[/bold] · wall {record.wall_s or 0:.1f} s · "
                  f"backend {record.backend.name} ({record.backend.model}, {record.backend.device})")
