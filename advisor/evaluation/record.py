"""The versioned run record: `run.json` (one document) and `samples.jsonl` (one row per
arm and sample). Reports are rendered from these files alone.

`run.json` is rewritten atomically after every arm, so an interrupted run keeps all it
finished; `samples.jsonl` is appended per batch and is the source of truth for resuming.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import UserError
from advisor.tuning.results import SeedSpread, TuningResult

__all__ = ["SCHEMA_VERSION", "ArmResult", "RunRecord", "SampleRow", "write_record", "read_record", "append_samples",
           "read_samples", "group_by_arm"]

SCHEMA_VERSION = "1.0"
RUN_FILE, SAMPLES_FILE = "run.json", "samples.jsonl"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")  # newer records may carry more; readers keep it


class SampleRow(_Model):
    """One arm's answer for one test sample, with its measured cost."""

    arm: str
    id: str
    input: str
    target: str
    prediction: str | None
    raw: str
    correct: bool
    score: float  # item score: 0/1 correctness or token F1
    latency_ms: float  # wall time of the batch that carried the request
    ttft_ms: float | None = None
    tpot_ms: float | None = None  # time per output token after the first (streaming backends)
    busy_share_s: float = 0.0  # this sample's share of the backend's busy seconds
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ArmResult(_Model):
    """Everything measured for one arm; failed and cancelled arms are kept, never dropped."""

    name: str
    strategy: str
    status: Literal["ok", "failed", "cancelled"]
    config: dict[str, Any]
    prepare: dict[str, Any] = Field(default_factory=dict)
    n: int = 0  # test samples answered
    metrics: dict[str, float] = Field(default_factory=dict)
    primary_metric: str | None = None
    higher_is_better: dict[str, bool] = Field(default_factory=dict)
    confusion: dict[str, Any] | None = None
    latency: dict[str, Any] = Field(default_factory=dict)  # p50_ms, p95_ms, mean_ms, ttft_p50_ms, how
    throughput: dict[str, Any] = Field(default_factory=dict)  # busy_s, requests_per_s, tokens_per_s
    usage: dict[str, int] = Field(default_factory=dict)  # prompt_tokens, completion_tokens
    details: dict[str, Any] = Field(default_factory=dict)  # the strategy's `finish` hook: retrieval, curves, risks
    errors: list[str] = Field(default_factory=list)
    sample_errors: int = 0
    started: str | None = None
    wall_s: float | None = None
    tuning: TuningResult | None = None  # `advisor tune`: every trial, the chosen config, tuning seconds
    seeds: SeedSpread | None = None  # `repeats: N`: the primary metric under each seed


class RunRecord(_Model):
    """One run of one task through its arms."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    created: str
    status: Literal["running", "ok", "partial", "failed", "cancelled"]
    task: dict[str, Any]  # name, type, path, sha256
    spec: dict[str, Any]  # the resolved spec
    splits: dict[str, Any]  # sizes, test ids used, limit
    backend: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    arms: list[ArmResult] = Field(default_factory=list)
    recommendation: dict[str, Any] | None = None
    finished: str | None = None
    wall_s: float | None = None

    def arm(self, name: str) -> ArmResult | None:
        return next((a for a in self.arms if a.name == name), None)


def write_record(run_dir: Path, record: RunRecord) -> Path:
    """Write run.json atomically (temp file + rename): readers never see half a record."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".run-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record.model_dump(mode="json"), fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    target = run_dir / RUN_FILE
    os.replace(tmp, target)
    return target


def read_record(path: str | Path) -> tuple[RunRecord, Path]:
    """A record from a run directory or a run.json path; (record, run directory)."""
    path = Path(path)
    file = path / RUN_FILE if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"{path}: no run record here (expected a run directory or a {RUN_FILE})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{file}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise UserError(f"{file}: schema_version {version or '(none)'} is not supported (this advisor reads {SCHEMA_VERSION})")
    try:
        return RunRecord.model_validate(data), file.parent
    except Exception as exc:  # pydantic ValidationError: name the first bad field
        raise UserError(f"{file}: not a valid run record ({str(exc).splitlines()[0]})") from None


def append_samples(run_dir: Path, rows: list[SampleRow]) -> None:
    with (run_dir / SAMPLES_FILE).open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.model_dump(mode="json"), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_samples(run_dir: Path, arm: str | None = None) -> list[SampleRow]:
    """Rows of samples.jsonl (optionally one arm's); a torn last line from a crash is skipped."""
    file = run_dir / SAMPLES_FILE
    if not file.exists():
        return []
    rows = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            row = SampleRow.model_validate_json(line)
        except Exception:
            continue
        if arm is None or row.arm == arm:
            rows.append(row)
    return rows


def group_by_arm(rows: list[SampleRow]) -> dict[str, list[SampleRow]]:
    """Rows keyed by arm, each arm's rows in their original order."""
    out: dict[str, list[SampleRow]] = {}
    for row in rows:
        out.setdefault(row.arm, []).append(row)
    return out
