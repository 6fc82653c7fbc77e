"""`Link`: one broker connection for the daemon, driven by the daemon's event loop.

The loop owns paho's socket, as Home Assistant's MQTT client does
(homeassistant/components/mqtt/client.py): `add_reader` on paho's socket calls
`loop_read` (then the service answers what that read brought, and what it
published is written at once), `add_writer` while paho has bytes queued calls
`loop_write`, and a one-second timer calls `loop_misc` (keepalive). The
blocking part of a connect (TCP connect and TLS handshake in paho's
`reconnect`) runs on an executor thread; the reconnect loop with its backoff is
a task on the loop. Every callback paho makes, every publish, ack and PUBACK,
happens on the loop's thread, so nothing here takes a lock, and a PUBACK can
never overtake the `publish()` that sent it.

See the package docstring for what the link adds to paho. About 650 lines, nearly
all the `Link` class: connect, socket watching, publish with completion, ack, the
connect and subscribe bookkeeping and the stop are one state machine around one
paho client, and splitting it would scatter that state across files."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from edge.config import MqttSettings, Settings
from edge.contract import valid_publish_topic
from edge.mqtt.client import (MAX_INFLIGHT, MAX_QUEUED, CallbackAPIVersion, Client, PacketTypes, Properties, ReasonCode,
                              SubscribeOptions, VariableByteIntegers, paho)

log = logging.getLogger("edge.mqtt")

# CONNACK reasons that retrying will not fix: the user must change the config.
_FATAL_CONNACK = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned"}
MISC_INTERVAL_S = 1.0  # paho's loop_misc (keepalive) runs this often


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


class Link:
    """One broker connection, owned by one event loop: call everything from the loop's thread."""

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
        executor: Executor | None = None,
    ) -> None:
        self._s = settings
        # After each read (its on_message calls made): the service answers what it brought, as one batch.
        self._on_read_done = self._supervised(on_read_done) if on_read_done is not None else None
        self._on_message_cb = on_message
        self._on_connect_cb = on_connect
        self._on_disconnect_cb = on_disconnect
        self._on_settled_cb = on_settled  # the broker holds exactly our subscriptions (stale ones dropped)
        self._executor = executor  # the blocking connect runs there (None: the loop's default executor)
        self.callback_errors = 0
        self.publish_refused = 0  # PUBACKs with a failure reason code (MQTT 5)
        self.publish_backpressure = 0  # publications paho had no room for (kept on disk instead)
        self._stopping = False
        self._connected = False
        self._ever_connected = False
        self._unsub_mid: int | None = None
        self.status_topic = f"{settings.base_topic}/status"
        self._fatal: str | None = None
        self._pending: dict[int, Done | None] = {}  # mid -> completion (None: nobody waits)
        self._subscriptions: list[tuple[str, int]] = []
        self._stale: list[str] = []
        self._sub_mid: int | None = None  # the SUBSCRIBE of the latest connect; its SUBACK completes start-up
        self._v5 = settings.mqtt.protocol == 5
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._task: asyncio.Task[None] | None = None
        self._misc: asyncio.TimerHandle | None = None
        self._sock: Any = None  # the socket the loop watches
        self._first: asyncio.Future[None] | None = None  # first CONNACK + SUBACK, or a fatal refusal
        self._down: asyncio.Event | None = None  # set when the connection (or the attempt) ends
        self._waiters: dict[str, asyncio.Future[None]] = {}  # "unsubscribe", "drained": the stop's waits
        self._trouble = ""  # the last connect failure reported at WARNING (one per change of state)
        self._connected_once_this_round = False
        self._reading = False  # inside _readable, which writes what it queued at its end
        self._client = self._make_client(password)

    # -- set-up -------------------------------------------------------------------------

    def _make_client(self, password: str) -> Client:
        s = self._s.mqtt
        client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._s.client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        if log.isEnabledFor(logging.DEBUG):
            # paho formats every line it would log (each packet, its Properties with str()) before
            # calling on_log: 8 lines and ~20 us per request, measured (docs/performance.md), for lines
            # _paho_log drops unless DEBUG is on.
            client.on_log = _paho_log
        # The default of 20 in-flight publications caps throughput at 20 / RTT; each
        # request makes 2-3 publications, so allow a deeper pipeline (lowered to the broker's
        # Receive Maximum on connect).
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        if s.username:
            client.username_pw_set(s.username, password or None)
        if s.tls:
            setup_tls(client, s)
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        client.on_connect = self._supervised(self._handle_connect)
        client.on_disconnect = self._supervised(self._handle_disconnect)
        client.on_message = self._supervised(self._handle_message)
        client.on_publish = self._supervised(self._handle_publish)
        client.on_subscribe = self._supervised(self._handle_subscribe)
        client.on_unsubscribe = self._supervised(self._handle_unsubscribe)
        return client

    def _supervised(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Run a callback so that nothing raises into paho (it would drop the connection)."""

        def run(*args: object) -> None:
            try:
                fn(*args)
            except Exception:
                self.callback_errors += 1
                log.exception("%s failed in the MQTT link; carrying on", fn.__name__)

        run.__name__ = fn.__name__
        return run

    def subscribe_on_connect(self, topic: str, qos: int = 1) -> None:
        """Topics (re)subscribed on every connect; with a kept session the broker already has them."""
        self._subscriptions.append((topic, qos))

    def unsubscribe_on_connect(self, topics: list[str]) -> None:
        """Subscriptions a resumed session may still hold from an older config (a group we left)."""
        self._stale = [t for t in topics if t not in {s for s, _ in self._subscriptions}]

    @property
    def subscriptions(self) -> list[str]:
        return [t for t, _ in self._subscriptions]

    @property
    def reconnect_delays(self) -> tuple[float, float]:
        """The backoff between connect attempts: from reconnect_min_s, doubling, up to reconnect_max_s."""
        return float(self._s.mqtt.reconnect_min_s), float(self._s.mqtt.reconnect_max_s)

    # -- the loop's side: start, the socket's callbacks, the reconnect task ---------------

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Check TLS once (a certificate that can never verify is LinkError), then connect in the
        background: the returned-from task reconnects with backoff until `stop()`."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._first = loop.create_future()
        self._down = asyncio.Event()
        if self._s.mqtt.tls:
            await loop.run_in_executor(self._executor, self._check_tls)
        props = None
        kwargs: dict = {}
        if self._v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._s.mqtt.session_expiry_s
            props.ReceiveMaximum = 200  # our in-flight window is bounded by manual acks anyway; say so
            # The largest packet we take: a model package (`[deploy] max_bytes`) or a request, plus room
            # for the header. An MQTT 5 broker must not send more (mosquitto drops it for us), so a 200 MB
            # publication never reaches a 512 MB device's memory: paho would read it whole before we
            # could refuse it. Below this, an oversized request is still answered payload_too_large.
            props.MaximumPacketSize = max_packet_bytes(self._s)
            kwargs = {"clean_start": False, "properties": props}
        self._client.connect_async(self._s.mqtt.host, self._s.mqtt.port, self._s.mqtt.keepalive_s, **kwargs)
        self._task = loop.create_task(self._connect_loop(), name="edge-mqtt-connect")

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The reconnect task (the service supervises it: it ends only at `stop()` or a fatal refusal)."""
        return self._task

    def _check_tls(self) -> None:
        """Executor: one TLS handshake before connecting for real. A broker we must not trust is a
        configuration error (LinkError: `edge run` exits 2); an unreachable broker is fine."""
        s = self._s.mqtt
        ctx = self._client._ssl_context  # the context setup_tls() built: the exact same checks
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

    async def _connect_loop(self) -> None:
        """Connect, wait for the connection to end, wait out the backoff, again; until stopped."""
        assert self._loop is not None and self._down is not None
        low, high = self.reconnect_delays
        delay = low
        while not self._stopping and self._fatal is None:
            self._down.clear()
            self._connected_once_this_round = False
            try:
                # Blocking (TCP connect, TLS handshake): on an executor thread, as Home Assistant does.
                # The loop leaves the client alone meanwhile: it is not connected, so nothing publishes.
                await self._loop.run_in_executor(self._executor, self._client.reconnect)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self._connect_failed(exc)
            else:
                self._watch()
                await self._down.wait()  # CONNACK refused, the connection lost, or the stop
                if self._connected_once_this_round:
                    delay = low
                elif not self._stopping:
                    self._connect_failed(self._client.last_read_error
                                         or ConnectionError("the broker closed the connection before CONNACK"),
                                         before_connack=True)
            if self._stopping or self._fatal is not None:
                return
            log.debug("Connection failed, retrying in %.2f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    def _connect_failed(self, exc: BaseException, before_connack: bool = False) -> None:
        """A failed attempt: DEBUG, except a TLS failure, which is a WARNING once per change of state
        (until a connection succeeds, or the failure becomes another kind): otherwise the daemon waits
        at "waiting for broker" forever without saying why (a broker that wants a client certificate,
        tls=true on a plain port, a certificate that does not verify). Which of a TLS alert or a bare
        reset the client sees first is a race (the broker closes with our CONNECT unread), so both
        count as one state, and the message gives the hints that fit the configuration."""
        s = self._s.mqtt
        if isinstance(exc, ssl.SSLCertVerificationError):
            state, why = "verify", f"the broker's certificate does not verify: {exc.verify_message}"
        elif isinstance(exc, ssl.SSLError) or (s.tls and before_connack):
            detail = exc.reason if isinstance(exc, ssl.SSLError) and exc.reason else str(exc)
            hints = [] if s.cert_file else ["does the broker want a client certificate (set mqtt.cert_file and "
                                            "mqtt.key_file)?"]
            hints.append(f"is {s.host}:{s.port} a TLS listener?")
            state, why = "tls", f"TLS connection failed before CONNACK ({detail}); {' '.join(hints)}"
        else:
            log.debug("connect to %s:%d failed: %s", s.host, s.port, exc)
            return
        if state != self._trouble:
            self._trouble = state
            log.warning("broker %s:%d: %s; retrying with backoff", s.host, s.port, why)
        else:
            log.debug("broker %s:%d: %s", s.host, s.port, why)

    def _on_loop(self, fn: Callable[..., None], *args: object) -> None:
        """Run on the loop's thread (paho may call the socket callbacks from the connect's executor)."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(fn, *args)

    def _socket_open(self, _c: object, _u: object, sock: Any) -> None:
        _nodelay(sock)  # on the executor's thread, before paho writes CONNECT: touches only the socket

    def _watch(self) -> None:
        """On the loop, once the executor's connect returned: watch the new socket, write CONNECT."""
        assert self._loop is not None
        sock = self._client._sock
        if sock is None or sock.fileno() < 0:  # closed again already
            if self._down is not None:
                self._down.set()
            return
        self._sock = sock
        self._loop.add_reader(sock, self._readable)
        if self._misc is None:
            self._misc = self._loop.call_later(MISC_INTERVAL_S, self._misc_tick)
        self._writable()  # the CONNECT packet paho queued in the executor

    def _socket_close(self, _c: object, _u: object, sock: Any) -> None:
        self._on_loop(self._unwatch, sock)

    def _unwatch(self, sock: Any) -> None:
        assert self._loop is not None
        if self._sock is sock:
            self._sock = None
            try:
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
            except (ValueError, OSError):
                pass  # already closed: the selector forgot it
        if self._down is not None:
            self._down.set()

    def _register_write(self, _c: object, _u: object, sock: Any) -> None:
        # From the executor (the CONNECT of a connect under way): ignored, _watch writes it. During a
        # read: ignored too, _readable writes at its end and watches for writability only if bytes
        # remain (two epoll_ctl calls and a handle saved per read, on the path of every request).
        if (threading.get_ident() == self._loop_thread and not self._reading and self._sock is sock
                and self._loop is not None):
            self._loop.add_writer(sock, self._writable)

    def _unregister_write(self, _c: object, _u: object, sock: Any) -> None:
        if threading.get_ident() == self._loop_thread and self._sock is sock and self._loop is not None:
            self._loop.remove_writer(sock)

    def _readable(self) -> None:
        """The socket has bytes: one read (at most 64 KiB), then the service answers what it brought,
        then what that published is written now, not a turn later."""
        sock = self._sock
        self._reading = True
        try:
            self._client.loop_read()
            if self._on_read_done is not None:
                self._on_read_done()
            self._client.flush()
        finally:
            self._reading = False
        if sock is None or self._sock is not sock:
            return  # the read or the answers found the connection gone
        assert self._loop is not None
        if self._client.want_write():  # the kernel took only part of it: write the rest when it can
            self._loop.add_writer(sock, self._writable)
        # TLS: the SSL object may hold decrypted bytes the selector cannot see; read them next turn.
        if getattr(sock, "pending", lambda: 0)() > 0:
            self._loop.call_soon(self._readable)

    def _writable(self) -> None:
        if self._sock is not None:
            self._client.loop_write()

    def _misc_tick(self) -> None:
        """Keepalive: paho sends PINGREQ, and drops a connection whose PINGRESP does not come."""
        assert self._loop is not None
        self._misc = None
        if self._sock is None:
            return  # the next socket opened starts the timer again
        self._client.loop_misc()
        self._client.flush()
        if self._sock is not None and not self._stopping:
            self._misc = self._loop.call_later(MISC_INTERVAL_S, self._misc_tick)

    # -- state ----------------------------------------------------------------------------

    async def wait_first_connect(self) -> bool:
        """The first CONNACK and SUBACK; raises LinkError when the broker refused us for good."""
        assert self._first is not None
        await asyncio.shield(self._first)
        if self._fatal:
            raise LinkError(self._fatal)
        return self._connected

    def _first_done(self) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(None)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ever_connected(self) -> bool:
        return self._ever_connected

    @property
    def refused(self) -> str | None:
        """Why the broker refused us for good (the link then stops trying), else None."""
        return self._fatal

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

        Returns False when we are not connected, or paho holds MAX_QUEUED already: the caller
        keeps the message (the outbox) instead of trusting paho's memory, which a restart loses.
        """
        if not self._connected:
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
        # Registered after paho.publish returned: its PUBACK is read by this same thread, later.
        self._pending[info.mid] = on_done
        return True

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a request; lost if disconnected, and then the broker redelivers it."""
        if qos > 0:
            try:
                self._client.ack(mid, qos)
            except Exception as exc:  # a dropped socket: the broker redelivers it
                log.debug("ack of mid %d not sent: %s", mid, exc)

    def flush(self) -> None:
        """Write what has been published so far now (a batch's results, before its cache write)."""
        self._client.flush()

    def in_flight(self) -> int:
        return len(self._pending)

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish `offline` (so the will is not needed), disconnect cleanly, end the reconnect task.

        Shared (fleet) subscriptions are dropped first: a broker keeps routing a
        share of the group's requests to a stopped member's kept session, where
        they would wait until it returns instead of going to a live member.
        """
        assert self._loop is not None
        shared = [t for t, _ in self._subscriptions if t.startswith("$share/")]
        if shared and self._connected:
            self._waiters["unsubscribe"] = waiter = self._loop.create_future()
            self._client.unsubscribe(shared)
            self._client.flush()
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                log.warning("broker did not confirm leaving %s", ", ".join(shared))
        self._stopping = True  # the disconnect below is ours: no warning, no reconnect
        if self._connected:
            done = self._loop.create_future()
            if self.publish(self.status_topic, b"offline", qos=1, retain=True,
                            on_done=lambda: done.done() or done.set_result(None)):
                self._client.flush()
                try:
                    await asyncio.wait_for(done, timeout)
                except asyncio.TimeoutError:
                    log.warning("could not publish offline status before disconnecting")
        self._client.disconnect()
        self._client.flush()  # the DISCONNECT goes alone; paho closes the socket once it is written
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        if self._sock is not None:
            self._unwatch(self._sock)
            self._client._sock_close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def drained(self, timeout: float) -> bool:
        """Wait (up to `timeout`) until every publication with a completion has its PUBACK."""
        if not self._pending or not self._connected:
            return True
        assert self._loop is not None
        self._waiters["drained"] = waiter = self._loop.create_future()
        try:
            await asyncio.wait_for(waiter, timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def _wake(self, name: str) -> None:
        waiter = self._waiters.pop(name, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- paho callbacks (on the loop) -----------------------------------------------------

    def _handle_connect(self, client: paho.Client, _u: object, flags: paho.ConnectFlags, rc: ReasonCode,
                        props: Properties | None) -> None:
        if rc.is_failure:
            reason = str(rc)
            log.log(logging.ERROR if reason in _FATAL_CONNACK else logging.DEBUG,
                    "broker %s:%d refused the connection: %s", self._s.mqtt.host, self._s.mqtt.port, reason)
            if reason in _FATAL_CONNACK:
                self._fatal = f"broker refused the connection: {reason} (check mqtt.username and the password)"
                self._first_done()
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
        self._connected_once_this_round = True
        if self._trouble:
            self._trouble = ""  # the next failure is news again
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
        self._pending[info.mid] = None
        self._connected = True
        if not self._subscriptions:
            self._first_done()
        self._on_connect_cb(bool(flags.session_present))

    def _handle_disconnect(self, _c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        was = self._connected
        self._connected = False
        if self._down is not None:
            self._down.set()
        if was and self._stopping:
            log.info("disconnected from the broker")
        elif was:
            log.warning("broker %s:%d went away (%s); reconnecting with backoff",
                        self._s.mqtt.host, self._s.mqtt.port, rc)
            if self._on_disconnect_cb:
                self._on_disconnect_cb(str(rc))
        self._wake("drained")  # nothing more comes on this connection

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
        self._first_done()
        if not self._stale and not refused and self._on_settled_cb:
            self._on_settled_cb()

    def _handle_unsubscribe(self, _c: paho.Client, _u: object, mid: int, _rcs: object, _p: object) -> None:
        self._wake("unsubscribe")
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
        cb = self._pending.pop(mid, None)
        if not self._pending and "drained" in self._waiters:
            self._wake("drained")
        if cb is not None:
            cb()


def max_packet_bytes(settings: Settings) -> int:
    """The Maximum Packet Size the daemon announces in CONNECT (MQTT 5): what it can answer or deploy.

    Never below 64 MiB (the default `[deploy] max_bytes`): a package somewhat over a device's own lower
    limit must still reach it, so the operator reads "package too large" rather than a silent timeout;
    a 200 MB publication stays out either way."""
    largest = max(settings.deploy.max_bytes, _PACKET_FLOOR, settings.mqtt.max_payload_bytes)
    return min(largest + 64 * 1024, 268_435_455)  # MQTT's own limit on a packet


_PACKET_FLOOR = 64 << 20


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
    """paho's own log lines at DEBUG: log-based alerts must not fire on normal operation."""
    log.debug("paho: %s", text)


def _nodelay(sock: socket.socket | object) -> None:
    """Disable Nagle: request/response over MQTT is latency-bound, not bandwidth-bound."""
    raw = getattr(sock, "socket", None) or sock  # paho may hand us an SSL socket wrapper
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
    except (OSError, AttributeError) as exc:
        log.debug("could not set TCP_NODELAY: %s", exc)
