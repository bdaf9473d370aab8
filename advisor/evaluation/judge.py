"""The optional `judge` metric: a model grades each answer against the reference with a rubric.

Any registered backend can judge (`evaluation.judge.backend`): the openai backend against a
hosted or local server, or a larger local model through transformers. After every arm has
answered, the judge grades each distinct (question, reference, answer) of the finished arms
once (greedy, batched), on the 1-5 rubric below; an item's judge score is (grade - 1) / 4, so
the metric is 0..1 and a mean of items (bootstrap intervals, paired bootstrap tests). An
answer whose grade cannot be parsed scores 0 and is counted.

How far to trust it is measured in the same run: the judge also grades the shipped
human-graded set (`data/judge_human.jsonl`: 24 answers to 6 Debian questions, graded by hand
with the same rubric), and the record's `judge` section gives its agreement with the humans
(exact grade, within one grade, Spearman's rho, mean absolute error) beside the judge's
identity, rubric and prompt template. Grades are kept in `judge.jsonl` in the run directory;
reports re-read them (`load_grades`), nothing is graded twice.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict

from advisor.evaluation.scoring import Metric

__all__ = ["RUBRIC", "PROMPT", "HUMAN_SET", "JudgeReport", "JudgeAgreement", "judge_messages", "parse_grade",
           "apply_judge", "load_grades", "agreement", "JUDGE", "GRADES_FILE"]

RUBRIC = ("You grade answers. Compare the ANSWER with the REFERENCE answer to the QUESTION and give one grade:\n"
          "5 = says what the reference says (a paraphrase is fine)\n"
          "4 = correct, but misses a detail of the reference\n"
          "3 = partly correct, or too vague to be useful\n"
          "2 = barely related to the reference, the main point is missing\n"
          "1 = wrong, empty, or not an answer\n"
          "Reply with the grade only: one digit from 1 to 5.")
PROMPT = "QUESTION: {question}\nREFERENCE: {reference}\nANSWER: {answer}\nGrade (1-5):"
HUMAN_SET = Path(__file__).resolve().parent / "data" / "judge_human.jsonl"
GRADES_FILE = "judge.jsonl"
_GRADE = re.compile(r"(?<!\d)([1-5])(?!\d)")
_grades: dict[tuple[str, str], float] = {}  # (reference, answer) -> judge score 0..1, for this process (run)


class JudgeAgreement(BaseModel):
    """How the judge's grades agree with the shipped human grades."""

    n: int
    exact: float  # share with the same grade
    within_one: float  # share at most one grade apart
    spearman: float | None  # rank correlation (None when either side is constant)
    mean_abs_error: float  # in grades
    unparsed: int
    set: str  # which human-graded set
    how: str = "the judge grades the human-graded set with the same rubric and prompt; unparsed grades count as 1"


class JudgeReport(BaseModel):
    """Who judged, how, and how far it agrees with humans (RunRecord.judge)."""

    model_config = ConfigDict(extra="allow")

    backend: str
    model: str
    identity: dict[str, Any] = {}
    rubric: str = RUBRIC
    prompt: str = PROMPT
    graded: int = 0
    unparsed: int = 0
    seconds: float = 0.0
    agreement: JudgeAgreement | None = None
    error: str | None = None


def judge_messages(question: str, reference: str, answer: str | None, rubric: str = RUBRIC) -> list[dict]:
    user = (PROMPT.replace("{question}", question).replace("{reference}", reference)
            .replace("{answer}", (answer or "").strip() or "(empty)"))
    return [{"role": "system", "content": rubric}, {"role": "user", "content": user}]


def parse_grade(text: str) -> int | None:
    """The first stand-alone digit 1-5 in the judge's reply, else None."""
    m = _GRADE.search(text or "")
    return int(m.group(1)) if m else None


def _grade(backend: Any, items: list[tuple[str, str, str]], rubric: str, max_new: int) -> list[tuple[int | None, str]]:
    from advisor.backends.base import GenerateRequest

    requests = [GenerateRequest(messages=judge_messages(q, r, a, rubric), max_new_tokens=max_new, temperature=0.0)
                for q, r, a in items]
    return [(parse_grade(g.text), g.text) for g in backend.generate(requests)] if requests else []


def agreement(human: Sequence[int], judged: Sequence[int | None], set_name: str) -> JudgeAgreement:
    """Agreement of judge grades (None = unparsed, counted as 1) with human grades."""
    from scipy.stats import spearmanr

    j = [g if g is not None else 1 for g in judged]
    n = len(human)
    rho = None
    if n > 1 and len(set(j)) > 1 and len(set(human)) > 1:
        rho = round(float(spearmanr(human, j).statistic), 4)
    return JudgeAgreement(n=n, exact=round(sum(a == b for a, b in zip(human, j)) / n, 4),
                          within_one=round(sum(abs(a - b) <= 1 for a, b in zip(human, j)) / n, 4), spearman=rho,
                          mean_abs_error=round(sum(abs(a - b) for a, b in zip(human, j)) / n, 4),
                          unparsed=sum(g is None for g in judged), set=set_name)


def _make_backend(spec: Any, status: Callable[[str], None]) -> Any:
    from advisor import registry
    from advisor.spec.model import GenerationSpec

    j = spec.evaluation.judge
    cls = registry.backends.get(j.backend)
    model = spec.model.model_copy(update={"name": j.model, "max_context": None})
    generation = GenerationSpec(max_new_tokens=j.max_new_tokens, temperature=0.0, batch_size=spec.generation.batch_size)
    judge_spec = spec.model_copy(update={"model": model, "generation": generation, "serving": j.serving or spec.serving})
    return cls(judge_spec, status=status)  # the one Backend constructor (advisor.backends.base)


def apply_judge(spec: Any, record: Any, run_dir: Path, status: Callable[[str], None] = lambda m: None) -> JudgeReport:
    """Grade the finished arms' answers and the human set; add `judge` to each ok arm's metrics."""
    from advisor.evaluation.record import group_by_arm, read_samples

    j = spec.evaluation.judge
    rubric = j.rubric or RUBRIC
    report = JudgeReport(backend=j.backend, model=j.model, rubric=rubric)
    started = time.perf_counter()
    ok = {a.name for a in record.arms if a.status == "ok"}
    rows = {arm: rs for arm, rs in group_by_arm(read_samples(run_dir)).items() if arm in ok}
    status(f"judging {sum(len(r) for r in rows.values())} answers with {j.backend}:{j.model}")
    backend = _make_backend(spec, status)
    try:
        report.identity = dict(backend.info.__dict__)
        items = sorted({(r.input, r.target, r.prediction or "") for rs in rows.values() for r in rs if r.error is None})
        graded = _grade(backend, items, rubric, j.max_new_tokens)
        human = [json.loads(line) for line in HUMAN_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
        human_graded = _grade(backend, [(h["question"], h["reference"], h["answer"]) for h in human], rubric,
                              j.max_new_tokens)
    finally:
        backend.close()
    with (run_dir / GRADES_FILE).open("w", encoding="utf-8") as fh:
        for (q, ref, ans), (g, raw) in zip(items, graded):
            _grades[(ref, ans)] = 0.0 if g is None else (g - 1) / 4
            fh.write(json.dumps({"question": q, "reference": ref, "answer": ans, "grade": g, "raw": raw},
                                ensure_ascii=False) + "\n")
    report.graded, report.unparsed = len(items), sum(g is None for g, _ in graded)
    report.agreement = agreement([h["grade"] for h in human], [g for g, _ in human_graded], HUMAN_SET.name)
    for arm in record.arms:
        if arm.name in rows:
            arm.metrics["judge"] = round(JUDGE.compute([r.target for r in rows[arm.name]],
                                                       [r.prediction for r in rows[arm.name]], None), 6)
            arm.higher_is_better["judge"] = True
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def load_grades(run_dir: Path) -> int:
    """Read a run's judge grades into this process (reports re-deciding from samples)."""
    file = run_dir / GRADES_FILE
    if not file.is_file():
        return 0
    n = 0
    for line in file.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        _grades[(row["reference"], row["answer"])] = 0.0 if row["grade"] is None else (row["grade"] - 1) / 4
        n += 1
    return n


def _compute(targets: Sequence[str], preds: Sequence[str | None], labels: Any) -> float:
    values = []
    for t, p in zip(targets, preds):
        key = (t, p or "")
        if key not in _grades:
            raise KeyError("no judge grade for an answer: the judge runs after the arms (judge.jsonl in the run "
                           "directory); `judge` cannot be the primary metric")
        values.append(_grades[key])
    return sum(values) / len(values) if values else 0.0


JUDGE = Metric("judge", True, False, "mean rubric grade by the judge model, (grade - 1) / 4 (see the record's judge "
                                     "section for its identity, prompt and agreement with human grades)",
               _compute, item=lambda p, t: _compute([t], [p], None), ci_method="bootstrap")
