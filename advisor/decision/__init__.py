"""Decision: intervals and paired tests (stats, significance), money (cost), the
recommendation engine (engine) and the CI gate that compares two runs (gate)."""
