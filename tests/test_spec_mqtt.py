"""../shared/spec/interface.md, "MQTT" -> "Request": every kind of careless payload, sentence by sentence,
through one real daemon on a real mosquitto, asking what a requester sees on each door it may wait at.

tests/test_daemon.py and tests/test_poison.py check the codes on `<base>/error`; this file checks the rest of
each sentence for every error class at once: "An error also goes where the result would have gone ... to the
MQTT 5 Response Topic with the request's Correlation Data (known even when the payload is garbage), or to
`reply_to` when the JSON was readable", the 16 KiB limit at its edge, and which payloads are JSON at all.
"""

from __future__ import annotations

import json
import uuid
from typing import Iterator

import pytest

from conftest import Broker, Daemon, daemon_config
from mqttc import TestClient

BASE = "edge/specmq"
LIMIT = 16 * 1024  # "Payloads over the configured limit (default 16 KiB)"
ERROR_KEYS = {"id", "error", "message"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Daemon]]:
    tmp = tmp_path_factory.mktemp("spec-mqtt")
    broker = Broker(tmp / "b").start()
    d = Daemon(tmp / "d", daemon_config(broker, tmp / "s", device_id="specmq"), env={"EDGE_CLOUD_API_KEY": ""})
    d.start()
    yield broker, d
    try:
        assert d.proc is not None and d.proc.poll() is None, "a payload stopped the daemon:\n" + d.log_text()
        assert d.stop() == 0, d.log_text()
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()


@pytest.fixture
def client(served: tuple[Broker, Daemon]) -> Iterator[TestClient]:
    c = TestClient(served[0].port)
    yield c
    c.close()


def _padded(n: int) -> bytes:
    """A JSON request of exactly n bytes."""
    head = b'{"id": "edge", "text": "what is the weather'
    return head + b" " * (n - len(head) - 2) + b'"}'


# (payload, error code, the id the error carries: one value, or a tuple of the values allowed)
ERRORS = {
    "invalid utf-8": (b"\xff\xfe{\"text\": \"hi\"}", "invalid_utf8", None),
    "not json": (b'{"id": "a1", "text": ', "invalid_json", (None, "a1")),  # the id may be salvaged
    "a json list": (b'["what is the weather"]', "not_an_object", None),
    "a json list after blanks": (b' \n\t ["what is the weather"]', "not_an_object", None),
    "a json string": (b'  {"text": "x"} trailing', "invalid_json", None),
    "no text": (b'{"id": "a2"}', "missing_text", "a2"),
    "empty text": (b'{"id": "a3", "text": ""}', "empty_text", "a3"),
    "blank text": (b'{"id": "a4", "text": " \\n\\t "}', "empty_text", "a4"),
    "text a number": (b'{"id": "a5", "text": 5}', "invalid_field", "a5"),
    "text a list": (b'{"id": "a6", "text": ["hi"]}', "invalid_field", "a6"),
    "id a number": (b'{"id": 7, "text": "hi"}', "invalid_field", None),
    "allow_cloud a string": (b'{"id": "a8", "text": "hi", "allow_cloud": "false"}', "invalid_field", "a8"),
    "language a number": (b'{"id": "a9", "text": "hi", "language": 1}', "invalid_field", "a9"),
    "language not served": (b'{"id": "a10", "text": "hi", "language": "tlh"}', "invalid_field", "a10"),
    "lone surrogate in text": (b'{"id": "a11", "text": "hi \\ud800"}', "invalid_field", "a11"),
    "lone surrogate in id": (b'{"id": "a\\udc80", "text": "hi"}', "invalid_field", None),
    "a number python refuses": (b'{"id": "a13", "text": "hi", "n": 1e99999}', "invalid_json", (None, "a13")),
    "5000 digits": (b'{"id": "a14", "text": "hi", "n": ' + b"9" * 5000 + b"}", "invalid_json", (None, "a14")),
    "over the limit": (_padded(LIMIT + 1), "payload_too_large", None),
    "empty payload": (b"", "empty_text", None),
    "blank payload": (b"  \n ", "empty_text", None),
}


@pytest.mark.parametrize("what", list(ERRORS))
def test_an_error_reaches_the_error_topic_and_the_response_topic_with_its_correlation_data(
        client: TestClient, what: str) -> None:
    """`<base>/error`: `{"id": str or null, "error": code, "message": str}`; "An error also goes where the result
    would have gone ... to the MQTT 5 Response Topic with the request's Correlation Data (known even when the
    payload is garbage)"; "the daemon keeps serving"."""
    payload, code, rid = ERRORS[what]
    token = uuid.uuid4().hex.encode()
    mine = client.subscribe(f"spec/mine/{token.decode()}")
    errors = client.subscribe(f"{BASE}/error")
    client.publish(f"{BASE}/request", payload, response_topic=f"spec/mine/{token.decode()}", correlation=token)
    err = errors.json()
    assert set(err) == ERROR_KEYS and err["error"] == code, (what, err)
    assert err["id"] in rid if isinstance(rid, tuple) else err["id"] == rid, (what, err)
    assert isinstance(err["message"], str) and err["message"], err
    reply = mine.get()
    assert reply.correlation == token and reply.json() == err, (what, reply)
    assert client.request(BASE, {"text": "what is the weather"})["intent"] == "weather"


@pytest.mark.parametrize("what", ["no text", "empty text", "text a number", "allow_cloud a string",
                                  "language not served", "lone surrogate in text"])
def test_an_error_reaches_reply_to_when_the_json_was_readable(client: TestClient, what: str) -> None:
    """"... or to `reply_to` when the JSON was readable" (a 3.1.1 requester has no Response Topic)."""
    payload, code, rid = ERRORS[what]
    body = json.loads(payload)
    topic = f"spec/r2/{uuid.uuid4().hex}"
    body["reply_to"] = topic
    mine = client.subscribe(topic)
    client.publish(f"{BASE}/request", json.dumps(body).encode())
    got = mine.json()
    assert got["error"] == code and got["id"] == rid, (what, got)


def test_a_payload_at_the_limit_is_served_and_one_byte_over_is_refused(client: TestClient) -> None:
    """"Payloads over the configured limit (default 16 KiB)": 16,384 bytes is not over it."""
    results = client.subscribe(f"{BASE}/result")
    errors = client.subscribe(f"{BASE}/error")
    client.publish(f"{BASE}/request", _padded(LIMIT))
    assert results.json()["id"] == "edge"
    client.publish(f"{BASE}/request", _padded(LIMIT + 1))
    assert errors.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("payload,text", [
    (b"what is the weather", "what is the weather"),
    (b"  what is the weather {today}", "what is the weather {today}"),  # `{` not first: plain text
    (b"what's [the] weather", "what's [the] weather"),
    (b'\n  {"text": "what is the weather", "id": "j1"}', "what is the weather"),  # first non-blank `{`: JSON
])
def test_json_is_what_starts_with_a_brace_or_bracket_and_anything_else_is_plain_text(
        client: TestClient, payload: bytes, text: str) -> None:
    """"A JSON object, or plain UTF-8 text (taken as {"text": ...}). A payload whose first non-blank character is
    `{` or `[` is JSON ... anything else is plain text." "A missing id is generated"."""
    token = uuid.uuid4().hex
    mine = client.subscribe(f"spec/pt/{token}")
    client.publish(f"{BASE}/request", payload, response_topic=f"spec/pt/{token}", correlation=token.encode())
    r = mine.json()
    assert "error" not in r and r["text"].strip() == text, r
    assert isinstance(r["id"], str) and r["id"], r


def test_an_id_and_text_come_back_as_sent(client: TestClient) -> None:
    """Result: `"id": str, "text": str` — the request's own (non-ASCII, emoji, quotes), not a normalised copy."""
    rid = "Ünïcødé-🙂-\"q\"-" + uuid.uuid4().hex[:6]
    text = "what's the weather in Zürich 🙂"
    r = client.request(BASE, {"id": rid, "text": text})
    assert r["id"] == rid and r["text"] == text, r
