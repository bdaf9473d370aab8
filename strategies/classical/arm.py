"""The classical arm: TF-IDF word and character n-grams + logistic regression (scikit-learn).

The question behind it: does this classification task need an LLM at all? The regulariser
C is chosen by stratified k-fold cross-validation on train + validation (the same data the
LLM arms may tune on; the test split is read once, at the end), then the pipeline is refit
on all of it. When the preparation is scored on validation (a tuning trial, a learning-curve
point on validation), validation is left out of the fit. Fitting is a one-off cost (measured
wall seconds, like LoRA training); the fit is cached by content (strategies/classical/cache.py),
so an unchanged rerun reuses it and reports the seconds measured when it was fitted with
`reused=True`, as a reused adapter does; each
test input is predicted alone and timed (`time.perf_counter`), as a served system would
answer one query, so latency and cost compare with the LLM arms on the same footing.
"""

from __future__ import annotations

import pickle
import time
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from advisor.backends.base import Backend
from advisor.errors import UserError
from advisor.evaluation.record import SampleExtra
from advisor.evaluation.sections import ClassicalFacts, OneOffCost, PrepareFacts
from advisor.evaluation.strategy import Estimate, PrepareContext, Prediction, Strategy
from advisor.spec.data import Sample
from advisor.spec.model import TaskSpec
from strategies.classical import cache as fit_cache

__all__ = ["ClassicalConfig", "ClassicalStrategy"]


class ClassicalConfig(BaseModel):
    """Settings of a classical arm (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    word_ngrams: tuple[int, int] | None = Field((1, 2), description="word n-gram range (null = no word features)")
    char_ngrams: tuple[int, int] | None = Field((2, 5), description="character n-gram range within word "
                                                                   "boundaries (null = no character features)")
    max_features: int | None = Field(100_000, ge=1, description="features kept per vectoriser (most frequent)")
    sublinear_tf: bool = Field(True, description="1 + log(tf) instead of raw counts")
    cs: list[float] = Field([0.01, 0.1, 1.0, 10.0, 100.0], min_length=1,
                            description="candidate inverse regularisation strengths C")
    cv_folds: int = Field(5, ge=2, le=20, description="stratified folds for choosing C (fewer when a label is rare)")
    class_weight: str | None = Field("balanced", description="'balanced' or null")
    max_iter: int = Field(2000, ge=10, description="solver iterations")
    seed: int | None = Field(None, description="fold shuffling seed; default: the task seed")

    @field_validator("cs")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(c <= 0 for c in v):
            raise ValueError("every C must be > 0")
        return v

    @field_validator("word_ngrams", "char_ngrams")
    @classmethod
    def _range(cls, v):
        if v is not None and not 1 <= v[0] <= v[1] <= 10:
            raise ValueError("an n-gram range is [min, max] with 1 <= min <= max <= 10")
        return v

    @field_validator("class_weight")
    @classmethod
    def _weight(cls, v):
        if v not in (None, "balanced"):
            raise ValueError("class_weight is 'balanced' or null")
        return v


class ClassicalStrategy(Strategy):
    """TF-IDF + logistic regression for classification tasks; registered as `classical`."""

    Config = ClassicalConfig
    config: ClassicalConfig

    def __init__(self, config: ClassicalConfig, spec: TaskSpec) -> None:
        super().__init__(config, spec)
        self.pipeline: Any = None

    @classmethod
    def check_task(cls, spec: TaskSpec, config: ClassicalConfig) -> None:
        if spec.type != "classification" or not spec.labels:
            raise UserError(f"the classical arm classifies: it needs `type: classification` and `labels` "
                            f"(this task is {spec.type!r})")
        if config.word_ngrams is None and config.char_ngrams is None:
            raise UserError("the classical arm needs word_ngrams or char_ngrams (both are null)")

    def _pipeline(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, Pipeline

        cfg = self.config
        parts = []
        if cfg.word_ngrams is not None:
            parts.append(("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(cfg.word_ngrams),
                                                  sublinear_tf=cfg.sublinear_tf, max_features=cfg.max_features)))
        if cfg.char_ngrams is not None:
            parts.append(("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(cfg.char_ngrams),
                                                  sublinear_tf=cfg.sublinear_tf, max_features=cfg.max_features)))
        return Pipeline([("features", FeatureUnion(parts)),
                         ("clf", LogisticRegression(max_iter=cfg.max_iter, class_weight=cfg.class_weight))])

    def prepare(self, ctx: PrepareContext) -> PrepareFacts:
        from sklearn.model_selection import GridSearchCV, StratifiedKFold

        self.check_task(self.spec, self.config)
        # validation joins the fit unless it is what this preparation is scored on (tuning, curves)
        data = list(ctx.splits.train) + ([] if ctx.validation_scored else list(ctx.splits.validation))
        labels = [s.target for s in data]
        counts = {lab: labels.count(lab) for lab in set(labels)}
        if len(counts) < 2:
            raise UserError(f"arm {ctx.arm_name!r}: train + validation hold one label only ({labels[0] if labels else 'none'})")
        folds = min(self.config.cv_folds, min(counts.values()))
        if folds < 2:
            raise UserError(f"arm {ctx.arm_name!r}: a label has a single example in train + validation; "
                            "cross-validation needs at least 2 per label")
        seed = self.config.seed if self.config.seed is not None else ctx.seed
        scoring = "f1_macro" if self.spec.primary_metric == "macro_f1" else "accuracy"

        def fit() -> tuple[Any, dict[str, Any]]:
            started = time.perf_counter()
            search = GridSearchCV(self._pipeline(), {"clf__C": list(self.config.cs)}, scoring=scoring, n_jobs=1,
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=seed), refit=True)
            search.fit([s.input for s in data], labels)
            seconds = time.perf_counter() - started
            pipeline = search.best_estimator_
            features = sum(len(t.vocabulary_) for _, t in pipeline.named_steps["features"].transformer_list)
            cv = search.cv_results_
            facts = ClassicalFacts(
                examples=len(data), folds=folds, scoring=scoring, best_c=float(search.best_params_["clf__C"]),
                cv=[{"C": float(c), "mean": round(float(m), 4), "std": round(float(s), 4)}
                    for c, m, s in zip(cv["param_clf__C"], cv["mean_test_score"], cv["std_test_score"])],
                features=features, model_bytes=len(pickle.dumps(pipeline)), wall_s=round(seconds, 4),
                how="wall seconds (time.perf_counter) of the grid search over C with k-fold CV on train + validation "
                    "plus the refit on all of it; one CPU thread")
            built = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return pipeline, {"built": built, "facts": facts.model_dump(mode="json")}

        key = fit_cache.fit_key(data, self.config.model_dump(mode="json"), seed, scoring)
        folder, self.pipeline, meta, reused = fit_cache.fit_or_load(ctx.cache_dir, key, fit)
        facts = ClassicalFacts.model_validate(meta["facts"])
        if reused:
            ctx.status(f"classical fit {key} reused from the cache (fitted {meta['built']} in {facts.wall_s:.1f}s; "
                       "that one-off cost stays in the record)")
        cost = OneOffCost(kind="training", what="TF-IDF + logistic regression (C chosen by cross-validation)",
                          seconds=facts.wall_s, hardware="cpu", reused=reused, built=meta["built"], artifact=str(folder))
        return PrepareFacts(one_off=[cost], classical=facts, cache_key=key, reused=reused)

    def predict(self, samples: list[Sample], backend: Backend) -> list[Prediction]:
        if self.pipeline is None:
            raise RuntimeError("prepare() must run before predict()")
        classes = list(self.pipeline.classes_)
        preds = []
        for s in samples:  # one query at a time, each timed, as a served system answers
            t0 = time.perf_counter()
            proba = self.pipeline.predict_proba([s.input])[0]
            elapsed = time.perf_counter() - t0
            best = classes[int(proba.argmax())]
            preds.append(Prediction(s.id, best, best, 0, 0, elapsed, extra=SampleExtra(
                probabilities={c: round(float(p), 4) for c, p in zip(classes, proba)})))
        return preds

    def estimate(self, ctx: PrepareContext, test: list[Sample]) -> Estimate:
        n = len(ctx.splits.train) + len(ctx.splits.validation)
        return Estimate(requests=len(test), notes=[
            f"no LLM: fits TF-IDF + logistic regression on {n} examples ({len(self.config.cs)} C values x "
            f"{self.config.cv_folds} folds), typically seconds; predictions take about a millisecond each"])
