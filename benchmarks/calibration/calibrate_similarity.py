"""Calibration of the long-answer metrics: what a paraphrase, a fluent on-topic wrong answer
and an unrelated answer score, on the 30 hand-written pairs in similarity_pairs.jsonl
(10 of each kind, Debian FAQ topics).

Prints, per kind, the mean, min and max of `semantic_similarity` (MiniLM cosine) and
`rouge_l`, and the share of (paraphrase, same-topic) pairs with the same reference that each
metric orders correctly. Loads the shipped MiniLM embedder (run under the heavy lock).

    python benchmarks/calibration/calibrate_similarity.py [--embedder NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from advisor.evaluation import longform  # noqa: E402


def measure(pairs: list[dict]) -> dict[str, dict[str, list[float]]]:
    sims = longform.semantic_similarities([p["answer"] for p in pairs], [p["reference"] for p in pairs])
    out: dict[str, dict[str, list[float]]] = {}
    for p, s in zip(pairs, sims):
        kind = out.setdefault(p["kind"], {"semantic_similarity": [], "rouge_l": []})
        kind["semantic_similarity"].append(s)
        kind["rouge_l"].append(longform.rouge_l(p["answer"], p["reference"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=HERE / "similarity_pairs.jsonl")
    args = ap.parse_args()
    pairs = [json.loads(line) for line in args.pairs.read_text().splitlines() if line.strip()]
    result = measure(pairs)
    print(f"embedder {longform.embedder_identity()}; {len(pairs)} pairs")
    for kind, metrics in result.items():
        cells = [f"{name} mean {sum(v) / len(v):.3f} [min {min(v):.3f}, max {max(v):.3f}]" for name, v in metrics.items()]
        print(f"{kind:11s} n={len(metrics['rouge_l'])}: " + "; ".join(cells))
    for name in ("semantic_similarity", "rouge_l"):
        para, same = result["paraphrase"][name], result["same_topic"][name]
        right = sum(1 for a, b in zip(para, same) if a > b)
        print(f"{name}: paraphrase above the same-topic wrong answer for {right}/{len(para)} references; "
              f"lowest paraphrase {min(para):.3f} vs highest same-topic {max(same):.3f}")


if __name__ == "__main__":
    main()
