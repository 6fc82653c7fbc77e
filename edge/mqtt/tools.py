"""Throw-away clients for the command line: `edge send` (`request_once`), `edge homeassistant
remove` (`publish_once`) and `edge deploy` (edge/mqtt/fleet.py), all made by `connect_once`.

`connect_once` is their one set-up: paho's client for the protocol asked, the user name and
password, the daemon's own TLS (`setup_tls`: client certificate, tls_insecure,
PROTOCOL_TLS_CLIENT), TCP_NODELAY, and a CONNACK waited for. Whatever keeps it from a broker
session (unreachable, TLS, refused, no answer) raises LinkError, which the commands turn into
exit 4 ("no broker"); 1 stays a daemon's own error.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable, Mapping

from edge.config import MqttSettings, Settings
from edge.mqtt.client import CallbackAPIVersion, PacketTypes, Properties, ReasonCode, paho
from edge.mqtt.configure import nodelay, setup_tls
from edge.mqtt.message import LinkError

CONNECT_TIMEOUT_S = 10.0  # a broker that takes the TCP connection but sends no CONNACK

MessageCallback = Callable[[paho.Client, object, paho.MQTTMessage], None]


def connect_once(s: MqttSettings, client_id: str, *, password: str = "", on_message: MessageCallback | None = None,
                 timeout: float = CONNECT_TIMEOUT_S) -> paho.Client:
    """A client connected to `s.host:s.port` with paho's network thread running; `close` it.
    `on_message` is set before the connection, so a retained message delivered at the first
    subscription is never missed. Raises LinkError when there is no broker session."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5 if s.protocol == 5 else paho.MQTTv311)
    if s.username:
        client.username_pw_set(s.username, password or None)
    if s.tls:
        setup_tls(client, s)  # LinkError naming the files when they cannot be used
    client.on_socket_open = lambda _c, _u, sock: nodelay(sock)
    if on_message is not None:
        client.on_message = on_message
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(_c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            refused.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(s.host, s.port, keepalive=30)  # the TLS handshake too: an untrusted broker fails here
    except OSError as exc:  # ssl.SSLError is one
        raise LinkError(f"cannot connect to {s.host}:{s.port}: {exc.strerror or exc}") from None
    client.loop_start()
    if not connected.wait(timeout) or refused:
        client.disconnect()
        client.loop_stop()
        if refused:
            raise LinkError(f"broker {s.host}:{s.port} refused the connection: {refused[0]}")
        raise LinkError(f"broker {s.host}:{s.port} accepted the TCP connection but sent no CONNACK within {timeout:g} s")
    return client


def close(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


def broker(host: str, port: int, *, username: str = "", protocol: int = 5, tls_ca: str = "",
           tls: MqttSettings | None = None) -> MqttSettings:
    """The broker settings of a command: `tls` (TLS as the daemon has it: CA, client certificate,
    tls_insecure) when given, else `tls_ca` alone turns TLS on; host, port, user and protocol as given."""
    base = tls if tls is not None else MqttSettings()
    on = base.tls or bool(tls_ca)
    return replace(base, host=host, port=port, username=username, protocol=protocol, tls=on,
                   ca_file=tls_ca or base.ca_file)


def tls_from_env(ca_file: str = "", environ: Mapping[str, str] | None = None) -> MqttSettings:
    """TLS for `edge send` and `edge deploy` from the daemon's variables (EDGE_MQTT_TLS,
    EDGE_MQTT_CA_FILE, EDGE_MQTT_CERT_FILE, EDGE_MQTT_KEY_FILE, EDGE_MQTT_TLS_INSECURE), each
    checked as the daemon checks it (ConfigError naming the variable); `--ca-file` wins and
    turns TLS on."""
    from edge import config as cfg

    def pick(key: str) -> object:
        value = cfg.env_value(key, environ)
        return cfg.default(key) if value is None else value

    return MqttSettings(tls=bool(pick("mqtt.tls")) or bool(ca_file), ca_file=ca_file or str(pick("mqtt.ca_file")),
                        cert_file=str(pick("mqtt.cert_file")), key_file=str(pick("mqtt.key_file")),
                        tls_insecure=bool(pick("mqtt.tls_insecure")))


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
    rejected request reports why instead of timing out. TLS: see `broker`.
    Raises LinkError when there is no broker session.
    """
    import json
    import time
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

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(body, dict) or (msg.topic == error_topic and body.get("id") != request_id):
            return
        got["result"] = body
        done.set()

    deadline = time.monotonic() + timeout
    s = broker(host, port, username=username, protocol=protocol, tls_ca=tls_ca, tls=tls)
    client = connect_once(s, f"edge-send-{token[:12]}", password=password, on_message=on_message,
                          timeout=min(timeout, CONNECT_TIMEOUT_S))
    try:
        client.on_subscribe = lambda *_a: subscribed.set()
        client.subscribe([(reply_topic, 1), (error_topic, 1)])
        if not subscribed.wait(max(0.0, deadline - time.monotonic())):
            return None
        props = None
        if v5:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_topic
            props.CorrelationData = token.encode()
        client.publish(f"{base_topic}/request", json.dumps(payload).encode(), qos=1, properties=props)
        done.wait(max(0.0, deadline - time.monotonic()))
    finally:
        close(client)
    return got.get("result")


def publish_once(settings: Settings, messages: list[tuple[str, bytes, bool]], *, password: str = "", timeout: float = 10.0) -> None:
    """Publish a few messages (QoS 1) with a throw-away client: `edge homeassistant remove`.
    Raises LinkError when there is no broker session or a publication is not acknowledged in time."""
    import uuid

    client = connect_once(settings.mqtt, f"{settings.client_id}-tool-{uuid.uuid4().hex[:8]}", password=password)
    try:
        infos = [client.publish(t, p, qos=1, retain=r) for t, p, r in messages]
        for info in infos:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise LinkError("broker did not acknowledge the publication in time")
    finally:
        close(client)
