"""A fake vLLM OpenAI-compatible server for the fast tests (no model, deterministic).

Run as `python -m vllm.entrypoints.openai.api_server --port P --served-model-name N ...`
with this folder on PYTHONPATH, exactly as the backend starts the real one. It answers
/health, /version, /v1/models, /v1/load_lora_adapter, /v1/completions (streamed or not,
with prompt_logprobs) and /v1/chat/completions. Its behaviour is a formula tests can check:
- generation echoes the prompt's token ids from position 1 (up to max_tokens), then the
  first stop_token_id, one token per event, FAKE_STEP_S seconds apart;
- the log-probability of prompt token t at position i is -(((t * 7 + i) % 11) + 1) / 4,
  minus 1 more for a LoRA adapter's name; a non-streamed request with `logprobs` answers one
  greedy token among `allowed_token_ids` with that log-probability at position len(prompt).
Environment switches: FAKE_PROCESSED_LOGPROBS=1 answers forced tokens with 0.0 (a server
whose log-probabilities come after the allowed-token mask); FAKE_FAIL=1 exits at start; FAKE_DIE_AFTER=N exits after N
completion requests (only once when FAKE_DIE_MARK names a
file it creates); FAKE_FLAKY=N answers the first N completion requests with HTTP 503;
FAKE_API_KEY requires that Bearer token; FAKE_STARTUP_S delays readiness.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def logprob(token: int, position: int, lora: bool) -> float:
    return -(((token * 7 + position) % 11) + 1) / 4 - (1.0 if lora else 0.0)


class State:
    def __init__(self, served: str) -> None:
        self.served = served
        self.adapters: dict[str, str] = {}
        self.lock = threading.Lock()
        self.completions = 0
        self.forced = 0  # one-token requests answered with logprobs (forced choice scoring)
        self.in_flight = 0
        self.max_in_flight = 0
        self.flaky = int(os.environ.get("FAKE_FLAKY", "0"))
        self.die_after = int(os.environ.get("FAKE_DIE_AFTER", "0"))
        self.step_s = float(os.environ.get("FAKE_STEP_S", "0.005"))
        self.api_key = os.environ.get("FAKE_API_KEY")
        self.ready_at = time.time() + float(os.environ.get("FAKE_STARTUP_S", "0"))


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one line per request, like uvicorn's access log
            sys.stdout.write("fake-vllm: " + fmt % args + "\n")
            sys.stdout.flush()

        def _json(self, code: int, obj) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if state.api_key and self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._json(401, {"error": f"bad key in {self.headers.get('Authorization')}"})  # echoes it
                return False
            return True

        def do_GET(self):
            if self.path == "/health":
                return self._json(200 if time.time() >= state.ready_at else 503, {})
            if not self._authorised():
                return
            if self.path == "/version":
                return self._json(200, {"version": "fake-0"})
            if self.path == "/v1/models":
                return self._json(200, {"data": [{"id": state.served}] + [{"id": n} for n in state.adapters]})
            if self.path == "/stats":
                return self._json(200, {"completions": state.completions, "max_in_flight": state.max_in_flight,
                                        "forced": state.forced})
            self._json(404, {"error": self.path})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if not self._authorised():
                return
            if self.path == "/v1/load_lora_adapter":
                if not os.path.exists(os.path.join(body["lora_path"], "adapter_config.json")):
                    return self._json(400, {"error": "no adapter there"})
                state.adapters[body["lora_name"]] = body["lora_path"]
                return self._json(200, {"ok": True})
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                return self._json(404, {"error": self.path})
            with state.lock:
                state.completions += 1
                n = state.completions
                if n <= state.flaky:
                    return self._json(503, {"error": "busy"})
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                mark = os.environ.get("FAKE_DIE_MARK", "")
                if state.die_after and n > state.die_after and not (mark and os.path.exists(mark)):
                    if mark:  # die once: a restarted server keeps running
                        open(mark, "w").close()
                    os._exit(3)
                model = body.get("model")
                if model != state.served and model not in state.adapters:
                    return self._json(404, {"error": f"model {model} not found"})
                if self.path == "/v1/chat/completions":
                    return self._chat(body)
                self._completion(body, lora=model != state.served)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _completion(self, body, lora: bool) -> None:
            prompt = body["prompt"]
            if body.get("prompt_logprobs") is not None:
                entries = [None] + [{str(t): {"logprob": logprob(t, i, lora), "rank": 1}} for i, t in enumerate(prompt) if i]
                return self._json(200, {"choices": [{"text": "", "prompt_logprobs": entries}],
                                        "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1}})
            if body.get("logprobs") is not None and not body.get("stream"):
                return self._forced(body, prompt, lora)
            stop_ids = body.get("stop_token_ids") or [0]
            reply = prompt[1:1 + body["max_tokens"]]
            if len(reply) < body["max_tokens"]:
                reply = reply + [stop_ids[0]]
            self._stream([{"choices": [{"index": 0, "text": "x", "token_ids": [t],
                                        "finish_reason": None}]} for t in reply],
                         {"prompt_tokens": len(prompt), "completion_tokens": len(reply)})

        def _forced(self, body, prompt, lora: bool) -> None:
            """One greedy token among allowed_token_ids (default: ids 0-99), with its logprob."""
            allowed = body.get("allowed_token_ids") or list(range(100))
            position = len(prompt)
            token = max(allowed, key=lambda t: (logprob(t, position, lora), -t))
            name = f"token_id:{token}" if body.get("return_tokens_as_token_ids") else "x"
            state.forced += 1
            # FAKE_PROCESSED_LOGPROBS=1: log-probabilities after the allowed-token mask (all 0.0)
            value = 0.0 if os.environ.get("FAKE_PROCESSED_LOGPROBS") else logprob(token, position, lora)
            return self._json(200, {"choices": [{"text": "x", "finish_reason": "length", "logprobs": {
                "tokens": [name], "token_logprobs": [value], "text_offset": [0],
                "top_logprobs": [{name: value}] if body["logprobs"] else None}}],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1}})

        def _chat(self, body) -> None:
            words = body["messages"][-1]["content"].split()[: body["max_tokens"]]
            self._stream([{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
                         + [{"choices": [{"index": 0, "delta": {"content": w if i == 0 else " " + w}}]}
                            for i, w in enumerate(words)],
                         {"prompt_tokens": 11, "completion_tokens": len(words)})

        def _stream(self, events, usage) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for e in events + [{"choices": [], "usage": usage}]:
                time.sleep(state.step_s)
                self.wfile.write(b"data: " + json.dumps(e).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True

    return Handler


def serve(port: int, served: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(State(served)))
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--port", type=int, required=True)
    args, rest = parser.parse_known_args()
    print(f"fake-vllm: argv {sys.argv[1:]}", flush=True)
    if os.environ.get("FAKE_FAIL"):
        print("fake-vllm: RuntimeError: pretend the model could not be loaded", flush=True)
        sys.exit(1)
    if not os.path.exists(os.path.join(args.model, "config.json")):
        print(f"fake-vllm: no model at {args.model}", flush=True)
        sys.exit(1)
    serve(args.port, args.served_model_name).serve_forever()


if __name__ == "__main__":
    main()
