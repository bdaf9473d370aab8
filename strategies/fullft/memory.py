"""Will full fine-tuning fit this machine? An estimate made before loading anything.

Training with AdamW holds, per parameter: the weights and their gradients in the training
dtype, two Adam moments in fp32 (8 bytes) and the best-so-far copy early stopping keeps
(one more set of weights). Activations kept for the backward pass are estimated per layer
as 34 x hidden x tokens bytes at 16 bits (Korthikanti et al. 2022, without recomputation;
doubled at 32 bits), plus the fp32 logits of the answer window. Parameters are counted
from the safetensors headers, so nothing is loaded.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemoryEstimate", "count_parameters", "estimate_training_bytes", "available_bytes"]

GIB = 1024 ** 3


@dataclass
class MemoryEstimate:
    params: int
    weights: int
    gradients: int
    adam: int
    best_copy: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.adam + self.best_copy + self.activations

    def as_dict(self) -> dict[str, float]:
        parts = ("weights", "gradients", "adam", "best_copy", "activations")
        return {"params": self.params, **{f"{p}_gib": round(getattr(self, p) / GIB, 3) for p in parts},
                "total_gib": round(self.total / GIB, 3)}


def count_parameters(folder: Path) -> int:
    """Elements of every tensor in the folder's safetensors files (headers only)."""
    total = 0
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .safetensors weights to count parameters from")
    for f in files:
        with f.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                n = 1
                for d in info["shape"]:
                    n *= d
                total += n
    return total


def estimate_training_bytes(folder: Path, dtype: str, batch_size: int, seq_len: int) -> MemoryEstimate:
    config = json.loads((folder / "config.json").read_text())
    params = count_parameters(folder)
    width = 2 if dtype in ("bfloat16", "float16") else 4
    layers = int(config.get("num_hidden_layers") or config.get("n_layer") or 1)
    hidden = int(config.get("hidden_size") or config.get("n_embd") or 1)
    vocab = int(config.get("vocab_size") or 1)
    tokens = batch_size * seq_len
    activations = layers * 34 * hidden * tokens * width // 2 + batch_size * 32 * vocab * 4  # + answer-window logits
    return MemoryEstimate(params=params, weights=params * width, gradients=params * width, adam=params * 8,
                          best_copy=params * width, activations=activations)


def available_bytes(device: str) -> tuple[int, str]:
    """(bytes free for training, how it was read)."""
    if device == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return int(free), "torch.cuda.mem_get_info (free GPU memory)"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "available physical pages (sysconf)"
