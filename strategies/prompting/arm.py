"""The prompting arm: instructions + k demonstrations + the input, on the base model.

Demonstrations come from the train split, drawn with a seed and balanced across labels
for classification. Classification answers by choice scoring (rank each label by its
log-likelihood; the small default model answers free text badly) or by generation with
label matching; QA and extraction generate and extract the answer.

Choice scoring is calibrated by default (Zhao et al., 2021, "Calibrate Before Use"): the
same prompt is scored with content-free inputs, and each label's mean log-probability
there is subtracted, which removes a small model's prior for one label.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from advisor.prompting.answers import extract_answer, match_label
from advisor.backends.base import Backend, ChoiceRequest, GenerateRequest
from advisor.spec.data import Sample
from advisor.errors import UserError
from advisor.prompting.prompts import PLAIN_LABEL_PREFIX, InputTemplate, PromptParts, fit_prompts
from advisor.spec.base import Strict
from advisor.spec.model import TaskSpec
from advisor.evaluation.record import SampleExtra
from advisor.evaluation.sections import Calibration, PrepareFacts
from advisor.evaluation.strategy import Estimate, PrepareContext, Prediction, Strategy
from strategies.search_spaces import demos_drawn, prompting_space

__all__ = ["PromptingConfig", "PromptingStrategy", "pick_demonstrations", "CONTENT_FREE"]

CONTENT_FREE = ("N/A", "", "[MASK]")  # inputs that carry no content (Zhao et al., 2021)


class PromptingConfig(Strict):
    """Settings of a prompting arm (all optional)."""

    shots: int = Field(0, ge=0, le=64, description="demonstrations from the train split (0 = zero-shot)")
    mode: Literal["auto", "choice", "generate"] = Field(
        "auto", description="classification: choice scoring or free generation; auto = choice when labels exist")
    template: InputTemplate = Field("{input}", description="user turn; {input} is replaced by the sample text")
    balanced: bool = Field(True, description="draw demonstrations evenly across labels")
    seed: int | None = Field(None, description="seed for drawing demonstrations; default: the task seed")
    instructions: str | None = Field(None, description="overrides the task's instructions for this arm")
    max_new_tokens: int | None = Field(None, ge=1, le=4096, description="overrides generation.max_new_tokens")
    length_normalize: bool = Field(False, description="choice scoring: mean log-prob per token instead of sum")
    chat: bool = Field(
        True, description="false: one plain-text prompt without the chat template (instructions, "
                          "demonstrations as 'input label', the input; blank lines between) and labels "
                          "scored as ' label': lm-evaluation-harness's prompt, for comparing accuracy")
    calibrate: bool = Field(
        True, description="choice scoring: subtract each label's log-prob on content-free inputs "
                          "(contextual calibration, Zhao et al. 2021) to remove the model's label bias")


def pick_demonstrations(train: list[Sample], k: int, seed: int, labels: list[str] | None, balanced: bool) -> list[Sample]:
    """k training samples drawn with `seed`; round-robin over labels when balanced."""
    if k == 0:
        return []
    rng = random.Random(seed)
    pool = list(train)
    rng.shuffle(pool)
    if not (balanced and labels):
        return pool[:k]
    by_label: dict[str, list[Sample]] = {label: [s for s in pool if s.target == label] for label in labels}
    picked: list[Sample] = []
    while len(picked) < min(k, len(pool)):
        for label in labels:
            if by_label[label] and len(picked) < k:
                picked.append(by_label[label].pop())
    rng.shuffle(picked)  # no label order the model could learn from
    return picked


class PromptingStrategy(Strategy):
    """Zero-/k-shot prompting; registered as `prompting`."""

    Config = PromptingConfig
    search_space = staticmethod(prompting_space)
    seed_dependent = staticmethod(demos_drawn)

    config: PromptingConfig

    def __init__(self, config: PromptingConfig, spec: TaskSpec) -> None:
        super().__init__(config, spec)
        self.demos: list[Sample] = []
        self.offsets: list[float] | None = None  # calibration: per-label log-prob on content-free input
        self.adapter: str | None = None  # a LoRA adapter every request carries (set by the LoRA arm)
        mode = config.mode
        if mode == "auto":
            mode = "choice" if spec.type == "classification" and spec.labels else "generate"
        self.mode = mode

    @classmethod
    def check_task(cls, spec: TaskSpec, config: PromptingConfig) -> None:
        """Config problems that depend on the task (called while validating the spec)."""
        if config.mode == "choice" and not spec.labels:
            raise UserError("mode 'choice' needs a label set (`labels`) in the task")

    def system_prompt(self) -> str:
        text = self.config.instructions if self.config.instructions is not None else self.spec.instructions
        if self.spec.labels and self.mode == "generate":
            text = (text + "\n" if text else "") + f"Answer with exactly one of: {', '.join(self.spec.labels)}."
        return text.strip()

    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        seed = self.config.seed if self.config.seed is not None else ctx.seed
        if self.config.shots > len(ctx.splits.train):
            raise UserError(f"arm {ctx.arm_name!r} asks for {self.config.shots} shots but the train split has {len(ctx.splits.train)} rows")
        self.demos = pick_demonstrations(ctx.splits.train, self.config.shots, seed, self.spec.labels, self.config.balanced)
        info = PrepareFacts(mode=self.mode, shots=len(self.demos), demonstration_ids=[s.id for s in self.demos])
        if self.mode == "choice" and self.config.calibrate and ctx.backend is not None:
            labels = tuple(self.spec.labels or ())
            probes = [ChoiceRequest(self.parts(Sample(id="content-free", input=text, target="")).messages(), self.choices(),
                                    adapter=self.adapter) for text in CONTENT_FREE]
            scores = ctx.backend.score_choices(probes)
            self.offsets = [sum(s.logprobs[j] for s in scores) / len(scores) for j in range(len(labels))]
            info.calibration = Calibration(content_free_inputs=list(CONTENT_FREE),
                                           label_logprob_offsets=dict(zip(labels, (round(x, 4) for x in self.offsets))))
        return info

    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        """Requests and prompt tokens (real tokenizer, after context fitting) without running the model."""
        seed = self.config.seed if self.config.seed is not None else ctx.seed
        self.demos = pick_demonstrations(ctx.splits.train, min(self.config.shots, len(ctx.splits.train)), seed,
                                         self.spec.labels, self.config.balanced)
        max_new = self.config.max_new_tokens or self.spec.generation.max_new_tokens
        out = Estimate(requests=len(test))
        if ctx.backend is None:
            out.notes.append("no backend: tokens not counted")
            return out
        fitted = fit_prompts([self.parts(s) for s in test], ctx.backend, max_new if self.mode == "generate" else 8)
        out.prompt_tokens = sum(info.prompt_tokens for _, info in fitted)
        shared = fitted[0][0].messages()[:-1] if fitted else []  # system + demonstrations, same in every prompt
        if shared and len(fitted) > 1 and ctx.backend.info.extra.get("prefix_caching") == "on":
            prefix = ctx.backend.count_tokens([shared])[0]
            out.cached_prompt_tokens = min(prefix * (len(fitted) - 1), out.prompt_tokens)
            out.notes.append(f"~{prefix} shared prefix tokens computed once (prefix caching)")
        if self.mode == "choice":
            calibration = len(CONTENT_FREE) if self.config.calibrate else 0
            out.choice_requests = len(test) + calibration
            if calibration:
                out.notes.append(f"+{calibration} calibration requests (content-free inputs)")
        else:
            out.completion_tokens = max_new * len(test)
            out.notes.append(f"generated tokens are an upper bound ({max_new} per request)")
        return out

    def parts(self, sample: Sample) -> PromptParts:
        demos = tuple((self.config.template.replace("{input}", d.input), d.target) for d in self.demos)
        return PromptParts(system=self.system_prompt(), input=sample.input, template=self.config.template, demos=demos,
                           chat=self.config.chat)

    def choices(self) -> tuple[str, ...]:
        """The label strings scored after the prompt (plain prompts: lm-eval's ' label')."""
        prefix = "" if self.config.chat else PLAIN_LABEL_PREFIX
        return tuple(prefix + label for label in self.spec.labels or ())

    def predict(self, samples: list[Sample], backend: Backend) -> list[Prediction]:
        gen = self.spec.generation
        max_new = self.config.max_new_tokens or gen.max_new_tokens
        if self.mode == "choice":
            labels = list(self.spec.labels or [])
            reserve = max(backend.count_tokens([[{"role": "assistant", "content": lab}]])[0] for lab in labels)
        else:
            reserve = max_new
        fitted = fit_prompts([self.parts(s) for s in samples], backend, reserve)
        if self.mode == "choice":
            requests = [ChoiceRequest(messages=p.messages(), choices=self.choices(), adapter=self.adapter) for p, _ in fitted]
            results = backend.score_choices(requests)
            preds = []
            for s, (_, info), r in zip(samples, fitted, results):
                extra = SampleExtra(choice_logprobs=dict(zip(labels, (round(x, 4) for x in r.logprobs))))
                ranked = r.logprobs
                if self.config.length_normalize:
                    ranked = [lp / max(1, n) for lp, n in zip(r.logprobs, r.choice_tokens)]
                if self.offsets is not None:
                    ranked = [x - o for x, o in zip(ranked, self.offsets)]
                    extra.calibrated = dict(zip(labels, (round(x, 4) for x in ranked)))
                best = labels[max(range(len(labels)), key=ranked.__getitem__)] if r.error is None else None
                if info.notes:
                    extra.fit = info.notes
                preds.append(Prediction(s.id, best, best or "", r.prompt_tokens, 0, r.latency_s, None, r.error, extra,
                                        cached=r.cached))
            return preds
        requests = [GenerateRequest(messages=p.messages(), max_new_tokens=max_new, temperature=gen.temperature,
                                    stop=tuple(gen.stop), adapter=self.adapter) for p, _ in fitted]
        results = backend.generate(requests)
        preds = []
        for s, (_, info), g in zip(samples, fitted, results):
            if self.spec.type == "classification":
                answer = match_label(g.text, self.spec.labels or [])
            elif self.spec.type == "generation":
                answer = g.text.strip()
            else:
                answer = extract_answer(g.text)
            extra = SampleExtra(finish_reason=g.finish_reason, fit=info.notes or None)
            preds.append(Prediction(s.id, answer, g.text, g.prompt_tokens, g.completion_tokens, g.latency_s,
                                    g.ttft_s, g.error, extra, tpot_s=g.tpot_s, cached=g.cached))
        return preds
