"""Content-addressed cache of trained adapters.

The key hashes exactly what changes the adapter: the base model's identity (content hash
of its weights), the training data (train and validation ids, inputs, targets), the
training-relevant arm config, the resolved instructions, the seed and the trainer's format
version. The folder holds the peft adapter (`adapter_config.json`, weights), the arm config
that produced it and `advisor-lora.json` with what training measured, so a later run that
reuses it reports the original one-off cost. A folder appears only complete (built in a
temporary folder, renamed in place) and one process at a time builds a key (file lock).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from advisor.artifacts.cache import atomic_write_json, build_folder, built

__all__ = ["FORMAT", "adapter_key", "lookup", "building", "write_meta", "META_FILE"]

FORMAT = 1  # bump when training changes in a way that makes old adapters differ
META_FILE = "advisor-lora.json"


def adapter_key(model_id: str, data_hash: str, training_config: dict[str, Any], seed: int, system_prompt: str) -> str:
    payload = {"format": FORMAT, "model_id": model_id, "data": data_hash, "config": training_config, "seed": seed,
               "system": system_prompt}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def lookup(cache_dir: Path, key: str) -> tuple[Path, dict[str, Any]] | None:
    """(adapter folder, its meta) when a complete adapter for `key` exists."""
    folder = built(cache_dir / "lora", key, META_FILE)
    weights = folder is not None and ((folder / "adapter_config.json").is_file() or (folder / "config.json").is_file())
    if not weights:  # an adapter, or a whole model (full fine-tuning)
        return None
    return folder, json.loads((folder / META_FILE).read_text(encoding="utf-8"))


@contextlib.contextmanager
def building(cache_dir: Path, key: str) -> Iterator[tuple[Path, Path, dict[str, Any] | None]]:
    """Lock `key`; yields (temporary folder to build in, final folder, meta if another
    process finished it meanwhile). On a clean exit the temporary folder is renamed to the
    final one, which then holds META_FILE; on an error it is removed."""
    with build_folder(cache_dir / "lora", key, META_FILE) as build:
        done = lookup(cache_dir, key) if build.done else None
        yield build.tmp, build.folder, done[1] if done else None


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write the meta file atomically (readers never see half of it)."""
    atomic_write_json(folder / META_FILE, meta)
