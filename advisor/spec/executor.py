"""The optional `executor:` block: where a task's arms, tuning trials and seed repeats run.

`executor: {name: ray, address: auto}` is what `--executor ray --address auto` says on the
command line (the flags win). Without the block, everything runs in this process, one unit
after the other (`local`), and Ray is never imported.
"""

from __future__ import annotations

from pydantic import Field

from advisor.spec.base import Strict

__all__ = ["ExecutorSpec"]


class ExecutorSpec(Strict):
    """Where units of work run (see advisor.tuning.executor)."""

    name: str = Field("local", description="registered executor: local (this process, sequential) or ray")
    address: str | None = Field(
        None, description="ray: the cluster to join (auto: the one `ray start` made on this machine; "
                          "ray://HOST:10001: a remote head); default: start a Ray on this machine for the run")
