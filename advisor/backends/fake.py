"""A deterministic backend for tests and dry pipelines: no model, answers in microseconds.

Registered like a real backend (`--backend fake`) so the whole pipeline runs in seconds.
Its behaviour is simple enough for tests to predict:
- `generate` answers with the first word of the last user message (so an input that starts
  with its target is answered correctly);
- `score_choices` prefers a choice that occurs in the last user message (case-insensitive),
  then breaks ties by a stable hash;
- tokens are whitespace-separated words plus 4 per message for the template.

Two environment settings serve crash and signal tests that drive the CLI in a child
process: ADVISOR_FAKE_DELAY_S (seconds each request takes, so a kill lands mid-run) and
ADVISOR_FAKE_ANSWER_LOG (a file that gets the last user message of every request
answered, one JSON string a line, so a test can tell which samples were answered again).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Callable

from advisor.backends.base import (
    Backend, BackendDescription, BackendInfo, ChoiceRequest, ChoiceScores, GenerateRequest, Generation, Message,
)
from advisor.spec.model import TaskSpec

__all__ = ["FakeBackend"]


def _last_user(messages: list[Message]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def _count_tokens(conversations: list[list[Message]]) -> list[int]:
    return [sum(len(m["content"].split()) + 4 for m in conv) for conv in conversations]


def _hash01(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


class FakeBackend(Backend):
    """Deterministic stand-in for a model server."""

    name = "fake"

    def __init__(self, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> None:
        super().__init__(spec, status=status)
        self.context_length = spec.model.max_context or 2048
        self.calls: list[int] = []  # batch sizes seen, for tests of batching
        self.info = BackendInfo(name=self.name, model=spec.model.name, model_id="fake", device="cpu", dtype="none")
        self.delay_s = float(os.environ.get("ADVISOR_FAKE_DELAY_S") or 0)
        self.answer_log = os.environ.get("ADVISOR_FAKE_ANSWER_LOG") or None

    def _answered(self, messages: list[Message]) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.answer_log:
            with open(self.answer_log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(_last_user(messages)) + "\n")

    @classmethod
    def describe(cls, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> BackendDescription:
        """Like a real backend: identity and token counts now, the backend itself at the first cache miss."""
        info = BackendInfo(name=cls.name, model=spec.model.name, model_id="fake", device="cpu", dtype="none")
        return BackendDescription(spec=spec, info=info, context_length=spec.model.max_context or 2048,
                                  count_tokens=_count_tokens, build=lambda: cls(spec, status=status))

    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        return _count_tokens(conversations)

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        self.calls.append(len(requests))
        out = []
        for r in requests:
            started = time.perf_counter()
            self._answered(r.messages)
            words = _last_user(r.messages).split()
            text = words[0] if words else ""
            prompt_tokens = self.count_tokens([r.messages])[0]
            out.append(Generation(text=text, prompt_tokens=prompt_tokens, completion_tokens=1 if text else 0,
                                  latency_s=time.perf_counter() - started, ttft_s=0.0))
        return out

    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]:
        self.calls.append(len(requests))
        out = []
        for r in requests:
            started = time.perf_counter()
            self._answered(r.messages)
            last = _last_user(r.messages).lower()
            scores = [(-1.0 if c.lower() in last else -5.0) - _hash01(last + "|" + c) for c in r.choices]
            out.append(ChoiceScores(logprobs=scores, choice_tokens=[len(c.split()) for c in r.choices],
                                    prompt_tokens=self.count_tokens([r.messages])[0],
                                    latency_s=time.perf_counter() - started))
        return out

