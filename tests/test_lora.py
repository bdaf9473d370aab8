"""LoRA arm, fast tier: a tiny Llama built from a config trains, stops early, caches and
serves its adapter through the transformers backend; the risk checks find what is planted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from advisor.backends.base import ChoiceRequest  # noqa: E402
from advisor.spec.data import Sample, Splits  # noqa: E402
from advisor.errors import SpecError  # noqa: E402
from advisor.spec import load_task  # noqa: E402
from advisor.evaluation.strategy import PrepareContext  # noqa: E402
from strategies.lora.config import LoraArmConfig  # noqa: E402
from strategies.lora.data import IGNORE, collate, encode  # noqa: E402
from strategies.lora.risks import leakage, overfitting  # noqa: E402
from strategies.lora.train import lr_factor, train_adapter  # noqa: E402
from tests.conftest import TINY_SYSTEM, make_task  # noqa: E402
from tests.factories import task_spec  # noqa: E402

WORDS = "a b c d e f g h i j k l m n o p q r s t u v w x y z".split()


def toy_samples(n: int, start: int = 0, flip: bool = False) -> list[Sample]:
    """Learnable: 'free prize' in the text means spam. `flip` swaps the targets."""
    out = []
    for i in range(start, start + n):
        spam = i % 2 == 1
        filler = " ".join(WORDS[(i * 7 + k) % 26] for k in range(3 + i % 4))
        text = f"{filler} free prize" if spam else f"{filler} hello"
        label = "spam" if spam != flip else "ham"
        out.append(Sample(id=f"t{i}", input=text, target=label))
    return out


def _messages(s: Sample) -> list[dict]:
    return [{"role": "system", "content": TINY_SYSTEM}, {"role": "user", "content": s.input}]


@pytest.fixture(scope="module")
def tiny_lm(tiny_llama: Path, tmp_path_factory) -> Path:
    """The conftest tiny Llama with a 10x output head: at random init its logits span under
    one nat (RMS-normed 32-d states x 0.02-std head), so no adapter on the attention could
    fit any task; scaled, a few dozen LoRA steps can."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-lm")
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    with torch.no_grad():
        model.lm_head.weight.mul_(10)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tok(tiny_lm: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm)


def test_labels_cover_only_the_answer_tokens(tok) -> None:
    samples = toy_samples(3)
    ex = encode(samples, _messages, tok, 512)
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    for e, s in zip(ex, samples):
        assert list(e.input_ids[-e.answer_len:]) == tok(s.target, add_special_tokens=False)["input_ids"] + [eot]
    batch = collate(ex, tok.pad_token_id)
    ids, labels, keep = batch["input_ids"], batch["labels"], batch["keep"]
    assert labels.shape == (3, keep)
    for row, e in enumerate(ex):
        real = labels[row][labels[row] != IGNORE].tolist()
        assert real == list(e.input_ids[-e.answer_len:])  # exactly the answer (+ end of turn), nothing of the prompt
        pad = ids.shape[1] - len(e)
        assert ids[row, :pad].eq(tok.pad_token_id).all() and batch["attention_mask"][row, :pad].eq(0).all()
        assert batch["position_ids"][row, -1] == len(e) - 1  # positions count real tokens only
    short = encode(samples[:1], _messages, tok, 8)[0]
    assert len(short) == 8 and short.input_ids[-short.answer_len:] == ex[0].input_ids[-ex[0].answer_len:]


def test_lr_schedule_warms_up_then_decays() -> None:
    assert [round(lr_factor(s, 10, 2, "linear"), 3) for s in (0, 1, 2, 9)] == [0.5, 1.0, 1.0, 0.125]
    assert lr_factor(2, 10, 2, "cosine") == pytest.approx(1.0) and lr_factor(9, 10, 2, "cosine") < 0.05
    assert lr_factor(7, 10, 0, "constant") == 1.0


def _train(tiny_lm: Path, tok, tmp_path: Path, train, val, **overrides):
    cfg = LoraArmConfig(**{"learning_rate": 1e-2, "batch_size": 8, "rank": 8, "dropout": 0.0, "eval_every": 5,
                           "warmup_ratio": 0.0, **overrides})
    return train_adapter(tiny_lm, encode(train, _messages, tok, 512), encode(val, _messages, tok, 512), cfg,
                         seed=0, device="cpu", dtype="float32", threads=1, out_dir=tmp_path, pad_id=tok.pad_token_id)


def test_training_lowers_the_loss(tiny_lm: Path, tok, tmp_path: Path) -> None:
    r = _train(tiny_lm, tok, tmp_path, toy_samples(48), toy_samples(16, start=100), max_steps=30, patience=None)
    assert r.steps == 30 and not r.stopped_early
    assert r.val_curve[0][0] == 0 and r.val_curve[-1][1] < 0.5 * r.val_curve[0][1]
    assert r.train_curve[-1][1] < 0.5 * r.train_curve[0][1]
    assert 0 < r.trainable_params < r.total_params and r.tokens > 0 and r.train_s > 0
    assert r.resolved["target_modules"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert (tmp_path / "adapter_config.json").is_file() and (tmp_path / "adapter_model.safetensors").is_file()


def test_early_stopping_keeps_the_best_adapter(tiny_lm: Path, tok, tmp_path: Path) -> None:
    """Validation targets are the opposite of training's: learning makes validation worse."""
    val = toy_samples(16, start=100, flip=True)
    r = _train(tiny_lm, tok, tmp_path, toy_samples(48), val, max_steps=60, patience=2, eval_every=3)
    assert r.stopped_early and r.steps < 60
    assert r.best_step == min(r.val_curve, key=lambda p: p[1])[0]
    assert len([p for p in r.val_curve if p[0] > r.best_step]) == 2  # patience 2
    # the saved adapter is the best one: its validation loss is the best point of the curve
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from strategies.lora.train import evaluate

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm), tmp_path)
    loss, _ = evaluate(model, encode(val, _messages, tok, 512), 8, tok.pad_token_id, "cpu")
    assert loss == pytest.approx(min(v for _, v in r.val_curve), rel=1e-3)
    flags = overfitting(r.train_curve, r.val_curve, r.best_step, r.stopped_early, r.steps)
    assert flags.flag and flags.early_stop_step == r.steps


def test_adapter_through_the_transformers_backend(tiny_lm: Path, tok, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.spec.model import GenerationSpec, ModelSpec

    _train(tiny_lm, tok, tmp_path, toy_samples(48), toy_samples(8, start=100), max_steps=10, patience=None, dropout=0.1)
    backend = TransformersBackend(task_spec(ModelSpec(name=str(tiny_lm)), GenerationSpec(batch_size=4)))
    texts = ["free prize a b c", "hello d e f", "free prize now", "hello world"]
    reqs = lambda adapter: [ChoiceRequest(_messages(Sample("x", t, "")), ("ham", "spam"), adapter=adapter)  # noqa: E731
                            for t in texts]
    base = backend.score_choices(reqs(None))
    tuned = backend.score_choices(reqs(str(tmp_path)))
    again = backend.score_choices(reqs(str(tmp_path)))
    base_again = backend.score_choices(reqs(None))
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm), tmp_path).eval()
    for t, b, a, a2, b2 in zip(texts, base, tuned, again, base_again):
        assert a.logprobs != pytest.approx(b.logprobs, abs=1e-3)  # the adapter changes the scores
        assert a.logprobs == a2.logprobs and b.logprobs == pytest.approx(b2.logprobs, abs=1e-5)  # eval mode, switchable
        prompt = backend._prompt_ids(_messages(Sample("x", t, "")))
        for c, choice in enumerate(("ham", "spam")):
            ids = tok(choice, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logits = peft_model(input_ids=torch.tensor([prompt + ids])).logits[0]
            expected = sum(float(torch.log_softmax(logits[len(prompt) - 1 + k], -1)[i]) for k, i in enumerate(ids))
            assert a.logprobs[c] == pytest.approx(expected, abs=1e-4)  # equals a plain peft model
    assert sum(s.logprobs[1] > s.logprobs[0] for s in tuned[::2]) == 2  # learnt: 'free prize' -> spam


def test_overfitting_flag_from_synthetic_curves() -> None:
    train = [[s, 2.0 - 0.1 * s] for s in range(1, 11)]
    rising = [[0, 2.0], [2, 1.0], [4, 0.8], [6, 0.9], [8, 1.1]]
    flat = [[0, 2.0], [2, 1.0], [4, 0.8], [6, 0.79], [8, 0.78]]
    got = overfitting(train, rising, best_step=4, stopped_early=True, steps=8)
    assert got.flag and got.val_rise == pytest.approx(0.375) and "step 4" in got.note
    assert not overfitting(train, flat, best_step=8, stopped_early=False, steps=8).flag
    assert not overfitting(train, [[0, 1.0]], 0, False, 8).flag


def test_leakage_finds_planted_duplicates() -> None:
    train = [Sample(f"tr{i}", f"message number {i} about the weekly team meeting in room {i}", "ham") for i in range(20)]
    test = [Sample("clean", "totally unrelated words that never appear anywhere else in this data", "ham"),
            Sample("dup", train[3].input, "ham"),
            Sample("near", train[7].input + " see you there", "ham"),
            Sample("short", "ok", "ham")]
    got = leakage(train, test, n=5, threshold=0.5)
    assert got.flagged_ids == ["dup", "near"] and got.warning and got.overlap_share == 0.5
    assert {p.test_id: p.train_id for p in got.pairs} == {"dup": "tr3", "near": "tr7"}
    assert not leakage(train, test[:1], n=5).warning
    assert leakage([Sample("a", "ok", "ham")], test, n=5).flagged_ids == ["short"]  # short texts: exact match


LORA_TASK = """\
name: toy-lora
type: classification
data: {{path: data.jsonl, input_field: text, target_field: label, id_field: id,
        split: {{train: 0.6, validation: 0.2, test: 0.2, seed: 1}}}}
labels: [ham, spam]
instructions: {system}
model: {{name: {model}, threads: 1}}
backend: transformers
arms:
  - name: zero
    strategy: prompting
  - name: tuned
    strategy: lora
    config: {config}
"""


def _lora_task(tmp_path: Path, tiny_lm: Path, config: str = "{max_steps: 12, learning_rate: 0.01}", rows=None) -> Path:
    rows = rows or [{"id": s.id, "text": s.input, "label": s.target} for s in toy_samples(60)]
    return make_task(tmp_path, LORA_TASK.format(system="say ham or spam .", model=tiny_lm, config=config), rows)


def test_qlora_without_cuda_and_bad_config_are_spec_errors(tmp_path: Path, tiny_lm: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SpecError, match=r"task.yaml:14: arms\[1\].config: qlora needs a CUDA GPU"):
        load_task(_lora_task(tmp_path, tiny_lm, "{qlora: true}"))
    with pytest.raises(SpecError, match=r"task.yaml:14: arms\[1\].config.rank: Input should be greater than or equal to 1"):
        load_task(_lora_task(tmp_path, tiny_lm, "{rank: 0}"))
    with pytest.raises(SpecError, match=r"arms\[1\].config.ranks: unknown field; expected one of: .*rank"):
        load_task(_lora_task(tmp_path, tiny_lm, "{ranks: 4}"))
    with pytest.raises(SpecError, match="target_modules"):
        load_task(_lora_task(tmp_path, tiny_lm, "{target_modules: []}"))


def test_cli_exit_code_2_for_qlora_on_cpu(tmp_path: Path, tiny_lm: Path, capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from advisor.cli import main

    path = _lora_task(tmp_path, tiny_lm, "{qlora: true}")
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "qlora needs a CUDA GPU" in capsys.readouterr().err and not (tmp_path / "run").exists()


def _ctx(task, tmp_path: Path, backend=None) -> PrepareContext:
    from advisor.spec.data import load_splits

    return PrepareContext(spec=task.spec, splits=load_splits(task.spec), arm_name="tuned", seed=task.spec.seed,
                          cache_dir=tmp_path / "artifacts", run_dir=None, backend=backend)


def test_adapter_cache_hit_and_misses(tmp_path: Path, tiny_lm: Path) -> None:
    from strategies.lora.arm import LoraStrategy

    task = load_task(_lora_task(tmp_path, tiny_lm, "{max_steps: 3, forgetting_probe: false}"))
    cfg = task.arm_configs["tuned"]
    ctx, steps, lines = _ctx(task, tmp_path), [], []
    ctx.step, ctx.status = (lambda label, done, total, detail="": steps.append((label, done, total, detail))), lines.append
    first = LoraStrategy(cfg, task.spec).prepare(ctx)
    # training progress goes to the reporter's step(), not a hand-drawn bar in status lines
    assert steps and {s[0] for s in steps} == {"LoRA training"} and steps[-1][1:3] == (3, 3)
    assert "loss" in steps[-1][3] and not any("[#" in line or "LoRA [" in line for line in lines)
    second = LoraStrategy(cfg, task.spec).prepare(_ctx(task, tmp_path))
    assert not first.reused and second.reused and second.adapter == first.adapter
    assert second.one_off[0].seconds == first.one_off[0].seconds > 0 and second.one_off[0].reused
    meta = json.loads((Path(first.adapter) / "advisor-lora.json").read_text())
    assert meta["arm_config"]["max_steps"] == 3 and meta["training"]["steps"] == 3
    changed_cfg = LoraStrategy(cfg.model_copy(update={"rank": 4}), task.spec).prepare(_ctx(task, tmp_path))
    assert not changed_cfg.reused and changed_cfg.cache_key != first.cache_key
    changed_seed = LoraStrategy(cfg.model_copy(update={"seed": 5}), task.spec).prepare(_ctx(task, tmp_path))
    assert not changed_seed.reused
    ctx = _ctx(task, tmp_path)
    ctx.splits = Splits(train=ctx.splits.train[1:], validation=ctx.splits.validation, test=ctx.splits.test)
    changed_data = LoraStrategy(cfg, task.spec).prepare(ctx)
    assert not changed_data.reused and changed_data.cache_key not in (first.cache_key, changed_cfg.cache_key)
    assert LoraStrategy(cfg.model_copy(update={"calibrate": True}), task.spec)._key(
        _ctx(task, tmp_path), "m", ctx.splits.train, ctx.splits.validation) == LoraStrategy(cfg, task.spec)._key(
        _ctx(task, tmp_path), "m", ctx.splits.train, ctx.splits.validation)  # inference-only knobs keep the key


def test_run_records_curves_costs_and_risks(tmp_path: Path, tiny_lm: Path) -> None:
    from advisor.spec.data import load_splits
    from advisor.evaluation.runner import RunOptions, run_task

    rows = [{"id": s.id, "text": s.input, "label": s.target} for s in toy_samples(60)]
    rows[-1].update(text=rows[0]["text"], label=rows[0]["label"])  # a planted duplicate
    task = load_task(_lora_task(tmp_path, tiny_lm, "{max_steps: 80, learning_rate: 0.01, eval_every: 20, patience: null}", rows))
    record, run_dir = run_task(task, RunOptions(out=tmp_path / "run"))
    zero, tuned = record.arm("zero"), record.arm("tuned")
    assert tuned.status == "ok", tuned.errors
    t = tuned.prepare.training
    assert [p[0] for p in t.curves.validation] == [0, 20, 40, 60, 80] and len(t.curves.train) == 80
    assert t.tokens_per_s > 0 and t.peak_memory_mb > 0 and t.hardware == "cpu" and 0 < t.trainable_share < 1
    cost = tuned.prepare.one_off[0]
    assert cost.kind == "training" and cost.seconds == t.wall_s and not cost.reused
    risks = tuned.details.risks
    assert risks.overfitting is not None and risks.leakage is not None and risks.forgetting is not None
    assert risks.forgetting.n == 48 and risks.forgetting.delta == pytest.approx(
        risks.forgetting.tuned - risks.forgetting.base, abs=1e-4)
    train_texts = {s.input for s in load_splits(task.spec).train}
    expected = [i for i, x in zip(record.splits.test_ids, load_splits(task.spec).test) if x.input in train_texts]
    assert risks.leakage.flagged_ids == expected and risks.leakage.warning == bool(expected)
    assert tuned.metrics["accuracy"] == 1.0 > zero.metrics["accuracy"]
    assert not risks.forgetting.reused
    again, _ = run_task(task, RunOptions(out=tmp_path / "run2", arms=["tuned"]))
    second = again.arm("tuned")
    assert second.prepare.reused and second.metrics == tuned.metrics
    assert second.prepare.one_off[0].seconds == cost.seconds and second.prepare.one_off[0].reused
    probe = second.details.risks.forgetting
    assert probe.reused and (probe.base, probe.tuned, probe.delta) == (
        risks.forgetting.base, risks.forgetting.tuned, risks.forgetting.delta)


def test_estimate_counts_without_training(tmp_path: Path, tiny_lm: Path) -> None:
    from advisor.backends.fake import FakeBackend
    from strategies.lora.arm import LoraStrategy

    task = load_task(_lora_task(tmp_path, tiny_lm, "{max_steps: 7, batch_size: 4}"))
    ctx = _ctx(task, tmp_path, backend=FakeBackend(task.spec))
    est = LoraStrategy(task.arm_configs["tuned"], task.spec).estimate(ctx, ctx.splits.test)
    assert est.training_steps == 7 and est.train_tokens > 0 and est.choice_requests == len(ctx.splits.test)
    assert not (tmp_path / "artifacts" / "lora").exists()


def test_val_accuracy_ranks_labels_like_choice_scoring(tiny_lm: Path, tok, tmp_path: Path) -> None:
    from strategies.lora.train import evaluate

    r = _train(tiny_lm, tok, tmp_path, toy_samples(48), toy_samples(16, start=100), max_steps=5, patience=None)
    assert r.val_accuracy == []  # only asked for with early_stop_metric val_accuracy
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from advisor.backends.transformers_backend import TransformersBackend
    from advisor.spec.model import ModelSpec

    val = toy_samples(16, start=100)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm), tmp_path)
    choices = [encode(val, _messages, tok, 512, answer=lambda s, lab=lab: lab) for lab in ("ham", "spam")]
    gold = [("ham", "spam").index(s.target) for s in val]
    _, acc = evaluate(model, encode(val, _messages, tok, 512), 8, tok.pad_token_id, "cpu", choices, gold)
    backend = TransformersBackend(task_spec(ModelSpec(name=str(tiny_lm))))
    scores = backend.score_choices([ChoiceRequest(_messages(s), ("ham", "spam"), adapter=str(tmp_path)) for s in val])
    expected = sum(max(range(2), key=sc.logprobs.__getitem__) == g for sc, g in zip(scores, gold)) / len(val)
    assert acc == pytest.approx(expected)


def test_each_validation_is_reported_and_a_tuner_can_stop_training(tiny_lm: Path, tok, tmp_path: Path) -> None:
    from advisor.tuning.study import TrialStopped

    seen = []

    def report(step: int, value: float) -> None:
        seen.append((step, value))
        if step >= 10:
            raise TrialStopped("pruned")

    cfg = LoraArmConfig(learning_rate=1e-2, batch_size=8, rank=8, dropout=0.0, eval_every=5, max_steps=40,
                        warmup_ratio=0.0)
    with pytest.raises(TrialStopped):
        train_adapter(tiny_lm, encode(toy_samples(48), _messages, tok, 512),
                      encode(toy_samples(16, start=100), _messages, tok, 512), cfg, seed=0, device="cpu",
                      dtype="float32", threads=1, out_dir=tmp_path, pad_id=tok.pad_token_id, report=report)
    assert [s for s, _ in seen] == [0, 5, 10]  # every validation, then training stopped at once
    assert seen[-1][1] > seen[0][1]  # minus the validation loss: it rises as the adapter learns
    assert not (tmp_path / "adapter_config.json").exists()  # a stopped trial saves no adapter
