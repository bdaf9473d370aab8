"""Property-based fuzzing of everything that reads a user's or a crashed run's files.

Targets: the spec loader (task YAML: structured mutations of a valid task, text
mutations, raw bytes), the data readers (JSONL and CSV through `load_splits`), and the
record readers (`read_record` on run.json, `read_samples` on samples.jsonl, both from
mutated, torn and random bytes). The property: each case ends in success or a UserError
(the CLI's exit 2 with a message), never another exception, within 2 s and 500 MB.

Time is wall time per case (perf_counter); memory is tracemalloc's peak per case, which
counts every Python object the parsers build (PyYAML's pure-Python loader, json, csv,
pydantic's output objects; not pydantic-core's transient Rust buffers).
`fuzz(target, n)` runs `n` generated cases and returns how many ran and how many ended in
a UserError; tests/test_fuzz.py runs a few hundred per target, the slow tier 1,000.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.errors import UserError

__all__ = ["TARGETS", "fuzz", "LIMIT_S", "LIMIT_BYTES"]

LIMIT_S = 2.0
LIMIT_BYTES = 500 * 1024 * 1024

VALID_TASK: dict[str, Any] = {
    "name": "toy", "type": "classification", "labels": ["ham", "spam"], "instructions": "Say spam or ham.",
    "backend": "fake",
    "data": {"path": "data.jsonl", "input_field": "text", "target_field": "label", "id_field": "id",
             "split": {"train": 0.5, "validation": 0.1, "test": 0.4, "seed": 1}},
    "arms": [{"name": "zero", "strategy": "prompting"}, {"name": "two", "strategy": "prompting", "config": {"shots": 2}}],
}
PATHS = ["name", "type", "labels", "labels.0", "instructions", "backend", "metric", "seed", "data", "data.path",
         "data.format", "data.split", "data.split.train", "data.split.test", "data.input_field", "data.id_field",
         "arms", "arms.0", "arms.0.name", "arms.0.strategy", "arms.1.config", "arms.1.config.shots",
         "arms.1.config.mode", "arms.1.config.template", "generation", "generation.batch_size",
         "generation.max_new_tokens", "model", "model.max_context", "pricing", "decision", "corpus", "unknown_key"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["yes", "no", "~", "", "ham", "spam", "{input}", "1e999",
                                                            "prompting", "fake", "data.jsonl", "../x", "/dev/null"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                        st.dictionaries(st.text(max_size=10), inner, max_size=5)),
                      max_leaves=20)
YAML_BITS = st.sampled_from(["&a ", "*a", "<<: *a", ": ", "- ", "[", "]", "{", "}", "\n", "\n  ", "'", '"', "#", "!!python/object ",
                             "!!binary ", "%YAML 1.1\n", "---\n", "...\n", "\t", "\x00", "\ufeff", "&b [*a, *a]", "? ",
                             "|\n  ", ">-\n  ", "\\u0000", "key: value\n", "labels: [yes, no]\n"])


def _set(data: Any, path: str, value: Any) -> Any:
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        key = int(key) if key.isdigit() else key
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return data
    last = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
    try:
        node[last] = value
    except (IndexError, TypeError):
        pass
    return data


@st.composite
def task_text(draw) -> bytes:
    kind = draw(st.sampled_from(["structured", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    data = json.loads(json.dumps(VALID_TASK))
    for _ in range(draw(st.integers(0, 4))):  # 0: the valid task itself, which must load
        _set(data, draw(st.sampled_from(PATHS)), draw(values))
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, TypeError):
        text = json.dumps(data)
    if kind == "text":
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(text)))
            if draw(st.booleans()):
                text = text[:pos] + draw(st.one_of(YAML_BITS, st.text(max_size=12))) + text[pos:]
            else:
                text = text[:pos] + text[pos + draw(st.integers(1, 20)):]
    return text.encode("utf-8", "surrogatepass")


DATA_ROWS = [{"id": f"r{i}", "text": f"{'spam' if i % 2 else 'ham'} message {i}", "label": "spam" if i % 2 else "ham"}
             for i in range(20)]


@st.composite
def jsonl_bytes(draw) -> bytes:
    lines = [json.dumps(r).encode() for r in DATA_ROWS]
    for _ in range(draw(st.integers(0, 5))):
        i = draw(st.integers(0, len(lines)))
        choice = draw(st.sampled_from(["value", "row", "text", "bytes", "deep", "drop", "cut"]))
        if choice == "value":
            new = json.dumps(draw(values), allow_nan=True).encode()
        elif choice == "row":
            row = dict(DATA_ROWS[i % len(DATA_ROWS)])
            row[draw(st.sampled_from(["id", "text", "label", "other"]))] = draw(values)
            new = json.dumps(row, allow_nan=True).encode()
        elif choice == "text":
            new = draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
        elif choice == "bytes":
            new = draw(st.binary(max_size=40))
        elif choice == "deep":
            depth = draw(st.integers(100, 200_000))
            new = b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
        elif choice == "drop":
            lines = lines[:i] + lines[i + 1:]
            continue
        else:
            whole = b"\n".join(lines)
            return whole[: draw(st.integers(0, len(whole)))]
        lines.insert(i, new)
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b"", b"\r\n"]))


@st.composite
def csv_bytes(draw) -> bytes:
    cell = st.one_of(st.text(max_size=15), st.sampled_from(['"', '""', ",", "\n", "\r", "\x00", "ham", "spam", " ", "a\"b"]))
    header = draw(st.one_of(st.just(["id", "text", "label"]), st.lists(cell, max_size=4)))
    lines = [",".join(header)]
    for i in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 4)) == 0:
            lines.append(",".join(draw(st.lists(cell, max_size=5))))
        else:
            label = "spam" if i % 2 else "ham"
            lines.append(f"r{i},{label} message {i},{label}")
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        pos = draw(st.integers(0, len(raw)))
        raw = raw[:pos] + draw(st.binary(max_size=8)) + raw[pos:]
    return raw


def _mutate_json_bytes(draw, base: bytes, doc: Any, fields: list[str]) -> bytes:
    kind = draw(st.sampled_from(["field", "cut", "bytes", "value", "splice"]))
    if kind == "field" and isinstance(doc, dict):
        doc = json.loads(json.dumps(doc))
        for _ in range(draw(st.integers(1, 3))):
            target = doc
            for key in draw(st.sampled_from(fields)).split("."):
                if isinstance(target, dict) and isinstance(target.get(key), (dict, list)):
                    target = target[key]
                elif isinstance(target, dict):
                    if draw(st.booleans()):
                        target[key] = draw(values)
                    else:
                        target.pop(key, None)
                    break
        return json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind in ("cut", "field"):
        return base[: draw(st.integers(0, len(base)))]
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "value":
        return json.dumps(draw(values), allow_nan=True).encode()
    pos = draw(st.integers(0, len(base)))
    return base[:pos] + draw(st.binary(max_size=10)) + base[pos:]


@st.composite
def run_json_bytes(draw, base: bytes) -> bytes:
    doc = json.loads(base)
    fields = ["schema_version", "run_id", "status", "created", "task", "spec", "splits", "arms", "recommendation",
              "arms.0", "arms.0.status", "arms.0.n", "arms.0.metrics", "arms.0.name", "arms.0.config", "backend",
              "finished", "wall_s"]
    return _mutate_json_bytes(draw, base, doc, fields)


@st.composite
def samples_bytes(draw, base: bytes) -> bytes:
    lines = base.split(b"\n")[:-1]
    fields = ["arm", "id", "input", "target", "prediction", "raw", "correct", "score", "latency_ms", "extra",
              "prompt_tokens", "error"]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        try:
            doc = json.loads(lines[i])
        except ValueError:  # mutated already
            doc = {}
        lines[i] = _mutate_json_bytes(draw, lines[i], doc, fields)
    raw = b"\n".join(lines) + b"\n"
    if draw(st.booleans()):  # a tear, as a kill leaves it
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


# -- running ---------------------------------------------------------------------------------

def _bounded(call: Callable[[], Any], stats: Counter) -> None:
    """One case: success or UserError, within LIMIT_S and LIMIT_BYTES; anything else raises."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        call()
        stats["ok"] += 1
    except UserError as exc:
        assert str(exc).strip(), "a UserError without a message"
        stats["user_error"] += 1
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    stats["cases"] += 1
    stats["max_ms"] = max(stats["max_ms"], round(elapsed * 1000))
    stats["max_peak_kb"] = max(stats["max_peak_kb"], peak // 1024)
    assert elapsed < LIMIT_S, f"case took {elapsed:.2f} s"
    assert peak < LIMIT_BYTES, f"case peaked at {peak / 2**20:.0f} MB"


def _task_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in DATA_ROWS), encoding="utf-8")


def _spec_target(folder: Path, n: int, stats: Counter) -> None:
    from advisor.spec import load_task

    _task_folder(folder)
    path = folder / "task.yaml"

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(task_text())
    def case(raw: bytes) -> None:
        path.write_bytes(raw)
        _bounded(lambda: load_task(path), stats)

    case()


def _data_target(kind: str) -> Callable[[Path, int, Counter], None]:
    def target(folder: Path, n: int, stats: Counter) -> None:
        from advisor.spec import load_task
        from advisor.spec.data import load_splits

        _task_folder(folder)
        name = f"data.{kind}"
        task = dict(VALID_TASK, data={**VALID_TASK["data"], "path": name})
        (folder / "task.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")
        (folder / name).write_text("id,text,label\n" + "".join(f"{r['id']},{r['text']},{r['label']}\n" for r in DATA_ROWS))
        spec = load_task(folder / "task.yaml").spec
        strategy = jsonl_bytes() if kind == "jsonl" else csv_bytes()

        @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def case(raw: bytes) -> None:
            (folder / name).write_bytes(raw)
            _bounded(lambda: load_splits(spec), stats)

        case()
    return target


def _record_target(which: str) -> Callable[[Path, int, Counter], None]:
    def target(folder: Path, n: int, stats: Counter) -> None:
        from advisor.evaluation.record import read_record, read_samples
        from advisor.evaluation.runner import RunOptions, run_task
        from advisor.spec import load_task

        _task_folder(folder)
        (folder / "task.yaml").write_text(yaml.safe_dump(VALID_TASK), encoding="utf-8")
        run = folder / "run"
        run_task(load_task(folder / "task.yaml"), RunOptions(out=run))
        file = run / ("run.json" if which == "run" else "samples.jsonl")
        base = file.read_bytes()
        strategy = run_json_bytes(base) if which == "run" else samples_bytes(base)

        def read() -> None:
            read_record(run)
            read_samples(run)

        @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def case(raw: bytes) -> None:
            file.write_bytes(raw)
            _bounded(read, stats)

        case()
    return target


TARGETS: dict[str, Callable[[Path, int, Counter], None]] = {
    "spec loader (task YAML)": _spec_target,
    "data reader (JSONL)": _data_target("jsonl"),
    "data reader (CSV)": _data_target("csv"),
    "record reader (run.json)": _record_target("run"),
    "record reader (samples.jsonl)": _record_target("samples"),
}


def fuzz(name: str, folder: Path, n: int) -> Counter:
    stats: Counter = Counter()
    TARGETS[name](folder, n, stats)
    return stats


if __name__ == "__main__":  # python -m tests.fuzz_targets [N]: the counts for the closing note
    import os
    import sys
    import tempfile

    os.environ.setdefault("ADVISOR_CACHE_DIR", tempfile.mkdtemp(prefix="advisor-fuzz-cache-"))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print("| target | cases | success | UserError (exit 2) | other exceptions | max ms/case | max peak MB/case |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(TARGETS):
            stats = fuzz(name, Path(tmp) / f"t{i}", n)
            print(f"| {name} | {stats['cases']} | {stats['ok']} | {stats['user_error']} | 0 | {stats['max_ms']} | "
                  f"{stats['max_peak_kb'] / 1024:.1f} |")
