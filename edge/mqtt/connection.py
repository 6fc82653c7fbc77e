"""`Connection`: one paho client's socket driven by the daemon's event loop, and kept connected.

The loop owns paho's socket, as Home Assistant's MQTT client does
(homeassistant/components/mqtt/client.py): `add_reader` on paho's socket calls
`loop_read` (then the service answers what that read brought, and what it
published is written at once), `add_writer` while paho has bytes queued calls
`loop_write`, and a one-second timer calls `loop_misc` (keepalive). The
blocking part of a connect (TCP connect and TLS handshake in paho's
`reconnect`) runs on an executor thread; the reconnect loop with its backoff is
a task on the loop. What the connection is for (the session: subscriptions,
publications, acks, the stop's goodbye) is edge/mqtt/link.py's: the link tells
this object when a CONNACK made the connection (`connected`), when it ended
(`lost`), and when to stop trying (`stopping`, `refused`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from concurrent.futures import Executor
from typing import Any, Callable

from edge.config import MqttSettings
from edge.mqtt.client import Client
from edge.mqtt.configure import nodelay
from edge.mqtt.message import LinkError

log = logging.getLogger("edge.mqtt")

MISC_INTERVAL_S = 1.0  # paho's loop_misc (keepalive) runs this often


class Connection:
    """The socket side of one paho client, owned by one event loop: call it from the loop's thread."""

    def __init__(self, client: Client, settings: MqttSettings, *, executor: Executor | None,
                 on_read_done: Callable[[], None] | None) -> None:
        self._client = client
        self._s = settings
        self._executor = executor  # the blocking connect runs there (None: the loop's default executor)
        # After each read (its on_message calls made): the service answers what it brought, as one batch.
        self._on_read_done = on_read_done
        self.stopping = False  # the link's stop is under way: no warning, no reconnect
        self.refused: str | None = None  # why the broker refused us for good (then no more attempts)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._task: asyncio.Task[None] | None = None
        self._misc: asyncio.TimerHandle | None = None
        self._sock: Any = None  # the socket the loop watches
        self._down: asyncio.Event | None = None  # set when the connection (or the attempt) ends
        self._trouble = ""  # the last connect failure reported at WARNING (one per change of state)
        self._connected_once_this_round = False
        self._reading = False  # inside _readable, which writes what it queued at its end
        self._writer_on = False  # the loop watches the socket for writability (add_writer)
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write

    @property
    def reconnect_delays(self) -> tuple[float, float]:
        """The backoff between connect attempts: from reconnect_min_s, doubling, up to reconnect_max_s."""
        return float(self._s.reconnect_min_s), float(self._s.reconnect_max_s)

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The reconnect task: it ends only at the stop or a fatal refusal."""
        return self._task

    # -- start, the reconnect task ---------------------------------------------------------

    async def start(self, loop: asyncio.AbstractEventLoop, connect_kwargs: dict[str, Any]) -> None:
        """Check TLS once (a certificate that can never verify is LinkError), then connect in the
        background: the task reconnects with backoff until the stop or a fatal refusal."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._down = asyncio.Event()
        if self._s.tls:
            await loop.run_in_executor(self._executor, self._check_tls)
        self._client.connect_async(self._s.host, self._s.port, self._s.keepalive_s, **connect_kwargs)
        self._task = loop.create_task(self._connect_loop(), name="edge-mqtt-connect")

    def _check_tls(self) -> None:
        """Executor: one TLS handshake before connecting for real. A broker we must not trust is a
        configuration error (LinkError: `edge run` exits 2); an unreachable broker is fine."""
        s = self._s
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
        while not self.stopping and self.refused is None:
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
                elif not self.stopping:
                    self._connect_failed(self._client.last_read_error
                                         or ConnectionError("the broker closed the connection before CONNACK"),
                                         before_connack=True)
            if self.stopping or self.refused is not None:
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
        s = self._s
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

    # -- what the link tells it --------------------------------------------------------------

    def connected(self) -> None:
        """A CONNACK accepted us: the backoff starts again from its low end, a failure is news again."""
        self._connected_once_this_round = True
        self._trouble = ""

    def lost(self) -> None:
        """The connection (or the attempt) ended: the reconnect task goes on."""
        if self._down is not None:
            self._down.set()

    async def close(self) -> None:
        """After the link's DISCONNECT was written: stop the keepalive, close the socket, end the task."""
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

    # -- the socket's callbacks (paho's, and the loop's) -------------------------------------

    def _on_loop(self, fn: Callable[..., None], *args: object) -> None:
        """Run on the loop's thread (paho may call the socket callbacks from the connect's executor)."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(fn, *args)

    def _socket_open(self, _c: object, _u: object, sock: Any) -> None:
        nodelay(sock)  # on the executor's thread, before paho writes CONNECT: touches only the socket

    def _watch(self) -> None:
        """On the loop, once the executor's connect returned: watch the new socket, write CONNECT."""
        assert self._loop is not None
        sock = self._client._sock
        if sock is None or sock.fileno() < 0:  # closed again already
            self.lost()
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
            self._writer_on = False
            try:
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
            except (ValueError, OSError):
                pass  # already closed: the selector forgot it
        self.lost()

    def _register_write(self, _c: object, _u: object, sock: Any) -> None:
        # From the executor (the CONNECT of a connect under way): ignored, _watch writes it. During a
        # read: ignored too, _readable writes at its end and watches for writability only if bytes
        # remain (two epoll_ctl calls and a handle saved per read, on the path of every request).
        if (threading.get_ident() == self._loop_thread and not self._reading and self._sock is sock
                and self._loop is not None):
            self._add_writer(sock)

    def _add_writer(self, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, self._writable)
        self._writer_on = True

    def _unregister_write(self, _c: object, _u: object, sock: Any) -> None:
        # paho calls this whenever its queue empties, twice a request (the results, the request's
        # PUBACK), nearly always with no writer added: asyncio's remove_writer then looks the socket
        # up in its selector for nothing (a few us each, on the path of every request).
        if (self._writer_on and threading.get_ident() == self._loop_thread and self._sock is sock
                and self._loop is not None):
            self._writer_on = False
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
            self._add_writer(sock)
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
        if self._sock is not None and not self.stopping:
            self._misc = self._loop.call_later(MISC_INTERVAL_S, self._misc_tick)
