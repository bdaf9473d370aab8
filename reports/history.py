"""`advisor history TASK`: how each arm moved over the indexed runs (advisor.evaluation.history).

Terminal: a rich table per arm (trend sparkline of the primary metric over the newest 8 runs,
latest value with its interval, change since the previous run, p95 latency, cost per 1k queries,
answers from the response cache) and a table of the runs (time, commit, status, recommendation). HTML: one page,
a trend plot per arm (the metric with its interval over the runs; hover a point for its run,
commit and date) and the runs table. JSON: the same rows, for scripts.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from html import escape

from advisor.evaluation.history import HistoryRun
from reports.svg import PALETTE, Chart

__all__ = ["TREND_RUNS", "render_history_terminal", "render_history_html", "render_history_json", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
TREND_RUNS = 8  # sparkline width in the terminal table, which fits 80 columns (the HTML page plots every run)


def sparkline(values: list[float | None]) -> str:
    """One bar per value, scaled between the smallest and largest; a gap (space) for a missing one."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    span = hi - lo
    return "".join(" " if v is None else _BARS[3 if span == 0 else round((v - lo) / span * (len(_BARS) - 1))]
                   for v in values)


def _arms(runs: list[HistoryRun]) -> list[str]:
    names: list[str] = []
    for run in runs:
        names += [a for a in run.arms if a not in names]
    return names


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _commit(run: HistoryRun) -> str:
    return (run.commit or "-")[:8]


def _arm_rows(runs: list[HistoryRun]) -> list[dict]:
    rows = []
    for name in _arms(runs):
        series = [r.arms.get(name) for r in runs]
        values = [a.value if a is not None and a.status == "ok" else None for a in series]
        latest = next((a for a in reversed(series) if a is not None), None)
        done = [v for v in values if v is not None]
        delta = done[-1] - done[-2] if len(done) >= 2 else None
        rows.append(dict(arm=name, runs=sum(a is not None for a in series), trend=sparkline(values), latest=latest,
                         delta=delta, values=values))
    return rows


def render_history_terminal(runs: list[HistoryRun], task: str, console) -> None:
    """Two tables that fit 80 columns: the arms (trend over the newest TREND_RUNS runs) and the runs."""
    from rich import box
    from rich.table import Table

    from advisor import fmt

    if not runs:
        console.print(f"no indexed runs of task {task!r}")
        return
    metric = runs[-1].primary_metric or "metric"
    arms = Table(title=f"{task}: {metric} (%) over {len(runs)} run(s)", box=box.SIMPLE_HEAD, pad_edge=False,
                 collapse_padding=True)
    trend = "trend" if len(runs) <= TREND_RUNS else f"last {TREND_RUNS}"
    for col, justify in (("arm", "left"), (trend, "left"), ("latest [95% CI]", "right"), ("change", "right"),
                         ("p95", "right"), ("$ / 1k q", "right"), ("cached", "right")):
        arms.add_column(col, justify=justify, no_wrap=col != "arm", overflow="fold")
    for row in _arm_rows(runs):
        a = row["latest"]
        if a is None or a.status != "ok":
            latest = a.status if a else "-"
        else:
            latest = _pct(a.value) + (f" [{_pct(a.low)}, {_pct(a.high)}]" if a.low is not None else "")
        change = "-" if row["delta"] is None else f"{100 * row['delta']:+.1f}"
        cost = "-" if a is None or a.per_query_usd is None else fmt.usd(1000 * a.per_query_usd)
        cached = "-" if a is None or a.from_cache is None else f"{a.from_cache}/{a.n}"
        arms.add_row(row["arm"], sparkline(row["values"][-TREND_RUNS:]), latest, change,
                     fmt.ms(a.p95_ms if a else None), cost, cached)
    console.print(arms)
    table = Table(title="runs", box=box.SIMPLE_HEAD)
    for col in ("finished (UTC)", "run", "commit", "status", "recommendation", "wall"):
        table.add_column(col)
    for r in runs:
        table.add_row((r.finished or r.created).replace("T", " ")[:16], r.run_id, _commit(r), r.status,
                      r.recommendation or "-", "-" if r.wall_s is None else f"{r.wall_s:.1f} s")
    console.print(table)


def _chart(name: str, runs: list[HistoryRun], metric: str, color: str) -> str:
    chart = Chart(title=f"{name}: {metric} per run", xlabel="run (oldest to newest)", ylabel=f"{metric} (%)",
                  width=760, height=300)
    pts, titles = [], []
    for i, run in enumerate(runs, start=1):
        a = run.arms.get(name)
        if a is None or a.status != "ok" or a.value is None:
            continue
        if a.low is not None and a.high is not None:
            chart.line([(i, 100 * a.low), (i, 100 * a.high)], color)  # the interval as a vertical bar
        pts.append((i, 100 * a.value))
        ci = f" [{_pct(a.low)}, {_pct(a.high)}]" if a.low is not None else ""
        titles.append(f"run {run.run_id}, commit {_commit(run)}, {run.finished or run.created}: "
                      f"{_pct(a.value)}%{ci}, n={a.n}")
    if not pts:
        return f"<p>{escape(name)}: no finished measurement</p>"
    chart.line(pts, color, label=name)
    chart.points(pts, color, titles=titles)
    return chart.to_svg()


def render_history_html(runs: list[HistoryRun], task: str, console=None) -> str:
    metric = (runs[-1].primary_metric if runs else None) or "metric"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(task)}: run history</title>",
             "<style>body{font-family:sans-serif;max-width:820px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th:first-child,td:first-child"
             "{text-align:left}</style></head><body>",
             f"<h1>{escape(task)}: {escape(metric)} over {len(runs)} run(s)</h1>",
             "<p>Each point is one run's measured value; the vertical bar is its 95% interval. "
             "Hover a point for the run, its git commit and when it finished.</p>"]
    for i, row in enumerate(_arm_rows(runs)):
        parts.append(_chart(row["arm"], runs, metric, PALETTE[i % len(PALETTE)]))
    parts.append("<h2>Runs</h2><table><tr><th>finished (UTC)</th><th>run</th><th>commit</th><th>status</th>"
                 "<th>recommendation</th><th>wall s</th></tr>")
    for r in runs:
        parts.append(f"<tr><td>{escape(r.finished or r.created)}</td><td>{escape(r.run_id)}</td>"
                     f"<td>{escape(_commit(r))}</td><td>{escape(r.status)}</td><td>{escape(r.recommendation or '-')}"
                     f"</td><td>{'-' if r.wall_s is None else f'{r.wall_s:.1f}'}</td></tr>")
    parts.append("</table></body></html>\n")
    return "\n".join(parts)


def render_history_json(runs: list[HistoryRun], task: str, console=None) -> str:
    return json.dumps({"task": task, "runs": [asdict(r) for r in runs]}, indent=2) + "\n"
