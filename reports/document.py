"""The report's content as neutral blocks; Markdown and HTML only serialise them.

One builder means the two formats can never disagree on a number. Inline markup in text is
limited to **bold** and `code`, which both serialisers understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advisor import fmt
from reports.data import ReportData
from reports.plots import all_plots

__all__ = ["Block", "build_document"]


@dataclass
class Block:
    kind: str  # h1 h2 p ul table svg
    text: str = ""
    items: list[str] | None = None
    headers: list[str] | None = None
    rows: list[list[str]] | None = None
    svg: str | None = None


def _overview(d: ReportData) -> list[Block]:
    r = d.record
    b = r.backend
    return [Block("h1", f"advisor report: {r.task.get('name')}"), Block("p", (
        f"Run `{r.run_id}` created {r.created}, status **{r.status}**, wall {r.wall_s or 0:.1f} s. "
        f"Backend {b.get('name')} with model `{b.get('model')}` ({b.get('dtype')}, {b.get('device')}"
        + (f", {b.get('threads')} threads" if b.get("threads") else "") + f"); "
        f"{r.splits.get('test_used', '?')} test items"
        + (f" (limit {r.splits['limit']})" if r.splits.get("limit") else "") + f", task type {r.task.get('type')}."))]


def _recommendation(d: ReportData) -> list[Block]:
    rec = d.rec
    out = [Block("h2", "Recommendation")]
    if not rec:
        return out + [Block("p", "No recommendation: no arm finished.")]
    if "error" in rec:
        return out + [Block("p", f"The decision failed: {rec['error']}")]
    head = f"**Adopt {rec['winner']}**" if rec.get("winner") else "**No arm meets the constraints.**"
    if rec.get("runner_up"):
        head += f" (runner-up: {rec['runner_up']})"
    out += [Block("p", head + "."), Block("ul", items=list(rec.get("rationale") or []))]
    sens = rec.get("sensitivity") or []
    if len(sens) > 1:
        out.append(Block("p", "Sensitivity to volume: " + ", ".join(
            f"{s['winner'] or 'no arm'} wins from {fmt.volume(s['from'])}"
            + (f" to {fmt.volume(s['to'])}" if s.get("to") else " up") for s in sens) + " queries/month."))
    elif sens:
        out.append(Block("p", f"Sensitivity to volume: {sens[0]['winner'] or 'none'} wins at every volume from "
                              f"{fmt.volume(sens[0]['from'])} up (checked to {fmt.volume(1e10)} queries/month)."))
    if d.rec_source != "run.json":
        out.append(Block("p", f"_Recommendation {d.rec_source}._"))
    return out


def _arm_table(d: ReportData) -> list[Block]:
    m = d.primary
    rec = d.rec or {}
    others = sorted({k for a in d.arms for k in a.metrics} - {m})
    headers = ["arm", "strategy", "status", f"{m} [95% CI]"] + others + [
        "p50 latency", "p95 latency", "$ / 1k queries", "one-off", "$ / month", "Pareto"]
    rows = []
    for a in d.arms:
        ci = d.ci(a.name, m)
        value = fmt.pct(a.metrics.get(m)) + (f" {fmt.interval(*ci)}" if ci else "")
        cost = d.cost(a.name) or {}
        rows.append([f"**{a.name}**" if a.name == rec.get("winner") else a.name, a.strategy, a.status, value]
                    + [fmt.pct(a.metrics.get(k)) for k in others]
                    + [fmt.ms(a.latency.get("p50_ms")), fmt.ms(a.latency.get("p95_ms")),
                       fmt.usd(cost.get("per_1k_usd")), fmt.usd(cost.get("one_off_usd")) if cost.get("one_offs") else "—",
                       fmt.usd((rec.get("monthly_usd") or {}).get(a.name)),
                       "yes" if a.name in (rec.get("pareto") or []) else ""])
    lat = next((a.latency.get("how") for a in d.arms if a.latency.get("how")), "")
    return [Block("h2", "Arms"), Block("table", headers=headers, rows=rows),
            Block("p", f"Metrics in %; intervals: {_ci_methods(d)}." + (f" Latency: {lat}." if lat else ""))]


def _ci_methods(d: ReportData) -> str:
    methods = sorted({f"{m}: {v['method']}" for arm in ((d.rec or {}).get("intervals") or {}).values()
                      for m, v in arm.items()})
    return "; ".join(methods) or "none computed"


def _pairs(d: ReportData) -> list[Block]:
    pairs = [p for p in ((d.rec or {}).get("pairs") or []) if p["metric"] == d.primary]
    if not pairs:
        return []
    rows = [[p["b"], p["a"], fmt.points(p["delta"]), fmt.interval(p["low"], p["high"]), fmt.p_value(p["p_value"]),
             "yes" if p["significant"] else "no", fmt.points(p["mde"]) if p.get("mde") else "—", str(p["n"]), p["test"]]
            for p in pairs]
    alpha = d.rec["assumptions"]["decision"]["alpha"]
    return [Block("h2", f"Paired tests on {d.primary}"),
            Block("table", headers=["B", "A", "B − A", "95% CI", "p", f"significant (α={alpha:g})", "MDE (80% power)",
                                    "items", "test"], rows=rows)]


def _costs(d: ReportData) -> list[Block]:
    rec = d.rec or {}
    costs = rec.get("costs") or {}
    if not costs:
        return []
    pricing = rec["assumptions"]["pricing"]
    out = [Block("h2", "Cost"), Block("p", (
        f"Serving hardware {fmt.usd(pricing['serving_hourly_usd'])}/h, training hardware "
        f"{fmt.usd(pricing['training_hourly_usd'])}/h, {fmt.volume(pricing['queries_per_month'])} queries/month over "
        f"{pricing['horizon_months']:g} months" + (f", utilization {pricing['utilization']:g}" if pricing["utilization"] != 1 else "")
        + ". Defaults used: " + (", ".join(f"`{k}`" for k in rec["assumptions"].get("defaults_used") or []) or "none") + "."))]
    out.append(Block("ul", items=[f"**{arm}**: " + "; ".join(c["inputs"]) for arm, c in costs.items()]))
    evens = rec.get("break_even") or []
    if evens:
        out.append(Block("table", headers=["cheaper above", "cheaper below", "break-even queries/month", "how"],
                         rows=[[e["cheaper_above"], e["cheaper_below"], fmt.volume(e["queries_per_month"]), e["how"]]
                               for e in evens]))
    else:
        out.append(Block("p", "No break-even volumes: each pair has one arm that is cheaper at every volume."))
    return out


def _details(d: ReportData) -> list[Block]:
    out: list[Block] = []
    for a in d.arms:
        t = a.prepare.get("training")
        if not t:
            continue
        out.append(Block("h2", f"LoRA training: {a.name}"))
        keys = ("steps", "best_step", "stopped_early", "trainable_params", "trainable_share", "tokens_per_s",
                "peak_memory_mb", "wall_s", "hardware", "dtype", "reused")
        out.append(Block("ul", items=[f"{k}: {t[k]}" for k in keys if k in t]))
    for arm, r in d.retrieval().items():
        out.append(Block("h2", f"Retrieval: {arm}"))
        items = [f"{k}: {v}" for k, v in r.items() if k not in ("recall_at_k", "how")]
        if r.get("recall_at_k"):
            items.insert(0, "recall@k: " + ", ".join(f"@{k} {fmt.pct(v)}" for k, v in r["recall_at_k"].items()))
        if r.get("how"):
            items.append(f"how: {r['how']}")
        out.append(Block("ul", items=items))
    for arm, risks in d.risks().items():
        out.append(Block("h2", f"Risks: {arm}"))
        out.append(Block("ul", items=[f"{k}: {_short(v)}" for k, v in risks.items()]))
    return out


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_short(x)}" for k, x in v.items() if not isinstance(x, (list, dict)) or len(str(x)) < 120)
    return str(v)


def _errors(d: ReportData) -> list[Block]:
    items = [f"{a.name}: {e}" for a in d.arms for e in a.errors]
    items += [f"{name}: {why}" for name, why in ((d.rec or {}).get("excluded") or {}).items()]
    return [Block("h2", "Errors and exclusions"), Block("ul", items=items)] if items else []


def build_document(d: ReportData, plots: bool = False) -> list[Block]:
    from reports.tuning import tuning_blocks

    blocks = (_overview(d) + _recommendation(d) + _arm_table(d) + _pairs(d) + _costs(d) + tuning_blocks(d)
              + _details(d) + _errors(d))
    if plots:
        figures = all_plots(d)
        if figures:
            blocks.append(Block("h2", "Plots"))
            blocks += [Block("svg", caption, svg=svg) for caption, svg in figures]
    return blocks
