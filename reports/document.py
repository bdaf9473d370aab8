"""The report's content as neutral blocks; Markdown and HTML only serialise them.

One builder means the two formats can never disagree on a number. Inline markup in text is
limited to **bold** and `code`, which both serialisers understand.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor import fmt
from reports.arm_sections import Table, arm_retrieval_text, loss_table, risk_table, training_text
from reports.data import ReportData
from reports.examples import QUALITY_HEADERS, clip, quality_rows, select_examples, top_two
from reports.menu import FINE_TUNING_HEADERS, classical_verdicts, fine_tuning_rows
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
    return [Block("h1", f"advisor report: {r.task.name}"), Block("p", (
        f"Run `{r.run_id}` created {r.created}, status **{r.status}**, wall {r.wall_s or 0:.1f} s. "
        f"Backend {b.name} with model `{b.model}` ({b.dtype}, {b.device}"
        + (f", {b.threads} threads" if b.threads else "") + f"); "
        f"{r.splits.test_used} test items"
        + (f" (limit {r.splits.limit})" if r.splits.limit else "") + f", task type {r.task.type}."))]


def _recommendation(d: ReportData) -> list[Block]:
    rec = d.rec
    out = [Block("h2", "Recommendation")]
    if rec is None:
        error = d.record.decision_error
        return out + [Block("p", f"The decision failed: {error}" if error else "No recommendation: no arm finished.")]
    head = f"**Adopt {rec.winner}**" if rec.winner else "**No arm meets the constraints.**"
    if rec.runner_up:
        head += f" (runner-up: {rec.runner_up})"
    out += [Block("p", head + "."), Block("ul", items=list(rec.rationale))]
    sens = rec.sensitivity
    if len(sens) > 1:
        out.append(Block("p", "Sensitivity to volume: " + ", ".join(
            f"{s.winner or 'no arm'} wins from {fmt.volume(s.from_)}"
            + (f" to {fmt.volume(s.to)}" if s.to else " up") for s in sens) + " queries/month."))
    elif sens:
        out.append(Block("p", f"Sensitivity to volume: {sens[0].winner or 'none'} wins at every volume from "
                              f"{fmt.volume(sens[0].from_)} up (checked to {fmt.volume(1e10)} queries/month)."))
    if rec.how.rule:
        out.append(Block("p", f"Rule `{rec.how.rule}`: {rec.how.ranking}."))
    if d.rec_source != "run.json":
        out.append(Block("p", f"_Recommendation {d.rec_source}._"))
    return out


def _arm_table(d: ReportData) -> list[Block]:
    m = d.primary
    rec = d.rec
    winner = rec.winner if rec else None
    pareto = set(rec.pareto) if rec else set()
    others = sorted({k for a in d.arms for k in a.metrics} - {m})
    headers = ["arm", "strategy", "status", f"{m} [95% CI]"] + others + [
        "p50 latency", "p95 latency", "$ / 1k queries", "one-off", "$ / month", "Pareto"]
    rows = []
    for a in d.arms:
        ci = d.ci(a.name, m)
        value = fmt.pct(a.metrics.get(m)) + (f" {fmt.interval(*ci)}" if ci else "")
        cost = d.cost(a.name)
        rows.append([f"**{a.name}**" if a.name == winner else a.name, a.strategy, a.status, value]
                    + [fmt.pct(a.metrics.get(k)) for k in others]
                    + [fmt.ms(a.latency.p50_ms), fmt.ms(a.latency.p95_ms),
                       fmt.usd(cost.per_1k_usd if cost else None),
                       fmt.usd(cost.one_off_usd) if cost and cost.one_offs else "—",
                       fmt.usd(d.monthly(a.name)), "yes" if a.name in pareto else ""])
    lat = next((a.latency.how for a in d.arms if a.latency.how), "")
    out = [Block("h2", "Arms"), Block("table", headers=headers, rows=rows),
           Block("p", f"Metrics in %; intervals: {_ci_methods(d)}." + (f" Latency: {lat}." if lat else ""))]
    from advisor.evaluation.cache_use import cache_line

    cached = [f"{a.name}: {cache_line(a.cache)}" for a in d.arms if cache_line(a.cache)]
    if cached:
        out.append(Block("p", "Response cache: " + "; ".join(cached) + "."))
    return out


def _ci_methods(d: ReportData) -> str:
    methods = sorted({f"{m}: {v.method}" for arm in (d.rec.intervals.values() if d.rec else [])
                      for m, v in arm.items()})
    return "; ".join(methods) or "none computed"


def _pairs(d: ReportData) -> list[Block]:
    if d.rec is None:
        return []
    pairs = [p for p in d.rec.pairs if p.metric == d.primary]
    if not pairs:
        return []
    rows = [[p.b, p.a, fmt.points(p.delta), fmt.interval(p.low, p.high), fmt.p_value(p.p_value),
             "yes" if p.significant else "no", fmt.points(p.mde) if p.mde else "—", str(p.n), p.test]
            for p in pairs]
    alpha = d.rec.assumptions.decision.alpha
    return [Block("h2", f"Paired tests on {d.primary}"),
            Block("table", headers=["B", "A", "B − A", "95% CI", "p", f"significant (α={alpha:g})", "MDE (80% power)",
                                    "items", "test"], rows=rows)]


def _costs(d: ReportData) -> list[Block]:
    rec = d.rec
    if rec is None or not rec.costs:
        return []
    pricing = rec.assumptions.pricing
    out = [Block("h2", "Cost"), Block("p", (
        f"Serving hardware {fmt.usd(pricing.serving_hourly_usd)}/h, training hardware "
        f"{fmt.usd(pricing.training_hourly_usd)}/h, {fmt.volume(pricing.queries_per_month)} queries/month over "
        f"{pricing.horizon_months:g} months" + (f", utilization {pricing.utilization:g}" if pricing.utilization != 1 else "")
        + ". Defaults used: " + (", ".join(f"`{k}`" for k in rec.assumptions.defaults_used) or "none") + "."))]
    out.append(Block("ul", items=[f"**{arm}**: " + "; ".join(c.inputs) for arm, c in rec.costs.items()]))
    if rec.break_even:
        out.append(Block("table", headers=["cheaper above", "cheaper below", "break-even queries/month", "how"],
                         rows=[[e.cheaper_above, e.cheaper_below, fmt.volume(e.queries_per_month), e.how]
                               for e in rec.break_even]))
    else:
        out.append(Block("p", "No break-even volumes: each pair has one arm that is cheaper at every volume."))
    return out


def _table(t: Table) -> Block:
    return Block("table", headers=t.headers, rows=t.rows)


def _details(d: ReportData) -> list[Block]:
    out: list[Block] = []
    for name, t in d.training().items():
        out += [Block("h2", f"LoRA training: {name}"), Block("p", " ".join(training_text(t)))]
        if t.lengths is not None:
            n = t.lengths
            out.append(Block("p", f"max_length {n.max_length} ({n.how}): of {n.examples} train examples "
                                  f"{n.prompt_cut} prompts cut, {n.answer_cut} answers cut, {n.skipped} skipped; "
                                  f"longest {n.longest} tokens."))
        losses = loss_table(t)
        if losses is not None:
            out += [Block("p", "Mean cross-entropy per answer token (nats) at each validation:"), _table(losses)]
    for a in d.arms:
        text = arm_retrieval_text(a)
        if text is None:
            continue
        out += [Block("h2", f"Retrieval: {a.name}"), Block("p", text)]
        if a.prepare.corpus_problems:
            out.append(Block("ul", items=[f"corpus: {p}" for p in a.prepare.corpus_problems]))
    for name, risks in d.risks().items():
        out += [Block("h2", f"Risks: {name}"), _table(risk_table(risks))]
    return out


def _menu(d: ReportData) -> list[Block]:
    out: list[Block] = []
    rows = fine_tuning_rows(d)
    if rows:
        out += [Block("h2", "Fine-tuning methods"), Block("table", headers=FINE_TUNING_HEADERS[:-1] + [d.primary],
                                                          rows=rows)]
    verdicts = classical_verdicts(d)
    if verdicts:
        out += [Block("h2", "Does it need an LLM?"), Block("ul", items=verdicts)]
    return out


def _errors(d: ReportData) -> list[Block]:
    items = [f"{a.name}: {e}" for a in d.arms for e in a.errors]
    items += [f"{name}: {why}" for name, why in (d.rec.excluded.items() if d.rec else [])]
    return [Block("h2", "Errors and exclusions"), Block("ul", items=items)] if items else []


def _answers(d: ReportData) -> list[Block]:
    rows = quality_rows(d)
    if not rows:
        return []
    how = next((a.quality.how for a in d.arms if a.quality is not None and a.quality.how), "")
    threshold = next((a.quality.threshold for a in d.arms if a.quality is not None), None)
    return [Block("h2", "Answer quality"), Block("table", headers=QUALITY_HEADERS, rows=rows),
            Block("p", "Degenerate: empty, boilerplate only, an echo of the question or instructions, or a repetition "
                       f"loop. Groundedness / gold support: {how}; supported / ignored at {fmt.pct(threshold)}.")]


def _judge(d: ReportData) -> list[Block]:
    j = d.record.judge
    if j is None:
        return []
    if j.error:
        return [Block("h2", "Judge"), Block("p", f"The judge `{j.backend}:{j.model}` failed: {j.error}")]
    a = j.agreement
    items = [f"judge: `{j.backend}:{j.model}` ({j.identity.get('model_id', '?')}, {j.identity.get('device', '?')}); "
             f"{j.graded} answers graded in {j.seconds:.1f} s, {j.unparsed} grades unparsed (scored 0)"]
    if a is not None:
        items.append(f"agreement with {a.n} human grades ({a.set}): exact {fmt.pct(a.exact)}, within one grade "
                     f"{fmt.pct(a.within_one)}, Spearman rho {a.spearman if a.spearman is not None else '—'}, "
                     f"mean absolute error {a.mean_abs_error:.2f} grades, {a.unparsed} unparsed")
    items.append("rubric: " + " / ".join(line for line in j.rubric.splitlines()))
    items.append(f"prompt: `{j.prompt}`")
    return [Block("h2", "Judge"), Block("ul", items=items)]


def _examples(d: ReportData) -> list[Block]:
    chosen = select_examples(d, d.examples)
    if not chosen:
        return []
    pair = top_two(d)
    out = [Block("h2", "Examples"), Block("p", f"{len(chosen)} test items where {pair[0]} and {pair[1]} disagree most "
                                               f"(item score on {d.primary})." if pair else
                                               f"The first {len(chosen)} test items.")]
    for ex in chosen:
        out.append(Block("p", f"**{ex.id}**" + (f" ({ex.why})" if ex.why else "") + f": {clip(ex.input, 400)}"))
        items = [f"reference: {clip(ex.target, 600)}"]
        for arm, row in ex.answers.items():
            flag = f", degenerate: {row.extra.degenerate}" if row.extra.degenerate else ""
            answer = row.prediction if row.prediction is not None else row.raw
            items.append(f"**{arm}** (score {row.score:.2f}{flag}): {clip(answer or '(empty)', 600)}")
            for i, passage in enumerate(row.extra.passages or [], 1):
                items.append(f"{arm} passage [{i}]: {clip(passage, 300)}")
        out.append(Block("ul", items=items))
    return out


def _data_curves(d: ReportData) -> list[Block]:
    found = d.data_curves()
    if not found:
        return []
    rows = []
    for arm, _ in found:
        lc = arm.learning_curve
        for p in lc.points:
            rows.append([arm.name, f"{p.fraction:.0%}", str(p.n_train), p.error or fmt.pct(p.metric), lc.split,
                         str(p.n_eval), f"{p.prepare_s:.1f}" + (" (cached)" if p.reused else "")])
    out = [Block("h2", "Learning curves"),
           Block("table", headers=["arm", "share of train", "train examples", d.primary, "evaluated on", "items",
                                   "prepare s"], rows=rows)]
    items = [f"**{arm.name}**: {fit.message}" + (f" Fit {fit.form}: a {fit.a:.3f}, b {fit.b:.3g}, c {fit.c:.3f}; "
                                                 f"{fit.method}." if fit.a is not None else "")
             for arm, fit in found if fit]
    if items:
        out.append(Block("ul", items=items))
    return out


def build_document(d: ReportData, plots: bool = False) -> list[Block]:
    from reports.tuning import tuning_blocks

    blocks = (_overview(d) + _recommendation(d) + _arm_table(d) + _answers(d) + _judge(d) + _pairs(d) + _costs(d)
              + _menu(d) + tuning_blocks(d) + _data_curves(d) + _details(d) + _examples(d) + _errors(d))
    if plots:
        figures = all_plots(d)
        if figures:
            blocks.append(Block("h2", "Plots"))
            blocks += [Block("svg", caption, svg=svg) for caption, svg in figures]
    return blocks
