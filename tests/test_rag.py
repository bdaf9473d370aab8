"""RAG arm with the hashing embedder, real FAISS and the fake backend: cache, retrieval, packing, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from advisor.backends.fake import FakeBackend
from advisor.cli import main
from advisor.spec.data import Sample
from advisor.retrieval.embed import HashEmbedder
from advisor.errors import SpecError
from advisor.retrieval.index import IndexParams, cached_index
from advisor.retrieval.retrieve import Retriever, mmr, mrr, recall_at_k
from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.scoring import contains_answer, score
from advisor.spec import load_task
from advisor.spec.model import ModelSpec
from advisor.evaluation.strategy import PrepareContext
from strategies.rag.arm import RagConfig, RagStrategy, pack_passages
from tests.conftest import make_task
from tests.factories import task_spec

DOCS = {
    "cars.md": "# Cars\n\nThe Zorblat car has seven wheels and a sail.\n\n## Engines\n\nZorblat engines burn olive oil.",
    "boats.html": "<h1>Boats</h1><p>The Quuxly boat is made of cheese.</p><p>Quuxly boats float on milk lakes.</p>",
    "fruit.txt": "Bananas grow in bunches called hands.\n\nApples ripen in autumn orchards.",
}
# The fake backend answers with the first word of the user turn: a template that starts with
# {input} and inputs that start with their answer make correctness follow the prompt alone.
ROWS = [
    {"id": "q1", "q": "seven: how many wheels has the Zorblat car", "a": "seven", "src": "cars.md"},
    {"id": "q2", "q": "cheese: what is the Quuxly boat made of", "a": "cheese", "src": "boats.html"},
    {"id": "q3", "q": "hands: what are bunches of bananas called", "a": "hands", "src": "fruit.txt"},
    {"id": "q4", "q": "olive: what do Zorblat engines burn", "a": "olive oil", "src": "cars.md"},
    {"id": "q5", "q": "autumn: when do apples ripen", "a": "autumn", "src": "fruit.txt"},
    {"id": "q6", "q": "milk: what do Quuxly boats float on", "a": "milk lakes", "src": "boats.html"},
]
TASK = """\
name: toy-qa
type: qa
data: {path: qa.jsonl, input_field: q, target_field: a, id_field: id,
       split: {train: 0.34, validation: 0.0, test: 0.66, seed: 0}}
corpus: {path: docs}
metric: contains_answer
backend: fake
arms:
  - name: closed
    strategy: prompting
  - name: rag
    strategy: rag
    config: {embedder: hash, top_k: 2, chunk_tokens: 12, chunk_overlap: 2, gold_field: src,
             template: "{input} || {context}"}
  - name: knn
    strategy: knn-shot
    config: {embedder: hash, shots: 1}
"""


def _task(tmp_path: Path, text: str = TASK) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    for name, body in DOCS.items():
        (tmp_path / "docs" / name).write_text(body)
    return make_task(tmp_path, text, [dict(r) for r in ROWS], "qa.jsonl")


def test_rag_run_records_index_retrieval_and_reuses_the_cache(tmp_path: Path) -> None:
    path = _task(tmp_path)
    record, run_dir = run_task(load_task(path), RunOptions(out=tmp_path / "r1"))
    assert record.status == "ok"
    rag = record.arm("rag")
    cost = rag.prepare.one_off[0]
    assert cost.kind == "index" and cost.reused is False and cost.seconds > 0
    index = rag.prepare.index
    assert index.kind == "flat" and index.dims == 256 and index.vectors >= 5 and index.bytes > 0
    retrieval = rag.details.retrieval
    assert retrieval.n_with_gold == rag.n == 4 and 0 <= retrieval.mrr <= 1
    assert set(retrieval.recall_at_k) == {"1", "2"} and retrieval.recall_at_k["2"] == 1.0
    assert retrieval.latency_p95_ms >= retrieval.latency_p50_ms > 0
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    rag_rows = [r for r in rows if r["arm"] == "rag"]
    assert all(len(r["extra"]["retrieved"]) == 2 and r["extra"]["retrieval_ms"] > 0 for r in rag_rows)
    assert rag.metrics["contains_answer"] == 1.0  # fake backend: first word of the prompt = the answer
    knn = [r for r in rows if r["arm"] == "knn"]
    assert all(len(r["extra"]["demonstration_ids"]) == 1 for r in knn)

    again, _ = run_task(load_task(path), RunOptions(out=tmp_path / "r2", arms=["rag"]))
    cost2 = again.arm("rag").prepare.one_off[0]
    assert cost2.reused is True and cost2.seconds == cost.seconds and cost2.built == cost.built
    assert again.arm("rag").prepare.index.key == index.key

    (tmp_path / "docs" / "fruit.txt").write_text("Bananas grow in bunches called hands.\n\nPears ripen later.")
    changed, _ = run_task(load_task(path), RunOptions(out=tmp_path / "r3", arms=["rag"]))
    assert changed.arm("rag").prepare.one_off[0].reused is False
    assert changed.arm("rag").prepare.index.key != index.key


def _prepare(tmp_path: Path, **config) -> RagStrategy:
    path = _task(tmp_path)
    task = load_task(path)
    from advisor.spec.data import load_splits

    strategy = RagStrategy(RagConfig(embedder="hash", **config), task.spec)
    strategy.info = strategy.prepare(PrepareContext(task.spec, load_splits(task.spec), "rag", 0, tmp_path / "cache",
                                                    None, None))
    return strategy


def test_cache_key_follows_chunking_embedder_and_index(tmp_path: Path) -> None:
    base = _prepare(tmp_path).info.index.key
    assert _prepare(tmp_path).info.one_off[0].reused is True
    keys = {base,
            _prepare(tmp_path, chunk_tokens=80).info.index.key,
            _prepare(tmp_path, chunk_overlap=4).info.index.key,
            _prepare(tmp_path, embed_headings=False).info.index.key,
            _prepare(tmp_path, index="hnsw").info.index.key}
    assert len(keys) == 5
    other = RagStrategy(RagConfig(embedder="hash-64"), load_task(tmp_path / "task.yaml").spec)
    from advisor.spec.data import load_splits

    info = other.prepare(PrepareContext(other.spec, load_splits(other.spec), "rag", 0, tmp_path / "cache", None, None))
    assert info.index.key not in keys and info.index.dims == 64
    hnsw = _prepare(tmp_path, index="hnsw").info
    assert hnsw.index.kind == "hnsw" and hnsw.one_off[0].reused is True


def test_packing_drops_lowest_ranked_passages_and_never_cuts_the_question() -> None:
    backend = FakeBackend(task_spec(ModelSpec(max_context=64)))  # tokens = words + 4 per message
    question = "what is the thing called"
    passages = [f"[{i}] " + " ".join(f"p{i}w{j}" for j in range(12)) for i in range(1, 6)]
    (msgs, kept, n), = pack_passages("sys", "{context}\nQ: {input}", [question], [passages], backend, reserve=8)
    assert n <= 64 - 8 and n == backend.count_tokens([msgs])[0]
    assert kept == 3 and "[1]" in msgs[-1]["content"] and "[3]" in msgs[-1]["content"] and "[4]" not in msgs[-1]["content"]
    assert msgs[-1]["content"].endswith("Q: " + question)
    long_q = "word " * 80
    (none, kept0, n0), = pack_passages("sys", "{context}\nQ: {input}", [long_q], [passages], backend, reserve=8)
    assert none is None and kept0 == 0 and n0 > 56


def test_question_too_long_is_a_sample_error_not_a_crash(tmp_path: Path) -> None:
    strategy = _prepare(tmp_path, top_k=2)
    backend = FakeBackend(task_spec(ModelSpec(max_context=128)))
    preds = strategy.predict([Sample("long", "x " * 100, "y"), Sample("ok", "cheese boat", "cheese")], backend)
    assert preds[0].error and "question alone" in preds[0].error and preds[0].prediction is None
    assert preds[1].error is None and preds[1].prompt_tokens <= 128 - strategy.spec.generation.max_new_tokens
    assert preds[1].extra.passages_used >= 1


def test_recall_at_k_and_mrr_on_hand_made_cases() -> None:
    ranked = [["a", "b", "c"], ["x", "y", "g"], ["n", "m", "o"]]
    golds = [{"a"}, {"g"}, {"z"}]
    assert recall_at_k(ranked, golds, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, golds, 3) == pytest.approx(2 / 3)
    assert mrr(ranked, golds) == pytest.approx((1 + 1 / 3 + 0) / 3)
    with pytest.raises(ValueError):
        mrr([], [])


def test_mmr_prefers_diverse_passages_and_threshold_filters(tmp_path: Path) -> None:
    q = np.array([1.0, 0.0, 0.0])
    cands = np.array([[0.9, 0.436, 0], [0.9, 0.436, 0], [0.8, 0, 0.6]], dtype=np.float32)
    scores = cands @ q
    assert mmr(q, cands, scores, 2, lam=1.0) == [0, 1]  # relevance only: the duplicate comes second
    assert mmr(q, cands, scores, 2, lam=0.5) == [0, 2]  # diversity: the different one instead
    emb = HashEmbedder(64)
    texts = ["cheese boat", "cheese boat again", "olive oil engine"]
    index = cached_index(tmp_path, {"t": 1}, IndexParams(), lambda: ([{"id": t} for t in texts], emb.encode(texts), {}))
    found = Retriever(emb, index, k=3, threshold=0.5).retrieve("cheese boat")
    assert [index.rows[h.row]["id"] for h in found.hits] == ["cheese boat", "cheese boat again"]
    assert found.notes and found.embed_ms >= 0 and found.search_ms >= 0


def test_contains_answer_metric_drives_correctness() -> None:
    assert contains_answer("The codename was hamm.", "hamm") and not contains_answer("hammer", "hamm")
    assert contains_answer("use /etc/debian_version", "/etc/debian_version") and not contains_answer(None, "x")
    result = score("qa", ["hamm", "bo"], ["it was hamm", "bob"], primary="contains_answer")
    assert result.correct == [True, False] and result.metrics["contains_answer"] == 0.5


def test_estimate_counts_prompts_without_embedding(tmp_path: Path) -> None:
    path = _task(tmp_path)
    task = load_task(path)
    from advisor.spec.data import load_splits

    splits = load_splits(task.spec)
    strategy = RagStrategy(RagConfig(embedder="hash", top_k=3, chunk_tokens=20), task.spec)
    backend = FakeBackend(task.spec)
    est = strategy.estimate(PrepareContext(task.spec, splits, "rag", 0, tmp_path / "cache", None, backend), splits.test)
    assert est.requests == len(splits.test) and est.completion_tokens == 32 * len(splits.test)
    assert est.prompt_tokens > 10 * len(splits.test) and est.embed_texts > len(splits.test)
    assert not (tmp_path / "cache").exists()  # nothing built


def test_spec_errors_for_corpus_problems(tmp_path: Path, capsys) -> None:
    path = _task(tmp_path, TASK.replace("corpus: {path: docs}", "corpus: {path: docs, chunks: 3}"))
    with pytest.raises(SpecError, match=r"task.yaml:5: corpus.chunks: unknown field"):
        load_task(path)
    path = _task(tmp_path, TASK.replace("corpus: {path: docs}\n", ""))
    with pytest.raises(SpecError, match=r"task.yaml:\d+: arms\[1\].config: a rag arm needs a `corpus` block"):
        load_task(path)
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "empty.md").write_text("")
    path = _task(tmp_path, TASK.replace("corpus: {path: docs}", "corpus: {path: none}"))
    assert main(["run", str(path), "--out", str(tmp_path / "never")]) == 2
    assert "corpus.path: the corpus is empty" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_build_and_search_leave_faiss_and_torch_thread_counts_unchanged(tmp_path: Path, kind: str) -> None:
    faiss = pytest.importorskip("faiss")
    import torch

    from advisor.threads import faiss_threads

    torch.get_num_threads()  # torch sets OpenMP threads when it first initialises: do that first
    faiss_before = 3
    faiss.omp_set_num_threads(faiss_before)
    torch_before = torch.get_num_threads()  # after: torch and FAISS may share one OpenMP runtime
    try:
        emb = HashEmbedder(32)
        texts = ["red apple", "green pear", "blue sky", "red car"]
        params = IndexParams(kind=kind, build_threads=1)
        index = cached_index(tmp_path, {"t": kind}, params, lambda: ([{"id": t} for t in texts], emb.encode(texts), {}))
        assert faiss.omp_get_max_threads() == faiss_before  # after the build
        scores, rows = index.search(emb.encode(["red"]), 2)
        assert rows.shape == (1, 2) and faiss.omp_get_max_threads() == faiss_before  # after the search
        with pytest.raises(RuntimeError):
            with faiss_threads(1):
                assert faiss.omp_get_max_threads() == 1
                raise RuntimeError("boom")
        assert faiss.omp_get_max_threads() == faiss_before  # restored on error too
        assert torch.get_num_threads() == torch_before
    finally:
        faiss.omp_set_num_threads(1)


def test_embedding_progress_goes_to_the_reporter_step(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from advisor.progress import RichReporter
    from advisor.spec.data import load_splits

    task = load_task(_task(tmp_path))
    steps: list[tuple] = []
    ctx = PrepareContext(task.spec, load_splits(task.spec), "rag", 0, tmp_path / "cache", None, None,
                         step=lambda label, done, total, detail="": steps.append((label, done, total, detail)))
    RagStrategy(RagConfig(embedder="hash"), task.spec).prepare(ctx)
    assert steps and steps[-1][0] == "embedding" and steps[-1][1] == steps[-1][2] > 0 and steps[-1][3] == "texts"
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, width=100, force_terminal=False))
    for label, done, total, detail in [("embedding", 5, 10, "texts"), ("embedding", 10, 10, "texts"),
                                       ("embedding", 2, 4, "texts")]:  # the last starts a new job
        reporter.step(label, done, total, detail)
    reporter.close()
    assert "embedding texts" in out.getvalue() and len(reporter.progress.tasks) == 2


def test_step_lines_time_the_rate_from_the_jobs_start(tmp_path: Path, monkeypatch) -> None:
    """A job announces done=0 when it starts, so the final line's rate counts the whole job
    (it once printed millions of texts/s: the clock started at the last batch)."""
    import io

    from rich.console import Console

    from advisor import progress as progress_mod
    from advisor.progress import RichReporter
    from advisor.retrieval.embed_progress import progress_sink

    now = [100.0]
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: now[0])
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, width=100, force_terminal=False))
    with progress_sink(lambda done, total, detail: reporter.step("embedding", done, total, detail), 300) as sink:
        now[0] += 4.0  # the whole job takes 4 s, reported in one batch at the end
        sink.advance(300)
    reporter.close()
    assert "embedding texts: 300/300 (75.0/s, eta 0 s)" in out.getvalue()
