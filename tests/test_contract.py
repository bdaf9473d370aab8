"""One contract over every registered arm, on one task, one base model (a tiny Llama) and one
test split: each arm runs, reports one-off costs and details in the shapes the decision engine
reads, estimates without running, and the recommendation and reports cover them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from advisor import registry
from advisor.evaluation.dryrun import estimate_run
from advisor.evaluation.record import read_samples
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from reports.documents import render_html, render_markdown
from tests.conftest import make_task, spam_rows

TASK = """\
name: contract
type: classification
data: {{path: data.jsonl, input_field: text, target_field: label, id_field: id,
        split: {{train: 0.6, validation: 0.2, test: 0.2, seed: 1}}}}
labels: [ham, spam]
instructions: say ham or spam .
model: {{name: {model}, threads: 1}}
generation: {{max_new_tokens: 4, batch_size: 8}}
corpus: {{path: docs}}
pricing: {{queries_per_month: 20000, training_hourly_usd: 2.0}}
arms:
  - {{name: zero, strategy: prompting}}
  - {{name: two-shot, strategy: prompting, config: {{shots: 2}}}}
  - {{name: knn, strategy: knn-shot, config: {{embedder: hash, shots: 2}}}}
  - {{name: rag, strategy: rag, config: {{embedder: hash, top_k: 2, chunk_tokens: 24, chunk_overlap: 4}}}}
  - {{name: tuned, strategy: lora, config: {{max_steps: 6, eval_every: 3, forgetting_probe: false}}}}
  - {{name: knn-tuned, strategy: knn-lora, config: {{max_steps: 6, eval_every: 3, forgetting_probe: false,
                                                     embedder: hash, shots: 2}}}}
  - {{name: rag-tuned, strategy: rag-lora, config: {{max_steps: 4, eval_every: 2, forgetting_probe: false,
                                                    retrieval: {{embedder: hash, top_k: 2, chunk_tokens: 24,
                                                                chunk_overlap: 4}}}}}}
  - {{name: tfidf, strategy: classical, config: {{cv_folds: 3}}}}
  - {{name: full, strategy: full-ft, config: {{max_steps: 4, eval_every: 2, forgetting_probe: false}}}}
"""


@pytest.fixture(scope="module")
def contract_run(tiny_llama: Path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    (tmp / "docs").mkdir()
    (tmp / "docs" / "spam.md").write_text("# Spam\n\nMessages that offer prizes or ask to call now are spam.")
    (tmp / "docs" / "ham.txt").write_text("Messages between friends about plans and dinner are ham.")
    task = load_task(make_task(tmp, TASK.format(model=tiny_llama), spam_rows(50)))
    record, run_dir = run_task(task, RunOptions(out=tmp / "run"))
    return task, record, run_dir


def test_every_registered_arm_is_in_the_contract() -> None:
    assert set(registry.strategies.names()) <= {"prompting", "knn-shot", "rag", "lora", "knn-lora",
                                                     "rag-lora", "classical", "full-ft"}, \
        "a new arm was registered: add it to the contract task"


def test_every_arm_runs_on_the_same_items(contract_run) -> None:
    _, record, run_dir = contract_run
    assert record.status == "ok", {a.name: a.errors for a in record.arms if a.errors}
    ids = record.splits.test_ids
    for arm in record.arms:
        rows = read_samples(run_dir, arm.name)
        assert [r.id for r in rows] == ids and arm.n == len(ids)
        assert arm.throughput.busy_s > 0 and arm.latency.p95_ms > 0
        assert not arm.details.extra  # built-in arms use typed sections only


def test_one_off_costs_have_the_shape_the_cost_model_reads(contract_run) -> None:
    _, record, _ = contract_run
    kinds = {}
    for arm in record.arms:
        for item in arm.prepare.one_off:
            assert item.seconds >= 0 and item.hardware
            kinds.setdefault(arm.name, set()).add(item.kind)
    assert kinds["tuned"] == {"training"} and "index" in kinds["rag"]
    assert kinds["rag-tuned"] == {"training", "index"} and kinds["knn-tuned"] == {"training", "index"}
    assert kinds["tfidf"] == {"training"} and kinds["full"] == {"training"}


def test_recommendation_prices_every_arm(contract_run) -> None:
    _, record, _ = contract_run
    rec = record.recommendation
    assert set(rec.costs) == {a.name for a in record.arms}
    tuned = rec.costs["tuned"]
    seconds = record.arm("tuned").prepare.one_off[0].seconds
    assert tuned.one_off_usd == pytest.approx(seconds / 3600 * 2.0)
    assert rec.winner in rec.ranking and rec.rationale
    assert len(rec.pairs) >= 10  # every pair of five arms, on each metric


def test_reports_show_curves_and_retrieval(contract_run) -> None:
    _, record, run_dir = contract_run
    html = render_html(record, run_dir)
    assert "LoRA learning curves" in html
    md = render_markdown(record, run_dir)
    table = md[md.index("## Fine-tuning methods"):].split("\n\n")[1]
    assert all(f"| {arm} |" in table for arm in ("tuned", "knn-tuned", "rag-tuned", "full"))
    assert "| full | full-ft | full |" in table and "| tuned | lora | lora |" in table
    assert "The classical baseline tfidf" in md[md.index("## Does it need an LLM?"):]
    assert len(re.findall(r"<svg", html)) >= 5


def test_every_arm_estimates_without_running(contract_run, tmp_path: Path) -> None:
    task, _, _ = contract_run
    est = estimate_run(task)
    by = {a.arm: a.estimate for a in est.arms}
    strategy = {a.arm: a.strategy for a in est.arms}
    assert set(by) == {a.name for a in task.spec.arms}
    for arm, e in by.items():
        assert e.requests == est.test_items
        if strategy[arm] != "classical":  # the classical arm sends no prompts
            assert e.prompt_tokens > 0, arm
    assert by["two-shot"].prompt_tokens > by["zero"].prompt_tokens
    assert by["tuned"].training_steps > 0 or any("already in the cache" in n for n in by["tuned"].notes)
    assert by["rag-tuned"].training_steps == 0 or by["rag-tuned"].train_tokens > by["tuned"].train_tokens


@pytest.mark.slow
def test_report_renders_in_a_real_browser(contract_run, tmp_path: Path) -> None:
    """Headless Chromium opens report.html: the screenshot is not blank, every plot draws
    something at a visible size, and no script error reaches the console."""
    from tests.browser import chromium, open_in_browser, png_stats

    if chromium() is None:
        pytest.skip("no chromium: `bash scripts/dev.sh test` installs Debian's chromium (apt-get, as root)")
    _, record, run_dir = contract_run
    page = tmp_path / "report.html"
    page.write_text(render_html(record, run_dir), encoding="utf-8")
    view = open_in_browser(page, tmp_path / "browser")
    assert len(view.svgs) >= 3, "the contract run's report has a cost plot, learning curves and tuning/latency plots"
    for i, svg in enumerate(view.svgs):
        assert svg["w"] > 10 and svg["h"] > 10 and svg["marks"] > 0 and svg["shown"] > 100, (i, svg)
    assert view.errors == [] and view.console_errors == []
    width, height, ink = png_stats(view.screenshot)
    assert (width, height) == (1280, 2400) and ink > 0.02, f"screenshot looks blank ({ink:.1%} of pixels drawn)"
