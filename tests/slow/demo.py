"""The SMS demo task for slow tests, with the free-generation arms it leaves out (they fail on
the 135M model, but the tests compare backends and record shapes, not accuracy)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT

DEMO = ROOT / "benchmarks" / "sms_spam" / "task.yaml"
GENERATION_ARMS = """\
  - name: zero-shot-generate
    strategy: prompting
    config: {shots: 0, mode: generate, template: "SMS: {input}"}
  - name: k-shot-generate
    strategy: prompting
    config: {shots: 6, mode: generate, template: "SMS: {input}"}
"""


def demo_copy(folder: Path, *, generation: bool = True, extra: str = "") -> Path:
    """The demo as `folder`/task.yaml (its data path made absolute), with the generation arms
    added after its own and `extra` YAML appended."""
    text = DEMO.read_text().replace("path: data/sms_spam.jsonl", f"path: {DEMO.parent / 'data' / 'sms_spam.jsonl'}")
    if generation:
        text = text.rstrip("\n") + "\n" + GENERATION_ARMS
    folder.mkdir(parents=True, exist_ok=True)
    task = folder / "task.yaml"
    task.write_text(text + extra)
    return task
