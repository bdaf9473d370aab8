"""`advisor init`: a commented starter task.yaml from a data file (and optionally a corpus).

Fields are found by name first (text/question/prompt..., label/answer/target..., id...),
then by the shape of their values: the input is the free-text column with the longest
values, the target the column with the fewest distinct values, the id a column of unique
space-free values. The task type follows from the target: few distinct short values that
repeat -> classification; short answers -> qa; long answers -> generation.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import UserError

__all__ = ["ColumnStats", "Detected", "detect", "render_task", "write_task"]

INPUT_NAMES = ("text", "input", "question", "prompt", "query", "sentence", "content", "document", "message",
               "instruction", "source", "review", "context")
TARGET_NAMES = ("label", "target", "answer", "output", "class", "category", "response", "completion", "gold",
                "y", "labels", "answers", "summary", "expected")
ID_NAMES = ("id", "_id", "uid", "guid", "idx", "key", "example_id", "sample_id")
MAX_LABELS = 20          # more distinct targets than this is not a label set
LABEL_MAX_WORDS = 3      # labels are short: a few words at most
QA_MAX_WORDS = 8         # mean answer length (words) up to which the task is qa, beyond: generation
TASK_TYPES = ("classification", "qa", "extraction", "generation")


@dataclass
class ColumnStats:
    name: str
    values: list[str]

    @property
    def distinct(self) -> int:
        return len(set(self.values))

    @property
    def mean_words(self) -> float:
        return sum(len(v.split()) for v in self.values) / max(1, len(self.values))

    @property
    def mean_chars(self) -> float:
        return sum(len(v) for v in self.values) / max(1, len(self.values))

    def looks_like_id(self) -> bool:
        return bool(self.values) and self.distinct == len(self.values) and all(
            v and " " not in v and len(v) <= 40 for v in self.values)


@dataclass
class Detected:
    input_field: str
    target_field: str
    id_field: str | None
    type: str
    rows: int
    label_counts: Counter = field(default_factory=Counter)
    target_words: float = 0.0
    max_target_words: int = 0
    type_reason: str = ""


def _columns(rows: list[dict]) -> dict[str, ColumnStats]:
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    cols = {}
    for name in names:
        vals = [v if isinstance(v, str) else json.dumps(v) for row in rows if (v := row.get(name)) is not None]
        cols[name] = ColumnStats(name, [v.strip() for v in vals])
    return cols


def _by_name(cols: dict[str, ColumnStats], names: tuple[str, ...], taken: set[str]) -> str | None:
    lower = {c.lower(): c for c in cols if c not in taken}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def detect(rows: list[dict], task_type: str | None = None, path: Path | None = None) -> Detected:
    """Which fields are input/target/id and what kind of task the rows describe."""
    where = f"{path}: " if path else ""
    if len(rows) < 2:
        raise UserError(f"{where}need at least 2 rows to detect fields, found {len(rows)}")
    cols = _columns(rows)
    if len(cols) < 2:
        raise UserError(f"{where}need at least an input and a target column, found {list(cols)}")
    taken: set[str] = set()
    id_field = _by_name(cols, ID_NAMES, taken) or next(
        (c for c in cols if c.lower().endswith("_id") and cols[c].looks_like_id()), None)
    if id_field:
        taken.add(id_field)
    input_field = _by_name(cols, INPUT_NAMES, taken)
    target_field = _by_name(cols, TARGET_NAMES, taken | ({input_field} if input_field else set()))
    if id_field is None:  # an unnamed id: unique, space-free values, not the only candidate left
        rest = [c for c in cols if c not in (input_field, target_field)]
        cand = next((c for c in rest if cols[c].looks_like_id() and cols[c].mean_words <= 1), None)
        if cand and len(cols) - 1 >= 2:
            id_field = cand
            taken.add(cand)
    free = [c for c in cols if c not in taken and c not in (input_field, target_field)]
    if input_field is None:
        pool = free
        if not pool:
            raise UserError(f"{where}cannot tell which column is the input; columns: {', '.join(cols)}")
        input_field = max(pool, key=lambda c: cols[c].mean_chars)
        free.remove(input_field)
    if target_field is None:
        if not free:
            raise UserError(f"{where}cannot tell which column is the target; columns: {', '.join(cols)}")
        target_field = min(free, key=lambda c: (cols[c].distinct, cols[c].mean_chars))
    target = cols[target_field]
    det = Detected(input_field, target_field, id_field, task_type or "", len(rows),
                   target_words=target.mean_words,
                   max_target_words=max((len(v.split()) for v in target.values), default=0))
    repeats = target.distinct <= MAX_LABELS and target.distinct <= len(target.values) / 2
    short = max((len(v.split()) for v in target.values), default=0) <= LABEL_MAX_WORDS
    if task_type is None:
        if repeats and short and target.distinct >= 2:
            det.type = "classification"
            det.type_reason = f"{target.distinct} distinct short targets, each repeated"
        elif target.mean_words <= QA_MAX_WORDS:
            det.type = "qa"
            det.type_reason = f"targets average {target.mean_words:.1f} words (<= {QA_MAX_WORDS})"
        else:
            det.type = "generation"
            det.type_reason = f"targets average {target.mean_words:.1f} words (> {QA_MAX_WORDS})"
    else:
        if task_type not in TASK_TYPES:
            raise UserError(f"--type must be one of {', '.join(TASK_TYPES)}, got {task_type!r}")
        det.type_reason = "given with --type"
    if det.type == "classification":
        det.label_counts = Counter(target.values)
        if len(det.label_counts) < 2:
            raise UserError(f"{where}classification needs at least 2 distinct values in {target_field!r}")
        if len(det.label_counts) > MAX_LABELS * 5:
            raise UserError(f"{where}{target_field!r} has {len(det.label_counts)} distinct values: "
                            "too many for classification; pass --type qa or --type generation")
    return det


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _arms(det: Detected, corpus: bool, classical: bool) -> list[str]:
    tpl = "{input}"
    if det.type == "classification":
        arms = [f"  - name: zero-shot\n    strategy: prompting\n    config: {{shots: 0, mode: choice, template: {_q(tpl)}}}",
                f"  - name: k-shot\n    strategy: prompting\n    config: {{shots: {min(6, 2 * len(det.label_counts))}, "
                f"mode: choice, template: {_q(tpl)}}}",
                "  - name: knn-shot\n    strategy: knn-shot\n    config: {shots: 4, mode: choice}"]
        if corpus:
            arms.append("  - name: rag\n    strategy: rag\n    config: {top_k: 3}")
        if classical:
            arms.append("  # a non-LLM baseline on the same split\n  - name: classical\n    strategy: classical")
        arms.append("  # short fine-tune; raise max_steps for a real comparison\n"
                    "  - name: lora\n    strategy: lora\n    config: {mode: choice, max_steps: 30, batch_size: 8}")
        return arms
    arms = ["  - name: zero-shot\n    strategy: prompting\n    config: {shots: 0}",
            f"  - name: k-shot\n    strategy: prompting\n    config: {{shots: {3 if det.type == 'qa' else 2}}}",
            "  - name: knn-shot\n    strategy: knn-shot\n    config: {shots: 2}"]
    if corpus:
        arms.append("  # retrieval from the corpus folder\n  - name: rag\n    strategy: rag\n    config: {top_k: 3}")
    if classical and det.type == "classification":
        arms.append("  - name: classical\n    strategy: classical")
    arms.append("  # short fine-tune; raise max_steps for a real comparison\n"
                "  - name: lora\n    strategy: lora\n    config: {max_steps: 30, batch_size: 8}")
    return arms


def render_task(det: Detected, data: str, name: str, corpus: str | None = None,
                classical: bool = False) -> str:
    """The commented YAML text of a starter task file."""
    if det.type == "classification":
        max_new = 4
    else:
        max_new = max(16, min(256, int(det.max_target_words * 2) + 8))
    lines = [
        f"# Written by `advisor init` from {data} ({det.rows} rows). Check every field, then run",
        "#   advisor validate THIS_FILE && advisor run THIS_FILE --dry-run",
        f"name: {name}",
        f"description: {_q('Task detected from ' + data)}",
        f"# type: {det.type_reason}",
        f"type: {det.type}",
        "data:",
        f"  path: {_q(data)}",
        f"  input_field: {_q(det.input_field)}   # what the model reads",
        f"  target_field: {_q(det.target_field)}   # what it should answer",
    ]
    if det.id_field:
        lines.append(f"  id_field: {_q(det.id_field)}")
    else:
        lines.append("  # no id column found: samples are named by their line number")
    lines.append("  split: {train: 0.6, validation: 0.1, test: 0.3, seed: 0}")
    if det.type == "classification":
        ordered = sorted(det.label_counts, key=lambda lab: (-det.label_counts[lab], lab))
        lines.append("# label counts in the data: " + ", ".join(f"{lab} {det.label_counts[lab]}" for lab in ordered))
        lines.append("labels: [" + ", ".join(_q(lab) for lab in ordered) + "]")
        lines.append(_q_instr("Classify the input. Reply with one of: " + ", ".join(ordered) + "."))
    elif det.type == "qa":
        lines.append(_q_instr("Answer the question. Reply with the answer only, in a few words."))
    else:
        lines.append(_q_instr("Respond to the input."))
    if corpus:
        lines += ["corpus:", f"  path: {_q(corpus)}   # documents searched by the rag/knn arms"]
    lines += [
        "# metric: default for the type (classification: accuracy, qa: exact_match, generation: token_f1)",
        "model:",
        "  name: smollm2-135m-instruct",
        "  dtype: auto   # bf16 on CPUs with AVX512-BF16/AMX and on GPUs, fp32 otherwise",
        "generation:",
        f"  max_new_tokens: {max_new}",
        "  batch_size: 8",
        "seed: 0",
        "arms:",
        *_arms(det, corpus is not None, classical),
    ]
    return "\n".join(lines) + "\n"


def _q_instr(text: str) -> str:
    return f"instructions: {_q(text)}"


def write_task(data: Path | None, out: Path, task_type: str | None = None, corpus: Path | None = None) -> Detected:
    """Detect, render and write `out` (never overwriting); paths are written relative to it."""
    from advisor import registry
    from advisor.spec.data import read_rows

    if out.exists():
        raise UserError(f"{out}: already exists; not overwriting (choose another name with -o)")
    if data is None:
        raise UserError("give a data file (JSONL or CSV): advisor init DATA [--corpus DIR]")
    if not data.is_file():
        raise UserError(f"{data}: no such data file")
    if corpus is not None and not corpus.exists():
        raise UserError(f"{corpus}: no such corpus folder or file")
    rows = [row for _, row in read_rows(data)]
    det = detect(rows, task_type, data)
    base = out.resolve().parent
    rel = _relative(data.resolve(), base)
    crel = _relative(corpus.resolve(), base) if corpus is not None else None
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in data.stem).strip("-._") or "task"
    text = render_task(det, rel, name, crel, classical="classical" in registry.strategies.names())
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror})") from None
    return det


def _relative(path: Path, base: Path) -> str:
    import os

    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)
