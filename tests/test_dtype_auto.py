"""dtype auto: bf16 where the CPU has AVX512-BF16 or AMX, fp32 otherwise, the reason recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.backends import dtype as dtype_mod
from advisor.backends.dtype import cpu_flags, resolve_dtype
from advisor.spec.model import ModelSpec


def test_auto_is_the_default() -> None:
    assert ModelSpec().dtype == "auto"


@pytest.mark.parametrize("flags, expected, named", [
    ({"avx2", "avx512f", "avx512_bf16"}, "bfloat16", "AVX512-BF16"),
    ({"avx2", "amx_tile", "amx_bf16"}, "bfloat16", "AMX-BF16"),
    ({"avx2", "fma"}, "float32", "neither AVX512-BF16 nor AMX"),
    ({"avx2", "avx512f", "avx512_vnni"}, "float32", "neither"),  # AVX512 alone emulates bf16
])
def test_cpu_choice_follows_the_flags(flags: set[str], expected: str, named: str) -> None:
    dtype, why = resolve_dtype("auto", "cpu", flags)
    assert dtype == expected and named in why and why.startswith("auto:")


def test_explicit_dtype_is_kept() -> None:
    assert resolve_dtype("float32", "cpu", {"amx_bf16"}) == ("float32", "float32 as configured")
    assert resolve_dtype("bfloat16", "cuda") == ("bfloat16", "bfloat16 as configured")


def test_cuda_choice(monkeypatch) -> None:
    monkeypatch.setattr(dtype_mod, "_cuda_bf16", lambda: True)
    assert resolve_dtype("auto", "cuda")[0] == "bfloat16"
    monkeypatch.setattr(dtype_mod, "_cuda_bf16", lambda: False)
    assert resolve_dtype("auto", "cuda") == ("float16", "auto: CUDA device without bfloat16 support")


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize("flags, expected", [({"avx2"}, "float32"), ({"avx2", "amx_bf16"}, "bfloat16")])
def test_transformers_backend_loads_and_records_the_choice(monkeypatch, tiny_llama: Path, flags, expected) -> None:
    """The in-process backend loads the dtype auto chose and the record says why (tiny Llama from a config)."""
    torch = pytest.importorskip("torch")
    from advisor.backends.transformers_backend import TransformersBackend

    monkeypatch.setattr(dtype_mod, "cpu_flags", lambda: flags)
    from tests.factories import task_spec

    backend = TransformersBackend(task_spec(ModelSpec(name=str(tiny_llama), threads=1, device="cpu")))
    assert backend.info.dtype == expected and backend.info.dtype_choice.startswith("auto:")
    assert next(backend.model.parameters()).dtype == getattr(torch, expected)
    from advisor.evaluation.record import BackendRecord
    from dataclasses import asdict

    assert BackendRecord(**asdict(backend.info)).dtype_choice == backend.info.dtype_choice  # into run.json
