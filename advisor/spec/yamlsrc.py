"""YAML loading that remembers where each value came from.

pydantic reports an error location as a tuple of keys and indices; `LineMap` turns that
tuple into the line of the task file that holds the value, so every spec error can name
file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from advisor.errors import SpecError

__all__ = ["LineMap", "load_yaml"]

Loc = tuple[str | int, ...]


@dataclass
class LineMap:
    """Location tuple -> 1-based line number of the key (or item) in the YAML file."""

    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[loc + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, loc + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[loc + (i,)] = item.start_mark.line + 1
            _walk(item, loc + (i,), out)


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse `path` into plain Python data and a map of where each value stands."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, None, None, "task file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, None, None, f"cannot read task file ({exc})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise SpecError(path, line, None, f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, None, f"malformed YAML: {exc}") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines)
    return data, LineMap(lines)
