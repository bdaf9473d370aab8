"""Data files: bad rows name their line; splits are seeded, complete and disjoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.spec.data import load_splits
from advisor.errors import DataError
from advisor.spec import load_task
from tests.conftest import TASK_YAML, make_task, spam_rows, write_rows


def _splits(tmp_path: Path, rows=None, text: str = TASK_YAML):
    path = make_task(tmp_path, text, rows if rows is not None else spam_rows())
    return load_splits(load_task(path).spec)


def test_split_sizes_are_seeded_and_disjoint(tmp_path: Path) -> None:
    a = _splits(tmp_path)
    b = _splits(tmp_path)
    assert a.sizes() == {"train": 20, "validation": 4, "test": 16}
    assert [s.id for s in a.test] == [s.id for s in b.test]
    ids = [s.id for part in (a.train, a.validation, a.test) for s in part]
    assert len(ids) == len(set(ids)) == 40
    c = _splits(tmp_path, text=TASK_YAML.replace("seed: 1}", "seed: 2}"))
    assert [s.id for s in c.test] != [s.id for s in a.test]


def test_bad_jsonl_row_names_its_line(tmp_path: Path) -> None:
    path = make_task(tmp_path, TASK_YAML, spam_rows())
    lines = (tmp_path / "data.jsonl").read_text().splitlines()
    lines[6] = '{"id": "x", "text": "broken'
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_splits(load_task(path).spec)
    assert info.value.line == 7 and "data.jsonl:7" in str(info.value) and "invalid JSON" in str(info.value)


@pytest.mark.parametrize("row, message", [
    ({"id": "z", "label": "ham"}, "missing field 'text'"),
    ({"id": "z", "text": "hi", "label": "eggs"}, "not in the label set"),
    ({"id": "r0", "text": "hi", "label": "ham"}, "duplicate id 'r0'"),
    ({"id": "z", "text": "  ", "label": "ham"}, "non-empty text"),
])
def test_row_problems(tmp_path: Path, row: dict, message: str) -> None:
    rows = spam_rows()
    rows.insert(3, row)
    path = make_task(tmp_path, TASK_YAML, rows)
    with pytest.raises(DataError) as info:
        load_splits(load_task(path).spec)
    assert message in str(info.value) and info.value.line == 4


def test_csv_rows_and_bad_csv_line(tmp_path: Path) -> None:
    csv_text = "id,text,label\n" + "".join(f"c{i},{r['text']},{r['label']}\n" for i, r in enumerate(spam_rows()))
    (tmp_path / "data.csv").write_text(csv_text)
    text = TASK_YAML.replace("path: data.jsonl", "path: data.csv")
    splits = load_splits(load_task(make_task(tmp_path, text)).spec)
    assert sum(splits.sizes().values()) == 40
    (tmp_path / "data.csv").write_text(csv_text.replace("c5,", "c5,extra,", 1))
    with pytest.raises(DataError) as info:
        load_splits(load_task(tmp_path / "task.yaml").spec)
    assert info.value.line == 7 and "more cells" in str(info.value)


def test_separate_files_and_empty_split(tmp_path: Path) -> None:
    write_rows(tmp_path / "train.jsonl", spam_rows(10))
    (tmp_path / "test.jsonl").write_text("")
    text = TASK_YAML.replace("  path: data.jsonl\n", "  train: train.jsonl\n  test: test.jsonl\n")
    with pytest.raises(DataError) as info:
        load_splits(load_task(make_task(tmp_path, text)).spec)
    assert "test split is empty" in str(info.value) and "test.jsonl" in str(info.value)
    write_rows(tmp_path / "test.jsonl", [{"id": "r1", "text": "dup", "label": "ham"}])
    with pytest.raises(DataError) as info:
        load_splits(load_task(tmp_path / "task.yaml").spec)
    assert "duplicate id 'r1'" in str(info.value)
