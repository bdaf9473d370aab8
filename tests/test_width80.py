"""Readable at 80 columns: the dry-run table, the run summary and the recommendation panel.

"No cell wraps" is checked exactly: in the rendered text, each row's line holds every one of
that row's cell values in full (a wrapped cell would leave part of its value on a line of
its own), and no line is wider than 80 columns.
"""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from advisor.evaluation.dryrun import ArmEstimate, DryRun, SpeedCalibration
from advisor.evaluation.strategy import Estimate
from advisor.spec.policy import PricingSpec
from reports.data import gather
from reports.dryrun_table import HEADERS, _cells, dry_run_view, footnotes
from reports.terminal import arm_table, recommendation_panel
from tests.factories import make_run


def _render(renderable) -> list[str]:
    console = Console(width=80, file=StringIO(), color_system=None, highlight=False)
    console.print(renderable)
    lines = console.file.getvalue().splitlines()
    assert max(len(ln) for ln in lines) <= 80
    return lines


def _line_with_all(lines: list[str], cells: list[str]) -> str:
    for ln in lines:
        rest = ln
        for cell in cells:  # in order, left to right, each in full
            at = rest.find(cell)
            if at < 0:
                break
            rest = rest[at + len(cell):]
        else:
            return ln
    raise AssertionError(f"no single line holds the row {cells}:\n" + "\n".join(lines))


def _dry_run() -> DryRun:
    long_notes = ["prefix caching not counted: cached prompt tokens would make it faster",
                  "embedding 1,240 texts not included in the time"]
    arms = []
    for i, (name, notes) in enumerate([("zero-shot", []), ("k-shot-generate", long_notes[:1]),
                                       ("knn-shot", long_notes), ("lora", ["calibration run on 32 examples"])]):
        est = Estimate(requests=1234, prompt_tokens=123456 * (i + 1), completion_tokens=4936, training_steps=30 * i,
                       notes=notes)
        arms.append(ArmEstimate(arm=name, strategy="prompting", estimate=est, predict_s=100.0 * i, train_s=None,
                                wall_s=1234.5 * (i + 1), run_usd=0.0123 * i, per_1k_usd=0.00456, notes=notes))
    cal = SpeedCalibration(batch=8, prompt_tokens_per_s=1543.2, generated_tokens_per_s=61.0, seconds=3.2, how="x")
    return DryRun(task="sms-spam", test_items=150, backend="transformers", calibration=cal, arms=arms,
                  pricing=PricingSpec())


def test_dry_run_fits_80_columns_with_numbered_footnotes() -> None:
    est = _dry_run()
    lines = _render(dry_run_view(est))
    _line_with_all(lines, list(HEADERS))
    refs, notes = footnotes(est)
    for row in est.arms:
        _line_with_all(lines, _cells(row, refs[row.arm]))
    assert refs["knn-shot"] == [1, 2] and refs["k-shot-generate"] == [1] and len(notes) == 3  # shared note, one number
    for i, note in enumerate(notes, start=1):  # each footnote under the table, numbered
        assert any(ln.startswith(f"[{i}] ") for ln in lines)
        assert note.split()[0] in "\n".join(lines)
    assert "notes" not in lines[2]  # no notes column in the header


def test_summary_and_recommendation_fit_80_columns() -> None:
    record, rows = make_run({"zero-shot-generate": {"accuracy": 0.61}, "k-shot-generate": {"accuracy": 0.72},
                             "lora": {"accuracy": 0.9, "one_off_s": 120.0, "p95_ms": 12345.0}},
                            pricing={"queries_per_month": 100000})
    import tempfile
    from pathlib import Path

    from tests.factories import write_run

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_run(Path(tmp), record, rows)
        d = gather(record, run_dir)
        table = arm_table(d)
        lines = _render(table)
        for arm in record.arms:
            line = next(ln for ln in lines if arm.name in ln)
            assert len(line.split()) >= 6, f"row of {arm.name} wrapped: {line!r}"
        body = [ln for ln in lines if ln.strip()]
        assert len(body) <= len(record.arms) + 8  # title, header, rule, rows, caption: nothing wrapped per cell
        panel = recommendation_panel(d)
        plines = _render(panel)
        assert any("Adopt" in ln for ln in plines)
        inner = [ln.strip("│ ").strip() for ln in plines[1:-1] if ln.strip("│ ").strip()]
        # prose wraps at words; a one-fragment line would be a cell/column squeeze
        assert all(len(x.split()) >= 2 or len(x) >= 12 for x in inner), plines
