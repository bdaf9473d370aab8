"""The typed record: the shipped JSON Schema, version handling, and strict sections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from advisor.cli import main
from advisor.decision.engine import recommend
from advisor.errors import UserError
from advisor.evaluation.record import SCHEMA_FILE, SCHEMA_VERSION, RunRecord, read_record
from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.schema import schema_text
from advisor.evaluation.sections import ArmDetails, OneOffCost, PrepareFacts
from advisor.spec import load_task
from tests.factories import lora_facts, make_run, write_run


def test_shipped_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), \
        "run.schema.json is stale: python -m advisor.evaluation.schema"


def test_a_real_run_json_validates_against_the_shipped_schema(task_dir: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    _, run_dir = run_task(load_task(task_dir / "task.yaml"), RunOptions(out=task_dir / "run", limit=6))
    data = json.loads((run_dir / "run.json").read_text())
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(data, schema)
    assert data["schema_version"] == SCHEMA_VERSION == "2.0" and data["recommendation"]["version"] == 2
    broken = dict(data, arms=[dict(data["arms"][0], prepare={"one_of": []})])  # a misspelled key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_synthetic_record_with_every_section_validates(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    record, rows = make_run({"a": {"accuracy": 0.7}, "lora": {"accuracy": 0.8, "one_off_s": 60, "strategy": "lora"}})
    record.arm("lora").prepare.training, record.arm("lora").details.risks = lora_facts()
    record.recommendation = recommend(record, rows)
    run = write_run(tmp_path / "run", record, rows)
    data = json.loads((run / "run.json").read_text())
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))
    again, _ = read_record(run)
    assert again == record  # run.json round-trips to the same typed record


def test_one_off_costs_and_details_reject_misspelled_keys() -> None:
    with pytest.raises(ValidationError, match="second"):
        OneOffCost.model_validate({"kind": "training", "what": "LoRA", "second": 30, "hardware": "cpu"})
    with pytest.raises(ValidationError):
        PrepareFacts.model_validate({"one_offs": []})
    with pytest.raises(ValidationError):
        ArmDetails.model_validate({"retreival": {"k": 3}})
    facts = PrepareFacts()
    with pytest.raises(ValidationError):
        facts.one_off = [{"kind": "index", "what": "x", "seconds": -1, "hardware": "cpu"}]  # negative seconds


def _v1(tmp_path: Path) -> Path:
    """A run.json as advisor 1.x wrote it (same sections, untyped), with a failed decision."""
    record, rows = make_run({"a": {"accuracy": 0.7}, "b": {"accuracy": 0.8, "one_off_s": 60, "kind": "index"}})
    run = write_run(tmp_path / "v1", record, rows)
    data = json.loads((run / "run.json").read_text())
    data["schema_version"] = "1.0"
    data.pop("decision_error")
    data["recommendation"] = {"error": "ValueError: boom"}
    (run / "run.json").write_text(json.dumps(data))
    return run


def test_version_1_records_are_upgraded(tmp_path: Path) -> None:
    record, _ = read_record(_v1(tmp_path))
    assert record.schema_version == SCHEMA_VERSION and record.recommendation is None
    assert record.decision_error == "ValueError: boom"
    assert record.arm("b").prepare.one_off[0].kind == "index"


def test_unreadable_versions_are_refused_with_file_and_both_versions(tmp_path: Path, capsys) -> None:
    run = _v1(tmp_path)
    data = json.loads((run / "run.json").read_text())
    data["arms"][0]["prepare"] = {"one_of": []}  # not something 1.x could upgrade
    (run / "run.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"run.json: schema_version 1.0 cannot be upgraded to 2.0 \(arms.0.prepare.one_of"):
        read_record(run)
    data["schema_version"] = "3.1"
    (run / "run.json").write_text(json.dumps(data))
    assert main(["report", str(run), "--format", "md"]) == 2
    err = capsys.readouterr().err
    assert "run.json" in err and "schema_version 3.1 is not supported" in err and "2.0" in err
    assert "Traceback" not in err


def test_record_model_is_strict_at_the_top_level() -> None:
    record, _ = make_run({"a": {"accuracy": 0.7}})
    data = record.model_dump(mode="json")
    data["recomendation"] = None
    with pytest.raises(ValidationError):
        RunRecord.model_validate(data)
