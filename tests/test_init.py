"""`advisor init`: field/type detection, and `advisor validate` passing on what it writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.errors import UserError
from advisor.spec import load_task
from advisor.spec.init import detect


def _spam_csv(path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["msg_id", "category", "body"])
        for i in range(24):
            spam = i % 3 == 0
            w.writerow([f"m{i}", "spam" if spam else "ham",
                        f"WIN a free prize now number {i} call today" if spam else f"see you at lunch {i} ok?"])


def _qa_jsonl(path: Path, long: bool = False) -> None:
    with path.open("w") as fh:
        for i in range(20):
            answer = (f"The release number {i} is described in detail in the manual, together with its "
                      f"history, the people who built it and the reasons for each change.") if long else f"answer {i}"
            fh.write(json.dumps({"id": i, "question": f"What is the name of release {i}?", "answer": answer}) + "\n")


def _validate(task: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["validate", str(task)]) == 0
    return capsys.readouterr().out


def test_classification_csv(tmp_path: Path, capsys) -> None:
    data = tmp_path / "sms.csv"
    _spam_csv(data)
    out = tmp_path / "task.yaml"
    assert main(["init", str(data), "-o", str(out)]) == 0
    text = out.read_text()
    assert "# label counts in the data: ham 16, spam 8" in text
    task = load_task(out)
    assert task.spec.type == "classification"
    assert (task.spec.data.input_field, task.spec.data.target_field, task.spec.data.id_field) == ("body", "category", "msg_id")
    assert task.spec.labels == ["ham", "spam"]
    assert [a.name for a in task.spec.arms][:3] == ["zero-shot", "k-shot", "knn-shot"]
    assert "lora" in [a.strategy for a in task.spec.arms] and "rag" not in [a.strategy for a in task.spec.arms]
    assert "test labels: ham" in _validate(out, capsys)


def test_qa_jsonl_with_corpus(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    data = tmp_path / "data" / "qa.jsonl"
    _qa_jsonl(data)
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Release 1 is called one.")
    out = tmp_path / "task.yaml"
    assert main(["init", str(data), "--corpus", str(corpus), "-o", str(out)]) == 0
    task = load_task(out)
    assert task.spec.type == "qa" and task.spec.labels is None
    assert (task.spec.data.input_field, task.spec.data.target_field, task.spec.data.id_field) == ("question", "answer", "id")
    assert task.spec.corpus is not None and task.spec.corpus.path == corpus.resolve()
    assert "rag" in [a.strategy for a in task.spec.arms]
    assert "path: \"data/qa.jsonl\"" in out.read_text()  # relative to the task file
    _validate(out, capsys)


def test_long_answers_are_generation(tmp_path: Path, capsys) -> None:
    data = tmp_path / "long.jsonl"
    _qa_jsonl(data, long=True)
    out = tmp_path / "t.yaml"
    assert main(["init", str(data), "-o", str(out)]) == 0
    task = load_task(out)
    assert task.spec.type == "generation" and "rag" not in [a.strategy for a in task.spec.arms]
    assert task.spec.generation.max_new_tokens >= 2 * 20
    _validate(out, capsys)
    # --type wins over the inference
    out2 = tmp_path / "t2.yaml"
    assert main(["init", str(data), "--type", "qa", "-o", str(out2)]) == 0
    assert load_task(out2).spec.type == "qa"


def test_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    data = tmp_path / "sms.csv"
    _spam_csv(data)
    out = tmp_path / "task.yaml"
    out.write_text("mine\n")
    assert main(["init", str(data), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_text() == "mine\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_input_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "t.yaml")]) == 2
    assert "no such data file" in capsys.readouterr().err
    assert not (tmp_path / "t.yaml").exists()
    with pytest.raises(UserError, match="at least 2 rows"):
        detect([{"text": "a", "label": "b"}])


def test_shape_heuristics_without_known_names() -> None:
    rows = [{"k": f"r{i}", "blurb": f"a fairly long piece of free text number {i}", "tag": "x" if i % 2 else "y"}
            for i in range(10)]
    det = detect(rows)
    assert (det.input_field, det.target_field, det.id_field, det.type) == ("blurb", "tag", "k", "classification")
