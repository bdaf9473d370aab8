"""Slow tier: the long-answer Debian FAQ task through closed-book, rag and lora on the real
SmolLM2 and MiniLM (tiny limits), and the MiniLM calibration of semantic similarity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.evaluation.longform import rouge_l, semantic_similarities
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
LONG = ROOT / "benchmarks" / "debian_faq_long" / "task.yaml"
PAIRS = ROOT / "benchmarks" / "calibration" / "similarity_pairs.jsonl"


def test_minilm_separates_paraphrases_from_wrong_and_unrelated_answers() -> None:
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    sims = semantic_similarities([p["answer"] for p in pairs], [p["reference"] for p in pairs])
    by_kind: dict[str, list[float]] = {}
    for p, s in zip(pairs, sims):
        by_kind.setdefault(p["kind"], []).append(s)
    mean = {k: sum(v) / len(v) for k, v in by_kind.items()}
    assert mean["paraphrase"] > mean["same_topic"] + 0.1 > mean["unrelated"] + 0.1
    assert sum(a > b for a, b in zip(by_kind["paraphrase"], by_kind["same_topic"])) >= 8
    assert rouge_l(pairs[0]["answer"], pairs[0]["reference"]) < 0.5  # a paraphrase ROUGE-L undervalues


def test_long_answer_task_runs_every_arm_and_reports_quality(tmp_path: Path, capsys) -> None:
    task = load_task(LONG)
    spec = task.spec.model_copy(update={"generation": task.spec.generation.model_copy(update={"max_new_tokens": 24})})
    lora = task.arm_configs["lora"].model_copy(update={"max_steps": 2, "max_train_examples": 8, "eval_examples": 4,
                                                            "forgetting_probe": False})
    task = type(task)(spec, task.path, {**task.arm_configs, "lora": lora}, task.lines)
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run", limit=4))
    assert record.status == "ok", [a.errors for a in record.arms]
    for arm in record.arms:
        assert {"semantic_similarity", "rouge_l", "token_f1"} <= set(arm.metrics)
        assert arm.quality is not None and arm.quality.n == 4 and arm.quality.gold_n == 4
        assert -1 <= arm.metrics["semantic_similarity"] <= 1
    rag = record.arm("rag")
    assert rag.quality.groundedness_n == 4 and rag.quality.groundedness_mean is not None
    assert record.arm("lora").prepare.training.lengths.how.startswith("auto: p95")
    assert main(["report", str(run_dir), "--format", "md", "--examples", "2"]) == 0
    md = capsys.readouterr().out
    assert "## Answer quality" in md and "## Examples" in md and "rag passage [1]" in md
    assert md.count("- reference:") == 2
