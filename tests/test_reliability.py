"""Issue 13: every listed bad input and fault ends in a clear exit code and message, and the
record on disk stays consistent (tests/reliability_cases.py holds the cases)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from advisor.errors import UserError
from advisor.evaluation.record import read_samples
from advisor.evaluation.rundir import claim_run_dir, repair_samples
from advisor.prompting.prompts import PromptParts, fit_prompts
from advisor.backends.fake import FakeBackend
from tests.reliability_cases import CASES, counts_note, finished_run, run_case, run_child, task

ROOT = Path(__file__).resolve().parent.parent


def _fake(context: int) -> FakeBackend:
    from advisor.spec.model import TaskSpec

    return FakeBackend(TaskSpec.model_validate({
        "name": "t", "type": "classification", "labels": ["ham", "spam"], "data": {"path": "x.jsonl"},
        "model": {"max_context": context}, "arms": [{"name": "a", "strategy": "prompting"}]}))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path, child=False)
    assert outcome.code == case.code, outcome.output
    assert "Traceback" not in outcome.output
    if case.message:
        assert case.message in outcome.first_line, outcome.first_line
    if case.check:
        assert outcome.note  # the check ran and returned its note


def test_second_run_waits_for_the_lock_then_fails_naming_the_holder(tmp_path: Path) -> None:
    held = claim_run_dir(tmp_path / "run", resume=False)
    try:
        with pytest.raises(UserError, match=f"pid {os.getpid()}"):
            claim_run_dir(tmp_path / "run", resume=False, timeout_s=0.2)
    finally:
        held.release(discard_if_empty=True)
    assert not (tmp_path / "run").exists()  # a folder the run made and never used is removed
    again = claim_run_dir(tmp_path / "run", resume=False, timeout_s=0.2)  # free once released
    again.release()


def test_a_failed_start_leaves_no_folder(tmp_path: Path, monkeypatch) -> None:
    from advisor.evaluation import runner
    from advisor.spec import load_task

    def boom(*a, **k):
        raise UserError("no model here")

    monkeypatch.setattr(runner, "make_backend", boom)
    with pytest.raises(UserError):
        runner.run_task(load_task(task(tmp_path)), runner.RunOptions(out=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_repair_cuts_a_torn_tail_and_keeps_complete_rows(tmp_path: Path) -> None:
    _, run = finished_run(tmp_path)
    raw = (run / "samples.jsonl").read_bytes()
    complete = raw.count(b"\n")
    (run / "samples.jsonl").write_bytes(raw[:-7])  # the last line loses its end
    assert len(read_samples(run)) == complete - 1  # readers skip the torn tail
    assert repair_samples(run) > 0
    assert (run / "samples.jsonl").read_bytes() == raw[: raw.rstrip(b"\n").rfind(b"\n") + 1]
    assert repair_samples(run) == 0


def test_repair_keeps_a_complete_row_that_lacks_its_newline(tmp_path: Path) -> None:
    _, run = finished_run(tmp_path)
    raw = (run / "samples.jsonl").read_bytes()
    (run / "samples.jsonl").write_bytes(raw[:-1])
    assert repair_samples(run) == 0
    assert (run / "samples.jsonl").read_bytes() == raw


def test_resume_reanswers_only_what_the_tear_lost(tmp_path: Path, monkeypatch) -> None:
    from advisor.evaluation.runner import RunOptions, run_task
    from advisor.spec import load_task

    path, run = finished_run(tmp_path)
    raw = (run / "samples.jsonl").read_bytes()
    (run / "samples.jsonl").write_bytes(raw[: len(raw) - 20])
    log = tmp_path / "answered.log"
    monkeypatch.setenv("ADVISOR_FAKE_ANSWER_LOG", str(log))
    record, _ = run_task(load_task(path), RunOptions(resume=run, arms=["zero", "two-shot"]))
    assert record.status == "ok"
    counts_note(run)
    lost = json.loads(raw.rstrip(b"\n").rsplit(b"\n", 1)[1])
    answered = [json.loads(x) for x in log.read_text().splitlines()]
    assert [a for a in answered if lost["input"] in a]  # the lost sample was answered again
    assert not [a for a in answered if a not in ("N/A", "", "[MASK]") and lost["input"] not in a]


def test_a_bad_line_inside_samples_is_named_by_line(tmp_path: Path) -> None:
    _, run = finished_run(tmp_path)
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    lines[2] = '{"arm": 1}\n'
    (run / "samples.jsonl").write_text("".join(lines))
    with pytest.raises(UserError, match=r"samples.jsonl:3: not a valid sample row"):
        read_samples(run)


@pytest.mark.parametrize("words", [3000, 30000, 300000])
def test_an_input_many_times_the_window_is_cut_to_fit(words: int) -> None:
    backend = _fake(256)
    parts = PromptParts(system="say ham or spam", input=" ".join(f"w{i}" for i in range(words)))
    [(fitted, info)] = fit_prompts([parts], backend, reserve=32)
    assert 0.8 * 224 <= info.prompt_tokens <= 224  # fits, and keeps most of the room
    assert fitted.input and info.chars_cut > 0


def test_instructions_alone_too_long_is_still_an_error() -> None:
    with pytest.raises(ValueError, match="instructions and template alone"):
        fit_prompts([PromptParts(system="x " * 300, input="y")], _fake(256), reserve=32)


def test_recursive_yaml_alias_is_refused(tmp_path: Path) -> None:
    from advisor.spec.yamlsrc import load_yaml

    (tmp_path / "t.yaml").write_text("a: &a [1, *a]\n")
    started = time.perf_counter()
    with pytest.raises(UserError, match="alias"):
        load_yaml(tmp_path / "t.yaml")
    assert time.perf_counter() - started < 5  # a bound, not a speed target: it must not hang


def test_yaml_keeps_yes_no_as_written_and_true_false_as_booleans(tmp_path: Path) -> None:
    from advisor.spec.yamlsrc import load_yaml

    (tmp_path / "t.yaml").write_text("a: [yes, no, on, off, y, n]\nb: true\nc: False\n")
    data, _ = load_yaml(tmp_path / "t.yaml")
    assert data == {"a": ["yes", "no", "on", "off", "y", "n"], "b": True, "c": False}


def test_non_utf8_data_file_is_named_by_line(tmp_path: Path) -> None:
    from advisor.spec.data import read_rows

    (tmp_path / "d.jsonl").write_bytes(b'{"a": "x"}\n{"a": "y"}\n{"a": "\xe9"}\n')
    with pytest.raises(UserError, match=r"d.jsonl:3: not UTF-8 text \(byte 0xe9 at column 8\)"):
        read_rows(tmp_path / "d.jsonl")


def test_signal_record_is_marked_cancelled_with_the_signal(tmp_path: Path) -> None:
    import signal

    path = task(tmp_path)
    done = run_child(["run", str(path), "--out", str(tmp_path / "run")], tmp_path,
                     signal_after=(signal.SIGTERM, "run/samples.jsonl"))
    assert done.returncode == 143, done.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "cancelled"
    cancelled = [a for a in record["arms"] if a["status"] == "cancelled"]  # none when it landed between arms
    assert all(any("SIGTERM" in e for e in a["errors"]) for a in cancelled)
    resumed = run_child(["run", str(path), "--resume", str(tmp_path / "run")], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "run status: ok" in resumed.stdout
    counts_note(tmp_path / "run")
