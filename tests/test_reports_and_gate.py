"""Reports rendered from a record (golden Markdown, self-contained HTML), the CI gate, the dry run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from advisor.decision.engine import recommend
from advisor.decision.gate import GateOptions, compare_runs
from reports.gate import to_junit
from reports.documents import render_html, render_markdown
from tests.conftest import ROOT, TASK_YAML, make_task
from tests.factories import lora_facts, make_run, write_run

GOLDEN = Path(__file__).parent / "golden" / "report.md"


def _run(tmp: Path, name: str, arms: dict, **kw) -> Path:
    record, rows = make_run(arms, **kw)
    lora = record.arm("lora")
    if lora is not None:  # what the LoRA arm records: training facts and risk checks
        lora.prepare.training, lora.details.risks = lora_facts()
    record.recommendation = recommend(record, rows)
    return write_run(tmp / name, record, rows)


def _arms(lora_acc: float = 0.9, kshot_acc: float = 0.8) -> dict:
    return {"zero": {"accuracy": 0.55, "busy_s": 0.05, "p95_ms": 120},
            "kshot": {"accuracy": kshot_acc, "busy_s": 0.4, "p95_ms": 900},
            "lora": {"accuracy": lora_acc, "busy_s": 0.06, "p95_ms": 140, "one_off_s": 5400, "strategy": "lora"}}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "advisor.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT,
                          env=env, timeout=300)


def test_markdown_report_matches_golden_file(tmp_path: Path) -> None:
    run = _run(tmp_path, "run", _arms(), pricing={"queries_per_month": 50_000})
    from advisor.evaluation.record import read_record

    text = render_markdown(*read_record(run))
    if os.environ.get("ADVISOR_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "report changed; rerun with ADVISOR_UPDATE_GOLDEN=1 if intended"


def test_html_report_is_self_contained_with_plots(tmp_path: Path) -> None:
    from advisor.evaluation.record import read_record

    record, run_dir = read_record(_run(tmp_path, "run", _arms()))
    html = render_html(record, run_dir)
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external resources"
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 5  # metric bars, cost scatter, latency, TCO, learning curves (no retrieval here)
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert "Adopt lora" in html and "LoRA learning curves" in html


def test_compare_passes_on_identical_runs_and_fails_on_a_drop(tmp_path: Path) -> None:
    base = _run(tmp_path, "base", _arms())
    same = _run(tmp_path, "same", _arms())
    result = compare_runs(base, same)
    assert not result.failed and all(c.p_value == 1.0 for c in result.arms)
    worse = _run(tmp_path, "worse", _arms(lora_acc=0.7))
    result = compare_runs(base, worse, GateOptions(fail_on_recommendation_change=False))
    lora = next(c for c in result.arms if c.arm == "lora")
    assert result.failed and lora.delta == pytest.approx(-0.2)
    assert "paired" in lora.test and any("significant" in f for f in lora.failures)
    # a drop within the threshold and not significant passes
    slight = _run(tmp_path, "slight", _arms(lora_acc=0.89))
    assert not compare_runs(base, slight).failed
    # a changed recommendation fails unless allowed
    flipped = _run(tmp_path, "flipped", _arms(lora_acc=0.5, kshot_acc=0.95))
    result = compare_runs(base, flipped, GateOptions(max_drop=None, fail_on_significant_drop=False))
    assert result.failures == ["recommendation changed: lora -> kshot"]
    junit = ET.fromstring(to_junit(result).split("?>", 1)[1])
    suite = junit.find("testsuite")
    assert suite.get("failures") == "1" and suite.find("testcase[@name='recommendation']/failure") is not None


def test_compare_cli_exit_codes_junit_and_summary(tmp_path: Path) -> None:
    base = _run(tmp_path, "base", _arms())
    worse = _run(tmp_path, "worse", _arms(lora_acc=0.7))
    ok = cli("compare", str(base), str(base))
    assert ok.returncode == 0, ok.stderr
    bad = cli("compare", str(base), str(worse / "run.json"), "--junit", str(tmp_path / "j.xml"),
              "--summary", str(tmp_path / "s.md"))
    assert bad.returncode == 1 and "FAILED" in bad.stdout
    assert "lora" in (tmp_path / "s.md").read_text() and ET.parse(tmp_path / "j.xml").getroot().tag == "testsuites"
    missing = cli("compare", str(base), str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no run record here" in missing.stderr and "Traceback" not in missing.stderr


def test_report_formats_from_the_cli(tmp_path: Path) -> None:
    run = _run(tmp_path, "run", _arms())
    md = cli("report", str(run), "--format", "md")
    assert md.returncode == 0 and md.stdout.startswith("# advisor report: synthetic")
    html = cli("report", str(run), "--format", "html")
    assert html.returncode == 0 and (run / "report.html").read_text().startswith("<!DOCTYPE html>")
    term = cli("report", str(run))
    assert term.returncode == 0 and "Adopt lora" in term.stdout
    # training and risks as sentences and a small table, no raw keys
    assert "Trained 1,081,344 of 135,596,352 parameters (0.80%)" in term.stdout
    assert "risks flagged: overfitting after step 8" in term.stdout and "2 of 100 test inputs" in term.stdout
    for raw in ("trainable_share", "train_loss_falling", "flagged_ids"):
        assert raw not in term.stdout and raw not in md.stdout


def test_run_records_a_recommendation_and_writes_the_html_report(task_dir: Path) -> None:
    task = make_task(task_dir, TASK_YAML + "pricing:\n  queries_per_month: 5000\ndecision:\n  max_p95_latency_ms: 60000\n")
    proc = cli("run", str(task), "--out", str(task_dir / "run"), "--limit", "12")
    assert proc.returncode == 0, proc.stderr
    from advisor.evaluation.record import read_record

    record, _ = read_record(task_dir / "run")
    rec = record.recommendation
    assert rec.winner in {"zero", "two-shot", "gen"} and rec.rationale
    assert rec.assumptions.pricing.queries_per_month == 5000
    assert "pricing.queries_per_month" not in rec.assumptions.defaults_used
    assert (task_dir / "run" / "report.html").exists() and "recommendation" in proc.stdout


def test_bad_pricing_block_names_its_line(task_dir: Path) -> None:
    task = make_task(task_dir, TASK_YAML + "pricing:\n  queries_per_month: -3\n  gpu_price: 2\n")
    proc = cli("validate", str(task))
    assert proc.returncode == 2
    assert re.search(r"task.yaml:\d+: pricing.queries_per_month", proc.stderr)
    assert "gpu_price" in proc.stderr and "serving_hourly_usd" in proc.stderr


def test_dry_run_estimates_without_running(task_dir: Path) -> None:
    task = make_task(task_dir, TASK_YAML)
    proc = cli("run", str(task), "--dry-run", cwd=task_dir)
    assert proc.returncode == 0, proc.stderr
    assert "dry run" in proc.stdout and "two-shot" in proc.stdout and "prompt tok/s" in proc.stdout
    assert not (task_dir / "runs").exists()


def test_dry_run_counts_real_tokens(task_dir: Path) -> None:
    from advisor.evaluation.dryrun import estimate_run
    from advisor.spec import load_task

    est = estimate_run(load_task(make_task(task_dir, TASK_YAML)))
    by = {a.arm: a for a in est.arms}
    assert by["two-shot"].estimate.prompt_tokens > by["zero"].estimate.prompt_tokens > 0  # demonstrations cost tokens
    assert by["gen"].estimate.completion_tokens == 32 * est.test_items and by["zero"].estimate.choice_requests
    assert est.calibration.prompt_tokens_per_s > 0 and by["two-shot"].wall_s >= 0
