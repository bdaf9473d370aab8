"""`chat: false`: lm-evaluation-harness's plain prompt, tokenised without the chat template."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.backends.base import PLAIN_ROLE
from advisor.prompting.prompts import PromptParts
from strategies.prompting.arm import PromptingConfig


def test_plain_text_is_lm_eval_layout() -> None:
    parts = PromptParts(system="Sort messages.", input="win cash", template="SMS: {input}\nAnswer:",
                        demos=(("SMS: hi\nAnswer:", "ham"), ("SMS: prize\nAnswer:", "spam")), chat=False)
    text = "Sort messages.\n\nSMS: hi\nAnswer: ham\n\nSMS: prize\nAnswer: spam\n\nSMS: win cash\nAnswer:"
    assert parts.plain_text() == text
    assert parts.messages() == [{"role": PLAIN_ROLE, "content": text}]
    assert PromptParts(system="", input="x", chat=False).plain_text() == "x"
    chat = PromptParts(system="Sort messages.", input="win cash", demos=(("hi", "ham"),))
    assert [m["role"] for m in chat.messages()] == ["system", "user", "assistant", "user"]


def test_plain_prompt_skips_the_chat_template(tiny_llama: Path) -> None:
    pytest.importorskip("transformers")
    from advisor.backends.chat_tokens import ChatTokenizer

    tok = ChatTokenizer(tiny_llama)
    text = "say ham or spam . hello world"
    plain = tok.prompt_ids([{"role": PLAIN_ROLE, "content": text}])
    assert plain == tok.tokenizer(text, add_special_tokens=False)["input_ids"]
    templated = tok.prompt_ids([{"role": "user", "content": text}])
    assert len(templated) > len(plain)  # the template adds role markers


def test_plain_choices_carry_the_target_delimiter() -> None:
    from advisor.spec.model import TaskSpec
    from strategies.prompting.arm import PromptingStrategy

    spec = TaskSpec.model_validate({"name": "t", "type": "classification", "labels": ["ham", "spam"],
                                    "data": {"path": "x.jsonl"}, "arms": [{"name": "a", "strategy": "prompting"}]})
    plain = PromptingStrategy(PromptingConfig(mode="choice", chat=False), spec)
    assert plain.choices() == (" ham", " spam")
    assert PromptingStrategy(PromptingConfig(mode="choice"), spec).choices() == ("ham", "spam")
