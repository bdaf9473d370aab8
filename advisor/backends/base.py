"""The backend protocol every model server implements, and the types it trades in.

A backend takes a whole list of requests at once (so vLLM or a batched transformers loop
can schedule them) and returns one result per request, in order, each with the tokens it
used and the time it took. An adapter (LoRA) is part of a request's model identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "Message", "GenerateRequest", "Generation", "ChoiceRequest", "ChoiceScores", "Backend",
    "BackendInfo", "PLAIN_ROLE",
]

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}
# A conversation of one message with this role is a plain-text prompt: tokenised as it is,
# without the chat template (the prompting arm's `chat: false`, lm-evaluation-harness's format).
PLAIN_ROLE = "plain"


@dataclass(frozen=True)
class GenerateRequest:
    """Generate a reply to a chat conversation."""

    messages: list[Message]
    max_new_tokens: int = 32
    temperature: float = 0.0  # 0 = greedy
    stop: tuple[str, ...] = ()
    adapter: str | None = None  # path or served name of a LoRA adapter; None = base model


@dataclass
class Generation:
    """A reply with what it cost: tokens, and times in seconds measured with perf_counter.

    `latency_s` is the wall time from handing the request's batch to the model until its
    reply was complete (a request in a batch of 8 waits for the batch); `ttft_s` is the time
    to the first generated token where the backend can see it.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    ttft_s: float | None = None
    finish_reason: str = "stop"  # stop | length | error
    error: str | None = None
    tpot_s: float | None = None  # time per output token after the first, where the backend streams
    retries: int = 0  # transient HTTP errors retried before this answer (HTTP backends)


@dataclass(frozen=True)
class ChoiceRequest:
    """Rank fixed answers (label strings) by their log-likelihood after the conversation."""

    messages: list[Message]
    choices: tuple[str, ...]
    adapter: str | None = None


@dataclass
class ChoiceScores:
    """Summed log-probability (nats) of each choice's tokens, and the measured cost."""

    logprobs: list[float]
    choice_tokens: list[int]
    prompt_tokens: int
    latency_s: float
    error: str | None = None


@dataclass(frozen=True)
class BackendInfo:
    """What the record says about the backend that produced an arm's numbers."""

    name: str
    model: str
    model_id: str  # content identity of the weights (hash) where known
    device: str
    dtype: str
    threads: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """What the runner and the arms need from a model server."""

    info: BackendInfo
    context_length: int

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]: ...

    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]: ...

    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        """Prompt tokens each conversation takes after the chat template."""
        ...

    def close(self) -> None: ...
