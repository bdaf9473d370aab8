"""Quiet by default: third-party warnings and load bars hidden unless -v; ours stay."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import sys, warnings
from advisor.quiet import configure
configure(verbose={verbose})
import types
mod = types.ModuleType("transformers.modeling_utils")
code = compile("import warnings\\nwarnings.warn('adapter FutureWarning', FutureWarning)", "transformers/modeling_utils.py", "exec")
exec(code, {{"__name__": "transformers.modeling_utils"}})
exec(compile("import warnings\\nwarnings.warn('our own warning', UserWarning)", "advisor/x.py", "exec"), {{"__name__": "advisor.x"}})
import tqdm
for _ in tqdm.tqdm(range(3), desc="Loading weights"):
    pass
"""


def _run(verbose: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "TRANSFORMERS_VERBOSITY",
                                                             "HF_HUB_DISABLE_PROGRESS_BARS")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-W", "default", "-c", SCRIPT.format(verbose=verbose)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_third_party_noise_hidden_by_default_ours_kept() -> None:
    err = _run(verbose=False)
    assert "adapter FutureWarning" not in err and "Loading weights" not in err
    assert "our own warning" in err


def test_verbose_shows_everything() -> None:
    err = _run(verbose=True)
    assert "adapter FutureWarning" in err and "Loading weights" in err and "our own warning" in err


def test_cli_accepts_verbose_flag(tmp_path) -> None:
    from advisor.cli import main

    assert main(["-v", "init", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "t.yaml")]) == 2
