"""Home Assistant Assist over Wyoming: an asyncio server with one intent program.

Home Assistant's Wyoming conversation agent (homeassistant/components/wyoming/
conversation.py) opens one TCP connection per utterance, writes a `transcript`
{text, language, context} and reads until it gets `intent` | `not-recognized` |
`handled` | `error`. Setting the integration up, it opens another and sends
`describe`, expecting `info`. This module is that server:

    server = WyomingServer(recognizer, host="127.0.0.1", port=10700)
    await server.start()          # bound; server.port is the real port (port=0 picks one)
    ...
    await server.close()

The daemon's loop runs it as a channel (edge/wyoming_channel.py builds it from
the settings). It owns no thread: every connection is a task on the caller's
loop, and the recognizer runs on the loop too (the model takes about 0.2 ms; an
async recognizer is awaited: edge.home_cloud's, when it asks the cloud, waits on
the daemon's cloud pool, so other connections go on meanwhile).

Reading is bounded and strict, because the port may face a LAN: the header line
is at most `MAX_HEADER` bytes, `data_length` at most `MAX_DATA`, and a payload
is refused (an intent server takes no audio), all checked before anything is
read, so a 100 MB `data_length` costs one comparison. A malformed event (bad
JSON, a header that is no object, wrong types, unknown event type, too large)
gets an `error` event and the connection is closed; a client that says
nothing for `idle_timeout_s` is closed; connections are capped in total and
per peer address. wyoming's own `async_read_event` reads whatever length it is
told, so it is not used for reading; events are still wyoming's classes and
are written with its `async_write_event`, but for `info`, whose module costs
0.6 MB of imports (edge/wyoming_events.py writes the same data).

The `intent` reply carries no `text`: Home Assistant renders an intent's text as
a template when it looks like one, so echoing anything derived from the
transcript there would let the speaker inject a template.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

from edge import wyoming_events

# Before the first `wyoming` import: without importlib.metadata (edge/wyoming_events.py)
wyoming_events.register_version()

from wyoming.asr import Transcript  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.event import Event, async_write_event  # noqa: E402
from wyoming.handle import Handled  # noqa: E402
from wyoming.intent import Entity, Intent, NotRecognized, Recognize  # noqa: E402
from wyoming.ping import Ping, Pong  # noqa: E402

from edge.home_results import Answered, NotUnderstood, Recognized, Recognizer  # noqa: E402

log = logging.getLogger("edge.wyoming")

__all__ = ["WyomingServer", "MAX_HEADER", "MAX_DATA", "ServerLimits"]

MAX_HEADER = 8 * 1024  # bytes of a header line (a transcript's header is ~100)
MAX_DATA = 16 * 1024  # bytes of an event's data (text + context); MQTT requests have the same cap
MAX_TYPE = 64  # characters of an event type
LINGER_S = 0.5  # the most a closing connection waits for its client to stop sending
LINGER_BYTES = 64 * 1024  # the most it reads (and drops) meanwhile
ZEROCONF_TYPE = "_wyoming._tcp.local."


@dataclass(frozen=True)
class ServerLimits:
    """What one client may cost. Defaults: ample for Home Assistant (one connection per utterance,
    a handful at once), small enough for a Pi Zero 2 W."""

    idle_timeout_s: float = 10.0  # no complete event for this long: closed
    max_connections: int = 128  # open at once, all peers; more are told "busy" and closed
    max_per_peer: int = 64  # open at once from one address
    max_events: int = 32  # events on one connection (HA sends 1); then closed


class _Malformed(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


async def _read_event(reader: asyncio.StreamReader) -> Event | None:
    """One event, bounded; None at a clean end of stream. Raises _Malformed."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _Malformed("bad-header", "the stream ended inside a header") from None
    except asyncio.LimitOverrunError:
        raise _Malformed("too-large", f"header over {MAX_HEADER} bytes") from None
    if len(line) > MAX_HEADER + 1:
        raise _Malformed("too-large", f"header over {MAX_HEADER} bytes")
    try:
        head = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[..." nested past the stack
        raise _Malformed("bad-header", "the header is not JSON") from None
    if not isinstance(head, dict):
        raise _Malformed("bad-header", "the header is not a JSON object")
    etype = head.get("type")
    if not isinstance(etype, str) or not 0 < len(etype) <= MAX_TYPE:
        raise _Malformed("bad-header", "'type' must be a short string")
    data = head.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _Malformed("bad-data", "'data' must be an object")
    n_data = _length(head, "data_length", MAX_DATA)
    n_payload = _length(head, "payload_length", 0)
    if n_data:
        try:
            more = json.loads(await reader.readexactly(n_data))
        except asyncio.IncompleteReadError:
            raise _Malformed("bad-data", "the stream ended inside the data") from None
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _Malformed("bad-data", "the data is not JSON") from None
        if not isinstance(more, dict):
            raise _Malformed("bad-data", "the data is not a JSON object")
        data = {**data, **more}
    assert n_payload == 0
    try:
        # "\ud800" is valid JSON but no text: it would fail the tokenizer, and the reply's echoed context
        # could not be written back. Refused here, once, for every field.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _Malformed("bad-data", "the data holds a lone surrogate (not text)") from None
    return Event(type=etype, data=data)


def _length(head: dict, key: str, most: int) -> int:
    n = head.get(key)
    if n is None:
        return 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise _Malformed("bad-header", f"'{key}' must be a non-negative integer")
    if n > most:
        raise _Malformed("too-large", f"'{key}' {n} is over {most}" if most else f"no {key[:-7]} is accepted")
    return n


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Before closing: stop writing, then read and drop what the client still sends (up to LINGER_BYTES,
    for LINGER_S). Closing a socket with unread input sends a reset, and a reset can make the client's
    kernel drop our `error` event before the client has read it (Windows does; Linux on loopback, where
    tests/test_wyoming.py runs, delivered it either way)."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_S):
            left = LINGER_BYTES
            while left > 0 and await reader.read(min(left, 8192)):
                left -= 8192
    except (TimeoutError, ConnectionError, OSError, asyncio.LimitOverrunError, ValueError):
        pass


class WyomingServer:
    """The Wyoming intent server. `start()` binds; `close()` stops accepting and closes every connection."""

    def __init__(self, recognizer: Recognizer, *, host: str = "127.0.0.1", port: int = 10700,
                 zeroconf: bool = False, limits: ServerLimits = ServerLimits(), name: str = "edge",
                 version: str | None = None, description: str = "edge: on-device intent recognition") -> None:
        self.recognizer = recognizer
        self.host = host
        self.port = port
        self.zeroconf = zeroconf
        self.limits = limits
        self.name = name
        self.version = version
        self.description = description
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._per_peer: dict[str, int] = {}
        self._zc: Any = None
        self._closing = False
        self.served = 0  # transcripts answered
        self.refused = 0  # connections closed for a malformed event, idleness or a limit

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, limit=MAX_HEADER + 1,
                                                  reuse_address=True)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("wyoming: serving on %s:%d (languages %s)", self.host, self.port,
                 ", ".join(self.recognizer.languages))
        if self.zeroconf:
            await self._advertise()

    async def close(self) -> None:
        self._closing = True
        if self._zc is not None:
            try:
                await self._zc.async_close()
            except Exception:  # the advertisement is best-effort, its end too
                log.debug("zeroconf close failed", exc_info=True)
            self._zc = None
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _advertise(self) -> None:
        """_wyoming._tcp on mDNS so Home Assistant offers to add it. zeroconf is imported only here."""
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        host = self.host
        if host in ("0.0.0.0", "", "::"):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # the address a LAN peer reaches
                try:
                    s.connect(("224.0.0.251", 5353))
                    host = s.getsockname()[0]
                except OSError:
                    host = "127.0.0.1"
        label = f"{self.name}-{socket.gethostname()}"[:63]
        info = AsyncServiceInfo(ZEROCONF_TYPE, f"{label}.{ZEROCONF_TYPE}", port=self.port,
                                addresses=[socket.inet_aton(host)], server=f"{socket.gethostname()}.local.")
        zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        try:
            await zc.async_register_service(info)
        except Exception:
            await zc.async_close()
            log.warning("wyoming: zeroconf advertisement failed; add the server in Home Assistant by host "
                        "and port", exc_info=True)
            return
        self._zc = zc
        log.info("wyoming: advertised as %s on %s:%d", info.name, host, self.port)

    # -- one connection --------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        addr = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        self._per_peer[addr] = self._per_peer.get(addr, 0) + 1
        try:
            if len(self._tasks) > self.limits.max_connections or self._per_peer[addr] > self.limits.max_per_peer:
                self.refused += 1
                await self._send(writer, Error("too many connections", code="busy").event())
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to tell it
        except asyncio.CancelledError:
            pass  # close()
        except Exception:
            log.exception("wyoming: connection from %s failed", addr)
        finally:
            self._tasks.discard(task)
            left = self._per_peer.get(addr, 1) - 1
            if left > 0:
                self._per_peer[addr] = left
            else:
                self._per_peer.pop(addr, None)
            if not self._closing:
                await _linger(reader, writer)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (Exception, asyncio.CancelledError):
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(self.limits.max_events):
            try:
                async with asyncio.timeout(self.limits.idle_timeout_s):
                    event = await _read_event(reader)
            except TimeoutError:
                self.refused += 1
                await self._send(writer, Error(f"nothing received for {self.limits.idle_timeout_s:g} s",
                                               code="timeout").event())
                return
            except _Malformed as bad:
                self.refused += 1
                log.info("wyoming: malformed event (%s): %s", bad.code, bad.text)
                await self._send(writer, Error(bad.text, code=bad.code).event())
                return
            if event is None:
                return
            reply = await self._reply(event)
            await self._send(writer, reply)
            if Error.is_type(reply.type):
                self.refused += 1
                return
        self.refused += 1
        await self._send(writer, Error("too many events on one connection", code="too-many-events").event())

    async def _send(self, writer: asyncio.StreamWriter, event: Event) -> None:
        try:
            async with asyncio.timeout(self.limits.idle_timeout_s):  # a client that reads nothing
                await async_write_event(event, writer)
        except (TimeoutError, ConnectionError):
            pass

    async def _reply(self, event: Event) -> Event:
        if Transcript.is_type(event.type) or Recognize.is_type(event.type):
            return await self._transcript(event.data)
        if event.type == wyoming_events.DESCRIBE:
            return self.info_event()
        if Ping.is_type(event.type):
            return Pong(text=event.data.get("text") if isinstance(event.data.get("text"), str) else None).event()
        return Error(f"unknown event type {event.type[:40]!r}", code="unknown-event").event()

    async def _transcript(self, data: dict) -> Event:
        text, language, context = data.get("text"), data.get("language"), data.get("context")
        if not isinstance(text, str):
            return Error("'text' must be a string", code="bad-data").event()
        if language is not None and not isinstance(language, str):
            return Error("'language' must be a string", code="bad-data").event()
        if context is not None and not isinstance(context, dict):
            return Error("'context' must be an object", code="bad-data").event()
        try:
            result = self.recognizer.recognize(text, language)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("wyoming: the recognizer failed; answering not-recognized")
            result = NotUnderstood("error")
        self.served += 1
        if isinstance(result, Recognized):
            return Intent(name=result.name, entities=[Entity(name=k, value=v) for k, v in result.entities],
                          context=context).event()
        if isinstance(result, Answered):
            return Handled(text=result.text, context=context).event()
        return NotRecognized(text=_SORRY, context=context).event()

    def info_event(self) -> Event:
        """The `info` event (wyoming.info.Info's, written without that module: edge/wyoming_events.py)."""
        model = getattr(self.recognizer, "model", None)
        return Event(type=wyoming_events.INFO, data=wyoming_events.info_event_data(
            name=self.name, description=self.description, version=self.version,
            model_name=getattr(model, "name", None) or "home", model_description="home control intents",
            model_version=getattr(model, "version", None), languages=self.recognizer.languages))


# What Home Assistant says when nothing was recognized (it shows not-recognized's text as the error).
_SORRY = "Sorry, I couldn't understand that"
