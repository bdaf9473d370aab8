"""Long answers: ROUGE-L and semantic similarity, degenerate outputs, groundedness, flags, examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from advisor import registry
from advisor.backends.base import Backend
from advisor.cli import main
from advisor.decision.answer_flags import degenerate_lines, ungrounded_lines
from advisor.decision.significance import metric_ci
from advisor.evaluation.longform import rouge_l, semantic_similarities, use_embedder
from advisor.evaluation.quality import AnswerQuality, degenerate_reason, row_checks, summarize_quality, support
from advisor.evaluation.record import ArmResult, SampleRow, read_record
from advisor.evaluation.runner import RunOptions, run_task
from advisor.evaluation.judge import agreement, parse_grade
from advisor.evaluation.scoring import score, token_f1
from advisor.retrieval.embed import HashEmbedder
from advisor.spec import load_task
from reports.data import ReportData
from reports.examples import select_examples, top_two
from tests.conftest import make_task


@pytest.fixture
def hash_embedder():
    with use_embedder(HashEmbedder(4096)):  # word-overlap cosines, no model
        yield


# -- metrics -----------------------------------------------------------------------------------

def test_rouge_l_against_hand_computed_lcs() -> None:
    # LCS of "the cat sat on the mat" / "the cat is on the mat" = the cat on the mat: 5 of 6 words each side
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    # 2 of 4 answer words, 2 of 2 reference words in order: P = 1/2, R = 1, F = 2/3
    assert rouge_l("apt installs packages quickly", "installs packages") == pytest.approx(2 / 3)
    assert rouge_l("Packages installed", "package installs") == pytest.approx(1.0)  # Porter stems
    assert rouge_l("", "anything") == 0.0 and rouge_l(None, "x") == 0.0
    m = registry.metrics.get("rouge_l")
    assert m.higher_is_better and m.ci_method == "bootstrap" and not m.proportion
    assert m.compute(["the cat is on the mat", "installs packages"],
                     ["the cat sat on the mat", "apt installs packages quickly"], None) == pytest.approx((5 / 6 + 2 / 3) / 2)


def test_semantic_similarity_is_mean_cosine_with_empty_answers_zero(hash_embedder) -> None:
    # bag-of-words vectors: {alpha, beta} vs {alpha, gamma} share one of two unit directions -> cosine 1/2
    sims = semantic_similarities(["alpha beta", "alpha beta", "", "delta"], ["alpha gamma", "beta alpha", "alpha", "epsilon"])
    assert sims == pytest.approx([0.5, 1.0, 0.0, 0.0])
    m = registry.metrics.get("semantic_similarity")
    assert m.higher_is_better and m.ci_method == "bootstrap"
    assert m.compute(["alpha gamma", "beta alpha"], ["alpha beta", "alpha beta"], None) == pytest.approx(0.75)


def test_long_answer_metric_as_primary_drives_item_scores_and_intervals(hash_embedder) -> None:
    targets, preds = ["alpha gamma", "beta alpha", "zeta"], ["alpha beta", "alpha beta", "eta"]
    result = score("generation", targets, preds, primary="semantic_similarity", extra=["rouge_l"])
    assert result.item_scores == pytest.approx([0.5, 1.0, 0.0])
    assert result.metrics["semantic_similarity"] == pytest.approx(0.5) and "rouge_l" in result.metrics
    rows = [SampleRow(arm="a", id=str(i), input="q", target=t, prediction=p, raw=p or "", correct=False, score=s,
                      latency_ms=1.0) for i, (t, p, s) in enumerate(zip(targets, preds, result.item_scores))]
    ci = metric_ci(registry.metrics.get("semantic_similarity"), rows, None, 0.5)
    assert 0.0 <= ci.low <= 0.5 <= ci.high <= 1.0 and "bootstrap" in ci.method


# -- degenerate outputs and support ---------------------------------------------------------

@pytest.mark.parametrize("answer,kind", [
    ("", "empty"), ("  ... ", "empty"), (None, "empty"),
    ("The answer to the question is:", "boilerplate"),
    ("Based on the passages, the answer is:", "boilerplate"),
    ("Answer: ", "boilerplate"),
    ("What is the codename of Debian 11", "echo"),
    ("You answer questions about Debian.", "echo"),
    ("apt apt apt apt", "repetition"),
    ("install the package and install the package and install the package and install the package", "repetition"),
    ("The answer is: bullseye", None),
    ("the codename of Debian 11 is bullseye", None),
    ("Debian releases are named after Toy Story characters, chosen by Bruce Perens while he worked at Pixar.", None),
])
def test_degenerate_detector_on_crafted_outputs(answer, kind) -> None:
    assert degenerate_reason(answer, "What is the codename of Debian 11?",
                             ["You answer questions about Debian. Reply briefly."]) == kind


def test_support_is_the_share_of_answer_bigrams_found_in_the_passages() -> None:
    passages = ["Debian uses apt to install packages.", "Other text."]
    assert support("apt to install packages", passages) == 1.0  # 3 of 3 bigrams
    assert support("Debian uses yum", passages) == 0.5  # (debian uses) yes, (uses yum) no
    assert support("apt", passages) == 1.0 and support("yum", passages) == 0.0  # one word: the unigram
    assert support("", passages) is None and support("apt", []) is None


def test_row_checks_and_summary_count_kinds_groundedness_and_gold() -> None:
    gold = "Debian uses apt to install packages."
    extras = [
        row_checks("qa", "How do I install?", "apt to install packages", "apt to install packages", gold_passage=gold),
        row_checks("qa", "How do I install?", "", "", gold_passage=gold),
        row_checks("qa", "How do I install?", "use yum please", "The answer is: use yum please", gold_passage=gold),
        row_checks("classification", "x", "spam", "spam"),  # not checked
    ]
    assert extras[0] == {"quality_checked": True, "gold_support": 1.0}
    assert extras[1]["degenerate"] == "empty" and extras[2]["gold_support"] == 0.0 and extras[3] == {}
    extras[0]["groundedness"], extras[2]["groundedness"] = 1.0, 0.25
    q = summarize_quality(extras, threshold=0.5)
    assert (q.n, q.degenerate, q.degenerate_by_kind) == (3, 1, {"empty": 1})
    assert q.degenerate_share == pytest.approx(1 / 3, abs=1e-4)
    assert q.groundedness_n == 2 and q.groundedness_mean == pytest.approx(0.625) and q.grounded_share == 0.5
    assert (q.gold_n, q.gold_ignored) == (3, 2)
    assert summarize_quality([{}], 0.5) is None


def _arm(name: str, quality: AnswerQuality | None, strategy: str = "prompting") -> ArmResult:
    return ArmResult(name=name, strategy=strategy, status="ok", config={}, n=10, quality=quality)


def test_flags_name_degenerate_arms_and_an_ungrounded_winner() -> None:
    bad = _arm("rag", AnswerQuality(n=10, degenerate=4, degenerate_share=0.4, degenerate_by_kind={"boilerplate": 4},
                                    groundedness_n=10, groundedness_mean=0.2, grounded_share=0.1), "rag")
    fine = _arm("closed", AnswerQuality(n=10, degenerate=1, degenerate_share=0.1, gold_n=10, gold_ignored=8,
                                        gold_ignored_share=0.8))
    lines = degenerate_lines([bad, fine], 0.2)
    assert len(lines) == 1 and "rag" in lines[0] and "40.0%" in lines[0] and "boilerplate 4" in lines[0]
    assert degenerate_lines([bad], 0.5) == []
    grounded = ungrounded_lines([bad, fine], "rag", 0.5)
    assert len(grounded) == 1 and "weakly grounded" in grounded[0] and "20.0%" in grounded[0]
    ignored = ungrounded_lines([bad, fine], "closed", 0.5)
    assert len(ignored) == 1 and "ignores the gold passage on 80.0%" in ignored[0]
    assert ungrounded_lines([bad, fine], None, 0.5) == []


# -- examples -----------------------------------------------------------------------------------

def _rows(arm: str, scores: list[float]) -> list[SampleRow]:
    return [SampleRow(arm=arm, id=f"s{i}", input=f"question {i}", target=f"ref {i}", prediction=f"{arm} {i}",
                      raw=f"{arm} {i}", correct=False, score=s, latency_ms=1.0) for i, s in enumerate(scores)]


def test_examples_show_where_the_top_two_disagree_most_from_both_sides() -> None:
    from types import SimpleNamespace

    from tests.factories import make_run

    record, _ = make_run({"a": {"accuracy": 0.5}, "b": {"accuracy": 0.5}, "c": {"accuracy": 0.5}}, n=5)
    rows = {"a": _rows("a", [1.0, 0.5, 0.0, 0.9, 0.2]), "b": _rows("b", [0.0, 0.5, 0.8, 0.8, 0.2]),
            "c": _rows("c", [0.1, 0.1, 0.1, 0.1, 0.1])}
    rec = SimpleNamespace(winner="a", runner_up="b", higher_is_better=True)
    d = ReportData(record=record, run_dir=None, rows=rows, rec=rec)
    assert top_two(d) == ("a", "b")
    chosen = select_examples(d, 3)
    # a ahead most on s0 (+1.0), b ahead on s2 (+0.8), then a on s3 (+0.1); s1/s4 are ties
    assert [e.id for e in chosen] == ["s0", "s2", "s3"]
    assert set(chosen[0].answers) == {"a", "b", "c"} and "a scores 100.0 points higher" in chosen[0].why
    assert select_examples(d, 0) == []
    same = ReportData(record=record, run_dir=None, rows={"a": _rows("a", [1, 1]), "b": _rows("b", [1, 1])}, rec=rec)
    assert [e.id for e in select_examples(same, 5)] == ["s0", "s1"]
    assert [e.id for e in select_examples(d, 5)] == ["s0", "s2", "s3", "s1", "s4"]  # ties fill up, in test order


# -- a long-answer task end to end (fake backend, hashing embedder) ------------------------------

DOCS = {
    "apt.md": "# Packages\n\nDebian installs packages with apt, which fetches them from mirrors and resolves "
              "dependencies.\n\n## Keys\n\nArchive signing keys are checked before any package is installed.",
    "releases.md": "# Releases\n\nDebian releases are named after Toy Story characters, a custom Bruce Perens started.",
}
ROWS = [
    {"id": f"q{i}", "q": q, "a": a, "gold": a} for i, (q, a) in enumerate([
        ("How does Debian install packages?", "Debian installs packages with apt, which fetches them from mirrors."),
        ("What are Debian releases named after?", "Debian releases are named after Toy Story characters."),
        ("Are archive keys checked?", "Archive signing keys are checked before any package is installed."),
        ("Who started the release names?", "Bruce Perens started the custom of Toy Story release names."),
        ("Where does apt fetch packages from?", "apt fetches packages from mirrors and resolves dependencies."),
        ("What does apt resolve?", "apt resolves dependencies when it installs packages."),
    ] * 2)
]
for i, r in enumerate(ROWS):
    r["id"] = f"q{i}"
TASK = """\
name: long-qa
type: generation
data: {path: qa.jsonl, input_field: q, target_field: a, id_field: id,
       split: {train: 0.5, validation: 0.0, test: 0.5, seed: 0}}
corpus: {path: docs}
metric: semantic_similarity
evaluation: {metrics: [rouge_l, token_f1], gold_passage_field: gold}
instructions: Answer in one paragraph.
backend: fake
generation: {max_new_tokens: 64}
arms:
  - name: closed
    strategy: prompting
    config: {template: "The answer is: {input}"}
  - name: rag
    strategy: rag
    config: {embedder: hash, top_k: 2, chunk_tokens: 24, chunk_overlap: 2, template: "{context} {input}",
             passage_headings: false}
"""


def test_long_answer_task_records_quality_and_the_report_shows_it(tmp_path: Path, hash_embedder, capsys) -> None:
    (tmp_path / "docs").mkdir()
    for name, body in DOCS.items():
        (tmp_path / "docs" / name).write_text(body)
    path = make_task(tmp_path, TASK, ROWS, "qa.jsonl")
    record, run_dir = run_task(load_task(path), RunOptions(out=tmp_path / "run"))
    assert record.status == "ok"
    closed, rag = record.arm("closed"), record.arm("rag")
    for arm in (closed, rag):
        assert {"semantic_similarity", "rouge_l", "token_f1"} <= set(arm.metrics)
        assert arm.quality is not None and arm.quality.n == 6 and arm.quality.gold_n == 6
    # the fake backend answers the first word of the user turn: "The" (boilerplate) for closed
    assert closed.quality.degenerate_share == 1.0 and closed.quality.degenerate_by_kind == {"boilerplate": 6}
    # ... and "[1]" for rag: the passage number, a word no passage contains
    assert rag.quality.groundedness_n == 6 and rag.quality.groundedness_mean == 0.0 and rag.quality.degenerate == 0
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(r["extra"]["passages"] for r in rows if r["arm"] == "rag")
    rec = record.recommendation
    assert any("closed gives degenerate answers on 100.0% of 6 items" in w for w in rec.warnings)
    assert set(rec.intervals["rag"]) >= {"semantic_similarity", "rouge_l"}

    assert main(["report", str(run_dir), "--format", "md", "--examples", "2"]) == 0
    md = capsys.readouterr().out
    assert "## Answer quality" in md and "## Examples" in md and "rag passage [1]" in md
    assert md.count("reference:") == 2 and "degenerate: boilerplate" in md
    assert main(["report", str(run_dir), "--examples", "1"]) == 0
    out = capsys.readouterr().out
    assert "answers" in out and "examples" in out and "reference:" in out
    assert main(["report", str(run_dir), "--format", "md", "--examples", "0"]) == 0
    assert "## Examples" not in capsys.readouterr().out
    assert main(["report", str(run_dir), "--examples", "-1"]) == 2
    again, _ = read_record(run_dir)
    assert again.arm("rag").quality == rag.quality  # typed, and read back the same


def test_unknown_extra_metric_is_a_spec_error_naming_the_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("text")
    path = make_task(tmp_path, TASK.replace("[rouge_l, token_f1]", "[rouge_l, bleu9]"), ROWS, "qa.jsonl")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "evaluation.metrics[1]" in err and "bleu9" in err and "task.yaml:7" in err


# -- the judge metric ----------------------------------------------------------------------------

class OverlapJudge(Backend):
    """A judge for tests: grade = 1 + round(4 x token F1 of the ANSWER against the REFERENCE)."""

    name = "overlap-judge"

    def __init__(self, spec, *, status=None) -> None:
        from advisor.backends.base import BackendInfo

        super().__init__(spec, status=status)
        self.info = BackendInfo(name=self.name, model=spec.model.name, model_id="overlap", device="cpu", dtype="none")
        self.context_length = 4096

    def score_choices(self, requests):
        raise NotImplementedError

    def count_tokens(self, conversations):
        return [1 for _ in conversations]

    def generate(self, requests):
        from advisor.backends.base import Generation

        out = []
        for r in requests:
            text = r.messages[-1]["content"]
            ref = re.search(r"REFERENCE: (.*)\n", text).group(1)
            ans = re.search(r"ANSWER: (.*)\n", text).group(1)
            out.append(Generation(text=f"Grade: {1 + round(4 * token_f1(ans, ref))}", prompt_tokens=1,
                                  completion_tokens=1, latency_s=0.0))
        return out

    def close(self) -> None:
        pass


if "overlap-judge" not in registry.backends:
    registry.backends.register("overlap-judge", OverlapJudge)


def test_parse_grade_and_agreement_by_hand() -> None:
    assert parse_grade("Grade: 4") == 4 and parse_grade("4/5") == 4 and parse_grade("10") is None
    assert parse_grade("I think 3.") == 3 and parse_grade("") is None and parse_grade("6 or 2") == 2
    a = agreement([5, 4, 1, 2], [5, 3, None, 5], "set")
    # judged as 5, 3, 1 (unparsed), 5: exact 2/4, within one 3/4, |errors| 0+1+0+3 = 4 -> 1.0
    assert (a.exact, a.within_one, a.mean_abs_error, a.unparsed, a.n) == (0.5, 0.75, 1.0, 1, 4)
    # ranks (4, 3, 1, 2) vs (3.5, 2, 1, 3.5): covariance 3, variances 5 and 4.5 -> 3 / sqrt(22.5)
    assert a.spearman == pytest.approx(3 / 22.5 ** 0.5, abs=1e-4)
    assert agreement([3, 3], [3, 3], "s").spearman is None


def test_judge_grades_every_arm_and_the_human_set(tmp_path: Path, hash_embedder, capsys) -> None:
    from advisor.evaluation import judge as judge_mod

    (tmp_path / "docs").mkdir()
    for name, body in DOCS.items():
        (tmp_path / "docs" / name).write_text(body)
    text = TASK.replace("gold_passage_field: gold}", "gold_passage_field: gold,\n             judge: {model: big, "
                                                     "backend: overlap-judge}}")
    path = make_task(tmp_path, text, ROWS, "qa.jsonl")
    record, run_dir = run_task(load_task(path), RunOptions(out=tmp_path / "run"))
    j = record.judge
    assert j is not None and j.error is None and j.backend == "overlap-judge" and j.identity["model_id"] == "overlap"
    assert j.rubric == judge_mod.RUBRIC and "{reference}" in j.prompt and j.unparsed == 0
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    for arm in record.arms:
        mine = [r for r in rows if r["arm"] == arm.name]
        expected = sum(round(4 * token_f1(r["prediction"], r["target"])) / 4 for r in mine) / len(mine)
        assert arm.metrics["judge"] == pytest.approx(expected, abs=1e-6)
    human = [json.loads(line) for line in judge_mod.HUMAN_SET.read_text().splitlines()]
    assert len(human) == 24 and {h["grade"] for h in human} == {1, 2, 3, 4, 5}
    judged = [1 + round(4 * token_f1(h["answer"], h["reference"])) for h in human]
    assert j.agreement == agreement([h["grade"] for h in human], judged, "judge_human.jsonl")
    assert "judge" in record.recommendation.intervals["rag"]
    assert (run_dir / "judge.jsonl").is_file()

    judge_mod._grades.clear()  # a later process: the report re-reads judge.jsonl
    record.recommendation = None
    from reports.data import gather

    assert "judge" in gather(record, run_dir).rec.intervals["closed"]
    assert main(["report", str(run_dir), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "## Judge" in md and "overlap-judge:big" in md and f"exact {100 * j.agreement.exact:.1f}%" in md


def test_judge_spec_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("text")
    bad_primary = TASK.replace("metric: semantic_similarity", "metric: judge")
    assert main(["validate", str(make_task(tmp_path, bad_primary, ROWS, "qa.jsonl"))]) == 2
    assert "cannot be the primary metric" in capsys.readouterr().err
    bad_backend = TASK.replace("gold_passage_field: gold}", "gold_passage_field: gold, judge: {model: m, backend: nope}}")
    assert main(["validate", str(make_task(tmp_path, bad_backend, ROWS, "qa.jsonl"))]) == 2
    assert "evaluation.judge.backend" in capsys.readouterr().err
