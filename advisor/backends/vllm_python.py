"""Which Python interpreter has vLLM, so `--backend vllm` works after the README set-up.

vLLM lives in its own virtualenv (.venv-vllm, built by `bash scripts/dev.sh vllm` or
`bash scripts/dev.sh test`). Looked up in this order, the first one set wins:
  1. serving.python in the task file
  2. $ADVISOR_VLLM_PYTHON
  3. `vllm_python = "..."` in the user config file (platformdirs: ~/.config/advisor/config.toml),
     written by scripts/dev.sh when it builds .venv-vllm
  4. a `.venv-vllm` found in the task's folder, the current folder or the package checkout
     (or one of their parents)
  5. this interpreter, when it can import vllm itself
Nothing found, or a configured interpreter that is missing or cannot import vllm: one
UserError (exit 2) naming the command that installs it, before any server starts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from advisor.errors import UserError

__all__ = ["INSTALL_HINT", "config_path", "find_vllm_python", "record_vllm_python"]

INSTALL_HINT = "install it with `bash scripts/dev.sh vllm` (builds .venv-vllm and records it for the CLI)"
_KEY = "vllm_python"


def config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("advisor")) / "config.toml"


def _from_config() -> str | None:
    import tomllib

    path = config_path()
    if not path.is_file():
        return None
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get(_KEY)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read the advisor config file ({exc})") from None
    return str(value) if value else None


def _discovered(task_dir: Path | None) -> str | None:
    starts = [p for p in (task_dir, Path.cwd(), Path(__file__).resolve().parents[2]) if p is not None]
    for start in starts:
        for folder in (start.resolve(), *start.resolve().parents):
            candidate = folder / ".venv-vllm" / "bin" / "python"
            if candidate.exists():
                return str(candidate)
    return None


def _has_vllm(python: str) -> bool:
    try:  # in a child with this environment (PYTHONPATH included), as the server will run
        proc = subprocess.run([python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"],
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def find_vllm_python(configured: str | None, task_dir: Path | None = None) -> tuple[str, str]:
    """(interpreter, where it came from); raises UserError when none has vLLM."""
    import os

    sources = [("serving.python", configured), ("$ADVISOR_VLLM_PYTHON", os.environ.get("ADVISOR_VLLM_PYTHON")),
               (f"{config_path()} ({_KEY})", _from_config())]
    stale = None
    for source, python in sources:
        if not python:
            continue
        if source.startswith(str(config_path())) and not Path(python).exists():
            stale = f"; {source} names {python}, which no longer exists"  # e.g. a deleted checkout: look further
            continue
        if not Path(python).exists():
            raise UserError(f"the vLLM python from {source} does not exist: {python}; {INSTALL_HINT}, "
                            "or point it at a virtualenv that has vllm")
        if not _has_vllm(python):
            raise UserError(f"the python from {source} ({python}) cannot import vllm; {INSTALL_HINT}")
        return python, source
    found = _discovered(task_dir)
    if found and _has_vllm(found):
        return found, "a .venv-vllm found beside the task or the checkout"
    if _has_vllm(sys.executable):
        return sys.executable, "this interpreter"
    raise UserError(f"--backend vllm: no Python with vLLM found (looked at serving.python, $ADVISOR_VLLM_PYTHON, "
                    f"{config_path()}, .venv-vllm beside the task/current folder/checkout){stale or ''}; {INSTALL_HINT}")


def record_vllm_python(python: str) -> Path:
    """Write `vllm_python = "..."` into the user config file, keeping its other lines."""
    import json

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    lines = [ln for ln in lines if not ln.strip().startswith(f"{_KEY} ") and not ln.strip().startswith(f"{_KEY}=")]
    lines.insert(0, f"{_KEY} = {json.dumps(str(Path(python).absolute()))}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":  # scripts/dev.sh: python -m advisor.backends.vllm_python record PATH
    if len(sys.argv) != 3 or sys.argv[1] != "record":
        print("usage: python -m advisor.backends.vllm_python record PYTHON", file=sys.stderr)
        sys.exit(2)
    print(f"recorded {sys.argv[2]} in {record_vllm_python(sys.argv[2])}")
