"""Registries resolve lazy names, reject bad ones and list what exists."""

from __future__ import annotations

import pytest

from advisor import registry
from advisor.registry import Registry


def test_builtins_resolve_lazily() -> None:
    assert {"prompting"} <= set(registry.strategies.names())
    assert {"transformers", "fake"} <= set(registry.backends.names())
    assert registry.metrics.get("accuracy").higher_is_better is True
    assert registry.strategies.get("prompting").__name__ == "PromptingStrategy"


def test_bad_names_and_duplicates() -> None:
    reg: Registry[object] = Registry("things")
    reg.register("one", "json:dumps")
    assert reg.get("one").__name__ == "dumps"
    with pytest.raises(ValueError, match="already registered"):
        reg.register("one", "json:loads")
    with pytest.raises(ValueError, match="invalid"):
        reg.register("Bad Name", "json:loads")
    with pytest.raises(ValueError, match="module:attr"):
        reg.register("two", "json.loads")
    with pytest.raises(KeyError, match="unknown things 'three'.*one"):
        reg.get("three")
