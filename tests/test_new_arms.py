"""The arms added for the full menu, fast tier: RAFT context composition and the rag-lora
training prompts, knn-lora sharing the LoRA adapter, the classical baseline, and full-ft's
memory refusal. (Each also runs end to end in tests/test_contract.py.)"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from advisor.errors import SpecError
from advisor.evaluation.strategy import PrepareContext
from advisor.spec import load_task
from advisor.spec.data import load_splits
from strategies.hybrids.raft import ContextPlan, assign_kinds, compose
from tests.conftest import make_task, spam_rows

TASK = """\
name: arms
type: classification
data: {{path: data.jsonl, input_field: text, target_field: label, id_field: id,
        split: {{train: 0.6, validation: 0.2, test: 0.2, seed: 1}}}}
labels: [ham, spam]
instructions: say ham or spam .
model: {{name: {model}, threads: 1}}
corpus: {{path: docs}}
arms:
  - name: arm
    strategy: {strategy}
    config: {config}
"""


def _task(tmp_path: Path, model: Path, strategy: str, config: str, rows=None):
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "spam.md").write_text("# Spam\n\nMessages that offer a prize or ask to call now are spam .")
    (docs / "ham.txt").write_text("Messages between friends about plans and dinner are ham .")
    (docs / "other.txt").write_text("The weather is cold and the trains are late today .")
    return load_task(make_task(tmp_path, TASK.format(model=model, strategy=strategy, config=config),
                               rows or spam_rows(50)))


def _ctx(task, tmp_path: Path, backend=None) -> PrepareContext:
    return PrepareContext(spec=task.spec, splits=load_splits(task.spec), arm_name="arm", seed=task.spec.seed,
                          cache_dir=tmp_path / "artifacts", run_dir=None, backend=backend)


# -- RAFT --------------------------------------------------------------------------------
def test_assign_kinds_follows_the_shares_and_the_seed() -> None:
    ids = [f"s{i}" for i in range(50)]
    kinds = assign_kinds(ids, 0.6, 0.3, seed=4)
    counts = {k: list(kinds.values()).count(k) for k in ("gold", "distractors", "retrieved")}
    assert counts == {"gold": 30, "distractors": 15, "retrieved": 5}
    assert assign_kinds(ids, 0.6, 0.3, seed=4) == kinds != assign_kinds(ids, 0.6, 0.3, seed=5)


def test_compose_places_gold_among_distractors_or_leaves_it_out() -> None:
    ranked = ["c1", "g1", "c2", "c3", "g2", "c4"]
    plan = ContextPlan()
    rng = random.Random(0)
    gold = compose("gold", ranked, {"g1", "g2"}, 3, rng, plan)
    assert len(gold) == 3 and "g1" in gold and "g2" not in gold and set(gold) - {"g1"} == {"c1", "c2"}
    assert compose("distractors", ranked, {"g1", "g2"}, 3, rng, plan) == ["c1", "c2", "c3"]
    assert compose("retrieved", ranked, {"g1"}, 3, rng, plan) == ["c1", "g1", "c2"]
    unretrieved = compose("gold", ranked, {"g9"}, 2, rng, plan)  # gold not among the retrieved: still shown
    assert "g9" in unretrieved and len(unretrieved) == 2
    assert compose("gold", ranked, None, 2, rng, plan) == ["c1", "g1"]  # no gold known: as retrieved
    assert plan.no_gold == 1 and plan.counts == {"gold": 2, "distractors": 1, "retrieved": 2}


# -- rag-lora ---------------------------------------------------------------------------
def test_rag_lora_config_errors_name_the_field(tmp_path: Path, tiny_llama: Path) -> None:
    with pytest.raises(SpecError, match=r"arms\[0\].config.*gold_share \+ distractor_share must be at most 1"):
        _task(tmp_path, tiny_llama, "rag-lora", "{gold_share: 0.9, distractor_share: 0.2}")
    with pytest.raises(SpecError, match="mode must be auto or generate"):
        _task(tmp_path, tiny_llama, "rag-lora", "{mode: choice}")
    with pytest.raises(SpecError, match="inside `retrieval`"):
        _task(tmp_path, tiny_llama, "rag-lora", "{template: 'Q: {input}'}")
    with pytest.raises(SpecError, match=r"retrieval.top_kk"):
        _task(tmp_path, tiny_llama, "rag-lora", "{retrieval: {top_kk: 2}}")


def test_rag_lora_trains_on_rag_prompts_with_gold_or_distractors(tmp_path: Path, tiny_llama: Path) -> None:
    from advisor.backends.fake import FakeBackend
    from strategies.hybrids.rag_lora import RagLoraStrategy

    task = _task(tmp_path, tiny_llama, "rag-lora", "{gold_share: 0.5, distractor_share: 0.5, retrieval: "
                                                  "{embedder: hash, top_k: 1, chunk_tokens: 32, chunk_overlap: 4, gold_answer: true}}")
    arm = RagLoraStrategy(task.arm_configs["arm"], task.spec)
    ctx = _ctx(task, tmp_path, FakeBackend(task.spec))
    arm.rag_info = arm.serving.prepare(ctx)
    arm._compose_training(ctx)
    train, val, _ = arm._splits(ctx)
    kinds = assign_kinds([s.id for s in train], 0.5, 0.5, arm._seed(ctx))
    assert arm.plan.counts == {"gold": 15, "distractors": 15, "retrieved": len(val)}
    for s in train:
        user = arm.training_messages()(s)[-1]["content"]
        assert "[1]" in user and user.endswith(s.input)  # the rag arm's prompt: numbered passages, then the question
        own = f"are {s.target} ."
        assert (own in user) == (kinds[s.id] == "gold"), (kinds[s.id], user)
    # retrieval settings, corpus and RAFT shares are in the adapter's key; inference-only knobs are not
    cfg = task.arm_configs["arm"]
    key = lambda c: RagLoraStrategy(c, task.spec)._key(ctx, "m", train, val)  # noqa: E731
    base = key(cfg)
    assert key(cfg.model_copy(update={"gold_share": 0.4})) != base
    assert key(cfg.model_copy(update={"retrieval": cfg.retrieval.model_copy(update={"top_k": 2})})) != base
    (tmp_path / "docs" / "other.txt").write_text("changed corpus")
    assert key(cfg) != base


# -- knn-lora ---------------------------------------------------------------------------
def test_knn_lora_shares_the_lora_adapter(tmp_path: Path, tiny_llama: Path) -> None:
    from strategies.hybrids.knn_lora import KnnLoraStrategy
    from strategies.lora.arm import LoraStrategy

    knn = _task(tmp_path, tiny_llama, "knn-lora", "{shots: 3, embedder: hash, max_steps: 5}")
    lora = _task(tmp_path, tiny_llama, "lora", "{max_steps: 5}")
    ctx = _ctx(knn, tmp_path)
    train, val, _ = LoraStrategy(lora.arm_configs["arm"], lora.spec)._splits(ctx)
    a = KnnLoraStrategy(knn.arm_configs["arm"], knn.spec)
    assert a._key(ctx, "m", train, val) == LoraStrategy(lora.arm_configs["arm"], lora.spec)._key(ctx, "m", train, val)
    assert a.serving.config.shots == 3 and a.training_messages()(train[0]) == a.prompting.parts(train[0]).messages()


# -- classical --------------------------------------------------------------------------
def test_classical_chooses_c_by_cross_validation_and_times_each_query(tmp_path: Path, tiny_llama: Path) -> None:
    from advisor.backends.fake import FakeBackend
    from strategies.classical.arm import ClassicalStrategy

    task = _task(tmp_path, tiny_llama, "classical", "{cs: [0.001, 1.0, 100.0], cv_folds: 4}")
    arm = ClassicalStrategy(task.arm_configs["arm"], task.spec)
    ctx = _ctx(task, tmp_path)
    info = arm.prepare(ctx)
    t = info.classical
    assert t.examples == len(ctx.splits.train) + len(ctx.splits.validation) and t.folds == 4
    assert [r["C"] for r in t.cv] == [0.001, 1.0, 100.0] and t.best_c == max(t.cv, key=lambda r: r["mean"])["C"]
    assert info.one_off[0].kind == "training" and info.one_off[0].seconds > 0 and t.features > 0
    preds = arm.predict(ctx.splits.test, FakeBackend(task.spec))
    assert [p.prediction for p in preds] == [s.target for s in ctx.splits.test]  # the label word is in the text
    assert all(p.latency_s > 0 and p.prompt_tokens == 0 for p in preds)
    assert set(preds[0].extra.probabilities) == {"ham", "spam"}


def test_classical_refuses_non_classification_tasks(tmp_path: Path, tiny_llama: Path) -> None:
    text = TASK.replace("type: classification", "type: qa").replace("labels: [ham, spam]\n", "")
    text = text.replace("corpus: {{path: docs}}\n", "")
    path = make_task(tmp_path, text.format(model=tiny_llama, strategy="classical", config="{}"), spam_rows(20))
    with pytest.raises(SpecError, match=r"arms\[0\].config: the classical arm classifies"):
        load_task(path)


# -- full-ft ----------------------------------------------------------------------------
def test_full_ft_is_refused_when_it_will_not_fit(tmp_path: Path, tiny_llama: Path, capsys) -> None:
    from advisor.cli import main

    with pytest.raises(SpecError, match=r"full-ft of .* needs about .* GiB .* but the limit is 0.0 GiB "
                                        r"\(memory_limit_gb"):
        _task(tmp_path, tiny_llama, "full-ft", "{memory_limit_gb: 0.00001}")
    assert main(["run", str(tmp_path / "task.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "Adam" in capsys.readouterr().err and not (tmp_path / "run").exists()
    with pytest.raises(SpecError, match="adapter settings do not apply.*rank"):
        _task(tmp_path, tiny_llama, "full-ft", "{rank: 4}")
    _task(tmp_path, tiny_llama, "full-ft", "{memory_limit_gb: 64}")  # fits


def test_memory_estimate_counts_the_real_parameters(tiny_llama: Path) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from strategies.fullft.memory import count_parameters, estimate_training_bytes

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    stored = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert count_parameters(tiny_llama) == stored
    est = estimate_training_bytes(tiny_llama, "float32", 8, 128)
    assert est.weights == est.gradients == est.best_copy == 4 * stored and est.adam == 8 * stored
    assert estimate_training_bytes(tiny_llama, "float32", 16, 128).activations > est.activations > 0
    del torch


def test_knn_estimates_count_no_shared_prefix(tmp_path: Path, tiny_llama: Path) -> None:
    """Per-input demonstrations share no prompt prefix, so a prefix-caching backend saves nothing."""
    from advisor.backends.fake import FakeBackend
    from strategies.hybrids.knn_lora import KnnLoraStrategy
    from strategies.prompting.arm import PromptingStrategy
    from strategies.rag.knn_shot import KnnShotStrategy

    task = _task(tmp_path, tiny_llama, "knn-shot", "{shots: 4, embedder: hash}")
    backend = FakeBackend(task.spec)
    backend.info.extra["prefix_caching"] = "on"
    ctx = _ctx(task, tmp_path, backend)
    knn = KnnShotStrategy(task.arm_configs["arm"], task.spec).estimate(ctx, ctx.splits.test)
    fixed = PromptingStrategy(PromptingStrategy.Config(shots=4), task.spec).estimate(ctx, ctx.splits.test)
    assert fixed.cached_prompt_tokens > 0 and knn.cached_prompt_tokens == 0
    assert knn.prompt_tokens > 0
    hybrid = _task(tmp_path, tiny_llama, "knn-lora", "{shots: 4, embedder: hash, max_steps: 3}")
    est = KnnLoraStrategy(hybrid.arm_configs["arm"], hybrid.spec).estimate(ctx, ctx.splits.test)
    assert est.training_steps == 3 and est.prompt_tokens > 0 and est.cached_prompt_tokens == 0
