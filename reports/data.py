"""What every report shows, gathered once from the run record (run.json + samples.jsonl).

Reports never measure or re-run anything. A record without a recommendation (the decision
failed, or the record predates it) gets one computed from its samples, marked as such.
"""

from __future__ import annotations

from typing import Any

from dataclasses import dataclass, field
from pathlib import Path

from advisor.decision.types import ArmCost, MetricCI, Recommendation
from advisor.evaluation.record import ArmResult, RunRecord, SampleRow, group_by_arm, read_samples
from advisor.evaluation.sections import LoraRisks, RetrievalDetails, TrainingCurves, TrainingFacts

__all__ = ["ReportData", "gather"]


@dataclass
class ReportData:
    record: RunRecord
    run_dir: Path | None
    rows: dict[str, list[SampleRow]] = field(default_factory=dict)
    rec: Recommendation | None = None
    rec_source: str = "run.json"
    examples: int = 3  # example test items shown (reports.examples)

    @property
    def primary(self) -> str:
        if self.rec is not None:
            return self.rec.primary_metric
        return next((a.primary_metric for a in self.record.arms if a.primary_metric), None) or \
            self.record.spec.primary_metric

    @property
    def arms(self) -> list[ArmResult]:
        return self.record.arms

    def ci(self, arm: str, metric: str) -> tuple[float, float] | None:
        item: MetricCI | None = self.rec.interval(arm, metric) if self.rec else None
        return (item.low, item.high) if item else None

    def cost(self, arm: str) -> ArmCost | None:
        return self.rec.costs.get(arm) if self.rec else None

    def monthly(self, arm: str) -> float | None:
        return self.rec.monthly_usd.get(arm) if self.rec else None

    def training(self) -> dict[str, TrainingFacts]:
        return {a.name: a.prepare.training for a in self.arms if a.prepare.training is not None}

    def curves(self) -> dict[str, TrainingCurves]:
        """LoRA learning curves by arm."""
        return {name: t.curves for name, t in self.training().items() if t.curves.train or t.curves.validation}

    def retrieval(self) -> dict[str, RetrievalDetails]:
        return {a.name: a.details.retrieval for a in self.arms if a.details.retrieval is not None}

    def data_curves(self) -> list[tuple[ArmResult, Any]]:
        """Arms with learning-curve points (metric against train examples), each with its fit (CurveFit or None)."""
        fits = {f.arm: f for f in (self.rec.learning_curves if self.rec else [])}
        return [(a, fits.get(a.name)) for a in self.arms if a.learning_curve is not None]

    def risks(self) -> dict[str, LoraRisks]:
        return {a.name: a.details.risks for a in self.arms if a.details.risks is not None}


def gather(record: RunRecord, run_dir: Path | None, examples: int = 3) -> ReportData:
    rows = group_by_arm(read_samples(run_dir)) if run_dir is not None else {}
    if run_dir is not None and record.judge is not None:
        from advisor.evaluation.judge import load_grades

        load_grades(run_dir)  # the judge metric's item values, for a decision re-made from samples
    data = ReportData(record=record, run_dir=run_dir, rows=rows, rec=record.recommendation, examples=examples)
    if record.recommendation is None and rows and any(a.status == "ok" for a in record.arms):
        from advisor.decision.engine import recommend

        data.rec = recommend(record, [r for rs in rows.values() for r in rs])
        data.rec_source = "computed from samples.jsonl at report time (run.json holds none)"
    return data
