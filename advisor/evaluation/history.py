"""Run history: every finished run indexed in one SQLite file, for trends and CI gates.

One row per run (task, times, status, git commits, recommendation, where its record lives) and
one per arm (primary metric with its interval, latency, busy seconds, cost, answers reused from
the response cache). The file sits next to the runs (`runs/history.sqlite` for the default run
folder) or wherever `--history` says; indexing a run again replaces its rows, so a resumed run
is indexed once. Reports and `advisor compare --against` read it; the records stay the truth.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import UserError
from advisor.evaluation.record import RunRecord

__all__ = ["HistoryArm", "HistoryRun", "history_path", "index_run", "task_history", "pick_baseline", "FILE_NAME"]

FILE_NAME = "history.sqlite"
_DDL = ("""CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, task TEXT NOT NULL, run_dir TEXT NOT NULL, created TEXT NOT NULL, finished TEXT,
    status TEXT NOT NULL, commit_task TEXT, commit_advisor TEXT, recommendation TEXT, primary_metric TEXT,
    higher_is_better INTEGER, test_used INTEGER, wall_s REAL)""",
        """CREATE TABLE IF NOT EXISTS arms (
    run_id TEXT NOT NULL, arm TEXT NOT NULL, status TEXT NOT NULL, metric TEXT, value REAL, low REAL, high REAL,
    n INTEGER, p50_ms REAL, p95_ms REAL, busy_s REAL, per_query_usd REAL, monthly_usd REAL, from_cache INTEGER,
    PRIMARY KEY (run_id, arm))""",
        "CREATE INDEX IF NOT EXISTS runs_task ON runs (task, created)")


@dataclass
class HistoryArm:
    arm: str
    status: str
    metric: str | None
    value: float | None
    low: float | None
    high: float | None
    n: int
    p50_ms: float | None
    p95_ms: float | None
    busy_s: float | None
    per_query_usd: float | None
    monthly_usd: float | None
    from_cache: int | None


@dataclass
class HistoryRun:
    run_id: str
    task: str
    run_dir: str
    created: str
    finished: str | None
    status: str
    commit: str | None  # the task folder's git commit, else advisor's
    recommendation: str | None
    primary_metric: str | None
    higher_is_better: bool
    test_used: int | None
    wall_s: float | None
    arms: dict[str, HistoryArm] = field(default_factory=dict)


def history_path(run_dir: Path | None = None, override: Path | None = None) -> Path:
    """`override`, else `history.sqlite` in the folder holding the run folder (default: runs/)."""
    if override is not None:
        return Path(override)
    return (Path(run_dir).resolve().parent if run_dir is not None else Path("runs")) / FILE_NAME


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    if not create and not path.exists():
        raise UserError(f"{path}: no run history here; runs are indexed next to their run folders "
                        "(runs/history.sqlite), or give the file with --history")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=60000")
        for ddl in _DDL:
            conn.execute(ddl)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: not a run history database ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot open the run history ({exc.strerror})") from None
    return conn


def index_run(record: RunRecord, run_dir: Path, path: Path) -> None:
    """Add (or replace) one finished run's rows."""
    rec = record.recommendation
    env = record.environment.git_commit
    conn = _connect(path, create=True)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM arms WHERE run_id = ?", (record.run_id,))
        conn.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            record.run_id, record.task.name, str(Path(run_dir).resolve()), record.created, record.finished,
            record.status, env.task, env.advisor, rec.winner if rec else None, record.spec.primary_metric,
            int(rec.higher_is_better) if rec else 1, record.splits.test_used, record.wall_s))
        for arm in record.arms:
            metric = arm.primary_metric or record.spec.primary_metric
            ci = rec.interval(arm.name, metric) if rec else None
            cost = rec.costs.get(arm.name) if rec else None
            conn.execute("INSERT INTO arms VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                record.run_id, arm.name, arm.status, metric, arm.metrics.get(metric), ci.low if ci else None,
                ci.high if ci else None, arm.n, arm.latency.p50_ms, arm.latency.p95_ms, arm.throughput.busy_s,
                cost.per_query_usd if cost else None, rec.monthly_usd.get(arm.name) if rec else None,
                arm.cache.from_cache if arm.cache else None))
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: cannot index run {record.run_id} ({exc})") from None
    finally:
        conn.close()


def task_history(path: Path, task: str, last: int | None = None) -> list[HistoryRun]:
    """The task's indexed runs, oldest first (the newest `last` of them when given)."""
    conn = _connect(path, create=False)
    try:
        rows = conn.execute("SELECT run_id, task, run_dir, created, finished, status, commit_task, commit_advisor, "
                            "recommendation, primary_metric, higher_is_better, test_used, wall_s FROM runs "
                            "WHERE task = ? ORDER BY created, finished, rowid", (task,)).fetchall()
        if last:
            rows = rows[-last:]
        runs = {}
        for r in rows:
            runs[r[0]] = HistoryRun(run_id=r[0], task=r[1], run_dir=r[2], created=r[3], finished=r[4], status=r[5],
                                    commit=r[6] or r[7], recommendation=r[8], primary_metric=r[9],
                                    higher_is_better=bool(r[10]), test_used=r[11], wall_s=r[12])
        if runs:
            marks = ",".join("?" * len(runs))
            for a in conn.execute(f"SELECT * FROM arms WHERE run_id IN ({marks}) ORDER BY rowid", list(runs)):
                runs[a[0]].arms[a[1]] = HistoryArm(*a[1:])
    finally:
        conn.close()
    return list(runs.values())


def _mean_metric(run: HistoryRun) -> float | None:
    values = [a.value for a in run.arms.values() if a.status == "ok" and a.value is not None]
    return sum(values) / len(values) if values else None


def pick_baseline(path: Path, task: str, against: str, exclude: str | None = None) -> HistoryRun:
    """The run to gate against: `last` (newest finished before), `best` (highest primary metric of its
    recommended arm, else the mean over arms; direction-aware), `N` (the N-th newest, 1 = last) or a run id."""
    runs = [r for r in task_history(path, task) if r.run_id != exclude and r.status in ("ok", "partial")]
    if not runs:
        raise UserError(f"{path}: no finished run of task {task!r} to compare against")
    if against == "last":
        return runs[-1]
    if against == "best":
        def score(r: HistoryRun) -> float:
            arm = r.arms.get(r.recommendation or "")
            value = arm.value if arm is not None and arm.value is not None else _mean_metric(r)
            if value is None:
                return float("-inf")
            return value if r.higher_is_better else -value
        return max(reversed(runs), key=score)  # ties: the newest
    if against.isdigit():
        n = int(against)
        if not 1 <= n <= len(runs):
            raise UserError(f"--against {against}: the history holds {len(runs)} earlier run(s) of {task!r}")
        return runs[-n]
    found = [r for r in runs if r.run_id == against]
    if not found:
        raise UserError(f"--against {against!r}: expected last, best, a number (1 = last) or a run id "
                        f"of {task!r} in {path}")
    return found[0]
