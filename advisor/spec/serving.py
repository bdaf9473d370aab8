"""The optional `serving:` block: how the `vllm` and `openai` backends reach a model server.

Everything here has a default, so a task that names `backend: vllm` (or is run with
`--backend vllm`) needs no block at all when the vLLM virtualenv is set up by
`scripts/dev.sh` (it exports ADVISOR_VLLM_PYTHON). Secrets never live in the task file:
`api_key_env` names the environment variable that holds the key.
"""

from __future__ import annotations

from pydantic import Field

from advisor.spec.base import Strict

__all__ = ["ServingSpec"]


class ServingSpec(Strict):
    """Settings of the HTTP backends (`vllm`, `openai`); ignored by in-process backends."""

    python: str | None = Field(
        None, description="python executable of the virtualenv that has vLLM; default $ADVISOR_VLLM_PYTHON, "
                          "else this interpreter")
    base_url: str | None = Field(
        None, description="attach to a running OpenAI-compatible server (e.g. http://127.0.0.1:8000) instead of "
                          "starting one; required by the openai backend")
    served_model: str | None = Field(
        None, description="model name the server knows; default: the task's model name")
    api_key_env: str | None = Field(
        None, description="environment variable holding the API key (sent as a Bearer token, never recorded)")
    tokenizer: str | None = Field(
        None, description="openai backend: local tokenizer (registry name or folder) for counting prompt tokens; "
                          "default: the task's model when it is local, else an estimate of 1 token per 3 characters")
    concurrency: int = Field(32, ge=1, le=1024, description="requests in flight at once (vLLM batches them)")
    startup_timeout_s: float = Field(600.0, gt=0, description="seconds to wait for the started server's /health")
    request_timeout_s: float = Field(300.0, gt=0, description="seconds one HTTP request may take")
    retries: int = Field(3, ge=0, le=20, description="retries of a transient HTTP error (exponential backoff)")
    port: int | None = Field(None, ge=1, le=65535, description="port of the started server; default: a free one")
    max_model_len: int = Field(2048, ge=64, description="--max-model-len of the started server (tokens)")
    kv_cache_gib: float = Field(1.0, gt=0, description="VLLM_CPU_KVCACHE_SPACE of the started server on CPU (GiB)")
    lora: bool | None = Field(
        None, description="start the server with LoRA enabled; default: when an arm's strategy is a LoRA one")
    max_lora_rank: int | None = Field(
        None, ge=1, le=512, description="--max-lora-rank: the largest adapter rank served; default: the largest "
                                        "`rank` among the task's LoRA arms, at least 16")
    tensor_parallel_size: int = Field(1, ge=1, le=64, description="GPUs one started vLLM server shards the model "
                                                                  "over (--tensor-parallel-size)")
    server_args: list[str] = Field(default_factory=list, description="extra arguments for the vLLM server")
