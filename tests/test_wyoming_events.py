"""edge/wyoming_events.py writes every event byte for byte as the `wyoming` package does.

The server no longer imports the package (its import cost the daemon ~1 MB of RSS), so each event it
sends is written here twice over a real loopback connection, once with edge.wyoming_events and once
with the package's own classes and `async_write_event`, and the bytes are compared. The only field
allowed to differ is the header's `version` (the package writes its installed version; edge writes
the release it was checked against), and it must be that release's number.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import pytest

pytest.importorskip("wyoming")

from wyoming import asr, error, event as wevent, handle, info, intent, ping  # noqa: E402

from edge import wyoming_events as ours  # noqa: E402


async def _bytes_of(write: Callable[[asyncio.StreamWriter], Any]) -> bytes:
    """What `write(writer)` sends over a real TCP connection, as the peer reads it."""
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.set_result(await reader.read())
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    await write(writer)
    writer.close()
    await writer.wait_closed()
    out = await asyncio.wait_for(got, 10)
    server.close()
    await server.wait_closed()
    return out


def _split(raw: bytes) -> tuple[dict, bytes]:
    head, _, rest = raw.partition(b"\n")
    return json.loads(head), rest


ATTR = ("edge", "")
CONTEXT = {"conversation_id": "c-1", "nested": {"ü": [1, 2.5, None, True]}}
CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("transcript", lambda m: m.Transcript(text="turn on the lamp", language="de", context=CONTEXT)),
    ("transcript, text only", lambda m: m.Transcript(text="Küche 💡")),
    ("recognize", lambda m: m.Recognize(text="licht an", context=CONTEXT)),
    ("error with code", lambda m: m.Error("header over 8192 bytes", code="too-large")),
    ("error without code", lambda m: m.Error("boom")),
    ("handled", lambda m: m.Handled(text="Das Licht ist an", context=CONTEXT)),
    ("handled, empty", lambda m: m.Handled()),
    ("not-recognized", lambda m: m.NotRecognized(text="Sorry, I couldn't understand that", context=CONTEXT)),
    ("not-recognized, no context", lambda m: m.NotRecognized(text="Sorry")),
    ("intent with entities", lambda m: m.Intent(
        name="HassTurnOn", entities=[m.Entity(name="name", value="Schreibtischlampe"),
                                     m.Entity(name="brightness", value=30), m.Entity(name="temperature", value=21.5),
                                     m.Entity(name="none", value=None)], context=CONTEXT)),
    ("intent, no entities", lambda m: m.Intent(name="HassNevermind", entities=[], context=None)),
    ("ping", lambda m: m.Ping(text="hello")),
    ("pong", lambda m: m.Pong(text="hello")),
    ("pong without text", lambda m: m.Pong(text=None)),
    ("describe", lambda m: m.Describe()),
]

_PKG = {name: mod for mod in (asr, error, handle, info, intent, ping) for name in dir(mod)}


class _Package:
    """The package's classes under the names edge.wyoming_events uses."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_PKG[name], name)


def _info(m: Any) -> Any:
    attribution = m.Attribution(name="edge", url="")
    return m.Info(intent=[m.IntentProgram(
        name="edge", attribution=attribution, installed=True, description="edge: on-device intent recognition",
        version="0.1.0", models=[m.IntentModel(name="home", attribution=attribution, installed=True,
                                               description="home control intents", version=None,
                                               languages=["en", "de"])])])


@pytest.mark.parametrize("label,make", CASES + [("info", _info)], ids=[c[0] for c in CASES] + ["info"])
def test_each_event_is_written_as_the_package_writes_it(label: str, make: Callable[[Any], Any]) -> None:
    pkg = _Package()
    mine = asyncio.run(_bytes_of(lambda w: ours.async_write_event(make(ours).event(), w)))
    theirs = asyncio.run(_bytes_of(lambda w: wevent.async_write_event(make(pkg).event(), w)))
    head_mine, rest_mine = _split(mine)
    head_theirs, rest_theirs = _split(theirs)
    assert head_mine.pop("version") == ours.PROTOCOL_VERSION
    head_theirs.pop("version")
    assert (head_mine, rest_mine) == (head_theirs, rest_theirs)
    # and the header's keys in the same order, the data bytes the same (not only the same JSON)
    assert mine.replace(f'"version": "{ours.PROTOCOL_VERSION}"'.encode(), b"") == theirs.replace(
        f'"version": "{wevent._VERSION_NUMBER}"'.encode(), b"")
    # the package reads what edge wrote back into the same event
    back = asyncio.run(_read_back(mine))
    assert (back.type, back.data) == (make(pkg).event().type, make(pkg).event().data)


async def _read_back(raw: bytes) -> Any:
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    return await wevent.async_read_event(reader)


def test_the_declared_protocol_version_is_the_installed_package_tested_against() -> None:
    """The header says which wyoming release edge writes like; pyproject.toml's extra installs it for the
    tests. A newer package may write events differently: this fails, so the events above are re-checked."""
    assert ours.PROTOCOL_VERSION == wevent._VERSION_NUMBER


def test_type_checks_and_event_equality() -> None:
    assert ours.Transcript.is_type("transcript") and not ours.Transcript.is_type("transcript-start")
    assert ours.Recognize.is_type("recognize") and ours.Describe.is_type("describe")
    assert ours.Ping.is_type("ping") and not ours.Pong.is_type("ping")
    assert ours.Error.is_type("error") and not ours.Error.is_type("Error")
    assert ours.Handled.is_type("handled") and ours.NotRecognized.is_type("not-recognized")
    assert ours.Event("ping", {"text": "a"}) == ours.Event("ping", {"text": "a"}) != ours.Event("pong", {"text": "a"})
    assert ours.Event("describe").data == {} and ours.Event("describe").to_dict() == {"type": "describe", "data": {}}


def test_a_text_that_is_no_valid_utf8_is_not_written_silently_wrong() -> None:
    """A lone surrogate cannot be encoded: writing fails loudly (edge/wyoming.py refuses such input before)."""
    with pytest.raises(UnicodeEncodeError):
        asyncio.run(_bytes_of(lambda w: ours.async_write_event(ours.Handled(text="\ud800").event(), w)))
