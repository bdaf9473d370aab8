"""A small HTTP client for OpenAI-compatible servers: JSON calls, streamed (SSE) calls,
retries with backoff, and bounded concurrency.

Standard library only (http.client + a thread pool), so the main environment needs no new
package for the `vllm` and `openai` backends. Concurrency is what lets vLLM batch: up to
`concurrency` requests are in flight at once, each on its own keep-alive connection, and
each request's times are its own (perf_counter seconds from sending it).

Transient failures (connection refused or reset, HTTP 408/429/5xx) are retried with
exponential backoff and counted; other HTTP errors fail at once. The API key only ever
goes into the Authorization header, and is masked in every error message.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar
from urllib.parse import urlsplit

__all__ = ["HttpClient", "HttpError", "StreamResult", "TRANSIENT_STATUS", "free_port"]

TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
T = TypeVar("T")
R = TypeVar("R")


class HttpError(Exception):
    """A request that failed for good (after retries, or a non-transient status)."""

    def __init__(self, message: str, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


@dataclass
class StreamResult:
    """The events of one streamed response, with when the first and last arrived."""

    events: list[dict[str, Any]]
    sent: float  # perf_counter when the request was sent
    first_token: float | None  # perf_counter of the first event `is_token` accepted
    done: float  # perf_counter when the stream ended
    retries: int = 0


@dataclass
class _Counters:
    requests: int = 0
    retries: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


class HttpClient:
    """JSON and streaming calls to one base URL, `concurrency` at a time."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout_s: float = 300.0, retries: int = 3,
                 concurrency: int = 32, backoff_s: float = 0.25, is_dead: Callable[[], bool] | None = None) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL {base_url!r} must look like http://host:port")
        self.base_url = base_url.rstrip("/")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path  # e.g. "" or "/v1" when the user gave it
        self._api_key = api_key
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.concurrency = concurrency
        self.is_dead = is_dead or (lambda: False)
        self.counters = _Counters()
        self._local = threading.local()

    # -- plumbing ------------------------------------------------------------------------
    def _mask(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout_s)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _headers(self, body: bytes | None) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _once(self, method: str, path: str, body: dict | None, on_line: Callable[[bytes], None] | None) -> bytes:
        """One attempt; returns the body (or b"" when streamed into `on_line`)."""
        data = None if body is None else json.dumps(body).encode()
        conn = self._conn()
        try:
            conn.request(method, self._prefix + path, body=data, headers=self._headers(data))
            resp = conn.getresponse()
            if resp.status >= 400:
                text = resp.read().decode("utf-8", "replace")[:500]
                raise HttpError(self._mask(f"HTTP {resp.status} from {method} {self.base_url}{path}: {text}"),
                                resp.status, resp.status in TRANSIENT_STATUS)
            if on_line is None:
                return resp.read()
            while True:
                line = resp.readline()
                if not line:
                    break
                on_line(line)
            return b""
        except HttpError:
            self._drop()
            raise
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, closed early
            self._drop()
            raise HttpError(self._mask(f"{type(exc).__name__} on {method} {self.base_url}{path}: {exc}"),
                            None, True) from None

    def _with_retries(self, fn: Callable[[], T]) -> tuple[T, int]:
        self.counters.add(requests=1)
        attempt = 0
        while True:
            try:
                return fn(), attempt
            except HttpError as exc:
                if not exc.transient or attempt >= self.retries or self.is_dead():
                    self.counters.add(failed=1)
                    raise
                time.sleep(min(4.0, self.backoff_s * 2 ** attempt))
                attempt += 1
                self.counters.add(retries=1)

    # -- calls ---------------------------------------------------------------------------
    def get(self, path: str, retry: bool = True) -> tuple[int, bytes]:
        """(status, body) of a GET; a status >= 400 comes back, not raised (health checks)."""
        conn = self._conn()
        try:
            conn.request("GET", self._prefix + path, headers=self._headers(None))
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise HttpError(self._mask(f"{type(exc).__name__} on GET {self.base_url}{path}: {exc}"), None, True) from None

    def post_json(self, path: str, body: dict) -> tuple[dict[str, Any], int]:
        """(decoded JSON response, retries used)."""
        raw, retries = self._with_retries(lambda: self._once("POST", path, body, None))
        try:
            return (json.loads(raw) if raw.strip() else {}), retries
        except json.JSONDecodeError:
            return {"text": raw.decode("utf-8", "replace")}, retries

    def stream(self, path: str, body: dict, is_token: Callable[[dict[str, Any]], bool]) -> StreamResult:
        """POST with `stream: true`; collects the server-sent events. Times restart on a retry,
        so a retried request's latency is that of the attempt that answered."""

        def attempt() -> StreamResult:
            result = StreamResult(events=[], sent=time.perf_counter(), first_token=None, done=0.0)

            def on_line(line: bytes) -> None:
                line = line.strip()
                if not line.startswith(b"data:"):
                    return
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    return
                event = json.loads(payload)
                if result.first_token is None and is_token(event):
                    result.first_token = time.perf_counter()
                result.events.append(event)

            self._once("POST", path, {**body, "stream": True}, on_line)
            result.done = time.perf_counter()
            return result

        result, retries = self._with_retries(attempt)
        result.retries = retries
        return result

    def map(self, fn: Callable[[T], R], items: Iterable[T], concurrency: int | None = None) -> list[R]:
        """fn over items with at most `concurrency` (default: the client's) in flight; results in order."""
        items = list(items)
        limit = concurrency or self.concurrency
        if len(items) <= 1 or limit == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
            return list(pool.map(fn, items))

    def close(self) -> None:
        self._drop()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
