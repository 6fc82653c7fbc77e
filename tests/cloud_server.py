"""FakeCloud: a small OpenAI-compatible server for tests, a real HTTP server on a loopback port.

In a test::

    from tests.cloud_server import FakeCloud

    with FakeCloud(intents={"meaning of life": "oos"}, default_intent="weather") as cloud:
        settings = CloudSettings(base_url=cloud.base_url, model="fake", timeout_s=1)
        ...                        # cloud.base_url is "http://127.0.0.1:<port>/v1"
        cloud.mode = "stall"       # switch behaviour at any time, from any thread
        cloud.mode = "down"        # the port is closed (connections refused), open connections are cut
        cloud.mode = "good"        # the same port is bound again (cloud.up() does the same)
        cloud.requests             # every request received: Received(method, path, query, headers, body, peer)
        cloud.chat_requests        # only the POST .../chat/completions ones
        cloud.wait_for(2, timeout=5)   # block until two chat requests have arrived

Modes (POST {base}/chat/completions; GET {base}/models answers 200 except where noted):

- ``good``: 200, content ``{"intent": I, "answer": A}``. I is the label of the first
  key of ``intents`` found (case-insensitively) in the user message, else
  ``default_intent``; A is ``answer`` (default ``"cloud says <I>"``). Set
  ``content`` to send a raw content string of your own instead. ``delay_s``
  delays each good answer.
- ``garbage``: 200 with content that is not JSON.
- ``unknown_label``: 200, ``{"intent": unknown_label, "answer": ...}``.
- ``http500``: 500 with an OpenAI-style error body (GET /models too).
- ``rate_limit``: 429 with ``Retry-After: <retry_after>`` (GET /models too).
- ``stall``: reads the request and waits ``stall_s`` (default 30) before
  answering as ``good``; a mode change, ``down()`` or ``close()`` ends the wait
  at once and drops the connection unanswered (GET /models stalls too).
- ``down``: see above.

With ``certfile`` (and ``keyfile``) it serves HTTPS; ``base_url`` says https then.

With ``api_key`` set, a request without ``Authorization: Bearer <key>`` or
``api-key: <key>`` gets a 401 whose message quotes the key it was sent (as
real services partly do), to check that clients do not pass it on.

From a shell, for manual runs::

    python tests/cloud_server.py --port 8080 --mode good --intent "turn on the light=lights_on"
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MODES = ("good", "garbage", "unknown_label", "http500", "rate_limit", "stall", "down")
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body (None for GET or a body that is not JSON)
    peer: tuple[str, int]  # the client's address: the same one twice means a kept-alive connection


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # close() must not wait for a stalled handler
    allow_reuse_address = True  # up() re-binds the same port at once

    def __init__(self, address: tuple[str, int], fake: FakeCloud) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (timeouts, down()) are part of the tests, not errors


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real services do
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle and delayed ACKs add 40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def _send(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: Any) -> tuple[str, str]:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        peer = (str(self.client_address[0]), int(self.client_address[1]))
        self.server.fake._record(Received(self.command, parts.path, parts.query, headers, body, peer))
        return parts.path, parts.query

    def _authorized(self) -> bool:
        key = self.server.fake.api_key
        if not key:
            return True
        got = self.headers.get("api-key") or self.headers.get("Authorization", "").removeprefix("Bearer ")
        if got == key:
            return True
        self._send(401, {"error": {"message": f"Incorrect API key provided: {got}", "type": "invalid_request_error"}})
        return False

    def _fault(self, mode: str, release: threading.Event) -> bool:
        """Answer for the fault modes shared by every path; False when the request should go on."""
        fake = self.server.fake
        if mode == "http500":
            self._send(500, {"error": {"message": "fake internal error", "type": "server_error"}})
        elif mode == "rate_limit":
            self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": fake.retry_after})
        elif mode == "stall":
            if release.wait(fake.stall_s):  # released: go away without a word
                self.close_connection = True
                return True
            return False
        else:
            return False
        return True

    def do_GET(self) -> None:
        mode, release = self.server.fake._current()
        path, _ = self._record(None)
        if not self._authorized() or self._fault(mode, release):
            return
        if path.endswith("/models") and self.server.fake.has_models:
            model = self.server.fake.model
            self._send(200, {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "fake"}]})
        else:
            self._send(404, {"error": {"message": f"no route {path}"}})

    def do_POST(self) -> None:
        mode, release = self.server.fake._current()
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._record(None)
            self._send(411 if length == 0 else 413, {"error": {"message": "bad Content-Length"}})
            return
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        path, _ = self._record(body)
        if not self._authorized():
            return
        if not path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {path}"}})
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            self._send(400, {"error": {"message": "model and messages are required"}})
            return
        if self._fault(mode, release):
            return
        self._send(200, self.server.fake._completion(mode, body))


class FakeCloud:
    """An OpenAI-compatible server on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        mode: str = "good",
        intents: dict[str, str] | None = None,
        default_intent: str = "oos",
        answer: str | None = None,
        content: str | None = None,
        unknown_label: str = "definitely_not_a_label",
        retry_after: str = "2",
        stall_s: float = 30.0,
        delay_s: float = 0.0,
        api_key: str = "",
        model: str = "fake-model",
        prefix: str = "/v1",
        has_models: bool = True,
        certfile: str = "",
        keyfile: str = "",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.host, self.port, self.prefix = host, port, prefix
        self.intents = dict(intents or {})
        self.default_intent = default_intent
        self.answer = answer
        self.content = content
        self.unknown_label = unknown_label
        self.retry_after = retry_after
        self.stall_s = stall_s
        self.delay_s = delay_s
        self.api_key = api_key
        self.model = model
        self.has_models = has_models  # False: GET .../models is a 404, as on Azure deployment URLs
        self.requests: list[Received] = []
        self._tls: ssl.SSLContext | None = None
        if certfile:  # serve HTTPS with this certificate (PEM; the key may be in the same file)
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(certfile, keyfile or None)
        self._mode = mode
        self._cond = threading.Condition()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> FakeCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> FakeCloud:
        wanted = self._mode
        self.up()
        if wanted == "down":
            self.down()
        return self

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}:{self.port}{self.prefix}"

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if value == "down":
            self.down()
            return
        with self._lock:
            was, self._mode = self._mode, value
            release, self._release = self._release, threading.Event()
        release.set()  # stalled requests end now
        if was == "down":
            self.up()

    def up(self) -> None:
        """Listen (again) on the same port; a server that was down answers as `good` unless told otherwise."""
        with self._lock:
            if self._closed:
                raise RuntimeError("FakeCloud is closed")
            if self._server is not None:
                return
            server = _Server((self.host, self.port), self)
            if self._tls is not None:
                # Handshake lazily, in the handler's thread, so a bad client cannot block accept().
                server.socket = self._tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            self.port = server.server_address[1]
            self._server = server
            if self._mode == "down":
                self._mode = "good"
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-cloud", daemon=True
            )
            self._thread.start()

    def down(self) -> None:
        """Close the listening socket (connections refused) and cut every open connection."""
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
            if not self._closed:
                self._mode = "down"
            release, self._release = self._release, threading.Event()
            conns = list(self._conns)
        release.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.down()
        with self._lock:
            self._closed = True

    # --- what was received --------------------------------------------------------------------------

    @property
    def chat_requests(self) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        """Block (without polling) until at least n chat requests have arrived; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.chat_requests) >= n, timeout)

    # --- used by the handler ------------------------------------------------------------------------

    def _current(self) -> tuple[str, threading.Event]:
        with self._lock:
            return self._mode, self._release

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    def _record(self, received: Received) -> None:
        with self._cond:
            self.requests.append(received)
            self._cond.notify_all()

    def _intent_for(self, body: dict[str, Any]) -> str:
        users = [m.get("content") for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        text = users[-1] if users and isinstance(users[-1], str) else ""
        candidates = [text.casefold()]
        for line in text.splitlines():  # the client may send the text JSON-quoted
            try:
                decoded = json.loads(line)
            except ValueError:
                continue
            if isinstance(decoded, str):
                candidates.append(decoded.casefold())
        for key, label in self.intents.items():
            if any(key.casefold() in c for c in candidates):
                return label
        return self.default_intent

    def _completion(self, mode: str, body: dict[str, Any]) -> dict[str, Any]:
        if mode == "garbage":
            content = "Sure! I think you want the lights on :)"
        elif mode == "unknown_label":
            content = json.dumps({"intent": self.unknown_label, "answer": "done"})
        elif self.content is not None:
            content = self.content
        else:
            intent = self._intent_for(body)
            content = json.dumps({"intent": intent, "answer": self.answer or f"cloud says {intent}"})
        if mode == "good" and self.delay_s > 0:
            time.sleep(self.delay_s)  # pacing: a cloud that answers slowly is the scenario under test
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="A fake OpenAI-compatible endpoint for manual tests of edge.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--mode", choices=MODES, default="good")
    ap.add_argument("--intent", action="append", default=[], metavar="TEXT=LABEL",
                    help="answer LABEL when the request contains TEXT (repeatable)")
    ap.add_argument("--default-intent", default="oos")
    ap.add_argument("--api-key", default="", help="require this key")
    args = ap.parse_args(argv)
    intents = dict(item.rsplit("=", 1) for item in args.intent if "=" in item)
    cloud = FakeCloud(host=args.host, port=args.port, mode=args.mode, intents=intents,
                      default_intent=args.default_intent, api_key=args.api_key).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"fake cloud at {cloud.base_url} (mode {cloud.mode}); Ctrl-C to stop", flush=True)
    try:
        stop.wait()
    finally:
        cloud.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
