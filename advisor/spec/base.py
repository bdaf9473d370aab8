"""The base of every task-file block: strict (unknown keys are errors) and immutable."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

__all__ = ["Strict"]


def _wants_int(annotation: object) -> bool:
    """True for `int` and `int | None` fields (not bool, not float)."""
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return int in args and bool not in args and float not in args
    return False


class Strict(BaseModel):
    """Base for every spec block: unknown keys are errors, and a boolean is never an integer
    (pydantic would take `shots: true` as 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_int(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, bool) and info.field_name and _wants_int(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"expected an integer, got the boolean {str(value).lower()}")
        return value
