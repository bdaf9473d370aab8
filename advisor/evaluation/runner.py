"""Run a task through its arms: split, prepare, predict in batches, score, record.

The order is chosen so bad input writes nothing: the spec, the data and the model are all
checked and loaded before the run directory exists. After that every arm is isolated: an
arm that fails is recorded with its error and the next one runs; Ctrl-C marks the run
`cancelled` and keeps every finished batch, which `resume` picks up again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import traceback
import uuid
from typing import Any
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from advisor import registry
from advisor.backends.base import Backend
from advisor.backends.cache import CachedBackend, open_backend
from advisor.spec.data import Sample, load_splits
from advisor.environment import capture_environment
from advisor.errors import UserError
from advisor.artifacts.models import cache_root
from advisor.progress import NullReporter, Reporter
from advisor.evaluation.quality import row_checks
from advisor.evaluation.record import (
    ArmResult, BackendRecord, RunRecord, SampleRow, SplitsInfo, TaskInfo, read_record, read_samples,
    write_record,
)
from advisor.evaluation.cache_use import ResponseCacheRun, cache_use
from advisor.evaluation.rundir import claim_run_dir, repair_samples
from advisor.evaluation.scoring import score
from advisor.evaluation.sink import ArmSink
from advisor.spec.load import LoadedTask, check_arm_needs
from advisor.evaluation.strategy import PrepareContext, Prediction, Strategy
from advisor.evaluation.summary import summarize_rows

__all__ = ["RunOptions", "run_task", "make_backend"]


@dataclass
class RunOptions:
    arms: list[str] | None = None  # subset of arm names; None = all
    limit: int | None = None  # first N test samples
    backend: str | None = None  # overrides the spec's backend
    out: Path | None = None  # run directory; default runs/<timestamp>_<task>_<id>
    seed: int | None = None  # overrides the spec's seed
    resume: Path | None = None  # an interrupted run directory to continue
    tune: Any = None  # a TuningSpec: tune every chosen arm on validation first (advisor.tuning); None = no tuning
    executor: Any = None  # an advisor.tuning.Executor for arms, trials and seeds; None = local, sequential
    cache: bool | None = None  # response cache (advisor.backends.cache): None = on unless ADVISOR_NO_CACHE; False = off


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_backend(name: str, task: LoadedTask, reporter: Reporter, *, cached: bool = False,
                 cache: bool | None = None) -> Backend:
    """The backend `name` for the task; `cached`: under the response cache (unless `cache` is False or
    ADVISOR_NO_CACHE is set), its model loaded only at the first request the cache cannot answer."""
    cls = registry.backends.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise UserError(f"backend {name!r} is registered as {cls!r}, which is not a subclass of "
                        "advisor.backends.base.Backend")
    if cached:
        return open_backend(cls, task.spec, status=reporter.status, enabled=cache)
    return cls(task.spec, status=reporter.status)


def _rows(arm: str, samples: list[Sample], preds: list[Prediction], task: LoadedTask, busy_s: float) -> list[SampleRow]:
    spec = task.spec
    scored = score(spec.type, [s.target for s in samples], [p.prediction for p in preds], spec.labels, spec.primary_metric)
    fresh = sum(1 for p in preds if p.cached is None)  # cached answers keep their own measured busy share
    share = busy_s / max(1, fresh)
    return [
        SampleRow(arm=arm, id=s.id, input=s.input, target=s.target, prediction=p.prediction, raw=p.raw,
                  correct=c, score=round(sc, 6), latency_ms=round(p.latency_s * 1000, 3),
                  ttft_ms=None if p.ttft_s is None else round(p.ttft_s * 1000, 3),
                  busy_share_s=share if p.cached is None else p.cached.busy_s,
                  cached_at=None if p.cached is None else p.cached.measured_at,
                  tpot_ms=None if p.tpot_s is None else round(p.tpot_s * 1000, 3),
                  prompt_tokens=p.prompt_tokens, completion_tokens=p.completion_tokens, error=p.error,
                  extra=p.extra.model_copy(update=_checks(spec, s, p)))
        for s, p, c, sc in zip(samples, preds, scored.correct, scored.item_scores)
    ]


def _checks(spec, sample: Sample, p: Prediction) -> dict[str, Any]:
    """Degenerate-output and gold-passage checks of one generated answer (advisor.evaluation.quality)."""
    gold = spec.evaluation.gold_passage_field
    return row_checks(spec.type, sample.input, p.prediction, p.raw, spec.instructions,
                      str(sample.fields.get(gold) or "") if gold else None, generated=p.error is None)


def _run_arm(task: LoadedTask, arm_index: int, test: list[Sample], backend: Backend, ctx: PrepareContext,
             run_dir: Path, reporter: Reporter, done: list[SampleRow],
             interrupts: list[KeyboardInterrupt] | None = None, sink: ArmSink | None = None) -> ArmResult:
    spec = task.spec
    sink = sink or ArmSink(run_dir, done)  # on another worker: a stub that streams rows to the driver
    arm = spec.arms[arm_index]
    config = task.arm_configs[arm.name]
    result = ArmResult(name=arm.name, strategy=arm.strategy, status="ok", config=config.model_dump(mode="json"),
                       started=_now())
    started = time.perf_counter()
    done_ids = {r.id for r in done}
    todo = [s for s in test if s.id not in done_ids]
    rows = list(done)
    reporter.arm_start(arm.name, len(test))
    reporter.advance(arm.name, len(test) - len(todo))
    try:
        strategy: Strategy = registry.strategies.get(arm.strategy)(config, spec)
        prep_start = time.perf_counter()
        result.prepare = strategy.prepare(ctx)
        if result.prepare.seconds is None:
            result.prepare.seconds = round(time.perf_counter() - prep_start, 3)
        chunk = spec.generation.batch_size * 4  # a few backend batches per progress step and per write
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            if isinstance(backend, CachedBackend):
                backend.pending.clear()  # answers stored before this batch (calibration) keep the backend's timing
            loading = getattr(backend, "load_s", 0.0)
            t0 = time.perf_counter()
            preds = strategy.predict(part, backend)
            busy = time.perf_counter() - t0 - (getattr(backend, "load_s", 0.0) - loading)  # a lazy model load is no answer's
            if len(preds) != len(part):
                raise RuntimeError(f"arm returned {len(preds)} predictions for {len(part)} samples")
            fresh = sum(1 for p in preds if p.cached is None)
            if isinstance(backend, CachedBackend) and fresh:
                backend.settle(busy / fresh)  # the cache keeps the busy share this run measured for them
            new_rows = _rows(arm.name, part, preds, task, busy)
            sink.append(new_rows)
            rows += new_rows
            reporter.advance(arm.name, len(part))
            failure = backend.take_failure()  # e.g. the vLLM server died
            if failure:
                raise RuntimeError(failure)
        order = {s.id: i for i, s in enumerate(test)}
        result.details = strategy.finish(test, sorted(rows, key=lambda r: order.get(r.id, len(order))))
    except KeyboardInterrupt as exc:  # the caller sees status "cancelled" and stops the run
        result.status = "cancelled"
        result.errors.append(f"interrupted ({exc or 'Ctrl-C'}); finished samples kept")
        if interrupts is not None:
            interrupts.append(exc)  # re-raised by the caller: SIGTERM keeps its exit code
    except UserError as exc:
        result.status = "failed"
        result.errors.append(str(exc))
    except Exception as exc:  # an arm's bug or a backend failure must not sink the other arms
        result.status = "failed"
        result.errors.append(f"{type(exc).__name__}: {exc}")
        sink.error_log(f"--- arm {arm.name} ---\n{traceback.format_exc()}\n")
    finally:
        rows = sink.recorded(arm.name, test, rows)  # locally the file is the truth
        order = {s.id: i for i, s in enumerate(test)}
        rows.sort(key=lambda r: order.get(r.id, len(order)))
        summary = summarize_rows(rows, spec)
        for key in type(summary).model_fields:
            setattr(result, key, getattr(summary, key))
        if isinstance(backend, CachedBackend):
            result.cache = cache_use(rows)
        result.wall_s = round(time.perf_counter() - started, 3)
        reporter.arm_end(arm.name, result.status)
    return result


def _learning_curve(task: LoadedTask, arm_index: int, splits, backend: Backend, ctx_base: dict,
                    result: ArmResult, reporter: Reporter) -> None:
    """The arm's learning-curve points when its spec asks for them (a failure is recorded)."""
    if task.spec.arms[arm_index].learning_curve is None or result.status != "ok":
        return
    from advisor.evaluation.learning_curve import run_learning_curve

    try:
        result.learning_curve = run_learning_curve(task, arm_index, splits, backend, ctx_base, reporter.status)
    except UserError as exc:
        result.errors.append(f"learning curve: {exc}")


def _task_info(task: LoadedTask) -> TaskInfo:
    digest = hashlib.sha256(task.path.read_bytes()).hexdigest()
    return TaskInfo(name=task.spec.name, type=task.spec.type, path=str(task.path), sha256=digest)


def _decide(record: RunRecord, run_dir: Path, spec, reporter: Reporter) -> None:
    """The recommendation over the finished arms; a failure here never loses the measurements."""
    from advisor.decision.engine import defaults_used, recommend

    record.recommendation = record.decision_error = None
    if not any(a.status == "ok" for a in record.arms):
        return
    reporter.status("deciding: intervals, paired tests, costs, break-even volumes")
    try:
        record.recommendation = recommend(record, read_samples(run_dir), defaults_used(spec.pricing, spec.decision))
    except Exception as exc:  # recorded, and `advisor report` can re-decide after a fix
        with (run_dir / "errors.log").open("a") as fh:
            fh.write(f"--- decision ---\n{traceback.format_exc()}\n")
        record.decision_error = f"{type(exc).__name__}: {exc}"


def _judge(spec, record: RunRecord, run_dir: Path, reporter: Reporter):
    """The judge metric over the finished arms (advisor.evaluation.judge); a failure is recorded, not raised."""
    from advisor.evaluation.judge import JudgeReport, apply_judge

    try:
        return apply_judge(spec, record, run_dir, reporter.status)
    except Exception as exc:
        with (run_dir / "errors.log").open("a") as fh:
            fh.write(f"--- judge ---\n{traceback.format_exc()}\n")
        return JudgeReport(backend=spec.evaluation.judge.backend, model=spec.evaluation.judge.model,
                           error=f"{type(exc).__name__}: {exc}")


def run_task(task: LoadedTask, options: RunOptions | None = None, reporter: Reporter | None = None) -> tuple[RunRecord, Path]:
    """Run the task's arms and write the record; returns (record, run directory)."""
    options = options or RunOptions()
    reporter = reporter or NullReporter()
    spec = task.spec
    if options.seed is not None:
        spec = spec.model_copy(update={"seed": options.seed})
        task = dataclasses.replace(task, spec=spec)
    names = [a.name for a in spec.arms]
    chosen = options.arms or names
    unknown = [a for a in chosen if a not in names]
    if unknown:
        raise UserError(f"unknown arm(s) {', '.join(unknown)}; the task defines: {', '.join(names)}")
    splits = load_splits(spec)
    check_arm_needs(task, len(splits.train), chosen)
    test = splits.test[: options.limit] if options.limit else splits.test
    previous: RunRecord | None = None
    new_id = uuid.uuid4().hex[:8]
    if options.resume:
        read_record(options.resume)  # a UserError when there is no run to resume, before anything is locked
    backend_name = options.backend or spec.backend
    if backend_name not in registry.backends:
        raise UserError(f"unknown backend {backend_name!r}; expected one of: {', '.join(registry.backends.names())}")
    if options.resume:
        run_dir = Path(options.resume)
        run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = options.out or Path("runs") / f"{stamp}_{spec.name}_{new_id}"
    held = claim_run_dir(run_dir, resume=bool(options.resume))  # for the life of the run
    record: RunRecord | None = None
    backend: Backend | None = None
    try:
        if options.resume:
            previous, _ = read_record(run_dir)  # again, now that no other run can change it
            if previous.task.sha256 != _task_info(task).sha256:
                raise UserError(f"{options.resume}: was run from a different version of {task.path.name}; start a new run")
            repair_samples(run_dir)  # a kill may have torn the last line; its samples are answered again
            read_samples(run_dir)  # damage that is not a torn tail stops the resume here, with its line
        run_id = previous.run_id if previous else new_id
        reporter.status(f"loading backend {backend_name} with model {spec.model.name}")
        serve = getattr(options.executor, "serve", None)  # a cluster executor may host the server in an actor
        served = serve(backend_name, task, reporter.status) if serve else None  # (not under the response cache)
        backend = served or make_backend(backend_name, task, reporter, cached=True, cache=options.cache)
        record = RunRecord(
            run_id=run_id, created=previous.created if previous else _now(), status="running", task=_task_info(task),
            spec=spec,
            splits=SplitsInfo(**splits.sizes(), test_used=len(test), limit=options.limit, test_ids=[s.id for s in test]),
            backend=BackendRecord(**asdict(backend.info), context_length=backend.context_length),
            environment=capture_environment(task.path.parent),
        )
        write_record(run_dir, record)
        backend.bind_run_dir(run_dir)  # a server backend keeps its log beside the record
    except BaseException as exc:  # nothing half-written: a folder this run made and never used goes
        reporter.close()
        if backend is not None:
            backend.close()
        if record is not None and isinstance(exc, KeyboardInterrupt):
            record.status, record.finished = "cancelled", _now()
            write_record(run_dir, record)
        held.release(discard_if_empty=True)
        raise
    try:
        return _run_arms(task, spec, test, splits, chosen, previous, record, run_dir, backend, reporter, options)
    finally:
        held.release()


def _on_disk(run_dir: Path, arm: str, test: list[Sample]) -> list[SampleRow]:
    """The arm's complete rows in samples.jsonl for this test split, first of each id."""
    ids = {s.id for s in test}
    seen: set[str] = set()
    rows = []
    for row in read_samples(run_dir, arm):
        if row.id in ids and row.id not in seen:
            seen.add(row.id)
            rows.append(row)
    return rows


def _run_arms(task: LoadedTask, spec, test: list[Sample], splits, chosen: list[str], previous: RunRecord | None,
              record: RunRecord, run_dir: Path, backend: Backend, reporter: Reporter,
              options: RunOptions) -> tuple[RunRecord, Path]:
    started = time.perf_counter()
    ctx_base = dict(spec=spec, splits=splits, seed=spec.seed, cache_dir=cache_root() / "artifacts", run_dir=run_dir,
                    backend=backend, status=reporter.status, step=reporter.step)
    from advisor.tuning.driver import apply_tuning, attach_tuning, tune_arms
    from advisor.tuning.executor import LocalExecutor, Unit
    from advisor.tuning.resources import resources_for

    executor = options.executor or LocalExecutor()
    order = {a.name: i for i, a in enumerate(spec.arms)}
    interrupts: list[KeyboardInterrupt] = []  # the signal that cancelled an arm (its exit code)
    try:
        tuned = {}
        if options.tune is not None:  # validation only: tune_arms never receives the test split
            tuned = tune_arms(task, splits, backend, [a.name for a in spec.arms if a.name in chosen], options.tune,
                              run_dir=run_dir, cache_dir=ctx_base["cache_dir"], executor=executor,
                              status=reporter.status)
            task = apply_tuning(task, tuned)
        units = []
        for i, arm in enumerate(spec.arms):
            if arm.name not in chosen:
                continue
            old = previous.arm(arm.name) if previous else None
            done = _on_disk(run_dir, arm.name, test) if previous else []
            if old is not None and old.status == "ok" and old.n == len(test) == len(done):
                record.arms.append(old)
                continue
            ctx = PrepareContext(arm_name=arm.name, **ctx_base)
            units.append(Unit(key=f"arm/{spec.name}/{arm.name}", fn=_run_arm,
                              kwargs=dict(task=task, arm_index=i, test=test, backend=backend, ctx=ctx, run_dir=run_dir,
                                          reporter=reporter, done=done, interrupts=interrupts,
                                          sink=ArmSink(run_dir, done)),
                              resources=resources_for(arm.strategy, task.arm_configs[arm.name], spec).as_dict()))

        def arm_done(unit_result) -> None:
            result = unit_result.value
            if not unit_result.ok:  # _run_arm records its own failures; this is the executor's
                name = unit_result.key.rsplit("/", 1)[-1]
                arm = spec.arms[order[name]]
                result = ArmResult(name=name, strategy=arm.strategy, status="failed", config={},
                                   errors=[f"{type(unit_result.error).__name__}: {unit_result.error}"])
            attach_tuning(result, tuned.get(result.name), str(backend.info.device))
            if unit_result.ok:
                _learning_curve(task, order[result.name], splits, backend, ctx_base, result, reporter)
            record.arms.append(result)
            record.arms.sort(key=lambda a: order.get(a.name, len(order)))
            write_record(run_dir, record)
            if result.status == "cancelled":
                raise interrupts[0] if interrupts else KeyboardInterrupt()

        executor.map(units, on_done=arm_done)
        if spec.repeats > 1:
            from advisor.tuning.repeats import seed_spreads

            seed_spreads(task, record.arms, splits, test, backend, ctx_base["cache_dir"], executor, reporter.status)
            write_record(run_dir, record)
        statuses = {a.status for a in record.arms}
        record.status = "ok" if statuses <= {"ok"} else ("failed" if statuses == {"failed"} else "partial")
        if spec.evaluation.judge is not None and any(a.status == "ok" for a in record.arms):
            record.judge = _judge(spec, record, run_dir, reporter)
        _decide(record, run_dir, spec, reporter)
    except KeyboardInterrupt:
        record.status = "cancelled"
        raise
    finally:
        reporter.close()
        backend.close()
        record.backend.serving = backend.stats()
        record.response_cache = (ResponseCacheRun(enabled=True, path=str(backend.store.path), hits=backend.hits,
                                                  misses=backend.misses, model_loaded=backend.loaded,
                                                  lazy_load_s=round(backend.load_s, 3) if backend.description else None)
                                 if isinstance(backend, CachedBackend) else ResponseCacheRun(enabled=False))
        record.finished = _now()
        # a resumed run adds its time to the interrupted attempts' (a killed attempt recorded none)
        record.wall_s = round(((previous.wall_s or 0.0) if previous else 0.0) + time.perf_counter() - started, 3)
        write_record(run_dir, record)
    return record, run_dir
