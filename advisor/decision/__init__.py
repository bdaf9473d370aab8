"""Decision: intervals and paired tests (stats, significance), money (cost), the rules that
pick an arm (rules: metric-first, value, weighted), when the winner changes (sensitivity),
arms whose result is a lower bound (flags), learning-curve fits (curve_fit, curves), the
recommendation engine that ties them together with its rationale (engine, rationale) and
the CI gate that compares two runs (gate)."""
