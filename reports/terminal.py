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
from reports.data import ReportData, gather
from reports.examples import DEFAULT_EXAMPLES, clip, quality_rows, select_examples, top_two

__all__ = ["render_terminal", "arm_table", "recommendation_panel", "quality_table", "print_examples"]


def arm_table(d: ReportData) -> Table:
    """One row per arm; other metrics and throughput are in the Markdown/HTML reports."""
    record, m, rec = d.record, d.primary, d.rec or {}
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"{record.task['name']} · {record.splits.get('test_used', '?')} test samples · run {record.run_id}",
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
        cost = d.cost(arm.name) or {}
        name = ("★ " if arm.name == rec.get("winner") else "") + escape(arm.name)
        if arm.status != "ok":
            name += f" [{colour}]({arm.status})[/{colour}]"
        lat = arm.latency
        if arm.status == "ok" and arm.n != record.splits.get("test_used"):
            value += f" (n={arm.n})"
        table.add_row(name, value, f"{lat['p95_ms']:.0f}" if "p95_ms" in lat else "—", fmt.usd(cost.get("per_1k_usd")),
                      fmt.usd(cost.get("one_off_usd")) if cost.get("one_offs") else "—",
                      fmt.usd((rec.get("monthly_usd") or {}).get(arm.name)))
    return table


def recommendation_panel(d: ReportData) -> Panel | None:
    rec = d.rec
    if not rec:
        return None
    if "error" in rec:
        return Panel(f"[red]decision failed:[/red] {escape(rec['error'])}", title="recommendation")
    head = (f"[bold green]Adopt {escape(rec['winner'])}[/bold green]" if rec.get("winner")
            else "[bold red]No arm meets the constraints[/bold red]")
    if rec.get("runner_up"):
        head += f"  (runner-up: {escape(rec['runner_up'])})"
    lines = [head, ""] + [f"• {escape(line)}" for line in rec.get("rationale") or []]
    sens = rec.get("sensitivity") or []
    if len(sens) > 1:
        lines.append("• by volume: " + ", ".join(
            f"{s['winner'] or 'no arm'} wins from {fmt.volume(s['from'])}" for s in sens) + " queries/month")
    used = rec.get("assumptions", {}).get("defaults_used") or []
    if used:
        lines.append(f"[dim]defaults used: {', '.join(used)}[/dim]")
    return Panel("\n".join(lines), title="recommendation", border_style="green" if rec.get("winner") else "red")


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
    console.print(f"[bold]examples[/bold]" + (f" (where {escape(pair[0])} and {escape(pair[1])} disagree most)" if pair else ""))
    for ex in chosen:
        console.print(f"[bold]{escape(ex.id)}[/bold]" + (f" [dim]{escape(ex.why)}[/dim]" if ex.why else "")
                      + f": {escape(clip(ex.input, 200))}")
        console.print(f"  reference: {escape(clip(ex.target, 240))}")
        for arm, row in ex.answers.items():
            flag = f" [red]{row.extra['degenerate']}[/red]" if row.extra.get("degenerate") else ""
            answer = row.prediction if row.prediction is not None else row.raw
            console.print(f"  {escape(arm)} ({row.score:.2f}){flag}: {escape(clip(answer or '(empty)', 240))}")
            passages = row.extra.get("passages") or []
            if passages:
                console.print(f"  [dim]{escape(arm)} passage [1/{len(passages)}]: {escape(clip(passages[0], 160))}[/dim]")


def render_terminal(record: RunRecord, run_dir: Path | None = None, console: Console | None = None,
                    examples: int = DEFAULT_EXAMPLES) -> None:
    """Print the summary table, the recommendation, each arm's errors and the run's status line."""
    console = console or Console()
    d = gather(record, run_dir, examples)
    console.print(arm_table(d))
    answers = quality_table(d)
    if answers is not None:
        console.print(answers)
    panel = recommendation_panel(d)
    if panel is not None:
        console.print(panel)
    print_examples(d, console)
    for arm in record.arms:
        for err in arm.errors:
            console.print(f"[red]arm {escape(arm.name)}:[/red] {escape(err)}")
    console.print(f"run status: [bold]{record.status}[/bold] · wall {record.wall_s or 0:.1f} s · "
                  f"backend {record.backend.get('name')} ({record.backend.get('model')}, {record.backend.get('device')})")
