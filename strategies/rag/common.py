"""Pieces the retrieval arms share: embedder/index settings, the index build, timing facts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.retrieval.embed import Embedder, load_embedder
from advisor.retrieval.index import IndexParams, VectorIndex
from advisor.artifacts.models import DEFAULT_EMBEDDER
from advisor.decision.stats import percentiles
from advisor.evaluation.sections import IndexFacts, OneOffCost, RetrievalDetails

__all__ = ["EmbeddingSettings", "embed_facts", "embedder_for", "index_params", "index_report", "retrieval_details", "RETRIEVAL_HOW"]

RETRIEVAL_HOW = ("per query, one at a time as a served system answers (time.perf_counter, ms): embedding the "
                 "query + FAISS search on one thread (+ threshold/MMR); not part of generation latency")


class EmbeddingSettings(BaseModel):
    """Embedder and index settings (mixed into each retrieval arm's config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(DEFAULT_EMBEDDER, description="registry name, a local sentence-transformers folder, "
                                                        "or hash[-dims] (a model-free word-hashing embedder)")
    embed_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto", description="what runs the embedder: torch fp32, ONNX Runtime fp32, or ONNX Runtime dynamic int8; "
                            "auto = onnx-int8 when onnxruntime is installed, else torch")
    embed_threads: int | None = Field(None, ge=1, description="threads while embedding the corpus (and building "
                                                              "the index); default: every core, restored afterwards")
    embed_batch_size: int = Field(64, ge=1, le=4096, description="texts per embedding batch")
    index: Literal["auto", "flat", "hnsw"] = Field(
        "auto", description="flat = exact inner product; hnsw = approximate; auto = hnsw above approximate_above")
    approximate_above: int = Field(50_000, ge=1, description="auto: vectors above which HNSW is used")
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW neighbours per node")
    ef_construction: int = Field(200, ge=8, description="HNSW build beam width")
    ef_search: int = Field(128, ge=1, description="HNSW query beam width (recall vs latency)")


def index_params(cfg: EmbeddingSettings) -> IndexParams:
    return IndexParams(kind=cfg.index, approximate_above=cfg.approximate_above, hnsw_m=cfg.hnsw_m,
                       ef_construction=cfg.ef_construction, ef_search=cfg.ef_search, build_threads=cfg.embed_threads)


def embedder_for(cfg: EmbeddingSettings, status, cache_dir=None) -> Embedder:
    status(f"loading embedder {cfg.embedder}")
    emb = load_embedder(cfg.embedder, cfg.embed_threads, status=status, backend=cfg.embed_backend, cache_dir=cache_dir)
    if emb.backend != "hash":
        status(f"embedding backend {emb.backend} ({getattr(emb, 'backend_note', '')})")
    return emb


def embed_facts(embedder: Embedder) -> dict:
    """What computed the vectors, for the index's recorded facts."""
    return {"embed_backend": embedder.backend, "embed_backend_why": getattr(embedder, "backend_note", None),
            "embed_threads": getattr(embedder, "threads", None)}


def index_report(index: VectorIndex, what: str) -> tuple[list[OneOffCost], IndexFacts]:
    """The one-off cost and the index facts of an arm's prepare result (from the index's meta.json)."""
    meta = index.meta
    cost = OneOffCost(kind="index", what=what, seconds=float(meta["build_seconds"]), hardware="cpu",
                      reused=index.reused, built=meta.get("built"), artifact=f"index/{meta['key']}")
    facts = {k: meta.get(k) for k in ("kind", "vectors", "dims", "bytes", "build_seconds", "embed_seconds",
                                      "faiss_seconds", "chunks_per_s", "embed_backend", "embed_backend_why",
                                      "embed_threads", "built", "key", "how")}
    return [cost], IndexFacts(**{k: v for k, v in facts.items() if v is not None}, reused=index.reused)


def retrieval_details(k: int, latencies_ms: list[float]) -> RetrievalDetails:
    """Retrieval facts with the latency percentiles of the timed queries (none when nothing was timed)."""
    out = RetrievalDetails(k=k)
    if latencies_ms:
        p = percentiles(latencies_ms, (50, 95))
        out.latency_p50_ms, out.latency_p95_ms = round(p["p50"], 3), round(p["p95"], 3)
        out.latency_mean_ms, out.latency_n = round(sum(latencies_ms) / len(latencies_ms), 3), len(latencies_ms)
        out.how = RETRIEVAL_HOW
    return out
