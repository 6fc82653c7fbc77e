"""`edge deploy`: send a signed package to devices over MQTT, wave by wave, and watch their outcome.

The decisions (waves, what counts as done, the exit status) are edge/rollout.py's; this is the
broker side: one throw-away MQTT 5 client that
- subscribes to each device's retained `<base>/deploy/status` before sending anything, so
  the status left by an earlier deployment (delivered at subscribe, retained) is told apart
  from the answers to this one (live);
- for `--group`, finds the members from their retained health (`"group": NAME`), fenced by a
  message of its own so that every retained health has arrived before it counts them;
- publishes the package (QoS 1) to `<base>/deploy` of each device of a wave, or once to
  `edge/group/<name>/deploy` when the whole group goes in one wave.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Callable

from edge.config import MqttSettings
from edge.mqtt.client import paho
from edge.mqtt.message import LinkError
from edge.mqtt.tools import broker, close, connect_once
from edge.rollout import Device, Plan, status_update, wave_failed

BASE = "edge/{}"
log = logging.getLogger(__name__)


class _Watcher:
    """The client and what it has heard; paho's thread writes, the caller's thread waits."""

    def __init__(self, host: str, port: int, username: str, password: str, tls_ca: str,
                 tls: MqttSettings | None) -> None:
        self.cond = threading.Condition()
        self.plan: Plan | None = None
        self.groups: dict[str, set[str]] = {}  # group -> device ids, from retained health
        self.fenced = False
        self.fence = f"edge-deploy/fence/{uuid.uuid4().hex}"
        self.on_update: Callable[[Device], None] = lambda d: None
        # MQTT 5 always (the daemon's deploy topics need no 3.1.1 fallback); TLS as the daemon has it
        s = broker(host, port, username=username, protocol=5, tls_ca=tls_ca, tls=tls)
        self.client = connect_once(s, f"edge-deploy-{uuid.uuid4().hex[:12]}", password=password,
                                   on_message=self._on_message)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        try:  # paho's thread: nothing may raise here
            with self.cond:
                if msg.topic == self.fence:
                    self.fenced = True
                elif msg.topic.endswith("/health"):
                    self._health(msg.payload)
                elif msg.topic.endswith("/deploy/status") and not msg.retain and self.plan is not None:
                    device_id = msg.topic[len("edge/"):-len("/deploy/status")]
                    device = status_update(self.plan, device_id, msg.payload)
                    if device is not None:
                        self.on_update(device)
                self.cond.notify_all()
        except Exception:  # noqa: BLE001 - a garbled status is ignored, the rollout times out instead
            log.debug("status on %s ignored", msg.topic, exc_info=True)

    def _health(self, payload: bytes) -> None:
        try:
            h = json.loads(payload)
        except ValueError:
            return
        if isinstance(h, dict) and isinstance(h.get("group"), str) and isinstance(h.get("device_id"), str):
            self.groups.setdefault(h["group"], set()).add(h["device_id"])

    def subscribe(self, topics: list[str]) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_a: done.set()
        self.client.subscribe([(t, 1) for t in topics])
        if not done.wait(10):
            raise LinkError("the broker did not acknowledge the subscription")

    def wait(self, pred: Callable[[], bool], deadline: float) -> bool:
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def publish(self, topic: str, payload: bytes, timeout: float) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise LinkError(f"the broker did not acknowledge the package on {topic}")

    def close(self) -> None:
        close(self.client)


def group_members(host: str, port: int, group: str, *, username: str = "", password: str = "",
                  tls_ca: str = "", tls: MqttSettings | None = None) -> list[str]:
    """The devices whose retained health says they are in `group`, sorted. TLS: edge.mqtt.tools.broker."""
    w = _Watcher(host, port, username, password, tls_ca, tls)
    try:
        w.subscribe(["edge/+/health", w.fence])
        w.client.publish(w.fence, b"fence", qos=1)
        if not w.wait(lambda: w.fenced, time.monotonic() + 10):
            raise LinkError("the broker did not deliver our own fence message")
        return sorted(w.groups.get(group, ()))
    finally:
        w.close()


def roll_out(host: str, port: int, plan: Plan, payload: bytes, *, timeout: float, group: str = "",
             username: str = "", password: str = "", tls_ca: str = "", tls: MqttSettings | None = None,
             on_update: Callable[[Device], None] = lambda d: None) -> Plan:
    """Send the package wave by wave; each wave gets `timeout` seconds to reach an outcome. A wave
    with a device rejected, rolled back or silent stops the rollout. Returns the plan, filled in."""
    w = _Watcher(host, port, username, password, tls_ca, tls)
    try:
        w.on_update = on_update
        w.subscribe([f"{BASE.format(d.id)}/deploy/status" for d in plan.devices])
        with w.cond:
            w.plan = plan
        for wave in plan.waves:
            with w.cond:
                for d in wave:
                    d.sent = True
            if group and len(plan.waves) == 1:  # the whole group at once: one publication, every member
                w.publish(f"edge/group/{group}/deploy", payload, timeout)
            else:
                for d in wave:
                    w.publish(f"{BASE.format(d.id)}/deploy", payload, timeout)
            deadline = time.monotonic() + timeout
            last = wave is plan.waves[-1]
            # a wave is through once all are active; the last one is watched until probation ends
            through = (lambda: all(d.settled for d in wave)) if last else (lambda: all(d.done for d in wave))
            # not cut short by one failure: the others of this wave have the package too, and the
            # report must say what they did with it (a failure stops only the later waves)
            w.wait(through, deadline)
            with w.cond:
                if wave_failed(wave) or not all(d.state == "active" for d in wave):
                    break
        return plan
    finally:
        with w.cond:  # the outcome is judged on what was seen until now: a later status (a
            w.plan = None  # redelivery after `rejected`) must not change it under the report
        w.close()
