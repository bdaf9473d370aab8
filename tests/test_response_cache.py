"""The response cache: keys, the wrapper, concurrent writers, and how a run accounts for hits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.backends.base import ChoiceRequest, GenerateRequest
from advisor.backends.cache import CachedBackend, adapter_identity, request_key
from advisor.backends.fake import FakeBackend
from advisor.backends.response_store import ResponseStore
from advisor.cli import main
from advisor.evaluation.record import read_record, read_samples
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task

CHAT = [{"role": "system", "content": "Say spam or ham."}, {"role": "user", "content": "spam win a prize"}]


@pytest.fixture
def fake(task_dir: Path) -> FakeBackend:
    return FakeBackend(load_task(task_dir / "task.yaml").spec)


def _adapter(folder: Path, weights: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(weights)
    (folder / "advisor-lora.json").write_text(json.dumps({"curves": weights.hex()}))  # bookkeeping, not identity
    return str(folder)


def test_key_changes_with_everything_that_determines_the_answer(fake, task_dir, tmp_path):
    base = GenerateRequest(messages=CHAT, max_new_tokens=4)
    key = request_key(fake, base)
    assert request_key(fake, GenerateRequest(messages=[dict(m) for m in CHAT], max_new_tokens=4)) == key  # same: hit
    changed_prompt = [CHAT[0], {"role": "user", "content": "spam win a prize!"}]
    misses = [
        GenerateRequest(messages=changed_prompt, max_new_tokens=4),
        GenerateRequest(messages=[{"role": "system", "content": "Say ham or spam."}, CHAT[1]], max_new_tokens=4),
        GenerateRequest(messages=CHAT, max_new_tokens=5),
        GenerateRequest(messages=CHAT, max_new_tokens=4, stop=("\n",)),
        GenerateRequest(messages=CHAT, max_new_tokens=4, adapter=_adapter(tmp_path / "a", b"weights-1")),
    ]
    keys = {request_key(fake, r) for r in misses}
    assert key not in keys and len(keys) == len(misses)
    # choice scoring: a different label set or mode is a different request
    choice = request_key(fake, ChoiceRequest(messages=CHAT, choices=("ham", "spam")))
    assert choice != key != request_key(fake, ChoiceRequest(messages=CHAT, choices=("ham", "spam", "other")))
    # another model (name or content hash) misses
    other = FakeBackend(load_task(task_dir / "task.yaml").spec.model_copy(
        update={"model": fake.spec.model.model_copy(update={"name": "other-model"})}))
    assert request_key(other, base) != key


def test_adapter_identity_is_its_content_not_its_path(tmp_path):
    a = adapter_identity(_adapter(tmp_path / "a", b"weights-1"))
    assert adapter_identity(_adapter(tmp_path / "b", b"weights-1")) == a  # same weights elsewhere
    assert adapter_identity(_adapter(tmp_path / "c", b"weights-2")) != a
    retrained = _adapter(tmp_path / "a", b"weights-3")  # same folder, new weights
    assert adapter_identity(retrained) != a
    (Path(retrained) / "advisor-lora.json").write_text("{}")  # bookkeeping beside it changes nothing
    assert adapter_identity(retrained) == adapter_identity(retrained)
    assert adapter_identity("served-lora") == "name:served-lora" and adapter_identity(None) is None


def test_wrapper_answers_unchanged_requests_and_sends_the_rest_in_one_batch(fake, tmp_path):
    cached = CachedBackend(fake, ResponseStore(tmp_path / "r.sqlite"))
    first = [GenerateRequest(messages=[CHAT[0], {"role": "user", "content": f"ham {i}"}]) for i in range(4)]
    cold = cached.generate(first)
    assert fake.calls == [4] and all(g.cached is None for g in cold)
    more = first[:2] + [GenerateRequest(messages=[CHAT[0], {"role": "user", "content": "spam new"}])]
    warm = cached.generate(more)
    assert fake.calls == [4, 1]  # only the new request reached the model
    assert [g.cached is not None for g in warm] == [True, True, False]
    assert [g.text for g in warm[:2]] == [g.text for g in cold[:2]]
    assert [g.latency_s for g in warm[:2]] == [g.latency_s for g in cold[:2]]  # latency as measured then
    assert (cached.hits, cached.misses) == (2, 5)
    scores = cached.score_choices([ChoiceRequest(messages=CHAT, choices=("ham", "spam"))] * 2)
    again = cached.score_choices([ChoiceRequest(messages=CHAT, choices=("ham", "spam"))])
    assert again[0].logprobs == scores[0].logprobs and again[0].cached is not None and fake.calls[-1] == 2


def test_a_store_survives_pickling(tmp_path):
    import pickle

    store = ResponseStore(tmp_path / "r.sqlite")
    store.put_many([("k", "generate", "fake", "m", {"text": "x"}, 0.5, "2026-01-01T00:00:00Z")])
    copy = pickle.loads(pickle.dumps(store))  # an executor shipping work to another process
    assert copy.get_many(["k"])["k"].busy_s == 0.5


def test_sampled_answers_are_never_cached(fake, tmp_path):
    cached = CachedBackend(fake, ResponseStore(tmp_path / "r.sqlite"))
    hot = [GenerateRequest(messages=CHAT, temperature=0.7)]
    cached.generate(hot)
    assert cached.generate(hot)[0].cached is None and fake.calls == [1, 1]
    assert ResponseStore(tmp_path / "r.sqlite").stats().answers == 0


_WRITER = """
import sys
from advisor.backends.response_store import ResponseStore
store, tag = ResponseStore(sys.argv[1]), sys.argv[2]
for i in range(60):
    store.put_many([(f"{tag}-{i}-{j}", "generate", "fake", "m", {"text": tag}, 0.1, "2026-01-01T00:00:00Z")
                    for j in range(5)])
    store.get_many([f"{tag}-{i}-0"])
print("done")
"""


def test_two_processes_write_the_same_database(tmp_path):
    db = tmp_path / "shared.sqlite"
    ResponseStore(db).stats()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), tag], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    store = ResponseStore(db)
    assert store.stats().answers == 2 * 60 * 5
    assert store.get_many(["a-59-4", "b-0-0"])["b-0-0"].answer == {"text": "b"}


def _answered(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_rerun_costs_nothing_new_and_keeps_the_measured_numbers(task_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("ADVISOR_NO_CACHE")
    log = tmp_path / "answers.log"
    monkeypatch.setenv("ADVISOR_FAKE_ANSWER_LOG", str(log))
    task = load_task(task_dir / "task.yaml")
    cold, cold_dir = run_task(task, RunOptions(out=tmp_path / "cold", arms=["zero", "gen"], limit=8))
    sent = _answered(log)
    assert sent > 0 and all(a.cache.from_cache == 0 for a in cold.arms)
    warm, warm_dir = run_task(task, RunOptions(out=tmp_path / "warm", arms=["zero", "gen"], limit=8))
    assert _answered(log) == sent  # nothing reached the model
    assert warm.response_cache.enabled and warm.response_cache.misses == 0 and warm.response_cache.hits > 0
    for c, w in zip(cold.arms, warm.arms):
        assert w.cache.from_cache == w.n == c.n and w.cache.new_busy_s == 0 and w.cache.new_prompt_tokens == 0
        assert w.usage == c.usage and c.cache.new_prompt_tokens == c.usage.prompt_tokens > 0
        assert w.throughput.busy_s == c.throughput.busy_s  # the cost reads as measured cold
        assert w.latency.p95_ms == c.latency.p95_ms and w.metrics == c.metrics
    cold_rows = {(r.arm, r.id): r for r in read_samples(cold_dir)}
    for r in read_samples(warm_dir):
        assert r.cached_at is not None and r.latency_ms == cold_rows[r.arm, r.id].latency_ms
        assert r.busy_share_s == cold_rows[r.arm, r.id].busy_share_s
    assert warm.recommendation.winner == cold.recommendation.winner


def test_one_changed_arm_is_the_only_one_sent(task_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("ADVISOR_NO_CACHE")
    log = tmp_path / "answers.log"
    monkeypatch.setenv("ADVISOR_FAKE_ANSWER_LOG", str(log))
    run_task(load_task(task_dir / "task.yaml"), RunOptions(out=tmp_path / "one", arms=["zero", "two-shot"], limit=8))
    before = _answered(log)
    path = task_dir / "task.yaml"
    path.write_text(path.read_text().replace("config: {shots: 2}", "config: {shots: 2, instructions: Is it spam or ham}"))
    record, _ = run_task(load_task(path), RunOptions(out=tmp_path / "two", arms=["zero", "two-shot"], limit=8))
    uses = {a.name: a.cache for a in record.arms}
    assert uses["two-shot"].from_cache == 0 and uses["two-shot"].new_busy_s > 0
    assert uses["zero"].from_cache == uses["zero"].answers == 8
    from strategies.prompting.arm import CONTENT_FREE

    assert _answered(log) - before == uses["two-shot"].answers + len(CONTENT_FREE)  # its items + calibration


def test_no_cache_flag_and_cache_commands(task_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ADVISOR_NO_CACHE")
    log = tmp_path / "answers.log"
    monkeypatch.setenv("ADVISOR_FAKE_ANSWER_LOG", str(log))
    task, small = str(task_dir / "task.yaml"), ["--arms", "zero,gen", "--limit", "8"]
    assert main(["run", task, "--out", str(tmp_path / "a"), *small, "--no-cache"]) == 0
    once = _answered(log)
    assert main(["run", task, "--out", str(tmp_path / "b"), *small, "--no-cache"]) == 0
    assert _answered(log) == 2 * once  # answered again
    record, _ = read_record(tmp_path / "b")
    assert record.response_cache.enabled is False and all(a.cache is None for a in record.arms)
    assert main(["cache", "stats"]) == 0 and "0 answers" in capsys.readouterr().out
    assert main(["run", task, "--out", str(tmp_path / "c"), *small]) == 0
    capsys.readouterr()
    assert main(["cache", "stats"]) == 0
    stats = capsys.readouterr().out
    assert f"{once} answers" in stats and "fake" in stats
    assert main(["cache", "clear"]) == 0 and f"removed {once} answers" in capsys.readouterr().out
    assert ResponseStore().stats().answers == 0


def test_a_damaged_cache_file_is_a_clear_error_and_clear_removes_it(task_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ADVISOR_NO_CACHE")
    db = tmp_path / "responses.sqlite"
    monkeypatch.setenv("ADVISOR_RESPONSE_CACHE", str(db))
    db.write_bytes(b"this is not a database" * 200)
    out = tmp_path / "run"
    assert main(["run", str(task_dir / "task.yaml"), "--out", str(out), "--arms", "zero", "--limit", "4"]) == 2
    err = capsys.readouterr().err
    assert str(db) in err.replace("\n", "") and "advisor cache clear" in err and not out.exists()
    assert main(["cache", "clear"]) == 0 and not db.exists()
    assert main(["run", str(task_dir / "task.yaml"), "--out", str(out), "--arms", "zero", "--limit", "4"]) == 0
