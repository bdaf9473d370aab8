"""Embedding backends: ONNX export (fp32, int8) of a tiny BERT built from a config, backend
choice, length-sorted batching, thread restoration, and progress lines in a log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from advisor.retrieval import embed as embed_mod
from advisor.retrieval.embed import HashEmbedder, choose_backend
from advisor.retrieval.embed_progress import EmbedProgress, format_eta

WORDS = ("the debian package manager installs upgrades removes software release stable testing archive mirror "
         "kernel source binary dependency repository security update network boot install").split()


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory) -> Path:
    """A sentence-transformers folder: a 2-layer BERT with random weights, a word-level vocab, mean pooling."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-st")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"],
             *"abcdefghijklmnopqrstuvwxyz"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(folder)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48, "do_lower_case": False}))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32,
                                                                   "pooling_mode_mean_tokens": True}))
    (folder / "2_Normalize").mkdir()
    return folder


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 30)))) for _ in range(n)]


def test_onnx_fp32_and_int8_match_torch_and_export_once(tiny_st: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from advisor.retrieval.embed import SentenceTransformerEmbedder
    from advisor.retrieval.onnx_embed import OnnxEmbedder

    texts = _texts(40)
    ref = SentenceTransformerEmbedder(str(tiny_st), "tiny@x").encode(texts, batch_size=8)
    messages: list[str] = []
    fp32 = OnnxEmbedder(tiny_st, "tiny@x", "fp32", tmp_path, status=messages.append)
    vec = fp32.encode(texts, batch_size=8)
    assert vec.shape == ref.shape and vec.dtype == np.float32
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    assert (vec * ref).sum(axis=1).min() > 0.9999  # same network, same pooling: rounding only
    int8 = OnnxEmbedder(tiny_st, "tiny@x", "int8", tmp_path, status=messages.append)
    assert (int8.encode(texts, batch_size=8) * ref).sum(axis=1).min() > 0.95  # quantisation error, same direction
    assert fp32.identity != int8.identity != "tiny@x"  # the cache never mixes their vectors
    exports = [m for m in messages if "export" in m or "quantis" in m]
    assert len(exports) == 2  # one export, one quantisation
    folder = int8.path.parent.parent
    assert {"modules.json", "tokenizer.json", "1_Pooling"} <= {p.name for p in folder.iterdir()}
    again: list[str] = []
    OnnxEmbedder(tiny_st, "tiny@x", "int8", tmp_path, status=again.append)
    assert again == []  # found in the cache
    assert OnnxEmbedder(tiny_st, "tiny@y", "fp32", tmp_path).path != fp32.path  # other weights, other export


def test_length_sorted_batches_keep_input_order(tiny_st: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from advisor.retrieval.onnx_embed import OnnxEmbedder

    emb = OnnxEmbedder(tiny_st, "tiny@x", "fp32", tmp_path)
    texts = _texts(30, seed=1)
    together = emb.encode(texts, batch_size=4)
    alone = np.stack([emb.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    assert emb.encode([], batch_size=4).shape == (0, emb.dims)
    assert emb.count_tokens(["the debian kernel"]) == [3]


def test_torch_bulk_encode_restores_threads(tiny_st: Path) -> None:
    import torch

    from advisor.retrieval.embed import SentenceTransformerEmbedder

    before = torch.get_num_threads()
    emb = SentenceTransformerEmbedder(str(tiny_st), "tiny@x", threads=1 if before > 1 else 2)
    seen: list[int] = []
    real = emb.model.encode

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    emb.model.encode = spy
    texts = _texts(20)
    vecs = emb.encode(texts, batch_size=4)
    assert seen and set(seen) == {emb.threads}  # the bulk job ran on the embedder's threads...
    assert torch.get_num_threads() == before  # ...and the caller's setting is back
    alone = np.stack([emb.encode([t])[0] for t in texts[:5]])
    assert np.allclose(vecs[:5], alone, atol=1e-5)  # length sorting kept the input order


def test_faiss_search_restores_omp_threads() -> None:
    faiss = pytest.importorskip("faiss")
    from advisor.retrieval.index import IndexParams, VectorIndex, build_faiss

    vecs = np.eye(4, dtype=np.float32)
    index = VectorIndex(build_faiss(vecs, "flat", IndexParams()), vecs, [{"id": str(i)} for i in range(4)], {})
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        scores, idx = index.search(vecs[1], 1)
        assert idx[0][0] == 1 and faiss.omp_get_max_threads() == 2
    finally:
        faiss.omp_set_num_threads(before)


def test_auto_backend_falls_back_to_torch_without_onnxruntime(monkeypatch) -> None:
    real = embed_mod.importlib.util.find_spec
    monkeypatch.setattr(embed_mod.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    backend, why = choose_backend("auto")
    assert backend == "torch" and "reference" in why
    with pytest.raises(ValueError, match="needs onnxruntime"):
        choose_backend("onnx-int8")
    with pytest.raises(ValueError, match="unknown embedding backend 'gpu'"):
        choose_backend("gpu")


def test_auto_backend_is_the_reference_torch_path_even_with_onnxruntime() -> None:
    pytest.importorskip("onnxruntime")
    backend, why = choose_backend("auto")
    assert backend == "torch" and "reference" in why  # int8 changed recall beyond 0.01 (bench_embedding.py)
    assert choose_backend("torch") == ("torch", "as configured")
    assert choose_backend("onnx-int8") == ("onnx-int8", "as configured")


def test_progress_prints_periodic_lines_when_not_a_terminal() -> None:
    now = [0.0]
    out = io.StringIO()
    with EmbedProgress(1000, stream=out, every_s=10, clock=lambda: now[0]) as bar:
        for _ in range(10):
            now[0] += 4.0
            bar.advance(100)
    lines = out.getvalue().splitlines()
    # a line at 12 s, 24 s, 36 s (every 10 s at the earliest), then the summary at the end (40 s)
    assert lines[0] == "embedding: 300/1000 chunks (30%), 25.0 chunks/s, ETA 28s"
    assert len(lines) == 4 and lines[-1] == "embedding: 1000 chunks in 40.0 s (25.0 chunks/s)"


def test_progress_is_silent_when_disabled_or_short() -> None:
    out = io.StringIO()
    with EmbedProgress(10, stream=out, enabled=False) as bar:
        bar.advance(10)
    with EmbedProgress(10, stream=out, every_s=10, clock=lambda: 0.0) as bar:
        bar.advance(10)
    assert out.getvalue() == ""
    assert (format_eta(5), format_eta(75), format_eta(3725)) == ("5s", "1m15s", "1h02m")


def test_hash_embedder_names_its_backend() -> None:
    assert HashEmbedder(16).backend == "hash"


def test_int8_scheme_follows_vnni() -> None:
    from advisor.retrieval.onnx_export import int8_scheme

    assert int8_scheme({"avx2", "avx512_vnni"}) == ("model_qint8_avx512_vnni.onnx", "QInt8")
    assert int8_scheme({"avx2", "fma"}) == ("model_quint8_avx2.onnx", "QUInt8")  # no VNNI: u8 x u8, no saturation
