"""`Link`: one broker session for the daemon, on a connection its event loop drives.

The socket, the reconnect task with its backoff and the keepalive are edge/mqtt/connection.py's;
how the paho client is configured (TLS, CONNECT and PUBLISH properties) is edge/mqtt/configure.py's.
The link is the session on top: the subscriptions made (and stale ones dropped) at each connect,
the first CONNACK and SUBACK that make the daemon ready, a completion per publication fired on its
PUBACK, the acks of requests, the retained `online`/`offline` status and the stop. Every callback
paho makes, every publish, ack and PUBACK, happens on the loop's thread, so nothing here takes a
lock, and a PUBACK can never overtake the `publish()` that sent it.

See the package docstring for what the link adds to paho.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Callable

from edge.config import Settings
from edge.mqtt.client import MAX_INFLIGHT, MAX_QUEUED, Client, Properties, ReasonCode, SubscribeOptions, paho
# setup_tls is named here too, where tests/test_tls.py looks for it.
from edge.mqtt.configure import JSON_PROPS, JsonPublishProps, connect_kwargs, daemon_client, setup_tls
from edge.mqtt.connection import Connection
from edge.mqtt.message import Done, LinkError, Message
from edge.topics import valid_publish_topic

__all__ = ["Done", "Link", "LinkError", "Message", "setup_tls"]

log = logging.getLogger("edge.mqtt")

# CONNACK reasons that retrying will not fix: the user must change the config.
_FATAL_CONNACK = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned"}


class Link:
    """One broker session, owned by one event loop: call everything from the loop's thread."""

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
        self._on_message_cb = on_message
        self._on_connect_cb = on_connect
        self._on_disconnect_cb = on_disconnect
        self._on_settled_cb = on_settled  # the broker holds exactly our subscriptions (stale ones dropped)
        self.callback_errors = 0
        self.publish_refused = 0  # PUBACKs with a failure reason code (MQTT 5)
        self.publish_backpressure = 0  # publications paho had no room for (kept on disk instead)
        self._connected = False
        self._ever_connected = False
        self._unsub_mid: int | None = None
        self.status_topic = f"{settings.base_topic}/status"
        self._pending: dict[int, Done | None] = {}  # mid -> completion (None: nobody waits)
        self._subscriptions: list[tuple[str, int]] = []
        self._stale: list[str] = []
        self._sub_mid: int | None = None  # the SUBSCRIBE of the latest connect; its SUBACK completes start-up
        self._v5 = settings.mqtt.protocol == 5
        self._loop: asyncio.AbstractEventLoop | None = None
        self._first: asyncio.Future[None] | None = None  # first CONNACK + SUBACK, or a fatal refusal
        self._waiters: dict[str, asyncio.Future[None]] = {}  # "unsubscribe", "drained": the stop's waits
        self._client = self._make_client(password)
        # After each read (its on_message calls made) the connection calls on_read_done: the service
        # answers what that read brought, as one batch.
        self._conn = Connection(self._client, settings.mqtt, executor=executor,
                                on_read_done=self._supervised(on_read_done) if on_read_done is not None else None)

    # -- set-up -------------------------------------------------------------------------

    def _make_client(self, password: str) -> Client:
        client = daemon_client(self._s, password, self.status_topic)
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
        return self._conn.reconnect_delays

    # -- start and state ------------------------------------------------------------------

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Check TLS once (a certificate that can never verify is LinkError), then connect in the
        background: the `task` reconnects with backoff until `stop()`."""
        self._loop = loop
        self._first = loop.create_future()
        await self._conn.start(loop, connect_kwargs(self._s))

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The reconnect task (the service supervises it: it ends only at `stop()` or a fatal refusal)."""
        return self._conn.task

    async def wait_first_connect(self) -> bool:
        """The first CONNACK and SUBACK; raises LinkError when the broker refused us for good."""
        assert self._first is not None
        await asyncio.shield(self._first)
        if self._conn.refused:
            raise LinkError(self._conn.refused)
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
        return self._conn.refused

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
        props = (JSON_PROPS if correlation is None else JsonPublishProps(correlation)) if self._v5 else None
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
        self._conn.stopping = True  # the disconnect below is ours: no warning, no reconnect
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
        await self._conn.close()

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
                self._conn.refused = f"broker refused the connection: {reason} (check mqtt.username and the password)"
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
        self._conn.connected()  # the backoff starts again from its low end; a failure is news again
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
        self._conn.lost()
        if was and self._conn.stopping:
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
