"""ONNX exports of a sentence-transformers embedder, made once and kept in the artifact cache.

sentence-transformers runs ONNX models through `backend="onnx"`, whose exporter is Optimum
(`export_dynamic_quantized_onnx_model`); Optimum's ONNX package pins transformers < 4.58,
which cannot share an environment with the transformers this project runs. The export here
makes the same artefacts with the libraries Optimum itself calls: `torch.onnx.export` of the
model's transformer (inputs `input_ids`, `attention_mask`, `token_type_ids`; output
`last_hidden_state`, dynamic batch and sequence axes) and ONNX Runtime's dynamic int8
quantisation (`onnxruntime.quantization.quantize_dynamic`, the call behind Optimum's
`AutoQuantizationConfig.avx2/avx512_vnni(is_static=False)`: per-channel weights, activations
quantised at run time; see `int8_scheme`). The folder is laid out as sentence-transformers expects (`onnx/model.onnx`,
`onnx/model_<suffix>.onnx` beside the tokenizer and pooling config), so it also loads with
`SentenceTransformer(folder, backend="onnx", model_kwargs={"file_name": ...})` where Optimum
is installed.

The cache key hashes the embedder's identity (a content hash of its weights), the export
recipe version and the variant, so new weights or a new recipe never reuse a stale file.
Everything runs offline from the local model folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from advisor.artifacts.filelock import file_lock

__all__ = ["VARIANTS", "exported_onnx", "int8_scheme", "file_for"]

RECIPE = 1  # bump when the export or quantisation recipe changes
OPSET = 17
VARIANTS = ("fp32", "int8")
_VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}


def int8_scheme(flags: set[str] | None = None) -> tuple[str, str]:
    """(file name, weight type) of the int8 export for this CPU, as Optimum's AutoQuantizationConfig does it.

    With VNNI the int8 dot product is exact: signed weights (`avx512_vnni`). Without it ONNX
    Runtime multiplies u8 x s8 with VPMADDUBSW, whose 16-bit sums can saturate, so AVX2 CPUs
    get unsigned weights (u8 x u8, `avx2`), the configuration Optimum names for them.
    """
    from advisor.backends.dtype import cpu_flags

    flags = cpu_flags() if flags is None else flags
    if flags & _VNNI:
        return "model_qint8_avx512_vnni.onnx", "QInt8"
    return "model_quint8_avx2.onnx", "QUInt8"


def file_for(variant: str) -> str:
    """The file under onnx/ (sentence-transformers' names for the same exports)."""
    return "model.onnx" if variant == "fp32" else int8_scheme()[0]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export_fp32(model_dir: Path, dest: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    enc = tok(["an example sentence", "a second, somewhat longer example sentence"], padding=True,
              return_tensors="pt")
    names = [n for n in _INPUTS if n in enc]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}

    class Hidden(torch.nn.Module):  # positional inputs, one named output
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).last_hidden_state

    # The tracer warns about shape checks it folds into constants; the export's axes stay dynamic
    # (batch and sequence), which the tests check by encoding texts of many lengths.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(model), tuple(enc[n] for n in names), str(dest), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)


def _quantize(src: Path, dest: Path, weight_type: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # int8 weights per output channel; activations are quantised per batch at run time (uint8).
    quantize_dynamic(str(src), str(dest), weight_type=getattr(QuantType, weight_type), per_channel=True,
                     reduce_range=False)


def exported_onnx(model_dir: Path, identity: str, variant: str, cache_dir: Path,
                  status: Callable[[str], None] = lambda m: None) -> Path:
    """Path of `onnx/<file>` for `variant` (fp32 | int8), exporting into the cache on first use."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown ONNX variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    key = hashlib.sha256(json.dumps({"identity": identity, "recipe": RECIPE, "opset": OPSET},
                                    sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir) / "embedders" / key
    target = folder / "onnx" / file_for(variant)
    if target.exists():
        return target
    with file_lock(folder.parent / f".{key}.lock"):
        if target.exists():  # another process exported it while we waited
            return target
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "modules.json").exists() and (model_dir / "modules.json").exists():
            # Tokenizer, pooling and module config beside the exports: a loadable sentence-transformers folder.
            for item in model_dir.iterdir():
                if item.suffix in (".safetensors", ".bin") or item.name in ("onnx", "openvino"):
                    continue
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, folder / item.name)
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".export-"))
        try:
            started = time.perf_counter()
            fp32 = folder / "onnx" / file_for("fp32")
            if not fp32.exists():
                status(f"exporting embedder {identity} to ONNX (once, then cached)")
                _export_fp32(model_dir, tmp / fp32.name)
                (folder / "onnx").mkdir(exist_ok=True)
                os.replace(tmp / fp32.name, fp32)
            if variant == "int8":
                weight_type = int8_scheme()[1]
                status(f"quantising the ONNX embedder to int8 (dynamic, {weight_type} weights; once, then cached)")
                _quantize(fp32, tmp / target.name, weight_type)
                os.replace(tmp / target.name, target)
            (folder / "advisor-export.json").write_text(json.dumps(
                {"identity": identity, "recipe": RECIPE, "opset": OPSET, "files": sorted(
                    p.name for p in (folder / "onnx").glob("*.onnx")),
                 "seconds_last_export": round(time.perf_counter() - started, 2),
                 "int8": "onnxruntime.quantization.quantize_dynamic(per_channel=True); weights QInt8 with VNNI, "
                         "QUInt8 without (the file name says which)"}, indent=2))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
