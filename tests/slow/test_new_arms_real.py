"""Slow tier: the arms added for the full menu on the real models and the demo data, each
short (--limit, a few optimizer steps) so every test stays well under 90 s on 2 cores."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from advisor.evaluation.record import read_samples
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
SMS = ROOT / "benchmarks" / "sms_spam" / "task.yaml"
FAQ = ROOT / "benchmarks" / "debian_faq" / "task.yaml"
SHORT = {"batch_size": 4, "eval_examples": 8, "threads": 2, "forgetting_probe": False}


def _task(tmp_path: Path, demo: Path, arms: list[dict]):
    """The demo task with its data paths made absolute and only `arms`."""
    spec = yaml.safe_load(demo.read_text())
    spec["data"]["path"] = str(demo.parent / spec["data"]["path"])
    if "corpus" in spec:
        spec["corpus"]["path"] = str(demo.parent / spec["corpus"]["path"])
    spec["arms"] = arms
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_task(path)


@pytest.fixture
def fresh_artifacts(tmp_path: Path, monkeypatch) -> None:
    """Train and index for real (not from the shared cache) but reuse the converted models."""
    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path / "cache"))
    from advisor.artifacts import models

    monkeypatch.setattr(models, "cache_root", lambda: Path.home() / ".cache" / "advisor")


def test_classical_on_the_sms_demo(tmp_path: Path) -> None:
    task = _task(tmp_path, SMS, [{"name": "classical", "strategy": "classical"}])
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run"))
    arm = record.arm("classical")
    assert arm.status == "ok", arm.errors
    assert arm.n == 100 and arm.metrics["accuracy"] >= 0.9  # measured 0.970 (README)
    t = arm.prepare.classical
    assert t.examples == 400 and t.best_c in (0.01, 0.1, 1.0, 10.0, 100.0) and t.features > 1000
    rows = read_samples(run_dir, "classical")
    assert all(r.prompt_tokens == 0 and r.latency_ms > 0 for r in rows)


def test_knn_lora_serves_the_adapter_with_nearest_demonstrations(tmp_path: Path, fresh_artifacts) -> None:
    config = {**SHORT, "shots": 2, "max_steps": 3, "eval_every": 3, "mode": "choice", "template": "SMS: {input}"}
    task = _task(tmp_path, SMS, [{"name": "knn-lora", "strategy": "knn-lora", "config": config}])
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run", limit=8))
    arm = record.arm("knn-lora")
    assert arm.status == "ok", arm.errors
    assert arm.prepare.training.steps == 3 and not arm.prepare.reused
    assert {o.kind for o in arm.prepare.one_off} == {"training", "index"}
    rows = read_samples(run_dir, "knn-lora")
    assert all(len(r.extra.demonstration_ids) == 2 and r.extra.retrieval_ms > 0 for r in rows)
    assert arm.details.retrieval.latency_n == 8 and arm.details.risks.leakage is not None


def test_rag_lora_trains_raft_style_on_the_debian_faq(tmp_path: Path, fresh_artifacts) -> None:
    retrieval = {"top_k": 2, "chunk_tokens": 160, "chunk_overlap": 24, "instructions": "", "guide": "",
                 "gold_field": "source", "gold_answer": True}
    config = {**SHORT, "batch_size": 2, "max_steps": 2, "eval_every": 2, "retrieval": retrieval}
    task = _task(tmp_path, FAQ, [{"name": "rag-lora", "strategy": "rag-lora", "config": config}])
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run", limit=4))
    arm = record.arm("rag-lora")
    assert arm.status == "ok", arm.errors
    raft = arm.prepare.raft
    t = arm.prepare.training
    n_train, n_val = t.examples.train, t.examples.validation
    assert raft.gold + raft.distractors + raft.retrieved == n_train + n_val
    assert raft.gold + raft.gold_unknown_fell_back == round(0.8 * n_train)
    assert t.tokens / (t.steps * 2) > 200  # passages in every training prompt (zero-shot is ~50 tokens)
    assert {o.kind for o in arm.prepare.one_off} == {"training", "index"}
    assert arm.details.retrieval.recall_at_k is not None and arm.details.risks.overfitting is not None
    assert all(len(r.extra.retrieved) == 2 for r in read_samples(run_dir, "rag-lora"))


def test_peft_methods_on_smollm2(tmp_path: Path, fresh_artifacts) -> None:
    """Trainable parameters follow from SmolLM2-135M's shapes (30 layers, width 576, 3 KV
    heads of 64, MLP 1536): IA3 scales k, v (192 each) and the down-projection input (1536);
    DoRA adds a magnitude per output of q, k, v, o to LoRA r=8's 921,600; a 20-token soft
    prompt is 20 x 576."""
    base = {**SHORT, "max_steps": 2, "eval_every": 2, "mode": "choice", "template": "SMS: {input}"}
    arms = [{"name": m, "strategy": "lora", "config": {**base, "method": m}} for m in ("dora", "ia3", "prompt_tuning")]
    record, _ = run_task(_task(tmp_path, SMS, arms), RunOptions(out=tmp_path / "run", limit=8))
    params = {}
    for arm in record.arms:
        assert arm.status == "ok", (arm.name, arm.errors)
        assert arm.prepare.training.method == arm.name and arm.n == 8
        params[arm.name] = arm.prepare.training.trainable_params
    assert params["dora"] == 921_600 + 30 * (576 + 192 + 192 + 576) and params["prompt_tuning"] == 20 * 576
    assert params["ia3"] == 30 * (192 + 192 + 1536)
    assert record.arm("ia3").prepare.training.resolved.target_modules == ["down_proj", "k_proj", "v_proj"]


def test_full_ft_trains_every_weight(tmp_path: Path, fresh_artifacts) -> None:
    config = {**SHORT, "batch_size": 2, "max_steps": 2, "eval_every": 2, "max_length": 128, "mode": "choice",
              "template": "SMS: {input}"}
    record, _ = run_task(_task(tmp_path, SMS, [{"name": "full", "strategy": "full-ft", "config": config}]),
                         RunOptions(out=tmp_path / "run", limit=8))
    arm = record.arm("full")
    assert arm.status == "ok", arm.errors
    t = arm.prepare.training
    assert t.trainable_params == t.total_params == arm.prepare.memory_estimate.params > 130e6
    assert t.method == t.resolved.method == "full" and (Path(arm.prepare.adapter) / "config.json").is_file()
