"""Retrieval-selected few-shot: the k training examples nearest to each test input as demos.

The prompting arm with one change: instead of one seeded draw of demonstrations shared by
every test input, each input gets the `shots` training examples whose inputs embed closest
to it (Liu et al. 2022, "What Makes Good In-Context Examples for GPT-3?"). The training
inputs are embedded and indexed with the same embedder, FAISS index and artifact cache as
the rag arm; the nearest come first in the prompt order reversed, so the closest example
sits next to the question.
"""

from __future__ import annotations

import hashlib
import json
import time

from pydantic import Field

from advisor.backends.base import Backend
from advisor.spec.data import Sample
from advisor.retrieval.index import cached_index
from advisor.prompting.prompts import PromptParts
from advisor.evaluation.record import SampleRow
from advisor.retrieval.retrieve import Retriever
from advisor.spec.model import TaskSpec
from advisor.evaluation.sections import ArmDetails, PrepareFacts
from advisor.evaluation.strategy import Estimate, PrepareContext, Prediction

from strategies.prompting.arm import PromptingConfig, PromptingStrategy
from strategies.rag.common import EmbeddingSettings, embed_facts, embedder_for, index_params, index_report, retrieval_details
from strategies.search_spaces import knn_shot_space, never_seeded

__all__ = ["KnnShotConfig", "KnnShotStrategy"]


class KnnShotConfig(PromptingConfig, EmbeddingSettings):
    """Prompting settings (`shots` = neighbours per input) plus embedder and index settings."""

    shots: int = Field(4, ge=0, le=64, description="nearest training examples shown before each input")


class KnnShotStrategy(PromptingStrategy):
    """Prompting with per-input nearest-neighbour demonstrations; registered as `knn-shot`."""

    Config = KnnShotConfig
    search_space = staticmethod(knn_shot_space)
    seed_dependent = staticmethod(never_seeded)  # nearest neighbours: no draw

    def __init__(self, config: KnnShotConfig, spec: TaskSpec) -> None:
        super().__init__(config, spec)
        self.retriever: Retriever | None = None
        self.train: dict[str, Sample] = {}
        self.nearest: dict[str, tuple[list[Sample], float]] = {}  # input text -> (demos, retrieval ms)

    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        cfg = self.config
        if cfg.shots > len(ctx.splits.train):
            return super().prepare(ctx)  # raises the prompting arm's clear error
        embedder = embedder_for(cfg, ctx.status, ctx.cache_dir)
        train = ctx.splits.train
        self.train = {s.id: s for s in train}
        digest = hashlib.sha256(json.dumps([[s.id, s.input, s.target] for s in train]).encode()).hexdigest()
        key_parts = {"what": "train-inputs", "embedder": embedder.identity, "train_sha256": digest}

        def make():
            ctx.status(f"embedding {len(train)} training inputs with {cfg.embedder}")
            t0 = time.perf_counter()
            vectors = embedder.encode([s.input for s in train], cfg.embed_batch_size,
                                      progress=lambda done, total, what: ctx.step("embedding", done, total, what))
            embed_s = time.perf_counter() - t0
            return ([{"id": s.id} for s in train], vectors,
                    {"embed_seconds": round(embed_s, 3), "chunks_per_s": round(len(train) / embed_s, 1) if embed_s else None,
                     **embed_facts(embedder)})

        index = cached_index(ctx.cache_dir, key_parts, index_params(cfg), make, status=ctx.status)
        self.retriever = Retriever(embedder, index, max(1, cfg.shots))
        self.retriever.warm_up()
        info = super().prepare(ctx)  # calibration (choice mode) probes use per-input neighbours too
        info.demonstration_ids = None
        info.demonstrations = f"the {cfg.shots} training examples nearest to each input (per sample in samples.jsonl)"
        info.one_off, info.index = index_report(index, "FAISS index build over the training inputs (embeddings + index)")
        return info

    def _retrieve(self, text: str) -> tuple[list[Sample], float]:
        """Search afresh (timed): a repeated input is measured again, never served from memory."""
        assert self.retriever is not None
        found = self.retriever.retrieve(text)
        rows = self.retriever.index.rows
        demos = [self.train[rows[h.row]["id"]] for h in found.hits if rows[h.row]["id"] in self.train]
        self.nearest[text] = (demos[::-1], found.total_ms)  # nearest last, next to the question
        return self.nearest[text]

    def _neighbours(self, text: str) -> tuple[list[Sample], float]:
        return self.nearest[text] if text in self.nearest else self._retrieve(text)

    def parts(self, sample: Sample) -> PromptParts:
        if self.retriever is None or self.config.shots == 0:
            return super().parts(sample)
        demos, _ = self._neighbours(sample.input)
        pairs = tuple((self.config.template.replace("{input}", d.input), d.target) for d in demos)
        return PromptParts(system=self.system_prompt(), input=sample.input, template=self.config.template, demos=pairs)

    def predict(self, samples: list[Sample], backend: Backend) -> list[Prediction]:
        timed = {s.id: self._retrieve(s.input) for s in samples} if self.retriever is not None else {}
        preds = super().predict(samples, backend)
        for p in preds:
            if p.sample_id in timed:
                demos, ms = timed[p.sample_id]
                p.extra.demonstration_ids, p.extra.retrieval_ms = [d.id for d in demos], round(ms, 3)
        return preds

    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        """The prompting estimate with `shots` drawn examples standing in for the retrieved ones;
        demonstrations differ per input, so no prompt prefix is shared (nothing is cached)."""
        out = super().estimate(ctx, test)
        if self.config.shots:
            out.cached_prompt_tokens = 0
            out.notes = [n for n in out.notes if "prefix caching" not in n] + [
                f"counted with {self.config.shots} drawn training examples in place of the retrieved ones; "
                "demonstrations differ per input, so no shared prefix is cached"]
        return out

    def finish(self, samples: list[Sample], rows: list[SampleRow]) -> ArmDetails:
        latencies = [r.extra.retrieval_ms for r in rows if r.extra.retrieval_ms is not None]
        return ArmDetails(retrieval=retrieval_details(self.config.shots, latencies))
