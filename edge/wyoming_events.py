"""The Wyoming events edge/wyoming.py reads and writes, written as the `wyoming` package writes them.

Why not the package itself: importing any of it costs the daemon about 1 MB of RSS for a server
that writes seven kinds of small JSON event (bench/wyoming.py --daemon-rss, docs/wyoming.md "RSS").
`wyoming/__init__` asks `importlib.metadata` for its own version (0.5 MB with what that imports),
and `wyoming.info` imports `wyoming.audio`, which imports `wave`, `audioop` and `argparse`. This
module is the subset edge/wyoming.py uses, with the package's names, constructors and output:
the same header line and data bytes, key for key (tests/test_wyoming_events.py writes every event
here and with the package, and compares the bytes). Reading stays in edge/wyoming.py
(`_read_event`, bounded); Home Assistant's side, in the tests, is the real package.

The wire format (wyoming 1.x): one JSON header line {"type", "version", "data_length"?,
"payload_length"?}, then `data_length` bytes of JSON data, then the payload (never, here).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["Attribution", "Describe", "Entity", "Error", "Event", "Handled", "Info", "Intent", "IntentModel",
           "IntentProgram", "NotRecognized", "Ping", "Pong", "Recognize", "Transcript", "async_write_event",
           "PROTOCOL_VERSION"]

# The version every header carries: the wyoming release these events were checked against
# (the package writes its own version there; Home Assistant reads none of it).
PROTOCOL_VERSION = "1.10.2"
_NEWLINE = b"\n"


class Event:
    """One event: a type, its data, no payload (an intent server takes and sends no audio)."""

    __slots__ = ("type", "data", "payload")

    def __init__(self, type: str, data: dict[str, Any] | None = None, payload: bytes | None = None) -> None:
        self.type = type
        self.data = {} if data is None else data
        self.payload = payload

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and (self.type, self.data, self.payload) == (other.type, other.data,
                                                                                   other.payload)

    def __repr__(self) -> str:
        return f"Event(type={self.type!r}, data={self.data!r})"


async def async_write_event(event: Event, writer: asyncio.StreamWriter) -> None:
    """Write `event` as wyoming's `async_write_event` does: header line, data, payload; then drain."""
    head: dict[str, Any] = {"type": event.type, "version": PROTOCOL_VERSION}
    data = None
    if event.data:
        data = json.dumps(event.data, ensure_ascii=False).encode("utf-8")
        head["data_length"] = len(data)
    if event.payload:
        head["payload_length"] = len(event.payload)
    writer.writelines((json.dumps(head, ensure_ascii=False).encode(), _NEWLINE))
    if data:
        writer.write(data)
    if event.payload:
        writer.write(event.payload)
    await writer.drain()


def _with(data: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """`data` plus each optional field that is not None, in the order given (the package's order)."""
    for k, v in optional.items():
        if v is not None:
            data[k] = v
    return data


class Transcript:
    TYPE = "transcript"

    def __init__(self, text: str, context: dict[str, Any] | None = None, language: str | None = None) -> None:
        self.text, self.context, self.language = text, context, language

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == Transcript.TYPE

    def event(self) -> Event:
        return Event(self.TYPE, _with({"text": self.text}, language=self.language, context=self.context))


class Recognize:
    TYPE = "recognize"

    def __init__(self, text: str, context: dict[str, Any] | None = None) -> None:
        self.text, self.context = text, context

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == Recognize.TYPE

    def event(self) -> Event:
        return Event(self.TYPE, _with({"text": self.text}, context=self.context))


class Error:
    TYPE = "error"

    def __init__(self, text: str, code: str | None = None) -> None:
        self.text, self.code = text, code

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == Error.TYPE

    def event(self) -> Event:
        return Event(self.TYPE, _with({"text": self.text}, code=self.code))


class _TextContext:
    """handled / not-recognized: optional text, optional context."""

    TYPE = ""

    def __init__(self, text: str | None = None, context: dict[str, Any] | None = None) -> None:
        self.text, self.context = text, context

    @classmethod
    def is_type(cls, event_type: str) -> bool:
        return event_type == cls.TYPE

    def event(self) -> Event:
        return Event(self.TYPE, _with({}, text=self.text, context=self.context))


class Handled(_TextContext):
    TYPE = "handled"


class NotRecognized(_TextContext):
    TYPE = "not-recognized"


class Entity:
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any = None) -> None:
        self.name, self.value = name, value


class Intent:
    TYPE = "intent"

    def __init__(self, name: str, entities: list[Entity] | None = None, text: str | None = None,
                 context: dict[str, Any] | None = None) -> None:
        self.name, self.entities, self.text, self.context = name, entities or [], text, context

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == Intent.TYPE

    def event(self) -> Event:
        data: dict[str, Any] = {"name": self.name}
        if self.entities:  # the package's dataclasses.asdict(entity) also copies the value: the same JSON
            data["entities"] = [{"name": e.name, "value": e.value} for e in self.entities]
        return Event(self.TYPE, _with(data, text=self.text, context=self.context))


class _Text:
    """ping / pong: `text` always written, null when none."""

    TYPE = ""

    def __init__(self, text: str | None = None) -> None:
        self.text = text

    @classmethod
    def is_type(cls, event_type: str) -> bool:
        return event_type == cls.TYPE

    def event(self) -> Event:
        return Event(self.TYPE, {"text": self.text})


class Ping(_Text):
    TYPE = "ping"


class Pong(_Text):
    TYPE = "pong"


class Describe:
    TYPE = "describe"

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == Describe.TYPE

    def event(self) -> Event:
        return Event(self.TYPE)


class Attribution:
    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url}


class IntentModel:
    def __init__(self, name: str, attribution: Attribution, installed: bool, description: str | None,
                 version: str | None, languages: list[str]) -> None:
        self.name, self.attribution, self.installed = name, attribution, installed
        self.description, self.version, self.languages = description, version, languages

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "attribution": self.attribution.to_dict(), "installed": self.installed,
                "description": self.description, "version": self.version, "languages": list(self.languages)}


class IntentProgram(IntentModel):
    def __init__(self, name: str, attribution: Attribution, installed: bool, description: str | None,
                 version: str | None, models: list[IntentModel]) -> None:
        self.name, self.attribution, self.installed = name, attribution, installed
        self.description, self.version, self.models = description, version, models

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "attribution": self.attribution.to_dict(), "installed": self.installed,
                "description": self.description, "version": self.version,
                "models": [m.to_dict() for m in self.models]}


class Info:
    """The answer to `describe`: this server's one intent program (no asr, tts, ... services)."""

    TYPE = "info"

    def __init__(self, intent: list[IntentProgram] | None = None) -> None:
        self.intent = intent or []

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == Info.TYPE

    def event(self) -> Event:
        return Event(self.TYPE, {"asr": [], "tts": [], "handle": [], "intent": [p.to_dict() for p in self.intent],
                                 "wake": [], "mic": [], "snd": []})
