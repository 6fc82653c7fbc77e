"""Issue 12 from outside, on a real broker: no payload stops the daemon or makes it act twice.

Each poison payload is followed by a good request (the daemon still serves),
and the whole corpus by a restart: a poison message left unacknowledged would
be redelivered then and crash-loop the daemon (what issue 12 found).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from conftest import daemon_config

BASE = "edge/test"
REQUEST, RESULT, ERROR = f"{BASE}/request", f"{BASE}/result", f"{BASE}/error"

# (name, payload, publish options, expected error code or None for a result)
CORPUS = [
    ("lone_surrogate_id", b'{"id": "x\\udc80", "text": "hello"}', {}, "invalid_field"),
    ("lone_surrogate_text", b'{"text": "hi \\ud800"}', {}, "invalid_field"),
    ("5000_digits", b'{"text": "hi", "n": ' + b"1" * 5000 + b"}", {}, "invalid_json"),
    ("1e999999", b'{"text": "hi", "n": 1e999999}', {}, "invalid_json"),
    ("nul_bytes_text", b"turn on\x00 the lights", {}, None),
    ("nul_escape_json", b'{"id": "nul-1", "text": "lights\\u0000on"}', {}, None),
    ("deep_nesting", b"[" * 16000, {}, "invalid_json"),
    ("10kb_id", b'{"id": "' + b"i" * 10240 + b'", "text": "hi"}', {}, "invalid_field"),
    ("huge_correlation", b'{"id": "corr-1", "text": "what is the weather"}',
     {"response_topic": "test/poison/reply", "correlation": b"c" * 60000}, None),
    ("qos0", b'{"id": "q0", "text": "what is the weather"}', {"qos": 0}, None),
    ("qos2", b'{"id": "q2", "text": "what is the weather"}', {"qos": 2}, None),
]


def _next_answer(stream, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        m = stream.get(max(0.01, deadline - time.monotonic()))
        if m.topic in (RESULT, ERROR):
            return m.topic, m.json()


def _fence(c) -> str:
    """Publish a good request with a fresh id (a barrier: answered after everything before it)."""
    fence = f"fence-{uuid.uuid4().hex[:8]}"
    c.publish(REQUEST, json.dumps({"id": fence, "text": "turn on the kitchen lights"}))
    return fence


def _answers_until(stream, fence: str, timeout: float = 10.0) -> list:
    """Every answer on result/error before the result for the request with id `fence`."""
    before = []
    while True:
        topic, body = _next_answer(stream, timeout)
        if topic == RESULT and body.get("id") == fence:
            return before
        before.append((topic, body))


def test_poison_corpus_then_a_restart(broker, daemon_factory, client_factory, tmp_path):
    cfg = daemon_config(broker, tmp_path / "state", health={"interval_s": 60.0})
    d = daemon_factory(cfg)
    c = client_factory(broker)
    stream = c.subscribe(f"{BASE}/+")
    reply = c.subscribe("test/poison/reply")
    for name, payload, opts, code in CORPUS:
        c.publish(REQUEST, payload, **opts)
        topic, body = _next_answer(stream)
        if code is None:
            assert topic == RESULT and isinstance(body["slots"], list) and body["intent"], (name, body)
        else:
            assert topic == ERROR and body["error"] == code, (name, body)
        assert _answers_until(stream, _fence(c)) == [], name  # exactly one answer, and it still serves
        assert d.proc.poll() is None, f"{name} stopped the daemon:\n{d.log_text()[-2000:]}"
    got = reply.get()
    assert got.correlation == b"c" * 60000 and got.json()["id"] == "corr-1"
    assert d.stop() == 0
    stream.drain()
    d2 = daemon_factory(cfg)
    # The broker redelivers the resumed session's unacknowledged requests before anything newer,
    # and the daemon answers in order: whatever was redelivered is answered before the fence.
    again = _answers_until(stream, _fence(c))
    assert again == [], "something was redelivered and answered again after the restart"
    assert c.request(BASE, {"text": "book a flight to rome"})["intent"] == "book_flight"
    assert "Traceback" not in d.log_text() + d2.log_text()


def test_a_retained_request_never_runs_not_at_start_reconnect_or_restart(broker, daemon_factory, client_factory,
                                                                           tmp_path):
    c = client_factory(broker)
    at_start = c.subscribe(RESULT)
    c.publish(REQUEST, json.dumps({"id": "door", "text": "unlock the front door"}), retain=True)
    cfg = daemon_config(broker, tmp_path / "state", mqtt={"reconnect_min_s": 0.2, "reconnect_max_s": 0.5})
    d = daemon_factory(cfg)
    assert c.request(BASE, {"text": "what is the weather"})["id"]  # a barrier: answered in order, after it
    # at start: this client is gone with the broker's restart, so its results are read now
    assert "door" not in [m.json()["id"] for m in at_start.drain()], "the retained request ran at start"
    assert "dropped a retained request" not in d.log_text()
    broker.restart(down_s=0.5)
    c2 = client_factory(broker)
    results = c2.subscribe(RESULT)
    assert c2.request(BASE, {"text": "what is the weather"}, timeout=20)["id"]
    d.stop()
    d = daemon_factory(cfg)
    d.kill()
    d = daemon_factory(cfg)
    assert c2.request(BASE, {"text": "what is the weather"}, timeout=20)["id"]
    ids = [m.json()["id"] for m in results.drain()]
    assert "door" not in ids, "the retained request ran"
    # Retain Handling 2: the broker never even sent it (on 3.1.1 the daemon has to drop it itself).
    assert "dropped a retained request" not in d.log_text()


def test_a_retained_publish_is_answered_once_live_and_clearing_it_is_an_empty_request(
        broker, daemon_factory, client_factory, tmp_path):
    """README (MQTT): a request published with the retain flag while the daemon listens is answered
    once, as it arrives; its retained copy never runs again (a restart); clearing the copy with an
    empty retained message, as the daemon's log advises, reaches it live too: `empty_text`."""
    cfg = daemon_config(broker, tmp_path / "state")
    d = daemon_factory(cfg)
    c = client_factory(broker)
    stream = c.subscribe(f"{BASE}/+")
    c.publish(REQUEST, json.dumps({"id": "live-retained", "text": "what is the weather"}), retain=True)
    topic, body = _next_answer(stream)
    assert topic == RESULT and body["id"] == "live-retained", body
    assert _answers_until(stream, _fence(c)) == []  # once
    assert d.stop() == 0
    d = daemon_factory(cfg)  # the retained copy is still on the broker: never delivered to the daemon
    assert _answers_until(stream, _fence(c)) == []
    c.publish(REQUEST, b"", retain=True)  # clears the broker's copy; delivered live as an empty request
    topic, body = _next_answer(stream)
    assert topic == ERROR and body["error"] == "empty_text", body
    assert _answers_until(stream, _fence(c)) == []
    assert d.stop() == 0


def test_a_retained_request_on_mqtt_311_is_acked_and_dropped_with_a_log_line(broker, daemon_factory, client_factory,
                                                                             tmp_path):
    c = client_factory(broker, protocol=4)  # a 3.1.1 daemon never sees an MQTT 5 Response Topic
    c.publish(REQUEST, json.dumps({"id": "door", "text": "unlock the front door"}), retain=True)
    results = c.subscribe(RESULT)
    d = daemon_factory(daemon_config(broker, tmp_path / "state", mqtt={"protocol": 4}))
    assert c.request(BASE, {"text": "what is the weather"})["id"]
    assert "door" not in [m.json()["id"] for m in results.drain()]
    assert "dropped a retained request" in d.log_text()
    d.stop()
    d = daemon_factory(daemon_config(broker, tmp_path / "state", mqtt={"protocol": 4}))
    assert c.request(BASE, {"text": "what is the weather"})["id"]
    assert d.log_text().count("dropped a retained request") == 1  # redelivered as retained at subscribe only


def test_a_request_cannot_command_another_device(broker, daemon_factory, client_factory, tmp_path):
    a = daemon_factory(daemon_config(broker, tmp_path / "a", device_id="A"))
    daemon_factory(daemon_config(broker, tmp_path / "b", device_id="B"))
    c = client_factory(broker)
    b_requests = c.subscribe("edge/B/request")
    b_results = c.subscribe("edge/B/result")
    errors = c.subscribe("edge/A/error")
    c.publish("edge/A/request", json.dumps({"id": "evil", "text": "unlock the door", "reply_to": "edge/B/request"}))
    err = errors.json()
    assert err["id"] == "evil" and err["error"] == "invalid_field" and "request" in err["message"]
    # Barrier: A answers in order, so what it did for "evil" is out before its answer to this.
    assert c.request("edge/A", {"text": "what time is it", "id": "after-evil"})["id"] == "after-evil"
    assert b_requests.drain() == [] and b_results.drain() == [], "device A published on device B's topics"
    assert a.proc.poll() is None


@pytest.mark.parametrize("protocol", [5, 4])
def test_a_requester_learns_its_request_failed_on_its_own_reply_topic(protocol, broker, daemon_factory,
                                                                       client_factory, tmp_path):
    daemon_factory(daemon_config(broker, tmp_path / "state"))
    c = client_factory(broker, protocol=protocol)
    box = c.subscribe("test/mine")
    if protocol == 5:
        c.publish(REQUEST, b'{"id": "bad-1", "text": ', response_topic="test/mine", correlation=b"k1")
        got = box.get()
        assert got.correlation == b"k1"
    else:
        c.publish(REQUEST, b'{"id": "bad-1", "text": 42, "reply_to": "test/mine"}')
        got = box.get()
    body = got.json()
    assert body["id"] == "bad-1" and body["error"] in ("invalid_json", "invalid_field")


def test_results_say_they_are_json_payload_format_indicator_and_content_type(broker, daemon_factory, tmp_path):
    import threading

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    daemon_factory(daemon_config(broker, tmp_path / "state"))
    got: dict = {}
    done, subscribed = threading.Event(), threading.Event()
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)

    def on_message(_c, _u, m):
        if m.topic == RESULT:
            got["pfi"] = getattr(m.properties, "PayloadFormatIndicator", None)
            got["ct"] = getattr(m.properties, "ContentType", None)
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.subscribe(RESULT, 1)
        assert subscribed.wait(5)
        client.publish(REQUEST, b"what is the weather", qos=1)
        assert done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    assert got == {"pfi": 1, "ct": "application/json"}


@pytest.mark.slow
def test_a_link_blip_while_cloud_calls_are_in_flight_makes_no_second_call_for_any_id(broker, daemon_factory,
                                                                                     client_factory, tmp_path):
    from cloud_server import FakeCloud

    with FakeCloud(default_intent="weather", delay_s=0.3) as cloud:
        section = {"base_url": cloud.base_url, "model": "fake", "mode": "cloud_preferred", "workers": 1,
                   "timeout_s": 30.0, "max_per_hour": 100000, "max_per_day": 1000000}
        fast = {"keepalive_s": 5, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}
        d = daemon_factory(daemon_config(broker, tmp_path / "state", mqtt=fast, cloud=section))
        c = client_factory(broker)
        # Without the join by id this made 15 calls for these 12 ids (issue 12: 114 for 60).
        ids = [f"blip-{i}" for i in range(12)]
        for rid in ids:
            c.publish(REQUEST, json.dumps({"id": rid, "text": "will it rain tomorrow"}), wait=False)
        # A call done and one in flight (0.3 s each, one worker), the rest queued, none of those acked yet.
        assert cloud.wait_for(2, timeout=15), "the daemon never called the cloud"
        broker.restart(down_s=1.0)  # the broker redelivers every unacknowledged request
        assert cloud.wait_for(len(ids), timeout=30), f"{len(cloud.chat_requests)} cloud calls for {len(ids)} ids"
        # Barrier: a later request is handled after the redelivered ones, and with one cloud worker its
        # call is made after any second call they caused. Once it is answered, every call is in.
        c2 = client_factory(broker)
        results = c2.subscribe(RESULT)
        c2.publish(REQUEST, json.dumps({"id": "fence", "text": "will it rain tomorrow, fence"}))
        while results.json(timeout=30)["id"] != "fence":
            pass
        calls = [json.dumps(r.body) for r in cloud.chat_requests]
        assert sum("fence" in t for t in calls) == 1
        assert len(calls) - 1 == len(ids), f"{len(calls) - 1} cloud calls for {len(ids)} ids"
        assert d.proc.poll() is None
