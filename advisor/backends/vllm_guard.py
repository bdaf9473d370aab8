"""Guard process between advisor and a vLLM server: the server never outlives advisor.

Run as a standalone script (stdlib only, no advisor import), by the driver's own python:

    python vllm_guard.py FD -- VLLM_PYTHON -m vllm.entrypoints.openai.api_server ...

The driver starts it as the leader of a new session and keeps the write end of a pipe whose
read end is FD. The guard starts the server as its child (same process group) and waits.
- The server exits: the guard exits with the server's code (a failed start stays visible).
- The pipe reaches end-of-file: the driver is gone, however it died (SIGKILL included; a
  pipe closes when the *process* dies, unlike PR_SET_PDEATHSIG, which follows the thread
  that started the child). The guard SIGTERMs the group, waits GRACE_S, then SIGKILLs it.
- The guard gets SIGTERM (the driver's normal stop signals the whole group): it waits for
  the server to stop and exits with it; the driver escalates to SIGKILL itself.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

GRACE_S = 10.0


def _die_with_guard() -> None:  # in the server, before exec: if the guard is SIGKILLed, the server goes too
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _stop_group(server: subprocess.Popen) -> int:
    pgid = os.getpgrp()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group signal below must not stop the guard first
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        code = server.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        code = -signal.SIGKILL
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.killpg(pgid, signal.SIGKILL)  # engine workers left in the group, and the guard itself
    return code


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: vllm_guard.py FD -- COMMAND...", file=sys.stderr)
        return 2
    fd, command = int(argv[0]), argv[2:]
    terminated = False

    def on_term(signum, frame) -> None:
        nonlocal terminated
        terminated = True

    signal.signal(signal.SIGTERM, on_term)
    wake_r, wake_w = os.pipe()  # a signal (the server's SIGCHLD, a SIGTERM) wakes the select below at once
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    server = subprocess.Popen(command, preexec_fn=_die_with_guard)
    deadline = None
    while True:
        code = server.poll()
        if code is not None:
            return code if code >= 0 else 128 - code
        if terminated and deadline is None:
            deadline = time.monotonic() + GRACE_S
        if deadline is not None and time.monotonic() > deadline:
            return _stop_group(server)
        try:
            ready, _, _ = select.select([fd, wake_r], [], [], 0.5)
        except InterruptedError:
            continue
        if wake_r in ready:
            os.read(wake_r, 4096)
        if fd in ready and not os.read(fd, 4096):  # end of file: the driver is gone
            return _stop_group(server)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
