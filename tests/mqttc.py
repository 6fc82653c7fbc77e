"""A small paho test client: subscribe into inboxes, publish with MQTT 5 properties, request/response."""

from __future__ import annotations

import json
import queue
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None
    qos: int = 0  # the QoS it arrived with (what it was published with, for a subscription at QoS 2)

    def json(self) -> Any:
        return json.loads(self.payload)


class Inbox:
    def __init__(self) -> None:
        self.q: queue.Queue[Received] = queue.Queue()

    def get(self, timeout: float = 10.0) -> Received:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def json(self, timeout: float = 10.0) -> Any:
        return self.get(timeout).json()

    def drain(self) -> list[Received]:
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                return out


class TestClient:
    """Connects at construction; every subscription gets its own inbox (topic filters may overlap)."""

    __test__ = False  # not a pytest class

    def __init__(self, port: int, host: str = "127.0.0.1", protocol: int = 5, client_id: str | None = None, **tls: Any) -> None:
        self._inboxes: list[tuple[str, Inbox]] = []
        self._lock = threading.Lock()
        self.v5 = protocol == 5
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:10]}",
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
        )
        if tls.get("username"):
            self.client.username_pw_set(tls["username"], tls.get("password"))
        if tls.get("ca"):
            self.client.tls_set(ca_certs=tls["ca"], certfile=tls.get("cert"), keyfile=tls.get("key"))
        self.client.on_socket_open = lambda c, u, s: (getattr(s, "socket", None) or s).setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        self.client.on_message = self._on_message
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not connected.wait(10):
            raise AssertionError("test client could not connect")

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        corr = getattr(props, "CorrelationData", None) if props else None
        rec = Received(msg.topic, msg.payload, bool(msg.retain), bytes(corr) if corr is not None else None, msg.qos)
        with self._lock:
            boxes = [box for filt, box in self._inboxes if paho.topic_matches_sub(filt, msg.topic)]
        for box in boxes:
            box.q.put(rec)

    def subscribe(self, topic: str, qos: int = 1) -> Inbox:
        box = Inbox()
        with self._lock:
            self._inboxes.append((topic, box))
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos)
        if not done.wait(10):
            raise AssertionError(f"subscribe to {topic} not acknowledged")
        return box

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 1,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        wait: bool = True,
    ) -> None:
        props = None
        if self.v5 and (response_topic or correlation):
            props = Properties(PacketTypes.PUBLISH)
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation is not None:
                props.CorrelationData = correlation
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if wait and qos > 0:
            info.wait_for_publish(10)

    def request(self, base: str, body: dict | str, timeout: float = 10.0) -> dict:
        """Publish to <base>/request with a Response Topic and wait for the reply."""
        token = uuid.uuid4().hex
        reply = f"test/reply/{token}"
        box = self.subscribe(reply)
        payload = body if isinstance(body, str) else json.dumps(body)
        if self.v5:
            self.publish(f"{base}/request", payload, response_topic=reply, correlation=token.encode())
        else:
            obj = json.loads(payload) if isinstance(body, dict) else {"text": body}
            obj["reply_to"] = reply
            self.publish(f"{base}/request", json.dumps(obj))
        msg = box.get(timeout)
        if self.v5:
            assert msg.correlation == token.encode(), "correlation data not echoed"
        return msg.json()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
