"""The cloud fallback client: any OpenAI-compatible `POST {base_url}/chat/completions`, standard library only.

Works with OpenAI, Azure OpenAI (an `api-key` header, and the `?api-version=`
query string of `base_url` kept), Ollama, vLLM and the llama.cpp server.

This module is the HTTP side: the endpoint, the headers, one deadline per call,
a keep-alive connection per thread, the status line. What a call sends (the
redacted text, the prompt) is edge/cloud_prompt.py's; what it accepts back (a
strict check of the reply, CloudError, CloudAnswer) edge/cloud_reply.py's.
Their public names are re-exported here: callers import the cloud from one place.

Time: `classify` and `probe` finish within `settings.timeout_s`: connect (TLS
included), send and read share one deadline, every socket operation gets only
what is left, and the body is read chunk by chunk against it. Two things socket
timeouts cannot cut short: name resolution (use an IP address or a local
resolver where that matters) and a server that drips its status line and
headers a byte at a time; the call still fails as a timeout once it has them.

Threads: each thread keeps its own keep-alive connection (a small worker pool
calls this), so nothing is shared on the hot path. The API key is held only in
the request headers: it is never logged, never in an exception, never in repr.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Sequence
from urllib.parse import urlsplit

from edge.cloud_prompt import Prompt, redact, system_prompt, user_message
from edge.cloud_reply import (ANSWER_MAX_CHARS, KINDS, CloudAnswer, CloudError, clean_answer,
                              content_json, excerpt, parse_reply, reply_content)
from edge.config import CloudSettings

__all__ = ["CloudAnswer", "CloudClient", "CloudError", "KINDS", "redact", "parse_retry_after", "system_prompt",
           "ANSWER_MAX_CHARS", "REPLY_MAX_BYTES", "clean_answer", "content_json"]

log = logging.getLogger(__name__)

MAX_TOKENS = 150
REPLY_MAX_BYTES = 1 << 20  # a chat reply of a few hundred bytes; anything near this is not one
RETRY_AFTER_MAX_S = 3600.0  # a broken or hostile server must not switch the cloud off for days
_AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    scheme: str
    host: str
    port: int
    prefix: str  # the path of base_url, without a trailing slash
    query: str  # kept on every call (Azure's api-version)
    azure: bool

    def target(self, suffix: str) -> str:
        return self.prefix + suffix + (f"?{self.query}" if self.query else "")


def _endpoint(base_url: str) -> _Endpoint:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"cloud.base_url must be an http(s) URL, got {base_url!r}")
    host = parts.hostname
    return _Endpoint(
        scheme=parts.scheme,
        host=host,
        port=parts.port or (443 if parts.scheme == "https" else 80),
        prefix=parts.path.rstrip("/"),
        query=parts.query,
        azure=host.endswith(_AZURE_HOSTS),
    )


def _auth_headers(endpoint: _Endpoint, api_key: str) -> dict[str, str]:
    if not api_key:  # Ollama, llama.cpp and most local servers need none
        return {}
    return {"api-key": api_key} if endpoint.azure else {"Authorization": f"Bearer {api_key}"}


class CloudClient:
    """One configured endpoint; `classify` and `probe` are safe to call from several threads at once."""

    def __init__(self, settings: CloudSettings, labels: Sequence[str], api_key: str, slot_prompt: str = "") -> None:
        if not settings.base_url:
            raise ValueError("cloud.base_url is empty: no cloud is configured")
        self._settings = settings
        self._endpoint = _endpoint(settings.base_url)
        self._prompt = Prompt.of(labels, slot_prompt)
        auth = _auth_headers(self._endpoint, api_key)
        self._key = api_key  # only to scrub it from server error messages that might echo it
        self._get_headers = {"Accept": "application/json", "User-Agent": "edge", **auth}
        self._post_headers = {**self._get_headers, "Content-Type": "application/json"}
        self._chat_target = self._endpoint.target("/chat/completions")
        self._models_target = self._endpoint.target("/models")
        self._ssl = ssl.create_default_context() if self._endpoint.scheme == "https" else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: set[http.client.HTTPConnection] = set()
        self._closed = False

    def __repr__(self) -> str:
        key = "set" if self._key else "none"
        return f"CloudClient(base_url={self._settings.base_url!r}, model={self._settings.model!r}, key={key})"

    @property
    def labels(self) -> tuple[str, ...]:
        return self._prompt.labels

    def set_labels(self, labels: Sequence[str], slot_prompt: str = "") -> None:
        """Ask with another model's labels from now on (edge.service.swap_model, after a deployment):
        the prompt and the reply's check follow the model that answers. One assignment, so a call
        in flight on a pool thread uses the old set or the new one whole, never a mix."""
        self._prompt = Prompt.of(labels, slot_prompt)

    def classify(self, text: str) -> CloudAnswer:
        """Ask the cloud for the intent of `text` (redacted first when configured); raise CloudError on any fault."""
        if self._settings.redact:
            text = redact(text)
        prompt = self._prompt  # read once: a swap meanwhile does not mix two label sets
        start = time.monotonic()
        raw = self._chat(prompt.system, user_message(text), MAX_TOKENS, start)
        intent, answer, slots = self._parse(raw, prompt)
        latency_ms = (time.monotonic() - start) * 1000.0
        log.debug("cloud answered %s in %.0f ms", intent, latency_ms)
        return CloudAnswer(intent=intent, answer=answer, latency_ms=latency_ms, slots=slots)

    def chat_json(self, system: str, user: str, max_tokens: int = MAX_TOKENS) -> tuple[Any, float]:
        """One chat call with a prompt of the caller's (edge.home_cloud's): (the JSON value of the
        reply's content, latency in ms). Everything but the shape of that value is checked here as
        for `classify`: the deadline, the size cap, the status, the envelope, JSON. The caller
        validates the value; the text in `user` is sent as it is (redact it first)."""
        start = time.monotonic()
        raw = self._chat(system, user, max_tokens, start)
        return content_json(reply_content(raw)), (time.monotonic() - start) * 1000.0

    def _chat(self, system: str, user: str, max_tokens: int, start: float) -> bytes:
        body = {
            "model": self._settings.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "max_tokens": max_tokens,
        }
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        status, headers, raw = self._request("POST", self._chat_target, data, start + self._settings.timeout_s)
        self._check_status(status, headers, raw)
        return raw

    def probe(self) -> None:
        """Is the endpoint there? GET {base_url}/models: free, no tokens, no budget.

        A 404 or 405 counts as reachable (Azure deployment URLs and some servers
        have no /models); 401/403, 429 and 5xx raise like a failed call would.
        """
        deadline = time.monotonic() + self._settings.timeout_s
        status, headers, raw = self._request("GET", self._models_target, None, deadline)
        if status not in (404, 405):
            self._check_status(status, headers, raw)

    def close(self) -> None:
        """Stop: cut every open connection (in-flight calls fail at once with kind "connection")."""
        self._closed = True
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv; its owner closes it
                except OSError:
                    pass

    # --- HTTP ---------------------------------------------------------------------------------------

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CloudError("timeout", f"no complete reply within {self._settings.timeout_s:g} s")
        return left

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            ep = self._endpoint
            if self._ssl is not None:
                conn = http.client.HTTPSConnection(ep.host, ep.port, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(ep.host, ep.port)
            self._local.conn = conn
            with self._lock:
                self._conns.add(conn)
        return conn

    def _discard(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            self._conns.discard(conn)

    def _request(
        self, method: str, target: str, body: bytes | None, deadline: float
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request on this thread's connection, all of it within `deadline` (monotonic)."""
        headers = self._post_headers if body is not None else self._get_headers
        for attempt in (0, 1):
            if self._closed:
                raise CloudError("connection", "the cloud client is closed")
            conn = self._connection()
            reused = conn.sock is not None
            try:
                if conn.sock is None:
                    conn.timeout = self._remaining(deadline)
                    conn.connect()  # bounded by what is left; TLS handshake included
                sock = conn.sock
                assert sock is not None
                sock.settimeout(self._remaining(deadline))
                conn.request(method, target, body=body, headers=headers)
                sock.settimeout(self._remaining(deadline))
                resp = conn.getresponse()
                raw = self._read(resp, sock, deadline)
                resp.close()  # read1 does not mark an exhausted response done; the next request needs that
                if resp.will_close:
                    self._discard(conn)
                return resp.status, resp.headers, raw
            except CloudError:
                self._discard(conn)
                raise
            except TimeoutError:
                self._discard(conn)
                raise CloudError("timeout", f"no complete reply within {self._settings.timeout_s:g} s") from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._discard(conn)
                # The server closed an idle keep-alive connection: normal, so try once on a fresh one.
                if reused and attempt == 0 and not self._closed and deadline > time.monotonic():
                    continue
                raise CloudError("connection", f"connection lost: {type(exc).__name__}") from None
            except ssl.SSLCertVerificationError as exc:
                self._discard(conn)
                raise CloudError("connection", f"TLS certificate not trusted: {exc.verify_message}") from None
            except (OSError, http.client.HTTPException) as exc:
                self._discard(conn)
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise CloudError("connection", f"{type(exc).__name__}: {reason}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, resp: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            sock.settimeout(self._remaining(deadline))
            chunk = resp.read1(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > REPLY_MAX_BYTES:
                raise CloudError("invalid_reply", f"reply larger than {REPLY_MAX_BYTES} bytes", status=resp.status)
            chunks.append(chunk)

    # --- replies ------------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """Server messages may quote the key back (OpenAI's 401 does, partly); never let it through."""
        return text.replace(self._key, "***") if self._key else text

    def _check_status(self, status: int, headers: http.client.HTTPMessage, raw: bytes) -> None:
        if 200 <= status < 300:
            return
        retry_after = parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None
        detail = ""
        try:
            err = json.loads(raw).get("error")
            message = err.get("message") if isinstance(err, dict) else err
            if isinstance(message, str) and message.strip():
                detail = f": {self._scrub(excerpt(message))}"
        except (ValueError, AttributeError, RecursionError):
            pass
        kind = "rate_limited" if status == 429 else "http"
        raise CloudError(kind, f"HTTP {status}{detail}", status=status, retry_after=retry_after)

    def _parse(self, raw: bytes, prompt: Prompt | None = None) -> tuple[str, str, Any]:
        """Validate a chat completion strictly (edge.cloud_reply.parse_reply); `prompt`: the label set
        the call was made with (default: the current one)."""
        return parse_reply(raw, prompt if prompt is not None else self._prompt, self._scrub)
