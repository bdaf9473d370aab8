"""Synthetic run records with known per-item outcomes, for the decision engine and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from advisor.evaluation.record import (
    ArmResult, BackendRecord, RunRecord, SampleRow, SplitsInfo, TaskInfo, append_samples, write_record,
)
from advisor.evaluation.sections import (
    ForgettingRisk, Latency, LeakagePair, LeakageRisk, LoraRisks, OneOffCost, OverfittingRisk, PrepareFacts, Throughput,
    TrainingCurves, TrainingExamples, TrainingFacts, Usage,
)
from advisor.spec.model import GenerationSpec, ModelSpec, TaskSpec

LABELS = ["ham", "spam"]


def task_spec(model: ModelSpec | None = None, generation: GenerationSpec | None = None, **fields: Any) -> TaskSpec:
    """A minimal valid TaskSpec (nothing is read from disk): every backend is built from one."""
    data = {"name": "synthetic", "type": "classification", "labels": LABELS, "data": {"path": "data.jsonl"},
            "arms": [{"name": "zero", "strategy": "prompting"}], **fields}
    if model is not None:
        data["model"] = model.model_dump()
    if generation is not None:
        data["generation"] = generation.model_dump()
    return TaskSpec.model_validate(data)


def arm_rows(name: str, correct: list[bool], latency_ms: float = 100.0, busy_s: float = 0.1) -> list[SampleRow]:
    rows = []
    for i, ok in enumerate(correct):
        target = LABELS[i % 2]
        pred = target if ok else LABELS[(i + 1) % 2]
        rows.append(SampleRow(arm=name, id=f"s{i:03d}", input=f"text {i}", target=target, prediction=pred, raw=pred,
                              correct=ok, score=float(ok), latency_ms=latency_ms * (1 + (i % 10) / 10),
                              busy_share_s=busy_s, prompt_tokens=50, completion_tokens=0))
    return rows


def make_run(arms: dict[str, dict[str, Any]], pricing: dict | None = None, decision: dict | None = None,
             backend: str = "transformers", n: int = 100) -> tuple[RunRecord, list[SampleRow]]:
    """arms: name -> {correct: list[bool] | accuracy: float, busy_s, p95_ms, one_off_s, kind, status}."""
    records, rows = [], []
    for name, a in arms.items():
        correct = a.get("correct") or [i < round(a["accuracy"] * n) for i in range(n)]
        r = arm_rows(name, correct, a.get("latency_ms", 100.0), a.get("busy_s", 0.1))
        status = a.get("status", "ok")
        acc = sum(correct) / len(correct)
        prepare = PrepareFacts()
        if a.get("one_off_s"):
            prepare.one_off = [OneOffCost(kind=a.get("kind", "training"), what=a.get("what", "LoRA training"),
                                          seconds=a["one_off_s"], hardware="cpu", reused=False)]
        records.append(ArmResult(
            name=name, strategy=a.get("strategy", "prompting"), status=status, config={}, prepare=prepare,
            n=len(r) if status == "ok" else 0, metrics={"accuracy": acc} if status == "ok" else {},
            primary_metric="accuracy", higher_is_better={"accuracy": True},
            latency=Latency(p50_ms=a.get("latency_ms", 100.0), p95_ms=a.get("p95_ms", 190.0)),
            throughput=Throughput(busy_s=a.get("busy_s", 0.1) * len(r)), usage=Usage(prompt_tokens=50 * len(r)),
            errors=[] if status == "ok" else ["boom"]))
        if status == "ok":
            rows += r
    spec = task_spec(pricing=pricing or {}, decision=decision or {},
                     arms=[{"name": name, "strategy": a.get("strategy", "prompting")} for name, a in arms.items()])
    record = RunRecord(run_id="r1", created="2026-11-28T00:00:00Z", status="ok",
                       task=TaskInfo(name="synthetic", type="classification", path="task.yaml", sha256="0"),
                       spec=spec, splits=SplitsInfo(test_used=n),
                       backend=BackendRecord(name=backend, model="tiny", device="cpu", dtype="float32"),
                       arms=records, wall_s=1.0, finished="2026-11-28T00:01:00Z")
    return record, rows


def write_run(run_dir: Path, record: RunRecord, rows: list[SampleRow]) -> Path:
    write_record(run_dir, record)
    append_samples(run_dir, rows)
    return run_dir


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def lora_facts() -> tuple[TrainingFacts, LoraRisks]:
    """A fine-tune's facts as the LoRA arm records them (numbers from a small CPU run's shape)."""
    training = TrainingFacts(
        curves=TrainingCurves(train=[(s, 2.4 - 0.1 * s) for s in range(1, 13)],
                              validation=[(4, 2.1), (8, 1.8), (12, 1.85)],
                              validation_accuracy=[(4, 0.6), (8, 0.8), (12, 0.78)]),
        best_step=8, stopped_early=True, steps=12, planned_steps=30, epochs=1.5,
        examples=TrainingExamples(train=64, validation=16), trainable_params=1_081_344, total_params=135_596_352,
        trainable_share=round(1_081_344 / 135_596_352, 6), tokens=18_000, answer_tokens=200, tokens_per_s=450.0,
        train_s=40.0, eval_s=6.0, wall_s=52.5, peak_memory_mb=1536.0, peak_memory_how="max RSS", hardware="cpu",
        hardware_detail="cpu", dtype="float32", threads=2)
    risks = LoraRisks(
        overfitting=OverfittingRisk(flag=True, best_step=8, steps=12, stopped_early=True, early_stop_step=12,
                                    tolerance=0.02, best_val_loss=1.8, last_val_loss=1.85, val_rise=0.0278,
                                    train_loss_falling=True,
                                    note="validation loss rose 2.8% after step 8 while training loss fell"),
        leakage=LeakageRisk(ngram=8, threshold=0.5, test_checked=100, flagged=2, overlap_share=0.02,
                            flagged_ids=["s007", "s042"],
                            pairs=[LeakagePair(test_id="s007", train_id="t013", overlap=0.9),
                                   LeakagePair(test_id="s042", train_id="t101", overlap=0.6)],
                            warning=True, how="word 8-grams of each test input looked up in all train inputs"),
        forgetting=ForgettingRisk(probe="general_mc", n=48, base=0.5, tuned=0.4583, delta=-0.0417,
                                  lost=["q3", "q9", "q17"], gained=["q21"], how="choice scoring with and without"))
    return training, risks
