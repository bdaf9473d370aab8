"""The report's plots, each an inline SVG string built from ReportData (None when no data)."""

from __future__ import annotations

from advisor import fmt
from reports.data import ReportData
from reports.svg import PALETTE, Chart

__all__ = ["metric_bars", "cost_scatter", "latency_boxes", "tco_lines", "learning_curves", "data_curves", "recall_curves",
           "all_plots"]


def _colors(names: list[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _ok(d: ReportData):
    return [a for a in d.arms if a.status == "ok" and a.n > 0]


def metric_bars(d: ReportData) -> str | None:
    arms = _ok(d)
    if not arms:
        return None
    m = d.primary
    colors = _colors([a.name for a in d.arms])
    chart = Chart(f"{m} per arm (95% CI)", "arm", f"{m} (%)", categories=[a.name for a in arms], ylim=(0, 100))
    cis = [d.ci(a.name, m) for a in arms]
    chart.bars([round(100 * a.metrics.get(m, 0.0), 1) for a in arms],
               [None if c is None else 100 * c[0] for c in cis], [None if c is None else 100 * c[1] for c in cis],
               [colors[a.name] for a in arms])
    return chart.to_svg()


def cost_scatter(d: ReportData) -> str | None:
    costs = {a.name: c for a in _ok(d) if (c := d.cost(a.name)) is not None and c.per_1k_usd > 0}
    arms = [a for a in _ok(d) if a.name in costs]
    if not arms or d.rec is None:
        return None
    m = d.primary
    chart = Chart(f"{m} against cost (Pareto front)", "$ per 1,000 queries (log)", f"{m} (%)", xlog=True)
    pareto = set(d.rec.pareto)
    pts = {a.name: (costs[a.name].per_1k_usd, 100 * a.metrics.get(m, 0.0)) for a in arms}
    front, best = [], float("-inf")  # the accuracy-cost front: each step is cheaper-first, more accurate
    for x, y in sorted(pts.values(), key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    if len(front) > 1:
        chart.line(front, "#6b7280", "accuracy-cost front", dash=True)
    on = [n for n in pts if n in pareto]
    off = [n for n in pts if n not in pareto]
    if on:
        chart.points([pts[n] for n in on], PALETTE[0], on, label="Pareto-optimal")
    if off:
        chart.points([pts[n] for n in off], PALETTE[6], off, hollow=True, label="dominated/infeasible")
    return chart.to_svg()


def latency_boxes(d: ReportData) -> str | None:
    arms = [a for a in _ok(d) if d.rows.get(a.name)]
    if not arms:
        return None
    colors = _colors([a.name for a in d.arms])
    chart = Chart("latency per request (box: p25-p75, whiskers p5-p95, bar: median)", "arm", "ms (log)",
                  categories=[a.name for a in arms], ylog=True)
    chart.boxes([[max(r.latency_ms, 0.01) for r in d.rows[a.name] if r.error is None] for a in arms],
                [colors[a.name] for a in arms])
    return chart.to_svg()


def tco_lines(d: ReportData) -> str | None:
    if d.rec is None or not d.rec.costs:
        return None
    months = d.rec.assumptions.pricing.horizon_months
    colors = _colors([a.name for a in d.arms])
    chart = Chart(f"total cost over {months:g} months against volume", "queries per month (log)", "$ total (log)",
                  xlog=True, ylog=True)
    volumes = [10 ** (e / 4) for e in range(0, 41)]  # 1 .. 1e10
    for name, c in d.rec.costs.items():
        pts = [(v, c.tco_at(v, months)) for v in volumes]
        chart.line([(v, max(t, 1e-6)) for v, t in pts], colors.get(name, PALETTE[6]), name)
    evens = d.rec.break_even
    if evens:
        pts, labels = [], []
        for e in evens:
            c = d.rec.costs[e.cheaper_above]
            v = e.queries_per_month
            pts.append((v, max(c.tco_at(v, months), 1e-6)))
            labels.append(f"{fmt.volume(v)}/mo")
        chart.points(pts, "#111827", labels, hollow=True)
    return chart.to_svg()


def learning_curves(d: ReportData) -> str | None:
    curves = d.curves()
    if not curves:
        return None
    chart = Chart("LoRA learning curves", "optimizer step", "loss")
    for i, (arm, c) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        if c.train:
            chart.line(list(c.train), color, f"{arm} train")
        if c.validation:
            chart.line(list(c.validation), color, f"{arm} validation", dash=True)
    return chart.to_svg()


def data_curves(d: ReportData) -> str | None:
    """Metric against labelled train examples: measured points, the fitted curve (dashed, up
    to the extrapolation limit) and the target it is read against (dotted grey)."""
    found = d.data_curves()
    if not found:
        return None
    m = d.primary
    split = found[0][0].learning_curve.split
    chart = Chart(f"{m} against labelled examples ({split} split)", "train examples (log)", f"{m} (%)", xlog=True)
    colors = _colors([a.name for a in d.arms])
    for arm, fit in found:
        pts = [(p.n_train, 100 * p.metric) for p in arm.learning_curve.points if p.metric is not None and p.n_train > 0]
        if not pts:
            continue
        color = colors[arm.name]
        chart.points(pts, color, label=f"{arm.name} measured")
        if fit is not None and fit.a is not None:
            lo, hi = min(x for x, _ in pts), fit.range_max
            xs = [lo * (hi / lo) ** (i / 40) for i in range(41)]
            chart.line([(x, 100 * (fit.a - fit.b * x ** -fit.c)) for x in xs], color, f"{arm.name} fit", dash=True)
            if fit.target is not None:
                chart.line([(lo, 100 * fit.target), (hi, 100 * fit.target)], "#9ca3af",
                           f"{fit.target_arm} ({fit.target_split})")
    return chart.to_svg()


def recall_curves(d: ReportData) -> str | None:
    found = {arm: r.recall_at_k for arm, r in d.retrieval().items() if r.recall_at_k}
    if not found:
        return None
    chart = Chart("retrieval recall@k", "k", "recall (%)", ylim=(0, 100))
    for i, (arm, rk) in enumerate(found.items()):
        pts = sorted((float(k), 100 * float(v)) for k, v in rk.items())
        chart.line(pts, PALETTE[i % len(PALETTE)], arm)
        chart.points(pts, PALETTE[i % len(PALETTE)])
    return chart.to_svg()


def _tuning_curves(d: ReportData) -> str | None:
    from reports.tuning import tuning_curves

    return tuning_curves(d)


def all_plots(d: ReportData) -> list[tuple[str, str]]:
    """(caption, svg) for every plot that has data, in report order."""
    out = []
    for caption, fn in (("Primary metric with 95% confidence intervals", metric_bars),
                        ("Accuracy against serving cost", cost_scatter),
                        ("Latency distributions", latency_boxes),
                        ("Total cost against query volume, with break-even points", tco_lines),
                        ("LoRA learning curves", learning_curves),
                        ("Learning curves: metric against labelled examples, with the fitted curve", data_curves),
                        ("Retrieval recall@k", recall_curves),
                        ("Tuning: best validation value so far against trials", _tuning_curves)):
        svg = fn(d)
        if svg:
            out.append((caption, svg))
    return out
