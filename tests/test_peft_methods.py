"""PEFT methods of the fine-tuning arm (`method:`), fast tier on the tiny Llama: each method
trains with the same trainer, its adapter is served by the transformers backend beside
adapters of other types, and its scores equal a plain peft model's."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from advisor.backends.base import ChoiceRequest, GenerateRequest  # noqa: E402
from advisor.errors import SpecError  # noqa: E402
from advisor.spec import load_task  # noqa: E402
from advisor.spec.data import Sample  # noqa: E402
from strategies.lora.config import LoraArmConfig  # noqa: E402
from strategies.lora.data import encode  # noqa: E402
from strategies.lora.train import train_adapter  # noqa: E402
from tests.test_lora import _lora_task, _messages, tiny_lm, tok, toy_samples  # noqa: E402,F401
from tests.factories import task_spec  # noqa: E402

RATES = {"lora": 1e-2, "dora": 1e-2, "ia3": 5e-2, "prompt_tuning": 5e-2}


@pytest.fixture(scope="module")
def adapters(tiny_lm: Path, tok, tmp_path_factory) -> dict[str, tuple[Path, object]]:
    out = {}
    for method, lr in RATES.items():
        folder = tmp_path_factory.mktemp(method)
        cfg = LoraArmConfig(method=method, learning_rate=lr, batch_size=8, rank=8, dropout=0.0, eval_every=5,
                            warmup_ratio=0.0, max_steps=15, patience=None, virtual_tokens=4)
        r = train_adapter(tiny_lm, encode(toy_samples(48), _messages, tok, 512),
                          encode(toy_samples(16, start=100), _messages, tok, 512), cfg, seed=0, device="cpu",
                          dtype="float32", threads=1, out_dir=folder, pad_id=tok.pad_token_id, init_text="say ham or spam")
        out[method] = (folder, r)
    return out


def test_every_method_trains_with_the_same_trainer(adapters) -> None:
    from peft import PeftConfig

    for method, (folder, r) in adapters.items():
        assert r.val_curve[-1][1] < r.val_curve[0][1], method  # validation loss fell
        assert r.resolved["method"] == method
        kind = PeftConfig.from_pretrained(folder).peft_type.value
        assert kind == {"lora": "LORA", "dora": "LORA", "ia3": "IA3", "prompt_tuning": "PROMPT_TUNING"}[method]
    assert PeftConfig.from_pretrained(adapters["dora"][0]).use_dora
    params = {m: r.trainable_params for m, (_, r) in adapters.items()}
    hidden = 32  # the tiny Llama's width
    assert params["prompt_tuning"] == 4 * hidden
    assert params["ia3"] < params["lora"] < params["dora"]  # DoRA adds a magnitude vector per target
    # IA3 keeps peft's own targets (keys, values, the FFN input), not LoRA's attention default
    assert adapters["ia3"][1].resolved["target_modules"] == ["down_proj", "k_proj", "v_proj"]
    assert set(PeftConfig.from_pretrained(adapters["ia3"][0]).feedforward_modules) == {"down_proj"}


def test_backend_serves_every_type_side_by_side(adapters, tiny_lm: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.spec.model import GenerationSpec, ModelSpec

    backend = TransformersBackend(task_spec(ModelSpec(name=str(tiny_lm)), GenerationSpec(batch_size=4)))
    texts = ["free prize a b c", "hello d e f", "free prize now", "hello world"]
    reqs = lambda adapter: [ChoiceRequest(_messages(Sample("x", t, "")), ("ham", "spam"), adapter=adapter)  # noqa: E731
                            for t in texts]
    base = backend.score_choices(reqs(None))
    served = {m: backend.score_choices(reqs(str(folder))) for m, (folder, _) in adapters.items()}
    assert backend.score_choices(reqs(None))[0].logprobs == pytest.approx(base[0].logprobs, abs=1e-5)
    for method, (folder, _) in adapters.items():
        plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm), folder).eval()
        t = texts[0]
        prompt = backend._prompt_ids(_messages(Sample("x", t, "")))
        virtual = plain.peft_config["default"].num_virtual_tokens if method == "prompt_tuning" else 0
        for c, choice in enumerate(("ham", "spam")):
            ids = backend.tokenizer(choice, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logits = plain(input_ids=torch.tensor([prompt + ids]), attention_mask=torch.ones(1, len(prompt + ids),
                                                                                                  dtype=torch.long)).logits[0]
            at = virtual + len(prompt) - 1
            expected = sum(float(torch.log_softmax(logits[at + k], -1)[i]) for k, i in enumerate(ids))
            assert served[method][0].logprobs[c] == pytest.approx(expected, abs=1e-3), method
        assert served[method][0].logprobs != pytest.approx(base[0].logprobs, abs=1e-3), method
    gen = [GenerateRequest(_messages(Sample("x", t, "")), max_new_tokens=3) for t in texts]
    before = [g.text for g in backend.generate(gen)]
    tuned = backend.generate([GenerateRequest(r.messages, max_new_tokens=3, adapter=str(adapters["prompt_tuning"][0]))
                              for r in gen])
    assert all(g.completion_tokens > 0 for g in tuned)
    assert [g.text for g in backend.generate(gen)] == before  # the base is untouched by the other hosts


def test_method_settings_are_checked(tmp_path: Path, tiny_lm: Path) -> None:
    with pytest.raises(SpecError, match="method"):
        load_task(_lora_task(tmp_path, tiny_lm, "{method: adalora}"))
    with pytest.raises(SpecError, match="cannot be merged"):
        load_task(_lora_task(tmp_path, tiny_lm, "{method: prompt_tuning, merge_export: true}"))
    task = load_task(_lora_task(tmp_path, tiny_lm, "{method: ia3}"))
    from strategies.lora.arm import LoraStrategy
    from tests.test_lora import _ctx

    cfg = task.arm_configs["tuned"]
    ctx = _ctx(task, tmp_path)
    keys = {m: LoraStrategy(cfg.model_copy(update={"method": m}), task.spec)._key(ctx, "m", ctx.splits.train,
                                                                                 ctx.splits.validation)
            for m in ("lora", "dora", "ia3", "prompt_tuning")}
    assert len(set(keys.values())) == 4  # the method is part of the adapter's cache key
