"""YAML loading that remembers where each value came from.

pydantic reports an error location as a tuple of keys and indices; `LineMap` turns that
tuple into the line of the task file that holds the value, so every spec error can name
file, line and field.
"""

from __future__ import annotations

import re
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


# Nodes a task file may expand to once anchors and aliases are followed. A real task file
# has a few hundred; a "billion laughs" file of 1 KB expands to billions and would exhaust
# memory in the constructor, so it is refused before anything is constructed.
MAX_NODES = 100_000
_BOOL_12 = {"true": True, "false": False}  # YAML 1.2: yes/no/on/off stay the strings written


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and duplicate keys as errors."""

    def construct_mapping(self, node, deep=False):  # noqa: D401 - PyYAML's signature
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise _Duplicate(key, seen[key], line)
                    seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_bool(self, node):
        value = self.construct_scalar(node)
        return _BOOL_12.get(value.lower(), value)


class _Duplicate(Exception):
    def __init__(self, key: str, first: int, again: int) -> None:
        super().__init__(key)
        self.key, self.first, self.again = key, first, again


# Only true/false are booleans (YAML 1.2); the 1.1 words (yes, no, on, off, y, n) resolve as
# plain strings, so `labels: [yes, no]` means the labels the user wrote.
_Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:bool"]
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_constructor("tag:yaml.org,2002:bool", _Loader.construct_yaml_bool)


def _expanded_size(root: yaml.Node, limit: int) -> int | None:
    """Nodes `root` expands to with aliases followed (a DAG: each node measured once);
    None when it exceeds `limit` or an alias refers to itself."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
                node.value if isinstance(node, yaml.SequenceNode) else [])
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > limit:
                return None
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in active:
            return None  # a recursive alias
        active.add(key)
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, False) for pair in node.value for n in pair if id(n) not in sizes)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, False) for n in node.value if id(n) not in sizes)
    return sizes[id(root)]


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


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(path, None, None, "task file not found") from None
    except IsADirectoryError:
        raise SpecError(path, None, None, "this is a folder; expected a task file (YAML)") from None
    except OSError as exc:
        raise SpecError(path, None, None, f"cannot read task file ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(path, line, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column}); "
                                          "save the file as UTF-8") from None


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse `path` into plain Python data and a map of where each value stands."""
    text = _read_text(path)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None and _expanded_size(node, MAX_NODES) is None:
                raise SpecError(path, node.start_mark.line + 1, None,
                                f"the YAML expands to more than {MAX_NODES:,} values through anchors and aliases "
                                "(or an alias refers to itself); a task file never needs that many")
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _Duplicate as exc:
        raise SpecError(path, exc.again, str(exc.key), f"duplicate key (first on line {exc.first}); "
                                                       "keep one of them") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise SpecError(path, line, None, f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, None, f"malformed YAML: {exc}") from None
    except RecursionError:
        raise SpecError(path, None, None, "malformed YAML: nested too deeply") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        try:
            _walk(node, (), lines)
        except RecursionError:
            raise SpecError(path, None, None, "malformed YAML: nested too deeply") from None
    return data, LineMap(lines)
