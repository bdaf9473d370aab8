"""Content-addressed cache of fitted classical pipelines (TF-IDF + logistic regression).

The key hashes exactly what determines the fit: the rows fitted on (train then validation: ids,
inputs, targets, in order, since the folds shuffle them), the arm config, the fold seed, the
scoring and the scikit-learn version (a pickle is only read back by the version that wrote it)
plus this format's version. The folder holds the pickled pipeline and `advisor-classical.json`
with what the fit measured (its facts and wall seconds), so a rerun that reuses it reports the
original one-off cost with `reused=True`, as a reused LoRA adapter does. Built through
advisor.artifacts.cache: complete or absent, one process per key.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any, Callable

from advisor.artifacts.cache import atomic_write_json, build_folder, built
from advisor.spec.data import Sample

__all__ = ["FORMAT", "META_FILE", "MODEL_FILE", "fit_key", "load", "fit_or_load"]

FORMAT = 1  # bump when the fit changes in a way that makes old pipelines differ
META_FILE = "advisor-classical.json"
MODEL_FILE = "pipeline.pkl"


def fit_key(rows: list[Sample], config: dict[str, Any], seed: int, scoring: str) -> str:
    import sklearn

    data = hashlib.sha256()
    for s in rows:
        data.update(json.dumps([s.id, s.input, s.target], ensure_ascii=False).encode() + b"\n")
    payload = {"format": FORMAT, "sklearn": sklearn.__version__, "data": data.hexdigest(), "config": config,
               "seed": seed, "scoring": scoring}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def load(cache_dir: Path, key: str) -> tuple[Path, Any, dict[str, Any]] | None:
    """(folder, pipeline, meta) when a complete fit for `key` is cached, else None."""
    folder = built(Path(cache_dir) / "classical", key, META_FILE)
    if folder is None or not (folder / MODEL_FILE).is_file():
        return None
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    return folder, pickle.loads((folder / MODEL_FILE).read_bytes()), meta


def fit_or_load(cache_dir: Path, key: str, fit: Callable[[], tuple[Any, dict[str, Any]]]
                ) -> tuple[Path, Any, dict[str, Any], bool]:
    """(folder, pipeline, meta, reused): the cached fit for `key`, else `fit()` -> (pipeline, meta)
    stored under it. Concurrent runs fit a key once (the second waits and reuses)."""
    found = load(cache_dir, key)
    if found is not None:
        return (*found, True)
    with build_folder(Path(cache_dir) / "classical", key, META_FILE) as build:
        if not build.done:
            pipeline, meta = fit()
            (build.tmp / MODEL_FILE).write_bytes(pickle.dumps(pipeline))
            atomic_write_json(build.tmp / META_FILE, meta)
    found = load(cache_dir, key)
    assert found is not None
    return (*found, build.done)
