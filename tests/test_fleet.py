"""Fleets: devices that share `group` split the requests sent to edge/group/<name>/request (an MQTT 5 shared
subscription), each request answered exactly once, on a real mosquitto with two real daemons."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import daemon_config

GROUP = "hall"
TOPIC = f"edge/group/{GROUP}/request"
TEXTS = ["what is my checking account balance", "please tell me a joke", "set an alarm for 7 am tomorrow"]


def member(broker: Any, tmp_path: Path, device_id: str, **mqtt: Any) -> str:
    # `group` is a top-level key, so it goes before the tables daemon_config writes.
    return f'group = "{GROUP}"\n' + daemon_config(broker, tmp_path / device_id, device_id=device_id, mqtt=mqtt)


def send_to_group(c: Any, n: int, tag: str) -> tuple[set[str], Any]:
    """Publish n group requests, all replying to one topic; returns their ids and the reply inbox."""
    replies = c.subscribe(f"test/fleet/{tag}")
    ids = {f"{tag}-{i}" for i in range(n)}
    for i, rid in enumerate(sorted(ids)):
        c.publish(TOPIC, json.dumps({"text": TEXTS[i % len(TEXTS)], "id": rid, "reply_to": f"test/fleet/{tag}"}))
    return ids, replies


@pytest.mark.slow
def test_group_requests_are_shared_and_answered_once(broker, daemon_factory, client_factory, tmp_path):
    a = daemon_factory(member(broker, tmp_path, "f1"))
    b = daemon_factory(member(broker, tmp_path, "f2"))
    c = client_factory(broker)
    by_device = {dev: c.subscribe(f"edge/{dev}/result") for dev in ("f1", "f2")}

    tag = uuid.uuid4().hex[:6]
    replies_topic = f"test/fleet/{tag}"
    ids, replies = send_to_group(c, 12, tag)
    answered = [replies.json()["id"] for _ in ids]
    assert sorted(answered) == sorted(ids)  # every request answered...
    # ...exactly once. Barrier: each member answers in order, so a second answer from either comes
    # before the answer to a fence sent to that member's own topic after the group's requests.
    fences = {f"fence-{dev}" for dev in ("f1", "f2")}
    for dev in ("f1", "f2"):
        c.publish(f"edge/{dev}/request", json.dumps({"text": TEXTS[0], "id": f"fence-{dev}", "reply_to": replies_topic}))
    later = [replies.json()["id"] for _ in fences]
    assert sorted(later) == sorted(fences), f"answered more than once: {later}"
    seen = {dev: {m.json()["id"] for m in box.drain()} - fences for dev, box in by_device.items()}
    assert seen["f1"] | seen["f2"] == ids and not seen["f1"] & seen["f2"]
    assert seen["f1"] and seen["f2"], "the broker should spread the work over both members"

    # Each member still serves its own topic, outside the group.
    assert c.request("edge/f2", {"text": TEXTS[0], "id": "own"})["id"] == "own"
    assert a.stop() == 0 and b.stop() == 0


@pytest.mark.slow
def test_stopped_member_gets_no_more_group_requests(broker, daemon_factory, client_factory, tmp_path):
    a = daemon_factory(member(broker, tmp_path, "f1"))
    b = daemon_factory(member(broker, tmp_path, "f2"))
    assert b.stop() == 0  # a clean stop (systemctl stop)
    c = client_factory(broker)
    ids, replies = send_to_group(c, 6, uuid.uuid4().hex[:6])
    answered = {replies.json(timeout=5)["id"] for _ in ids}
    assert answered == ids
    assert a.stop() == 0


@pytest.mark.slow
def test_leaving_the_group_stops_group_requests(broker, daemon_factory, client_factory, tmp_path):
    a = daemon_factory(member(broker, tmp_path, "f1"))
    b = daemon_factory(member(broker, tmp_path, "f2"))
    assert b.stop() == 0
    # The same device (same client id, same persistent session) comes back without `group`.
    alone = daemon_config(broker, tmp_path / "f2", device_id="f2")
    b2 = daemon_factory(alone)
    c = client_factory(broker)
    ids, replies = send_to_group(c, 6, uuid.uuid4().hex[:6])
    answered = {replies.json(timeout=5)["id"] for _ in ids}
    assert answered == ids
    assert a.stop() == 0 and b2.stop() == 0
