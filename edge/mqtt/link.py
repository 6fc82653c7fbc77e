"""`Link`: one broker connection for the daemon (see the package docstring for what it adds to paho).

About 450 lines, nearly all of them the `Link` class and the paho callbacks it
installs: start-up, publish with completion, ack, the connect and subscribe
bookkeeping and the stop are one state machine around one paho client, and
splitting it would scatter that state across files."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable

from edge.config import Settings
from edge.contract import valid_publish_topic
from edge.mqtt.client import (MAX_INFLIGHT, MAX_QUEUED, CallbackAPIVersion, Client, PacketTypes, Properties, ReasonCode,
                              SubscribeOptions, VariableByteIntegers, paho)

log = logging.getLogger("edge.mqtt")

# CONNACK reasons that retrying will not fix: the user must change the config.
_FATAL_CONNACK = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned"}


class LinkError(Exception):
    """The broker refused us for a reason that retrying cannot fix."""


@dataclass(frozen=True, slots=True)
class Message:
    """An incoming publication, reduced to what the service needs."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    response_topic: str | None
    correlation: bytes | None
    retain: bool = False


Done = Callable[[], None]


class Link:
    """One broker connection; thread-safe publish/ack; callbacks run on paho's network thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        password: str = "",
        on_message: Callable[[Message], None],
        on_connect: Callable[[bool], None],
        on_disconnect: Callable[[str], None] | None = None,
        on_settled: Callable[[], None] | None = None,
        on_read_done: Callable[[], None] | None = None,
    ) -> None:
        self._s = settings
        # After each turn of paho's loop (its reads done and their on_message calls made), on the
        # network thread: the service answers the requests that read brought there, as one batch.
        self._on_read_done = self._supervised(on_read_done) if on_read_done is not None else None
        self._on_message_cb = on_message
        self._on_connect_cb = on_connect
        self._on_disconnect_cb = on_disconnect
        self._on_settled_cb = on_settled  # the broker holds exactly our subscriptions (stale ones dropped)
        self.callback_errors = 0
        self.publish_refused = 0  # PUBACKs with a failure reason code (MQTT 5)
        self.publish_backpressure = 0  # publications paho had no room for (kept on disk instead)
        self._stopping = False
        self._ever_connected = False
        self._unsub_mid: int | None = None
        self.status_topic = f"{settings.base_topic}/status"
        self._connected = threading.Event()
        self._first_result = threading.Event()
        self._fatal: str | None = None
        self._lock = threading.Lock()
        # mid -> completion callback (None: nobody waits). `_early` holds PUBACKs that
        # arrived before publish() returned the mid to us: paho may deliver them on its
        # network thread first, and taking our lock around paho.publish() would deadlock
        # against paho's own mutex held while it calls on_publish.
        self._pending: dict[int, Done | None] = {}
        self._early: set[int] = set()
        self._subscriptions: list[tuple[str, int]] = []
        self._stale: list[str] = []
        self._unsubscribed = threading.Event()
        self._sub_mid: int | None = None  # the SUBSCRIBE of the latest connect; its SUBACK completes start-up
        self._v5 = settings.mqtt.protocol == 5
        self._client = self._make_client(password)

    # -- set-up -------------------------------------------------------------------------

    def _make_client(self, password: str) -> paho.Client:
        s = self._s.mqtt
        client = Client(
            self,
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._s.client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        if log.isEnabledFor(logging.DEBUG):
            # paho formats every line it would log (each packet, its Properties with str()) before
            # calling on_log: 8 lines and ~20 us per request, measured (docs/performance.md), for lines
            # _paho_log drops unless DEBUG is on. Without on_log paho logs nothing, and its ERROR
            # lines (each failed reconnect attempt) are routine here anyway.
            client.on_log = _paho_log
        # The default of 20 in-flight publications caps throughput at 20 / RTT; each
        # request makes 2-3 publications, so allow a deeper pipeline (lowered to the broker's
        # Receive Maximum on connect).
        client.max_inflight_messages_set(MAX_INFLIGHT)
        # paho sleeps for these as floats: no rounding (0.05 s is a valid setting, 0.5 s the default).
        client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)  # type: ignore[arg-type]
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        if s.username:
            client.username_pw_set(s.username, password or None)
        if s.tls:
            try:
                self._tls_set(client)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise LinkError(f"TLS set-up failed (mqtt.ca_file / cert_file / key_file): {exc}") from None
        client.on_socket_open = _nodelay
        client.on_connect = self._supervised(self._handle_connect)
        client.on_disconnect = self._supervised(self._handle_disconnect)
        client.on_message = self._supervised(self._handle_message)
        client.on_publish = self._supervised(self._handle_publish)
        client.on_subscribe = self._supervised(self._handle_subscribe)
        client.on_unsubscribe = self._supervised(self._handle_unsubscribe)
        return client

    def _supervised(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Run a callback on paho's network thread so that nothing raises into paho."""

        def run(*args: object) -> None:
            try:
                fn(*args)
            except Exception:
                self.callback_errors += 1
                log.exception("%s failed on the network thread; carrying on", fn.__name__)

        run.__name__ = fn.__name__
        return run

    def network_alive(self, stale_after: float | None = None) -> bool:
        """paho's network thread runs and makes progress: while connected, bytes arrive at least
        every keepalive (PINGRESP); a callback stuck on that thread stops them."""
        thread = self._client._thread
        if thread is None or not thread.is_alive():
            return False
        if not self._connected.is_set():
            return True  # reconnecting with backoff is the thread's job now
        limit = stale_after if stale_after is not None else 2.0 * self._s.mqtt.keepalive_s + 5.0
        return time.monotonic() - self._client._last_bytes_received < limit

    def _tls_set(self, client: paho.Client) -> None:
        s = self._s.mqtt
        client.tls_set(
            ca_certs=s.ca_file or None,
            certfile=s.cert_file or None,
            keyfile=s.key_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        client.tls_insecure_set(s.tls_insecure)

    def subscribe_on_connect(self, topic: str, qos: int = 1) -> None:
        """Topics (re)subscribed on every connect; with a kept session the broker already has them."""
        self._subscriptions.append((topic, qos))

    def unsubscribe_on_connect(self, topics: list[str]) -> None:
        """Subscriptions a resumed session may still hold from an older config (a group we left)."""
        self._stale = [t for t in topics if t not in {s for s, _ in self._subscriptions}]

    @property
    def subscriptions(self) -> list[str]:
        return [t for t, _ in self._subscriptions]

    def start(self) -> None:
        """Connect in the background; paho's thread reconnects with backoff from then on."""
        if self._s.mqtt.tls:
            self._check_tls()
        props = None
        kwargs: dict = {}
        if self._v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._s.mqtt.session_expiry_s
            # Our in-flight window is bounded by manual acks anyway; say so explicitly.
            props.ReceiveMaximum = 200
            kwargs = {"clean_start": False, "properties": props}
        self._client.connect_async(self._s.mqtt.host, self._s.mqtt.port, self._s.mqtt.keepalive_s, **kwargs)
        self._client.loop_start()

    def _check_tls(self) -> None:
        """One TLS handshake before paho takes over: paho would retry a certificate that can
        never verify forever, logging only "not connected". An unreachable broker is fine
        (it may come up later); a broker we must not trust is a configuration error."""
        s = self._s.mqtt
        ctx = self._client._ssl_context  # the context tls_set() built: the exact same checks
        if ctx is None:
            return
        try:
            with socket.create_connection((s.host, s.port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=s.host):
                    pass
        except ssl.SSLCertVerificationError as exc:
            raise LinkError(f"TLS: the broker's certificate does not verify: {exc.verify_message} "
                            f"(check mqtt.ca_file, or the broker's host name {s.host!r})") from None
        except ssl.SSLError as exc:
            raise LinkError(f"TLS handshake with {s.host}:{s.port} failed: {exc.reason or exc}") from None
        except OSError as exc:
            log.warning("broker %s:%d not reachable yet (%s); will keep trying", s.host, s.port, exc.strerror or exc)

    def wait_first_connect(self, timeout: float | None = None) -> bool:
        """Block until the first CONNACK and SUBACK; raises LinkError when the broker refused us for good."""
        self._first_result.wait(timeout)
        if self._fatal:
            raise LinkError(self._fatal)
        return self._connected.is_set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def ever_connected(self) -> bool:
        return self._ever_connected

    @property
    def refused(self) -> bool:
        """The broker refused us for good (its network thread then ends on purpose)."""
        return self._fatal is not None

    # -- traffic -----------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        correlation: bytes | None = None,
        on_done: Done | None = None,
    ) -> bool:
        """Hand a publication to paho; `on_done` fires on PUBACK (QoS 1) or once written (QoS 0).

        Returns False when we are not connected: the caller keeps the message (the
        outbox) instead of trusting paho's in-memory queue, which a restart loses.
        """
        if not self._connected.is_set():
            return False
        if not valid_publish_topic(topic):
            # Never succeeds, and costs the connection: drop it loudly, and complete it so
            # that the request is acknowledged instead of redelivered (and dropped) forever.
            log.error("dropped a publication to %r: the broker refuses that topic name", topic)
            if on_done is not None:
                on_done()
            return True
        if qos > 0 and self._client.backlog() >= MAX_QUEUED:
            # In flight plus queued in paho: beyond MAX_QUEUED the caller keeps this one in the outbox
            # on disk. Unbounded, a flood queued 65,535+ publications in paho (231 MB RSS), its message
            # ids ran out and results were duplicated (issue 21).
            self.publish_backpressure += 1
            return False
        # Every payload we publish is JSON: say so (MQTT 5 Payload Format Indicator and Content Type).
        props = _JsonPublishProps(correlation) if self._v5 else None
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc == paho.MQTT_ERR_NO_CONN:
            # paho queued it in memory and will send it after reconnecting; the
            # completion still fires then, so treat it as handed over.
            log.debug("published while the link dropped; paho will resend mid %d", info.mid)
        elif info.rc == paho.MQTT_ERR_QUEUE_SIZE:  # paho's own limit, just above ours: the same answer
            self.publish_backpressure += 1
            return False
        elif info.rc != paho.MQTT_ERR_SUCCESS:
            log.warning("publish to %s failed: %s", topic, paho.error_string(info.rc))
            return False
        fire = False
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                fire = True
            else:
                self._pending[info.mid] = on_done
        if fire and on_done is not None:
            on_done()
        return True

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a request; lost if disconnected, and then the broker redelivers it."""
        if qos > 0:
            try:
                self._client.ack(mid, qos)
            except Exception as exc:  # a dropped socket: the broker redelivers it
                log.debug("ack of mid %d not sent: %s", mid, exc)

    def flush(self) -> None:
        """Write what has been published so far now, when called on the network thread (the batch
        answered there); elsewhere paho's thread writes it anyway, woken by the publish."""
        self._client.flush()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)

    def stop(self, timeout: float = 5.0) -> None:
        """Publish `offline` (so the will is not needed), disconnect cleanly, stop the thread.

        Shared (fleet) subscriptions are dropped first: a broker keeps routing a
        share of the group's requests to a stopped member's kept session, where
        they would wait until it returns instead of going to a live member.
        """
        shared = [t for t, _ in self._subscriptions if t.startswith("$share/")]
        if shared and self._connected.is_set():
            self._unsubscribed.clear()
            self._client.unsubscribe(shared)
            if not self._unsubscribed.wait(timeout):
                log.warning("broker did not confirm leaving %s", ", ".join(shared))
        self._stopping = True  # the disconnect below is ours: no warning, no reconnect
        if self._connected.is_set():
            info = self._client.publish(self.status_topic, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("could not publish offline status before disconnecting")
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho callbacks (network thread) -----------------------------------------------

    def _handle_connect(self, client: paho.Client, _u: object, flags: paho.ConnectFlags, rc: ReasonCode,
                        props: Properties | None) -> None:
        if rc.is_failure:
            reason = str(rc)
            log.log(logging.ERROR if reason in _FATAL_CONNACK else logging.DEBUG,
                    "broker %s:%d refused the connection: %s", self._s.mqtt.host, self._s.mqtt.port, reason)
            if reason in _FATAL_CONNACK:
                self._fatal = f"broker refused the connection: {reason} (check mqtt.username and the password)"
                self._first_result.set()
                client.disconnect()
            return
        log.info(
            "%s %s:%d (MQTT %s, session %s)",
            "reconnected to" if self._ever_connected else "connected to",
            self._s.mqtt.host,
            self._s.mqtt.port,
            "5" if self._v5 else "3.1.1",
            "resumed" if flags.session_present else "new",
        )
        self._ever_connected = True
        # The broker's Receive Maximum (MQTT 5; absent means 65,535): publications in flight beyond it
        # make a strict broker disconnect us. paho does not read it, so its window is set here.
        receive_max = getattr(props, "ReceiveMaximum", None) if props is not None else None
        client._max_inflight_messages = min(MAX_INFLIGHT, receive_max or MAX_INFLIGHT)
        if self._stale and flags.session_present:
            log.info("dropping subscriptions this config no longer wants: %s", ", ".join(self._stale))
            _rc, self._unsub_mid = client.unsubscribe(self._stale)
        else:
            self._stale = []  # a new session holds nothing old
        if self._subscriptions:
            # Retain Handling 2: the broker never sends us a retained request (it would re-run at every
            # subscribe). 3.1.1 has no such option; the service drops retained deliveries there.
            opts = (lambda q: SubscribeOptions(qos=q, retainHandling=2)) if self._v5 else (lambda q: q)
            _rc, self._sub_mid = client.subscribe([(t, opts(q)) for t, q in self._subscriptions])
        info = client.publish(self.status_topic, b"online", qos=1, retain=True)
        with self._lock:
            # Registered, so its PUBACK is not left in `_early`, where a reused mid would
            # later complete (and ack) another publication before the broker has it.
            self._pending[info.mid] = None
        self._connected.set()
        if not self._subscriptions:
            self._first_result.set()
        self._on_connect_cb(bool(flags.session_present))

    def _handle_disconnect(self, _c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and self._stopping:
            log.info("disconnected from the broker")
        elif was:
            log.warning("broker %s:%d went away (%s); reconnecting with backoff",
                        self._s.mqtt.host, self._s.mqtt.port, rc)
            if self._on_disconnect_cb:
                self._on_disconnect_cb(str(rc))

    def _handle_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        self._on_message_cb(
            Message(
                topic=msg.topic,
                payload=msg.payload,
                mid=msg.mid,
                qos=msg.qos,
                dup=bool(msg.dup),
                response_topic=response_topic or None,
                correlation=bytes(correlation) if correlation is not None else None,
                retain=bool(msg.retain),
            )
        )

    def _handle_subscribe(self, _c: paho.Client, _u: object, mid: int, rcs: list[ReasonCode], _p: object) -> None:
        """Start-up completes at the first SUBACK, not the CONNACK: READY must mean that a request
        published now reaches us (on a new session the subscription does not exist before)."""
        if mid != self._sub_mid:
            return
        refused = [str(rc) for rc in rcs if rc.is_failure]
        if refused:
            log.error("broker refused subscriptions %s: %s", [t for t, _ in self._subscriptions], ", ".join(refused))
        self._first_result.set()
        if not self._stale and not refused and self._on_settled_cb:
            self._on_settled_cb()

    def _handle_unsubscribe(self, _c: paho.Client, _u: object, mid: int, _rcs: object, _p: object) -> None:
        self._unsubscribed.set()
        if mid == self._unsub_mid and self._stale:
            self._stale = []  # the broker confirmed: only now may the record of old subscriptions go
            if self._on_settled_cb:
                self._on_settled_cb()

    def _handle_publish(self, _c: paho.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            # Refused (an ACL, a quota): resending would be refused again, so it completes like the
            # rest (the request is not redelivered forever), but not silently.
            self.publish_refused += 1
            log.warning("the broker refused a publication (mid %d): %s", mid, rc)
        with self._lock:
            if mid in self._pending:
                cb = self._pending.pop(mid)
            else:
                self._early.add(mid)
                return
        if cb is not None:
            cb()


class _JsonPublishProps(Properties):
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
        body = self._FIXED
        if self.correlation is not None:
            body += b"\x09" + len(self.correlation).to_bytes(2, "big") + self.correlation
        return VariableByteIntegers.encode(len(body)) + body

    def __str__(self) -> str:
        return f"[PayloadFormatIndicator: 1, ContentType: application/json, CorrelationData: {self.correlation!r}]"

    __repr__ = __str__


def _paho_log(_client: paho.Client, _userdata: object, level: int, text: str) -> None:
    """paho's own log lines at DEBUG: it logs an ERROR for every failed reconnect attempt and on a
    clean stop ("Client is not connected"), and log-based alerts must not fire on normal operation.
    Our callbacks are supervised, so paho has nothing else to report."""
    log.debug("paho: %s", text)


def _nodelay(_client: paho.Client, _userdata: object, sock: socket.socket | object) -> None:
    """Disable Nagle: request/response over MQTT is latency-bound, not bandwidth-bound."""
    raw = getattr(sock, "socket", None) or sock  # paho may hand us an SSL socket wrapper
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
    except (OSError, AttributeError) as exc:
        log.debug("could not set TCP_NODELAY: %s", exc)
