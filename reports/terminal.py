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

__all__ = ["render_terminal", "arm_table", "recommendation_panel"]


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


def render_terminal(record: RunRecord, run_dir: Path | None = None, console: Console | None = None) -> None:
    """Print the summary table, the recommendation, each arm's errors and the run's status line."""
    console = console or Console()
    d = gather(record, run_dir)
    console.print(arm_table(d))
    from reports.tuning import seed_items, tuning_terminal

    tuned = tuning_terminal(d)
    if tuned is not None:
        console.print(tuned)
    for line in seed_items(d):
        console.print(f"seeds · {escape(line)}")
    panel = recommendation_panel(d)
    if panel is not None:
        console.print(panel)
    for arm in record.arms:
        for err in arm.errors:
            console.print(f"[red]arm {escape(arm.name)}:[/red] {escape(err)}")
    console.print(f"run status: [bold]{record.status}[/bold] · wall {record.wall_s or 0:.1f} s · "
                  f"backend {record.backend.get('name')} ({record.backend.get('model')}, {record.backend.get('device')})")
