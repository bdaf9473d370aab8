"""One pass per prompt in choice scoring, and length-bucketed batches.

The reference is today's (before one-pass) computation: one row per label holding the whole
prompt, log-softmax over every position, the label's tokens summed. The one-pass scores must
equal it to 1e-4 nats with and without the shared-prefix cache, for labels of one and of
several tokens; and a counting model shows each prompt's tokens go through the model once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.backends.batching import grouped_buckets, length_buckets, padding_waste

torch = pytest.importorskip("torch")

from advisor.backends import transformers_backend as tb  # noqa: E402
from advisor.backends.base import ChoiceRequest  # noqa: E402
from advisor.spec.model import GenerationSpec, ModelSpec  # noqa: E402
from tests.conftest import TINY_INPUTS as INPUTS  # noqa: E402
from tests.conftest import tiny_chat as _conv  # noqa: E402
from tests.factories import task_spec  # noqa: E402

LABELS = ("ham", "spam", "free prize", "call now ! ! yes")  # 1, 1, 2 and 5 tokens


@pytest.fixture(scope="module")
def backend(tiny_llama: Path):
    return tb.TransformersBackend(task_spec(ModelSpec(name=str(tiny_llama), threads=1), GenerationSpec(batch_size=4)))


def _per_label_reference(backend, request: ChoiceRequest) -> list[float]:
    """Today's scores: prompt + label in one row per label, no cache, no padding."""
    prompt = backend._prompt_ids(request.messages)
    out = []
    for choice in request.choices:
        ids = backend.tokenizer(choice, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = backend.model(input_ids=torch.tensor([prompt + ids])).logits[0]
        logprobs = torch.log_softmax(logits.float(), -1)
        out.append(sum(float(logprobs[len(prompt) - 1 + k, t]) for k, t in enumerate(ids)))
    return out


def _requests() -> list[ChoiceRequest]:
    # different prompt lengths and, for two requests, other label sets (orders and sizes)
    reqs = [ChoiceRequest(messages=_conv(t), choices=LABELS) for t in INPUTS]
    reqs[1] = ChoiceRequest(messages=_conv(INPUTS[1]), choices=("spam", "ham"))
    reqs[3] = ChoiceRequest(messages=_conv(INPUTS[3] + " h i j k l m n o p"), choices=("free prize", "yes no", "a"))
    return reqs


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_one_pass_scores_equal_per_label_rows(backend, monkeypatch, prefix_cache: bool) -> None:
    if not prefix_cache:
        monkeypatch.setattr(tb, "MIN_PREFIX", 10**6)
    requests = _requests()
    got = backend.score_choices(requests)
    assert len(got) == len(requests)
    for req, scores in zip(requests, got):
        assert scores.logprobs == pytest.approx(_per_label_reference(backend, req), abs=1e-4)
        assert scores.choice_tokens == [len(backend.tokenizer(c, add_special_tokens=False)["input_ids"])
                                        for c in req.choices]
        assert scores.prompt_tokens == backend.count_tokens([req.messages])[0]
    assert {len(r.choices) for r in requests} == {2, 3, 4}
    assert max(max(s.choice_tokens) for s in got) == 5 and min(min(s.choice_tokens) for s in got) == 1


def test_scores_do_not_depend_on_the_batch(backend) -> None:
    requests = _requests()
    together = backend.score_choices(requests)
    alone = [backend.score_choices([r])[0] for r in requests]
    for a, b in zip(together, alone):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


class _CountingForward:
    """Wraps a model's forward: counts the real (unpadded) input tokens of every call."""

    def __init__(self, model) -> None:
        self.inner = model.forward
        self.tokens = 0
        self.calls = 0

    def __call__(self, *args, input_ids=None, attention_mask=None, **kwargs):
        self.calls += 1
        new = input_ids.shape[1]
        self.tokens += int(attention_mask[:, -new:].sum()) if attention_mask is not None else input_ids.numel()
        return self.inner(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs)


@pytest.mark.parametrize("labels", [("ham", "spam", "yes", "no"), LABELS])
def test_each_prompt_token_is_computed_once_per_request(backend, monkeypatch, labels) -> None:
    backend._prefixes.clear()
    counter = _CountingForward(backend.model)
    monkeypatch.setattr(backend.model, "forward", counter)
    requests = [ChoiceRequest(messages=_conv(t), choices=labels) for t in INPUTS]
    got = backend.score_choices(requests)
    prompts = [backend._prompt_ids(r.messages) for r in requests]
    prefix = tb.common_prefix_length(prompts)
    assert prefix >= tb.MIN_PREFIX  # the shared system prompt is cached: computed once for all
    label_ids = [backend.tokenizer(c, add_special_tokens=False)["input_ids"] for c in labels]
    # the prefix once, each prompt's own tokens once, and only the label tokens that are
    # needed as inputs (all but the last) once per request and multi-token label
    expected = prefix + sum(len(p) - prefix for p in prompts) + len(requests) * sum(len(ids) - 1 for ids in label_ids)
    assert counter.tokens == expected
    per_label_rows = prefix + sum((len(p) - prefix + len(ids)) for p in prompts for ids in label_ids)
    assert counter.tokens < per_label_rows
    batches = -(-len(requests) // backend.batch_size)
    multi = sum(len(ids) > 1 for ids in label_ids)
    # the prefix, then per batch a prompt pass and label passes of at most as many rows as prompts
    assert counter.calls == 1 + batches * (1 + multi)
    assert all(len(s.logprobs) == len(labels) for s in got)


def test_length_buckets_cap_rows_budget_and_waste() -> None:
    lengths = [10, 600, 12, 11, 590, 13, 250, 9, 610, 14]
    batches = length_buckets(lengths, max_rows=4, token_budget=1300, max_waste=0.25)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        rows = [lengths[i] for i in b]
        assert len(b) <= 4 and (len(b) == 1 or max(rows) * len(b) <= 1300) and padding_waste(rows) <= 0.25
    assert [sorted(lengths[i] for i in b) for b in batches] == [[9, 10, 11, 12], [13, 14], [250], [590, 600], [610]]
    # a row over the budget still gets a batch; sorting alone would pad 9 to 610
    assert length_buckets([5000], 8, token_budget=100) == [[0]]
    assert length_buckets([], 8) == []
    with pytest.raises(ValueError):
        length_buckets([1], 0)


def test_grouped_buckets_keep_groups_apart() -> None:
    items = ["a", "b", "a", "b", "a"]
    batches = grouped_buckets(items, key=lambda x: x, lengths=[5, 5, 6, 5, 5], max_rows=8)
    assert all(len({items[i] for i in b}) == 1 for b in batches)
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3, 4]
