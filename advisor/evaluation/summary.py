"""Arm-level numbers from sample rows: metrics, latency percentiles, throughput, usage.

Computed from `samples.jsonl` rows alone, so a resumed run and a re-rendered report get the
same numbers as the run that measured them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from advisor.decision.stats import percentiles
from advisor.evaluation.quality import AnswerQuality, summarize_quality
from advisor.evaluation.record import SampleRow
from advisor.evaluation.scoring import get_metric, score
from advisor.evaluation.sections import Confusion, Latency, Throughput, Usage  # noqa: F401 (Confusion: field type)
from advisor.spec.model import TaskSpec

__all__ = ["ArmSummary", "summarize_rows", "LATENCY_HOW"]

LATENCY_HOW = ("wall time per request in ms (time.perf_counter): from handing the request's batch to the backend "
               "until its answer was complete; a batched request waits for its batch")


class ArmSummary(BaseModel):
    """The fields of ArmResult that come from the rows (same names, copied over by the runner)."""

    model_config = ConfigDict(extra="forbid")

    n: int = 0
    metrics: dict[str, float] = Field(default_factory=dict)
    primary_metric: str | None = None
    higher_is_better: dict[str, bool] = Field(default_factory=dict)
    confusion: Confusion | None = None
    latency: Latency = Field(default_factory=Latency)
    throughput: Throughput = Field(default_factory=Throughput)
    usage: Usage = Field(default_factory=Usage)
    sample_errors: int = 0
    quality: AnswerQuality | None = None


def summarize_rows(rows: list[SampleRow], spec: TaskSpec) -> ArmSummary:
    """One arm's summary from its rows (errors count as wrong answers)."""
    if not rows:
        return ArmSummary()
    result = score(spec.type, [r.target for r in rows], [r.prediction for r in rows], spec.labels, spec.primary_metric,
                   spec.evaluation.metrics)
    ok = [r for r in rows if r.error is None]
    latency = Latency(how=LATENCY_HOW, n=len(ok))
    if ok:
        lat = percentiles([r.latency_ms for r in ok], (50, 95))
        latency.p50_ms, latency.p95_ms = round(lat["p50"], 3), round(lat["p95"], 3)
        latency.mean_ms = round(sum(r.latency_ms for r in ok) / len(ok), 3)
        ttfts = [r.ttft_ms for r in ok if r.ttft_ms is not None]
        if ttfts:
            latency.ttft_p50_ms = round(percentiles(ttfts, (50,))["p50"], 3)
        tpots = [r.tpot_ms for r in ok if r.tpot_ms is not None]
        if tpots:
            latency.tpot_p50_ms = round(percentiles(tpots, (50,))["p50"], 3)
    busy = sum(r.busy_share_s for r in rows)
    prompt_tokens = sum(r.prompt_tokens for r in rows)
    completion_tokens = sum(r.completion_tokens for r in rows)
    throughput = Throughput(busy_s=round(busy, 4), how="busy_s = wall seconds the backend spent on this arm's requests")
    if busy > 0:
        throughput.requests_per_s = round(len(rows) / busy, 3)
        throughput.prompt_tokens_per_s = round(prompt_tokens / busy, 1)
        throughput.completion_tokens_per_s = round(completion_tokens / busy, 1)
    return ArmSummary(
        n=len(rows),
        metrics={k: round(v, 6) for k, v in result.metrics.items()},
        primary_metric=spec.primary_metric,
        higher_is_better={k: get_metric(k).higher_is_better for k in result.metrics},
        confusion=result.confusion,
        latency=latency, throughput=throughput,
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
        sample_errors=len(rows) - len(ok),
        quality=summarize_quality([r.extra for r in rows], spec.evaluation.grounded_threshold),
    )
