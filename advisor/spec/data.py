"""Read a task's examples and split them into train / validation / test.

Rows come from JSONL or CSV; each keeps the file and line it came from so any problem is
reported where the user can fix it. Splitting is seeded and stable: the same file and seed
give the same split on every machine.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import DataError
from advisor.spec.model import TaskSpec

__all__ = ["Sample", "Splits", "read_rows", "load_splits"]


@dataclass(frozen=True)
class Sample:
    """One example: a unique id, the input text, the expected target and the raw row."""

    id: str
    input: str
    target: str
    fields: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: str = field(default="", compare=False)  # "file:line" it came from


@dataclass(frozen=True)
class Splits:
    train: list[Sample]
    validation: list[Sample]
    test: list[Sample]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def _fmt(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise DataError(path, None, "cannot tell the format from the extension; set data.format to jsonl or csv")


def _not_utf8(path: Path) -> DataError:
    """The first bad byte by line and column (the decoder only knows its buffer offset)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return DataError(path, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column}); save it as UTF-8")
    return DataError(path, None, "not UTF-8 text")


def read_rows(path: Path, fmt: str = "auto") -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs from a JSONL or CSV file; bad rows name their line."""
    kind = _fmt(path, fmt)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            if kind == "jsonl":
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(path, lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
                    except RecursionError:
                        raise DataError(path, lineno, "invalid JSON (nested too deeply)") from None
                    if not isinstance(row, dict):
                        raise DataError(path, lineno, f"expected a JSON object, got {type(row).__name__}")
                    rows.append((lineno, row))
            else:
                reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
                if not reader.fieldnames:
                    raise DataError(path, 1, "CSV file has no header row")
                for row in reader:
                    if None in row:
                        raise DataError(path, reader.line_num, f"row has more cells than the header's {len(reader.fieldnames)}")
                    if any(v is None for v in row.values()):
                        raise DataError(path, reader.line_num, f"row has fewer cells than the header's {len(reader.fieldnames)}")
                    rows.append((reader.line_num, dict(row)))
    except FileNotFoundError:
        raise DataError(path, None, "data file not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "this is a folder; expected a JSONL or CSV file") from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as exc:
        raise DataError(path, None, f"malformed CSV ({exc})") from None
    return rows


def _to_samples(path: Path, spec: TaskSpec) -> list[Sample]:
    d = spec.data
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for lineno, row in read_rows(path, d.format):
        for name in (d.input_field, d.target_field) + ((d.id_field,) if d.id_field else ()):
            if name not in row or row[name] is None:
                raise DataError(path, lineno, f"missing field {name!r} (row has: {', '.join(map(str, row)) or 'nothing'})")
        text, target = row[d.input_field], row[d.target_field]
        if not isinstance(text, str) or not text.strip():
            raise DataError(path, lineno, f"field {d.input_field!r} must be non-empty text")
        if isinstance(target, (int, float)) and not isinstance(target, bool):
            target = str(target)
        if not isinstance(target, str):
            raise DataError(path, lineno, f"field {d.target_field!r} must be text, got {type(target).__name__}")
        if spec.labels is not None and target not in spec.labels:
            raise DataError(path, lineno, f"target {target!r} is not in the label set {spec.labels}")
        sid = str(row[d.id_field]) if d.id_field else f"{path.stem}-{lineno}"
        if sid in seen:
            raise DataError(path, lineno, f"duplicate id {sid!r} (first seen on line {seen[sid]})")
        seen[sid] = lineno
        samples.append(Sample(id=sid, input=text, target=target, fields=row, source=f"{path.name}:{lineno}"))
    return samples


def _split(samples: list[Sample], spec: TaskSpec) -> Splits:
    ratios = spec.data.split
    order = list(samples)
    random.Random(ratios.seed).shuffle(order)
    n = len(order)
    n_test = max(1, round(n * ratios.test))
    n_val = round(n * ratios.validation)
    test, validation, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return Splits(train=train, validation=validation, test=test)


def load_splits(spec: TaskSpec) -> Splits:
    """Read and split the task's data; every split the task needs must be non-empty."""
    d = spec.data
    if d.path is not None:
        samples = _to_samples(d.path, spec)
        if not samples:
            raise DataError(d.path, None, "no rows")
        splits = _split(samples, spec)
        origin = {"train": d.path, "validation": d.path, "test": d.path}
    else:
        parts = {k: (_to_samples(getattr(d, k), spec) if getattr(d, k) else []) for k in ("train", "validation", "test")}
        splits = Splits(**parts)
        origin = {k: getattr(d, k) for k in parts}
        ids: dict[str, str] = {}
        for name, rows in parts.items():
            for s in rows:
                if s.id in ids:
                    raise DataError(origin[name], int(s.source.rsplit(":", 1)[1]),
                                    f"duplicate id {s.id!r} (also in the {ids[s.id]} split)")
                ids[s.id] = name
    for name in ("train", "test"):
        if not getattr(splits, name):
            raise DataError(origin[name], None, f"the {name} split is empty")
    return splits
