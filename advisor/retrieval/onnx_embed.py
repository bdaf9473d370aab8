"""A sentence-transformers embedder run by ONNX Runtime (fp32 or dynamic int8).

Same vectors as the torch path up to rounding (fp32) or quantisation error (int8): the
transformer runs in ONNX Runtime, then the model's own pooling (mean or CLS, read from its
`1_Pooling/config.json`) and L2 normalisation run in numpy. Texts are tokenised once,
sorted by length and batched, so a batch pads to its own longest text, not the corpus's.

Threads: a bulk job (more texts than one batch: indexing) runs on `threads` intra-op
threads, default every core this process may use; a short job (a query, answered one at a
time as a served system does) runs on one. Each thread count has its own ONNX Runtime
session, so nothing process-wide (torch, OpenMP) is changed behind a caller's back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from advisor.retrieval.embed_progress import EmbedProgress
from advisor.retrieval.onnx_export import exported_onnx

__all__ = ["OnnxEmbedder", "machine_cores"]


def machine_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _pooling(model_dir: Path) -> str:
    cfg = model_dir / "1_Pooling" / "config.json"
    if not cfg.exists():
        return "mean"
    conf = json.loads(cfg.read_text())
    if conf.get("pooling_mode_cls_token"):
        return "cls"
    if conf.get("pooling_mode_mean_tokens", True):
        return "mean"
    raise ValueError(f"{cfg}: only mean or CLS pooling runs on the ONNX path; use embed_backend: torch")


class OnnxEmbedder:
    """Embeds with ONNX Runtime on CPU; `variant` is fp32 or int8 (see onnx_export)."""

    def __init__(self, model_dir: Path, identity: str, variant: str, cache_dir: Path, threads: int | None = None,
                 status: Callable[[str], None] = lambda m: None) -> None:
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        self.pooling = _pooling(self.model_dir)
        self.path = exported_onnx(self.model_dir, identity, variant, cache_dir, status)
        self.variant = variant
        self.backend = f"onnx-{variant}"
        self.identity = f"{identity}+{self.backend}"  # vectors differ from torch's by rounding/quantisation
        self.threads = threads or machine_cores()
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        st_cfg = self.model_dir / "sentence_bert_config.json"
        seq = json.loads(st_cfg.read_text()).get("max_seq_length") if st_cfg.exists() else None
        self.max_tokens = int(seq or self.tokenizer.model_max_length)
        self._sessions: dict[int, Any] = {}
        sess = self._session(1)
        self.input_names = [i.name for i in sess.get_inputs()]
        self.dims = int(sess.get_outputs()[0].shape[-1])

    def _session(self, threads: int):
        if threads not in self._sessions:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            self._sessions[threads] = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    def count_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def _batch(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(ids), width), pad, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for r, x in enumerate(ids):
            input_ids[r, :len(x)] = x
            mask[r, :len(x)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return {k: v for k, v in feed.items() if k in self.input_names}

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooling == "cls":
            vecs = hidden[:, 0]
        else:
            m = mask[..., None].astype(np.float32)
            vecs = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        sess = self._session(self.threads if len(texts) > batch_size else 1)
        with EmbedProgress(len(texts), enabled=progress) as bar:
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                feed = self._batch([ids[i] for i in rows])
                hidden = sess.run(None, feed)[0]
                out[rows] = self._pool(hidden, feed["attention_mask"])
                bar.advance(len(rows))
        return out
