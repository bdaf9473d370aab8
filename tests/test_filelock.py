"""The cache lock: excludes another process, times out with a clear message, releases."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from advisor.artifacts.filelock import LockTimeout, file_lock
from advisor.errors import UserError

HOLD = """
import sys, time
from advisor.artifacts.filelock import file_lock
with file_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(lock: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_held_by_another_process_times_out_with_the_lock_path(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / ".key.lock"
    proc = _holder(lock, 30)
    try:
        with pytest.raises(LockTimeout) as err:
            with file_lock(lock, timeout=0.2):
                pytest.fail("acquired a lock another process holds")
        assert str(lock) in str(err.value) and "ADVISOR_LOCK_TIMEOUT_S" in str(err.value)
        assert isinstance(err.value, UserError) and err.value.exit_code == 2
    finally:
        proc.kill()
        proc.wait()
    with file_lock(lock, timeout=5):  # the dead holder's lock is free again
        pass


def test_second_process_waits_then_gets_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / ".k.lock"
    proc = _holder(lock, 0.5)
    with file_lock(lock, timeout=30):
        assert proc.poll() is not None or proc.wait(timeout=5) == 0  # it only got here after the holder let go
    proc.wait()


def test_lock_is_released_on_error_and_timeout_env_is_checked(tmp_path: Path, monkeypatch) -> None:
    lock = tmp_path / ".e.lock"
    with pytest.raises(RuntimeError):
        with file_lock(lock):
            raise RuntimeError("boom")
    with file_lock(lock, timeout=0):  # free immediately
        pass
    monkeypatch.setenv("ADVISOR_LOCK_TIMEOUT_S", "soon")
    with pytest.raises(UserError, match="ADVISOR_LOCK_TIMEOUT_S='soon'"):
        with file_lock(lock):
            pass
