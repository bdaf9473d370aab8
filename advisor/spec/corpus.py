"""The `corpus` block of a task file: which documents a retrieval arm may search.

How the documents are chunked, embedded and indexed belongs to each arm's config (two RAG
arms may chunk one corpus differently); this block only says where the documents are and
how to read them. `path` is resolved against the task file's folder like data paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from advisor.spec.base import Strict

__all__ = ["CorpusSpec"]


class CorpusSpec(Strict):
    """Documents for retrieval: a folder (.txt .md .rst .html, recursively) or a JSONL file."""

    path: Path = Field(description="folder of documents, or a JSONL file with one document per line")
    format: Literal["auto", "folder", "jsonl"] = Field("auto", description="auto: a file is JSONL, a folder is a folder")
    id_field: str = Field("id", description="JSONL: field holding the document id")
    text_field: str = Field("text", description="JSONL: field holding the document text")
    title_field: str = Field("title", description="JSONL: optional field holding a title (starts the heading trail)")
