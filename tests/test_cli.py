"""The `advisor` command as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TASK_YAML, make_task, spam_rows


def advisor(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "advisor.cli", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def test_run_and_report(task_dir: Path) -> None:
    out = task_dir / "run"
    proc = advisor("run", str(task_dir / "task.yaml"), "--out", str(out), "--limit", "6")
    assert proc.returncode == 0, proc.stderr
    assert "zero" in proc.stdout and "two-shot" in proc.stdout and "run status: ok" in proc.stdout
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "ok" and record["splits"]["test_used"] == 6
    report = advisor("report", str(out))
    assert report.returncode == 0 and "two-shot" in report.stdout
    as_json = advisor("report", str(out / "run.json"), "--format", "json")
    assert json.loads(as_json.stdout)["run_id"] == record["run_id"]


def test_validate_ok(task_dir: Path) -> None:
    proc = advisor("validate", str(task_dir / "task.yaml"))
    assert proc.returncode == 0 and "ok" in proc.stdout and "test 16" in proc.stdout


@pytest.mark.parametrize("needle, replacement, expect", [
    ("labels: [ham, spam]", "labels: [ham, spam", "malformed YAML"),
    ("instructions:", "instructionz:", "unknown field"),
    ("type: classification\n", "", "required field is missing"),
    ("path: data.jsonl", "path: missing.jsonl", "data file not found"),
])
def test_validate_broken_spec_exits_2_naming_file_and_line(tmp_path: Path, needle: str, replacement: str, expect: str) -> None:
    path = make_task(tmp_path, TASK_YAML.replace(needle, replacement), spam_rows())
    proc = advisor("validate", str(path))
    assert proc.returncode == 2
    assert expect in proc.stderr and f"{path}:" in proc.stderr.replace("\n", "")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("mutate, expect", [
    (lambda rows: rows[4].update(label="eggs"), "data.jsonl:5"),
    (lambda rows: rows[7].update(id="r0"), "duplicate id"),
])
def test_bad_rows_exit_2_and_write_nothing(tmp_path: Path, mutate, expect: str) -> None:
    rows = spam_rows()
    mutate(rows)
    path = make_task(tmp_path, TASK_YAML, rows)
    proc = advisor("run", str(path), "--out", str(tmp_path / "run"))
    assert proc.returncode == 2 and expect in proc.stderr.replace("\n", "") and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_bad_jsonl_line_is_reported(tmp_path: Path) -> None:
    path = make_task(tmp_path, TASK_YAML, spam_rows())
    data = tmp_path / "data.jsonl"
    data.write_text(data.read_text() + "{not json\n")
    proc = advisor("validate", str(path))
    assert proc.returncode == 2 and "data.jsonl:41" in proc.stderr and "invalid JSON" in proc.stderr


def test_report_on_missing_run_and_bad_args(tmp_path: Path) -> None:
    proc = advisor("report", str(tmp_path))
    assert proc.returncode == 2 and "no run record" in proc.stderr
    proc = advisor("run", "nowhere.yaml")
    assert proc.returncode == 2 and "task file not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = advisor("run", str(tmp_path / "x.yaml"), "--limit", "0")
    assert proc.returncode == 2


def test_models_list(tmp_path: Path) -> None:
    proc = advisor("models", "list")
    assert proc.returncode == 0 and "smollm2-135m-instruct" in proc.stdout and "all-minilm-l6-v2" in proc.stdout


def test_import_advisor_is_light() -> None:
    code = ("import sys, advisor, advisor.cli, advisor.evaluation.runner; "
            "heavy = [m for m in ('torch', 'transformers', 'faiss', 'vllm', 'sklearn') if m in sys.modules]; "
            "print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_run_and_resume_write_report_md_beside_html(task_dir: Path) -> None:
    out = task_dir / "run"
    proc = advisor("run", str(task_dir / "task.yaml"), "--out", str(out), "--limit", "6")
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    assert md.startswith("#") and "two-shot" in md and (out / "report.html").exists()
    (out / "report.md").unlink()
    resumed = advisor("run", str(task_dir / "task.yaml"), "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "two-shot" in (out / "report.md").read_text()
