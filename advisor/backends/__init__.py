"""Backends: the batched protocol and its implementations (found through the registry)."""

from advisor.backends.base import (
    Backend, BackendInfo, ChoiceRequest, ChoiceScores, GenerateRequest, Generation, Message,
)

__all__ = ["Backend", "BackendInfo", "ChoiceRequest", "ChoiceScores", "GenerateRequest", "Generation", "Message"]
