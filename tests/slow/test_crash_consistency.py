"""Crash consistency: a three-arm fake-backend run killed at random points and resumed.

`advisor run` runs in a child process with the fake backend slowed to 10 ms a request and
logging every request it answers (ADVISOR_FAKE_DELAY_S, ADVISOR_FAKE_ANSWER_LOG). It is
killed with SIGKILL at 20 or more random moments (and with SIGINT and SIGTERM at others),
each time resumed with `--resume`, until it finishes; then a new run starts, until every
kill was delivered. After every kill and every resume:
- no (arm, id) appears twice in samples.jsonl;
- no sample that was complete on disk when a resume started was answered again by it;
- each arm's `n` in run.json equals its rows in samples.jsonl (once run.json has arms);
and each finished run's (arm, id, prediction) set equals an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability_cases import ROOT

pytestmark = pytest.mark.slow

TASK = """\
name: crash
type: classification
data: {path: data.jsonl, input_field: text, target_field: label, id_field: id,
       split: {train: 0.4, validation: 0.1, test: 0.5, seed: 3}}
labels: [ham, spam]
backend: fake
generation: {batch_size: 2}
arms:
  - {name: A, strategy: prompting, config: {mode: generate, template: "{input} [A]"}}
  - {name: B, strategy: prompting, config: {mode: generate, shots: 2, template: "{input} [B]"}}
  - {name: C, strategy: prompting, config: {mode: choice, template: "{input} [C]"}}
"""
LOGGED = re.compile(r"message (\d+) \[([ABC])\]$")
SIGKILLS = int(os.environ.get("CRASH_SIGKILLS", 20))  # fewer only to debug the test itself
SIGINTS = SIGTERMS = 3


def _complete_rows(run: Path) -> list[tuple[str, str, str | None]]:
    """(arm, id, prediction) of every complete line of samples.jsonl."""
    try:
        raw = (run / "samples.jsonl").read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw[: raw.rfind(b"\n") + 1].splitlines():
        row = json.loads(line)
        out.append((row["arm"], row["id"], row["prediction"]))
    return out


def _answered(log: Path) -> set[tuple[str, str]]:
    if not log.exists():
        return set()
    out = set()
    for line in log.read_text().splitlines():
        m = LOGGED.search(json.loads(line))
        if m:  # calibration requests ("N/A [C]") carry no sample
            out.add((m.group(2), f"r{m.group(1)}"))
    return out


def _check_counts(run: Path) -> None:
    try:
        record = json.loads((run / "run.json").read_text())
    except FileNotFoundError:
        return
    rows = _complete_rows(run)
    for arm in record["arms"]:
        assert arm["n"] == sum(1 for r in rows if r[0] == arm["name"]), (arm["name"], arm["n"])


def _start(task: Path, run: Path, log: Path) -> subprocess.Popen:
    argv = ["--resume", str(run)] if (run / "run.json").exists() else ["--out", str(run)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ADVISOR_FAKE_DELAY_S": "0.01", "ADVISOR_FAKE_ANSWER_LOG": str(log)}
    return subprocess.Popen([sys.executable, "-m", "advisor.cli", "run", str(task), *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_random_kills_and_resumes_lose_nothing_and_answer_nothing_twice(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"{'spam' if i % 2 else 'ham'} message {i}", "label": "spam" if i % 2 else "ham"}
            for i in range(60)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "task.yaml"
    task.write_text(TASK)
    reference_log = tmp_path / "reference.log"
    ref = _start(task, tmp_path / "reference", reference_log)
    assert ref.wait(timeout=120) == 0, ref.stderr.read()
    reference = set(_complete_rows(tmp_path / "reference"))
    assert len(reference) == 90 and len({(a, i) for a, i, _ in reference}) == 90

    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    todo = [signal.SIGKILL] * SIGKILLS + [signal.SIGINT] * SIGINTS + [signal.SIGTERM] * SIGTERMS
    rng.shuffle(todo)
    delivered = {signal.SIGKILL: 0, signal.SIGINT: 0, signal.SIGTERM: 0}
    runs, resumes, starts, torn = 0, 0, 0, 0
    run = tmp_path / "run0"
    while todo:
        log = tmp_path / f"answers{starts}.log"
        before = {(a, i) for a, i, _ in _complete_rows(run)}
        resumes += (run / "run.json").exists()
        proc = _start(task, run, log)
        starts += 1
        while not log.exists() and proc.poll() is None:  # kill only once answering has begun
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.2))
        if proc.poll() is None:
            sig = todo.pop()
            proc.send_signal(sig)
            delivered[sig] += 1
        code = proc.wait(timeout=120)
        stderr = proc.stderr.read()
        assert "Traceback" not in stderr, stderr
        assert not (before & _answered(log)), f"seed {seed}: answered again: {sorted(before & _answered(log))[:5]}"
        raw = (run / "samples.jsonl").read_bytes() if (run / "samples.jsonl").exists() else b""
        torn += bool(raw) and not raw.endswith(b"\n")
        keys = [(a, i) for a, i, _ in _complete_rows(run)]
        assert len(keys) == len(set(keys)), f"seed {seed}: duplicate samples"
        if code != -signal.SIGKILL:
            _check_counts(run)
        if code == 0:  # finished: it must equal the uninterrupted run; start the next one
            assert set(_complete_rows(run)) == reference, f"seed {seed}"
            assert json.loads((run / "run.json").read_text())["status"] == "ok"
            runs += 1
            run = tmp_path / f"run{runs}"
    while True:  # finish the last run
        log = tmp_path / f"answers{starts}.log"
        before = {(a, i) for a, i, _ in _complete_rows(run)}
        resumes += (run / "run.json").exists()
        proc = _start(task, run, log)
        starts += 1
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
        assert not (before & _answered(log))
        break
    assert set(_complete_rows(run)) == reference, f"seed {seed}"
    _check_counts(run)
    assert delivered[signal.SIGKILL] >= SIGKILLS and delivered[signal.SIGINT] and delivered[signal.SIGTERM]
    print(f"\ncrash test (seed {seed}): {sum(delivered.values())} kills delivered "
          f"(SIGKILL {delivered[signal.SIGKILL]}, SIGINT {delivered[signal.SIGINT]}, SIGTERM {delivered[signal.SIGTERM]}), "
          f"{starts} starts, {resumes} resumes, {runs + 1} runs completed, {torn} torn tails seen and repaired; "
          "final samples equal the uninterrupted run's")
