"""A serving backend inside a Ray actor, shared by the arms on every worker of a cluster.

With `--executor ray`, a backend that would start its own model server (vLLM) is started
inside one Ray actor instead of in the driver: the actor asks for the GPUs the server needs
(`serving.tensor_parallel_size`, passed on to vLLM as --tensor-parallel-size), and every arm,
wherever Ray placed it, holds an `ActorBackend` whose calls go to that actor. The actor's
server is reachable only through the actor, so the arms need no network route to it; an
existing deployment (vLLM or Ray Serve with the OpenAI API) is attached with
`serving.base_url` instead. Closing the driver's `ActorBackend` stops the server and kills the
actor; copies on workers never close it.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from advisor.backends.base import (
    Backend, BackendInfo, ChoiceRequest, ChoiceScores, GenerateRequest, Generation, Message, ServingStats,
)
from advisor.spec.model import TaskSpec

__all__ = ["BackendHost", "ActorBackend", "start_backend_actor"]


class BackendHost:
    """The actor's body: builds the named backend from the spec and answers calls on it."""

    def __init__(self, backend_name: str, spec: TaskSpec) -> None:
        from advisor import registry

        self.backend = registry.backends.get(backend_name)(spec)

    def describe(self) -> tuple[BackendInfo, int]:
        return self.backend.info, self.backend.context_length

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self.backend, method)(*args)

    def close(self) -> None:
        self.backend.close()


class ActorBackend(Backend):
    """The run's backend as seen by the driver and the workers: calls go to the actor."""

    name = "ray-actor"

    def __init__(self, spec: TaskSpec, actor: Any, info: BackendInfo, context_length: int) -> None:
        super().__init__(spec)
        self.actor = actor
        self.info = info
        self.context_length = context_length
        self.owner_pid = os.getpid()  # only the driver that started the actor stops it

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self.actor, "call").remote(method, *args))

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        return self._call("generate", requests)

    def score_choices(self, requests: list[ChoiceRequest]) -> list[ChoiceScores]:
        return self._call("score_choices", requests)

    def count_tokens(self, conversations: list[list[Message]]) -> list[int]:
        return self._call("count_tokens", conversations)

    def take_failure(self) -> str | None:
        return self._call("take_failure")

    def stats(self) -> ServingStats | None:
        try:
            return self._call("stats")
        except Exception:  # the actor is gone (closed or its node died): nothing left to report
            return None

    def close(self) -> None:
        if os.getpid() != self.owner_pid:
            return
        import ray

        try:
            ray.get(self.actor.close.remote(), timeout=60)
        except Exception:
            pass
        try:
            ray.kill(self.actor)
        except Exception:
            pass


def start_backend_actor(pool: Any, backend_name: str, spec: TaskSpec,
                        status: Callable[[str], None] = lambda m: None) -> ActorBackend:
    """One actor holding the backend, on GPUs when the cluster has them (tensor_parallel_size of them)."""
    import ray

    gpus = float(spec.serving.tensor_parallel_size) if pool.cluster.get("GPU", 0) > 0 else 0.0
    status(f"starting backend {backend_name} in a Ray actor ({gpus:g} GPU(s))")
    actor = ray.remote(BackendHost).options(num_cpus=1, num_gpus=gpus, max_restarts=0,
                                            name=f"advisor-serving-{os.getpid()}").remote(backend_name, spec)
    info, context_length = ray.get(actor.describe.remote())
    return ActorBackend(spec, actor, info, context_length)
