"""Shared fixtures: offline mode, an isolated cache for fast tests, task folders, a tiny Llama."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent

# A suite started in the background of a non-interactive shell (`nohup bash scripts/dev.sh test &`)
# inherits SIGINT ignored, and so would every `advisor` child it starts: the Ctrl-C tests would
# see their signal vanish. A Python handler here is reset to the default in children on exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_cache(request, tmp_path_factory, monkeypatch):
    """Fast tests never touch the user's model cache; slow tests share the real one.

    The response cache is off in every test (ADVISOR_NO_CACHE=1, inherited by CLI child
    processes), so no test's measured numbers come from another run's answers; a test of the
    cache turns it on with `monkeypatch.delenv("ADVISOR_NO_CACHE")` (fast tests: in their tmp cache dir).
    """
    monkeypatch.setenv("ADVISOR_NO_CACHE", "1")
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def spam_rows(n: int = 40) -> list[dict]:
    """Rows the fake backend can get right: the text mentions its label first."""
    rows = []
    for i in range(n):
        label = "spam" if i % 2 else "ham"
        rows.append({"id": f"r{i}", "text": f"{label} message number {i}", "label": label})
    return rows


TASK_YAML = """\
name: toy
type: classification
data:
  path: data.jsonl
  input_field: text
  target_field: label
  id_field: id
  split: {train: 0.5, validation: 0.1, test: 0.4, seed: 1}
labels: [ham, spam]
instructions: Say spam or ham.
backend: fake
arms:
  - name: zero
    strategy: prompting
  - name: two-shot
    strategy: prompting
    config: {shots: 2}
  - name: gen
    strategy: prompting
    config: {mode: generate}
"""


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    """A valid classification task folder (task.yaml + data.jsonl) for the fake backend."""
    write_rows(tmp_path / "data.jsonl", spam_rows())
    (tmp_path / "task.yaml").write_text(TASK_YAML, encoding="utf-8")
    return tmp_path


def make_task(tmp_path: Path, yaml_text: str, rows: list[dict] | None = None, data_name: str = "data.jsonl") -> Path:
    if rows is not None:
        write_rows(tmp_path / data_name, rows)
    path = tmp_path / "task.yaml"
    path.write_text(textwrap.dedent(yaml_text), encoding="utf-8")
    return path


# Conversations for the tiny Llama: the system turn is long enough to be a shared prefix
# (more than MIN_PREFIX tokens), every word is in its vocabulary.
TINY_SYSTEM = "say ham or spam . " * 6
TINY_INPUTS = ["hello world", "free prize call now", "what is the answer ?", "a b c d e f g", "yes", "no no no"]


def tiny_chat(text: str) -> list[dict]:
    return [{"role": "system", "content": TINY_SYSTEM}, {"role": "user", "content": text}]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama with a word-level tokenizer and a chat template."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    words = ("ham spam say or message number hello world what is the answer yes no sms free prize call now "
             "system user assistant a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 . , ? !").split()
    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(words)))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
                          "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=vocab["<pad>"], eos_token_id=vocab["<|im_end|>"], bos_token_id=vocab["<|im_start|>"])
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
