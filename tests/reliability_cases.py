"""Every bad input and fault of issue 13, set up for real and run through the CLI.

`python -m tests.reliability_cases` runs each case in a child process (`python -m
advisor.cli`, exactly as a user would) and prints a Markdown table: case, exit code, first
line of the message. `tests/test_reliability.py` runs the same cases and asserts the
expected exit code and message, so the table and the tests cannot drift apart.

Each case builds its files in a fresh folder and returns the argv to run plus, optionally,
a context manager to hold while it runs (e.g. another run holding the run folder's lock)
and a check that reads the files afterwards (returns a short note for the table).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent

TASK = """\
name: toy
type: classification
data:
  path: data.jsonl
  input_field: text
  target_field: label
  id_field: id
  split: {{train: 0.5, validation: 0.1, test: 0.4, seed: 1}}
labels: {labels}
instructions: Say spam or ham.
backend: fake
{extra}arms:
  - name: zero
    strategy: prompting
  - name: two-shot
    strategy: prompting
    config: {{shots: 2}}
"""


def rows(n: int = 40, text: Callable[[int, str], str] | None = None, labels=("ham", "spam")) -> list[dict]:
    out = []
    for i in range(n):
        label = labels[i % 2]
        out.append({"id": f"r{i}", "text": text(i, label) if text else f"{label} message number {i}", "label": label})
    return out


def task(folder: Path, *, labels: str = "[ham, spam]", extra: str = "", data: list[dict] | None = None,
         text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (data or rows())),
                                       encoding="utf-8")
    path = folder / "task.yaml"
    path.write_text(text if text is not None else TASK.format(labels=labels, extra=extra), encoding="utf-8")
    return path


def finished_run(folder: Path, *, data: list[dict] | None = None, arms: str = "zero,two-shot") -> tuple[Path, Path]:
    """A finished fake-backend run (in this process: it takes well under a second)."""
    from advisor.evaluation.runner import RunOptions, run_task
    from advisor.spec import load_task

    path = task(folder, data=data)
    out = folder / "run"
    run_task(load_task(path), RunOptions(out=out, arms=arms.split(",")))
    return path, out


def rows_on_disk(run: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (run / "samples.jsonl").read_bytes().split(b"\n"):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        out.setdefault(row["arm"], []).append(row["id"])
    return out


def counts_note(run: Path) -> str:
    """run.json's n per arm against the complete rows in samples.jsonl."""
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    disk = rows_on_disk(run)
    parts = []
    for arm in record["arms"]:
        ids = disk.get(arm["name"], [])
        assert arm["n"] == len(ids) == len(set(ids)), (arm["name"], arm["n"], len(ids), len(set(ids)))
        parts.append(f"{arm['name']} {arm['n']}={len(ids)}")
    return f"status {record['status']}; run.json n = rows in file: {', '.join(parts)}"


@dataclass
class Case:
    name: str
    build: Callable[[Path], list[str]]
    code: int
    message: str  # a fragment the first message line must contain ("" for a success)
    hold: Callable[[Path], contextlib.AbstractContextManager] | None = None
    check: Callable[[Path], str] | None = None
    signal_after: tuple[int, str] | None = None  # (signal, file whose appearance triggers it): child process only
    in_process: bool = True
    tags: list[str] = field(default_factory=list)


# -- builders: each returns the argv after `advisor` --------------------------------------

def _two_runs(d: Path) -> list[str]:
    return ["run", str(task(d)), "--out", str(d / "run"), "--arms", "zero"]


@contextlib.contextmanager
def _other_run_holds(d: Path):
    from advisor.evaluation.rundir import claim_run_dir

    held = claim_run_dir(d / "run", resume=False)
    try:
        yield
    finally:
        held.release()


def _stale(d: Path) -> list[str]:
    (d / "run").mkdir(parents=True)
    (d / "run" / "samples.jsonl").write_text('{"arm": "zero"}\n', encoding="utf-8")
    return ["run", str(task(d)), "--out", str(d / "run")]


def _long_input(d: Path) -> list[str]:
    long = rows(text=lambda i, label: f"{label} " + " ".join(f"w{j}" for j in range(3000 if i % 4 == 0 else 5)))
    return ["run", str(task(d, data=long, extra="model: {max_context: 256}\n")), "--out", str(d / "run")]


def _long_check(d: Path) -> str:
    record = json.loads((d / "run" / "run.json").read_text())
    assert all(a["status"] == "ok" for a in record["arms"]), record["arms"]
    return f"every arm ok ({', '.join(str(a['n']) for a in record['arms'])} answered); " + counts_note(d / "run")


def _tear(run: Path, *, inside: str | None = None) -> None:
    """Cut samples.jsonl inside its last line (inside `inside`'s bytes when given), as a kill does."""
    raw = (run / "samples.jsonl").read_bytes()
    start = raw.rstrip(b"\n").rfind(b"\n") + 1
    if inside:
        cut = raw.rfind(inside.encode("utf-8")) + 1  # between the bytes of one character
        assert cut > start
    else:
        cut = start + (len(raw) - start) // 2
    (run / "samples.jsonl").write_bytes(raw[:cut])
    record = json.loads((run / "run.json").read_text())
    record["status"] = "running"  # what a SIGKILL leaves
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")


def _torn_resume(d: Path) -> list[str]:
    path, run = finished_run(d)
    _tear(run)
    return ["run", str(path), "--resume", str(run)]


def _pound_rows() -> list[dict]:
    return rows(text=lambda i, label: f"{label} costs £{i}")


def _mb_resume(d: Path) -> list[str]:
    path, run = finished_run(d, data=_pound_rows())
    _tear(run, inside="£")
    return ["run", str(path), "--resume", str(run)]


def _mb_report(d: Path) -> list[str]:
    _, run = finished_run(d, data=_pound_rows())
    _tear(run, inside="£")
    return ["report", str(run)]


def _mb_compare(d: Path) -> list[str]:
    _, base = finished_run(d / "base", data=_pound_rows())
    _, run = finished_run(d, data=_pound_rows())
    _tear(run, inside="£")
    return ["compare", str(base), str(run)]


def _damaged(which: str, content: bytes, command: str) -> Callable[[Path], list[str]]:
    def build(d: Path) -> list[str]:
        path, run = finished_run(d)
        (run / which).write_bytes(content)
        if command == "resume":
            return ["run", str(path), "--resume", str(run)]
        if command == "compare":
            _, base = finished_run(d / "base")
            return ["compare", str(base), str(run)]
        return ["report", str(run)]
    return build


RANDOM = bytes(range(256))[::-1] * 4  # not UTF-8 from its first byte


def _validate(text: str, data: list[dict] | None = None, raw: bytes | None = None) -> Callable[[Path], list[str]]:
    def build(d: Path) -> list[str]:
        path = task(d, text=textwrap.dedent(text), data=data)
        if raw is not None:
            path.write_bytes(raw)
        return ["validate", str(path)]
    return build


def _bomb() -> str:
    """The "billion laughs": nine levels of nine aliases each, 9**9 values from ~1 KB."""
    lines, prev = ["name: toy"], None
    for c in "abcdefghi":
        items = ", ".join([f"*{prev}"] * 9 if prev else ['"lol"'] * 9)
        lines.append(f"{c}: &{c} [{items}]")
        prev = c
    return "\n".join(lines) + "\n"


BOMB = _bomb()


def _replace(old: str, new: str, data: list[dict] | None = None) -> Callable[[Path], list[str]]:
    return _validate(TASK.format(labels="[ham, spam]", extra="").replace(old, new, 1), data=data)


def _out_file(d: Path) -> list[str]:
    (d / "taken").write_text("a file", encoding="utf-8")
    return ["run", str(task(d)), "--out", str(d / "taken")]


def _out_unwritable(d: Path) -> list[str]:
    if os.geteuid() == 0:  # root writes through permission bits: use a kernel folder that refuses
        return ["run", str(task(d)), "--out", "/sys/advisor-run"]
    (d / "ro").mkdir()
    (d / "ro").chmod(0o500)
    return ["run", str(task(d)), "--out", str(d / "ro" / "run")]


def _signal_run(d: Path) -> list[str]:
    return ["run", str(task(d)), "--out", str(d / "run")]


def _cancelled_check(d: Path) -> str:
    return counts_note(d / "run")


def _compare_cancelled(d: Path) -> list[str]:
    _, base = finished_run(d / "base")
    _, run = finished_run(d)
    record = json.loads((run / "run.json").read_text())
    record["status"] = "cancelled"
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return ["compare", str(base), str(run)]


def _arms_comma(d: Path) -> list[str]:
    return ["run", str(task(d)), "--arms", ",", "--out", str(d / "run")]


def _limit_ten(d: Path) -> list[str]:
    return ["run", str(task(d)), "--limit", "ten"]


CASES: list[Case] = [
    Case("two runs into one --out", _two_runs, 2, "another advisor run (pid", hold=_other_run_holds),
    Case("--out holds a stale samples.jsonl, no run.json", _stale, 2, "without a run.json"),
    Case("one input ~12x the context window", _long_input, 0, "", check=_long_check),
    Case("torn last line of samples.jsonl, --resume", _torn_resume, 0, "", check=lambda d: counts_note(d / "run")),
    Case("tear inside '£', --resume", _mb_resume, 0, "", check=lambda d: counts_note(d / "run")),
    Case("tear inside '£', report", _mb_report, 0, ""),
    Case("tear inside '£' (run killed), compare", _mb_compare, 2, "did not finish"),
    Case("samples.jsonl of random bytes, report", _damaged("samples.jsonl", RANDOM, "report"), 2, "samples.jsonl:1: not UTF-8"),
    Case("samples.jsonl of random bytes, compare", _damaged("samples.jsonl", RANDOM, "compare"), 2, "samples.jsonl:1: not UTF-8"),
    Case("samples.jsonl of random bytes, --resume", _damaged("samples.jsonl", RANDOM, "resume"), 2, "samples.jsonl:1: not UTF-8"),
    Case("run.json of random bytes, report", _damaged("run.json", RANDOM, "report"), 2, "run.json:1: not UTF-8"),
    Case("run.json of random bytes, compare", _damaged("run.json", RANDOM, "compare"), 2, "run.json:1: not UTF-8"),
    Case("run.json of random bytes, --resume", _damaged("run.json", RANDOM, "resume"), 2, "run.json:1: not UTF-8"),
    Case("run.json is JSON but not an object, report", _damaged("run.json", b"[1, 2, 3]\n", "report"), 2,
         "expected a JSON object, got list"),
    Case("run.json is JSON but not an object, compare", _damaged("run.json", b"[1, 2, 3]\n", "compare"), 2,
         "expected a JSON object, got list"),
    Case("1 KB YAML alias bomb, validate", _validate(BOMB), 2, "expands to more than 100,000 values"),
    Case("arms: 5", _replace("arms:\n  - name: zero\n    strategy: prompting\n  - name: two-shot\n    strategy: prompting\n"
                             "    config: {shots: 2}\n", "arms: 5\n"), 2, "arms: Input should be a valid list"),
    Case("--out is a file", _out_file, 2, "--out must be a folder"),
    Case("--out cannot be written", _out_unwritable, 2, "cannot create the run folder"),
    Case("SIGTERM during a run", _signal_run, 143, "interrupted (SIGTERM)", signal_after=(signal.SIGTERM, "run/samples.jsonl"),
         in_process=False, check=_cancelled_check),
    Case("SIGHUP during a run", _signal_run, 129, "interrupted (SIGHUP)", signal_after=(signal.SIGHUP, "run/samples.jsonl"),
         in_process=False, check=_cancelled_check),
    Case("duplicate label", _replace("labels: [ham, spam]", "labels:\n  - ham\n  - spam\n  - ham"), 2,
         "task.yaml:12: labels[2]: duplicate label 'ham' (also labels[0], line 10)"),
    Case("task file not UTF-8", _validate("", raw=TASK.format(labels="[ham, spam]", extra="").replace(
        "Say spam or ham.", "Say sp\udcffam.").encode("utf-8", "surrogateescape")), 2, "task.yaml:10: not UTF-8 text (byte 0xff"),
    Case("duplicate YAML key", _replace("backend: fake\n", "backend: fake\nbackend: transformers\n"), 2,
         "task.yaml:12: backend: duplicate key (first on line 11)"),
    Case("labels: [yes, no]", _replace("labels: [ham, spam]", "labels: [yes, no]", data=rows(labels=("yes", "no"))), 0, ""),
    Case("shots: true", _replace("config: {shots: 2}", "config: {shots: true}"), 2,
         "arms[1].config.shots: expected an integer, got the boolean true"),
    Case("train split smaller than shots, validate", _replace("config: {shots: 2}", "config: {shots: 30}"), 2,
         "arm 'two-shot' needs 30 training examples but the train split has 20 row(s)"),
    Case("--arms ,", _arms_comma, 2, "names no arm"),
    Case("--limit ten", _limit_ten, 2, "argument --limit: expected a positive integer, got 'ten'"),
    Case("compare against a cancelled run", _compare_cancelled, 2, "the run was cancelled"),
]


# -- running a case ------------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    first_line: str
    output: str
    note: str = ""


def first_message_line(stderr: str, stdout: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("error:") or ": error:" in ln or ln.startswith("interrupted"):
            return ln
    return lines[0] if lines else (stdout.strip().splitlines() or [""])[0]


def run_child(argv: list[str], cwd: Path, signal_after: tuple[int, str] | None = None,
              env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT), **(env or {})}
    if signal_after is None:
        return subprocess.run([sys.executable, "-m", "advisor.cli", *argv], capture_output=True, text=True, cwd=cwd,
                              env=env, timeout=180)
    sig, trigger = signal_after
    env["ADVISOR_FAKE_DELAY_S"] = "0.02"
    proc = subprocess.Popen([sys.executable, "-m", "advisor.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    deadline = time.time() + 120
    while not (cwd / trigger).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_case(case: Case, folder: Path, *, child: bool) -> Outcome:
    folder.mkdir(parents=True, exist_ok=True)
    argv = case.build(folder)
    hold = case.hold(folder) if case.hold else contextlib.nullcontext()
    with hold:
        if child or not case.in_process:
            done = run_child(argv, folder, case.signal_after)
            code, out, err = done.returncode, done.stdout, done.stderr
        else:
            code, out, err = _in_process(argv)
    note = case.check(folder) if case.check and code == case.code else ""
    return Outcome(code, first_message_line(err, out), out + err, note)


def _in_process(argv: list[str]) -> tuple[int, str, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from advisor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def table(base: Path) -> str:
    lines = ["| # | case | exit | first line of the message (or what was checked) |", "|---|---|---|---|"]
    for i, case in enumerate(CASES, start=1):
        outcome = run_case(case, base / f"case{i:02d}", child=True)
        text = outcome.first_line if case.code != 0 else (outcome.note or outcome.first_line)
        text = text.replace(str(base), "…").replace("|", "\\|")
        mark = "" if outcome.code == case.code else f" (EXPECTED {case.code})"
        lines.append(f"| {i} | {case.name} | {outcome.code}{mark} | {text} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    os.environ.setdefault("ADVISOR_CACHE_DIR", tempfile.mkdtemp(prefix="advisor-cases-cache-"))
    with tempfile.TemporaryDirectory(prefix="advisor-cases-") as tmp:
        print(table(Path(tmp)))
