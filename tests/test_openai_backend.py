"""The `openai` backend against an in-process OpenAI-compatible fake: streamed chat replies
with their timings and usage, the API key kept out of every file, clear errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from advisor.backends.http import HttpClient, HttpError, free_port
from advisor.errors import UserError
from advisor.evaluation.runner import RunOptions, run_task
from advisor.spec import load_task
from tests.conftest import make_task, spam_rows
from tests.fake_vllm.vllm.entrypoints.openai.api_server import serve

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", KEY)
    monkeypatch.setenv("FAKE_STEP_S", "0.002")
    port = free_port()
    server = serve(port, "hosted-model")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/v1"
    server.shutdown()


def _task(tmp_path: Path, endpoint: str, key_env: str = "TEST_API_KEY") -> Path:
    return make_task(tmp_path, f"""\
        name: hosted
        type: classification
        data: {{path: data.jsonl, input_field: text, target_field: label, id_field: id,
                split: {{train: 0.5, validation: 0.1, test: 0.4, seed: 1}}}}
        labels: [ham, spam]
        backend: openai
        model: {{name: hosted-model}}
        serving: {{base_url: "{endpoint}", api_key_env: {key_env}, concurrency: 4}}
        generation: {{max_new_tokens: 2}}
        arms:
          - {{name: gen, strategy: prompting, config: {{mode: generate}}}}
          - {{name: choice, strategy: prompting, config: {{mode: choice}}}}
        """, spam_rows())


def test_hosted_prompting_arm_with_a_secret_key(tmp_path: Path, endpoint: str, monkeypatch) -> None:
    monkeypatch.setenv("TEST_API_KEY", KEY)
    record, run_dir = run_task(load_task(_task(tmp_path, endpoint)), RunOptions(out=tmp_path / "run", limit=6))
    gen, choice = record.arm("gen"), record.arm("choice")
    assert gen.status == "ok" and gen.metrics["accuracy"] == 1.0  # the fake echoes "<label> message ..."
    assert (gen.usage.prompt_tokens, gen.usage.completion_tokens) == (6 * 11, 12)  # from the server's usage blocks
    assert gen.latency.ttft_p50_ms > 0 and gen.latency.tpot_p50_ms > 0
    assert choice.status == "failed" and "cannot score choices" in choice.errors[0]
    assert record.backend.serving.http_requests == 6
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert KEY not in f.read_text(errors="replace"), f"API key leaked into {f}"


def test_missing_or_wrong_key_is_a_clear_error(tmp_path: Path, endpoint: str, monkeypatch) -> None:
    monkeypatch.delenv("TEST_API_KEY", raising=False)
    with pytest.raises(UserError, match="TEST_API_KEY .* is unset"):
        run_task(load_task(_task(tmp_path, endpoint)), RunOptions(out=tmp_path / "run"))
    monkeypatch.setenv("TEST_API_KEY", "sk-wrong")
    with pytest.raises(UserError, match="refused the API key"):
        run_task(load_task(_task(tmp_path, endpoint)), RunOptions(out=tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # bad input writes nothing


def test_errors_mask_the_key_and_name_the_status(endpoint: str) -> None:
    client = HttpClient(endpoint.removesuffix("/v1"), api_key="sk-wrong-key", retries=0)
    with pytest.raises(HttpError) as err:
        client.post_json("/v1/chat/completions", {"model": "x", "api_key_echo": "sk-wrong-key"})
    assert err.value.status == 401 and "sk-wrong-key" not in str(err.value)


def test_serving_block_is_strict(tmp_path: Path) -> None:
    from advisor.errors import SpecError

    path = make_task(tmp_path, """\
        name: t
        type: qa
        data: {path: data.jsonl}
        serving:
          concurency: 4
        arms: [{name: a, strategy: prompting}]
        """, [{"input": "q", "target": "a"}] * 10)
    with pytest.raises(SpecError, match=r"task.yaml:5: serving.concurency"):
        load_task(path)
