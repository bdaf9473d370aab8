"""Training, retrieval and risk facts as sentences and small tables a reader understands
without the source. The document builder (Markdown/HTML) and the terminal renderer both use
these, so the formats say the same thing. Text may carry **bold**, which every renderer maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from advisor import fmt
from advisor.evaluation.record import ArmResult
from advisor.evaluation.sections import IndexFacts, LoraRisks, RetrievalDetails, TrainingFacts

__all__ = ["Table", "training_text", "loss_table", "index_text", "retrieval_text", "arm_retrieval_text", "risk_table",
           "risk_summary"]

MAX_CURVE_ROWS = 8


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _s(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds < 600 else f"{seconds / 60:,.1f} min"


def training_text(t: TrainingFacts) -> list[str]:
    """Sentences: what was trained, how long, how fast, and which checkpoint was kept."""
    share = f"{100 * t.trainable_share:.2f}%" if t.trainable_share >= 0.0001 else f"{100 * t.trainable_share:.4f}%"
    data = (f" on {_n(t.examples.train)} training examples, validated on {_n(t.examples.validation)}"
            if t.examples else "")
    out = [f"Trained {_n(t.trainable_params)} of {_n(t.total_params)} parameters ({share}) for "
           f"{_n(t.steps)} optimizer steps ({t.epochs:.2f} epochs){data}."]
    kept = f"The adapter kept is the one from step {t.best_step} (lowest validation loss)"
    if t.stopped_early:
        kept += f"; training stopped early at step {t.steps} of {t.planned_steps} planned"
    elif t.planned_steps and t.steps < t.planned_steps:
        kept += f"; {t.steps} of {t.planned_steps} planned steps ran"
    out.append(kept + ".")
    per_step = t.seconds_per_step
    speed = (f"Training took {_s(t.train_s)} ({per_step:.2f} s per step, {_n(t.tokens_per_s)} tokens/s)"
             if per_step is not None else f"Training took {_s(t.train_s)}")
    where = f"{t.hardware_detail or t.hardware}, {t.dtype}" + (f", {t.threads} thread{'s' if t.threads != 1 else ''}" if t.threads else "")
    memory = f", peak memory {_n(t.peak_memory_mb)} MB" if t.peak_memory_mb else ""
    out.append(f"{speed} and {_s(t.wall_s)} wall with model loading, validations and saving, on {where}{memory}.")
    if t.reused:
        out.append("The adapter was reused from the artifact cache: these figures were measured when it was built.")
    out += [f"Note: {n}" for n in t.notes]
    return out


def loss_table(t: TrainingFacts) -> Table | None:
    """Loss at each validation (at most MAX_CURVE_ROWS, evenly spaced, the kept step always shown)."""
    val = t.curves.validation
    if not val:
        return None
    acc = dict(t.curves.validation_accuracy)
    train = t.curves.train
    points = list(val)
    if len(points) > MAX_CURVE_ROWS:
        idx = {round(i * (len(points) - 1) / (MAX_CURVE_ROWS - 1)) for i in range(MAX_CURVE_ROWS)}
        idx |= {i for i, (s, _) in enumerate(points) if int(s) == t.best_step}
        points = [points[i] for i in sorted(idx)]
    headers = ["step", "training loss", "validation loss"] + (["validation accuracy"] if acc else []) + ["checkpoint"]
    table = Table(headers)
    for step, v in points:
        before = [x for s, x in train if s <= step]
        row = [_n(step), f"{before[-1]:.3f}" if before else "—", f"{v:.3f}"]
        if acc:
            row.append(fmt.pct(acc.get(step)))
        row.append("kept" if int(step) == t.best_step else "")
        table.rows.append(row)
    return table


def index_text(ix: IndexFacts) -> str:
    kind = {"flat": "exact (flat)", "hnsw": "approximate (HNSW)"}.get(ix.kind, ix.kind)
    size = f", {ix.bytes / 2**20:,.1f} MiB" if ix.bytes else ""
    docs = f" from {_n(ix.documents)} documents" if ix.documents else ""
    chunks = (f" ({ix.chunk_tokens}-token chunks, {ix.chunk_overlap} overlapping)"
              if ix.chunk_tokens is not None and ix.chunk_overlap is not None else "")
    embed = f", of which embedding {_s(ix.embed_seconds)}" if ix.embed_seconds is not None else ""
    text = (f"An {kind} index of {_n(ix.vectors)} vectors{docs}{chunks}, {ix.dims} dimensions{size}, "
            f"built in {_s(ix.build_seconds)}{embed}")
    text += f" with `{ix.embedder}`." if ix.embedder else "."
    if ix.reused:
        text += " Reused from the artifact cache: the build time is from when it was built."
    return text


def retrieval_text(r: RetrievalDetails, what: str = "passages") -> list[str]:
    out = [f"Retrieves {r.k} {what} per query."]
    if r.recall_at_k:
        recall = ", ".join(f"{fmt.pct(v)} within the top {k}" for k, v in r.recall_at_k.items())
        out.append(f"Of {_n(r.n_with_gold)} test questions with a known gold passage, the gold passage was found "
                   f"{recall}; mean reciprocal rank {r.mrr:.3f}." if r.mrr is not None else f"Recall: {recall}.")
        if r.gold and r.gold.unreachable:
            out.append(f"{r.gold.unreachable} question(s) had no chunk matching their gold definition.")
    elif r.n_with_gold == 0:
        out.append("Recall is not measured: no test item names a gold passage.")
    if r.latency_p50_ms is not None:
        out.append(f"Retrieval takes {fmt.ms(r.latency_p50_ms)} at the median and {fmt.ms(r.latency_p95_ms)} at "
                   f"p95 per query over {_n(r.latency_n or 0)} queries (timed apart from generation).")
    return out


def arm_retrieval_text(arm: ArmResult) -> str | None:
    """The index an arm built and how well and fast it retrieved, or None for arms without retrieval."""
    r, ix = arm.details.retrieval, arm.prepare.index
    if r is None and ix is None:
        return None
    what = "training examples as demonstrations" if arm.prepare.demonstrations else "passages"
    return " ".join(([index_text(ix)] if ix is not None else []) + (retrieval_text(r, what) if r is not None else []))


def risk_table(risks: LoraRisks) -> Table:
    """One row per check: what was checked, the verdict, the numbers behind it."""
    table = Table(["check", "verdict", "what was measured"])
    o = risks.overfitting
    if o.note and o.best_val_loss is None:
        table.rows.append(["overfitting", "not judged", o.note])
    else:
        verdict = "**flagged**" if o.flag else "no sign"
        falling = "kept falling" if o.train_loss_falling else "did not keep falling"
        table.rows.append(["overfitting", verdict,
                           f"validation loss was lowest ({o.best_val_loss:.3f}) at step {o.best_step}; the last "
                           f"validation reads {o.last_val_loss:.3f} ({(o.val_rise or 0):+.1%}, "
                           f"{o.tolerance:.0%} tolerated as noise); training loss {falling} after the best step"])
    lk = risks.leakage
    if lk.flagged:
        shown = ", ".join(f"{p.test_id} ~ {p.train_id} ({p.overlap:.0%})" for p in lk.pairs[:3])
        more = f" and {lk.flagged - 3} more" if lk.flagged > 3 else ""
        table.rows.append(["train/test leakage", f"**{lk.flagged} of {lk.test_checked} test inputs**",
                           f"share at least {lk.threshold:.0%} of their word {lk.ngram}-grams with a training input: "
                           f"{shown}{more}"])
    else:
        table.rows.append(["train/test leakage", "none found",
                           f"no test input of {lk.test_checked} shares {lk.threshold:.0%} or more of its word "
                           f"{lk.ngram}-grams with a training input"])
    f = risks.forgetting
    if f is not None:
        verdict = f"{fmt.points(f.delta)}" if f.delta else "no change"
        if f.delta < 0:
            verdict = f"**{verdict}**"
        table.rows.append(["forgetting", verdict,
                           f"general-knowledge probe ({f.n} questions): {fmt.pct(f.base)} without the adapter, "
                           f"{fmt.pct(f.tuned)} with it; {len(f.lost)} lost, {len(f.gained)} gained"])
    else:
        table.rows.append(["forgetting", "not measured", "the forgetting probe was switched off"])
    return table


def risk_summary(risks: LoraRisks) -> str:
    """One sentence for the terminal: which checks raised a flag."""
    flags = []
    if risks.overfitting.flag:
        flags.append(f"overfitting after step {risks.overfitting.best_step}")
    if risks.leakage.flagged:
        flags.append(f"{risks.leakage.flagged} test inputs overlap training inputs")
    if risks.forgetting is not None and risks.forgetting.delta < 0:
        flags.append(f"general knowledge {fmt.points(risks.forgetting.delta)}")
    return ("risks flagged: " + "; ".join(flags)) if flags else "no overfitting, leakage or forgetting flagged"
