"""The RAG arm: retrieve passages from the task's corpus and answer from them.

prepare: read the corpus, chunk it by the embedder's tokens, embed the chunks and build a
FAISS index, or load the one a previous run built with the same inputs (artifact cache).
predict: for each test input, retrieve top-k chunks one query at a time (timed apart from
generation), number them in the prompt, drop the lowest-ranked passages until the prompt
fits the model's window (the question is never cut), and generate all answers in one
batched call. finish: recall@k and MRR against gold sources, retrieval latency p50/p95.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from advisor.prompting.answers import extract_answer, match_label
from advisor.backends.base import Backend, GenerateRequest, Message
from advisor.retrieval.corpus import TEXT_SUFFIXES, chunk_documents, corpus_hash, has_documents, read_corpus
from advisor.spec.data import Sample
from advisor.errors import TaskProblem, UserError
from advisor.retrieval.index import cached_index
from advisor.evaluation.record import SampleExtra, SampleRow
from advisor.evaluation.sections import ArmDetails, GoldInfo, PrepareFacts
from advisor.retrieval.retrieve import Retriever, first_gold_rank
from advisor.evaluation.quality import support
from advisor.evaluation.scoring import normalize_answer
from advisor.spec.model import TaskSpec
from advisor.evaluation.strategy import Estimate, PrepareContext, Prediction, Strategy

from strategies.rag.common import EmbeddingSettings, embed_facts, embedder_for, index_params, index_report, retrieval_details
from strategies.search_spaces import never_seeded, rag_space

__all__ = ["RagConfig", "RagStrategy", "pack_passages", "format_passage", "embed_text"]

DEFAULT_TEMPLATE = "Read the passages and answer the question.\n\nPassages:\n{context}\n\nQuestion: {input}"
PASSAGE_CHARS = 1500  # characters of each used passage kept in samples.jsonl for the report's examples
DEFAULT_GUIDE = "Answer the question using the numbered passages. Reply with the answer only, as briefly as possible."


class RagConfig(EmbeddingSettings):
    """Settings of a rag arm (all optional; the corpus itself is the task's `corpus` block)."""

    chunk_tokens: int = Field(200, ge=8, le=8192, description="chunk size in embedder tokens")
    chunk_overlap: int = Field(32, ge=0, description="tokens a chunk repeats from the previous one of its section")
    embed_headings: bool = Field(True, description="embed each chunk with its last two headings in front "
                                                   "(FAQ and manual headings often say what the chunk answers)")
    passage_headings: bool = Field(False, description="show each passage's heading trail in the prompt")
    top_k: int = Field(4, ge=1, le=100, description="passages retrieved per question")
    score_threshold: float | None = Field(None, ge=-1, le=1, description="drop passages with cosine below this")
    mmr_lambda: float | None = Field(None, ge=0, le=1, description="MMR re-ranking: 1 = relevance only, 0 = diversity only")
    fetch_k: int | None = Field(None, ge=1, le=1000, description="candidates fetched before MMR/threshold (default 4 x top_k with MMR)")
    template: str = Field(DEFAULT_TEMPLATE, description="user turn; {context} = numbered passages, {input} = the question")
    instructions: str | None = Field(None, description="overrides the task's instructions for this arm")
    guide: str = Field(DEFAULT_GUIDE, description="added to the system prompt: how to use the passages")
    max_new_tokens: int | None = Field(None, ge=1, le=4096, description="overrides generation.max_new_tokens")
    gold_field: str | None = Field(None, description="sample field naming the gold document id(s) or chunk id(s)")
    gold_answer: bool = Field(False, description="a passage is gold when it contains the target answer "
                                                 "(with gold_field: a passage of the named source containing it)")
    recall_ks: list[int] = Field([1, 3, 5, 10], description="k values for recall@k (capped at top_k)")

    @field_validator("template")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        if "{input}" not in v or "{context}" not in v:
            raise ValueError("template must contain {context} and {input}")
        return v


def format_passage(n: int, chunk: dict[str, Any], headings: bool = False) -> str:
    trail = " > ".join(chunk.get("headings", [])[-2:]) if headings else ""
    return f"[{n}] ({trail}) {chunk['text']}" if trail else f"[{n}] {chunk['text']}"


def embed_text(chunk: dict[str, Any], headings: bool) -> str:
    trail = " > ".join(chunk.get("headings", [])[-2:]) if headings else ""
    return f"{trail}: {chunk['text']}" if trail else chunk["text"]


def _messages(system: str, template: str, question: str, passages: list[str]) -> list[Message]:
    context = "\n\n".join(passages) if passages else "(no passages found)"
    # Substitute by position, never by str.format: passages and questions may contain braces.
    # {input} may appear more than once (the question repeated after the passages).
    user = question.join(part.replace("{context}", context) for part in template.split("{input}"))
    msgs: list[Message] = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": user}]


def pack_passages(system: str, template: str, questions: list[str], passages: list[list[str]], backend: Backend,
                  reserve: int) -> list[tuple[list[Message] | None, int, int]]:
    """Per question: (messages, passages kept, prompt tokens) within `backend.context_length - reserve`.

    Passages are ranked best first and the lowest-ranked is dropped first; the question is
    never cut: when it does not fit even without passages, messages is None. Token counts
    come from the backend's tokenizer after its chat template.
    """
    budget = backend.context_length - reserve
    keep = [len(p) for p in passages]
    out: list[tuple[list[Message] | None, int, int] | None] = [None] * len(questions)
    todo = list(range(len(questions)))
    while todo:
        convs = [_messages(system, template, questions[i], passages[i][: keep[i]]) for i in todo]
        counts = backend.count_tokens(convs)
        nxt = []
        for i, conv, n in zip(todo, convs, counts):
            if n <= budget:
                out[i] = (conv, keep[i], n)
            elif keep[i] == 0:
                out[i] = (None, 0, n)
            else:
                keep[i] -= 1
                nxt.append(i)
        todo = nxt
    return [o for o in out if o is not None]


class RagStrategy(Strategy):
    """Retrieval-augmented generation over the task's corpus; registered as `rag`."""

    Config = RagConfig
    search_space = staticmethod(rag_space)
    seed_dependent = staticmethod(never_seeded)

    config: RagConfig

    def __init__(self, config: RagConfig, spec: TaskSpec) -> None:
        super().__init__(config, spec)
        self.retriever: Retriever | None = None
        self.chunks: dict[str, dict[str, Any]] = {}
        self.adapter: str | None = None  # a fine-tuned adapter every request carries (set by rag-lora)

    @classmethod
    def check_task(cls, spec: TaskSpec, config: RagConfig) -> None:
        """The corpus block exists and holds at least one non-empty document; chunking is sane."""
        if spec.corpus is None:
            raise UserError("a rag arm needs a `corpus` block in the task (a folder or JSONL of documents)")
        if config.chunk_overlap * 2 > config.chunk_tokens:
            raise UserError(f"chunk_overlap ({config.chunk_overlap}) must be at most half of chunk_tokens ({config.chunk_tokens})")
        if spec.corpus.path.exists() and not has_documents(spec.corpus.path):
            raise TaskProblem(f"the corpus is empty: no non-empty {' '.join(TEXT_SUFFIXES)} file in {spec.corpus.path}",
                              loc=("corpus", "path"))

    def system_prompt(self) -> str:
        text = self.config.instructions if self.config.instructions is not None else self.spec.instructions
        if self.spec.labels:
            text = (text + "\n" if text else "") + f"Answer with exactly one of: {', '.join(self.spec.labels)}."
        return "\n".join(t for t in (text.strip(), self.config.guide.strip()) if t)

    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        self.check_task(self.spec, self.config)
        cfg, corpus = self.config, self.spec.corpus
        assert corpus is not None
        embedder = embedder_for(cfg, ctx.status, ctx.cache_dir)
        fmt = {"folder": "folder", "jsonl": "jsonl"}.get(corpus.format, "auto")
        key_parts = {"what": "corpus-chunks", "embedder": embedder.identity, "corpus_sha256": corpus_hash(corpus.path),
                     "reader": {"format": fmt, "id": corpus.id_field, "text": corpus.text_field,
                                "title": corpus.title_field, "version": 1},
                     "chunking": {"tokens": cfg.chunk_tokens, "overlap": cfg.chunk_overlap, "version": 1},
                     "embed_headings": cfg.embed_headings}
        problems: list[str] = []

        def make():
            import time

            docs, found = read_corpus(corpus.path, fmt, corpus.id_field, corpus.text_field, corpus.title_field)
            problems.extend(found)
            chunks = chunk_documents(docs, embedder.count_tokens, cfg.chunk_tokens, cfg.chunk_overlap)
            ctx.status(f"embedding {len(chunks)} chunks of {len(docs)} documents with {cfg.embedder}")
            t0 = time.perf_counter()
            vectors = embedder.encode([embed_text(c.as_dict(), cfg.embed_headings) for c in chunks],
                                      cfg.embed_batch_size,
                                      progress=lambda done, total, what: ctx.step("embedding", done, total, what))
            embed_s = time.perf_counter() - t0
            facts = {"documents": len(docs), "embed_seconds": round(embed_s, 3), **embed_facts(embedder),
                     "chunks_per_s": round(len(chunks) / embed_s, 1) if embed_s > 0 else None, "problems": found}
            return [c.as_dict() for c in chunks], vectors, facts

        index = cached_index(ctx.cache_dir, key_parts, index_params(cfg), make, status=ctx.status)
        self.chunks = {row["id"]: row for row in index.rows}
        self.retriever = Retriever(embedder, index, cfg.top_k, cfg.score_threshold, cfg.mmr_lambda, cfg.fetch_k)
        self.retriever.warm_up()
        one_off, facts = index_report(index, "FAISS index build (chunking + embeddings + index)")
        facts.documents, facts.chunk_tokens = index.meta.get("documents"), cfg.chunk_tokens
        facts.chunk_overlap, facts.embedder = cfg.chunk_overlap, embedder.identity
        return PrepareFacts(one_off=one_off, index=facts,
                            corpus_problems=list(problems or index.meta.get("problems") or []))

    def _answer(self, text: str) -> str | None:
        if self.spec.type == "classification":
            return match_label(text, self.spec.labels or [])
        return text.strip() if self.spec.type == "generation" else extract_answer(text)

    def predict(self, samples: list[Sample], backend: Backend) -> list[Prediction]:
        if self.retriever is None:
            raise RuntimeError("prepare() must run before predict()")
        gen = self.spec.generation
        max_new = self.config.max_new_tokens or gen.max_new_tokens
        found = [self.retriever.retrieve(s.input) for s in samples]  # one query at a time, each timed
        rows = self.retriever.index.rows
        passages = [[format_passage(n + 1, rows[h.row], self.config.passage_headings) for n, h in enumerate(r.hits)]
                    for r in found]
        packed = pack_passages(self.system_prompt(), self.config.template, [s.input for s in samples], passages,
                               backend, max_new)
        sendable = [i for i, (msgs, _, _) in enumerate(packed) if msgs is not None]
        requests = [GenerateRequest(messages=packed[i][0], max_new_tokens=max_new, temperature=gen.temperature,
                                    stop=tuple(gen.stop), adapter=self.adapter) for i in sendable]
        results = dict(zip(sendable, backend.generate(requests) if requests else []))
        preds = []
        for i, (s, r, (msgs, kept, ntok)) in enumerate(zip(samples, found, packed)):
            notes = list(r.notes)
            if kept < len(r.hits):
                notes.append(f"dropped {len(r.hits) - kept} lowest-ranked passage(s) to fit {backend.context_length} tokens")
            extra = SampleExtra(retrieved=[(rows[h.row]["id"], round(h.score, 4)) for h in r.hits],
                                retrieval_ms=round(r.total_ms, 3), embed_ms=round(r.embed_ms, 3),
                                search_ms=round(r.search_ms, 3), passages_used=kept, fit=notes or None)
            if msgs is None:
                preds.append(Prediction(s.id, None, "", ntok, 0, 0.0, None,
                                        f"the question alone takes {ntok} tokens; the context holds "
                                        f"{backend.context_length} with {max_new} reserved for the answer", extra))
                continue
            g = results[i]
            extra.finish_reason = g.finish_reason
            answer = self._answer(g.text)
            if self.spec.type != "classification":  # what the answer rests on (report examples, groundedness)
                used = [rows[h.row]["text"] for h in r.hits[:kept]]
                extra.passages = [t[:PASSAGE_CHARS] for t in used]
                grounded = support(answer, used)
                if grounded is not None:
                    extra.groundedness = round(grounded, 4)
            preds.append(Prediction(s.id, answer, g.text, g.prompt_tokens, g.completion_tokens,
                                    g.latency_s, g.ttft_s, g.error, extra, tpot_s=g.tpot_s, cached=g.cached))
        return preds

    def gold_sets(self, sample: Sample) -> set[str] | None:
        """Chunk ids counted as gold for this sample, or None when it names no gold.

        gold_field alone: every chunk of the named document(s), or the named chunk(s);
        gold_answer alone: every chunk containing the target answer; both: chunks of the
        named source that contain the answer (the passage that actually answers it).
        """
        sets: list[set[str]] = []
        if self.config.gold_field:
            value = sample.fields.get(self.config.gold_field)
            wanted = {str(v) for v in (value if isinstance(value, list) else [value]) if v not in (None, "")}
            if wanted:
                sets.append({cid for cid, c in self.chunks.items() if cid in wanted or c["doc"] in wanted})
        if self.config.gold_answer and sample.target.strip():
            target = f" {normalize_answer(sample.target)} "
            sets.append({cid for cid, c in self.chunks.items() if target in f" {normalize_answer(c['text'])} "})
        if not sets:
            return None
        return set.intersection(*sets)

    def finish(self, samples: list[Sample], rows: list[SampleRow]) -> ArmDetails:
        by_id = {s.id: s for s in samples}
        ranked, golds = [], []
        latencies = [r.extra.retrieval_ms for r in rows if r.extra.retrieval_ms is not None]
        for row in rows:
            sample = by_id.get(row.id)
            gold = self.gold_sets(sample) if sample is not None else None
            if gold is None:
                continue
            ranked.append([cid for cid, _ in row.extra.retrieved or []])
            golds.append(gold)
        out = retrieval_details(self.config.top_k, latencies)
        out.n_with_gold = len(golds)
        if golds:
            ks = sorted({k for k in self.config.recall_ks if k <= self.config.top_k} | {self.config.top_k})
            out.recall_at_k = {str(k): round(sum(1 for r, g in zip(ranked, golds) if set(r[:k]) & g) / len(golds), 4)
                               for k in ks}
            ranks = [first_gold_rank(r, g) for r, g in zip(ranked, golds)]
            out.mrr = round(sum(1 / r for r in ranks if r) / len(golds), 4)
            out.gold = GoldInfo(field=self.config.gold_field, answer_in_passage=self.config.gold_answer,
                                unreachable=sum(1 for g in golds if not g),
                                how="a query is a hit at k when a gold chunk is among its first k retrieved (gold: "
                                    "chunks of the named document/chunk id, containing the target answer when "
                                    "answer_in_passage; both when both are set); MRR uses the first gold rank")
        return ArmDetails(retrieval=out)

    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        """Requests and prompt tokens without embedding or generating (passages approximated from the corpus)."""
        cfg, corpus = self.config, self.spec.corpus
        max_new = cfg.max_new_tokens or self.spec.generation.max_new_tokens
        notes = []
        sample_text = ""
        if corpus is not None:
            try:
                docs, _ = read_corpus(corpus.path, {"folder": "folder", "jsonl": "jsonl"}.get(corpus.format, "auto"),
                                      corpus.id_field, corpus.text_field, corpus.title_field)
                sample_text = " ".join(" ".join(d.text.split()) for d in docs[:20])
                n_chars = sum(len(d.text) for d in docs)
                chunks_guess = max(1, int(n_chars / 4 / max(1, cfg.chunk_tokens - cfg.chunk_overlap)))
            except UserError as exc:
                notes.append(f"corpus unreadable: {exc}")
                chunks_guess = 0
        else:
            chunks_guess = 0
        # A passage of chunk_tokens embedder tokens is about 4 characters a token of plain text.
        width = cfg.chunk_tokens * 4
        passages = [f"[{n + 1}] " + sample_text[n * width:(n + 1) * width] for n in range(cfg.top_k)]
        probe = test[:8]
        if ctx.backend is not None and probe:
            counts = ctx.backend.count_tokens([_messages(self.system_prompt(), cfg.template, s.input, passages)
                                               for s in probe])
            per = sum(min(c, ctx.backend.context_length - max_new) for c in counts) / len(counts)
            notes.append(f"prompt tokens counted on {len(probe)} prompts with {cfg.top_k} corpus-sized passages")
        else:
            per = sum(len(p) for p in passages) / 4 + 64
            notes.append("prompt tokens approximated as characters / 4 (no backend to count with)")
        notes.append(f"about {chunks_guess} chunks to embed unless the index is already cached")
        return Estimate(requests=len(test), prompt_tokens=int(per * len(test)), completion_tokens=max_new * len(test),
                        embed_texts=chunks_guess + len(test), notes=notes)

