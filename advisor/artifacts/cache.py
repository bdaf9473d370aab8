"""The one content-addressed cache helper and the one atomic writer.

Models (advisor/artifacts/models.py), vector indexes (advisor/retrieval/index.py) and LoRA
adapters (strategies/lora/cache.py) are all folders named by a content hash under a cache
root. They are built the same way, here: under a per-key file lock, in a temporary folder
next to the final one, renamed into place only once its "built" marker file is written. A
crash or a concurrent run therefore never leaves half an artifact behind, and the second
of two concurrent runs waits, then finds the folder built.

`atomic_write_text` / `atomic_write_json` are the single way files that others read while
we write (run.json, cache meta files, pointers) are written: temp file + `os.replace`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from advisor.artifacts.filelock import file_lock

__all__ = ["Build", "atomic_write_json", "atomic_write_text", "build_folder", "built"]


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` so readers see the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; caches and records are shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: Path, data: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """`data` as JSON (UTF-8, newline-terminated) written atomically to `path`."""
    return atomic_write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False,
                                              default=str) + "\n")


def built(root: Path, key: str, marker: str) -> Path | None:
    """The folder `root/key` when it is complete (holds `marker`), else None."""
    folder = Path(root) / key
    return folder if (folder / marker).is_file() else None


@dataclass
class Build:
    """One build in progress: fill `tmp`, write `marker` last; `done` is True when another
    process built the key while we waited for the lock (then leave `tmp` alone)."""

    tmp: Path
    folder: Path
    done: bool


@contextlib.contextmanager
def build_folder(root: Path, key: str, marker: str) -> Iterator[Build]:
    """Lock `key` under `root`, yield a temporary folder to build in, rename it to `root/key`.

    On a clean exit the temporary folder must hold `marker` (else RuntimeError: a build that
    forgot to say it finished is not published); it then replaces any stale `root/key`. On
    an error, or when the key was already built, the temporary folder is removed.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    with file_lock(root / f".{key}.lock"):
        done = built(root, key, marker) is not None
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}-"))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the caches are shared
        try:
            yield Build(tmp, final, done)
            if not done:
                if not (tmp / marker).is_file():
                    raise RuntimeError(f"build of {final} finished without writing its marker {marker}")
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
