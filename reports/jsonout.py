"""The record itself as JSON (for scripts): exactly run.json, re-serialised."""

from __future__ import annotations

import json
from pathlib import Path

from advisor.evaluation.record import RunRecord

__all__ = ["render_json"]


def render_json(record: RunRecord, run_dir: Path | None = None, console=None) -> str:
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
