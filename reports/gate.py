"""Writers for `advisor compare`: JUnit XML (CI test results) and Markdown (a CI job summary).

Registered in `advisor.registry.gate_writers` as `junit` and `md`; each takes the typed
`Comparison` from advisor.decision.gate and returns text.
"""

from __future__ import annotations

import math
from xml.etree import ElementTree as ET

from advisor import fmt
from advisor.decision.gate import ArmCheck, Comparison

__all__ = ["to_junit", "to_markdown", "HEADERS"]


def _row(c: ArmCheck) -> list[str]:
    return [c.arm, c.metric, fmt.pct(c.baseline), fmt.pct(c.new),
            "—" if c.delta is None else fmt.points(c.delta).replace(" points", ""),
            fmt.interval(c.low, c.high) if c.low is not None else "—",
            "—" if c.p_value is None or math.isnan(c.p_value) else fmt.p_value(c.p_value),
            f"{fmt.ms(c.p95_ms[0])} → {fmt.ms(c.p95_ms[1])}",
            "FAIL: " + "; ".join(c.failures) if c.failures else ("ok" + (f" ({'; '.join(c.notes)})" if c.notes else ""))]


HEADERS = ["arm", "metric", "baseline", "new", "Δ points", "95% CI", "p", "p95 latency", "gate"]


def to_markdown(cmp: Comparison) -> str:
    lines = [f"## advisor compare: {'FAILED' if cmp.failed else 'passed'}", "",
             f"Baseline `{cmp.baseline}` → new `{cmp.new}`.", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(x.replace("|", "\\|") for x in _row(c)) + " |" for c in cmp.arms]
    b, n = cmp.recommendation
    lines += ["", f"Recommendation: {b or 'none'} → {n or 'none'}" + (" (changed)" if b != n else " (unchanged)") + "."]
    lines += [f"- **{f}**" for f in cmp.failures]
    tests = sorted({c.test for c in cmp.arms if c.test})
    if tests:
        lines += ["", "Tests: " + "; ".join(tests) + "."]
    return "\n".join(lines) + "\n"


def to_junit(cmp: Comparison) -> str:
    cases = [(f"arm {c.arm}: {c.metric}", c.failures, _row(c)) for c in cmp.arms]
    cases.append(("recommendation", cmp.failures, [f"{cmp.recommendation[0]} -> {cmp.recommendation[1]}"]))
    suite = ET.Element("testsuite", name="advisor compare", tests=str(len(cases)),
                       failures=str(sum(1 for _, f, _ in cases if f)), errors="0")
    for name, failures, row in cases:
        case = ET.SubElement(suite, "testcase", classname="advisor.compare", name=name)
        if failures:
            ET.SubElement(case, "failure", message="; ".join(failures)).text = " | ".join(row)
        else:
            ET.SubElement(case, "system-out").text = " | ".join(row)
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
