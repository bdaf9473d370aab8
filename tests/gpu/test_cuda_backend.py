"""GPU tier (opt-in: `pytest -m gpu`): the transformers backend on CUDA agrees with the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from advisor.backends import transformers_backend as tb  # noqa: E402
from advisor.backends.base import ChoiceRequest, GenerateRequest  # noqa: E402
from advisor.spec.model import GenerationSpec, ModelSpec  # noqa: E402
from tests.conftest import TINY_INPUTS as INPUTS  # noqa: E402
from tests.conftest import tiny_chat as _conv  # noqa: E402
from tests.factories import task_spec  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

def test_cuda_matches_cpu(tiny_llama: Path) -> None:
    cpu = tb.TransformersBackend(task_spec(ModelSpec(name=str(tiny_llama), device="cpu"), GenerationSpec(batch_size=4)))
    gpu = tb.TransformersBackend(task_spec(ModelSpec(name=str(tiny_llama), device="cuda"), GenerationSpec(batch_size=4)))
    assert gpu.info.device == "cuda" and gpu.info.threads is None
    choices = [ChoiceRequest(_conv(t), ("ham", "spam", "free prize")) for t in INPUTS]
    for a, b in zip(cpu.score_choices(choices), gpu.score_choices(choices)):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)
    gens = [GenerateRequest(_conv(t), max_new_tokens=6) for t in INPUTS]
    assert [g.text for g in cpu.generate(gens)] == [g.text for g in gpu.generate(gens)]
    batched = gpu.generate(gens)
    single = [gpu.generate([r])[0] for r in gens]
    assert [g.text for g in batched] == [g.text for g in single]
