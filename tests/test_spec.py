"""Task files: valid ones load; every broken one names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.errors import SpecError
from advisor.spec import load_task
from tests.conftest import TASK_YAML, make_task, spam_rows


def test_valid_task_resolves_paths_and_arm_configs(task_dir: Path) -> None:
    task = load_task(task_dir / "task.yaml")
    assert task.spec.data.path == (task_dir / "data.jsonl").resolve()
    assert task.spec.primary_metric == "accuracy"
    assert task.arm_configs["two-shot"].shots == 2
    assert task.arm_configs["gen"].mode == "generate"


def _error(tmp_path: Path, text: str) -> SpecError:
    path = make_task(tmp_path, text, spam_rows())
    with pytest.raises(SpecError) as info:
        load_task(path)
    assert str(path) in str(info.value)
    return info.value


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    text = TASK_YAML.replace("labels: [ham, spam]", "labels: [ham, spam")
    err = _error(tmp_path, text)
    assert "malformed YAML" in err.message and err.line is not None


@pytest.mark.parametrize("needle, replacement, field", [
    ("instructions: Say spam or ham.", "instructionz: Say spam or ham.", "instructionz"),
    ("  target_field: label", "  target_field: label\n  colour: red", "data.colour"),
    ("    config: {shots: 2}", "    config: {shots: 2, shot_count: 3}", "arms[1].config.shot_count"),
])
def test_unknown_field_is_rejected_with_its_line(tmp_path: Path, needle: str, replacement: str, field: str) -> None:
    text = TASK_YAML.replace(needle, replacement)
    err = _error(tmp_path, text)
    assert err.field == field
    assert err.line == _line_of(text, field.split(".")[-1])
    assert "unknown field" in err.message and "expected one of" in err.message


def test_unknown_top_level_field_line_is_exact(tmp_path: Path) -> None:
    text = TASK_YAML.replace("instructions: Say spam or ham.", "instructionz: Say spam or ham.")
    err = _error(tmp_path, text)
    assert err.line == _line_of(text, "instructionz")


def test_missing_required_field(tmp_path: Path) -> None:
    text = TASK_YAML.replace("type: classification\n", "")
    err = _error(tmp_path, text)
    assert err.field == "type" and "required" in err.message


def test_wrong_type_and_range(tmp_path: Path) -> None:
    text = TASK_YAML.replace("config: {shots: 2}", "config: {shots: -1}")
    err = _error(tmp_path, text)
    assert err.field == "arms[1].config.shots" and err.line == _line_of(text, "shots: -1")


def test_missing_data_file(tmp_path: Path) -> None:
    text = TASK_YAML.replace("path: data.jsonl", "path: nowhere.jsonl")
    err = _error(tmp_path, text)
    assert err.field == "data.path" and "not found" in err.message and err.line == _line_of(text, "nowhere.jsonl")


def test_classification_needs_labels(tmp_path: Path) -> None:
    err = _error(tmp_path, TASK_YAML.replace("labels: [ham, spam]\n", ""))
    assert "labels" in err.message


def test_duplicate_arm_names_and_unknown_strategy(tmp_path: Path) -> None:
    err = _error(tmp_path, TASK_YAML.replace("name: gen", "name: zero"))
    assert "unique" in err.message
    err = _error(tmp_path, TASK_YAML.replace("strategy: prompting\n    config: {mode: generate}",
                                             "strategy: telepathy\n    config: {mode: generate}"))
    assert "telepathy" in err.message and err.field == "arms[2].strategy"


def test_unknown_metric_and_split_ratios(tmp_path: Path) -> None:
    err = _error(tmp_path, TASK_YAML.replace("instructions:", "metric: vibes\ninstructions:"))
    assert err.field == "metric" and "vibes" in err.message
    err = _error(tmp_path, TASK_YAML.replace("test: 0.4", "test: 0.7"))
    assert "must be 1.0" in err.message


def test_choice_mode_needs_labels(tmp_path: Path) -> None:
    text = TASK_YAML.replace("type: classification", "type: qa").replace("labels: [ham, spam]\n", "")
    text = text.replace("config: {mode: generate}", "config: {mode: choice}")
    err = _error(tmp_path, text)
    assert err.field == "arms[2].config" and "label set" in err.message


def test_not_a_mapping(tmp_path: Path) -> None:
    err = _error(tmp_path, "- just\n- a list\n")
    assert "mapping" in err.message and err.line == 1
