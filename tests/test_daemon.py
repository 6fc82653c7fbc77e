"""The daemon end to end, driven as a user would: a real mosquitto, the real model, a real process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, daemon_config, free_port

BASE = "edge/test"
RESULT_KEYS = {"id", "text", "intent", "confidence", "source", "escalated", "reason", "answer", "model", "latency_ms", "ts", "slots"}
CLINC = Path(os.environ.get("EDGE_CLINC150", ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json"))


@pytest.fixture
def running(broker, daemon_factory, tmp_path):
    """A broker and a daemon on it (base topic edge/test)."""
    d = daemon_factory(daemon_config(broker, tmp_path / "state"))
    return broker, d


def _labels() -> set[str]:
    from edge.model import Model

    return set(Model.load().labels) | {"oos"}


def test_request_response_mqtt5(running, client_factory):
    broker, _ = running
    c = client_factory(broker)
    results = c.subscribe(f"{BASE}/result")
    by_intent = c.subscribe(f"{BASE}/intent/+")
    reply = c.request(BASE, {"text": "what is my checking account balance", "id": "r1"})
    assert set(reply) == RESULT_KEYS
    assert reply["id"] == "r1" and reply["intent"] == "balance"
    assert reply["source"] == "edge" and reply["escalated"] is False and reply["reason"] == "confident"
    assert reply["answer"] is None and 0 < reply["confidence"] <= 1
    assert reply["model"].count("@") == 1 and reply["ts"].endswith("Z")
    assert results.json()["id"] == "r1"
    msg = by_intent.get()
    assert msg.topic == f"{BASE}/intent/balance" and msg.json()["id"] == "r1"


def test_plain_text_and_generated_id(running, client_factory):
    broker, _ = running
    c = client_factory(broker)
    reply = c.request(BASE, "set an alarm for 7 am tomorrow")
    assert reply["intent"] == "alarm" and reply["text"] == "set an alarm for 7 am tomorrow"
    assert isinstance(reply["id"], str) and reply["id"]


def test_reply_to_for_mqtt311_clients(running, client_factory):
    broker, _ = running
    c = client_factory(broker, protocol=4)
    reply = c.request(BASE, {"text": "please tell me a joke", "id": "old-client"})
    assert reply["id"] == "old-client" and reply["intent"] == "tell_joke"



def test_a_311_daemon_never_sees_a_response_topic_reply_to_is_the_way(broker, daemon_factory, client_factory, tmp_path):
    """README (MQTT): with mqtt.protocol = 4 the broker strips MQTT 5 properties on the way to the daemon."""
    daemon_factory(daemon_config(broker, tmp_path / "state", mqtt={"protocol": 4}))
    c = client_factory(broker)  # an MQTT 5 requester
    lost = c.subscribe("test/lost")
    results = c.subscribe(f"{BASE}/result")
    c.publish(f"{BASE}/request", json.dumps({"id": "v5", "text": "please tell me a joke"}),
              response_topic="test/lost", correlation=b"k")
    assert results.json()["id"] == "v5"  # answered on <base>/result only
    mine = c.subscribe("test/mine")
    c.publish(f"{BASE}/request", json.dumps({"id": "v4", "text": "please tell me a joke", "reply_to": "test/mine"}))
    assert mine.json()["id"] == "v4"
    # v4 was answered after v5 (one publisher, one subscriber: mosquitto keeps the order), so a reply to
    # v5's Response Topic would have arrived before v4's.
    assert lost.drain() == []

def test_mosquitto_rr(running):
    broker, _ = running
    rr = shutil.which("mosquitto_rr")
    if rr is None:
        pytest.skip("mosquitto_rr not installed (apt-get install mosquitto-clients)")
    out = subprocess.run(
        [rr, "-p", str(broker.port), "-h", "127.0.0.1", "-t", f"{BASE}/request", "-e", "test/rr/reply",
         "-m", json.dumps({"text": "what's the weather like today", "id": "rr-1"}), "-W", "10"],
        capture_output=True, text=True, timeout=20,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result) == RESULT_KEYS and result["id"] == "rr-1" and result["intent"] == "weather"


BAD = [
    (b"\xff\xfe not utf-8", "invalid_utf8", None),
    (b"{not json", "invalid_json", None),
    (b"[1, 2, 3]", "not_an_object", None),
    (b'{"id": "x1"}', "missing_text", "x1"),
    (b'{"id": "x2", "text": "   "}', "empty_text", "x2"),
    (b"   ", "empty_text", None),
    (b'{"id": "x3", "text": 42}', "invalid_field", "x3"),
    (b'{"id": "x4", "text": "hi", "reply_to": 7}', "invalid_field", "x4"),
    (b'{"id": "x5", "text": "hi", "reply_to": "a/+/b"}', "invalid_field", "x5"),
    (b'{"id": "x6", "text": "hi", "allow_cloud": "yes"}', "invalid_field", "x6"),
    (b'{"id": 12, "text": "hi"}', "invalid_field", None),
    (b'{"text": "' + b"a" * 20000 + b'"}', "payload_too_large", None),
]


@pytest.mark.parametrize("payload,code,rid", BAD, ids=[c for _, c, _ in BAD])
def test_bad_input_gets_an_error_and_the_daemon_keeps_serving(running, client_factory, payload, code, rid):
    broker, _ = running
    c = client_factory(broker)
    errors = c.subscribe(f"{BASE}/error")
    c.publish(f"{BASE}/request", payload)
    err = errors.json()
    assert set(err) == {"id", "error", "message"}
    assert err["error"] == code and err["id"] == rid and err["message"]
    assert c.request(BASE, {"text": "book a flight to paris"})["intent"] == "book_flight"


def test_fifty_requests_in_a_row(running, client_factory):
    broker, _ = running
    if not CLINC.exists():
        pytest.skip(f"{CLINC} not found (set EDGE_CLINC150)")
    pairs = json.loads(CLINC.read_text())["val"][::60][:50]
    labels = _labels()
    c = client_factory(broker)
    results = c.subscribe(f"{BASE}/result")
    for i, (text, _gold) in enumerate(pairs):
        c.publish(f"{BASE}/request", json.dumps({"text": text, "id": f"n{i}"}), wait=False)
    got = {}
    for _ in pairs:
        r = results.json(timeout=20)
        got[r["id"]] = r
    assert set(got) == {f"n{i}" for i in range(len(pairs))}
    assert all(r["intent"] in labels for r in got.values())
    correct = sum(got[f"n{i}"]["intent"] == gold for i, (_, gold) in enumerate(pairs))
    assert correct >= 0.85 * len(pairs), f"only {correct}/{len(pairs)} right"


def test_status_retained_online_then_offline_on_sigterm(broker, daemon_factory, client_factory, tmp_path):
    d = daemon_factory(daemon_config(broker, tmp_path / "state"))
    c = client_factory(broker)
    status = c.subscribe(f"{BASE}/status")
    first = status.get()
    assert first.payload == b"online" and first.retain
    assert d.stop() == 0
    assert status.get().payload == b"offline"
    late = client_factory(broker).subscribe(f"{BASE}/status").get()
    assert late.payload == b"offline" and late.retain


def test_last_will_on_sigkill(broker, daemon_factory, client_factory, tmp_path):
    d = daemon_factory(daemon_config(broker, tmp_path / "state", mqtt={"keepalive_s": 5}))
    status = client_factory(broker).subscribe(f"{BASE}/status")
    assert status.get().payload == b"online"
    d.kill()
    assert status.get(timeout=15).payload == b"offline"


def test_sigterm_drains_accepted_requests(broker, daemon_factory, client_factory, tmp_path):
    d = daemon_factory(daemon_config(broker, tmp_path / "state"))
    c = client_factory(broker)
    results = c.subscribe(f"{BASE}/result")
    for i in range(40):
        c.publish(f"{BASE}/request", json.dumps({"text": "turn off the lights", "id": f"d{i}"}), wait=False)
    ids = {results.json()["id"]}  # SIGTERM once the daemon is answering, with the rest in flight
    assert d.stop() == 0
    # Whatever the daemon did not take before the signal stays at the broker for its next session.
    d2 = daemon_factory(daemon_config(broker, tmp_path / "state"))
    while len(ids) < 40:
        ids.add(results.json(timeout=10)["id"])
    assert ids == {f"d{i}" for i in range(40)}
    d2.stop()


def test_health_has_every_field(running, client_factory):
    broker, _ = running
    c = client_factory(broker)
    c.request(BASE, {"text": "what time is it"})
    health = c.subscribe(f"{BASE}/health")
    h = health.json(timeout=5)
    while h["processed"] < 1:
        h = health.json(timeout=5)
    for key in ("ts", "uptime_s", "model", "processed", "escalated", "cloud_errors", "errors", "latency_ms",
                "queue_depth", "outbox", "cpu_percent", "rss_mb", "temperature_c", "cloud", "storage"):
        assert key in h, key
    # No cloud configured: "none", not "down" (which would page someone for nothing).
    assert set(h["latency_ms"]) >= {"p50", "p95"} and h["cloud"] == "none"
    assert h["storage"] == "ok" and h["broker"] == "connected"
    assert h["rss_mb"] > 0


def test_watchdog_status_and_stopping(broker, daemon_factory, tmp_path):
    d = daemon_factory(daemon_config(broker, tmp_path / "state"), env={"WATCHDOG_USEC": "1000000"})
    assert d.wait_notify("WATCHDOG=1", timeout=5)
    assert "processed" in d.wait_notify("STATUS=", timeout=5)
    d.proc.send_signal(signal.SIGTERM)
    d.wait_notify("STOPPING=1", timeout=10)
    assert d.proc.wait(20) == 0


def test_watchdog_stops_when_inference_stalls(broker, daemon_factory, client_factory, tmp_path):
    # tests/faulty.py: the real daemon, its model wrapped so that a batch holding "stall now" never returns.
    d = daemon_factory(daemon_config(broker, tmp_path / "state"), env={"WATCHDOG_USEC": "1000000"},
                       fault=("stall", "stall now"))
    d.wait_notify("WATCHDOG=1", timeout=5)
    client_factory(broker).publish(f"{BASE}/request", "stall now")
    d.wait_log("fault injection: stalling")  # the loop is stuck from here: its watchdog timer cannot run
    # Pings go on until then (every 0.5 s), then stop: within 5 s a gap of 3 s without one must come.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            d.wait_notify("WATCHDOG=1", timeout=3)
        except AssertionError as exc:
            assert "no WATCHDOG=1" in str(exc)
            break
        assert time.monotonic() < deadline, "the watchdog is still pinged 5 s after the batch stalled"


def _edge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_edge_send(running):
    broker, _ = running
    out = _edge("send", "cancel my reservation at the restaurant", "--port", str(broker.port), "--device", "test")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result) == RESULT_KEYS and result["intent"] == "cancel_reservation"


def test_edge_send_no_cloud_and_timeout_and_bad_args(running):
    broker, _ = running
    out = _edge("send", "hello there", "--port", str(broker.port), "--device", "test", "--no-cloud")
    assert out.returncode == 0 and json.loads(out.stdout)["reason"] in ("confident", "disabled")
    out = _edge("send", "hello", "--port", str(broker.port), "--device", "nobody", "--timeout", "0.5")
    assert out.returncode == 3 and "no result" in out.stderr
    assert _edge("send", "hello", "--port", "not-a-port").returncode == 2


def test_edge_send_tells_a_daemon_error_from_a_missing_broker(running):
    broker, _ = running
    out = _edge("send", "x" * 20000, "--port", str(broker.port), "--device", "test")  # over max_payload_bytes
    assert out.returncode == 1 and json.loads(out.stdout)["error"] == "payload_too_large", out.stdout + out.stderr
    out = _edge("send", "hello", "--port", str(free_port()), "--device", "test")  # nothing listens there
    assert out.returncode == 4 and "cannot connect" in out.stderr and out.stdout == "", out.stdout + out.stderr


def test_edge_infer_and_config_check(tmp_path):
    out = _edge("infer", "what is my balance", "--json")
    assert out.returncode == 0 and json.loads(out.stdout.splitlines()[0])["intent"] == "balance"
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nport = "x"\nnope = 1\n')
    out = _edge("config", "check", str(bad))
    assert out.returncode == 2
    assert "mqtt.port" in out.stderr and "mqtt.nope" in out.stderr and str(bad) in out.stderr
    assert _edge("config", "check", "generic").returncode == 0


def test_bad_config_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[cloud]\nmode = 'sometimes'\n")
    out = _edge("run", "--config", str(bad))
    assert out.returncode == 2 and "cloud.mode" in out.stderr


def test_bad_model_exits_2(tmp_path):
    cfg = tmp_path / "c.toml"
    (tmp_path / "model").mkdir()
    cfg.write_text(f"[model]\npath = '{tmp_path / 'model'}'\n")
    out = _edge("run", "--config", str(cfg))
    assert out.returncode == 2 and "model" in out.stderr
