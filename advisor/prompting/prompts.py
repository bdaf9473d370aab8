"""Chat prompts from instructions, demonstrations and an input, fitted to the context.

Fitting keeps a prompt inside the model's window after reserving room for the answer:
first demonstrations are dropped (last first), then the input is cut at the end. The
question itself is never removed, only shortened, and each cut is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated

from pydantic import AfterValidator

from advisor.backends.base import PLAIN_ROLE, Backend, Message

__all__ = ["PromptParts", "FitInfo", "fit_prompts", "InputTemplate", "PLAIN_LABEL_PREFIX"]

PLAIN_LABEL_PREFIX = " "  # lm-evaluation-harness's target delimiter between a plain prompt and its answer


def _has_input(template: str) -> str:
    if "{input}" not in template:
        raise ValueError("template must contain {input}")
    return template


# A user-turn template for arm configs: must place the sample's text with {input}.
InputTemplate = Annotated[str, AfterValidator(_has_input)]


@dataclass(frozen=True)
class PromptParts:
    """The pieces of one conversation, kept apart so fitting can drop or cut them."""

    system: str
    input: str  # the sample's text; the only part that may be cut
    template: str = "{input}"  # final user turn; `{input}` is replaced (str.replace, no format)
    demos: tuple[tuple[str, str], ...] = ()  # (user turn, assistant turn) pairs
    chat: bool = True  # False: one plain-text prompt, no chat template (see plain_text)

    @property
    def user(self) -> str:
        return self.template.replace("{input}", self.input)

    def plain_text(self) -> str:
        """lm-evaluation-harness's plain prompt: instructions, then each demonstration as
        `user answer` and the user turn, blocks separated by a blank line. A label scored
        after it is the continuation `" " + label` (PLAIN_LABEL_PREFIX)."""
        blocks = [self.system] if self.system else []
        blocks += [f"{question}{PLAIN_LABEL_PREFIX}{answer}" for question, answer in self.demos]
        return "\n\n".join(blocks + [self.user])

    def messages(self) -> list[Message]:
        if not self.chat:
            return [{"role": PLAIN_ROLE, "content": self.plain_text()}]
        msgs: list[Message] = [{"role": "system", "content": self.system}] if self.system else []
        for question, answer in self.demos:
            msgs += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        msgs.append({"role": "user", "content": self.user})
        return msgs


@dataclass
class FitInfo:
    prompt_tokens: int
    demos_dropped: int = 0
    chars_cut: int = 0
    notes: list[str] = field(default_factory=list)


def fit_prompts(parts: list[PromptParts], backend: Backend, reserve: int) -> list[tuple[PromptParts, FitInfo]]:
    """Each prompt shrunk until it plus `reserve` tokens fits `backend.context_length`."""
    budget = backend.context_length - reserve
    if budget <= 16:
        raise ValueError(f"context of {backend.context_length} tokens leaves no room for a prompt after {reserve} reserved")
    counts = backend.count_tokens([p.messages() for p in parts])
    out: list[tuple[PromptParts, FitInfo]] = []
    for p, n in zip(parts, counts):
        info = FitInfo(prompt_tokens=n)
        for _ in range(64):  # bounded: each pass removes a demo or a share of the input
            if info.prompt_tokens <= budget:
                break
            if p.demos:
                p = replace(p, demos=p.demos[:-1])
                info.demos_dropped += 1
            else:
                overflow = info.prompt_tokens - budget
                # Cut proportionally to the overflow (tokens -> chars), at least 16 chars a pass.
                ratio = len(p.user) / max(1, info.prompt_tokens)
                cut = max(16, int(overflow * ratio * 1.1))
                if cut >= len(p.input):
                    raise ValueError("instructions and template alone exceed the model's context window")
                p = replace(p, input=p.input[: len(p.input) - cut])
                info.chars_cut += cut
            info.prompt_tokens = backend.count_tokens([p.messages()])[0]
        if info.demos_dropped:
            info.notes.append(f"dropped {info.demos_dropped} demonstration(s) to fit {backend.context_length} tokens")
        if info.chars_cut:
            info.notes.append(f"cut {info.chars_cut} characters from the end of the input")
        out.append((p, info))
    return out
