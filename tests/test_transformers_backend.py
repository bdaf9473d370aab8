"""The in-process backend on a tiny random Llama: batching, prefix caching and choice scores
must give exactly what one-at-a-time, uncached computation gives."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from advisor.backends import transformers_backend as tb  # noqa: E402
from advisor.backends.base import ChoiceRequest, GenerateRequest  # noqa: E402
from advisor.spec.model import GenerationSpec, ModelSpec  # noqa: E402
from tests.conftest import TINY_INPUTS as INPUTS  # noqa: E402
from tests.conftest import tiny_chat as _conv  # noqa: E402
from tests.factories import task_spec  # noqa: E402


@pytest.fixture(scope="module")
def backend(tiny_llama: Path):
    return tb.TransformersBackend(task_spec(ModelSpec(name=str(tiny_llama), threads=1), GenerationSpec(batch_size=4)))


def test_common_prefix_length() -> None:
    assert tb.common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert tb.common_prefix_length([[1, 2], [1, 2]]) == 1  # one own token must remain
    assert tb.common_prefix_length([]) == 0


def test_batched_prefix_generation_equals_one_at_a_time(backend, monkeypatch) -> None:
    requests = [GenerateRequest(messages=_conv(t), max_new_tokens=6) for t in INPUTS]
    batched = backend.generate(requests)
    monkeypatch.setattr(tb, "MIN_PREFIX", 10**6)  # no prefix cache, batch of one
    single = [backend.generate([r])[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in single]
    for g, conv in zip(batched, (r.messages for r in requests)):
        assert g.prompt_tokens == backend.count_tokens([conv])[0]
        assert 1 <= g.completion_tokens <= 6 and g.latency_s > 0 and g.ttft_s is not None and g.ttft_s <= g.latency_s
        assert g.finish_reason in ("stop", "length")


def test_choice_scores_equal_manual_log_likelihood(backend, monkeypatch) -> None:
    choices = ("ham", "spam", "free prize")
    requests = [ChoiceRequest(messages=_conv(t), choices=choices) for t in INPUTS]
    cached = backend.score_choices(requests)
    tok, model = backend.tokenizer, backend.model
    for req, got in zip(requests, cached):
        prompt = backend._prompt_ids(req.messages)
        for c, choice in enumerate(choices):
            ids = tok(choice, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logits = model(input_ids=torch.tensor([prompt + ids])).logits[0]
            logprobs = torch.log_softmax(logits.float(), -1)
            expected = sum(float(logprobs[len(prompt) - 1 + k, t]) for k, t in enumerate(ids))
            assert got.logprobs[c] == pytest.approx(expected, abs=1e-4)
        assert got.choice_tokens == [len(tok(c, add_special_tokens=False)["input_ids"]) for c in choices]
    monkeypatch.setattr(tb, "MIN_PREFIX", 10**6)
    uncached = backend.score_choices(requests)
    for a, b in zip(cached, uncached):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_stop_strings_and_length_finish(backend) -> None:
    [g] = backend.generate([GenerateRequest(messages=_conv("hello"), max_new_tokens=3)])
    assert g.completion_tokens <= 3
    if g.text:
        first = g.text.split()[0]
        [cut] = backend.generate([GenerateRequest(messages=_conv("hello"), max_new_tokens=3, stop=(first,))])
        assert first not in cut.text and cut.finish_reason == "stop"


def test_context_length_and_info(backend, tiny_llama: Path) -> None:
    assert backend.context_length == 512
    assert backend.info.name == "transformers" and backend.info.device == "cpu" and len(backend.info.model_id) == 16
    small = tb.TransformersBackend(task_spec(ModelSpec(name=str(tiny_llama), max_context=128)))
    assert small.context_length == 128


def test_thread_setting_is_scoped_to_each_call(backend) -> None:
    """threads: 1 holds while the backend computes and is restored after: torch's thread count
    is process-wide, and a later arm (an index build, training) must not inherit it."""
    seen: list[int] = []
    real_forward = backend.model.forward

    def spying(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_forward(*args, **kwargs)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        backend.model.forward = spying
        backend.score_choices([ChoiceRequest(_conv("hello"), ("ham", "spam"))])
        backend.generate([GenerateRequest(messages=_conv("hello"), max_new_tokens=2)])
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2 and backend.info.threads == 1
    finally:
        del backend.model.forward
        torch.set_num_threads(before)
