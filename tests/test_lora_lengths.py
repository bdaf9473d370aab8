"""LoRA training data with long answers: fitting into max_length never fails, is counted, and
the default max_length follows the data (tiny word-level Llama from conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from advisor.evaluation.runner import RunOptions, run_task  # noqa: E402
from advisor.spec import load_task  # noqa: E402
from advisor.spec.data import Sample  # noqa: E402
from strategies.lora.data import LengthReport, auto_max_length, encode, example_lengths  # noqa: E402
from tests.conftest import make_task  # noqa: E402

LONG = " ".join("a b c d e f g h i j k l m n o p q r s t u v w x y z".split() * 2)  # 52 words = 52 tokens


def _messages(s: Sample) -> list[dict]:
    return [{"role": "system", "content": "say yes or no ."}, {"role": "user", "content": s.input}]


@pytest.fixture(scope="module")
def tok(tiny_llama: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama)


def test_long_answers_are_cut_from_their_end_or_skipped_and_counted(tok) -> None:
    samples = [Sample("short", "hello world", "yes"), Sample("long", "what is the answer ?", LONG)]
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    prompt_len = example_lengths(samples[:1], _messages, tok)[0] - 2  # without "yes" and the end of turn
    report = LengthReport(30, "test")
    short, long = encode(samples, _messages, tok, 30, report=report)
    assert short.input_ids[-2:] == (tok.convert_tokens_to_ids("yes"), eot) and len(short) == prompt_len + 2
    # the long one (18 prompt tokens): the prompt's last 15 tokens (half of 30), then the answer's first 15 words,
    # no end of turn
    answer = tok(LONG, add_special_tokens=False)["input_ids"]
    assert len(long) == 30 and long.answer_len == 15 and list(long.input_ids[-15:]) == answer[:15]
    assert eot not in long.input_ids[-15:]
    assert long.input_ids[:15][-1] == tok.convert_tokens_to_ids("assistant")  # the generation prompt survives
    assert (report.examples, report.answer_cut, report.prompt_cut, report.skipped) == (2, 1, 0, 0)
    assert report.longest == example_lengths(samples[1:], _messages, tok)[0]

    skipped = LengthReport(40, "test")
    assert [e.id for e in encode(samples, _messages, tok, 40, overflow="skip", report=skipped)] == ["short"]
    assert (skipped.skipped, skipped.answer_cut) == (1, 0)

    # an answer that fits once the prompt is cut from the left: only the prompt is cut
    cut = LengthReport(40, "test")
    (ex,) = encode([Sample("long-question", LONG, "yes")], _messages, tok, 40, report=cut)
    assert len(ex) == 40 and ex.input_ids[-2:] == (tok.convert_tokens_to_ids("yes"), eot) and ex.answer_len == 2
    assert (cut.prompt_cut, cut.answer_cut) == (1, 0)


def test_auto_max_length_is_a_high_percentile_capped_by_the_window() -> None:
    lengths = list(range(1, 101))  # p95 = 95.05 -> 96 (ceil) -> 96 (multiple of 8)
    assert auto_max_length(lengths, 4096)[0] == 96
    assert auto_max_length(lengths, 64)[0] == 64  # the model window
    assert auto_max_length([5000] * 10, 8192)[0] == 2048  # the memory cap
    assert auto_max_length([3, 4], 512)[0] == 16
    value, how = auto_max_length([100, 200, 300], 8192)
    assert value == 296 and "p95 of 3 example lengths = 290" in how and "8192" in how


TASK = """\
name: long-lora
type: generation
data: {{path: data.jsonl, input_field: q, target_field: a, id_field: id,
        split: {{train: 0.6, validation: 0.2, test: 0.2, seed: 1}}}}
metric: rouge_l
instructions: say yes or no .
model: {{name: {model}, threads: 1}}
generation: {{max_new_tokens: 4}}
backend: transformers
arms:
  - name: tuned
    strategy: lora
    config: {config}
"""


def test_lora_arm_survives_long_answers_and_records_the_cuts(tmp_path: Path, tiny_llama: Path) -> None:
    rows = [{"id": f"r{i}", "q": "what is the answer ?", "a": LONG if i % 2 else "yes"} for i in range(20)]
    path = make_task(tmp_path, TASK.format(model=tiny_llama, config="{max_steps: 2, max_length: 32, "
                                                                     "forgetting_probe: false}"), rows)
    record, _ = run_task(load_task(path), RunOptions(out=tmp_path / "run"))
    arm = record.arm("tuned")
    assert arm.status == "ok", arm.errors
    lengths = arm.prepare.training.lengths
    assert lengths.max_length == 32 and lengths.how == "set in the arm config"
    from advisor.spec.data import load_splits

    n_long = sum(1 for s in load_splits(load_task(path).spec).train if s.target == LONG)
    assert lengths.examples == 12 and lengths.answer_cut == n_long > 0 and lengths.prompt_cut == 0
    path = make_task(tmp_path, TASK.format(model=tiny_llama, config="{max_steps: 2, forgetting_probe: false}"), rows)
    record, _ = run_task(load_task(path), RunOptions(out=tmp_path / "run-auto"))
    lengths = record.arm("tuned").prepare.training.lengths
    assert lengths.how.startswith("auto: p95 of 12") and lengths.max_length >= lengths.longest - 8
    assert lengths.answer_cut == 0 and record.arm("tuned").status == "ok"
