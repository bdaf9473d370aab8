"""Corpus ingestion and chunking: readers, HTML/RST headings, chunk boundaries, problems named."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.retrieval.corpus import Document, chunk_documents, corpus_hash, html_to_text, read_corpus
from advisor.errors import DataError


def words(texts: list[str]) -> list[int]:  # one token per whitespace word, like the hash embedder
    return [len(t.split()) for t in texts]


def test_html_is_stripped_with_headings_kept() -> None:
    page = ("<html><head><title>T</title><style>p {color: red}</style><script>var x = 1;</script></head><body>"
            "<nav>Home | Next</nav><h1>Cars &amp; boats</h1><p>The <b>Zorblat</b> has 7&nbsp;wheels.</p>"
            "<ul><li>one</li><li>two</li></ul><h2>Boats</h2><p>Made of cheese.</p></body></html>")
    text = html_to_text(page)
    assert "var x" not in text and "color" not in text and "Home" not in text and "<" not in text
    assert text.splitlines()[0] == "# Cars & boats"
    assert "The Zorblat has 7 wheels." in text and "## Boats" in text
    assert "one\n\ntwo" in text


def test_folder_reader_names_unreadable_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\n\nalpha text")
    (tmp_path / "sub" / "b.rst").write_text("Title\n=====\n\nbeta text\n\nPart\n----\n\ngamma\n")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")  # not a document type: ignored silently
    docs, problems = read_corpus(tmp_path)
    assert [d.id for d in docs] == ["a.md", "sub/b.rst"]
    assert any(p.startswith("bad.txt: unreadable") for p in problems) and "empty.txt: empty" in problems
    chunks = chunk_documents(docs, words, chunk_tokens=50, overlap=0)
    rst = [c for c in chunks if c.doc == "sub/b.rst"]
    assert [c.headings for c in rst] == [("Title",), ("Title", "Part")]


def test_empty_corpus_is_an_error_naming_the_files(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("")
    with pytest.raises(DataError, match="the corpus is empty.*empty.md: empty"):
        read_corpus(tmp_path)


def test_jsonl_corpus_keeps_ids_titles_and_metadata(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text('{"id": "d1", "text": "first doc", "title": "One", "lang": "en"}\n{"id": "d2", "text": ""}\n')
    docs, problems = read_corpus(f)
    assert docs == [Document("d1", "first doc", "One", {"lang": "en"})]
    assert problems == ["docs.jsonl:2: document 'd2' has no text"]
    chunks = chunk_documents(docs, words)
    assert chunks[0].id == "d1#0" and chunks[0].headings == ("One",)
    f.write_text('{"id": "d1", "text": "x"}\n{"id": "d1", "text": "y"}\n')
    with pytest.raises(DataError, match=r"docs.jsonl:2: duplicate document id 'd1'"):
        read_corpus(f)


def test_chunks_respect_size_headings_and_overlap() -> None:
    para = lambda tag, n: " ".join(f"{tag}{i}" for i in range(n))  # noqa: E731
    text = f"# Top\n\n{para('a', 30)}\n\n{para('b', 30)}\n\n## Sub\n\n{para('c', 100)}\n\n# Next\n\nshort end"
    chunks = chunk_documents([Document("doc", text)], words, chunk_tokens=40, overlap=8)
    assert all(c.tokens <= 40 and len(c.text.split()) == c.tokens for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # Paragraph boundary preferred: a-paragraph and b-paragraph don't fit together, so the b chunk
    # starts with the a-paragraph's last 8 words (overlap), not in the middle of a paragraph.
    assert chunks[0].text == para("a", 30) and chunks[1].text.startswith("a22 a23")
    assert chunks[1].text.split()[8] == "b0" and chunks[0].headings == ("Top",)
    # A heading closes the chunk: no chunk mixes b (Top) and c (Top > Sub) words.
    sub = [c for c in chunks if c.headings == ("Top", "Sub")]
    assert sub and all(w.startswith("c") for c in sub for w in c.text.split())
    # The 100-word paragraph is split at word boundaries with 8 words of overlap between pieces.
    for prev, cur in zip(sub, sub[1:]):
        assert prev.text.split()[-8:] == cur.text.split()[:8]
    assert " ".join(dict.fromkeys(w for c in sub for w in c.text.split())) == para("c", 100)
    assert chunks[-1].headings == ("Next",) and chunks[-1].text == "short end"


def test_corpus_hash_follows_content_and_names(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one")
    first = corpus_hash(tmp_path)
    assert corpus_hash(tmp_path) == first
    (tmp_path / "a.txt").write_text("two")
    second = corpus_hash(tmp_path)
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    assert len({first, second, corpus_hash(tmp_path)}) == 3
