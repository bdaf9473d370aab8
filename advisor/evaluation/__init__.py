"""Evaluation: the arm contract (strategy), the runner that drives arms through a backend on
the test split, item scoring and arm summaries, the versioned run record, and the dry run
that estimates all of it without running anything."""
