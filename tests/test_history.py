"""Run history: indexing finished runs, queries, trend reports and `compare --against`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.errors import UserError
from advisor.evaluation.history import index_run, pick_baseline, task_history
from advisor.evaluation.record import read_record
from reports.history import sparkline


def _run(task: Path, out: Path, *extra: str) -> int:
    return main(["run", str(task), "--out", str(out), "--arms", "zero,gen", *extra])


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Three runs of the toy task into runs/; in the second the gen arm answers with a wrong first word.
    Made once for the module (with the same isolation as conftest's per-test fixture)."""
    from tests.conftest import TASK_YAML, spam_rows, write_rows

    root = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_NO_CACHE", "1")
        mp.setenv("ADVISOR_CACHE_DIR", str(root / "cache"))
        write_rows(root / "data.jsonl", spam_rows())
        (root / "task.yaml").write_text(TASK_YAML, encoding="utf-8")
        yield _three(root / "task.yaml", root / "runs")


def _three(task: Path, runs: Path) -> Path:
    assert _run(task, runs / "r1") == 0
    original = task.read_text()
    task.write_text(original.replace("config: {mode: generate}", "config: {mode: generate, template: 'Text: {input}'}"))
    assert _run(task, runs / "r2") == 0
    task.write_text(original)
    assert _run(task, runs / "r3") == 0
    return runs


def test_every_finished_run_is_indexed_with_its_numbers(three_runs):
    db = three_runs / "history.sqlite"
    runs = task_history(db, "toy")
    assert [Path(r.run_dir).name for r in runs] == ["r1", "r2", "r3"]
    record, _ = read_record(three_runs / "r3")
    last = runs[-1]
    assert last.run_id == record.run_id and last.recommendation == record.recommendation.winner
    arm = last.arms["zero"]
    ci = record.recommendation.interval("zero", "accuracy")
    assert arm.value == record.arm("zero").metrics["accuracy"] and (arm.low, arm.high) == (ci.low, ci.high)
    assert arm.p95_ms == record.arm("zero").latency.p95_ms and arm.n == record.arm("zero").n
    assert arm.per_query_usd == record.recommendation.costs["zero"].per_query_usd
    assert task_history(db, "toy", last=2)[0].run_id == runs[1].run_id
    assert task_history(db, "other-task") == []
    index_run(record, three_runs / "r3", db)  # indexing again replaces, never duplicates
    assert len(task_history(db, "toy")) == 3


def test_pick_baseline_last_best_n_and_run_id(three_runs):
    db = three_runs / "history.sqlite"
    runs = task_history(db, "toy")
    newest = runs[-1].run_id
    assert pick_baseline(db, "toy", "last", exclude=newest).run_id == runs[1].run_id
    assert pick_baseline(db, "toy", "2", exclude=newest).run_id == runs[0].run_id
    assert pick_baseline(db, "toy", runs[0].run_id).run_id == runs[0].run_id
    # best: the highest primary metric of the recommended arm (runs 1 and 3 are the same task: the newer wins a tie)
    best = pick_baseline(db, "toy", "best")
    score = lambda r: r.arms[r.recommendation].value  # noqa: E731
    assert score(best) == max(score(r) for r in runs)
    with pytest.raises(UserError, match="holds 2 earlier"):
        pick_baseline(db, "toy", "3", exclude=newest)
    with pytest.raises(UserError, match="expected last, best"):
        pick_baseline(db, "toy", "yesterday")


def test_compare_against_the_history_gates(three_runs, capsys):
    runs = task_history(three_runs / "history.sqlite", "toy")
    assert runs[1].arms["gen"].value == 0 < runs[0].arms["gen"].value  # r2's gen arm regressed
    allow = "--allow-recommendation-change"  # tied arms: the cheaper wins, and busy times are noisy
    assert main(["compare", str(three_runs / "r2"), "--against", runs[0].run_id, allow]) == 1
    assert "gen" in capsys.readouterr().out
    assert main(["compare", str(three_runs / "r3"), "--against", "last", allow]) == 0  # r2: gen improved
    assert main(["compare", str(three_runs / "r3"), "--against", "2", allow]) == 0  # r1: the same answers
    assert main(["compare", str(three_runs / "r3")]) == 2  # neither a baseline nor --against
    assert "give a baseline run" in capsys.readouterr().err


def test_history_table_and_html_page(three_runs, tmp_path, capsys):
    db = three_runs / "history.sqlite"
    assert main(["history", "toy", "--history", str(db)]) == 0
    out = capsys.readouterr().out
    assert "zero" in out and "gen" in out and re.search("[▁▂▃▄▅▆▇█]{3}", out)
    page = tmp_path / "h.html"
    assert main(["history", "toy", "--history", str(db), "--format", "html", "-o", str(page)]) == 0
    html = page.read_text()
    assert html.count("<svg") == 2  # one trend plot per arm
    runs = task_history(db, "toy")
    commit = (runs[0].commit or "-")[:8]
    assert html.count(f"commit {commit}") >= 2 and f"run {runs[0].run_id}" in html  # hover titles
    assert main(["history", "toy", "--history", str(tmp_path / "none.sqlite")]) == 2


def test_cancelled_runs_are_not_indexed_and_a_broken_history_is_a_clear_error(task_dir, tmp_path, capsys):
    from advisor.cli_history import index_finished

    record, run_dir = None, tmp_path / "x"
    assert _run(task_dir / "task.yaml", run_dir) == 0
    record, _ = read_record(run_dir)
    record.status = "cancelled"
    assert index_finished(record, run_dir, tmp_path / "h.sqlite") is None and not (tmp_path / "h.sqlite").exists()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(UserError, match="not a run history"):
        task_history(bad, "toy")
    record.status = "ok"
    assert index_finished(record, run_dir, bad) is None  # a warning; the finished run is not failed for it
    assert "not added to the history" in capsys.readouterr().err


def test_sparkline_scales_between_min_and_max():
    assert sparkline([0.1, 0.5, 0.9]) == "▁▅█"
    assert sparkline([0.5, None, 0.5]) == "▄ ▄"
    assert sparkline([]) == ""


def test_runs_started_in_the_same_second_keep_the_order_they_finished_in(three_runs, tmp_path):
    """`created` has one-second resolution: runs that tie on it are listed in indexing order,
    not by their random run ids."""
    record, _ = read_record(three_runs / "r1")
    db = tmp_path / "history.sqlite"
    ids = ["ffff0001", "0000aaaa", "8888bbbb"]
    for run_id in ids:
        index_run(record.model_copy(update={"run_id": run_id, "created": "2026-01-01T00:00:00Z",
                                            "finished": "2026-01-01T00:00:01Z"}), three_runs / "r1", db)
    assert [r.run_id for r in task_history(db, "toy")] == ids
