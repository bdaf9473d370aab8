"""Training examples formatted exactly as inference sends them, and length-bucketed batches.

An example is the prompt the prompting arm's zero-shot would send (same system prompt,
template and chat template, tokenised by the backends' own `chat_prompt_ids`) followed by
the answer: the target's tokens, as choice scoring appends them, plus the end-of-turn
token so generation learns to stop. Labels are -100 (ignored) on every prompt token: the
loss is on the answer only.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from typing import Any, Callable

from advisor.backends.base import Message
from advisor.spec.data import Sample

__all__ = ["Example", "LengthReport", "encode", "example_lengths", "auto_max_length", "AUTO_CAP", "end_of_turn_id", "bucket_batches", "collate", "data_hash", "IGNORE"]

IGNORE = -100  # label value cross-entropy skips
AUTO_CAP = 2048  # tokens: the automatic max_length never exceeds this (activation memory grows with it)


@dataclass(frozen=True)
class Example:
    id: str
    input_ids: tuple[int, ...]
    answer_len: int  # the last `answer_len` tokens are the answer (target + end of turn)

    def __len__(self) -> int:
        return len(self.input_ids)


def end_of_turn_id(tokenizer: Any) -> int:
    """The token that closes an assistant turn (what generation stops on)."""
    for tok in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        tid = tokenizer.convert_tokens_to_ids(tok)
        if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id:
            return tid
    return int(tokenizer.eos_token_id)


@dataclass
class LengthReport:
    """What fitting examples into `max_length` did: for the record (training.lengths)."""

    max_length: int
    how: str  # "set in the config" or how the automatic value was chosen
    examples: int = 0
    prompt_cut: int = 0  # prompt cut from the left, answer whole
    answer_cut: int = 0  # answer kept from its start, end of turn dropped
    skipped: int = 0  # overflow: skip
    longest: int = 0  # tokens of the longest example before fitting

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def example_lengths(samples: list[Sample], messages: Callable[[Sample], list[Message]], tokenizer: Any) -> list[int]:
    """Tokens of each full example (prompt + answer + end of turn), before any cut."""
    from advisor.backends.chat_tokens import chat_prompt_ids

    return [len(chat_prompt_ids(tokenizer, messages(s))) + len(tokenizer(s.target, add_special_tokens=False)["input_ids"])
            + 1 for s in samples]


def auto_max_length(lengths: list[int], window: int, cap: int = AUTO_CAP, percentile: float = 95) -> tuple[int, str]:
    """The `percentile` of the example lengths rounded up to a multiple of 8, at most the
    model's window and `cap` (a memory bound), at least 16; with the reason."""
    import numpy as np

    if not lengths:
        return min(512, window, cap), "no examples: 512"
    p = int(np.ceil(np.percentile(lengths, percentile)))
    value = max(16, min(-(-p // 8) * 8, window, cap))
    return value, (f"auto: p{percentile:g} of {len(lengths)} example lengths = {p} tokens, rounded up to a multiple of 8, "
                   f"capped by the model window {window} and {cap}")


def encode(samples: list[Sample], messages: Callable[[Sample], list[Message]], tokenizer: Any, max_length: int,
           answer: Callable[[Sample], str] | None = None, overflow: str = "truncate",
           report: LengthReport | None = None) -> list[Example]:
    """Tokenised examples that fit `max_length`; never fails on a long one.

    A prompt too long is cut from the left (its start is the system prompt, which every
    example repeats), keeping at least half of `max_length` for it when the answer is long.
    An answer that still does not fit is kept from its start with the end-of-turn token
    dropped (`overflow="truncate"`: the model learns the answer's start, not to stop there),
    or the example is left out (`overflow="skip"`). `report` counts what was cut."""
    from advisor.backends.chat_tokens import chat_prompt_ids

    eot = end_of_turn_id(tokenizer)
    out = []
    for s in samples:
        prompt = chat_prompt_ids(tokenizer, messages(s))
        reply = tokenizer((answer or (lambda x: x.target))(s), add_special_tokens=False)["input_ids"] + [eot]
        total = len(prompt) + len(reply)
        if report is not None:
            report.examples += 1
            report.longest = max(report.longest, total)
        if total <= max_length:
            out.append(Example(s.id, tuple(prompt + reply), len(reply)))
            continue
        min_prompt = min(len(prompt), max_length // 2)
        if len(reply) <= max_length - min_prompt:
            room = max_length - len(reply)
            out.append(Example(s.id, tuple(prompt[-room:] + reply), len(reply)))
            if report is not None:
                report.prompt_cut += 1
            continue
        if overflow == "skip":
            if report is not None:
                report.skipped += 1
            continue
        kept = reply[: max_length - min_prompt]  # the answer's start; the end of turn is gone
        out.append(Example(s.id, tuple(prompt[len(prompt) - min_prompt:] + kept), len(kept)))
        if report is not None:
            report.answer_cut += 1
    return out


def bucket_batches(examples: list[Example], batch_size: int, seed: int, pool: int = 16) -> list[list[Example]]:
    """Batches of similar length in random order: shuffle, cut into pools of `pool` batches,
    sort each pool by length, cut into batches, shuffle the batches. Padding stays small
    while each epoch still sees a different order."""
    rng = random.Random(seed)
    order = list(examples)
    rng.shuffle(order)
    batches: list[list[Example]] = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=len)
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(batch: list[Example], pad_id: int, device: Any = "cpu") -> dict[str, Any]:
    """Left-padded tensors: every answer ends at the last column, so the loss needs logits
    for only the last `keep` positions (`logits_to_keep`), not the whole sequence.

    Returns input_ids, attention_mask, position_ids (counting real tokens only, as
    inference does), labels for the kept window (-100 outside answers) and `keep`.
    """
    import torch

    width = max(len(e) for e in batch)
    keep = max(e.answer_len for e in batch) + 1  # logits at position t predict token t+1
    ids, mask, labels = [], [], []
    for e in batch:
        pad = width - len(e)
        ids.append([pad_id] * pad + list(e.input_ids))
        mask.append([0] * pad + [1] * len(e))
        # labels[j] is the token predicted by the logits at window column j
        window = ids[-1][width - keep + 1:] + [IGNORE]
        answer_from = keep - 1 - e.answer_len  # first window column that predicts an answer token
        labels.append([IGNORE] * answer_from + window[answer_from:keep - 1] + [IGNORE])
    attention = torch.tensor(mask, device=device)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": torch.tensor(ids, device=device), "attention_mask": attention, "position_ids": positions,
            "labels": torch.tensor(labels, device=device), "keep": keep}


def data_hash(train: list[Sample], validation: list[Sample]) -> str:
    """Content hash of what training reads: ids, inputs and targets of both splits, in order."""
    h = hashlib.sha256()
    for name, rows in (("train", train), ("validation", validation)):
        for s in rows:
            h.update(json.dumps([name, s.id, s.input, s.target], ensure_ascii=False).encode())
            h.update(b"\n")
    return h.hexdigest()[:16]
