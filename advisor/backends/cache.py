"""The response cache: a wrapper around any Backend that answers unchanged requests from disk.

A request's key hashes everything that determines its answer (canonical JSON, sorted keys):
the backend kind and the model's identity (name, content hash, dtype, device), the adapter's
content hash (the hash of its weight and config files; a served adapter name where it is not a
local folder), the exact conversation sent (system prompt, demonstrations, retrieved passages,
question), the decoding settings (max_new_tokens, temperature, stop strings) and the scoring
mode with its choices. Requests found are answered from the store; the rest go to the real
backend in one batch. Answers sampled with a temperature above 0 and failed answers are never
cached. A cached answer keeps the latency measured when it was computed and carries a
`CachedAnswer` (its busy seconds and the date), so the runner counts it as reused, never as new
latency or cost. Switch it off with `--no-cache` or ADVISOR_NO_CACHE=1.

The real backend is lazy under the cache: a backend class that can describe itself without
loading its model (`Backend.describe`: identity, context length, token counting from the
tokenizer) is built only at the first request the cache cannot answer, so a fully cached rerun
never loads the weights. The seconds spent building it are kept in `load_s` (the runner leaves
them out of the arm's busy seconds, as it does for the eager load before the first arm).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from advisor.backends.base import (
    Backend, BackendDescription, CachedAnswer, ChoiceRequest, ChoiceScores, GenerateRequest, Generation, Message,
)
from advisor.backends.response_store import ResponseStore

__all__ = ["CachedBackend", "request_key", "adapter_identity", "cache_enabled", "with_cache", "open_backend",
           "KEY_VERSION"]

KEY_VERSION = 1  # bump when the meaning of a cached answer changes (a key then never matches an old row)
_ADAPTER_FILES = (".safetensors", ".bin", ".pt")  # weights; plus adapter_config.json


def cache_enabled(flag: bool | None = None) -> bool:
    """On unless `--no-cache` (flag False) or ADVISOR_NO_CACHE is set to something other than 0/empty."""
    if flag is not None:
        return flag
    return os.environ.get("ADVISOR_NO_CACHE", "").strip() in ("", "0")


def with_cache(backend: Backend | BackendDescription, enabled: bool | None = None,
               path: Path | None = None) -> Backend:
    """`backend` wrapped in the response cache when it is enabled, else `backend` itself.

    A BackendDescription is built only at the first request the cache cannot answer (and at
    once when the cache is off)."""
    if not cache_enabled(enabled):
        return backend.build() if isinstance(backend, BackendDescription) else backend
    store = ResponseStore(path)
    try:
        store.open()  # a damaged or unwritable cache file stops the run here, before any arm (exit 2)
    except BaseException:
        if isinstance(backend, Backend):
            backend.close()
        raise
    return CachedBackend(backend, store)


def open_backend(cls: type[Backend], spec, *, status=None, enabled: bool | None = None,
                 path: Path | None = None) -> Backend:
    """A backend of class `cls` for `spec`, under the response cache when it is on; built lazily
    (at the first cache miss) where the class can describe itself without loading its model."""
    described = cls.describe(spec, status=status) if cache_enabled(enabled) else None
    backend = with_cache(described if described is not None else cls(spec, status=status), enabled, path)
    if status is not None:
        backend.status = status
    return backend


@functools.lru_cache(maxsize=64)
def _folder_digest(folder: str, stamp: tuple) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamp:
        h.update(name.encode() + b"\0")
        h.update(hashlib.sha256((Path(folder) / name).read_bytes()).digest())
    return h.hexdigest()


def adapter_identity(adapter: str | None) -> str | None:
    """Content hash of a local adapter folder's config and weights; `name:<adapter>` for a served name."""
    if adapter is None:
        return None
    folder = Path(adapter)
    if not folder.is_dir():
        return f"name:{adapter}"
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and (p.name == "adapter_config.json" or p.suffix in _ADAPTER_FILES))
    stamp = tuple((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return "sha256:" + _folder_digest(str(folder.resolve()), stamp)


def _model(backend: Backend) -> dict:
    info = backend.info
    return {"backend": info.name, "model": info.model, "model_id": info.model_id, "dtype": info.dtype,
            "device": info.device}


def request_key(backend: Backend, request: GenerateRequest | ChoiceRequest) -> str:
    """sha256 of the canonical JSON of everything that determines the request's answer."""
    body: dict = {"v": KEY_VERSION, **_model(backend), "adapter": adapter_identity(request.adapter),
                  "messages": [dict(m) for m in request.messages]}
    if isinstance(request, ChoiceRequest):
        body.update(kind="choices", choices=list(request.choices))
    else:
        body.update(kind="generate", max_new_tokens=request.max_new_tokens, temperature=request.temperature,
                    stop=list(request.stop))
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stored(answer: Generation | ChoiceScores) -> dict:
    data = dataclasses.asdict(answer)
    data.pop("cached", None)
    data.pop("retries", None)  # a replayed answer needed no retries
    return data


class CachedBackend(Backend):
    """Answers unchanged requests from the response store; delegates everything else to the real
    backend, which a BackendDescription builds only when first needed (`loaded` says whether it was)."""

    name = "cached"

    def __init__(self, inner: Backend | BackendDescription, store: ResponseStore) -> None:
        self._inner: Backend | None = inner if isinstance(inner, Backend) else None
        self.description = inner if isinstance(inner, BackendDescription) else None
        super().__init__(inner.spec, status=self._inner.status if self._inner is not None else None)
        self.store = store
        self.hits = 0
        self.misses = 0
        self.load_s = 0.0  # wall seconds spent building the real backend lazily (0 when built before the cache)
        self.pending: list[str] = []  # keys stored since the runner last settled their busy seconds
        self._run_dir: Path | None = None

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    @property
    def inner(self) -> Backend:
        """The real backend, built now if it was not yet (its build time goes to `load_s`)."""
        if self._inner is None:
            self.status(f"loading model {self.description.info.model} (the first request the response cache "
                        "cannot answer)")
            started = time.perf_counter()
            self._inner = self.description.build()
            self.load_s += time.perf_counter() - started
            if self._run_dir is not None:
                self._inner.bind_run_dir(self._run_dir)
        return self._inner

    # everything a backend exposes besides answering (stats, close, backend-specific attributes) is the real one's
    def __getattr__(self, attr: str):
        if attr.startswith("_") or attr in ("description", "store", "inner", "loaded", "info", "context_length"):
            raise AttributeError(attr)  # (a property that raised AttributeError lands here: never delegate it)
        return getattr(self.inner, attr)

    @property
    def info(self):  # type: ignore[override]
        return self.description.info if self._inner is None else self._inner.info

    @property
    def context_length(self) -> int:  # type: ignore[override]
        return self.description.context_length if self._inner is None else self._inner.context_length

    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        if self._inner is None:
            return self.description.count_tokens(conversations)
        return self._inner.count_tokens(conversations)

    def take_failure(self) -> str | None:
        return None if self._inner is None else self._inner.take_failure()

    def bind_run_dir(self, run_dir: Path) -> None:
        self._run_dir = run_dir
        if self._inner is not None:
            self._inner.bind_run_dir(run_dir)

    def stats(self):
        return None if self._inner is None else self._inner.stats()

    def close(self) -> None:
        self.store.close()
        if self._inner is not None:
            self._inner.close()

    def settle(self, busy_s_each: float) -> None:
        """Give the answers stored since the last call the busy seconds the runner measured for them."""
        keys, self.pending = self.pending, []
        self.store.set_busy(keys, busy_s_each)

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        return self._answer("generate", requests, lambda rs: self.inner.generate(rs), Generation,
                            cacheable=lambda r: r.temperature == 0)

    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]:
        return self._answer("choices", requests, lambda rs: self.inner.score_choices(rs), ChoiceScores,
                            cacheable=lambda r: True)

    def _answer(self, kind, requests, compute, cls, cacheable):
        keys = [request_key(self, r) if cacheable(r) else None for r in requests]
        found = self.store.get_many(k for k in keys if k is not None)
        out: list = [None] * len(requests)
        todo = []
        for i, key in enumerate(keys):
            hit = found.get(key) if key is not None else None
            if hit is None:
                todo.append(i)
            else:
                out[i] = cls(**hit.answer, cached=CachedAnswer(busy_s=hit.busy_s, measured_at=hit.measured_at))
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)
        if not todo:
            return out
        self.inner  # build the real backend first: its load is not part of these answers' time
        started = time.perf_counter()
        fresh = compute([requests[i] for i in todo])
        share = (time.perf_counter() - started) / len(todo)  # replaced by the runner's measurement (settle)
        when, info = _now(), self.info
        rows = []
        for i, answer in zip(todo, fresh):
            out[i] = answer
            if keys[i] is not None and answer.error is None and getattr(answer, "finish_reason", "stop") != "error":
                rows.append((keys[i], kind, info.name, info.model, _stored(answer), share, when))
        self.store.put_many(rows)
        self.pending.extend(r[0] for r in rows)
        return out
