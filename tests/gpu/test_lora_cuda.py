"""GPU tier (opt-in: `pytest -m gpu`): LoRA training on CUDA in bf16 (and QLoRA where
bitsandbytes is installed) learns, reports CUDA peak memory, and its adapter is served by
the transformers backend on CUDA with the same scores as on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from advisor.backends.base import ChoiceRequest  # noqa: E402
from advisor.spec.data import Sample  # noqa: E402
from tests.test_lora import _messages, _train, tiny_lm, tok, toy_samples  # noqa: E402,F401
from tests.factories import task_spec  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _train_cuda(tiny_lm: Path, tok, out: Path, **kw):
    from strategies.lora.config import LoraArmConfig
    from strategies.lora.data import encode
    from strategies.lora.train import train_adapter

    cfg = LoraArmConfig(learning_rate=1e-2, batch_size=8, rank=8, dropout=0.0, eval_every=10, warmup_ratio=0.0,
                        max_steps=30, patience=None, **kw)
    return train_adapter(tiny_lm, encode(toy_samples(48), _messages, tok, 512),
                         encode(toy_samples(16, start=100), _messages, tok, 512), cfg, seed=0, device="cuda",
                         dtype="bfloat16", threads=None, out_dir=out, pad_id=tok.pad_token_id)


def test_bf16_training_on_cuda_and_serving(tiny_lm: Path, tok, tmp_path: Path) -> None:
    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.spec.model import GenerationSpec, ModelSpec

    r = _train_cuda(tiny_lm, tok, tmp_path)
    assert r.device == "cuda" and r.dtype == "bfloat16" and r.val_curve[-1][1] < 0.5 * r.val_curve[0][1]
    assert r.peak_memory_mb > 0 and "cuda" in r.peak_memory_how
    reqs = [ChoiceRequest(_messages(Sample("x", t, "")), ("ham", "spam"), adapter=str(tmp_path))
            for t in ("a b free prize", "c d hello")]
    cpu = TransformersBackend(task_spec(ModelSpec(name=str(tiny_lm), device="cpu"), GenerationSpec(batch_size=4)))
    gpu = TransformersBackend(task_spec(ModelSpec(name=str(tiny_lm), device="cuda"), GenerationSpec(batch_size=4)))
    for a, b in zip(cpu.score_choices(reqs), gpu.score_choices(reqs)):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)


def test_qlora_on_cuda(tiny_lm: Path, tok, tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes")
    r = _train_cuda(tiny_lm, tok, tmp_path, qlora=True)
    assert r.val_curve[-1][1] < r.val_curve[0][1] and (tmp_path / "adapter_model.safetensors").is_file()
