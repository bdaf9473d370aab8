"""Property-based fuzzing of the spec loader, the data readers and the record readers
(tests/fuzz_targets.py): every generated case ends in success or a UserError (exit 2 with a
message), never another exception, within 2 s and 500 MB. A few hundred cases per target
here; 1,000 per target in the slow tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz_targets import TARGETS, fuzz

FAST, SLOW = 200, 1000


@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzz_fast(target: str, tmp_path: Path) -> None:
    stats = fuzz(target, tmp_path, FAST)
    assert stats["cases"] >= FAST
    assert stats["user_error"] > 0  # the generators do reach the error paths


@pytest.mark.slow
@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzz_slow(target: str, tmp_path: Path) -> None:
    stats = fuzz(target, tmp_path, SLOW)
    assert stats["cases"] >= SLOW
    assert stats["ok"] > 0 and stats["user_error"] > 0  # both outcomes are exercised
