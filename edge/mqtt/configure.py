"""How edge configures a paho client: TLS (one set-up for the daemon and the command-line tools),
the daemon's client (persistent session, manual acks, will, in-flight window), its CONNECT
properties, its PUBLISH properties packed cheaply, TCP_NODELAY, and paho's log at DEBUG."""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any

from edge.config import MqttSettings, Settings
from edge.mqtt.client import (MAX_INFLIGHT, CallbackAPIVersion, Client, PacketTypes, Properties,
                              VariableByteIntegers, paho)
from edge.mqtt.message import LinkError

log = logging.getLogger("edge.mqtt")

_PACKET_FLOOR = 64 << 20


def setup_tls(client: paho.Client, s: MqttSettings, ca_file: str | None = None) -> None:
    """The one TLS set-up of every client edge makes (the daemon, `edge send`, `edge homeassistant
    remove`): the broker's chain verified against `ca_file` (else the system's), its host name
    checked unless tls_insecure, a client certificate when configured, PROTOCOL_TLS_CLIENT.
    Raises LinkError naming the files when they cannot be used."""
    try:
        client.tls_set(
            ca_certs=(ca_file if ca_file is not None else s.ca_file) or None,
            certfile=s.cert_file or None,
            keyfile=s.key_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        client.tls_insecure_set(s.tls_insecure)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise LinkError(f"TLS set-up failed (mqtt.ca_file / cert_file / key_file): {exc}") from None


def daemon_client(settings: Settings, password: str, status_topic: str) -> Client:
    """The daemon's paho client, callbacks not yet set: a kept session (MQTT 5: clean_start=False at
    connect; 3.1.1: clean_session=False), manual acks, the `offline` will, credentials and TLS."""
    s = settings.mqtt
    v5 = s.protocol == 5
    client = Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        clean_session=None if v5 else False,
        manual_ack=True,
    )
    if log.isEnabledFor(logging.DEBUG):
        # paho formats every line it would log (each packet, its Properties with str()) before
        # calling on_log: 8 lines and ~20 us per request, measured (docs/performance.md), for lines
        # paho_log drops unless DEBUG is on.
        client.on_log = paho_log
    # The default of 20 in-flight publications caps throughput at 20 / RTT; each
    # request makes 2-3 publications, so allow a deeper pipeline (lowered to the broker's
    # Receive Maximum on connect).
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.will_set(status_topic, b"offline", qos=1, retain=True)
    if s.username:
        client.username_pw_set(s.username, password or None)
    if s.tls:
        setup_tls(client, s)
    return client


def connect_kwargs(settings: Settings) -> dict[str, Any]:
    """What `connect_async` gets beyond host, port and keepalive: on MQTT 5, clean_start=False and the
    CONNECT properties (session expiry, Receive Maximum, Maximum Packet Size); nothing on 3.1.1."""
    if settings.mqtt.protocol != 5:
        return {}
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = settings.mqtt.session_expiry_s
    props.ReceiveMaximum = 200  # our in-flight window is bounded by manual acks anyway; say so
    # The largest packet we take: a model package (`[deploy] max_bytes`) or a request, plus room
    # for the header. An MQTT 5 broker must not send more (mosquitto drops it for us), so a 200 MB
    # publication never reaches a 512 MB device's memory: paho would read it whole before we
    # could refuse it. Below this, an oversized request is still answered payload_too_large.
    props.MaximumPacketSize = max_packet_bytes(settings)
    return {"clean_start": False, "properties": props}


def max_packet_bytes(settings: Settings) -> int:
    """The Maximum Packet Size the daemon announces in CONNECT (MQTT 5): what it can answer or deploy.

    Never below 64 MiB (the default `[deploy] max_bytes`): a package somewhat over a device's own lower
    limit must still reach it, so the operator reads "package too large" rather than a silent timeout;
    a 200 MB publication stays out either way."""
    largest = max(settings.deploy.max_bytes, _PACKET_FLOOR, settings.mqtt.max_payload_bytes)
    return min(largest + 64 * 1024, 268_435_455)  # MQTT's own limit on a packet


class JsonPublishProps(Properties):
    """PUBLISH properties of a JSON payload: Payload Format Indicator 1, Content Type
    application/json and the Correlation Data if any, packed directly. paho's Properties
    validates in every __setattr__ and its pack() walks all 27 property names: about 23 us
    a publication here, three per request (docs/performance.md, change 5). paho only calls
    pack() on publish properties (and str() when it logs)."""

    _FIXED = b"\x01\x01\x03" + len(b"application/json").to_bytes(2, "big") + b"application/json"

    def __init__(self, correlation: bytes | None) -> None:  # paho's __init__ is part of the cost
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)
        object.__setattr__(self, "correlation", None if correlation is None else bytes(correlation))

    def pack(self) -> bytes:
        if self.correlation is None:
            return _PACKED_FIXED  # two of a request's three publications
        body = self._FIXED + b"\x09" + len(self.correlation).to_bytes(2, "big") + self.correlation
        return VariableByteIntegers.encode(len(body)) + body

    def __str__(self) -> str:
        return f"[PayloadFormatIndicator: 1, ContentType: application/json, CorrelationData: {self.correlation!r}]"

    __repr__ = __str__


_PACKED_FIXED = VariableByteIntegers.encode(len(JsonPublishProps._FIXED)) + JsonPublishProps._FIXED
# The properties of a publication without Correlation Data, shared: nothing writes to them once made.
JSON_PROPS = JsonPublishProps(None)


def paho_log(_client: paho.Client, _userdata: object, level: int, text: str) -> None:
    """paho's own log lines at DEBUG: log-based alerts must not fire on normal operation."""
    log.debug("paho: %s", text)


def nodelay(sock: socket.socket | object) -> None:
    """Disable Nagle: request/response over MQTT is latency-bound, not bandwidth-bound."""
    raw = getattr(sock, "socket", None) or sock  # paho may hand us an SSL socket wrapper
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
    except (OSError, AttributeError) as exc:
        log.debug("could not set TCP_NODELAY: %s", exc)
