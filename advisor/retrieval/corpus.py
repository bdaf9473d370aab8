"""Corpus ingestion and chunking: documents in, token-sized chunks with their provenance out.

A corpus is a folder (read recursively: .txt, .md, .rst, .html/.htm with tags stripped) or a
JSONL file of documents (id, text, optional title and metadata). Each document becomes
blocks (headings and paragraphs); chunks are packed from whole paragraphs up to
`chunk_tokens` tokens of the embedder's tokenizer, a heading starts a new chunk, and
consecutive chunks of one section share up to `overlap` tokens. A paragraph longer than a
chunk is split at word boundaries. Every chunk keeps its document id (relative path or JSONL
id), its position and its heading trail ("Chapter 6 > 6.2 Codenames").

Token counts are additive over whitespace-separated words for WordPiece/BPE tokenizers that
pre-split on whitespace (MiniLM's does), so a word's count is computed once and summed.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

from advisor.errors import DataError

__all__ = ["Document", "Chunk", "read_corpus", "chunk_documents", "corpus_hash", "has_documents", "html_to_text", "TEXT_SUFFIXES"]

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".html", ".htm")
TokenCounter = Callable[[list[str]], list[int]]  # texts -> tokens each (no special tokens)


@dataclass(frozen=True)
class Document:
    id: str  # relative path (folder corpus) or the JSONL id
    text: str  # plain text; headings as markdown "#" lines
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    id: str  # "<doc id>#<position>"
    doc: str
    position: int  # 0-based order within its document
    text: str
    headings: tuple[str, ...] = ()  # trail of headings above the chunk, outermost first
    tokens: int = 0  # embedder tokens in `text`

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "headings": list(self.headings)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(**{**d, "headings": tuple(d.get("headings", ()))})


# ---------------------------------------------------------------- reading

class _HTMLText(HTMLParser):
    """Text of an HTML page: headings become "#" lines, blocks become paragraphs."""

    SKIP = {"script", "style", "head", "nav", "noscript", "template"}
    BLOCK = {"p", "div", "li", "dt", "dd", "tr", "br", "pre", "table", "section", "article", "blockquote", "ul", "ol",
             "dl", "hr", "footer", "header"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.heading: int | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading = int(tag[1])
            self.out.append("\n\n" + "#" * self.heading + " ")
        elif tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading = None
            self.out.append("\n\n")
        elif tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.out.append(" ".join(data.split()) if self.heading else re.sub(r"[ \t\r\f\v]+", " ", data))


def html_to_text(text: str) -> str:
    """Tags stripped, entities decoded, headings kept as markdown "#" lines."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    raw = html.unescape("".join(parser.out))
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", raw)]
    return "\n\n".join(p for p in paras if p)


_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def _rst_to_md(text: str) -> str:
    """reStructuredText section titles (a line underlined with = - ~ ...) as "#" headings."""
    lines, out, levels = text.splitlines(), [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _RST_UNDERLINE.match(nxt) and len(nxt.strip()) >= len(line.strip()):
            mark = nxt.strip()[0]
            if mark not in levels:
                levels.append(mark)
            out += ["", "#" * min(6, levels.index(mark) + 1) + " " + line.strip(), ""]
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _read_file(path: Path) -> str:
    raw = path.read_bytes().decode("utf-8")
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return html_to_text(raw)
    if suffix == ".rst":
        return _rst_to_md(raw)
    return raw


def read_corpus(path: Path, fmt: str = "auto", id_field: str = "id", text_field: str = "text",
                title_field: str = "title", include: tuple[str, ...] = TEXT_SUFFIXES) -> tuple[list[Document], list[str]]:
    """Documents of a folder or JSONL file, and the problems met (unreadable/empty files, by name).

    Raises DataError when nothing usable is left: an empty corpus is an error, not a no-op.
    """
    path = Path(path)
    problems: list[str] = []
    docs: list[Document] = []
    if not path.exists():
        raise DataError(path, None, "corpus not found")
    if fmt == "jsonl" or (fmt == "auto" and path.is_file()):
        from advisor.spec.data import read_rows

        seen: dict[str, int] = {}
        for lineno, row in read_rows(path, "jsonl"):
            for name in (id_field, text_field):
                if name not in row:
                    raise DataError(path, lineno, f"corpus document lacks field {name!r} (row has: {', '.join(row)})")
            doc_id, text = str(row[id_field]), row[text_field]
            if doc_id in seen:
                raise DataError(path, lineno, f"duplicate document id {doc_id!r} (first on line {seen[doc_id]})")
            seen[doc_id] = lineno
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{path.name}:{lineno}: document {doc_id!r} has no text")
                continue
            meta = {k: v for k, v in row.items() if k not in (id_field, text_field, title_field)}
            docs.append(Document(doc_id, text, str(row.get(title_field) or ""), meta))
    else:
        if not path.is_dir():
            raise DataError(path, None, "corpus must be a folder or a .jsonl file")
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in include
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        for f in files:
            rel = f.relative_to(path).as_posix()
            try:
                text = _read_file(f)
            except UnicodeDecodeError as exc:
                problems.append(f"{rel}: unreadable (not UTF-8 text: {exc.reason})")
                continue
            except OSError as exc:
                problems.append(f"{rel}: unreadable ({exc.strerror or exc})")
                continue
            if not text.strip():
                problems.append(f"{rel}: empty")
                continue
            docs.append(Document(rel, text, ""))
    if not docs:
        detail = "; ".join(problems[:5]) if problems else f"no {', '.join(include)} files"
        raise DataError(path, None, f"the corpus is empty ({detail})")
    return docs, problems


def has_documents(path: Path, include: tuple[str, ...] = TEXT_SUFFIXES) -> bool:
    """Cheap check before a run: a non-empty JSONL file, or a folder with a non-empty document file."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size > 0
    return any(p.is_file() and p.suffix.lower() in include and p.stat().st_size > 0 for p in path.rglob("*"))


def corpus_hash(path: Path, include: tuple[str, ...] = TEXT_SUFFIXES) -> str:
    """sha256 over every corpus file's relative name and bytes (what a cached index depends on)."""
    path = Path(path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in include
                                                 and not any(s.startswith(".") for s in p.relative_to(path).parts))
    for f in files:
        h.update((f.name if f == path else f.relative_to(path).as_posix()).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


# ---------------------------------------------------------------- chunking

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


def _blocks(text: str) -> list[tuple[int, str]]:
    """(heading level or 0, text) blocks: paragraphs split on blank lines, "#" lines are headings."""
    out: list[tuple[int, str]] = []
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [ln for ln in para.split("\n")]
        buf: list[str] = []
        for ln in lines:
            m = _HEADING.match(ln.strip())
            if m:
                if buf:
                    out.append((0, " ".join(" ".join(buf).split())))
                    buf = []
                out.append((len(m.group(1)), m.group(2).strip()))
            elif ln.strip():
                buf.append(ln.strip())
        if buf:
            out.append((0, " ".join(" ".join(buf).split())))
    return out


def chunk_documents(docs: list[Document], count: TokenCounter, chunk_tokens: int = 200, overlap: int = 32) -> list[Chunk]:
    """Chunks of at most `chunk_tokens` tokens (by `count`), packed from whole paragraphs.

    A heading closes the current chunk; the next chunk of the same section starts with the
    last words of the previous one, up to `overlap` tokens. Oversized paragraphs are split
    at word boundaries. Word counts are computed once per distinct word (batched).
    """
    if chunk_tokens < 8:
        raise ValueError("chunk_tokens must be at least 8")
    if not 0 <= overlap < chunk_tokens // 2 + 1:
        raise ValueError("overlap must be between 0 and half of chunk_tokens")
    parsed = [_blocks(d.text) for d in docs]
    vocab = sorted({w for blocks in parsed for _, t in blocks for w in t.split()})
    sizes = dict(zip(vocab, count(vocab))) if vocab else {}
    chunks: list[Chunk] = []
    for doc, blocks in zip(docs, parsed):
        trail: list[tuple[int, str]] = [(0, doc.title)] if doc.title else []
        words: list[str] = []  # words of the chunk being packed
        used = 0
        carried = 0  # words at the start of `words` that repeat the previous chunk
        position = 0

        def flush() -> None:
            nonlocal words, used, carried, position
            if len(words) > carried:
                text = " ".join(words)
                chunks.append(Chunk(f"{doc.id}#{position}", doc.id, position, text,
                                    tuple(t for _, t in trail), used))
                position += 1
            words, used, carried = [], 0, 0

        def carry() -> None:
            """Start the next chunk with the tail of the current one (overlap)."""
            nonlocal words, used, carried
            tail: list[str] = []
            n = 0
            for w in reversed(words):
                if n + sizes[w] > overlap:
                    break
                tail.insert(0, w)
                n += sizes[w]
            flush()
            words, used, carried = tail, n, len(tail)

        for level, text in blocks:
            if level:
                flush()
                trail = [(lv, t) for lv, t in trail if lv < level] + [(level, text)]
                continue
            para = text.split()
            cost = sum(sizes[w] for w in para)
            if used + cost <= chunk_tokens:
                words += para
                used += cost
                continue
            if used > carried and cost <= chunk_tokens - min(overlap, used):
                carry()  # the paragraph fits a fresh chunk: close this one at the paragraph boundary
                if used + cost > chunk_tokens:
                    flush()
                words += para
                used += cost
                continue
            for w in para:  # an oversized paragraph: fill chunks word by word
                if used + sizes[w] > chunk_tokens and words:
                    carry()
                    if used + sizes[w] > chunk_tokens:
                        flush()
                words.append(w)
                used += sizes[w]
        flush()
    return chunks


def chunk_table_hash(chunks: list[Chunk]) -> str:
    return hashlib.sha256(json.dumps([c.as_dict() for c in chunks], sort_keys=True).encode()).hexdigest()
