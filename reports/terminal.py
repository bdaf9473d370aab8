"""Rich terminal summary of a run: one row per arm with quality, latency, throughput, tokens."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from advisor.record import ArmResult, RunRecord
from advisor.stats import wilson_interval

__all__ = ["render_terminal", "arm_table"]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _ci(arm: ArmResult, metric: str) -> str:
    """95% Wilson interval for proportion metrics (accuracy, exact match)."""
    value = arm.metrics.get(metric)
    if value is None or arm.n == 0 or metric not in ("accuracy", "exact_match"):
        return ""
    lo, hi = wilson_interval(round(value * arm.n), arm.n)
    return f" [{_pct(lo)}, {_pct(hi)}]"


def arm_table(record: RunRecord) -> Table:
    primary = record.spec.get("metric") or next((a.primary_metric for a in record.arms if a.primary_metric), None)
    others = sorted({m for a in record.arms for m in a.metrics} - {primary})
    table = Table(title=f"{record.task['name']} · {record.splits.get('test_used', '?')} test samples · run {record.run_id}",
                  caption="metrics in % (95% Wilson CI); latency = wall ms per request incl. batch wait; "
                          "tok/s over busy backend time")
    table.add_column("arm", style="bold")
    table.add_column("status")
    table.add_column(f"{primary} %" if primary else "metric", justify="right")
    for m in others:
        table.add_column(f"{m} %", justify="right")
    for col in ("n", "p50 ms", "p95 ms", "req/s", "prompt tok", "out tok"):
        table.add_column(col, justify="right")
    for arm in record.arms:
        colour = {"ok": "green", "failed": "red", "cancelled": "yellow"}[arm.status]
        row = [arm.name, f"[{colour}]{arm.status}[/{colour}]",
               (_pct(arm.metrics.get(primary)) + _ci(arm, primary)) if primary else ""]
        row += [_pct(arm.metrics.get(m)) for m in others]
        lat, thr = arm.latency, arm.throughput
        row += [str(arm.n), f"{lat['p50_ms']:.0f}" if "p50_ms" in lat else "—",
                f"{lat['p95_ms']:.0f}" if "p95_ms" in lat else "—",
                f"{thr['requests_per_s']:.2f}" if "requests_per_s" in thr else "—",
                str(arm.usage.get("prompt_tokens", 0)), str(arm.usage.get("completion_tokens", 0))]
        table.add_row(*row)
    return table


def render_terminal(record: RunRecord, console: Console | None = None) -> None:
    """Print the summary table, each arm's errors and the run's status line."""
    console = console or Console()
    console.print(arm_table(record))
    for arm in record.arms:
        for err in arm.errors:
            console.print(f"[red]arm {arm.name}:[/red] {err}")
    console.print(f"run status: [bold]{record.status}[/bold] · wall {record.wall_s or 0:.1f} s · "
                  f"backend {record.backend.get('name')} ({record.backend.get('model')}, {record.backend.get('device')})")
