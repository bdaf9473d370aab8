"""The rich reporter in a log (not a terminal): arms and one-off jobs print periodic lines
with a rate timed from the job's start, instead of a bar nobody sees."""

from __future__ import annotations

import io

from rich.console import Console

from advisor import progress as progress_mod
from advisor.progress import RichReporter


def _reporter(monkeypatch, terminal: bool = False):
    now = [1000.0]
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: now[0])
    out = io.StringIO()
    return RichReporter(Console(file=out, width=100, force_terminal=terminal)), out, now


def test_an_arm_prints_a_line_every_period_and_at_the_end_in_a_log(monkeypatch) -> None:
    reporter, out, now = _reporter(monkeypatch)
    reporter.arm_start("k-shot", 150)
    for _ in range(150):
        now[0] += 0.2  # 5 items/s: 30 s in all
        reporter.advance("k-shot", 1)
    reporter.arm_end("k-shot", "ok")
    reporter.close()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("· arm k-shot")]
    assert lines[0].startswith("· arm k-shot: 50/150 (5.0/s, eta 20 s)")
    assert lines[-1] == "· arm k-shot: 150/150 (5.0/s, eta 0 s)"
    assert len(lines) == 3  # at 10 s, 20 s and the end, not one per item


def test_a_repeated_arm_restarts_its_clock_and_a_terminal_gets_no_lines(monkeypatch) -> None:
    reporter, out, now = _reporter(monkeypatch)
    reporter.arm_start("lora", 10)
    now[0] += 100.0
    reporter.advance("lora", 10)
    reporter.arm_start("lora", 10)  # the next seed
    now[0] += 2.0
    reporter.advance("lora", 10)
    reporter.close()
    assert out.getvalue().splitlines()[-1] == "· arm lora: 10/10 (5.0/s, eta 0 s)"

    terminal, tout, now = _reporter(monkeypatch, terminal=True)
    terminal.arm_start("lora", 2)
    now[0] += 20.0
    terminal.advance("lora", 2)
    terminal.close()
    assert "· arm lora" not in tout.getvalue()
