"""Property test: whatever bytes arrive on `<base>/request`, each gets one answer and the daemon keeps serving.

One broker and one daemon for the whole module (starting a daemon per example
would take hours). Each example publishes one arbitrary payload and then a
"fence": a well-formed request with a fresh id. The daemon handles requests in
order and publishes a batch's errors before its results, so everything that
arrives on `<base>/result` or `<base>/error` before the fence's result is the
answer to the arbitrary payload: there must be exactly one, and it must agree
with what the contract says about that payload.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import Broker, Daemon, daemon_config
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mqttc import Inbox, TestClient
from poison_strategies import raw_json_request

from edge import contract

BASE = "edge/test"
REQUEST, RESULT, ERROR = f"{BASE}/request", f"{BASE}/result", f"{BASE}/error"
LIMIT = 16384  # mqtt.max_payload_bytes, the default
RESULT_KEYS = {"id", "text", "intent", "confidence", "source", "escalated", "reason", "answer", "model", "latency_ms", "ts", "slots"}
ERROR_CODES = {contract.PAYLOAD_TOO_LARGE, contract.INVALID_UTF8, contract.INVALID_JSON, contract.NOT_AN_OBJECT,
               contract.MISSING_TEXT, contract.EMPTY_TEXT, contract.INVALID_FIELD, contract.INTERNAL}


@dataclass
class Served:
    broker: Broker
    daemon: Daemon
    client: TestClient
    stream: Inbox  # <base>/+ : results and errors in the order the daemon published them
    outcomes: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    broker = Broker(root / "broker").start()
    daemon = Daemon(root / "daemon", daemon_config(broker, root / "state", health={"interval_s": 60.0}))
    daemon.start()
    client = TestClient(broker.port)
    s = Served(broker, daemon, client, client.subscribe(f"{BASE}/+"))
    yield s
    client.close()
    code = daemon.stop()  # SIGTERM: after all that, it must still drain and exit cleanly
    broker.stop()
    print(f"\nfuzz outcomes: {dict(sorted(s.outcomes.items()))}")
    assert code == 0, f"the daemon exited {code} on SIGTERM:\n{daemon.log_text()[-3000:]}"


def exchange(s: Served, payload: bytes, timeout: float = 8.0) -> list[tuple[str, dict[str, Any]]]:
    """Publish payload then a fence; return what arrived on result/error before the fence's result."""
    fence = f"fence-{uuid.uuid4().hex}"
    s.client.publish(REQUEST, payload, wait=False)
    s.client.publish(REQUEST, json.dumps({"id": fence, "text": "turn on the kitchen lights"}), wait=False)
    before: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout  # status messages of a flapping link must not extend it
    while True:
        try:
            msg = s.stream.get(max(0.0, deadline - time.monotonic()))
        except AssertionError:
            raise AssertionError(
                f"no answer to the fence within {timeout} s (daemon alive: {s.daemon.proc.poll() is None});"  # type: ignore[union-attr]
                f" got before it: {before}\n{s.daemon.log_text()[-3000:]}"
            ) from None
        if msg.topic not in (RESULT, ERROR):
            continue  # status, health, our own requests
        body = msg.json()
        if msg.topic == RESULT and body.get("id") == fence:
            return before
        before.append((msg.topic, body))


# -- strategies -------------------------------------------------------------------------------

_leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
         | st.text(max_size=30))
json_values = st.recursive(
    _leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
# Objects shaped like requests: the known fields, each maybe of the wrong type, plus random others.
request_objects = st.tuples(
    st.fixed_dictionaries({}, optional={
        "text": st.text(max_size=200) | json_values,
        "id": st.text(min_size=1, max_size=300) | json_values,
        "reply_to": st.text(max_size=40) | json_values,  # control characters included, on purpose
        "allow_cloud": st.booleans() | json_values,
    }),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
).map(lambda t: {**t[1], **t[0]})


# Mostly well-formed requests, so that the paths after parsing (classification, the reply
# topic, the answered-id cache) see arbitrary values too, not only the parser.
plausible_requests = st.fixed_dictionaries(
    {"text": st.text(min_size=1, max_size=100)},
    optional={"id": st.text(min_size=1, max_size=40), "reply_to": st.text(min_size=1, max_size=30),
              "allow_cloud": st.booleans()},
)


def _deep(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"text":' * depth + b'"x"' + b"}" * depth  # text is an object, deep down


def _huge(char: str, target: int, as_json: bool) -> bytes:
    """A payload of about `target` bytes (straddling the limit) made of one repeated character."""
    unit = len(char.encode())
    if as_json:
        return ('{"id":"huge","text":"' + char * max(1, (target - 22) // unit) + '"}').encode()
    return (char * max(1, target // unit)).encode()


payloads = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=300).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    request_objects.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    plausible_requests.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.builds(_deep, st.integers(1, 12000), st.sampled_from(["array", "object", "text"])),
    st.builds(_huge, st.sampled_from(["a", " ", "é", "€", "\U0001f600", "\x01"]),
              st.integers(LIMIT - 48, LIMIT + 48), st.booleans()),
    raw_json_request(),  # lone surrogates as JSON escapes, 5000-digit ints, 1e999999: issue 12
)


def _nesting(payload: bytes) -> int:
    """Bracket depth, counting brackets inside strings too: only used to spot deep nesting."""
    depth = deepest = 0
    for byte in payload:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _given_id(payload: bytes) -> str | None:
    """The id the payload names, when it names a usable one."""
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and 0 < len(rid) <= 256 else None


# `fresh` is function-scoped, so hypothesis shares one instance across all examples and warns.
# That is intended: it empties the stream of start-up messages once before the run and checks
# once after it that the daemon is still alive. Each example finds its own answer with a fence,
# so nothing needs resetting between examples; hence the suppression of that one health check.
@pytest.fixture
def fresh(served: Served) -> Iterator[Served]:
    assert served.daemon.proc is not None and served.daemon.proc.poll() is None
    served.stream.drain()
    yield served
    assert served.daemon.proc.poll() is None, f"the daemon exited:\n{served.daemon.log_text()[-3000:]}"


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
# A reply topic with a control character: valid JSON, but the broker drops the connection of
# whoever publishes to it, and paho would resend it after every reconnect.
@example(payload=b'{"id": "ctl", "text": "turn on the lights", "reply_to": "reply/\\u0007bell"}')
@example(payload=b'{"id": "x\\udc80", "text": "hello"}')
@example(payload=b'{"text": "hi", "n": ' + b"1" * 5000 + b"}")
def test_every_payload_gets_exactly_one_answer(fresh: Served, payload: bytes) -> None:
    answers = exchange(fresh, payload)
    assert len(answers) == 1, f"{len(answers)} answers to {payload[:200]!r}: {answers}"
    topic, body = answers[0]
    if _nesting(payload) > 900:
        # Python's JSON parser gives up near the recursion limit (1000 in the daemon), counted
        # from the caller's stack depth, and hypothesis raises the limit in this process: so
        # this test cannot predict the verdict on deep nesting. Only its shape is checked.
        assert (topic == ERROR and body["error"] in ERROR_CODES) or (topic == RESULT and set(body) == RESULT_KEYS)
        fresh.outcomes["deep"] = fresh.outcomes.get("deep", 0) + 1
        return
    try:
        contract.parse_request(payload, LIMIT, forbidden_reply_prefixes=("homeassistant/",))
    except contract.BadRequest as exc:
        # The contract rejects it: the daemon must say so, with the same code and the id it could read.
        assert topic == ERROR and body == {"id": exc.request_id, "error": exc.code, "message": body["message"]}, body
        fresh.outcomes[exc.code] = fresh.outcomes.get(exc.code, 0) + 1
        return
    if topic == ERROR:
        # The only thing the daemon may refuse beyond the contract's own checks: a reply_to
        # topic that the broker would refuse (and disconnect the daemon for publishing to).
        assert body["error"] == contract.INVALID_FIELD and "reply_to" in body["message"], body
        assert _given_id(payload) in (None, body["id"])  # without one, the id generated for it
        fresh.outcomes["reply_to_refused"] = fresh.outcomes.get("reply_to_refused", 0) + 1
        return
    assert set(body) == RESULT_KEYS, body
    rid = _given_id(payload)
    assert rid is None or body["id"] == rid
    fresh.outcomes["result"] = fresh.outcomes.get("result", 0) + 1


def test_the_daemon_still_serves_after_the_fuzz(served: Served) -> None:
    assert served.daemon.proc is not None and served.daemon.proc.poll() is None, served.daemon.log_text()[-3000:]
    reply = served.client.request(BASE, {"id": "after-fuzz", "text": "what is my checking account balance"})
    assert set(reply) == RESULT_KEYS and reply["id"] == "after-fuzz"
    assert "Traceback" not in served.daemon.log_text(), served.daemon.log_text()[-3000:]
