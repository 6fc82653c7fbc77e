"""The mosquitto ACL of docs/guarantees.md, verbatim, against a real mosquitto and the real daemon.

The daemon confines reply topics itself (contract.reply_topic_problem, issue 21 item 4);
the broker's ACL confines everything it publishes. This runs the documented block (device
`kitchen` renamed to the test's device) with `reply_prefixes = ["reply"]`, and checks that
everything the daemon does is allowed (nothing refused: health's publish_refused stays 0)
and that what a request may not ask for is refused by the daemon before the broker sees it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import ROOT, daemon_config
from mqttc import TestClient
from tls_certs import make_password_file

pytestmark = pytest.mark.slow

DEVICE = "test"
BASE = f"edge/{DEVICE}"


def documented_acl() -> str:
    text = (ROOT / "docs" / "guarantees.md").read_text()
    section = text.split("## Where the daemon may publish", 1)[1]
    block = re.search(r"```\n(user edge-kitchen\n.*?)```", section, re.S)
    assert block, "docs/guarantees.md lost its ACL block"
    return block.group(1).replace("kitchen", DEVICE)


@pytest.fixture
def acl_broker(broker_factory, tmp_path: Path):
    pw = make_password_file(tmp_path / "passwd", f"edge-{DEVICE}", "device-secret")
    # add the requester: a second user with full rights
    import subprocess

    subprocess.run(["mosquitto_passwd", "-b", str(pw), "tester", "tester-secret"], check=True, timeout=30)
    acl = tmp_path / "acl"
    acl.write_text(documented_acl() + "\nuser tester\ntopic readwrite #\n")
    return broker_factory(extra=f"password_file {pw}\nacl_file {acl}\n")


def health_after(box, pred, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = box.json(timeout=timeout)
        if pred(h):
            return h
    raise AssertionError("health never showed the expected state")


def test_the_documented_acl_allows_everything_the_daemon_does_and_the_daemon_refuses_the_rest(
        acl_broker, daemon_factory, tmp_path: Path) -> None:
    cfg = daemon_config(acl_broker, tmp_path / "state", device_id=DEVICE, health={"interval_s": 0.5},
                        mqtt={"username": f"edge-{DEVICE}", "reply_prefixes": ["reply"]},
                        integrations={"hermes": True, "home_assistant": True})
    daemon_factory(cfg, env={"EDGE_MQTT_PASSWORD": "device-secret"})
    c = TestClient(acl_broker.port, username="tester", password="tester-secret")
    try:
        status = c.subscribe(f"{BASE}/status")
        assert status.get(timeout=10).payload == b"online"
        health = c.subscribe(f"{BASE}/health")
        results = c.subscribe(f"{BASE}/result")
        errors = c.subscribe(f"{BASE}/error")
        reply = c.subscribe("reply/app/1")
        intents = c.subscribe(f"{BASE}/intent/#")
        c.publish(f"{BASE}/request", json.dumps({"id": "ok", "text": "what's the weather like tomorrow",
                                                 "reply_to": "reply/app/1"}))
        assert reply.json()["id"] == "ok"
        assert results.json()["id"] == "ok"
        assert intents.json()["id"] == "ok"
        # outside reply_prefixes, another device's intent topic, a command topic: refused by the daemon
        for rid, topic in (("allow", "app/answers"), ("other", "edge/other/intent/unlock_door"),
                           ("own", f"{BASE}/status"), ("z2m", "zigbee2mqtt/front_door/set")):
            c.publish(f"{BASE}/request", json.dumps({"id": rid, "text": "unlock the door", "reply_to": topic}))
            err = errors.json()
            assert err["id"] == rid and err["error"] == "invalid_field", err
        h = health_after(health, lambda h: h["errors"] >= 4)
        assert h["publish_refused"] == 0, h
    finally:
        c.close()


@pytest.mark.parametrize("reply_to", ["edge/other/intent/unlock_door", f"{BASE}/intent/unlock_door",
                                      f"{BASE}/status", "zigbee2mqtt/front_door/set", "cmnd/plug/POWER",
                                      "edge/group/hall/result", "esphome/relay/switch/command"])
def test_no_request_makes_the_daemon_publish_on_device_or_command_topics(
        broker, daemon_factory, client_factory, tmp_path: Path, reply_to: str) -> None:
    """Default config (no allowlist): the topics of issue 21 item 4 get invalid_field, and nothing."""
    daemon_factory(daemon_config(broker, tmp_path / "state", device_id=DEVICE))
    c = client_factory(broker)
    spy = c.subscribe("#")
    errors = c.subscribe(f"{BASE}/error")
    c.publish(f"{BASE}/request", json.dumps({"id": "evil", "text": "unlock the door", "reply_to": reply_to}))
    assert errors.json()["error"] == "invalid_field"
    # a fence: a later request's reply arrives after anything the first could have caused
    fence = c.subscribe("reply/fence")
    c.publish(f"{BASE}/request", json.dumps({"id": "fence", "text": "hello", "reply_to": "reply/fence"}))
    assert fence.json()["id"] == "fence"
    # the daemon publishes on its own status and intent topics itself: only what "evil" caused counts
    caused = sorted({m.topic for m in spy.drain() if b'"evil"' in m.payload and m.topic != f"{BASE}/request"})
    assert caused == [f"{BASE}/error"], caused
