"""Errors a user can cause and fix, kept apart from bugs.

The CLI prints a `UserError` as one clear message and exits with its code (2 by default)
without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["UserError", "SpecError", "DataError", "ProvisioningError", "TaskProblem"]


class UserError(Exception):
    """A mistake in the user's input or environment: reported without a traceback."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


def _place(path: object, line: int | None) -> str:
    return f"{path}:{line}" if line else f"{path}"


class SpecError(UserError):
    """A task file that does not parse or validate; names file, line and field."""

    def __init__(self, path: object, line: int | None, field: str | None, message: str) -> None:
        where = _place(path, line)
        what = f"{field}: {message}" if field else message
        super().__init__(f"{where}: {what}")
        self.path, self.line, self.field = path, line, field


class TaskProblem(UserError):
    """A task-file problem an arm finds in its `check_task` hook; `loc` names the field
    (e.g. ("corpus", "path")) so the loader reports its file:line."""

    def __init__(self, message: str, loc: tuple[str | int, ...], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.loc = loc


class DataError(UserError):
    """A data file (JSONL/CSV) or split that cannot be used; names the file and line."""

    def __init__(self, path: object, line: int | None, message: str) -> None:
        super().__init__(f"{_place(path, line)}: {message}")
        self.path, self.line = path, line


class ProvisioningError(UserError):
    """A model that cannot be made available offline (package missing, bad folder)."""
