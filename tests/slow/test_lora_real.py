"""Slow tier: a short real LoRA run on SmolLM2 and the demo SMS task beats zero-shot
prompting on test messages that share no template with the training messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.spec.data import load_splits
from advisor.evaluation.record import read_samples
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from strategies.lora.risks import leakage
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
DEMO = ROOT / "benchmarks" / "sms_spam" / "task.yaml"
LIMIT = 48


def test_lora_beats_zero_shot_on_held_out_templates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path / "cache"))  # train for real, not from the shared cache
    from advisor.artifacts import models

    monkeypatch.setattr(models, "cache_root", lambda: Path.home() / ".cache" / "advisor")  # but reuse the model
    # The demo's lora arm as shipped: 30 steps of 8, validated on 16 messages at 0, 15 and 30.
    # 12 steps were not enough: +0.05 over zero-shot.
    task = load_task(DEMO)
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run", arms=["zero-shot", "lora"], limit=LIMIT))
    tuned = record.arm("lora")
    assert tuned.status == "ok", tuned.errors
    t = tuned.prepare.training
    assert t.steps == 30 and [p[0] for p in t.curves.validation] == [0, 15, 30]
    assert t.curves.validation[-1][1] < 0.5 * t.curves.validation[0][1]  # it learnt
    assert t.tokens_per_s > 0 and t.trainable_params == 921_600 and not t.reused
    assert tuned.details.risks.forgetting.n == 48

    # Held-out messages only: drop test messages sharing a word 5-gram template with training.
    splits = load_splits(task.spec)
    test = splits.test[:LIMIT]
    shared = set(leakage(splits.train, test, n=5, threshold=0.2, max_listed=LIMIT).flagged_ids)
    clean = {s.id for s in test} - shared
    acc = {arm: sum(r.correct for r in read_samples(run_dir, arm) if r.id in clean) / len(clean)
           for arm in ("zero-shot", "lora")}
    print(f"\nheld-out accuracy on {len(clean)}/{LIMIT} messages: zero-shot {acc['zero-shot']:.3f}, "
          f"lora {acc['lora']:.3f}; training {t.wall_s:.0f} s at {t.tokens_per_s:.0f} tok/s")
    assert len(clean) >= LIMIT // 2
    assert acc["lora"] >= acc["zero-shot"] + 0.10  # measured +0.25 (0.875 vs 0.625 on 40); README
