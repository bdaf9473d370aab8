"""`dtype: auto`: the weights dtype a model runs in, chosen from the hardware, with the reason.

CPU: bfloat16 where the CPU multiplies bf16 natively (the `avx512_bf16` or `amx_bf16` flag
in /proc/cpuinfo: AVX512-BF16 or AMX), which halves the weights' memory traffic and, on the
demos, the wall time at the same accuracy; float32 otherwise, because without those
instructions bf16 matrix products are emulated and slower than fp32. CUDA: bfloat16 where
the GPU supports it (compute capability 8.0+), float16 otherwise. An explicit dtype is kept
as given. The record's backend section carries the choice and this reason (`dtype_choice`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["cpu_flags", "resolve_dtype", "BF16_FLAGS"]

BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first CPU's feature flags (empty where /proc/cpuinfo is absent: not Linux)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cuda_bf16() -> bool:
    try:
        import torch
    except ImportError:  # an HTTP-only environment driving a vLLM server: bf16 is every recent GPU's
        return True

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def resolve_dtype(requested: str, device: str, flags: set[str] | None = None) -> tuple[str, str]:
    """(dtype, why) for `requested` (auto | float32 | bfloat16 | float16) on `device` (cpu | cuda)."""
    if requested != "auto":
        return requested, f"{requested} as configured"
    if device == "cuda":
        if _cuda_bf16():
            return "bfloat16", "auto: CUDA device supports bfloat16"
        return "float16", "auto: CUDA device without bfloat16 support"
    flags = cpu_flags() if flags is None else flags
    found = [name for flag, name in BF16_FLAGS.items() if flag in flags]
    if found:
        return "bfloat16", f"auto: CPU has {' and '.join(found)} (native bf16 matrix products)"
    return "float32", "auto: CPU has neither AVX512-BF16 nor AMX (bf16 would be emulated, slower than fp32)"
