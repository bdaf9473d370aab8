"""In-process transformers backend: the embedded default, on CPU or CUDA.

Generation is batched, greedy by default, and stops on the chat template's end-of-turn
token. Choice scoring ranks fixed answers by the summed log-probability of their tokens
after the prompt, computing each prompt once whatever the number of labels (choice_pass.py).
Batches are length buckets (batching.py): rows of similar length, fewer rows for long inputs.

Prefix caching: requests of one arm share their system prompt and demonstrations, so the
longest token prefix common to a call's prompts is run once, its key/value cache copied
to every row, and only each request's own tokens are computed (vLLM does the same with
automatic prefix caching). Rows are laid out as prefix + padding + own tokens; the
attention mask hides the padding and position ids follow the mask, so results equal the
uncached computation (checked in tests). Times are wall-clock seconds from
`time.perf_counter`; a request's latency is the wall time of the batch that carried it,
including its share of computing the prefix.
"""

from __future__ import annotations

import copy
import inspect
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from advisor.backends.base import (
    Backend, BackendDescription, BackendInfo, ChoiceRequest, ChoiceScores, GenerateRequest, Generation, Message,
)
from advisor.backends.batching import grouped_buckets
from advisor.backends.chat_tokens import ChatTokenizer
from advisor.backends.choice_pass import score_rows
from advisor.artifacts.models import resolve_model
from advisor.backends.dtype import resolve_dtype
from advisor.spec.model import TaskSpec
from advisor.threads import torch_threads

__all__ = ["TransformersBackend", "common_prefix_length"]

MIN_PREFIX = 16  # tokens: below this a shared prefix saves less than copying its cache costs
PREFIX_SLOTS = 4  # prefix caches kept between calls (one per arm/adapter in flight)


def common_prefix_length(prompts: list[list[int]]) -> int:
    """Tokens shared by all prompts, leaving at least one own token in each."""
    if not prompts:
        return 0
    limit = min(len(p) for p in prompts) - 1
    first = prompts[0]
    n = 0
    while n < limit and all(p[n] == first[n] for p in prompts):
        n += 1
    return n


class _FirstTokenClock:
    """A stopping criterion that never stops: it notes when the first new token exists."""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self.first is None:
            self.first = time.perf_counter()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@dataclass
class _Described:
    """What the backend knows before loading weights (shared by `describe` and the loaded backend)."""

    device: str
    dtype: str
    resolved: Any  # advisor.artifacts.models.ResolvedModel
    chat: ChatTokenizer
    context_length: int
    info: BackendInfo


def _describe(spec: TaskSpec, status: Callable[[str], None] | None) -> _Described:
    """Device, dtype, model identity (the artifact cache's pointer), tokenizer and context length
    (config.json's max_position_embeddings, capped by `model.max_context`): everything but the weights."""
    import torch
    from transformers import AutoConfig

    model = spec.model
    with torch_threads(model.threads):
        device = model.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype, dtype_why = resolve_dtype(model.dtype, device)
        resolved = resolve_model(model.name, dtype, status=status)
        chat = ChatTokenizer(resolved.path)
        if chat.tokenizer.pad_token_id is None:
            chat.tokenizer.pad_token = chat.tokenizer.eos_token
        cfg_len = getattr(AutoConfig.from_pretrained(resolved.path), "max_position_embeddings", None) or 2048
        info = BackendInfo(
            name=TransformersBackend.name, model=model.name, model_id=resolved.model_id, device=device, dtype=dtype,
            dtype_choice=dtype_why,
            threads=(model.threads or torch.get_num_threads()) if device == "cpu" else None,
            extra={"path": str(resolved.path), "source": resolved.source, "prefix_caching": "on"},
        )
    return _Described(device, dtype, resolved, chat, min(model.max_context or cfg_len, cfg_len), info)


class TransformersBackend(Backend):
    """Runs a causal LM in this process with transformers."""

    name = "transformers"

    def __init__(self, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> None:
        super().__init__(spec, status=status)
        self._setup(spec, _describe(spec, status))

    def _setup(self, spec: TaskSpec, described: _Described) -> None:
        self._threads = spec.model.threads  # set for each call and restored after it (torch's setting is process-wide)
        with torch_threads(self._threads):
            self._load_model(spec, described)

    @classmethod
    def _built_from(cls, spec: TaskSpec, status: Callable[[str], None] | None, described: _Described) -> "TransformersBackend":
        """The backend for an earlier `describe` (its tokenizer and info reused; the weights loaded now)."""
        backend = cls.__new__(cls)
        Backend.__init__(backend, spec, status=status)
        backend._setup(spec, described)
        return backend

    @classmethod
    def describe(cls, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> BackendDescription:
        """Identity, context length and token counts from the tokenizer and config.json; no weights loaded."""
        d = _describe(spec, status)
        return BackendDescription(spec=spec, info=d.info, context_length=d.context_length,
                                  count_tokens=lambda convs: [len(d.chat.prompt_ids(m)) for m in convs],
                                  build=lambda: cls._built_from(spec, status, d))

    def _load_model(self, spec: TaskSpec, d: _Described) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        device, dtype, path = d.device, d.dtype, d.resolved.path
        self.device = device
        self.batch_size = spec.generation.batch_size
        self.chat = d.chat  # template, end-of-turn ids, memo: shared with vllm and LoRA
        self.tokenizer = self.chat.tokenizer
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).to(device)
        self.model.eval()
        self.context_length = d.context_length
        self.eos_ids = self.chat.eos_ids
        self._adapters: dict[str, tuple[str, str]] = {}  # adapter folder -> (peft type, adapter name)
        self._hosts: dict[str, Any] = {}  # peft type -> the PeftModel holding that type's adapters
        self._base = self.model  # the plain model (LoRA-type layers switched off for base requests)
        self._load = lambda path=path: AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, dtype)).to(device)
        self._virtual = 0  # soft-prompt tokens the active adapter puts before every prompt (prompt tuning)
        self._prefixes: OrderedDict[tuple, Any] = OrderedDict()
        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.2x
        self._can_keep = "logits_to_keep" in params
        self.info = d.info

    # -- prompts -------------------------------------------------------------------------
    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids after the chat template; memoised because arms count tokens to fit the
        context and then send the same conversations."""
        return self.chat.prompt_ids(messages)

    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        return [len(self._prompt_ids(m)) for m in conversations]

    # -- adapters ------------------------------------------------------------------------
    def _use_adapter(self, adapter: str | None) -> None:
        """Switch to a PEFT adapter (loaded once) or back to the base model.

        peft is used directly (the first adapter of a type wraps a model in a PeftModel,
        later ones of that type are added to it) rather than through transformers'
        `load_adapter`, which demands a newer peft than the one installed. peft cannot hold
        adapters of different types (LoRA/DoRA, IA3, prompt tuning) in one model, so each
        type gets its own host: the first layer-injecting type wraps the shared base (its
        layers are switched off for base requests), any other type a fresh copy of the base.
        Models are put back in eval mode after loading: new adapter layers start in training
        mode, and their dropout would make scores random.
        """
        if adapter is None:
            for host in self._hosts.values():
                if getattr(host.base_model, "model", None) is self._base:
                    host.base_model.disable_adapter_layers()
            self.model, self._virtual = self._base, 0
            return
        if adapter not in self._adapters and not os.path.isfile(os.path.join(adapter, "adapter_config.json")):
            # a whole fine-tuned model folder (full-ft): its own host, same tokenizer
            self._hosts[f"full:{adapter}"] = self._load(adapter).eval()
            self._adapters[adapter] = (f"full:{adapter}", "")
        if adapter not in self._adapters:
            from peft import PeftConfig, PeftModel

            config = PeftConfig.from_pretrained(adapter)
            kind, name = str(config.peft_type), f"a{len(self._adapters)}"
            if kind not in self._hosts:
                shares = not config.is_prompt_learning and not any(
                    getattr(h.base_model, "model", None) is self._base for h in self._hosts.values())
                base = self._base if shares else self._load()
                self._hosts[kind] = PeftModel.from_pretrained(base, adapter, adapter_name=name, is_trainable=False)
            else:
                self._hosts[kind].load_adapter(adapter, adapter_name=name, is_trainable=False)
            self._hosts[kind].eval()
            self._adapters[adapter] = (kind, name)
        kind, name = self._adapters[adapter]
        host = self._hosts[kind]
        if kind.startswith("full:"):
            self.model, self._virtual = host, 0
            return
        host.set_adapter(name)
        config = host.peft_config[name]
        if config.is_prompt_learning:
            self._virtual = config.num_virtual_tokens
        else:
            host.base_model.enable_adapter_layers()
            self._virtual = 0
        self.model = host

    def _groups(self, requests: list[Any], key, lengths: list[int]) -> list[list[int]]:
        """Indices grouped by `key`, cut into length buckets (see advisor.backends.batching)."""
        return grouped_buckets(requests, key, lengths, self.batch_size)

    def _soft_prompt_scores(self, prompts, idx, n, cache, requests, choice_ids, pad) -> list[list[float]]:
        """Choice log-probs for a prompt-tuned adapter: prompt + label rows, outputs shifted by
        the soft prompt's length (the one-pass scorer assumes positions line up with tokens)."""
        import torch

        seqs, spans = [], []  # spans: (request, choice index, start of choice in row, length)
        for i in idx:
            for c, choice in enumerate(requests[i].choices):
                own = prompts[i][n:]
                spans.append((i, c, len(own), len(choice_ids[choice])))
                seqs.append(own + choice_ids[choice])
        width = max(len(s) for s in seqs)
        input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=self.device)
        attention = torch.tensor([[1] * (n + len(s)) + [0] * (width - len(s)) for s in seqs], device=self.device)
        lo = min(start for _, _, start, _ in spans) - 1
        hi = max(start + length for _, _, start, length in spans) - 1
        v = self._virtual
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=attention,
                                **self._rows_cache(cache, len(seqs))).logits[:, lo + v:hi + v]
            results: dict[int, list[float]] = {i: [0.0] * len(requests[i].choices) for i in idx}
            for row, (i, c, start, length) in enumerate(spans):
                logprobs = torch.log_softmax(logits[row, start - 1 - lo:start - 1 - lo + length].float(), dim=-1)
                targets = input_ids[row, start:start + length].unsqueeze(-1)
                results[i][c] = float(logprobs.gather(-1, targets).sum())
        return [results[i] for i in idx]

    # -- prefix cache --------------------------------------------------------------------
    def _prefix(self, prompts: list[list[int]], adapter: str | None) -> tuple[int, Any]:
        """(length, cache) of the prefix shared by `prompts`; (0, None) when too short."""
        n = common_prefix_length(prompts)
        if n < MIN_PREFIX or self._virtual:  # a soft prompt goes before the prefix: no reusable cache
            return 0, None
        key = (adapter, tuple(prompts[0][:n]))
        if key not in self._prefixes:
            import torch

            with torch.inference_mode():
                out = self.model(input_ids=torch.tensor([prompts[0][:n]], device=self.device), use_cache=True)
            self._prefixes[key] = out.cache if hasattr(out, "cache") else out.past_key_values
            while len(self._prefixes) > PREFIX_SLOTS:
                self._prefixes.popitem(last=False)
        self._prefixes.move_to_end(key)
        return n, self._prefixes[key]

    def _rows_cache(self, cache: Any, rows: int) -> dict[str, Any]:
        if cache is None:
            return {}
        copied = copy.deepcopy(cache)
        copied.batch_repeat_interleave(rows)
        return {self._cache_kw: copied}

    # -- generation ----------------------------------------------------------------------
    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        with torch_threads(self._threads):
            return self._generate(requests)

    def _generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        import torch
        from transformers import StoppingCriteriaList

        out: list[Generation | None] = [None] * len(requests)
        prompts = [self._prompt_ids(r.messages) for r in requests]
        pad = self.tokenizer.pad_token_id
        lengths = [len(p) + r.max_new_tokens for p, r in zip(prompts, requests)]
        for idx in self._groups(requests, lambda r: (r.adapter, r.max_new_tokens, r.temperature, r.stop), lengths):
            first = requests[idx[0]]
            started = time.perf_counter()
            self._use_adapter(first.adapter)
            n, cache = self._prefix([p for p, r in zip(prompts, requests) if r.adapter == first.adapter], first.adapter)
            own = [prompts[i][n:] for i in idx]
            width = max(len(o) for o in own)
            prefix = prompts[idx[0]][:n]
            # prefix + left padding + own tokens: the prefix sits at the same positions in every row
            input_ids = torch.tensor([prefix + [pad] * (width - len(o)) + o for o in own], device=self.device)
            attention = torch.tensor([[1] * n + [0] * (width - len(o)) + [1] * len(o) for o in own], device=self.device)
            clock = _FirstTokenClock()
            kwargs: dict[str, Any] = dict(max_new_tokens=first.max_new_tokens, eos_token_id=self.eos_ids, pad_token_id=pad,
                                          stopping_criteria=StoppingCriteriaList([clock]), **self._rows_cache(cache, len(idx)))
            if first.temperature > 0:
                kwargs.update(do_sample=True, temperature=first.temperature)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.inference_mode():
                generated = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
            elapsed = time.perf_counter() - started
            ttft = (clock.first - started) if clock.first is not None else None
            for row, i in enumerate(idx):
                text, completion, finish = self.chat.decode_reply(generated[row, n + width:].tolist(), first.stop)
                out[i] = Generation(text=text, prompt_tokens=len(prompts[i]), completion_tokens=completion,
                                    latency_s=elapsed, ttft_s=ttft, finish_reason=finish)
        return [g for g in out if g is not None]

    # -- choice scoring ------------------------------------------------------------------
    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]:
        """Every label of a request scored from one pass over its prompt (advisor.backends.choice_pass)."""
        with torch_threads(self._threads):
            return self._score_choices(requests)

    def _score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]:
        import torch

        out: list[ChoiceScores | None] = [None] * len(requests)
        prompts = [self._prompt_ids(r.messages) for r in requests]
        choice_ids = {c: self.tokenizer(c, add_special_tokens=False)["input_ids"] for r in requests for c in r.choices}
        for c, ids in choice_ids.items():
            if not ids:
                raise ValueError(f"choice {c!r} has no tokens")
        pad = self.tokenizer.pad_token_id
        for idx in self._groups(requests, lambda r: r.adapter, [len(p) for p in prompts]):
            started = time.perf_counter()
            adapter = requests[idx[0]].adapter
            self._use_adapter(adapter)
            n, cache = self._prefix([p for p, r in zip(prompts, requests) if r.adapter == adapter], adapter)
            if self._virtual:  # a soft prompt (prompt tuning) shifts every output position: one row per label
                scores = self._soft_prompt_scores(prompts, idx, n, cache, requests, choice_ids, pad)
            else:
                with torch.inference_mode():
                    scores = score_rows(self.model, own=[prompts[i][n:] for i in idx], prefix_len=n,
                                        cache=self._rows_cache(cache, len(idx)).get(self._cache_kw),
                                        labels=[[choice_ids[c] for c in requests[i].choices] for i in idx],
                                        pad=pad, device=self.device, cache_kw=self._cache_kw, can_keep=self._can_keep)
            elapsed = time.perf_counter() - started
            for i, logprobs in zip(idx, scores):
                out[i] = ChoiceScores(logprobs=logprobs, choice_tokens=[len(choice_ids[c]) for c in requests[i].choices],
                                      prompt_tokens=len(prompts[i]), latency_s=elapsed)
        return [s for s in out if s is not None]

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
