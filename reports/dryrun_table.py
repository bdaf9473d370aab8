"""The dry-run table, readable in an 80-column terminal.

Every numeric cell is short and never wraps; each arm's notes become numbered footnotes
under the table ("[1] ..."), referenced from the arm cell, instead of a notes column that
an 80-column terminal breaks into one word per line. Identical notes share one number.
"""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from advisor import fmt
from advisor.evaluation.dryrun import DryRun

__all__ = ["dry_run_view", "footnotes"]

HEADERS = ("arm", "req", "prompt tok", "gen tok", "steps", "wall", "$ run", "$/1k q")


def footnotes(est: DryRun) -> tuple[dict[str, list[int]], list[str]]:
    """Per arm, its footnote numbers; and the numbered notes, each text once."""
    numbers: dict[str, int] = {}
    refs: dict[str, list[int]] = {}
    for row in est.arms:
        refs[row.arm] = []
        for note in row.notes:
            if note not in numbers:
                numbers[note] = len(numbers) + 1
            refs[row.arm].append(numbers[note])
    return refs, list(numbers)


def _cells(row, refs: list[int]) -> list[str]:
    e = row.estimate
    arm = row.arm + (f" [{','.join(map(str, refs))}]" if refs else "")
    return [arm, "—" if e.requests is None else f"{e.requests:,}", f"{e.prompt_tokens:,}", f"{e.completion_tokens:,}",
            f"{e.training_steps:,}" if e.training_steps else "—", f"{row.wall_s:,.0f} s", fmt.usd(row.run_usd),
            fmt.usd(row.per_1k_usd)]


def dry_run_view(est: DryRun) -> Group:
    """Title, table, numbered notes and how the speeds were measured."""
    refs, notes = footnotes(est)
    cal = est.calibration
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", padding=0, show_edge=False,
                  title=f"dry run: {escape(est.task)} · {est.test_items} test items · backend {escape(est.backend)}")
    for h in HEADERS:
        table.add_column(h, justify="left" if h == "arm" else "right", no_wrap=True)
    for row in est.arms:
        cells = _cells(row, refs[row.arm])
        table.add_row(Text(cells[0]), *cells[1:])  # Text: "[1]" is a footnote mark, not markup
    lines: list = [table]
    for i, note in enumerate(notes, start=1):
        lines.append(Text(f"[{i}] {note}"))
    lines.append(Text(f"speeds measured here: {cal.prompt_tokens_per_s:,.0f} prompt tok/s, "
                      f"{cal.generated_tokens_per_s or 0:,.0f} generated tok/s at batch {cal.batch} "
                      f"({cal.seconds:.1f} s calibration); serving {fmt.usd(est.pricing.serving_hourly_usd)}/h; "
                      "wall and $ are estimates; $ at the pricing block's rates", style="dim"))
    return Group(*lines)
