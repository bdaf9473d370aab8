"""The backend is lazy under the response cache: built at the first miss, never on a fully cached
rerun, and the record says the same backend either way."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from advisor.backends.base import GenerateRequest
from advisor.backends.cache import CachedBackend, open_backend
from advisor.backends.fake import FakeBackend
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from tests.conftest import TINY_INPUTS, tiny_chat


@pytest.fixture
def builds(monkeypatch) -> list[float]:
    """Every FakeBackend construction, each made to take 0.3 s (a stand-in for loading weights)."""
    made: list[float] = []
    real_init = FakeBackend.__init__

    def slow_init(self, *a, **k):
        time.sleep(0.3)
        made.append(time.perf_counter())
        real_init(self, *a, **k)

    monkeypatch.setattr(FakeBackend, "__init__", slow_init)
    return made


def test_a_fully_cached_rerun_never_builds_the_backend_and_records_the_same_backend(task_dir, tmp_path, monkeypatch,
                                                                                     builds):
    monkeypatch.delenv("ADVISOR_NO_CACHE")
    task = load_task(task_dir / "task.yaml")
    cold, _ = run_task(task, RunOptions(out=tmp_path / "cold", arms=["zero", "gen"], limit=6))
    assert len(builds) == 1 and cold.response_cache.model_loaded is True
    assert cold.response_cache.lazy_load_s >= 0.3
    # the lazy load happened inside the first arm's predict, but is no answer's busy time
    assert sum(a.throughput.busy_s for a in cold.arms) < cold.response_cache.lazy_load_s
    warm, _ = run_task(task, RunOptions(out=tmp_path / "warm", arms=["zero", "gen"], limit=6))
    assert len(builds) == 1  # every answer came from the cache: no backend was built
    assert warm.response_cache.model_loaded is False and warm.response_cache.lazy_load_s == 0
    assert warm.response_cache.misses == 0 and warm.response_cache.hits > 0
    assert warm.backend == cold.backend  # name, model, model id, dtype, device, threads, context length
    assert [a.metrics for a in warm.arms] == [a.metrics for a in cold.arms]


def test_without_the_cache_the_backend_is_built_at_once(task_dir, tmp_path, builds):
    record, _ = run_task(load_task(task_dir / "task.yaml"), RunOptions(out=tmp_path / "r", arms=["zero"], limit=4))
    assert len(builds) == 1 and record.response_cache.enabled is False
    backend = open_backend(FakeBackend, load_task(task_dir / "task.yaml").spec, enabled=False)
    assert isinstance(backend, FakeBackend) and len(builds) == 2


def test_the_wrapper_builds_at_the_first_miss_and_binds_the_run_dir(task_dir, tmp_path, monkeypatch, builds):
    spec = load_task(task_dir / "task.yaml").spec
    cached = open_backend(FakeBackend, spec, enabled=True, path=tmp_path / "r.sqlite")
    assert isinstance(cached, CachedBackend) and not cached.loaded and not builds
    bound: list[Path] = []
    monkeypatch.setattr(FakeBackend, "bind_run_dir", lambda self, d: bound.append(d))
    cached.bind_run_dir(tmp_path)
    assert cached.count_tokens([tiny_chat("a b")]) == FakeBackend.describe(spec).count_tokens([tiny_chat("a b")])
    assert cached.take_failure() is None and cached.stats() is None and not builds
    cached.generate([GenerateRequest(messages=tiny_chat("ham now"))])
    assert cached.loaded and len(builds) == 1 and bound == [tmp_path] and cached.load_s >= 0.3
    assert cached.info == cached.inner.info and cached.context_length == cached.inner.context_length
    cached.generate([GenerateRequest(messages=tiny_chat("spam later"))])
    assert len(builds) == 1
    cached.close()


def test_transformers_describes_itself_without_loading_weights(tiny_llama: Path, monkeypatch):
    pytest.importorskip("torch")
    import transformers

    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.spec.model import ModelSpec
    from tests.factories import task_spec

    spec = task_spec(ModelSpec(name=str(tiny_llama), threads=1, max_context=300))
    real_load = transformers.AutoModelForCausalLM.from_pretrained

    def no_weights(*a, **k):
        raise AssertionError("describe loaded the weights")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_weights)
    described = TransformersBackend.describe(spec)
    convs = [tiny_chat(t) for t in TINY_INPUTS]
    counts = described.count_tokens(convs)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", real_load)
    loaded = described.build()
    eager = TransformersBackend(spec)
    assert loaded.info == described.info == eager.info and loaded.info.threads == 1
    assert described.context_length == loaded.context_length == eager.context_length == 300  # capped by max_context
    assert counts == loaded.count_tokens(convs) == eager.count_tokens(convs)
    free = TransformersBackend.describe(task_spec(ModelSpec(name=str(tiny_llama), threads=1)))
    assert free.context_length == eager.model.config.max_position_embeddings == 512  # config.json, no weights
