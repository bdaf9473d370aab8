"""The backend protocol every model server implements, and the types it trades in.

A backend takes a whole list of requests at once (so vLLM or a batched transformers loop
can schedule them) and returns one result per request, in order, each with the tokens it
used and the time it took. An adapter (LoRA) is part of a request's model identity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from advisor.spec.model import TaskSpec

__all__ = [
    "Message", "GenerateRequest", "Generation", "ChoiceRequest", "ChoiceScores", "Backend",
    "BackendInfo", "ServingStats", "PLAIN_ROLE", "CachedAnswer", "BackendDescription",
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


@dataclass(frozen=True)
class CachedAnswer:
    """An answer read from the response cache (advisor.backends.cache) instead of computed now.

    `busy_s` is the answer's share of the backend's busy seconds and `measured_at` the UTC time
    (ISO 8601) when it was computed; its latency fields keep the values measured then.
    """

    busy_s: float
    measured_at: str


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
    cached: CachedAnswer | None = None  # set when the response cache answered (no new cost)


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
    cached: CachedAnswer | None = None  # set when the response cache answered (no new cost)


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
    dtype_choice: str | None = None  # why this dtype (dtype auto: the hardware feature that decided)


@dataclass(frozen=True)
class BackendDescription:
    """What a backend says about itself before it loads a model or starts a server.

    The response cache (advisor.backends.cache) answers unchanged requests from this alone and
    calls `build` (the real backend, reusing the parts already loaded here, e.g. the tokenizer)
    only at the first request it must send. `info`, `context_length` and `count_tokens` must be
    exactly what the built backend reports.
    """

    spec: TaskSpec
    info: BackendInfo
    context_length: int
    count_tokens: Callable[[list[list[Message]]], list[int]]
    build: Callable[[], "Backend"]


class ServingStats(BaseModel):
    """HTTP backends: request counts, retries and (vLLM) server starts, kept in the record."""

    model_config = ConfigDict(extra="forbid")

    http_requests: int = 0
    http_retries: int = 0
    http_failed: int = 0
    concurrency: int | None = None
    server_starts: int | None = None
    startup_s: list[float] | float | None = None
    server_log: str | None = None


class Backend(ABC):
    """What the runner and the arms need from a model server.

    Every backend is built the same way, `cls(spec, status=...)`: it reads the model,
    generation and serving blocks it needs from the task spec. The optional hooks below
    have no-op defaults, so callers never probe for them.
    """

    name: ClassVar[str]
    info: BackendInfo
    context_length: int

    def __init__(self, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.status: Callable[[str], None] = status or (lambda msg: None)

    @classmethod
    def describe(cls, spec: TaskSpec, *, status: Callable[[str], None] | None = None) -> BackendDescription | None:
        """The backend's identity, context and token counting without loading the model (see
        BackendDescription); None where it cannot say them without building itself (then the
        response cache builds it at once)."""
        return None

    @abstractmethod
    def generate(self, requests: list[GenerateRequest]) -> list[Generation]: ...

    @abstractmethod
    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]: ...

    @abstractmethod
    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        """Prompt tokens each conversation takes after the chat template."""

    def take_failure(self) -> str | None:
        """A failure the runner should fail the current arm with (e.g. a server died); cleared once read."""
        return None

    def bind_run_dir(self, run_dir: Path) -> None:
        """The run directory exists now (a server backend keeps its log there)."""

    def stats(self) -> ServingStats | None:
        """What the record keeps about serving (HTTP backends); None for in-process ones."""
        return None

    def close(self) -> None:
        """Release the model, server process or connections."""
