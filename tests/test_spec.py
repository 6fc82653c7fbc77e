"""../shared/spec/interface.md, statement by statement, where no other test file checks it.

Grouped by the spec's sections; each test's docstring quotes the line it checks. Real parts only:
a mosquitto on a loopback port, the daemon as a process on the shipped model, the `edge` command,
a real HTTP server for the cloud. One daemon serves the MQTT section (starting one costs seconds on
a 2-core machine); tests that need other settings start their own. One file on purpose, longer than
the project's usual modules: it is the spec's checklist, in the spec's order, so a reader finds the
test for a line next to the tests for the lines around it.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import ROOT, Broker, Daemon, daemon_config
from mqttc import Received

BASE = "edge/spec"
RESULT_KEYS = {"id", "text", "intent", "confidence", "source", "escalated", "reason", "answer", "model",
               "latency_ms", "ts", "slots"}
SLOT_KEYS = {"name", "entity", "raw", "value", "start", "end", "confidence"}
ESCALATION = json.loads((ROOT / "models" / "clinc150" / "manifest.json").read_text())["thresholds"]["escalation"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "EDGE_CLOUD_API_KEY": ""}


def edge(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          env={**ENV, **(env or {})}, timeout=timeout, cwd=ROOT)


# --- a client that records QoS and the retain flag of every message, in order ----------------------

Msg = Received  # tests/mqttc.py's, with the QoS it arrived with


class Recorder:
    """Subscribes at QoS 2 so that the QoS each message arrives with is the QoS it was published with."""

    def __init__(self, port: int) -> None:
        self.q: queue.Queue[Msg] = queue.Queue()
        self.c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                             client_id=f"spec-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5)
        self.c.on_message = self._on
        ready = threading.Event()
        self.c.on_connect = lambda *a: ready.set()
        self.subscribed = threading.Event()
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert ready.wait(10), "recorder could not connect"

    def _on(self, _c: Any, _u: Any, m: paho.MQTTMessage) -> None:
        corr = getattr(getattr(m, "properties", None), "CorrelationData", None)
        self.q.put(Msg(m.topic, m.payload, bool(m.retain), bytes(corr) if corr is not None else None, m.qos))

    def sub(self, topic: str) -> "Recorder":
        self.subscribed.clear()
        self.c.subscribe(topic, 2)
        assert self.subscribed.wait(10), f"subscribe {topic} not acknowledged"
        return self

    def pub(self, topic: str, payload: bytes | str, response_topic: str | None = None,
            correlation: bytes | None = None) -> None:
        props = None
        if response_topic or correlation:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
        self.c.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)

    def until(self, pred: Any, timeout: float = 15.0, what: str = "") -> Msg:
        """The first message (in arrival order) that satisfies `pred`; the ones before it are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message in time {what}")
            try:
                m = self.q.get(timeout=left)
            except queue.Empty:
                raise AssertionError(f"no matching message in time {what}") from None
            if pred(m):
                return m

    def drain(self) -> list[Msg]:
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Daemon]]:
    """One broker and one daemon (device `spec`, no cloud) for the MQTT section."""
    tmp = tmp_path_factory.mktemp("spec")
    broker = Broker(tmp / "broker").start()
    d = Daemon(tmp / "daemon", daemon_config(broker, tmp / "state", device_id="spec"),
               env={"EDGE_CLOUD_API_KEY": ""}).start()
    yield broker, d
    if d.proc and d.proc.poll() is None:
        assert d.stop() == 0, d.log_text()
    broker.stop()


@pytest.fixture
def rec(served: tuple[Broker, Daemon]) -> Iterator[Recorder]:
    r = Recorder(served[0].port)
    yield r
    r.close()


# === Command line ====================================================================================

COMMANDS = [["run"], ["send"], ["infer"], ["eval"], ["config", "check"], ["train"], ["install"], ["keygen"],
            ["sign"], ["deploy"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_takes_help(cmd: list[str]) -> None:
    """"Every command takes `--help`." (and the options the table names are in it)"""
    out = edge(*cmd, "--help")
    assert out.returncode == 0, out.stderr
    table = {"run": ["--config", "--profile"], "send": ["--host", "--port", "--device", "--timeout", "--no-cloud"],
             "infer": ["--model", "--json"], "eval": ["--data", "--model", "--json"], "train": ["--data", "--out"],
             "install": ["--root", "--profile"], "sign": ["--key"],
             "deploy": ["--device", "--group", "--canary", "--rollback"]}
    for option in table.get(cmd[0], []):
        assert option in out.stdout, (cmd, option)


def test_infer_json_one_object_a_line_with_the_result_fields() -> None:
    """`edge infer TEXT... --json`: "one object a line with at least text, intent, confidence, slots (as in a result)"."""
    texts = ["what is my checking account balance", "set an alarm for 7 am tomorrow", "tell me a joke"]
    out = edge("infer", *texts, "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [o["text"] for o in lines] == texts
    for o in lines:
        assert {"text", "intent", "confidence", "slots"} <= set(o)
        assert isinstance(o["intent"], str) and 0.0 <= o["confidence"] <= 1.0 and isinstance(o["slots"], list)
        for s in o["slots"]:
            assert SLOT_KEYS <= set(s) and o["text"][s["start"]:s["end"]] == s["raw"]


EVAL_KEYS = {"n", "in_scope_accuracy", "oos_recall", "oos_precision", "threshold", "escalation_rate",
             "escalation_rate_in_scope", "selective_accuracy", "silent_error_rate", "auroc", "latency_ms", "model"}


def test_eval_json_uses_every_list_without_split(tmp_path: Path) -> None:
    """`edge eval` input: "a JSON object whose values are lists of [text, label] pairs ... Without --split,
    every list in the file is used"; `--json` prints one object with at least the listed keys."""
    data = {
        "train": [["what is my checking account balance", "balance"], ["tell me a joke", "tell_joke"]],
        "val": [["what's the weather like today", "weather"]],
        "oos_mine": [["how do i grow a beard in space", "oos"], ["blorp fizzle wump", "oos"]],
    }
    f = tmp_path / "data.json"
    f.write_text(json.dumps(data))
    out = edge("eval", "--data", str(f), "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert EVAL_KEYS <= set(r) and r["n"] == 5
    assert {"p50", "p95"} <= set(r["latency_ms"]) and r["model"].count("@") == 1
    for k in EVAL_KEYS - {"n", "latency_ms", "model", "threshold"}:
        assert 0.0 <= r[k] <= 1.0, (k, r[k])


def test_eval_reads_the_training_formats_and_reports_slots(tmp_path: Path) -> None:
    """"`edge eval` reads every format `edge train` reads" (## headers, JSON {intent: [examples]}), and with
    slot markup "reports slot precision, recall and F1"."""
    md = tmp_path / "data.md"
    md.write_text("## alarm\n- set an alarm for [7 am](time)\nwake me up at [6 am](time)\n"
                  "## oos\nhow do i grow a beard in space\n")
    as_json = tmp_path / "intents.json"
    as_json.write_text(json.dumps({"alarm": ["set an alarm for 7 am"], "oos": ["blorp fizzle wump"]}))
    for f, n in ((md, 3), (as_json, 2)):
        out = edge("eval", "--data", str(f), "--json")
        assert out.returncode == 0, (f.name, out.stderr)
        r = json.loads(out.stdout)
        assert r["n"] == n and EVAL_KEYS <= set(r), (f.name, r)
    r = json.loads(edge("eval", "--data", str(md), "--json").stdout)
    text = json.dumps(r)
    assert "precision" in text and "recall" in text and "f1" in text.lower(), r


def test_config_check_errors_name_key_and_file(tmp_path: Path) -> None:
    """`edge config check FILE_OR_PROFILE`: "0 valid; 2 invalid, with each error naming key and file";
    "Unknown keys and wrong types are errors" (in every section the spec lists)."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[cloud]\ntimeout_s = "soon"\n[health]\nintervall_s = 3\n[wyoming]\nport = "x"\n'
                   '[integrations]\nhermes = "yes"\n')
    out = edge("config", "check", str(bad))
    assert out.returncode == 2
    for key in ("cloud.timeout_s", "health.intervall_s", "wyoming.port", "integrations.hermes"):
        line = next((ln for ln in out.stderr.splitlines() if key in ln), None)
        assert line is not None and str(bad) in line, (key, out.stderr)
    assert edge("config", "check", "no-such-profile-xyz").returncode == 2


SPEC_CONFIG = '''
device_id = "kitchen"            # default: the host name
[mqtt]
host = "127.0.0.1"
port = 1883
base_topic = "edge/kitchen"      # default: edge/<device_id>
protocol = 5                     # or 4 (3.1.1)
username = ""                    # password from EDGE_MQTT_PASSWORD or a credential
tls = false
[model]
path = ""                        # default: the model shipped in models/
threads = 1
[cloud]
base_url = ""                    # empty: no cloud
model = ""
mode = "local_first"             # local_first | cloud_preferred | local_only
timeout_s = 10
[state]
dir = ""                         # outbox and queues; default: $STATE_DIRECTORY or ~/.local/state/edge
[health]
interval_s = 30
[integrations]
home_assistant = false           # MQTT discovery
hermes = false                   # Rhasspy/Snips NLU topics
[wyoming]
enabled = false
host = "127.0.0.1"               # "0.0.0.0" to serve Home Assistant on another machine
port = 10700                     # EDGE_WYOMING_PORT / EDGE_WYOMING_HOST, like every key
zeroconf = false                 # advertise _wyoming._tcp so Home Assistant discovers it
[home]
names = ""                       # a names file (below); empty: none
'''


def test_the_specs_own_config_blocks_are_valid(tmp_path: Path) -> None:
    """The spec's configuration and [wyoming]/[home] blocks, verbatim (integers where floats are kept: `timeout_s = 10`)."""
    f = tmp_path / "spec.toml"
    f.write_text(SPEC_CONFIG)
    out = edge("config", "check", str(f))
    assert out.returncode == 0, out.stderr


def test_config_defaults_are_the_specs(tmp_path: Path) -> None:
    """The defaults the spec's block states: device_id the host name, base edge/<device_id>, port 1883,
    protocol 5, threads 1, local_first, timeout 10 s, health every 30 s, integrations off, Wyoming off on
    127.0.0.1:10700 without zeroconf, no names file, state in $STATE_DIRECTORY or ~/.local/state/edge."""
    from edge.config import load

    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_") and k != "STATE_DIRECTORY"}
    s = load(None, environ=clean)
    assert s.device_id in (socket.gethostname(), socket.gethostname().split(".")[0])
    assert s.base_topic == f"edge/{s.device_id}"
    assert (s.mqtt.host, s.mqtt.port, s.mqtt.protocol, s.mqtt.username, s.mqtt.tls) == ("127.0.0.1", 1883, 5, "", False)
    assert (s.model.path, s.model.threads) == ("", 1)
    assert (s.cloud.base_url, s.cloud.model, s.cloud.mode, s.cloud.timeout_s) == ("", "", "local_first", 10)
    assert s.health.interval_s == 30
    assert (s.integrations.home_assistant, s.integrations.hermes) == (False, False)
    assert (s.wyoming.enabled, s.wyoming.host, s.wyoming.port, s.wyoming.zeroconf) == (False, "127.0.0.1", 10700, False)
    assert s.home.names == "" and s.group == ""
    assert s.state_dir == Path.home() / ".local" / "state" / "edge"
    assert load(None, environ={**clean, "STATE_DIRECTORY": "/var/lib/edge"}).state_dir == Path("/var/lib/edge")
    assert load(None, environ={**clean, "EDGE_DEVICE_ID": "hall"}).base_topic == "edge/hall"


def test_the_file_overrides_the_profile_and_env_names_every_key(tmp_path: Path) -> None:
    """"the profile firmware_configs/NAME.toml gives the board's defaults, the file overrides them";
    "EDGE_WYOMING_PORT / EDGE_WYOMING_HOST, like every key"."""
    from edge.config import load

    profiles = sorted(p.stem for p in (ROOT / "firmware_configs").glob("*.toml"))
    assert profiles
    f = tmp_path / "mine.toml"
    f.write_text("[model]\nthreads = 3\n")
    s = load(str(f), profile=profiles[0])
    assert s.model.threads == 3
    s = load(str(f), profile=profiles[0], environ={"EDGE_WYOMING_PORT": "10777", "EDGE_WYOMING_HOST": "0.0.0.0",
                                                    "EDGE_MODEL_THREADS": "2"})
    assert (s.wyoming.port, s.wyoming.host, s.model.threads) == (10777, "0.0.0.0", 2)


# === MQTT ============================================================================================

def test_topics_qos_and_retained_flags(served: tuple[Broker, Daemon], rec: Recorder) -> None:
    """The MQTT table: request in; result, reply, intent, error out at QoS 1 not retained;
    status QoS 1 retained; health QoS 0 retained."""
    rec.sub(f"{BASE}/#").sub("spec/reply/#")
    status = rec.until(lambda m: m.topic == f"{BASE}/status")
    assert (status.payload, status.qos, status.retain) == (b"online", 1, True)
    assert rec.until(lambda m: m.topic == f"{BASE}/health").qos == 0
    fresh = Recorder(served[0].port).sub(f"{BASE}/health")  # after one was published: the broker's retained copy
    health = fresh.until(lambda m: True)
    fresh.close()
    assert (health.qos, health.retain) == (0, True)
    rec.drain()
    rec.pub(f"{BASE}/request", json.dumps({"id": "q1", "text": "what is my checking account balance"}),
            response_topic="spec/reply/q1", correlation=b"c1")
    seen: dict[str, Msg] = {}
    while not {"result", "reply", "intent"} <= set(seen):
        m = rec.until(lambda m: m.topic != f"{BASE}/health" and m.topic != f"{BASE}/request")
        kind = ("reply" if m.topic.startswith("spec/reply/") else
                "intent" if m.topic.startswith(f"{BASE}/intent/") else m.topic.rsplit("/", 1)[-1])
        seen[kind] = m
    for kind, m in seen.items():
        assert (m.qos, m.retain) == (1, False), (kind, m.topic, m.qos, m.retain)
    assert seen["intent"].topic == f"{BASE}/intent/balance" and seen["reply"].correlation == b"c1"
    rec.pub(f"{BASE}/request", b"{oops")
    err = rec.until(lambda m: m.topic == f"{BASE}/error")
    assert (err.qos, err.retain) == (1, False)


def test_error_payload_has_exactly_the_spec_fields(served: tuple[Broker, Daemon], rec: Recorder) -> None:
    """`<base>/error`: `{"id": str or null, "error": code, "message": str}`."""
    rec.sub(f"{BASE}/error")
    rec.pub(f"{BASE}/request", b'{"id": "e1", "text": 5}')
    e = rec.until(lambda m: True).json()
    assert set(e) == {"id", "error", "message"} and e["id"] == "e1" and e["error"] == "invalid_field"
    assert isinstance(e["message"], str) and e["message"]
    rec.pub(f"{BASE}/request", b"\xff\xfe")
    e = rec.until(lambda m: True).json()
    assert set(e) == {"id", "error", "message"} and e["id"] is None


@pytest.mark.parametrize("language,ok", [("en", True), ("en-US", True), ("EN", True), ("de", False), ("fr-CA", False), ("xx", False), ("tlh", False),
                                         (5, False), ("", False), ("e n", False)])
def test_language_field(served: tuple[Broker, Daemon], rec: Recorder, language: Any, ok: bool) -> None:
    """"language: a BCP 47 tag such as en or de; default the model's first language; one the model does not
    serve is an invalid_field error"."""
    rec.sub(f"{BASE}/error").sub(f"{BASE}/result")
    rid = f"lang-{uuid.uuid4().hex[:6]}"
    rec.pub(f"{BASE}/request", json.dumps({"id": rid, "text": "tell me a joke", "language": language}))
    m = rec.until(lambda m: m.payload.startswith(b"{") and json.loads(m.payload).get("id") == rid)
    if ok:
        assert m.topic == f"{BASE}/result" and m.json()["intent"] == "tell_joke", m.json()
    else:
        assert m.topic == f"{BASE}/error" and m.json()["error"] == "invalid_field", m.json()


REFUSED_REPLY_TOPICS = [
    "app/+/reply", "app/#", "$SYS/x", "app/request", "edge/other/request", "edge/other/intent/lights",
    f"{BASE}/status", f"{BASE}/health", f"{BASE}/intent/balance", "edge/other/deploy",
    "homeassistant/light/x/config", "hermes/intent/x", "zigbee2mqtt/lamp/set", "zigbee2mqtt/bridge/request/x",
    "cmnd/tasmota_1/POWER", "home/lamp/set",
]


def test_refused_reply_topics_get_invalid_field_and_nothing_is_published_there(
        served: tuple[Broker, Daemon], rec: Recorder) -> None:
    """"Reply topics are checked: ... with wildcards, starting with $, whose last level is request, under any edge
    device's base topic, under the Home Assistant discovery prefix, hermes/, or another integration's command
    namespace (zigbee2mqtt/, tasmota's cmnd/, topics ending in /set) is refused with invalid_field and nothing is
    published there" — both as MQTT 5 Response Topic and as reply_to."""
    rec.sub("#")
    for i, topic in enumerate(REFUSED_REPLY_TOPICS):
        for how in ("reply_to", "response_topic"):
            rid = f"rt-{i}-{how}"
            body = {"id": rid, "text": "tell me a joke"}
            if how == "reply_to":
                body["reply_to"] = topic
                rec.pub(f"{BASE}/request", json.dumps(body))
            elif "+" not in topic and "#" not in topic:  # a client cannot send a wildcard Response Topic
                rec.pub(f"{BASE}/request", json.dumps(body), response_topic=topic, correlation=b"k")
            else:
                continue
            m = rec.until(lambda m: m.topic.startswith(BASE) and not m.topic.endswith("/request") and m.payload.startswith(b"{") and json.loads(m.payload).get("id") == rid,
                          what=f"(an error for {topic!r} as {how})")
            assert m.topic == f"{BASE}/error" and m.json()["error"] == "invalid_field", (topic, how, m.topic, m.json())
    rec.pub(f"{BASE}/request", json.dumps({"id": "rt-end", "text": "tell me a joke"}))
    rec.until(lambda m: m.topic == f"{BASE}/result" and json.loads(m.payload)["id"] == "rt-end")
    everything = rec.drain()
    leaked = [m.topic for m in everything if m.topic.split("/")[0] not in ("edge",) or
              (m.topic.startswith("edge/") and not m.topic.startswith(BASE))]
    assert leaked == [], leaked
    own = {m.topic for m in everything if m.topic.startswith(BASE)}
    assert own <= {f"{BASE}/request", f"{BASE}/result", f"{BASE}/error", f"{BASE}/health",
                   f"{BASE}/intent/tell_joke"}, own


def test_result_fields_and_slots(served: tuple[Broker, Daemon], rec: Recorder) -> None:
    """Result: the spec's fields; "Every result also carries slots: a list ... of {name, entity, raw, value, start,
    end, confidence}: raw is text[start:end]"; reason is one of the listed ones; intent a label or oos."""
    rec.sub("spec/reply/#")
    text = "set an alarm for 7 am tomorrow"
    for rid, t in (("s1", text), ("s2", "blorp fizzle wump")):
        rec.pub(f"{BASE}/request", json.dumps({"id": rid, "text": t}), response_topic=f"spec/reply/{rid}",
                correlation=rid.encode())
        r = rec.until(lambda m: m.topic == f"spec/reply/{rid}").json()
        assert set(r) == RESULT_KEYS, r
        assert r["reason"] in {"confident", "low_confidence", "cloud_preferred", "offline", "budget", "cloud_error",
                               "disabled"}, r
        assert isinstance(r["slots"], list) and isinstance(r["latency_ms"], float) and isinstance(r["confidence"], float)
        for s in r["slots"]:
            assert set(s) >= SLOT_KEYS and r["text"][s["start"]:s["end"]] == s["raw"], s
            assert isinstance(s["start"], int) and isinstance(s["confidence"], float)
        if rid == "s1":
            assert r["intent"] == "alarm" and r["slots"], r


def test_only_results_the_daemon_stands_behind_reach_the_intent_topic(served: tuple[Broker, Daemon],
                                                                      rec: Recorder) -> None:
    """`<base>/intent/<intent>`: "only results the daemon stands behind ... an unsure device result kept only
    because the cloud was not asked or failed goes to the result and reply topics alone"."""
    rec.sub(f"{BASE}/result").sub(f"{BASE}/intent/#")
    texts = ["blorp fizzle wump", "how do i grow a beard in space", "purple", "banana telephone",
             "what is my checking account balance"]
    for i, t in enumerate(texts):
        rec.pub(f"{BASE}/request", json.dumps({"id": f"sb{i}", "text": t}))
    results: dict[str, dict] = {}
    intents: dict[str, dict] = {}

    def behind() -> set[str]:
        return {rid for rid, r in results.items() if r["reason"] == "confident" and r["intent"] != "oos"}

    while len(results) < len(texts) or not behind() <= set(intents):
        m = rec.until(lambda m: True)
        (intents if "/intent/" in m.topic else results)[m.json()["id"]] = m.json()
    assert any(r["reason"] != "confident" for r in results.values()), results
    assert behind() and set(intents) == behind(), (results, intents)
    rec.pub(f"{BASE}/request", json.dumps({"id": "sb-end", "text": "tell me a joke"}))
    rec.until(lambda m: "/intent/" in m.topic and m.json()["id"] == "sb-end")
    late = [m.json() for m in rec.drain() if "/intent/" in m.topic]
    assert all(r["reason"] == "confident" and r["intent"] != "oos" for r in late), late


# === MQTT: fleet =====================================================================================

def test_group_shares_one_request_topic(tmp_path: Path) -> None:
    """"A top-level group = "<name>" joins a fleet that shares edge/group/<name>/request (MQTT 5 shared
    subscription)": two members, every request answered exactly once."""
    broker = Broker(tmp_path / "b").start()
    daemons = []
    try:
        for dev in ("ga", "gb"):
            cfg = daemon_config(broker, tmp_path / f"state-{dev}", device_id=dev).replace(
                f'device_id = "{dev}"', f'device_id = "{dev}"\ngroup = "g1"')
            daemons.append(Daemon(tmp_path / dev, cfg, env={"EDGE_CLOUD_API_KEY": ""}).start())
        r = Recorder(broker.port).sub("spec/g/#")
        for i in range(8):
            r.pub("edge/group/g1/request", json.dumps({"id": f"g{i}", "text": "tell me a joke"}),
                  response_topic=f"spec/g/{i}", correlation=b"x")
        got = [r.until(lambda m: True).json()["id"] for _ in range(8)]
        assert sorted(got) == sorted(f"g{i}" for i in range(8))
        r.pub("edge/ga/request", json.dumps({"id": "end", "text": "tell me a joke"}), response_topic="spec/g/end",
              correlation=b"x")
        r.until(lambda m: m.json()["id"] == "end")
        assert r.drain() == []  # nothing answered twice
        r.close()
    finally:
        for d in daemons:
            assert d.stop() == 0
        broker.stop()


# === Command line: run exit status ===================================================================

def test_run_exits_0_on_sigint_after_a_clean_drain(tmp_path: Path) -> None:
    """`edge run`: "0 on SIGTERM/SIGINT after a clean drain" (SIGTERM is checked elsewhere; SIGINT here)."""
    import signal
    broker = Broker(tmp_path / "b").start()
    try:
        d = Daemon(tmp_path / "d", daemon_config(broker, tmp_path / "s", device_id="sigint"),
                   env={"EDGE_CLOUD_API_KEY": ""}).start()
        assert d.stop(signal.SIGINT) == 0, d.log_text()
    finally:
        broker.stop()


def test_a_refused_response_topic_error_still_names_the_request() -> None:
    """`<base>/error`'s `id` is the request's when the JSON was readable, also when the Response Topic is what
    was refused (checked before the payload): a requester watching `<base>/error` can match it."""
    from edge.contract import BadRequest, parse_request

    for payload, rid in ((b'{"id": "r-1", "text": "hi"}', "r-1"), (b'{"id": "r-2", "text": ', "r-2"),
                         (b"plain text", None), (b'{"id": 5, "text": "hi"}', None),
                         (b'{"id": "a\\u0000b", "text": "hi"}', None), (b"\xff" * 20, None)):
        with pytest.raises(BadRequest) as exc:
            parse_request(payload, 16384, response_topic="$SYS/x", correlation=b"k")
        assert exc.value.code == "invalid_field" and exc.value.request_id == rid, payload


# === Cloud call ======================================================================================

@pytest.mark.parametrize("key", ["api_key", "key", "token"])
def test_the_cloud_key_is_never_taken_from_the_config_file(tmp_path: Path, key: str) -> None:
    """"The key comes from the environment (EDGE_CLOUD_API_KEY) or a systemd credential, never from the config
    file": a key in [cloud] is an error naming it, not a secret silently used."""
    f = tmp_path / "c.toml"
    f.write_text(f'[cloud]\nbase_url = "http://127.0.0.1:9/v1"\n{key} = "sk-secret"\n')
    out = edge("config", "check", str(f))
    assert out.returncode == 2 and f"cloud.{key}" in out.stderr and "sk-secret" not in out.stderr + out.stdout


# === Home Assistant Assist (Wyoming), through `edge run` =============================================

@pytest.mark.slow
def test_assist_through_the_daemon_as_the_spec_lists(tmp_path: Path) -> None:
    """[wyoming] through the real daemon, its port from EDGE_WYOMING_PORT ("like every key"): describe -> info with
    one installed intent program whose models list the languages the loaded model serves; a transcript gets
    exactly one reply with the context echoed; a language it does not serve and a name that matches nothing get
    not-recognized; a malformed event gets an error and the connection closes; the server keeps serving."""
    import asyncio

    from conftest import free_port
    from wyoming.asr import Transcript
    from wyoming.client import AsyncTcpClient
    from wyoming_ha import ha_describe, raw_exchange

    home = ROOT / "models" / "home"
    languages = json.loads((home / "manifest.json").read_text())["languages"]
    broker = Broker(tmp_path / "b").start()
    port = free_port()
    cfg = daemon_config(broker, tmp_path / "s", device_id="assist", model={"path": str(home)},
                        wyoming={"enabled": True}, home={"names": str(ROOT / "tests" / "data" / "home_names.yaml")})
    d = Daemon(tmp_path / "d", cfg, env={"EDGE_WYOMING_PORT": str(port), "EDGE_CLOUD_API_KEY": ""})

    async def one(text: str, language: str | None, context: dict) -> list:
        """Every event the server sends for one transcript until it has answered and gone quiet."""
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Transcript(text, context=context, language=language).event())
            events = [await asyncio.wait_for(client.read_event(), 10)]
            try:  # exactly one reply: nothing more follows on the open connection
                more = await asyncio.wait_for(client.read_event(), 0.5)
                events.append(more)
            except TimeoutError:
                pass
            return events

    async def scenario() -> tuple:
        info = await ha_describe("127.0.0.1", port)
        ok = await one("turn off the kitchen lights", "en", {"conversation_id": "c-1", "n": [1, 2]})
        other = await one("turn off the kitchen lights", "tlh", {"conversation_id": "c-2"})
        nothing = await one("turn off the lights in the ballroom", "en", {"conversation_id": "c-3"})
        events, closed = await raw_exchange("127.0.0.1", port, b"{not an event\n")
        after = await one("turn off the kitchen lights", None, {"conversation_id": "c-4"})
        regional = await one("turn off the kitchen lights", "en-GB", {})  # Home Assistant's tags carry regions
        german = await one("schalte das licht in der küche aus", "de-CH", {})
        return info, ok, other, nothing, (events, closed), after, regional, german

    try:
        d.start()
        info, ok, other, nothing, (events, closed), after, regional, german = asyncio.run(scenario())
        programs = [p for p in info.intent if p.installed]
        assert len(programs) == 1 and sorted(programs[0].models[0].languages) == sorted(languages), info
        assert len(ok) == 1 and ok[0].type == "intent", ok
        assert ok[0].data["context"] == {"conversation_id": "c-1", "n": [1, 2]}
        assert ok[0].data["name"] == "HassTurnOff"
        assert {e["name"]: e["value"] for e in ok[0].data["entities"]} == {"area": "Kitchen", "domain": "light"}
        assert len(other) == 1 and other[0].type == "not-recognized" and other[0].data["context"] == {"conversation_id": "c-2"}
        assert len(nothing) == 1 and nothing[0].type == "not-recognized", nothing
        assert [e.type for e in events] == ["error"] and closed
        assert len(after) == 1 and after[0].type == "intent" and after[0].data["context"] == {"conversation_id": "c-4"}
        for reply in (regional, german):
            assert reply[0].type == "intent" and reply[0].data["name"] == "HassTurnOff", reply
            assert {e["name"]: e["value"] for e in reply[0].data["entities"]}.get("area") == "Kitchen", reply
        assert d.stop() == 0, d.log_text()
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()


# === Model deployment ================================================================================

@pytest.mark.slow
def test_deploy_status_topic_qos_retained_and_fields_and_group_deploy_reaches_every_member(tmp_path: Path) -> None:
    """`<base>/deploy/status`: out, QoS 1, retained, `{"model", "state", "reason", "previous", "ts"}`;
    `edge/group/<name>/deploy` reaches every member (no $share); unsigned: `rejected` with the reason and the
    running model stays."""
    from edge import signing as S

    key = S.generate()
    broker = Broker(tmp_path / "b").start()
    daemons = []
    try:
        for dev in ("da", "db"):
            cfg = f'group = "gd"\n' + daemon_config(broker, tmp_path / f"s-{dev}", device_id=dev,
                                                    deploy={"keys": [key.public_key.base64()]})
            daemons.append(Daemon(tmp_path / dev, cfg, env={"EDGE_CLOUD_API_KEY": ""}).start())
        r = Recorder(broker.port).sub("edge/+/deploy/status")
        r.pub("edge/group/gd/deploy", b"\x00not a package" * 50)
        got = {}
        while len(got) < 2:
            m = r.until(lambda m: json.loads(m.payload)["state"] == "rejected", 30)
            got[m.topic] = m
        assert set(got) == {"edge/da/deploy/status", "edge/db/deploy/status"}
        for m in got.values():
            s = m.json()
            assert m.qos == 1 and set(s) == {"model", "state", "reason", "previous", "ts"}, (m.qos, s)
            # The spec writes "model": "name@version" (not "| null" as for previous); a payload that is no
            # package has no name to give, and the daemon sends null: reported as a spec gap, not asserted.
            assert s["model"] is None or s["model"].count("@") == 1, s
            assert isinstance(s["reason"], str) and s["reason"] and s["previous"] == "clinc150@2.0.0", s
        fresh = Recorder(broker.port).sub("edge/da/deploy/status")
        kept = fresh.until(lambda m: True)
        fresh.close()
        assert kept.retain and kept.json()["state"] == "rejected"
        r.sub("spec/d")
        r.pub("edge/da/request", json.dumps({"id": "after", "text": "tell me a joke"}), response_topic="spec/d",
              correlation=b"d")
        assert r.until(lambda m: m.topic == "spec/d").json()["model"] == "clinc150@2.0.0"
        r.close()
        for d in daemons:
            assert d.stop() == 0
    finally:
        for d in daemons:
            if d.proc and d.proc.poll() is None:
                d.kill()
        broker.stop()


# === edge eval: the metrics as the spec defines them =================================================

EVAL_ITEMS = [  # hand-made (no data set's items): easy ones, ambiguous ones, and out-of-scope ones
    ["what is my checking account balance", "balance"], ["tell me a joke", "tell_joke"],
    ["set an alarm for 7 am", "alarm"], ["what's the weather like today", "weather"],
    ["book a flight to boston", "book_flight"], ["flip a coin", "flip_coin"], ["what time is it", "time"],
    ["my card got declined", "card_declined"], ["how many calories in an apple", "calories"],
    ["money", "balance"], ["thing about the stuff", "calendar"], ["play some music", "play_music"],
    ["goodbye", "goodbye"], ["the account", "balance"], ["weather or not", "weather"],
    ["how do i grow a beard in space", "oos"], ["blorp fizzle wump", "oos"],
    ["who won the hockey game last night", "oos"], ["tell me about the balance of nature", "oos"],
    ["what's my horoscope", "oos"], ["set the mood", "oos"], ["book", "oos"],
]


def test_eval_metrics_follow_the_specs_definitions(tmp_path: Path) -> None:
    """`edge eval`: in_scope_accuracy, oos_recall, oos_precision, escalation_rate (predicted out of scope, or
    confidence below the escalation threshold), escalation_rate_in_scope, selective_accuracy (on the items kept on
    the device) and silent_error_rate (kept **and** wrong, over all items), recomputed here from `edge infer`'s
    per-item answers and the shipped manifest's thresholds."""
    f = tmp_path / "d.json"
    f.write_text(json.dumps({"a": EVAL_ITEMS[:11], "b": EVAL_ITEMS[11:]}))
    out = edge("eval", "--data", str(f), "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    inf = edge("infer", *[t for t, _ in EVAL_ITEMS], "--json")
    preds = [json.loads(line) for line in inf.stdout.splitlines() if line.strip()]
    thresholds = json.loads((ROOT / "models" / "clinc150" / "manifest.json").read_text())["thresholds"]
    esc_t = thresholds["escalation"]
    assert got["threshold"] == pytest.approx(thresholds["oos"])  # "at the model's shipped out-of-scope threshold"
    assert len(preds) == len(EVAL_ITEMS) == got["n"]
    gold = [g for _, g in EVAL_ITEMS]
    pred = [p["intent"] for p in preds]
    conf = [p["confidence"] for p in preds]
    near = [c for c in conf if abs(c - esc_t) < 1e-3]
    assert not near, "a confidence on the threshold (infer rounds to 4 places): pick other items"
    esc = [p == "oos" or c < esc_t for p, c in zip(pred, conf)]
    ins = [i for i, g in enumerate(gold) if g != "oos"]
    oos = [i for i, g in enumerate(gold) if g == "oos"]
    kept = [i for i in range(len(gold)) if not esc[i]]
    said_oos = [i for i in range(len(gold)) if pred[i] == "oos"]
    want = {
        "in_scope_accuracy": sum(pred[i] == gold[i] for i in ins) / len(ins),
        "oos_recall": sum(pred[i] == "oos" for i in oos) / len(oos),
        "oos_precision": sum(gold[i] == "oos" for i in said_oos) / len(said_oos),
        "escalation_rate": sum(esc) / len(esc),
        "escalation_rate_in_scope": sum(esc[i] for i in ins) / len(ins),
        "selective_accuracy": sum(pred[i] == gold[i] for i in kept) / len(kept),
        "silent_error_rate": sum(pred[i] != gold[i] for i in kept) / len(gold),
    }
    assert 0 < want["escalation_rate"] < 1 and want["in_scope_accuracy"] < 1, (want, list(zip(pred, conf)))
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-3), (k, got[k], v)


# === MQTT: the intent topic with a cloud that fails, is refused, or is over budget ==================

def test_an_unsure_result_the_cloud_did_not_confirm_never_reaches_the_intent_topic(tmp_path: Path) -> None:
    """`<base>/intent/<intent>`: "an unsure device result kept only because the cloud was not asked or failed goes to
    the result and reply topics alone"; a cloud answer does reach it. Reasons on the way: cloud_error (garbage
    reply: "anything else is a cloud error, and the device's own answer stands"), disabled (allow_cloud false),
    budget (max_per_hour = 0 on a second daemon)."""
    from cloud_server import FakeCloud

    swallow = "what is the airspeed of an unladen swallow"  # the fake cloud calls it fun_fact
    unsure = "money"  # the shipped model: transfer at about 0.53, under its escalation threshold
    broker = Broker(tmp_path / "b").start()
    daemons: list[Daemon] = []
    try:
        with FakeCloud(intents={"swallow": "fun_fact"}, answer="eleven m/s") as fake:
            for dev, extra in (("c1", {}), ("c2", {"max_per_hour": 0})):
                cloud = {"base_url": fake.base_url, "model": "m", "timeout_s": 2.0, "breaker_failures": 100, **extra}
                cfg = daemon_config(broker, tmp_path / f"s-{dev}", device_id=dev, cloud=cloud)
                daemons.append(Daemon(tmp_path / dev, cfg, env={"EDGE_CLOUD_API_KEY": "k"}).start())
            r = Recorder(broker.port).sub("edge/+/result").sub("edge/+/intent/#")

            def ask(dev: str, rid: str, text: str = unsure, **fields: Any) -> dict:
                r.pub(f"edge/{dev}/request", json.dumps({"id": rid, "text": text, **fields}))
                return r.until(lambda m: m.topic.endswith("/result") and m.json()["id"] == rid).json()

            good = ask("c1", "ok", swallow)
            assert (good["source"], good["intent"], good["answer"]) == ("cloud", "fun_fact", "eleven m/s"), good
            assert r.until(lambda m: "/intent/" in m.topic).topic == "edge/c1/intent/fun_fact"
            fake.mode = "garbage"
            failed = ask("c1", "garbage")
            assert (failed["source"], failed["reason"], failed["escalated"]) == ("edge", "cloud_error", True), failed
            not_asked = ask("c1", "no-cloud", allow_cloud=False)
            assert (not_asked["source"], not_asked["reason"]) == ("edge", "disabled"), not_asked
            over = ask("c2", "budget")
            assert (over["source"], over["reason"]) == ("edge", "budget"), over
            assert all(x["intent"] == "transfer" and x["confidence"] < ESCALATION for x in (failed, not_asked, over))
            assert len([q for q in fake.chat_requests]) == 2  # the budget and allow_cloud=false made no call
            r.pub("edge/c1/request", json.dumps({"id": "sure", "text": "tell me a joke"}))
            last = r.until(lambda m: "/intent/" in m.topic)
            assert last.json()["id"] == "sure", last.json()  # nothing of the three unsure results came before it
            r.close()
            for d in daemons:
                assert d.stop() == 0
    finally:
        for d in daemons:
            if d.proc and d.proc.poll() is None:
                d.kill()
        broker.stop()


# === Model package ===================================================================================

@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "models").iterdir() if (p / "manifest.json").is_file()))
def test_every_shipped_package_has_what_the_spec_lists(name: str) -> None:
    """`models/<name>/`: model.tflite (int8), tokenizer.model (sentencepiece), manifest.json: name, version, labels,
    max_len, thresholds (out-of-scope and escalation), calibration (temperature), sha256 of each file, training data
    and licence, validation metrics; the runtime loads it (it checks the hashes at load)."""
    import hashlib

    import numpy as np

    from edge.model import Interpreter, Model

    pkg = ROOT / "models" / name
    m = json.loads((pkg / "manifest.json").read_text())
    for key in ("name", "version", "labels", "max_len", "thresholds", "calibration", "files", "training", "license",
                "metrics"):
        assert m.get(key) not in (None, "", [], {}), key
    assert m["name"] == name and isinstance(m["labels"], list) and isinstance(m["max_len"], int)
    assert {"oos", "escalation"} <= set(m["thresholds"]) and "temperature" in m["calibration"]
    assert {"model.tflite", "tokenizer.model"} <= set(m["files"])
    for f, digest in m["files"].items():
        assert hashlib.sha256((pkg / f).read_bytes()).hexdigest() == digest, f
    assert Model.load(pkg).ident == f"{m['name']}@{m['version']}"
    it = Interpreter(model_path=str(pkg / "model.tflite"))
    it.allocate_tensors()
    assert all(np.dtype(t["dtype"]) != np.float32 for t in it.get_tensor_details()), "not int8 throughout"


def test_a_custom_base_and_discovery_prefix_are_refused_as_reply_topics_and_reply_prefixes_narrow(
        tmp_path: Path) -> None:
    """`<base>` is `mqtt.base_topic` when set; reply topics under this device's own base topic and under the Home
    Assistant discovery prefix (whatever it is configured to) are refused; "`[mqtt] reply_prefixes = [...]` narrows
    reply topics to an allowlist" (level by level)."""
    broker = Broker(tmp_path / "b").start()
    cfg = daemon_config(broker, tmp_path / "s", device_id="cust",
                        mqtt={"base_topic": "house/kitchen/nlu", "reply_prefixes": ["app/replies"]},
                        integrations={"discovery_prefix": "myha"})
    d = Daemon(tmp_path / "d", cfg, env={"EDGE_CLOUD_API_KEY": ""}).start()
    try:
        r = Recorder(broker.port).sub("#")
        cases = {"house/kitchen/nlu/intent/x": False, "house/kitchen/nlu/health": False,
                 "myha/light/x/config": False, "other/topic": False, "app/repliesx": False,
                 "app/replies": True, "app/replies/7": True}
        for i, (topic, ok) in enumerate(cases.items()):
            rid = f"c{i}"
            r.pub("house/kitchen/nlu/request", json.dumps({"id": rid, "text": "tell me a joke", "reply_to": topic}))
            m = r.until(lambda m: not m.topic.endswith("/request") and m.payload.startswith(b"{")
                        and json.loads(m.payload).get("id") == rid and (m.topic == topic or m.topic.endswith("/error")),
                        what=topic)
            assert (m.topic == topic) is ok and (ok or m.json()["error"] == "invalid_field"), (topic, m.topic, m.json())
        r.pub("house/kitchen/nlu/request", json.dumps({"id": "end", "text": "tell me a joke"}))
        r.until(lambda m: m.topic == "house/kitchen/nlu/result" and m.json()["id"] == "end")
        stray = {m.topic for m in r.drain()} - {"house/kitchen/nlu/" + t for t in ("request", "result", "error",
                                                                                     "health", "intent/tell_joke")}
        assert stray <= {"app/replies", "app/replies/7"}, stray
        r.close()
        assert d.stop() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()


@pytest.mark.parametrize("args", [[], [""], ["  "], ["hi", "--timeout", "abc"], ["hi", "--timeout", "-1"],
                                  ["hi", "--port", "0"], ["hi", "--port", "70000"], ["hi", "--device", "a/b"],
                                  ["hi", "--device", "#"], ["hi", "--bogus"],
                                  ["\udcff\udcfe not UTF-8"], ["hi", "--id", "\udcff"]])  # argv bytes that are not UTF-8
def test_edge_send_bad_arguments_exit_2(args: list[str]) -> None:
    """`edge send`: "2 on bad arguments" (what a careless user types), before any broker is tried."""
    out = edge("send", *args, "--host", "127.0.0.1", "--port", "1") if "--port" not in args else edge("send", *args)
    assert out.returncode == 2, (args, out.returncode, out.stderr)


SLOT_CASES = [  # text, (entity, raw, check of value)
    ("set an alarm for 7 am tomorrow", "datetime", "7 am tomorrow", lambda v: __import__("datetime").datetime.fromisoformat(v).hour == 7),
    ("set a timer for 5 minutes", "duration", "5 minutes", lambda v: v == 300),
    ("transfer 20 dollars to my savings", "money", "20 dollars", lambda v: v == 20),
    ("set the thermostat to 21 degrees", "temperature", "21 degrees", lambda v: v == 21),
    ("what is 15 percent of 80", "percentage", "15 percent", lambda v: v == 15),
    ("roll 3 dice", "number", "3", lambda v: v == 3 and not isinstance(v, bool)),
]


@pytest.mark.parametrize("text,entity,raw,check", SLOT_CASES, ids=[c[1] for c in SLOT_CASES])
def test_built_in_slot_entities_and_values_over_mqtt(served: tuple[Broker, Daemon], rec: Recorder, text: str,
                                                     entity: str, raw: str, check: Any) -> None:
    """Result slots: "entity is the slot's type (a built-in one such as number, datetime, duration, money,
    percentage, temperature ...); value is the resolved value (a number, an ISO 8601 date-time, seconds ...)";
    raw is text[start:end] (character offsets)."""
    rec.sub("spec/slots")
    rid = uuid.uuid4().hex
    rec.pub(f"{BASE}/request", json.dumps({"id": rid, "text": text}), response_topic="spec/slots", correlation=b"s")
    r = rec.until(lambda m: m.json()["id"] == rid).json()
    slot = next((s for s in r["slots"] if s["entity"] == entity), None)
    assert slot is not None, r["slots"]
    assert slot["raw"] == raw == text[slot["start"]:slot["end"]] and check(slot["value"]), slot
    assert 0.0 <= slot["confidence"] <= 1.0


def test_slot_offsets_are_characters_not_bytes(served: tuple[Broker, Daemon], rec: Recorder) -> None:
    """"raw is text[start:end] (character offsets into the request's text)", with non-ASCII text before the slot."""
    rec.sub("spec/slots")
    text = "héllo ☃ wake me at 7 am tomorrow"
    rec.pub(f"{BASE}/request", json.dumps({"id": "u8", "text": text}), response_topic="spec/slots", correlation=b"s")
    r = rec.until(lambda m: m.json()["id"] == "u8").json()
    assert r["text"] == text and r["slots"], r
    for s in r["slots"]:
        assert text[s["start"]:s["end"]] == s["raw"], s


def test_tcp_nodelay_on_the_broker_connection(tmp_path: Path) -> None:
    """MQTT: "TCP_NODELAY on": the daemon's socket to the broker, seen by strace on the real process."""
    import re
    import shutil
    import signal

    import psutil

    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    broker = Broker(tmp_path / "b").start()
    cfg = tmp_path / "edge.toml"
    cfg.write_text(daemon_config(broker, tmp_path / "s", device_id="nodelay"))
    trace = tmp_path / "strace.log"
    proc = subprocess.Popen([strace, "-f", "-qq", "-e", "trace=connect,setsockopt", "-e", "signal=none", "-o",
                             str(trace), sys.executable, "-m", "edge", "run", "--config", str(cfg)],
                            env=ENV, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = Recorder(broker.port).sub("edge/nodelay/status")
        assert r.until(lambda m: m.payload == b"online", 60).payload == b"online"
        r.close()
        text = trace.read_text()
        if "ptrace" in text and "Operation not permitted" in text:
            pytest.skip("ptrace is not permitted here")
        fds = set(re.findall(rf"connect\((\d+), \{{sa_family=AF_INET, sin_port=htons\({broker.port}\)", text))
        assert fds, "no connect to the broker traced"
        nodelay = set(re.findall(r"setsockopt\((\d+), SOL_TCP, TCP_NODELAY, \[1\]", text))
        assert fds & nodelay, (fds, nodelay)
    finally:
        for child in psutil.Process(proc.pid).children():
            child.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        broker.stop()


@pytest.mark.parametrize("tamper", ["model.tflite", "tokenizer.model", "manifest.json"])
def test_a_package_whose_hashes_do_not_match_is_refused_and_run_exits_2(tmp_path: Path, tamper: str) -> None:
    """"The runtime checks the hashes at load and refuses a model that does not match"; `edge run`: "2 on a bad
    config or model" (before it touches a broker: none is running here)."""
    import shutil

    pkg = tmp_path / "pkg"
    shutil.copytree(ROOT / "models" / "clinc150", pkg)
    f = pkg / tamper
    if tamper == "manifest.json":  # a hash edited to another valid-looking one
        m = json.loads(f.read_text())
        m["files"]["model.tflite"] = "0" * 64
        f.write_text(json.dumps(m))
    else:
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit
        f.write_bytes(bytes(data))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[model]\npath = "{pkg}"\n[mqtt]\nport = 1\n[state]\ndir = "{tmp_path / "s"}"\n')
    out = edge("run", "--config", str(cfg), timeout=60)
    assert out.returncode == 2 and "sha256" in out.stderr, (out.returncode, out.stderr[-2000:])


# === Home Assistant Assist: what the intent carries, through the daemon with the shipped home model ====

@pytest.fixture(scope="module")
def assist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """ask(text, language) -> (type, data) of the one reply, from a daemon serving models/home and the test names."""
    import asyncio

    from conftest import free_port
    from wyoming_ha import ha_process

    tmp = tmp_path_factory.mktemp("assist")
    broker = Broker(tmp / "b").start()
    port = free_port()
    cfg = daemon_config(broker, tmp / "s", device_id="home", model={"path": str(ROOT / "models" / "home")},
                        wyoming={"enabled": True, "port": port},
                        home={"names": str(ROOT / "tests" / "data" / "home_names.yaml")})
    d = Daemon(tmp / "d", cfg, env={"EDGE_CLOUD_API_KEY": ""}).start()

    def ask(text: str, language: str = "en") -> tuple[str, dict]:
        reply = asyncio.run(ha_process("127.0.0.1", port, text, language))
        event = reply.event()
        return event.type, event.data or {}

    ask.broker = broker  # type: ignore[attr-defined]
    yield ask
    assert d.stop() == 0, d.log_text()
    broker.stop()


def entities(data: dict) -> dict:
    return {e["name"]: e["value"] for e in data.get("entities", [])}


@pytest.mark.slow
@pytest.mark.parametrize("text,language,intent,want", [
    ("turn on the floor lamp", "en", "HassTurnOn", {"name": "Stehlampe"}),  # an alias -> the exact name
    ("schalte die stehlampe ein", "de", "HassTurnOn", {"name": "Stehlampe"}),
    ("turn off the lights upstairs", "en", "HassTurnOff", {"floor": "First Floor", "domain": "light"}),
    # domain: light as Home Assistant's own HassLightSet templates fix it for a place alone
    ("set the kitchen lights to 50%", "en", "HassLightSet", {"area": "Kitchen", "brightness": 50, "domain": "light"}),
    ("stelle einen Timer für 5 Minuten", "de", "HassStartTimer", {"minutes": 5}),
    ("add milk to my shopping list", "en", "HassShoppingListAddItem", {"item": "milk"}),
])
def test_assist_intents_carry_exact_names_numbers_and_free_text(assist: Any, text: str, language: str, intent: str,
                                                                 want: dict) -> None:
    """`intent {name, entities}`: "name, area and floor values are the exact names (not aliases) from the names file
    ...; free-text slots stay as the user said them (... item ...); numbers are numbers"."""
    kind, data = assist(text, language)
    assert kind == "intent" and data["name"] == intent, (kind, data)
    got = entities(data)
    assert got == want and all(type(got[k]) is type(v) for k, v in want.items()), got


@pytest.mark.slow
@pytest.mark.parametrize("text", ["turn on the reading lamp",  # two entities are called Reading Lamp
                                  "turn on the toaster",  # nothing is
                                  "who wrote hamlet"])  # no home command, and no cloud configured
def test_assist_says_not_recognized_when_a_name_is_ambiguous_or_unknown(assist: Any, text: str) -> None:
    """"not-recognized {text} when the daemon does not stand behind a result (unsure, out of scope, a name that
    matches nothing or more than one thing)"."""
    kind, data = assist(text)
    assert kind == "not-recognized" and data.get("text"), (kind, data)


# Deviations found while checking the spec (files owned by others this round: edge/home.py, models/home):
# each is the spec's own example, reproduced; strict, so the fix turns them into failures to remove the mark.
# (Two more found on the older main, fixed by main since, are ordinary tests further down.)

@pytest.mark.slow
def test_deviation_a_named_thing_is_never_dropped_from_the_intent(assist: Any) -> None:
    """"Acting on the wrong device is the worst outcome: when unsure, say not-recognized"."""
    kind, data = assist("set brightness of counter lights to 20 percent")
    assert kind == "not-recognized" or entities(data).get("name") == "Counter Lights", (kind, data)


@pytest.mark.slow
@pytest.mark.parametrize("text, minutes", [("set a timer for 5 minutes", 5), ("set a timer for five minutes", 5)])
def test_an_english_timer_starts(assist: Any, text: str, minutes: int) -> None:
    """`intent {name, entities}` "(HassTurnOn, HassLightSet, HassStartTimer, ...)" with hours/minutes/seconds.
    (A deviation until a number's slot confidence took its context into account: edge.tagger.path_marginals.)"""
    kind, data = assist(text)
    assert kind == "intent" and data["name"] == "HassStartTimer" and entities(data) == {"minutes": minutes}, (kind, data)


@pytest.mark.slow
def test_turn_on_by_an_alias_is_turn_on_or_not_recognized(assist: Any) -> None:
    """A HassLightSet with nothing to set is no command: "when unsure, say not-recognized" (was HassLightSet
    {name} before main's a76bbc6)."""
    kind, data = assist("turn on the lampadaire")
    assert kind == "not-recognized" or (data["name"] == "HassTurnOn" and entities(data) == {"name": "Stehlampe"})


@pytest.mark.slow
def test_home_slot_values_are_numbers_over_mqtt(assist: Any) -> None:
    """Result slots: "value is the resolved value (a number, ...)" (strings before main's fbfa4af)."""
    c = Recorder(assist.broker.port).sub("spec/home")
    c.pub("edge/home/request", json.dumps({"id": "n", "text": "set the kitchen lights to 50%"}),
          response_topic="spec/home", correlation=b"n")
    r = c.until(lambda m: True).json()
    c.close()
    brightness = [s["value"] for s in r["slots"] if s["name"] == "brightness"]
    assert brightness == [50], r["slots"]


@pytest.mark.parametrize("profile", sorted(p.stem for p in (ROOT / "firmware_configs").glob("*.toml")))
def test_every_shipped_profile_is_valid(profile: str) -> None:
    """`edge config check FILE_OR_PROFILE`: 0 valid (every profile the project ships, by name)."""
    out = edge("config", "check", profile)
    assert out.returncode == 0, out.stderr


def test_edge_deploy_exits_3_when_no_device_answers_and_2_on_an_unsigned_package(tmp_path: Path) -> None:
    """`edge deploy DIR --device ID`: "3 timeout" (nobody there to take it); an unsigned package: 2 (edge sign's
    "2 on a bad package")."""
    import shutil

    from edge import signing as S

    broker = Broker(tmp_path / "b").start()
    try:
        pkg = tmp_path / "pkg"
        shutil.copytree(ROOT / "models" / "clinc150", pkg)
        unsigned = edge("deploy", str(pkg), "--device", "nobody", "--timeout", "2", "--host", "127.0.0.1",
                        "--port", str(broker.port))
        assert unsigned.returncode == 2, unsigned.stderr
        S.sign_package(pkg, S.generate())
        out = edge("deploy", str(pkg), "--device", "nobody", "--timeout", "2", "--host", "127.0.0.1",
                   "--port", str(broker.port))
        assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)
    finally:
        broker.stop()


@pytest.mark.slow
def test_a_minimal_json_names_file(tmp_path: Path) -> None:
    """Names file: "(YAML or JSON)"; "The domain is the entity id's prefix; aliases, floor, area, state and attributes
    are optional" (and floors and areas may be absent); only these entities may be named."""
    import asyncio

    from conftest import free_port
    from wyoming_ha import ha_process

    names = tmp_path / "names.json"
    names.write_text(json.dumps({"entities": [{"name": "Desk Lamp", "id": "light.desk_lamp"},
                                              {"name": "Fan", "id": "fan.ceiling"}]}))
    broker = Broker(tmp_path / "b").start()
    port = free_port()
    cfg = daemon_config(broker, tmp_path / "s", device_id="mini", model={"path": str(ROOT / "models" / "home")},
                        wyoming={"enabled": True, "port": port}, home={"names": str(names)})
    d = Daemon(tmp_path / "d", cfg, env={"EDGE_CLOUD_API_KEY": ""})
    try:
        d.start()

        async def go() -> list:
            return [await ha_process("127.0.0.1", port, t) for t in
                    ("turn on the desk lamp", "turn off the desk lamp", "turn on the kitchen ceiling")]

        on, off, unknown = [r.event() for r in asyncio.run(go())]
        assert on.type == "intent" and on.data["name"] == "HassTurnOn" and entities(on.data) == {"name": "Desk Lamp"}, on
        assert off.type == "intent" and entities(off.data) == {"name": "Desk Lamp"}, off
        assert unknown.type == "not-recognized", unknown  # in the test fixture's home, not in this file
        assert d.stop() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()


@pytest.mark.slow
def test_request_language_on_a_multilingual_model(assist: Any) -> None:
    """Request `language`: "a BCP 47 tag such as en or de; default the model's first language; one the model does
    not serve is an invalid_field error" — on models/home (en, de, fr, es) over MQTT."""
    c = Recorder(assist.broker.port).sub("spec/lang").sub("edge/home/error")
    for rid, text, language in (("de", "schalte das licht in der küche aus", "de-CH"), ("none", "turn off the kitchen lights", None),
                                ("it", "spegni la luce in cucina", "it")):
        body = {"id": rid, "text": text, **({"language": language} if language else {})}
        c.pub("edge/home/request", json.dumps(body), response_topic="spec/lang", correlation=rid.encode())
        m = c.until(lambda m: m.json().get("id") == rid)
        if rid == "it":
            assert m.json()["error"] == "invalid_field" and "it" in m.json()["message"], m.json()
        else:
            assert m.topic == "spec/lang" and m.json()["intent"] == "HassTurnOff", m.json()
    c.close()


def test_eval_slot_scores_count_a_slot_only_when_name_and_span_match(tmp_path: Path) -> None:
    """`edge eval` "reports slot precision, recall and F1 (a slot counts when name and span both match)": the model
    finds time "7 am" in each line; marked right once, with a shorter span once, under another name once."""
    f = tmp_path / "slots.md"
    f.write_text("## alarm\nset an alarm for [7 am](time)\nset an alarm for [7](time) am\n"
                 "set an alarm for [7 am](date)\n")
    out = edge("eval", "--data", str(f), "--json")
    assert out.returncode == 0, out.stderr
    slots = json.loads(out.stdout)["slots"]
    assert slots["support"] == 3
    assert (slots["precision"], slots["recall"], slots["f1"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3), abs=1e-3)


def _wrong(value: Any) -> Any:
    """A value of another TOML type than `value`'s (bool before int: a TOML true is no integer)."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return True if isinstance(value, int) else "soon"
    return 5


def test_every_spec_key_refuses_a_wrong_type_naming_key_and_file(tmp_path: Path) -> None:
    """"Unknown keys and wrong types are errors", for every key in the spec's blocks at once: one error per key,
    each naming the key and the file (`edge config check`: 2)."""
    import tomllib

    spec = tomllib.loads(SPEC_CONFIG)
    lines, keys = [], []
    for table, values in spec.items():
        if not isinstance(values, dict):
            lines.insert(0, f"{table} = {json.dumps(_wrong(values))}")
            keys.append(table)
            continue
        lines.append(f"[{table}]")
        for k, v in values.items():
            lines.append(f"{k} = {json.dumps(_wrong(v))}")
            keys.append(f"{table}.{k}")
    f = tmp_path / "wrong.toml"
    f.write_text("\n".join(lines) + "\n")
    out = edge("config", "check", str(f))
    assert out.returncode == 2
    errors = out.stderr.splitlines()
    for key in keys:
        assert any(f"{f}: {key}:" in line for line in errors), (key, out.stderr)
