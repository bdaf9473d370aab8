"""The `openai` backend: any OpenAI-compatible chat endpoint (a hosted model as a baseline,
or a server someone else runs).

Generation streams `/v1/chat/completions` with `serving.concurrency` requests in flight and
measures each request's own end-to-end latency, time to first content token (TTFT) and time
per output token (TPOT), perf_counter seconds on this side. Tokens come from the
response's usage block, which is what a hosted API bills; the pricing block's per-1M-token
rates turn them into cost. The API key is read from the environment variable that
`serving.api_key_env` names, sent only as a Bearer header, and never recorded or logged.

Choice scoring needs log-probabilities of the prompt's tokens, which chat APIs do not give:
such an arm fails with a clear message (use `mode: generate`, or the `vllm` backend).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

from advisor.backends.base import (
    Backend, BackendInfo, ChoiceRequest, ChoiceScores, GenerateRequest, Generation, Message, ServingStats,
)
from advisor.backends.http import HttpClient, HttpError
from advisor.backends.vllm_backend import tpot
from advisor.errors import UserError
from advisor.spec.model import TaskSpec

__all__ = ["OpenAIBackend"]

CHARS_PER_TOKEN = 3  # a conservative estimate when no local tokenizer is known (English BPE ~ 4)


class OpenAIBackend(Backend):
    """Chat completions over HTTP against `serving.base_url`."""

    name = "openai"
    def __init__(self, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> None:
        super().__init__(spec, status=status)
        model = spec.model
        self.serving = serving = spec.serving
        if not serving.base_url:
            raise UserError("the openai backend needs serving.base_url (e.g. https://api.example.com/v1)")
        key = None
        if serving.api_key_env:
            key = os.environ.get(serving.api_key_env)
            if not key:
                raise UserError(f"environment variable {serving.api_key_env} (named by serving.api_key_env) is unset "
                                "or empty; export the API key there")
        base_url = serving.base_url.rstrip("/").removesuffix("/v1")
        self.client = HttpClient(base_url, api_key=key, timeout_s=serving.request_timeout_s, retries=serving.retries,
                                 concurrency=serving.concurrency)
        self.served = serving.served_model or model.name
        self.context_length = model.max_context or 8192
        self.tokenizer, how = self._tokenizer(serving.tokenizer or model.name)
        self._check_model(base_url)
        self.info = BackendInfo(name=self.name, model=self.served, model_id=f"api:{self.served}", device="remote",
                                dtype="unknown", extra={"base_url": base_url, "token_counting": how,
                                                        "concurrency": str(serving.concurrency)})

    @staticmethod
    def _tokenizer(name: str):
        """A local chat tokenizer for counting prompt tokens when one is known, else None."""
        from advisor.artifacts.models import KNOWN_MODELS, resolve_model

        if name in KNOWN_MODELS or Path(name).expanduser().is_dir():
            from advisor.backends.chat_tokens import ChatTokenizer

            return ChatTokenizer(resolve_model(name).path), f"local tokenizer {name}"
        return None, f"estimated ({CHARS_PER_TOKEN} characters per token) until the server reports usage"

    def _check_model(self, base_url: str) -> None:
        try:
            status, body = self.client.get("/v1/models")
        except HttpError as exc:
            raise UserError(f"cannot reach {base_url} (serving.base_url): {exc}") from None
        if status in (401, 403):
            raise UserError(f"{base_url} refused the API key (HTTP {status}); check serving.api_key_env")
        if status == 200:
            names = [m.get("id") for m in json.loads(body or b"{}").get("data", [])]
            if names and self.served not in names:
                raise UserError(f"{base_url} does not list model {self.served!r} (it lists: "
                                f"{', '.join(map(str, names[:10]))})", hint="set serving.served_model")

    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        if self.tokenizer is not None:
            return [len(self.tokenizer.prompt_ids(m)) for m in conversations]
        return [sum(4 + math.ceil(len(m["content"]) / CHARS_PER_TOKEN) for m in conv) + 2 for conv in conversations]

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        def is_token(event: dict[str, Any]) -> bool:
            return any((c.get("delta") or {}).get("content") for c in event.get("choices") or [])

        def one(r: GenerateRequest) -> Generation:
            body: dict[str, Any] = {"model": r.adapter or self.served, "messages": r.messages,
                                    "max_tokens": r.max_new_tokens, "temperature": r.temperature,
                                    "stream_options": {"include_usage": True}}
            if r.stop:
                body["stop"] = list(r.stop)[:4]  # the OpenAI API takes at most 4
            estimate = self.count_tokens([r.messages])[0]
            try:
                res = self.client.stream("/v1/chat/completions", body, is_token)
            except HttpError as exc:
                return Generation("", estimate, 0, 0.0, None, "error", str(exc))
            text, finish, usage = [], "stop", {}
            for event in res.events:
                for c in event.get("choices") or []:
                    text.append((c.get("delta") or {}).get("content") or "")
                    finish = c.get("finish_reason") or finish
                usage = event.get("usage") or usage
            reply = "".join(text)
            for s in r.stop:
                if s and s in reply:
                    reply = reply[: reply.index(s)]
            latency = res.done - res.sent
            ttft = None if res.first_token is None else res.first_token - res.sent
            tokens = int(usage.get("completion_tokens", sum(1 for t in text if t)))
            gen = Generation(reply, int(usage.get("prompt_tokens", estimate)), tokens, latency, ttft, finish)
            gen.tpot_s, gen.retries = tpot(latency, ttft, tokens), res.retries
            return gen

        return self.client.map(one, requests)

    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]:
        raise UserError("the openai backend cannot score choices: chat APIs give no log-probabilities of the "
                        "prompt's tokens", hint="give this arm `mode: generate`, or use the vllm backend")

    def stats(self) -> ServingStats:
        c = self.client.counters
        return ServingStats(http_requests=c.requests, http_retries=c.retries, http_failed=c.failed,
                            concurrency=self.serving.concurrency)

    def close(self) -> None:
        self.client.close()
