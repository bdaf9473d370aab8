"""One contract for every arm and backend: base classes, one constructor, no-op hooks."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from advisor import registry
from advisor.backends.base import Backend
from advisor.backends.fake import FakeBackend
from advisor.errors import SpecError
from advisor.evaluation.sections import ArmDetails
from advisor.evaluation.strategy import Estimate, Strategy
from advisor.spec import load_task
from tests.conftest import TASK_YAML, make_task, spam_rows
from tests.factories import task_spec


def test_every_backend_subclasses_backend_with_one_constructor() -> None:
    for name in registry.backends.names():
        cls = registry.backends.get(name)
        assert issubclass(cls, Backend), name
        params = inspect.signature(cls.__init__).parameters
        assert list(params) == ["self", "spec", "status"], name
        assert params["status"].kind is inspect.Parameter.KEYWORD_ONLY


def test_every_strategy_subclasses_strategy() -> None:
    for name in registry.strategies.names():
        cls = registry.strategies.get(name)
        assert issubclass(cls, Strategy) and cls.Config is not None, name


def test_base_hooks_are_no_ops() -> None:
    backend = FakeBackend(task_spec())
    assert backend.take_failure() is None and backend.stats() is None
    backend.bind_run_dir(Path("."))
    backend.close()

    class Minimal(Strategy):
        Config = registry.strategies.get("prompting").Config

        def prepare(self, ctx):
            raise NotImplementedError

        def predict(self, samples, backend):
            return []

    arm = Minimal(None, task_spec())
    assert arm.finish([], []) == ArmDetails()
    assert arm.estimate(None, []) == Estimate(notes=["this arm gives no estimate"])


def test_a_registered_non_strategy_is_a_spec_error(tmp_path: Path) -> None:
    registry.strategies.register("not-an-arm", object)
    try:
        text = TASK_YAML.replace("  - name: gen\n    strategy: prompting", "  - name: gen\n    strategy: not-an-arm")
        with pytest.raises(SpecError, match=r"task.yaml:\d+: arms\[2\].strategy: .*not a subclass"):
            load_task(make_task(tmp_path, text, spam_rows()))
    finally:
        registry.strategies._loaded.pop("not-an-arm")
