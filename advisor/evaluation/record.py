"""The versioned run record: `run.json` (one document) and `samples.jsonl` (one row per
arm and sample). Reports are rendered from these files alone.

`run.json` is rewritten atomically after every arm, so an interrupted run keeps all it
finished; `samples.jsonl` is appended per batch and is the source of truth for resuming.
Every section is a typed model (advisor.evaluation.sections, advisor.decision.types);
`run.schema.json` beside this module is the JSON Schema generated from them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_serializer

from advisor.backends.base import ServingStats
from advisor.decision.types import Recommendation
from advisor.environment import Environment
from advisor.errors import UserError
from advisor.evaluation.cache_use import CacheUse, ResponseCacheRun
from advisor.evaluation.judge import JudgeReport
from advisor.evaluation.quality import AnswerQuality
from advisor.evaluation.learning_curve import LearningCurve
from advisor.evaluation.sections import (
    ArmDetails, Confusion, Latency, PrepareFacts, Section, Throughput, Usage,
)
from advisor.spec.model import TaskSpec
from advisor.tuning.results import SeedSpread, TuningResult

__all__ = ["SCHEMA_VERSION", "ArmResult", "RunRecord", "SampleRow", "SampleExtra", "TaskInfo", "SplitsInfo",
           "BackendRecord", "ServingStats", "Environment", "write_record", "read_record", "append_samples",
           "read_samples", "group_by_arm", "SCHEMA_FILE", "record_schema"]

SCHEMA_VERSION = "2.0"
RUN_FILE, SAMPLES_FILE = "run.json", "samples.jsonl"
SCHEMA_FILE = Path(__file__).with_name("run.schema.json")


class SampleExtra(Section):
    """Per-sample facts an arm adds beside its answer (all optional)."""

    finish_reason: str | None = None
    fit: list[str] | None = Field(None, description="what was cut to fit the context window")
    choice_logprobs: dict[str, float] | None = Field(None, description="label -> summed log-prob (nats)")
    calibrated: dict[str, float] | None = None
    retrieved: list[tuple[str, float]] | None = Field(None, description="[chunk id, cosine] best first")
    retrieval_ms: float | None = None
    embed_ms: float | None = None
    search_ms: float | None = None
    passages_used: int | None = None
    demonstration_ids: list[str] | None = None
    # answer quality (advisor.evaluation.quality): set by the runner, groundedness/passages by retrieval arms
    quality_checked: bool | None = None
    degenerate: str | None = Field(None, description="empty | boilerplate | echo | repetition")
    gold_support: float | None = Field(None, description="share of answer bigrams found in the gold passage")
    groundedness: float | None = Field(None, description="share of answer bigrams found in the retrieved passages")
    passages: list[str] | None = Field(None, description="the passages the answer was given (first 1500 characters)")
    probabilities: dict[str, float] | None = Field(None, description="classical arm: label -> predicted probability")
    custom: dict[str, Any] = Field(default_factory=dict, description="third-party arms only; never read by the core")

    @model_serializer(mode="wrap")
    def _set_only(self, handler: Any) -> dict[str, Any]:
        """samples.jsonl stays small: only the facts the arm set."""
        return {k: v for k, v in handler(self).items() if v is not None and v != {}}


class SampleRow(Section):
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
    cached_at: str | None = None  # answered from the response cache: when it was measured (UTC)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    extra: SampleExtra = Field(default_factory=SampleExtra)


class ArmResult(Section):
    """Everything measured for one arm; failed and cancelled arms are kept, never dropped."""

    name: str
    strategy: str
    status: Literal["ok", "failed", "cancelled"]
    config: dict[str, Any] = Field(description="the arm's validated config (its strategy's Config, dumped)")
    prepare: PrepareFacts = Field(default_factory=PrepareFacts)
    n: int = 0  # test samples answered
    metrics: dict[str, float] = Field(default_factory=dict)
    primary_metric: str | None = None
    higher_is_better: dict[str, bool] = Field(default_factory=dict)
    confusion: Confusion | None = None
    latency: Latency = Field(default_factory=Latency)
    throughput: Throughput = Field(default_factory=Throughput)
    usage: Usage = Field(default_factory=Usage)
    details: ArmDetails = Field(default_factory=ArmDetails)  # the strategy's `finish` hook
    errors: list[str] = Field(default_factory=list)
    sample_errors: int = 0
    quality: AnswerQuality | None = None  # degenerate answers, groundedness, gold-passage support
    started: str | None = None
    wall_s: float | None = None
    learning_curve: LearningCurve | None = Field(None, description="the arm on nested shares of train (opt-in per arm)")
    tuning: TuningResult | None = Field(None, description="`advisor tune`: every trial, the chosen config, tuning seconds")
    seeds: SeedSpread | None = Field(None, description="`repeats: N`: the primary metric under each seed")
    cache: CacheUse | None = Field(None, description="answers reused from the response cache (None: cache off)")


class TaskInfo(Section):
    name: str
    type: str
    path: str
    sha256: str


class SplitsInfo(Section):
    train: int = 0
    validation: int = 0
    test: int = 0
    test_used: int = 0
    limit: int | None = None
    test_ids: list[str] = Field(default_factory=list)


class BackendRecord(Section):
    name: str
    model: str
    model_id: str = ""
    device: str = ""
    dtype: str = ""
    dtype_choice: str | None = Field(None, description="why this dtype (dtype auto: the hardware feature that decided)")
    threads: int | None = None
    extra: dict[str, str] = Field(default_factory=dict)
    context_length: int | None = None
    serving: ServingStats | None = None


class RunRecord(Section):
    """One run of one task through its arms."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, title="advisor run.json")

    schema_version: str = SCHEMA_VERSION
    run_id: str
    created: str
    status: Literal["running", "ok", "partial", "failed", "cancelled"]
    task: TaskInfo
    spec: TaskSpec  # the resolved spec
    splits: SplitsInfo
    backend: BackendRecord
    environment: Environment = Field(default_factory=Environment)
    arms: list[ArmResult] = Field(default_factory=list)
    recommendation: Recommendation | None = None
    decision_error: str | None = Field(None, description="why no recommendation was computed (the decision failed)")
    judge: JudgeReport | None = None  # the judge metric's model, prompt and agreement with human grades
    finished: str | None = None
    wall_s: float | None = Field(None, description="wall seconds of the run; a resumed run adds its own to the interrupted "
                                 "attempts' (an attempt killed with SIGKILL recorded none)")
    response_cache: ResponseCacheRun | None = Field(None, description="the response cache: on/off, hits, misses")

    def arm(self, name: str) -> ArmResult | None:
        return next((a for a in self.arms if a.name == name), None)


def record_schema() -> dict[str, Any]:
    """The JSON Schema of run.json, generated from the models (shipped as run.schema.json)."""
    schema = RunRecord.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def write_record(run_dir: Path, record: RunRecord) -> Path:
    """Write run.json atomically (temp file + rename): readers never see half a record."""
    from advisor.artifacts.cache import atomic_write_json

    return atomic_write_json(run_dir / RUN_FILE, record.model_dump(mode="json"))


def _decode(file: Path, raw: bytes) -> str:
    """UTF-8 text of a record file; a bad byte is reported by line, never as a traceback."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{file}:{line}: not UTF-8 text ({exc.reason}); the file is damaged") from None


def _upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A 1.x record in the 2.0 shape: same sections, now typed; a failed decision moves to
    `decision_error`, the recommendation's version becomes 2 (its fields are unchanged)."""
    data = dict(data, schema_version=SCHEMA_VERSION)
    rec = data.get("recommendation")
    if isinstance(rec, dict) and "error" in rec:
        data["recommendation"], data["decision_error"] = None, str(rec["error"])
    elif isinstance(rec, dict):
        data["recommendation"] = dict(rec, version=2)
    return data


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: {err['msg']}"


def read_record(path: str | Path) -> tuple[RunRecord, Path]:
    """A record from a run directory or a run.json path; (record, run directory).

    Version 2.x is read as is; 1.x is upgraded (same content, typed) or refused with a
    message naming the file, its version and this advisor's. Anything that is not a record
    (bytes that are not UTF-8, JSON that is not an object, a missing or wrong field) is a
    UserError naming the file, never a traceback.
    """
    path = Path(path)
    file = path / RUN_FILE if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"{path}: no run record here (expected a run directory or a {RUN_FILE})")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UserError(f"{file}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(_decode(file, raw))
    except json.JSONDecodeError as exc:
        raise UserError(f"{file}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise UserError(f"{file}: not a valid run record (nested too deeply)") from None
    if not isinstance(data, dict):
        raise UserError(f"{file}: not a valid run record (expected a JSON object, got {type(data).__name__})")
    version = str(data.get("schema_version", ""))
    major = version.split(".")[0]
    if major == "1":
        try:
            return RunRecord.model_validate(_upgrade_v1(data)), file.parent
        except ValidationError as exc:
            raise UserError(f"{file}: schema_version {version} cannot be upgraded to {SCHEMA_VERSION} "
                            f"({_first_error(exc)}); re-run the task with this advisor") from None
    if major != SCHEMA_VERSION.split(".")[0]:
        raise UserError(f"{file}: schema_version {version or '(none)'} is not supported "
                        f"(this advisor reads {SCHEMA_VERSION} and upgrades 1.x)")
    try:
        return RunRecord.model_validate(data), file.parent
    except ValidationError as exc:
        raise UserError(f"{file}: not a valid schema_version {version} run record ({_first_error(exc)})") from None


def append_samples(run_dir: Path, rows: list[SampleRow]) -> None:
    """Append whole lines and fsync: a kill can tear only the last line, which a resume repairs."""
    text = "".join(json.dumps(row.model_dump(mode="json"), ensure_ascii=False) + "\n" for row in rows)
    with (run_dir / SAMPLES_FILE).open("a", encoding="utf-8") as fh:
        fh.write(text)  # one write: an interrupt lands before or after it, never between rows
        fh.flush()
        os.fsync(fh.fileno())


def _parse_row(file: Path, lineno: int, raw: bytes) -> SampleRow:
    text = _decode(file, raw)  # a bad byte is reported at its own line
    try:
        return SampleRow.model_validate_json(text)
    except ValidationError as exc:  # bad JSON, not an object, a wrong field
        raise UserError(f"{file}:{lineno}: not a valid sample row ({_first_error(exc)})") from None


def read_samples(run_dir: Path, arm: str | None = None) -> list[SampleRow]:
    """Rows of samples.jsonl (optionally one arm's).

    A last line without its newline that does not parse is a write torn by a kill: it is
    skipped here (and cut off by `repair_samples` before a resume). Any other bad line is
    damage the tool did not cause: a UserError naming the file and line."""
    file = run_dir / SAMPLES_FILE
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UserError(f"{file}: cannot read ({exc.strerror})") from None
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = _parse_row(file, lineno, line)
        if arm is None or row.arm == arm:
            rows.append(row)
    if tail.strip():
        try:
            row = _parse_row(file, len(lines) + 1, tail)
        except UserError:
            row = None  # torn by a kill
        if row is not None and (arm is None or row.arm == arm):
            rows.append(row)
    return rows


def group_by_arm(rows: list[SampleRow]) -> dict[str, list[SampleRow]]:
    """Rows keyed by arm, each arm's rows in their original order."""
    out: dict[str, list[SampleRow]] = {}
    for row in rows:
        out.setdefault(row.arm, []).append(row)
    return out
