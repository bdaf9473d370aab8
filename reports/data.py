"""What every report shows, gathered once from the run record (run.json + samples.jsonl).

Reports never measure or re-run anything. A record written before the decision engine
existed (no `recommendation`) gets one computed from its samples, marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.evaluation.record import ArmResult, RunRecord, SampleRow, group_by_arm, read_samples

__all__ = ["ReportData", "gather"]


@dataclass
class ReportData:
    record: RunRecord
    run_dir: Path | None
    rows: dict[str, list[SampleRow]] = field(default_factory=dict)
    rec: dict[str, Any] | None = None  # the recommendation
    rec_source: str = "run.json"

    @property
    def primary(self) -> str:
        if self.rec and self.rec.get("primary_metric"):
            return self.rec["primary_metric"]
        return next((a.primary_metric for a in self.record.arms if a.primary_metric), None) or "accuracy"

    @property
    def arms(self) -> list[ArmResult]:
        return self.record.arms

    def ci(self, arm: str, metric: str) -> tuple[float, float] | None:
        item = ((self.rec or {}).get("intervals") or {}).get(arm, {}).get(metric)
        return (item["low"], item["high"]) if item else None

    def cost(self, arm: str) -> dict[str, Any] | None:
        return ((self.rec or {}).get("costs") or {}).get(arm)

    def curves(self) -> dict[str, dict[str, list]]:
        """LoRA learning curves by arm: {"train": [[step, loss]...], "validation": [...]}."""
        out = {}
        for a in self.arms:
            curves = (a.prepare.get("training") or {}).get("curves")
            if curves:
                out[a.name] = curves
        return out

    def retrieval(self) -> dict[str, dict[str, Any]]:
        return {a.name: a.details["retrieval"] for a in self.arms if isinstance(a.details.get("retrieval"), dict)}

    def data_curves(self) -> list[tuple[ArmResult, dict[str, Any] | None]]:
        """Arms with learning-curve points (metric against train examples), each with its fit."""
        fits = {f["arm"]: f for f in ((self.rec or {}).get("learning_curves") or [])}
        return [(a, fits.get(a.name)) for a in self.arms if a.learning_curve is not None]

    def risks(self) -> dict[str, dict[str, Any]]:
        return {a.name: a.details["risks"] for a in self.arms if isinstance(a.details.get("risks"), dict)}


def gather(record: RunRecord, run_dir: Path | None) -> ReportData:
    rows = group_by_arm(read_samples(run_dir)) if run_dir is not None else {}
    data = ReportData(record=record, run_dir=run_dir, rows=rows, rec=record.recommendation)
    if (record.recommendation is None or "error" in record.recommendation) and rows \
            and any(a.status == "ok" for a in record.arms):
        from advisor.decision.engine import recommend

        data.rec = recommend(record, [r for rs in rows.values() for r in rs])
        data.rec_source = "computed from samples.jsonl at report time (run.json holds none)"
    return data
