"""The run directory as a resource one run owns: claimed, locked for the run's life, repaired.

- `claim_run_dir` checks that `--out` can hold a new run (a folder, writable, with no
  record or stale samples in it) or that `--resume` names a run, then takes an exclusive
  lock (the `filelock` package, `fcntl.flock` underneath) so a second run into the same
  folder fails at once with the holder's pid instead of interleaving `samples.jsonl`.
  The kernel drops the lock when the holder dies, even by SIGKILL, so a crashed run never
  leaves a folder locked.
- `repair_samples` cuts a torn last line (a kill in the middle of an append) back to the
  last complete line before a resume appends to the file; the lost samples are answered
  again because they are no longer on disk.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import UserError
from advisor.evaluation.record import RUN_FILE, SAMPLES_FILE

__all__ = ["RunDirLock", "claim_run_dir", "repair_samples", "LOCK_FILE", "LOCK_TIMEOUT_S"]

LOCK_FILE, OWNER_FILE = ".advisor.lock", ".advisor.lock.owner"
# Seconds a second run waits for the folder: long enough to ride out a run that is just
# writing its last record, short enough that a CI job with a clash fails at once.
LOCK_TIMEOUT_S = float(os.environ.get("ADVISOR_RUN_LOCK_TIMEOUT_S", "2"))


def _holder(run_dir: Path) -> str:
    try:
        text = (run_dir / OWNER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return "another process"
    return f"pid {text}" if text.isdigit() else "another process"


@dataclass
class RunDirLock:
    """The held lock of one run directory; `release` also removes the folder when the run
    created it and never wrote a record (bad input or a failed backend writes nothing)."""

    run_dir: Path
    lock: object
    created: bool
    _released: bool = field(default=False, repr=False)

    def release(self, *, discard_if_empty: bool = False) -> None:
        if self._released:
            return
        self._released = True
        try:
            (self.run_dir / OWNER_FILE).unlink(missing_ok=True)
        except OSError:
            pass
        self.lock.release()
        if discard_if_empty and self.created and not (self.run_dir / RUN_FILE).exists():
            try:
                (self.run_dir / LOCK_FILE).unlink(missing_ok=True)
                self.run_dir.rmdir()  # only if nothing else landed in it
            except OSError:
                pass


def _make_dir(run_dir: Path) -> bool:
    """Create `run_dir` if needed; True when this call created it. Bad paths are UserErrors."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: --out must be a folder, but this is a file")
    if run_dir.is_dir():
        if not os.access(run_dir, os.W_OK | os.X_OK):
            raise UserError(f"{run_dir}: the run folder is not writable")
        return False
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:
        raise UserError(f"{run_dir}: --out must be a folder, but a file is in the way") from None
    except PermissionError:
        raise UserError(f"{run_dir}: cannot create the run folder (permission denied)") from None
    except NotADirectoryError:
        raise UserError(f"{run_dir}: cannot create the run folder (a part of the path is a file)") from None
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot create the run folder ({exc.strerror})") from None
    return True


def claim_run_dir(run_dir: Path, *, resume: bool, timeout_s: float | None = None) -> RunDirLock:
    """Lock `run_dir` for one run; raises UserError when it is in use or cannot hold the run."""
    from filelock import FileLock, Timeout

    run_dir = Path(run_dir)
    created = False if resume else _make_dir(run_dir)
    lock = FileLock(str(run_dir / LOCK_FILE), timeout=LOCK_TIMEOUT_S if timeout_s is None else timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"{run_dir}: another advisor run ({_holder(run_dir)}) is using this run folder",
                        hint="wait for it to finish, or choose another --out") from None
    except OSError as exc:
        if created:
            run_dir.rmdir()
        reason = "permission denied" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else exc.strerror
        raise UserError(f"{run_dir}: cannot lock the run folder ({reason})") from None
    held = RunDirLock(run_dir, lock, created)
    try:
        if not resume:
            if (run_dir / RUN_FILE).exists():
                raise UserError(f"{run_dir} already holds a run; choose another --out or use --resume")
            if (run_dir / SAMPLES_FILE).exists():
                raise UserError(f"{run_dir} holds a {SAMPLES_FILE} without a {RUN_FILE} (left from another run); "
                                "choose another --out or remove the file")
        tmp = run_dir / f"{OWNER_FILE}.tmp"
        tmp.write_text(f"{os.getpid()}\n", encoding="utf-8")
        os.replace(tmp, run_dir / OWNER_FILE)
    except OSError as exc:
        held.release(discard_if_empty=True)
        raise UserError(f"{run_dir}: cannot write in the run folder ({exc.strerror})") from None
    except BaseException:
        held.release(discard_if_empty=True)
        raise
    return held


def repair_samples(run_dir: Path) -> int:
    """Truncate samples.jsonl after its last complete line; returns the bytes removed.

    Appends write whole lines and fsync, so only the tail can be torn (the bytes a kill
    interrupted); a torn tail may end inside a multi-byte character, so this works on bytes.
    """
    file = Path(run_dir) / SAMPLES_FILE
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with file.open("rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # Scan back in blocks for the last newline; keep everything up to and including it.
        pos, keep = size, 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = pos + cut + 1
                break
        fh.seek(keep)
        if _is_row(fh.read()):  # complete but for its newline (written by hand?): keep it
            fh.write(b"\n")
            keep = size + 1
        else:
            fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return max(0, size - keep)


def _is_row(raw: bytes) -> bool:
    from advisor.evaluation.record import SampleRow

    try:
        SampleRow.model_validate_json(raw)
    except Exception:
        return False
    return True
