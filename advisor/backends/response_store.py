"""The response cache's storage: one SQLite file in the cache directory, shared by runs.

Rows are keyed by the sha256 of a request's canonical description (advisor.backends.cache
builds it); each holds the answer as JSON, the busy seconds it cost and when it was measured.
WAL mode lets readers go on while one process writes; a busy timeout makes a second writer
wait for the first instead of failing, so concurrent runs share the file safely. Each batch is
written in one transaction, so a killed run leaves either all of a batch's answers or none.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from advisor.errors import UserError

__all__ = ["ResponseStore", "StoredAnswer", "StoreStats", "default_path", "FILE_NAME"]

FILE_NAME = "responses.sqlite"
BUSY_TIMEOUT_MS = 60_000  # a writer waits this long for another process's transaction
_CHUNK = 500  # keys per IN (...) query, well under SQLite's variable limit

_DDL = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,          -- generate | choices
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    answer TEXT NOT NULL,        -- the Generation / ChoiceScores fields, JSON
    busy_s REAL NOT NULL,        -- this answer's share of the backend's busy seconds when computed
    measured_at TEXT NOT NULL    -- UTC, ISO 8601
)
"""


def default_path() -> Path:
    """$ADVISOR_RESPONSE_CACHE, else responses.sqlite in advisor's cache directory."""
    env = os.environ.get("ADVISOR_RESPONSE_CACHE")
    if env:
        return Path(env).expanduser()
    from advisor.artifacts.models import cache_root

    return cache_root() / FILE_NAME


def _locked(method):
    """Run the method holding the store's lock (one transaction at a time per connection)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


def _setup(conn: sqlite3.Connection) -> None:
    """WAL mode and the table. Switching a new file to WAL takes a lock that SQLite does not
    wait for (no busy handler), so two processes creating the file at once retry here."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_DDL)
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    conn.execute("PRAGMA synchronous=NORMAL")


@dataclass(frozen=True)
class StoredAnswer:
    answer: dict
    busy_s: float
    measured_at: str


@dataclass(frozen=True)
class StoreStats:
    path: str
    answers: int
    bytes: int
    oldest: str | None
    newest: str | None
    by_model: list[tuple[str, str, str, int]]  # backend, model, kind, answers


class ResponseStore:
    """Get and put cached answers; every method runs its own short transaction.

    One connection per process, opened on first use; a lock keeps threads of one process from
    interleaving transactions on it, and pickling drops it (an executor that ships work to another
    process opens its own there).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                       check_same_thread=False)
                _setup(conn)
            except sqlite3.DatabaseError as exc:
                raise UserError(f"{self.path}: the response cache cannot be opened ({exc}); "
                                "remove it with `advisor cache clear` or run with --no-cache") from None
            except OSError as exc:
                raise UserError(f"{self.path}: the response cache cannot be created ({exc.strerror})") from None
            self._conn = conn
        return self._conn

    @_locked
    def open(self) -> None:
        """Open (creating) the file now; a UserError names it when it cannot be used."""
        self._db()

    @_locked
    def get_many(self, keys: Iterable[str]) -> dict[str, StoredAnswer]:
        wanted = sorted(set(keys))
        found: dict[str, StoredAnswer] = {}
        db = self._db()
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i:i + _CHUNK]
            marks = ",".join("?" * len(part))
            for key, answer, busy, when in db.execute(
                    f"SELECT key, answer, busy_s, measured_at FROM responses WHERE key IN ({marks})", part):
                found[key] = StoredAnswer(json.loads(answer), busy, when)
        return found

    @_locked
    def put_many(self, rows: list[tuple[str, str, str, str, dict, float, str]]) -> None:
        """Store (key, kind, backend, model, answer, busy_s, measured_at) rows in one transaction."""
        if not rows:
            return
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(k, kind, b, m, json.dumps(a, sort_keys=True), busy, when)
                            for k, kind, b, m, a, busy, when in rows])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @_locked
    def set_busy(self, keys: list[str], busy_s: float) -> None:
        """Replace the busy seconds of answers just computed by the runner's own measurement."""
        if not keys:
            return
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            for i in range(0, len(keys), _CHUNK):
                part = keys[i:i + _CHUNK]
                db.execute(f"UPDATE responses SET busy_s = ? WHERE key IN ({','.join('?' * len(part))})",
                           [busy_s, *part])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @_locked
    def stats(self) -> StoreStats:
        if not self.path.exists():
            return StoreStats(str(self.path), 0, 0, None, None, [])
        db = self._db()
        answers, oldest, newest = db.execute("SELECT count(*), min(measured_at), max(measured_at) FROM responses").fetchone()
        by_model = [tuple(r) for r in db.execute(
            "SELECT backend, model, kind, count(*) FROM responses GROUP BY backend, model, kind ORDER BY 4 DESC")]
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return StoreStats(str(self.path), answers, size, oldest, newest, by_model)  # type: ignore[arg-type]

    @_locked
    def clear(self) -> int:
        """Delete every answer (the file stays, so a run using it now is not disturbed); returns how many."""
        if not self.path.exists():
            return 0
        try:
            db = self._db()
        except UserError:  # a damaged file: remove it and its WAL side files
            for p in self.path.parent.glob(self.path.name + "*"):
                os.unlink(p)
            return 0
        db.execute("BEGIN IMMEDIATE")
        n = db.execute("DELETE FROM responses").rowcount
        db.execute("COMMIT")
        db.execute("VACUUM")
        return n

    @_locked
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
