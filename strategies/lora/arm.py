"""The LoRA arm: fine-tune a peft adapter on the train split, then answer through the same
backend as every other arm with the adapter as part of the model identity.

Prompts are the prompting arm's zero-shot prompts (same system prompt, template, chat
template, choice scoring), built by an inner `PromptingStrategy` that carries the adapter,
so the only difference between `prompting` and `lora` in a run is the adapter.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from advisor.backends.base import Backend, Message
from advisor.spec.data import Sample
from advisor.errors import UserError
from advisor.artifacts.models import resolve_model
from advisor.spec.model import TaskSpec
from advisor.evaluation.record import SampleRow
from advisor.evaluation.sections import ArmDetails, ForgettingRisk, LoraRisks, OneOffCost, PrepareFacts, TrainingFacts
from advisor.evaluation.strategy import Estimate, PrepareContext, Prediction, Strategy
from strategies.lora import cache
from strategies.lora.config import TRAINING_FIELDS, LoraArmConfig, resolve_schedule
from strategies.lora.data import LengthReport, auto_max_length, data_hash, encode, example_lengths
from strategies.lora.risks import forgetting_probe, leakage, overfitting
from strategies.prompting.arm import PromptingConfig, PromptingStrategy
from strategies.search_spaces import always_seeded, lora_fixed, lora_space

__all__ = ["LoraStrategy"]


class LoraStrategy(Strategy):
    """LoRA fine-tuning with validation and early stopping; registered as `lora`."""

    Config = LoraArmConfig
    search_space = staticmethod(lora_space)
    tuning_fixed = staticmethod(lora_fixed)
    trial_only = ("forgetting_probe",)  # tuning skips the probe; the tuned arm's test run measures it
    seed_dependent = staticmethod(always_seeded)

    config: LoraArmConfig

    def __init__(self, config: LoraArmConfig, spec: TaskSpec) -> None:
        super().__init__(config, spec)
        self.prompting = self._prompting(config.max_new_tokens)
        self.serving: Any = self.prompting  # what answers test inputs (hybrids serve with retrieval)
        self.mode = self.prompting.mode
        self.train: list[Sample] = []
        self.meta: dict[str, Any] = {}  # the adapter's meta.json (cache file, read and written here only)
        self.training: TrainingFacts | None = None
        self.forgetting: ForgettingRisk | None = None
        self.serving_info: PrepareFacts = PrepareFacts()

    def _prompting(self, max_new_tokens: int | None) -> PromptingStrategy:
        c = self.config
        return PromptingStrategy(PromptingConfig(
            shots=0, mode=c.mode, template=c.template, instructions=c.instructions, max_new_tokens=max_new_tokens,
            calibrate=c.calibrate, length_normalize=c.length_normalize), self.spec)

    def _resolve(self, ctx: PrepareContext, train: list[Sample]) -> list[str]:
        """Fill the defaults that depend on the data: epochs from the examples and labels; in
        generate mode, the answer length from the longest training answer (+2 tokens)."""
        notes = []
        resolved = resolve_schedule(self.config, len(train), len(self.spec.labels or []) or 2)
        if resolved is not self.config:
            notes.append(f"epochs {resolved.epochs:g} chosen from {len(train)} train examples and "
                         f"{len(self.spec.labels or []) or 'no'} labels (default_epochs)")
            self.config = resolved
        if self.mode == "generate" and self.config.max_new_tokens is None and ctx.backend is not None and train:
            empty = ctx.backend.count_tokens([[{"role": "assistant", "content": ""}]])[0]
            lengths = ctx.backend.count_tokens([[{"role": "assistant", "content": s.target}] for s in train])
            longest = max(lengths) - empty + 2
            old, self.prompting = self.prompting, self._prompting(min(4096, max(1, longest)))
            if self.serving is old:  # plain LoRA serves with its prompting; hybrids keep their own
                self.serving = self.prompting
            notes.append(f"max_new_tokens {longest} from the longest training answer")
        return notes

    # -- checks --------------------------------------------------------------------------
    @classmethod
    def check_task(cls, spec: TaskSpec, config: LoraArmConfig) -> None:
        """Config problems found while validating the task file (before anything runs)."""
        if config.mode == "choice" and not spec.labels:
            raise UserError("mode 'choice' needs a label set (`labels`) in the task")
        if config.early_stop_metric == "val_accuracy" and not spec.labels:
            raise UserError("early_stop_metric val_accuracy needs a classification task with `labels`")
        if config.method != "lora" and spec.backend != "transformers":
            raise UserError(f"method {config.method!r} is served by the transformers backend only "
                            f"(backend {spec.backend!r} loads LoRA adapters)", hint="use method: lora or backend: transformers")
        if config.qlora:
            if config.merge_export:
                raise UserError("merge_export with qlora would merge into 4-bit weights; export from a bf16 run instead")
            if spec.model.device == "cpu":
                raise UserError("qlora needs a CUDA GPU but model.device is cpu")
            import torch

            if not torch.cuda.is_available():
                raise UserError("qlora needs a CUDA GPU (bitsandbytes 4-bit) and none is available here",
                                hint="set qlora: false (LoRA in fp32/bf16 runs on CPU)")
            import importlib.util

            if importlib.util.find_spec("bitsandbytes") is None:
                raise UserError("qlora needs the bitsandbytes package", hint="pip install bitsandbytes")

    # -- inputs of training --------------------------------------------------------------
    def _seed(self, ctx: PrepareContext) -> int:
        return self.config.seed if self.config.seed is not None else ctx.seed

    def _splits(self, ctx: PrepareContext) -> tuple[list[Sample], list[Sample], str | None]:
        """(train, validation, note); with no validation split, 10% of train is held out."""
        train, val, note = list(ctx.splits.train), list(ctx.splits.validation), None
        if not val:
            rng = random.Random(self._seed(ctx))
            rng.shuffle(train)
            cut = max(1, len(train) // 10)
            val, train = train[:cut], train[cut:]
            note = f"the task has no validation split: {cut} train examples held out for validation"
        if self.config.max_train_examples:
            train = train[: self.config.max_train_examples]
        if self.config.eval_examples:
            val = val[: self.config.eval_examples]
        if not train:
            raise UserError(f"arm {ctx.arm_name!r}: no training examples left after holding out validation")
        return train, val, note

    def _key(self, ctx: PrepareContext, model_id: str, train: list[Sample], val: list[Sample]) -> str:
        fields = self.config.model_dump(mode="json")
        training = {k: fields[k] for k in TRAINING_FIELDS if k in fields}
        training.update(self.key_extra())
        return cache.adapter_key(model_id, data_hash(train, val), training, self._seed(ctx), self.prompting.system_prompt())

    def _base_dtype(self) -> str:
        """The base weights' dtype, as the in-process backend resolves `model.dtype` (auto included)."""
        from advisor.backends.dtype import resolve_dtype

        return resolve_dtype(self.spec.model.dtype, self._device()[0])[0]

    def key_extra(self) -> dict[str, Any]:
        """What a hybrid arm adds to the adapter key (e.g. retrieval settings); none here."""
        return {}

    def training_messages(self) -> Callable[[Sample], list[Message]]:
        """The conversation each training example is formatted as (the zero-shot prompt here)."""
        return lambda s: self.prompting.parts(s).messages()

    def train_options(self) -> dict[str, Any]:
        """Extra trainer options of a variant arm (full-ft trains every weight); none here."""
        return {}

    def prepare_serving(self, ctx: PrepareContext) -> PrepareFacts:
        """Prepare what answers test inputs once the adapter is set (hybrids may have done it before training)."""
        return self.serving.prepare(ctx)

    def _device(self) -> tuple[str, str]:
        import torch

        device = self.spec.model.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.config.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device == "cuda" else "float32"
        return device, dtype

    # -- prepare -------------------------------------------------------------------------
    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        self.check_task(self.spec, self.config)
        resolved = resolve_model(self.spec.model.name, self._base_dtype(), status=ctx.status)
        train, val, split_note = self._splits(ctx)
        resolve_notes = self._resolve(ctx, train)
        self.train = list(ctx.splits.train)
        key = self._key(ctx, resolved.model_id, train, val)
        found = cache.lookup(ctx.cache_dir, key)
        reused = found is not None
        if found is None:
            with cache.building(ctx.cache_dir, key) as (tmp, final, done):
                if done is None:
                    self._build(ctx, resolved, train, val, key, tmp, split_note)
            found = cache.lookup(ctx.cache_dir, key)
            assert found is not None
        folder, self.meta = found
        if reused:
            ctx.status(f"LoRA adapter {key} reused from the cache (trained {self.meta['built']} in "
                       f"{self.meta['training']['wall_s']:.1f}s; that one-off cost stays in the record)")
        self.serving.adapter = str(folder)
        info = self.serving_info = self.prepare_serving(ctx)  # calibration (when on) through the adapter
        if self.config.forgetting_probe and ctx.backend is not None:
            self.forgetting = self._probe(ctx.backend, folder)
        self.training = TrainingFacts.model_validate({**self.meta["training"], "reused": reused,
                                                      "defaults_from_data": resolve_notes})
        cost = OneOffCost(kind="training", what="LoRA training", seconds=self.training.wall_s,
                          hardware=self.training.hardware, reused=reused, built=self.meta["built"], artifact=str(folder))
        return PrepareFacts(mode=self.mode, adapter=str(folder), cache_key=key, reused=reused, one_off=[cost],
                            training=self.training, calibration=info.calibration,
                            merged_model=str(folder / "merged") if (folder / "merged").is_dir() else None)

    def _build(self, ctx: PrepareContext, resolved: Any, train: list[Sample], val: list[Sample], key: str,
               out_dir: Path, split_note: str | None) -> None:
        from transformers import AutoTokenizer

        from strategies.lora.train import train_adapter

        device, dtype = self._device()
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        messages = self.training_messages()
        lengths = self._max_length(resolved.path, train, messages, tokenizer)
        n, overflow = lengths.max_length, self.config.overflow
        train_ex = encode(train, messages, tokenizer, n, overflow=overflow, report=lengths)
        val_ex = encode(val, messages, tokenizer, n, overflow=overflow)
        if not train_ex:
            raise UserError(f"every train example is longer than max_length {n} and overflow is 'skip'; "
                            "raise max_length or use overflow: truncate")
        if lengths.answer_cut or lengths.skipped:
            ctx.status(f"max_length {n}: {lengths.answer_cut} answers cut, {lengths.skipped} examples skipped, "
                       f"{lengths.prompt_cut} prompts cut of {lengths.examples}")
        choices = gold = None
        if self.config.early_stop_metric == "val_accuracy" and self.spec.labels and val:
            labels = list(self.spec.labels)
            choices = [encode(val, messages, tokenizer, n, answer=lambda s, lab=lab: lab) for lab in labels]
            gold = [labels.index(s.target) for s in val]
        ctx.status(f"training LoRA adapter {key} on {len(train_ex)} examples ({device}, {dtype})")
        r = train_adapter(resolved.path, train_ex, val_ex, self.config, seed=self._seed(ctx), device=device,
                          dtype=dtype, threads=self.config.threads or self.spec.model.threads, out_dir=out_dir,
                          pad_id=pad, choices=choices, gold=gold, status=ctx.status,
                          progress=lambda done, total, detail: ctx.step("LoRA training", done, total, detail),
                          init_text=self.prompting.system_prompt(), report=getattr(ctx, "report", None),
                          **self.train_options())
        if self.config.merge_export:
            tokenizer.save_pretrained(out_dir / "merged")
        hardware = device
        if device == "cuda":
            import torch

            hardware = f"cuda:{torch.cuda.get_device_name(0)}"
        training = {  # TrainingFacts' fields, kept in the adapter's meta.json
            "curves": {"train": r.train_curve, "validation": r.val_curve, "validation_accuracy": r.val_accuracy},
            "best_step": r.best_step, "stopped_early": r.stopped_early, "steps": r.steps, "planned_steps": r.planned_steps,
            "epochs": round(r.epochs, 4), "examples": {"train": len(train), "validation": len(val)},
            "trainable_params": r.trainable_params, "total_params": r.total_params,
            "trainable_share": round(r.trainable_params / max(1, r.total_params), 6),
            "tokens": r.tokens, "answer_tokens": r.answer_tokens,
            "tokens_per_s": round(r.tokens / max(1e-9, r.train_s), 1),
            "train_s": round(r.train_s, 3), "eval_s": round(r.eval_s, 3), "wall_s": round(r.wall_s, 3),
            "peak_memory_mb": round(r.peak_memory_mb, 1), "peak_memory_how": r.peak_memory_how,
            "hardware": "cuda" if device == "cuda" else "cpu", "hardware_detail": hardware, "dtype": dtype,
            "lengths": lengths.as_dict(),
            "threads": r.threads, "qlora": self.config.qlora,
            "method": r.resolved.get("method", self.config.method), "resolved": r.resolved, "notes": r.notes + ([split_note] if split_note else []),
            "how": ("tokens_per_s = non-padding tokens through forward+backward / train_s (optimizer steps only); "
                    "wall_s = model load + training + validations + save; losses are mean cross-entropy (nats) per "
                    "answer token"),
        }
        meta = {"key": key, "built": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "base_model": {"name": resolved.name, "model_id": resolved.model_id, "source": resolved.source},
                "data": {"hash": data_hash(train, val), "train_ids": len(train), "validation_ids": len(val)},
                "seed": self._seed(ctx), "arm_config": self.config.model_dump(mode="json"),
                "system_prompt": self.prompting.system_prompt(), "format": cache.FORMAT,
                "training": TrainingFacts.model_validate(training).model_dump(mode="json")}
        cache.write_meta(out_dir, meta)

    def _max_length(self, path: Any, train: list[Sample], messages: Any, tokenizer: Any) -> LengthReport:
        """The configured max_length, or one that follows the data (strategies.lora.data.auto_max_length)."""
        if self.config.max_length is not None:
            return LengthReport(self.config.max_length, "set in the arm config")
        from transformers import AutoConfig

        window = self.spec.model.max_context or int(getattr(AutoConfig.from_pretrained(path), "max_position_embeddings",
                                                            None) or 2048)
        value, how = auto_max_length(example_lengths(train, messages, tokenizer), window)
        return LengthReport(value, how)

    def _probe(self, backend: Backend, folder: Path) -> ForgettingRisk:
        """The forgetting probe, measured once per adapter and serving backend identity and
        kept in the adapter's meta: a reused adapter reports it without re-scoring."""
        info = backend.info
        who = f"{info.name}|{info.model_id}|{info.dtype}|{info.device}"
        probes = self.meta.setdefault("forgetting", {})
        if who in probes:
            return ForgettingRisk.model_validate({**probes[who], "reused": True})
        started = time.perf_counter()
        result = forgetting_probe(backend, str(folder))
        result.seconds, result.backend = round(time.perf_counter() - started, 3), who
        probes[who] = result.model_dump(mode="json")
        cache.write_meta(folder, self.meta)
        return result

    # -- predict and finish --------------------------------------------------------------
    def predict(self, samples: list[Sample], backend: Backend) -> list[Prediction]:
        if self.serving.adapter is None:
            raise RuntimeError("predict called before prepare: no adapter")
        return self.serving.predict(samples, backend)

    def finish(self, samples: list[Sample], rows: list[SampleRow]) -> ArmDetails:
        t = self.training or TrainingFacts()
        return ArmDetails(risks=LoraRisks(
            overfitting=overfitting(t.curves.train, t.curves.validation, t.best_step, t.stopped_early, t.steps),
            leakage=leakage(self.train, samples, self.config.leakage_ngram, self.config.leakage_threshold),
            forgetting=self.forgetting))

    # -- dry run ---------------------------------------------------------------------------
    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        from strategies.lora.train import plan_steps

        train, val, _ = self._splits(ctx)
        self._resolve(ctx, train)  # the data-dependent defaults the run would use
        steps, epochs = plan_steps(len(train), self.config)
        out = Estimate(requests=len(test))
        if ctx.backend is not None:
            messages = [self.prompting.parts(s).messages() for s in train]
            per_example = sum(ctx.backend.count_tokens(messages)) / len(messages) + 2  # + answer and end of turn
            examples_seen = min(steps * self.config.batch_size * self.config.grad_accum, round(epochs * len(train)))
            out.train_tokens = round(per_example * examples_seen)
            out.prompt_tokens = sum(ctx.backend.count_tokens([self.prompting.parts(s).messages() for s in test]))
        resolved = resolve_model(self.spec.model.name, self._base_dtype())
        if cache.lookup(ctx.cache_dir, self._key(ctx, resolved.model_id, train, val)) is not None:
            out.notes.append("adapter already in the cache: no training needed")
            steps, out.train_tokens = 0, 0
        out.training_steps = steps
        if self.mode == "choice":
            out.choice_requests = len(test)
        else:
            out.completion_tokens = len(test) * (self.config.max_new_tokens or self.spec.generation.max_new_tokens)
        out.notes.append(f"{len(train)} train / {len(val)} validation examples, {epochs:.2f} epochs")
        return out
