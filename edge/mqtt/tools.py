"""Throw-away clients for the command line: `edge send` (`request_once`), `edge homeassistant remove` (`publish_once`)."""

from __future__ import annotations

import threading

from edge.config import MqttSettings, Settings
from edge.mqtt.client import CallbackAPIVersion, PacketTypes, Properties, ReasonCode, paho
from edge.mqtt.link import LinkError, _nodelay, setup_tls


def request_once(
    host: str,
    port: int,
    base_topic: str,
    payload: dict,
    *,
    timeout: float,
    protocol: int = 5,
    username: str = "",
    password: str = "",
    tls_ca: str = "",
    tls: MqttSettings | None = None,
) -> dict | None:
    """`edge send`: publish one request, wait for its result (or its error); None on timeout.

    MQTT 5 uses a Response Topic and Correlation Data; 3.1.1 falls back to the
    `reply_to` field of the JSON request. The error topic is watched too, so a
    rejected request reports why instead of timing out. TLS: `tls` (the daemon's [mqtt] settings:
    CA, client certificate, tls_insecure) when given, else `tls_ca` alone turns it on; set up by
    the daemon's own `setup_tls`.
    """
    import json
    import uuid

    token = uuid.uuid4().hex
    # Not under the device's base topic: the daemon refuses reply topics there (a reply must not
    # fake a device's own topics). `reply/` is the namespace docs/guarantees.md's ACL grants.
    reply_topic = f"reply/edge-send/{token}"
    error_topic = f"{base_topic}/error"
    request_id = payload.setdefault("id", token)
    v5 = protocol == 5
    if not v5:
        payload["reply_to"] = reply_topic
    got: dict = {}
    done = threading.Event()
    subscribed = threading.Event()

    def on_connect(client: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            got["connect_error"] = str(rc)
            done.set()
            return
        client.subscribe([(reply_topic, 1), (error_topic, 1)])

    def on_subscribe(client: paho.Client, _u: object, _mid: int, _rcs: object, _p: object) -> None:
        props = None
        if v5:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_topic
            props.CorrelationData = token.encode()
        client.publish(f"{base_topic}/request", json.dumps(payload).encode(), qos=1, properties=props)
        subscribed.set()

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if msg.topic == error_topic and body.get("id") != request_id:
            return
        got["result"] = body
        done.set()

    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"edge-send-{token[:12]}",
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
    )
    if username:
        client.username_pw_set(username, password or None)
    if tls is None and tls_ca:
        tls = MqttSettings(tls=True, ca_file=tls_ca)
    if tls is not None and tls.tls:
        setup_tls(client, tls, ca_file=tls_ca or None)
    client.on_socket_open = lambda _c, _u, sock: _nodelay(sock)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise LinkError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    if "connect_error" in got:
        raise LinkError(f"broker refused the connection: {got['connect_error']}")
    return got.get("result")


def publish_once(settings: Settings, messages: list[tuple[str, bytes, bool]], *, password: str = "", timeout: float = 10.0) -> None:
    """Publish a few messages (QoS 1) with a throw-away client: `edge homeassistant remove`."""
    import uuid

    s = settings.mqtt
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"{settings.client_id}-tool-{uuid.uuid4().hex[:8]}",
        protocol=paho.MQTTv5 if s.protocol == 5 else paho.MQTTv311,
    )
    if s.username:
        client.username_pw_set(s.username, password or None)
    if s.tls:
        setup_tls(client, s)
    client.on_socket_open = lambda _c, _u, sock: _nodelay(sock)
    try:
        client.connect(s.host, s.port, keepalive=30)
    except OSError as exc:
        raise LinkError(f"cannot connect to {s.host}:{s.port}: {exc.strerror or exc}") from None
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=1, retain=r) for t, p, r in messages]
        for info in infos:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise LinkError("broker did not acknowledge the publication in time")
    finally:
        client.disconnect()
        client.loop_stop()
