"""The `vllm` backend against a fake vLLM server started the real way (a child process run as
`python -m vllm.entrypoints.openai.api_server`), on a tiny Llama's tokenizer: server
lifecycle, streaming timings, concurrency, choice scoring, LoRA, retries, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advisor.backends.base import ChoiceRequest, GenerateRequest
from advisor.backends.chat_tokens import ChatTokenizer
from advisor.errors import UserError
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from advisor.spec.model import TaskSpec
from tests.conftest import ROOT, make_task, spam_rows, tiny_chat
from tests.fake_vllm.vllm.entrypoints.openai.api_server import logprob

FAKE = ROOT / "tests" / "fake_vllm"


@pytest.fixture(autouse=True)
def _fake_vllm_on_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(FAKE))
    monkeypatch.setenv("ADVISOR_VLLM_PYTHON", sys.executable)
    for var in ("FAKE_FAIL", "FAKE_DIE_AFTER", "FAKE_FLAKY", "FAKE_API_KEY", "FAKE_STARTUP_S"):
        monkeypatch.delenv(var, raising=False)


def _spec(tiny_llama: Path, serving: str = "{}", arms: str = "[{name: a, strategy: prompting}]") -> TaskSpec:
    return TaskSpec.model_validate({
        "name": "t", "type": "classification", "labels": ["ham", "spam"], "data": {"path": "x.jsonl"},
        "model": {"name": str(tiny_llama)}, "serving": json.loads(serving),
        "arms": [{"name": "a", "strategy": "prompting"}, {"name": "l", "strategy": "lora", "config": {"rank": 8}}]
        if arms == "lora" else [{"name": "a", "strategy": "prompting"}]})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; it only waits to be reaped
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _backend(tiny_llama: Path, serving: str = '{"concurrency": 4}', arms: str = "one"):
    from advisor.backends.vllm_backend import VllmBackend

    spec = _spec(tiny_llama, serving, arms)
    return VllmBackend(spec)


def _get(backend, path: str) -> dict:
    status, body = backend.client.get(path)
    assert status == 200
    return json.loads(body)


def test_generate_streams_and_times_each_request(tiny_llama: Path, tmp_path: Path) -> None:
    backend = _backend(tiny_llama)
    pid = backend.server.proc.pid
    try:
        tok = ChatTokenizer(tiny_llama)
        requests = [GenerateRequest(tiny_chat(t), max_new_tokens=n) for t in ("hello world", "yes", "a b c d e f g")
                    for n in (3, 40)]
        out = backend.generate(requests)
        for r, g in zip(requests, out):
            ids = tok.prompt_ids(r.messages)
            echoed = ids[1:1 + r.max_new_tokens]
            expect_text, _, finish = tok.decode_reply(echoed + ([tok.eos_ids[0]] if len(echoed) < r.max_new_tokens else []), ())
            assert g.error is None and g.text == expect_text and g.finish_reason == finish
            assert g.prompt_tokens == len(ids) and g.completion_tokens == min(r.max_new_tokens, len(echoed) + 1)
            assert 0 < g.ttft_s < g.latency_s and g.tpot_s is not None and g.tpot_s > 0
        assert {g.finish_reason for g in out} == {"stop", "length"}
        assert 1 < _get(backend, "/stats")["max_in_flight"] <= 4  # concurrent, and bounded
        backend.bind_run_dir(tmp_path)
    finally:
        backend.close()
    assert not _alive(pid)
    log = (tmp_path / "vllm-server.log").read_text()
    assert "--enforce-eager" in log and "fake-vllm: argv" in log and "POST /v1/completions" in log
    assert "--enable-lora" not in log  # no LoRA arm in the task


def test_choice_scores_sum_the_choice_tokens(tiny_llama: Path, tmp_path: Path) -> None:
    backend = _backend(tiny_llama, arms="lora")
    try:
        tok = ChatTokenizer(tiny_llama)
        adapter = tmp_path / "adapter"
        adapter.mkdir()
        (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
        requests = [ChoiceRequest(tiny_chat(t), ("ham", "free prize"), adapter=a)
                    for t in ("hello world", "free prize call now") for a in (None, str(adapter))]
        for r, s in zip(requests, backend.score_choices(requests)):
            p = tok.prompt_ids(r.messages)
            for choice, got in zip(r.choices, s.logprobs):
                c = tok.choice_ids(choice)
                assert got == pytest.approx(sum(logprob(t, len(p) + k, r.adapter is not None) for k, t in enumerate(c)))
            assert s.error is None and s.prompt_tokens == len(p) and s.choice_tokens == [1, 2] and s.latency_s > 0
        assert len(backend._adapters) == 1  # loaded once, reused
        big = tmp_path / "big"
        big.mkdir()
        (big / "adapter_config.json").write_text(json.dumps({"r": 64}))
        with pytest.raises(UserError, match="rank 64, above the server's --max-lora-rank 16"):
            backend.score_choices([ChoiceRequest(tiny_chat("yes"), ("ham",), adapter=str(big))])
    finally:
        backend.close()


def test_forced_choice_scores_equal_prompt_logprobs(tiny_llama: Path, monkeypatch) -> None:
    """The one-pass method (forced one-token requests, which read vLLM's prefix cache) gives
    what prompt + label with prompt_logprobs gives, to 1e-4 nats, one request per label token."""
    backend = _backend(tiny_llama)
    try:
        labels = ("ham", "spam", "free prize", "call now ! yes")
        requests = [ChoiceRequest(tiny_chat(t), labels) for t in ("hello world", "free prize call now", "yes")]
        forced = backend.score_choices(requests)
        stats = _get(backend, "/stats")
        tok = ChatTokenizer(tiny_llama)
        assert stats["forced"] == len(requests) * sum(len(tok.choice_ids(c)) for c in labels)
        monkeypatch.setattr(backend, "choice_method", "prompt_logprobs")
        old = backend.score_choices(requests)
        assert _get(backend, "/stats")["forced"] == stats["forced"]  # the old path sent none
        for a, b in zip(forced, old):
            assert a.error is None and b.error is None
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
            assert a.choice_tokens == b.choice_tokens == [1, 1, 2, 4] and a.prompt_tokens == b.prompt_tokens
    finally:
        backend.close()


def test_forced_scores_that_disagree_fall_back_to_prompt_logprobs(tiny_llama: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_PROCESSED_LOGPROBS", "1")
    backend = _backend(tiny_llama)
    try:
        requests = [ChoiceRequest(tiny_chat(t), ("ham", "free prize")) for t in ("hello world", "yes")]
        got = backend.score_choices(requests)
        tok = ChatTokenizer(tiny_llama)
        assert backend.choice_method == "prompt_logprobs" and backend.info.extra["choice_method"] == "prompt_logprobs"
        for r, s in zip(requests, got):
            p = tok.prompt_ids(r.messages)
            want = [sum(logprob(t, len(p) + k, False) for k, t in enumerate(tok.choice_ids(c))) for c in r.choices]
            assert s.logprobs == pytest.approx(want) and s.error is None
    finally:
        backend.close()


def test_lora_rank_follows_the_lora_arms(tiny_llama: Path) -> None:
    from advisor.backends.vllm_backend import lora_rank_for

    assert lora_rank_for(_spec(tiny_llama), _spec(tiny_llama).serving) is None
    assert lora_rank_for(_spec(tiny_llama, arms="lora"), _spec(tiny_llama).serving) == 16
    spec = _spec(tiny_llama, '{"lora": true, "max_lora_rank": 40}')
    assert lora_rank_for(spec, spec.serving) == 64


def test_transient_errors_are_retried_and_counted(tiny_llama: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FLAKY", "2")
    backend = _backend(tiny_llama, '{"concurrency": 1, "retries": 3}')
    try:
        out = backend.generate([GenerateRequest(tiny_chat("yes"), max_new_tokens=2)])
        assert out[0].error is None and out[0].retries == 2
        assert backend.stats().http_retries == 2 and backend.stats().http_failed == 0
    finally:
        backend.close()


def test_failed_start_shows_the_log_and_leaves_nothing(tiny_llama: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(UserError) as err:
        _backend(tiny_llama)
    assert "exited with code 1 before it was ready" in str(err.value)
    assert "pretend the model could not be loaded" in str(err.value)
    with pytest.raises(UserError, match="does not exist"):
        _backend(tiny_llama, '{"python": "/nonexistent/python"}')


def test_startup_timeout_stops_the_server(tiny_llama: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_STARTUP_S", "60")
    started = time.perf_counter()
    with pytest.raises(UserError, match="not ready after 1 s"):
        _backend(tiny_llama, '{"startup_timeout_s": 1}')
    assert time.perf_counter() - started < 30


def _task(tmp_path: Path, tiny_llama: Path, arms: str) -> Path:
    return make_task(tmp_path, f"""\
        name: toy
        type: classification
        data: {{path: data.jsonl, input_field: text, target_field: label, id_field: id,
                split: {{train: 0.5, validation: 0.1, test: 0.4, seed: 1}}}}
        labels: [ham, spam]
        model: {{name: "{tiny_llama}"}}
        backend: vllm
        serving: {{concurrency: 8, retries: 1}}
        generation: {{max_new_tokens: 3}}
        arms:
        {arms}
        """, spam_rows())


def test_run_records_streaming_latencies_and_the_server_log(tmp_path: Path, tiny_llama: Path) -> None:
    task = _task(tmp_path, tiny_llama, "  - {name: gen, strategy: prompting, config: {mode: generate}}\n"
                                       "          - {name: choice, strategy: prompting}")
    record, run_dir = run_task(load_task(task), RunOptions(out=tmp_path / "run", limit=6))
    assert record.status == "ok" and record.backend.name == "vllm"
    gen = record.arm("gen")
    assert gen.latency.ttft_p50_ms > 0 and gen.latency.tpot_p50_ms > 0 and gen.latency.p50_ms > 0
    assert record.arm("choice").n == 6
    serving = record.backend.serving
    assert serving.server_starts == 1 and serving.http_requests >= 6 + 12 and serving.http_failed == 0
    rows = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(r["tpot_ms"] > 0 for r in rows if r["arm"] == "gen")
    assert "fake-vllm: argv" in (run_dir / "vllm-server.log").read_text()


def test_server_death_fails_that_arm_and_the_next_arm_gets_a_new_server(tmp_path: Path, tiny_llama: Path,
                                                                         monkeypatch) -> None:
    monkeypatch.setenv("FAKE_DIE_AFTER", "3")  # the first server answers 3 completions, then exits
    monkeypatch.setenv("FAKE_DIE_MARK", str(tmp_path / "died"))
    task = _task(tmp_path, tiny_llama, "  - {name: first, strategy: prompting, config: {mode: generate}}\n"
                                       "          - {name: second, strategy: prompting, config: {mode: generate}}")
    record, run_dir = run_task(load_task(task), RunOptions(out=tmp_path / "run", limit=6))
    first, second = record.arm("first"), record.arm("second")
    assert record.status == "partial"
    assert first.status == "failed" and "exited mid-run (code 3)" in first.errors[0]
    assert first.n == 6 and 1 <= first.sample_errors <= 3  # the samples are kept, with their reason
    rows = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(r["error"] is None for r in rows if r["arm"] == "second")
    assert any(r["error"] and r["arm"] == "first" for r in rows)
    assert record.backend.serving.server_starts == 2  # restarted for the second arm
    assert second.status == "ok" and second.n == 6 and second.sample_errors == 0
    assert "start 2" in (run_dir / "vllm-server.log").read_text()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_stopped_or_killed_driver_leaves_no_server(tmp_path: Path, tiny_llama: Path, sig, code) -> None:
    """Ctrl-C and SIGTERM stop the server on the way out; after SIGKILL (no way out) the
    server's guard sees its pipe from the driver close and stops the server's process group."""
    task = _task(tmp_path, tiny_llama, "  - {name: gen, strategy: prompting, config: {mode: generate}}")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{FAKE}", "FAKE_STARTUP_S": "10"}  # the signal lands while it starts
    proc = subprocess.Popen([sys.executable, "-m", "advisor.cli", "run", str(task), "--out", str(tmp_path / "run")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    server_pids: list[int] = []
    while time.time() < deadline and not server_pids:
        time.sleep(0.2)
        server_pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_fake_server(p, task)]
    assert server_pids, "the fake server never started"
    time.sleep(0.5)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert "Traceback" not in output
    deadline = time.time() + 20  # the guard sees the pipe close at once; stopping takes a moment
    while any(_alive(pid) for pid in server_pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in server_pids)


def _is_fake_server(proc_dir: Path, task: Path) -> bool:
    """A fake vLLM server whose parent is the `advisor run` of this test's task."""
    try:
        cmd = (proc_dir / "cmdline").read_bytes()
        if b"vllm.entrypoints.openai.api_server" not in cmd or b"vllm_guard.py" in cmd:
            return False
        guard = (proc_dir / "stat").read_text().split()[3]  # the server's parent is its guard, whose parent is the run
        driver = Path(f"/proc/{guard}/stat").read_text().split()[3]
        return str(task).encode() in Path(f"/proc/{driver}/cmdline").read_bytes()
    except OSError:
        return False
