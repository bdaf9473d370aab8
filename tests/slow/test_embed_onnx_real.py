"""Slow tier: the shipped MiniLM exported to ONNX offline (fp32 and int8) against the torch path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advisor.retrieval.corpus import chunk_documents, read_corpus
from advisor.retrieval.embed import load_embedder
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime")


def test_onnx_exports_of_minilm_match_the_torch_vectors(tmp_path: Path) -> None:
    torch_emb = load_embedder("all-minilm-l6-v2", threads=2, backend="torch")
    docs, _ = read_corpus(ROOT / "benchmarks" / "debian_faq" / "corpus")
    texts = [c.text for c in chunk_documents(docs, torch_emb.count_tokens, 160, 24)][:96]
    queries = ["What is the codename of the testing distribution?", "How do I install a package with apt?"]
    ref, ref_q = torch_emb.encode(texts, 32), torch_emb.encode(queries)
    for backend, floor in (("onnx", 0.9999), ("onnx-int8", 0.97)):
        emb = load_embedder("all-minilm-l6-v2", threads=2, backend=backend, cache_dir=tmp_path)  # exported offline
        assert emb.backend == ("onnx-fp32" if backend == "onnx" else backend) and emb.identity != torch_emb.identity
        vecs = emb.encode(texts, 32)
        assert (vecs * ref).sum(axis=1).min() > floor
        # the same nearest chunk for each query
        assert (np.argmax(emb.encode(queries) @ vecs.T, axis=1) == np.argmax(ref_q @ ref.T, axis=1)).all()
    assert len(list((tmp_path / "embedders").glob("*/onnx/*.onnx"))) == 2
