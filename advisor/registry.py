"""Name -> component registries with lazy `module:attr` entries.

The core finds arms (strategies), backends, metrics, renderers and the compare gate's
writers by name here, so the CLI
and the runner never import a strategy or renderer module directly, and a third party can
add one through the `advisor.<kind>` entry-point group without touching the core.
Registering stores only a dotted path; the module is imported on first use.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "strategies", "backends", "metrics", "renderers", "gate_writers", "history_renderers"]

T = TypeVar("T")
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


class Registry(Generic[T]):
    """A named set of lazily imported components of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}
        self._entry_points_read = False

    def register(self, name: str, target: str | Any) -> None:
        """Register `target` ("package.module:attr" or the object itself) under `name`."""
        if not _NAME.match(name):
            raise ValueError(f"invalid {self.kind} name {name!r}: use lowercase letters, digits, '-' or '_'")
        if name in self._targets or name in self._loaded:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(target, str):
            if ":" not in target:
                raise ValueError(f"{self.kind} target {target!r} must look like 'module:attr'")
            self._targets[name] = target
        else:
            self._loaded[name] = target

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in entry_points(group=f"advisor.{self.kind}"):
            if ep.name not in self._targets and ep.name not in self._loaded:
                self._targets[ep.name] = ep.value

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(set(self._targets) | set(self._loaded))

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def get(self, name: str) -> T:
        """The registered object; imports its module on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._read_entry_points()
        if name not in self._targets:
            known = ", ".join(self.names()) or "none"
            raise KeyError(f"unknown {self.kind} {name!r} (known: {known})")
        module_name, attr = self._targets[name].split(":", 1)
        obj = getattr(importlib.import_module(module_name), attr)
        self._loaded[name] = obj
        return obj


strategies: Registry[Any] = Registry("strategies")
backends: Registry[Any] = Registry("backends")
metrics: Registry[Any] = Registry("metrics")
renderers: Registry[Any] = Registry("renderers")  # (record, run_dir, console) -> text or None
gate_writers: Registry[Any] = Registry("gate_writers")  # (Comparison) -> text
history_renderers: Registry[Any] = Registry("history_renderers")  # (runs, task, console) -> text or None

# Built-in components: one line each. Third parties use entry points instead.
strategies.register("prompting", "strategies.prompting.arm:PromptingStrategy")
strategies.register("rag", "strategies.rag.arm:RagStrategy")
strategies.register("knn-shot", "strategies.rag.knn_shot:KnnShotStrategy")
strategies.register("lora", "strategies.lora.arm:LoraStrategy")
strategies.register("knn-lora", "strategies.hybrids.knn_lora:KnnLoraStrategy")
strategies.register("rag-lora", "strategies.hybrids.rag_lora:RagLoraStrategy")
strategies.register("full-ft", "strategies.fullft.arm:FullFtStrategy")
strategies.register("classical", "strategies.classical.arm:ClassicalStrategy")
backends.register("transformers", "advisor.backends.transformers_backend:TransformersBackend")
backends.register("fake", "advisor.backends.fake:FakeBackend")
backends.register("vllm", "advisor.backends.vllm_backend:VllmBackend")
backends.register("openai", "advisor.backends.openai_backend:OpenAIBackend")
renderers.register("terminal", "reports.terminal:render_terminal")
renderers.register("json", "reports.jsonout:render_json")
renderers.register("md", "reports.documents:render_markdown")
renderers.register("html", "reports.documents:render_html")
gate_writers.register("junit", "reports.gate:to_junit")
gate_writers.register("md", "reports.gate:to_markdown")
for _fmt in ("terminal", "html", "json"):
    history_renderers.register(_fmt, f"reports.history:render_history_{_fmt}")
for _metric in ("accuracy", "macro_f1", "exact_match", "token_f1", "contains_answer"):
    metrics.register(_metric, f"advisor.evaluation.scoring:{_metric.upper()}")
metrics.register("rouge_l", "advisor.evaluation.longform:ROUGE_L")
metrics.register("semantic_similarity", "advisor.evaluation.longform:SEMANTIC_SIMILARITY")
metrics.register("judge", "advisor.evaluation.judge:JUDGE")
