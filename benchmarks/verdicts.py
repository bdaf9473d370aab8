"""Per-arm long-answer table of a finished run, and the verdict under each primary metric.

Reads run.json + samples.jsonl only. For every metric the arms were scored on, the decision
engine is re-run with that metric as the primary (same samples, same costs), so the table
shows whether the choice of metric, not the arms, decides. Prints Markdown.

    python benchmarks/verdicts.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor import fmt  # noqa: E402
from advisor.decision.engine import recommend  # noqa: E402
from advisor.evaluation.record import read_record, read_samples  # noqa: E402


def table(run: Path) -> str:
    record, run_dir = read_record(run)
    rows = read_samples(run_dir)
    arms = [a for a in record.arms if a.status == "ok"]
    metrics = sorted({m for a in arms for m in a.metrics})
    out = [f"### {record.task.name} ({record.splits.test_used} test items, run {record.run_id})", "",
           "| arm | " + " | ".join(metrics) + " | groundedness | gold ignored | degenerate |",
           "|---|" + "---|" * (len(metrics) + 3)]
    for a in arms:
        q = a.quality
        out.append(f"| {a.name} | " + " | ".join(fmt.pct(a.metrics.get(m)) for m in metrics) + " | "
                   + (fmt.pct(q.groundedness_mean) if q and q.groundedness_mean is not None else "—") + " | "
                   + (fmt.pct(q.gold_ignored_share) if q and q.gold_ignored_share is not None else "—") + " | "
                   + (f"{fmt.pct(q.degenerate_share)} {q.degenerate_by_kind}" if q else "—") + " |")
    out += ["", "| primary metric | winner | runner-up | warnings |", "|---|---|---|---|"]
    for m in metrics:
        copy = record.model_copy(deep=True)
        for a in copy.arms:
            a.primary_metric = m
        rec = recommend(copy, rows)
        out.append(f"| {m} | {rec.winner} | {rec.runner_up} | {' '.join(rec.warnings) or '—'} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(table(Path(arg)))
