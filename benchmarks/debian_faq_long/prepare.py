"""Build the long-answer variant of the Debian FAQ demo: data/qa.jsonl.

The Debian FAQ's sections are titled by questions ("2.4. How do I install Debian from
CD-ROMs?"). Each question becomes an item; its reference answer is the section's opening
text as advisor reads the corpus (`html_to_text` of ../debian_faq/corpus): whole paragraphs
from the start of the section until at least MIN_WORDS words, stopping before MAX_WORDS
(a section whose first paragraph alone is longer is cut at the sentence end before
MAX_WORDS). Sections whose opening is too short (a pointer to another section) are left
out. `passage` repeats the reference (the gold passage every arm is checked against) and
`source` names the chapter file (the rag arm's gold document).

    python benchmarks/debian_faq_long/prepare.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from advisor.retrieval.corpus import html_to_text  # noqa: E402

CORPUS = HERE.parent / "debian_faq" / "corpus"
MIN_WORDS, MAX_WORDS = 30, 120
_HEAD = re.compile(r"^#{2,}\s+(?:\d+(?:\.\d+)*\.\s+)?(?P<q>.+\?)\s*$")


def _opening(paragraphs: list[str]) -> str | None:
    words: list[str] = []
    for p in paragraphs:
        w = p.split()
        if words and len(words) + len(w) > MAX_WORDS:
            break
        words += w
        if len(words) >= MIN_WORDS:
            break
    if len(words) > MAX_WORDS:  # one long paragraph: cut at the last sentence end before MAX_WORDS
        text = " ".join(words[:MAX_WORDS])
        end = max(text.rfind(". "), text.rfind("? "), text.rfind("! "))
        words = (text[: end + 1] if end > 0 else text).split()
    return " ".join(words) if len(words) >= MIN_WORDS else None


def items() -> list[dict]:
    out = []
    for page in sorted(CORPUS.glob("*.html")):
        lines = html_to_text(page.read_text(encoding="utf-8")).splitlines()
        i = 0
        while i < len(lines):
            m = _HEAD.match(lines[i].strip())
            i += 1
            if not m:
                continue
            paragraphs = []
            while i < len(lines) and not lines[i].startswith("#"):
                if lines[i].strip():
                    paragraphs.append(lines[i].strip())
                i += 1
            answer = _opening(paragraphs)
            if answer:
                out.append({"question": m.group("q"), "answer": answer, "passage": answer, "source": page.name})
    for n, row in enumerate(out):
        row["id"] = f"dlong-{n:03d}"
    return out


def main() -> None:
    rows = items()
    (HERE / "data").mkdir(exist_ok=True)
    with (HERE / "data" / "qa.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    words = sorted(len(r["answer"].split()) for r in rows)
    print(f"{len(rows)} questions; reference words: median {words[len(words) // 2]}, min {words[0]}, max {words[-1]}")


if __name__ == "__main__":
    main()
