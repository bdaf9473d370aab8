"""Where an arm's answered samples and error traces go: the run directory, written by the driver.

The runner hands each arm an `ArmSink`. Run in this process, it appends to samples.jsonl
and errors.log directly. Shipped to another worker by a remote executor, the arm gets a
`RemoteArmSink` instead (see `advisor.forwarded`): its rows stream back to the driver as
messages and the driver's sink writes them, so the run directory has one writer wherever the
arm ran, and resume reads it as it does after a local run. A row id already written for the
arm is not written again (a unit retried after its worker died answers its samples anew).
"""

from __future__ import annotations

from pathlib import Path

from advisor.errors import UserError
from advisor.evaluation.record import SampleRow, append_samples, read_samples
from advisor.forwarded import Forwarded, Stub
from advisor.spec.data import Sample

__all__ = ["ArmSink", "RemoteArmSink"]


class RemoteArmSink(Stub):
    """A worker's sink: keeps the rows it sent, forwards them to the driver's `ArmSink`."""

    def __init__(self, channel, cid, names) -> None:
        super().__init__(channel, cid, names)
        self._rows: list[SampleRow] = []

    def append(self, rows: list[SampleRow]) -> None:
        self._rows += rows
        self._channel.send((self._cid, "append", (rows,), {}))

    def recorded(self, arm: str, test: list[Sample], rows: list[SampleRow]) -> list[SampleRow]:
        """The rows of this attempt (the driver's file may hold an earlier attempt's too)."""
        seen: set[str] = set()
        return [r for r in rows if not (r.id in seen or seen.add(r.id))]


class ArmSink(Forwarded):
    """The driver's writer of one arm's rows and error traces."""

    forwarded = ("append", "error_log")
    stub = RemoteArmSink

    def __init__(self, run_dir: Path, written: list[SampleRow] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.written = {(r.arm, r.id) for r in written}

    def append(self, rows: list[SampleRow]) -> None:
        new = [r for r in rows if (r.arm, r.id) not in self.written]
        if new:
            append_samples(self.run_dir, new)
            self.written.update((r.arm, r.id) for r in new)

    def error_log(self, text: str) -> None:
        with (self.run_dir / "errors.log").open("a") as fh:
            fh.write(text)

    def recorded(self, arm: str, test: list[Sample], rows: list[SampleRow]) -> list[SampleRow]:
        """The arm's complete rows in samples.jsonl for this test split (the file is the truth:
        an interrupt between an append and the caller's bookkeeping must not skew n)."""
        ids = {s.id for s in test}
        seen: set[str] = set()
        out = []
        try:
            on_disk = read_samples(self.run_dir, arm)
        except UserError:
            return rows
        for row in on_disk:
            if row.id in ids and row.id not in seen:
                seen.add(row.id)
                out.append(row)
        return out
