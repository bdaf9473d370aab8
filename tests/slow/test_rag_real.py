"""Slow tier: real MiniLM embeddings + FAISS on the Debian FAQ demo, answered by the real SmolLM2."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.spec.data import load_splits
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from advisor.evaluation.strategy import PrepareContext
from strategies.rag.arm import RagStrategy
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
DEMO = ROOT / "benchmarks" / "debian_faq" / "task.yaml"


def test_rag_retrieves_the_answers_and_beats_closed_book(tmp_path: Path) -> None:
    task = load_task(DEMO)
    record, _ = run_task(task, RunOptions(out=tmp_path / "run", limit=16, arms=["closed-book", "rag"]))
    assert record.status == "ok"
    closed, rag = record.arm("closed-book"), record.arm("rag")
    retrieval = rag.details.retrieval
    assert retrieval.n_with_gold == 16
    assert retrieval.recall_at_k["2"] >= 0.5 and retrieval.mrr >= 0.4  # the demo reads 2 passages (recall@2 0.75 on 60)
    assert 0 < retrieval.latency_p50_ms < 500  # one MiniLM query + a flat search over ~300 vectors
    index = rag.prepare.index
    assert index.dims == 384 and index.vectors > 200 and index.kind == "flat"
    # embed_backend auto is the reference torch path (int8 ONNX changed recall: bench_embedding.py)
    assert index.embed_backend == "torch" and index.embed_backend_why.startswith("auto:")
    assert rag.metrics["contains_answer"] > closed.metrics["contains_answer"]
    assert rag.usage.prompt_tokens > 3 * closed.usage.prompt_tokens  # passages make prompts longer

    # A later run with the same embedder, chunking and corpus reuses the index and its build cost.
    strategy = RagStrategy(task.arm_configs["rag"], task.spec)
    from advisor.artifacts.models import cache_root

    info = strategy.prepare(PrepareContext(task.spec, load_splits(task.spec), "rag", 0, cache_root() / "artifacts",
                                           None, None))
    assert info.one_off[0].reused is True and info.index.key == index.key
    assert info.one_off[0].seconds == index.build_seconds
