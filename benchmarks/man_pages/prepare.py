"""Regenerate data/man_pages.jsonl: long documents (Linux manual pages) labelled by section.

The pages come from Debian's `manpages` and `manpages-dev` packages (the Linux man-pages
project), fetched with `apt-get download` at pinned versions and unpacked with `dpkg-deb -x`
(nothing is installed). Each page is rendered to plain text with `man -l` (groff), its header
and footer lines (which name the section) are dropped, and the first WORDS words are kept.
Redirect stubs (`.so`), pages under MIN_WORDS words and pages without an SPDX license line
are skipped; pages are visited in an order shuffled with a fixed seed until PER_LABEL of a
section are kept. The label is the page's section:

  2 system call · 3 library function · 4 special file · 5 file format · 7 overview

The committed file is reproducible: `python benchmarks/man_pages/prepare.py` rewrites it byte for byte (on a Debian
or Ubuntu machine with apt-get, dpkg-deb and man). Each row records the page's file and its
SPDX license identifier (see ATTRIBUTION.md).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import subprocess
import tempfile
from pathlib import Path

PACKAGES = ("manpages=6.03-2", "manpages-dev=6.03-2")
SECTIONS = {"2": "system call", "3": "library function", "4": "special file", "5": "file format", "7": "overview"}
PER_LABEL, WORDS, MIN_WORDS, SEED = 36, 300, 120, 1984
OUT = Path(__file__).resolve().parent / "data" / "man_pages.jsonl"


def render(page: Path) -> str:
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0", LANG="C.UTF-8")
    out = subprocess.run(["man", "--nh", "--nj", "-l", "-E", "UTF-8", str(page)], env=env, capture_output=True, check=True).stdout
    text = subprocess.run(["col", "-bx"], input=out, capture_output=True, check=True).stdout.decode("utf-8", "replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " ".join(" ".join(lines[1:-1]).split())  # header and footer name the section: dropped


def license_of(source: str) -> str:
    m = re.search(r"SPDX-License-Identifier:\s*(\S+)", source)
    return m.group(1) if m else "unknown"


def main() -> None:
    rows: dict[str, list[dict]] = {s: [] for s in SECTIONS}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=tmp, check=True, capture_output=True)
        root = Path(tmp) / "root"
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        rng = random.Random(SEED)
        for section in SECTIONS:
            pages = sorted((root / "usr/share/man" / f"man{section}").glob("*.gz"))
            rng.shuffle(pages)
            for page in pages:
                if len(rows[section]) == PER_LABEL:
                    break
                source = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
                body = [ln for ln in source.splitlines() if ln.strip() and not ln.startswith(('.\\"', "'\\\""))]
                if not body or body[0].startswith(".so ") or license_of(source) == "unknown":
                    continue  # a redirect to another page, or no license line
                words = render(page).split()
                if len(words) < MIN_WORDS:
                    continue
                name = page.name.removesuffix(".gz")
                rows[section].append({"id": f"man-{name}", "text": " ".join(words[:WORDS]),
                                      "label": SECTIONS[section], "page": f"man{section}/{name}",
                                      "license": license_of(source)})
    picked = [r for s in SECTIONS for r in rows[s]]
    rng.shuffle(picked)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for r in picked:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = ", ".join(f"{SECTIONS[s]} {len(rows[s])}" for s in SECTIONS)
    print(f"wrote {len(picked)} rows to {OUT} ({counts}) from {' '.join(PACKAGES)}")


if __name__ == "__main__":
    main()
