"""Example answers for the report, and the per-arm answer-quality table.

Examples are chosen to show where the top two arms (winner and runner-up, else the two best
on the primary metric) disagree most: the test items with the largest difference in item
score, alternating between items each of the two does better on, ties broken by test
order. When fewer than N items differ, tied items fill up the rest in test order. Each example gives the input, the
reference, every arm's answer (with its item score and degenerate flag) and, for retrieval
arms, the passages the answer was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from advisor import fmt
from advisor.evaluation.record import SampleRow
from reports.data import ReportData

__all__ = ["Example", "top_two", "select_examples", "quality_rows", "QUALITY_HEADERS", "DEFAULT_EXAMPLES"]

DEFAULT_EXAMPLES = 3
QUALITY_HEADERS = ["arm", "answers checked", "degenerate", "by kind", "groundedness (retrieved)", "supported",
                   "gold passage ignored"]


@dataclass
class Example:
    id: str
    input: str
    target: str
    answers: dict[str, SampleRow] = field(default_factory=dict)  # arm -> its row
    why: str = ""


def top_two(d: ReportData) -> tuple[str, str] | None:
    """(first, second): the recommendation's winner and runner-up, else the two best ok arms."""
    rec = d.rec
    ok = [a for a in d.arms if a.status == "ok" and d.rows.get(a.name)]
    names = [a.name for a in ok]
    if rec is not None and rec.winner in names and rec.runner_up in names:
        return rec.winner, rec.runner_up
    hib = rec.higher_is_better if rec is not None else True
    ranked = sorted(ok, key=lambda a: a.metrics.get(d.primary, float("-inf") if hib else float("inf")), reverse=hib)
    return (ranked[0].name, ranked[1].name) if len(ranked) >= 2 else None


def select_examples(d: ReportData, n: int) -> list[Example]:
    """Up to `n` test items where the top two arms disagree most (see the module docstring)."""
    if n <= 0 or not d.rows:
        return []
    pair = top_two(d)
    order = [a.name for a in d.arms if d.rows.get(a.name)]
    if not order:
        return []
    first = d.rows[order[0]]
    if pair is None:
        chosen = [(r.id, "") for r in first[:n]]
    else:
        a, b = pair
        rows_a, rows_b = {r.id: r for r in d.rows[a]}, {r.id: r for r in d.rows[b]}
        common = [i for i in (r.id for r in d.rows[a]) if i in rows_b]
        diffs = [(rows_a[i].score - rows_b[i].score, pos, i) for pos, i in enumerate(common)]
        a_better = sorted((x for x in diffs if x[0] > 0), key=lambda x: (-x[0], x[1]))
        b_better = sorted((x for x in diffs if x[0] < 0), key=lambda x: (x[0], x[1]))
        chosen = []
        while len(chosen) < n and (a_better or b_better):
            for side, who in ((a_better, a), (b_better, b)):
                if side and len(chosen) < n:
                    delta, _, item = side.pop(0)
                    chosen.append((item, f"{who} scores {fmt.points(abs(delta))} higher"))
        picked = {item for item, _ in chosen}
        chosen += [(i, f"{a} and {b} score the same") for i in common if i not in picked][: n - len(chosen)]
    by_arm = {name: {r.id: r for r in d.rows[name]} for name in order}
    out = []
    for item, why in chosen:
        any_row = next(by_arm[name][item] for name in order if item in by_arm[name])
        out.append(Example(item, any_row.input, any_row.target,
                           {name: by_arm[name][item] for name in order if item in by_arm[name]}, why))
    return out


def quality_rows(d: ReportData) -> list[list[str]]:
    """One row per arm with answer-quality counts (arms without checked answers are left out)."""
    rows = []
    for a in d.arms:
        q = a.quality
        if q is None:
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in q.degenerate_by_kind.items()) or "—"
        rows.append([a.name, str(q.n), f"{fmt.pct(q.degenerate_share)} ({q.degenerate})", kinds,
                     fmt.pct(q.groundedness_mean) if q.groundedness_mean is not None else "—",
                     fmt.pct(q.grounded_share) if q.grounded_share is not None else "—",
                     f"{fmt.pct(q.gold_ignored_share)} of {q.gold_n}" if q.gold_ignored_share is not None else "—"])
    return rows


def clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
