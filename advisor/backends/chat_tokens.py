"""Chat-template tokenisation outside the model: prompt token ids, choice ids, end-of-turn ids.

The `vllm` backend renders every prompt here and sends token ids, so the server sees
exactly the tokens the transformers backend feeds its model (same template, same
tokenizer, no special tokens added twice) and choice scoring lines up token for token.
Only the tokenizer is loaded (no weights). The transformers backend and the LoRA arm's
training data use the same code, so all three see identical tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

from advisor.backends.base import PLAIN_ROLE, Message

__all__ = ["ChatTokenizer", "chat_prompt_ids"]

END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>")


def chat_prompt_ids(tokenizer, messages: list[Message]) -> list[int]:
    """Prompt token ids after the chat template, ready for the assistant's reply; a plain-text
    prompt (one PLAIN_ROLE message) is tokenised as it is."""
    if len(messages) == 1 and messages[0]["role"] == PLAIN_ROLE:
        text = messages[0]["content"]
    elif tokenizer.chat_template:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:  # a base model without a template: plain role-tagged text
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
    return tokenizer(text, add_special_tokens=False)["input_ids"]


class ChatTokenizer:
    """A model folder's tokenizer with the chat template applied the way the backends need."""

    def __init__(self, folder: str | Path) -> None:
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self._memo: dict[tuple, list[int]] = {}
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids: set[int] = set()
        values: list[object] = [self.tokenizer.eos_token_id]
        gen = self.folder / "generation_config.json"
        if gen.exists():
            values.append(json.loads(gen.read_text()).get("eos_token_id"))
        for value in values:
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(v for v in value if isinstance(v, int))
        for tok in END_OF_TURN:
            tid = self.tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.add(tid)
        return sorted(ids)

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of the conversation after the template, ready for the reply (memoised)."""
        key = tuple((m["role"], m["content"]) for m in messages)
        ids = self._memo.get(key)
        if ids is None:
            ids = chat_prompt_ids(self.tokenizer, messages)
            if len(self._memo) >= 4096:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = ids
        return ids

    def choice_ids(self, choice: str) -> list[int]:
        return self.tokenizer(choice, add_special_tokens=False)["input_ids"]

    def decode_reply(self, ids: list[int], stop: tuple[str, ...]) -> tuple[str, int, str]:
        """(text, tokens up to and including end-of-turn, finish reason) of generated ids."""
        count, finish = len(ids), "length"
        for pos, tok in enumerate(ids):
            if tok in self.eos_ids:
                count, finish = pos, "stop"
                break
        text = self.tokenizer.decode(ids[:count], skip_special_tokens=True)
        for s in stop:
            if s and s in text:
                text, finish = text[: text.index(s)], "stop"
        return text, min(len(ids), count + 1), finish
