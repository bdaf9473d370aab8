"""The record itself as JSON (for scripts): exactly run.json, re-serialised."""

from __future__ import annotations

import json

from advisor.record import RunRecord

__all__ = ["render_json"]


def render_json(record: RunRecord, console=None) -> str:
    text = json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False)
    if console is not None:
        console.print_json(text)
    return text
