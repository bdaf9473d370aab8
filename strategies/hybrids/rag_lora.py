"""rag-lora: an adapter trained on the rag arm's prompts (RAFT style), served with retrieval.

Training is the LoRA arm's trainer, cache and risk checks; only the conversation each
example is formatted as changes: the rag arm's prompt for the training question, with
passages chosen per `strategies.hybrids.raft` (a seeded share with the gold passage among
distractors, a share with distractors only, the rest as retrieved). Serving is the rag arm
with the adapter on every request, over the same cached index. The adapter's cache key adds
the retrieval settings, the corpus content and the RAFT shares to the LoRA key.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from pydantic import Field, model_validator

from advisor.backends.base import Message
from advisor.evaluation.sections import ArmDetails, PrepareFacts, RaftFacts
from advisor.evaluation.strategy import Estimate, PrepareContext
from advisor.retrieval.corpus import corpus_hash
from advisor.spec.data import Sample
from advisor.spec.model import TaskSpec
from strategies.hybrids.common import merge_estimates, merge_prepare
from strategies.hybrids.raft import ContextPlan, assign_kinds, compose
from strategies.lora.arm import LoraStrategy
from strategies.lora.config import LoraArmConfig
from strategies.rag.arm import RagConfig, RagStrategy, _messages, format_passage, pack_passages

__all__ = ["RagLoraConfig", "RagLoraStrategy"]


class RagLoraConfig(LoraArmConfig):
    """LoRA training settings, the rag arm's settings (`retrieval`) and the RAFT mix."""

    retrieval: RagConfig = Field(default_factory=RagConfig, description="the rag arm's settings (index, top_k, prompt)")
    gold_share: float = Field(0.8, ge=0, le=1, description="training questions shown the gold passage among distractors")
    distractor_share: float = Field(0.2, ge=0, le=1, description="training questions shown distractor passages only")
    fetch_k: int = Field(20, ge=1, le=1000, description="passages retrieved per training question to pick distractors from")
    max_length: int = Field(2048, ge=16, description="tokens per training example (passages make prompts long)")

    @model_validator(mode="after")
    def _shares(self) -> RagLoraConfig:
        if self.gold_share + self.distractor_share > 1 + 1e-9:
            raise ValueError(f"gold_share + distractor_share must be at most 1 (got {self.gold_share} + "
                             f"{self.distractor_share}); the rest of the questions keep their retrieved passages")
        if self.mode == "choice":
            raise ValueError("rag-lora answers by generation (as the rag arm does): mode must be auto or generate")
        if self.template != "{input}" or self.instructions is not None:
            raise ValueError("set template and instructions inside `retrieval` (the rag arm's prompt is used)")
        return self


class RagLoraStrategy(LoraStrategy):
    """RAFT-style LoRA on retrieval prompts, served with retrieval; registered as `rag-lora`."""

    Config = RagLoraConfig

    def __init__(self, config: RagLoraConfig, spec: TaskSpec) -> None:
        super().__init__(config, spec)
        self.serving = RagStrategy(config.retrieval, spec)
        self.mode = "generate"
        self.rag_info = PrepareFacts()
        self.train_messages: dict[str, list[Message]] = {}
        self.plan = ContextPlan()

    @classmethod
    def check_task(cls, spec: TaskSpec, config: RagLoraConfig) -> None:
        LoraStrategy.check_task(spec, config)
        RagStrategy.check_task(spec, config.retrieval)

    def key_extra(self) -> dict[str, Any]:
        cfg = self.config
        corpus = self.spec.corpus
        return {"rag-lora": {"retrieval": cfg.retrieval.model_dump(mode="json"), "gold_share": cfg.gold_share,
                             "distractor_share": cfg.distractor_share, "fetch_k": cfg.fetch_k,
                             "system": self.serving.system_prompt(), "raft_version": 1,
                             "corpus_sha256": corpus_hash(corpus.path) if corpus is not None else None}}

    def training_messages(self) -> Callable[[Sample], list[Message]]:
        return lambda s: self.train_messages[s.id]

    def prepare_serving(self, ctx: PrepareContext) -> PrepareFacts:
        return self.rag_info  # prepared before training (training retrieves from the same index)

    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        self.check_task(self.spec, self.config)
        self.rag_info = self.serving.prepare(ctx)
        self._compose_training(ctx)
        raft = RaftFacts(**self.plan.as_dict(), gold_share=self.config.gold_share,
                         distractor_share=self.config.distractor_share, top_k=self.config.retrieval.top_k,
                         how="training questions assigned with the seed: gold = the gold passage at a random place "
                             "among retrieved non-gold passages; distractors = retrieved non-gold passages only; "
                             "retrieved = as serving retrieves; validation questions always as retrieved")
        return merge_prepare(super().prepare(ctx), self.rag_info).model_copy(update={"mode": "generate", "raft": raft})

    def _compose_training(self, ctx: PrepareContext) -> None:
        """The rag prompt of every train and validation question, with RAFT passages."""
        rag, cfg = self.serving, self.config
        if rag.retriever is None or ctx.backend is None:
            raise RuntimeError("rag-lora needs the index and a backend (to fit prompts) before training")
        train, val, _ = self._splits(ctx)
        seed = self._seed(ctx)
        kinds = assign_kinds([s.id for s in train], cfg.gold_share, cfg.distractor_share, seed)
        kinds.update({s.id: "retrieved" for s in val})
        rng = random.Random(seed)
        rows = rag.retriever.index.rows
        self.plan = ContextPlan()
        questions, passages = [], []
        samples = train + val
        for s in samples:
            found = rag.retriever.retrieve(s.input, k=max(cfg.fetch_k, cfg.retrieval.top_k + 1))
            ranked = [rows[h.row]["id"] for h in found.hits]
            ids = compose(kinds[s.id], ranked, rag.gold_sets(s), cfg.retrieval.top_k, rng, self.plan)
            questions.append(s.input)
            passages.append([format_passage(n + 1, rag.chunks[c], cfg.retrieval.passage_headings)
                             for n, c in enumerate(ids)])
        max_new = cfg.retrieval.max_new_tokens or self.spec.generation.max_new_tokens
        packed = pack_passages(rag.system_prompt(), cfg.retrieval.template, questions, passages, ctx.backend, max_new)
        self.train_messages = {}
        for s, (msgs, _, _) in zip(samples, packed):
            self.train_messages[s.id] = msgs if msgs is not None else _messages(
                rag.system_prompt(), cfg.retrieval.template, s.input, [])
        ctx.status(f"rag-lora training contexts: {self.plan.as_dict()}")

    def finish(self, samples: list[Sample], rows: list[Any]) -> ArmDetails:
        return super().finish(samples, rows).model_copy(update={"retrieval": self.serving.finish(samples, rows).retrieval})

    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        training = super().estimate(ctx, test)
        serving = self.serving.estimate(ctx, test)
        out = merge_estimates(training, serving)
        zero = training.prompt_tokens / max(1, len(test))
        rag = serving.prompt_tokens / max(1, len(test))
        if zero and out.train_tokens:
            out.train_tokens = round(out.train_tokens * rag / zero)
            out.notes.append("training tokens scaled from zero-shot to rag prompt length")
        return out


