"""Home Assistant's side of Wyoming, for tests and bench/wyoming.py: what
homeassistant/components/wyoming/conversation.py (async_process) and data.py
(load_wyoming_info) do, with the real `wyoming` package's client."""

from __future__ import annotations

import asyncio
from typing import Any

from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.intent import Intent, IntentsStart, IntentsStop, NotRecognized

ANSWERS = (Intent, NotRecognized, Handled, NotHandled, Error)


async def ha_process(host: str, port: int, text: str, language: str | None = "en",
                     context: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    """One utterance as Home Assistant sends it: a new connection, a transcript, read until an answer.
    Returns the wyoming object (Intent, NotRecognized, Handled, NotHandled or Error)."""
    if context is None:
        context = {"conversation_id": "01JTEST"}
    async with asyncio.timeout(timeout):
        async with AsyncTcpClient(host, port) as client:
            await client.write_event(Transcript(text, context=context, language=language).event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise ConnectionError("Connection lost")  # HA: WyomingError("Connection lost")
                if IntentsStart.is_type(event.type) or IntentsStop.is_type(event.type):
                    raise AssertionError("edge sends one intent, never a list")
                for kind in ANSWERS:
                    if kind.is_type(event.type):
                        return kind.from_event(event)


async def ha_describe(host: str, port: int, timeout: float = 10.0) -> Info:
    """Home Assistant's load_wyoming_info: describe, read until info."""
    async with asyncio.timeout(timeout):
        async with AsyncTcpClient(host, port) as client:
            await client.write_event(Describe().event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise ConnectionError("Connection lost")
                if Info.is_type(event.type):
                    return Info.from_event(event)


async def raw_exchange(host: str, port: int, data: bytes, timeout: float = 10.0,
                       half_close: bool = False) -> tuple[list[Event], bool]:
    """Send raw bytes; read the server's events until it closes. Returns (events, closed by server)."""
    reader, writer = await asyncio.open_connection(host, port)
    events: list[Event] = []
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(timeout):
            while True:
                ev = await async_read_event(reader)
                if ev is None:
                    return events, reader.at_eof()
                events.append(ev)
    finally:
        writer.close()
