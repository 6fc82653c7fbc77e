"""The broker link: the only module that imports paho.

What it adds to paho, and why:
- a persistent session (stable client id, clean_start=False, session expiry)
  and manual acknowledgement, so a request is acked only once its result is
  safe (the service decides when; `ack` is the hook);
- a completion callback per publication, fired on PUBACK, so the service can
  tie "result delivered" to "request acknowledged";
- TCP_NODELAY on the socket: without it a QoS 1 round trip costs 40-90 ms of
  Nagle/delayed-ACK interplay instead of about 0.3 ms;
- a retained `online`/`offline` status with a last will;
- start-up errors that are the user's to fix (bad credentials, TLS files)
  surface as `LinkError` instead of an endless silent retry loop;
- supervised callbacks: an exception in any of our callbacks would kill
  paho's network thread silently (the daemon a zombie that reads nothing), so
  each is caught, logged and counted (`callback_errors`); `network_alive()`
  says whether that thread still runs and makes progress, for the watchdog;
- Retain Handling 2 on MQTT 5 subscriptions (a retained request is never
  sent to us); `Message.retain` lets the service drop one that a 3.1.1
  broker still sends;
- quiet logs: one WARNING when the broker goes away, one INFO when it is
  back, nothing on a clean stop; paho's own log lines go to DEBUG.

Why one file of ~570 lines: nearly every line here calls or is called by
paho (the `Link` and its callbacks, ~360 lines; the throw-away clients of
`edge send` (`request_once`) and `edge homeassistant remove` (`publish_once`),
~110), and keeping paho in one module is the rule that lets the broker library
be swapped or pinned in one place. What does not touch paho is about 40 lines
(`LinkError`, `Message`, the fatal-CONNACK list), and the topic checks already
live in edge.contract; moving those out would split the link's vocabulary from
the link without making either file clearer.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config import Settings
from edge.contract import valid_publish_topic

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
        client = _Client(
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
        client.max_inflight_messages_set(_MAX_INFLIGHT)
        client.max_queued_messages_set(0)
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
        # Every payload we publish is JSON: say so (MQTT 5 Payload Format Indicator and Content Type).
        props = _JsonPublishProps(correlation) if self._v5 else None
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc == paho.MQTT_ERR_NO_CONN:
            # paho queued it in memory and will send it after reconnecting; the
            # completion still fires then, so treat it as handed over.
            log.debug("published while the link dropped; paho will resend mid %d", info.mid)
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
        client._max_inflight_messages = min(_MAX_INFLIGHT, receive_max or _MAX_INFLIGHT)
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


class _Client(paho.Client):
    """paho's client, with its network loop made cheaper per packet and a hook after each read.

    paho spends more CPU per request than the daemon's model does (py-spy, bench/profile.py):
    three recv() calls for every packet it reads, a send() for every packet it writes plus one
    more on its wake-up socket, a decode into ReasonCode and Properties objects for every
    PUBACK, and a walk over every unacknowledged publication on every PUBACK. The overrides
    below keep paho's protocol handling and state exactly as they are and only change how
    bytes come and go; each was measured with bench/levers.py (docs/performance.md):

    - `_sock_recv`: one recv() of up to 64 KiB, then packets are served from that buffer
      (`loop_read` goes on until the buffer is empty, since select() cannot see it);
    - `_packet_queue`: on the network thread itself, no byte to the wake-up socket (the
      thread is awake; `loop_misc` writes before returning); other threads wake it as before;
    - `_packet_write`: packets that need nothing done once written (QoS 1 PUBLISH, PUBACK,
      SUBSCRIBE...) go out in one send(); a QoS 0 PUBLISH or a DISCONNECT still goes alone,
      so paho's bookkeeping for them runs as before;
    - `_handle_pubackcomp`: a PUBACK of success (0x00, or 0x10 "no matching subscribers")
      without properties, how brokers send nearly all of them, skips the decode;
    - `_update_inflight`: skipped when no publication waits for an in-flight slot (paho
      otherwise walks every unacknowledged one on every PUBACK);
    - `loop_misc`, the public last step of every turn of paho's loop: the turn's reads are
      done and their on_message calls made, so the service answers what they brought as one
      batch here (`Link._on_read_done`), then what that queued is written at once.

    All of them rely on paho 2's private methods (pinned in pyproject.toml);
    tests/test_link_io.py checks them against the installed paho."""

    def __init__(self, link: Link, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._link = link
        self._rbuf = b""  # bytes read from the socket that paho has not asked for yet
        self._rpos = 0

    # -- reading ---------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            buf = super()._sock_recv(_READ_SIZE)  # raises BlockingIOError when nothing is there
            if len(buf) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return buf
            pos = 0
        end = pos + bufsize
        self._rbuf, self._rpos = buf, end
        return buf[pos:end]

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == paho.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf) and self._sock is not None:
            rc = super().loop_read(max_packets)
        return rc

    def reconnect(self) -> paho.MQTTErrorCode:
        self._rbuf, self._rpos = b"", 0  # what the old socket held belongs to the old session
        return super().reconnect()

    def _handle_pubackcomp(self, cmd: str) -> paho.MQTTErrorCode:  # type: ignore[override]
        packet = self._in_packet["packet"]
        n = len(packet)
        # MQTT 5 PUBACK: mid, then optionally a reason code, then optionally properties. The
        # fast path takes success codes (< 0x80: 0x00, or 0x10 "no matching subscribers") with no
        # properties; anything else (a refusal, properties, 3.1.1's PUBCOMP) gets paho's decode.
        if cmd != "PUBACK" or n > 4 or n < 2 or (n == 4 and packet[3]) or (n >= 3 and packet[2] >= 0x80):
            return super()._handle_pubackcomp(cmd)  # type: ignore[arg-type]
        mid = (packet[0] << 8) | packet[1]
        reason = _PUBACK_REASONS.get(packet[2] if n >= 3 else 0)
        if reason is None:
            return super()._handle_pubackcomp(cmd)  # type: ignore[arg-type]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, reason, _PUBACK_PROPS)
        return paho.MQTT_ERR_SUCCESS

    def _update_inflight(self) -> paho.MQTTErrorCode:
        if len(self._out_messages) <= self._inflight_messages:
            return paho.MQTT_ERR_SUCCESS  # every publication is in flight: none is queued for a slot
        return super()._update_inflight()

    # -- writing ---------------------------------------------------------------------

    def _packet_queue(self, command: int, packet: bytes | bytearray, mid: int, qos: int,
                      info: paho.MQTTMessageInfo | None = None) -> paho.MQTTErrorCode:
        thread = self._thread
        if thread is None or thread.ident != threading.get_ident():
            return super()._packet_queue(command, packet, mid, qos, info)
        self._out_packet.append({"command": command, "mid": mid, "qos": qos, "pos": 0,
                                 "to_process": len(packet), "packet": packet, "info": info})
        return paho.MQTT_ERR_SUCCESS

    def _packet_write(self) -> paho.MQTTErrorCode:
        queue = self._out_packet
        if len(queue) > 1:
            parts: list[bytes | bytearray] = []
            while queue and len(parts) < 256:
                head = queue[0]
                kind = head["command"] & 0xF0
                if kind == _DISCONNECT or (kind == _PUBLISH and head["qos"] == 0):
                    break
                queue.popleft()
                parts.append(head["packet"][head["pos"]:] if head["pos"] else head["packet"])
            if parts:
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                # a PUBACK-typed entry: paho does nothing for it once written
                queue.appendleft({"command": _PUBACK, "mid": 0, "qos": 1, "pos": 0, "to_process": len(data),
                                  "packet": data, "info": None})
        return super()._packet_write()

    def flush(self) -> None:
        thread = self._thread
        if (self._out_packet and self._sock is not None and thread is not None
                and thread.ident == threading.get_ident()):
            self.loop_write()

    # -- the end of each turn ----------------------------------------------------------

    def loop_misc(self) -> paho.MQTTErrorCode:
        hook = self._link._on_read_done
        if hook is not None:
            hook()
        if self._out_packet and self._sock is not None:
            rc = self.loop_write()
            if rc:
                return rc
        return super().loop_misc()


_MAX_INFLIGHT = 200
_READ_SIZE = 65536
_PUBLISH, _PUBACK, _DISCONNECT = 0x30, 0x40, 0xE0
# Shared, read-only: our on_publish reads only the mid.
_PUBACK_REASONS = {code: ReasonCode(PacketTypes.PUBACK, identifier=code) for code in (0x00, 0x10)}
_PUBACK_PROPS = Properties(PacketTypes.PUBACK)


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
) -> dict | None:
    """`edge send`: publish one request, wait for its result (or its error); None on timeout.

    MQTT 5 uses a Response Topic and Correlation Data; 3.1.1 falls back to the
    `reply_to` field of the JSON request. The error topic is watched too, so a
    rejected request reports why instead of timing out.
    """
    import json
    import uuid

    token = uuid.uuid4().hex
    reply_topic = f"{base_topic}/reply/{token}"
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
    if tls_ca:
        client.tls_set(ca_certs=tls_ca)
    client.on_socket_open = _nodelay
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
        client.tls_set(ca_certs=s.ca_file or None, certfile=s.cert_file or None, keyfile=s.key_file or None)
        client.tls_insecure_set(s.tls_insecure)
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
