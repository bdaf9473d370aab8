"""The base of every task-file block: strict (unknown keys are errors) and immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Strict"]


class Strict(BaseModel):
    """Base for every spec block: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
