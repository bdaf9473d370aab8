"""The shared cache helper: build in a temp folder, publish only when the marker is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from advisor.artifacts.cache import atomic_write_json, atomic_write_text, build_folder, built


def test_build_publishes_the_folder_once_and_a_second_build_finds_it_done(tmp_path: Path) -> None:
    with build_folder(tmp_path, "k1", "done.json") as b:
        assert not b.done and b.tmp.parent == tmp_path and not b.folder.exists()
        (b.tmp / "payload.bin").write_bytes(b"x" * 10)
        atomic_write_json(b.tmp / "done.json", {"ok": True})
    assert built(tmp_path, "k1", "done.json") == tmp_path / "k1"
    assert (tmp_path / "k1" / "payload.bin").read_bytes() == b"x" * 10
    with build_folder(tmp_path, "k1", "done.json") as again:
        assert again.done  # nothing rebuilt; the published folder is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["k1"]


def test_failed_or_unmarked_builds_leave_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with build_folder(tmp_path, "k2", "done.json") as b:
            (b.tmp / "half.bin").write_bytes(b"half")
            raise ValueError("crash mid-build")
    with pytest.raises(RuntimeError, match="without writing its marker done.json"):
        with build_folder(tmp_path, "k2", "done.json") as b:
            (b.tmp / "half.bin").write_bytes(b"half")
    assert built(tmp_path, "k2", "done.json") is None
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_atomic_writer_replaces_whole_files_and_cleans_up_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "run.json"
    atomic_write_json(target, {"a": "é"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "é"} and target.read_text().endswith("\n")
    assert oct(os.stat(target).st_mode & 0o777) == "0o644"
    with pytest.raises(TypeError):
        atomic_write_text(target, None)  # type: ignore[arg-type]  # fails inside the write
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "é"}  # old content intact
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]  # no temp file left
