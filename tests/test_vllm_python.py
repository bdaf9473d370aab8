"""Finding the vLLM interpreter: each source in order, and one clear error when none has vLLM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.backends import vllm_python as vp
from advisor.errors import UserError
from tests.conftest import ROOT

FAKE = ROOT / "tests" / "fake_vllm"


def _venv(folder: Path, with_vllm: bool = True) -> Path:
    """A fake virtualenv python: a wrapper around this interpreter, with or without (fake) vllm."""
    py = folder / ".venv-vllm" / "bin" / "python"
    py.parent.mkdir(parents=True)
    path = str(FAKE) if with_vllm else ""
    py.write_text(f"#!/bin/sh\nPYTHONPATH={path} exec {sys.executable} -I \"$@\"\n" if not with_vllm else
                  f"#!/bin/sh\nPYTHONPATH={path} exec {sys.executable} \"$@\"\n")
    py.chmod(0o755)
    return py


@pytest.fixture(autouse=True)
def _clean(monkeypatch, tmp_path):
    monkeypatch.delenv("ADVISOR_VLLM_PYTHON", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.chdir(tmp_path)
    # this interpreter has no vllm, and the checkout's own .venv-vllm is not looked at in these tests
    monkeypatch.setattr(vp, "_discovered", lambda task_dir, real=vp._discovered: real(task_dir)
                        if task_dir is not None and (task_dir / ".venv-vllm").exists() else None)


def test_nothing_found_is_one_clear_error() -> None:
    with pytest.raises(UserError, match=r"no Python with vLLM found.*bash scripts/dev.sh vllm"):
        vp.find_vllm_python(None, None)


def test_order_serving_then_env_then_config_then_discovered(tmp_path: Path, monkeypatch) -> None:
    task_dir = tmp_path / "task"
    discovered = _venv(task_dir)
    assert vp.find_vllm_python(None, task_dir) == (str(discovered), "a .venv-vllm found beside the task or the checkout")
    cfg = _venv(tmp_path / "cfg")
    path = vp.record_vllm_python(str(cfg))
    assert path == tmp_path / "config" / "advisor" / "config.toml"
    python, source = vp.find_vllm_python(None, task_dir)
    assert python == str(cfg) and "config.toml" in source
    env = _venv(tmp_path / "env")
    monkeypatch.setenv("ADVISOR_VLLM_PYTHON", str(env))
    assert vp.find_vllm_python(None, task_dir) == (str(env), "$ADVISOR_VLLM_PYTHON")
    spec = _venv(tmp_path / "spec")
    assert vp.find_vllm_python(str(spec), task_dir) == (str(spec), "serving.python")


def test_record_keeps_other_lines(tmp_path: Path) -> None:
    path = vp.config_path()
    path.parent.mkdir(parents=True)
    path.write_text('vllm_python = "/old"\nother = 1\n')
    vp.record_vllm_python("/new/python")
    assert path.read_text() == 'vllm_python = "/new/python"\nother = 1\n'


def test_configured_python_without_vllm_or_missing_is_an_error(tmp_path: Path, monkeypatch) -> None:
    bare = _venv(tmp_path / "bare", with_vllm=False)
    monkeypatch.setenv("ADVISOR_VLLM_PYTHON", str(bare))
    with pytest.raises(UserError, match=r"ADVISOR_VLLM_PYTHON.*cannot import vllm"):
        vp.find_vllm_python(None, None)
    with pytest.raises(UserError, match=r"serving.python does not exist: /nope"):
        vp.find_vllm_python("/nope", None)


def test_cli_exits_2_before_any_server(task_dir: Path, tmp_path: Path) -> None:
    if (ROOT / ".venv-vllm").exists() or any((p / ".venv-vllm").exists() for p in ROOT.parents):
        pytest.skip("this checkout has a .venv-vllm, so the CLI finds it")  # and would start a real server
    env = {k: v for k, v in os.environ.items() if k != "ADVISOR_VLLM_PYTHON"}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(ROOT), COLUMNS="80")
    # a task folder outside the checkout, run from there: nothing to discover
    proc = subprocess.run([sys.executable, "-m", "advisor.cli", "run", str(task_dir / "task.yaml"), "--backend", "vllm",
                           "--out", str(tmp_path / "run"), "--limit", "2"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "bash scripts/dev.sh vllm" in proc.stderr and "Traceback" not in proc.stderr
    assert "starting a vLLM server" not in proc.stderr
