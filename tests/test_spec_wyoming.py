"""../shared/spec/interface.md, "Home Assistant Assist (Wyoming)", through the door Home Assistant uses.

One real daemon (`python -m edge run`, models/home, a names file in the spec's own shape, a real mosquitto)
serves the whole module; every exchange goes over a real TCP socket, either with the real `wyoming` package's
client (what Home Assistant runs: tests/wyoming_ha.py) or with raw bytes for what a careless or hostile
client sends. tests/test_wyoming.py checks the same server in-process with a rule model; this file checks
the shipped daemon, as a hidden test would. Each test's docstring quotes the line it checks. Over 400 lines on
purpose: one daemon serves the whole section (a start costs seconds on 2 cores), in the spec's order.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, async_read_event

from conftest import ROOT, Broker, Daemon, daemon_config, free_port
from wyoming_ha import ha_describe, ha_process, raw_exchange

pytestmark = pytest.mark.slow

HOME = ROOT / "models" / "home"
LANGUAGES = json.loads((HOME / "manifest.json").read_text())["languages"]
IDLE_S = 10.0  # edge.wyoming.ServerLimits.idle_timeout_s: a bound the test allows, not one it sleeps
MAX_DATA = 16 * 1024  # edge.wyoming.MAX_DATA: "data_length at most"

# The spec's own names-file example, filled out a little: exactly these may ever be named.
NAMES_YAML = """\
floors:   [{name: "Upstairs", id: "upstairs", aliases: ["first floor"]}]
areas:    [{name: "Kitchen", id: "kitchen", floor: "upstairs", aliases: ["cookery", "Küche"]},
           {name: "Office", id: "office"}]
entities: [{name: "Overhead Light", id: "light.overhead", area: "kitchen", aliases: ["ceiling lamp"], state: "off",
            attributes: {device_class: "light"}},
           {name: "Desk Lamp", id: "light.desk_lamp", area: "office"},
           {name: "Front Door", id: "lock.front_door"}]
"""
EXACT = {"name": {"Overhead Light", "Desk Lamp", "Front Door"}, "area": {"Kitchen", "Office"}, "floor": {"Upstairs"}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Daemon, Broker]]:
    tmp = tmp_path_factory.mktemp("spec-wyoming")
    names = tmp / "names.yaml"
    names.write_text(NAMES_YAML)
    broker = Broker(tmp / "b").start()
    port = free_port()
    cfg = daemon_config(broker, tmp / "s", device_id="wy", model={"path": str(HOME)},
                        wyoming={"enabled": True, "port": port}, home={"names": str(names)})
    d = Daemon(tmp / "d", cfg, env={"EDGE_CLOUD_API_KEY": ""}).start()
    yield port, d, broker
    try:
        assert d.proc is not None and d.proc.poll() is None, "the daemon died during the module:\n" + d.log_text()
        assert d.stop() == 0, d.log_text()
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()


def entities(data: dict) -> dict:
    return {e["name"]: e["value"] for e in data.get("entities") or []}


async def replies(port: int, event: Event, quiet_s: float = 0.5) -> list[Event]:
    """Every event the server sends for one event on a fresh connection, until it has answered and gone quiet
    (or closed)."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(event)
        got = [await asyncio.wait_for(client.read_event(), 15)]
        while got[-1] is not None:
            try:
                got.append(await asyncio.wait_for(client.read_event(), quiet_s))
            except TimeoutError:
                break
        return [e for e in got if e is not None]


def one(port: int, text: str, language: str | None = "en", context: dict | None = None) -> list[Event]:
    return asyncio.run(replies(port, Transcript(text, language=language, context=context).event()))


def still_serving(port: int) -> None:
    """The server answers a plain Home Assistant request right now."""
    answer = asyncio.run(ha_process("127.0.0.1", port, "turn off the kitchen lights", "en"))
    assert type(answer).__name__ == "Intent" and answer.name == "HassTurnOff", answer


# --- describe -> info ---------------------------------------------------------------------------------

def test_describe_gives_info_with_one_installed_intent_program_serving_the_models_languages(served) -> None:
    """"`describe` → `info` with one installed intent program whose models list the languages the loaded model
    serves" (read as Home Assistant's load_wyoming_info reads it)."""
    port = served[0]
    info = asyncio.run(ha_describe("127.0.0.1", port))
    programs = [p for p in info.intent if p.installed]
    assert len(programs) == 1, info.intent
    models = [m for m in programs[0].models if m.installed]
    assert models and sorted({lang for m in models for lang in m.languages}) == sorted(LANGUAGES), models
    assert programs[0].name and programs[0].attribution.name, programs[0]
    # an intent server only: nothing else installed that would make Home Assistant treat it as another service
    for kind in ("asr", "tts", "wake", "handle", "mic", "snd"):
        assert not [p for p in (getattr(info, kind, None) or []) if getattr(p, "installed", False)], (kind, info)


def test_describe_then_transcript_on_one_connection(served) -> None:
    """Events are answered one by one on a connection: describe -> info, then transcript -> one reply."""
    port = served[0]

    async def go() -> tuple[Event | None, Event | None]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Event(type="describe"))
            info = await asyncio.wait_for(client.read_event(), 10)
            await client.write_event(Transcript("turn off the kitchen lights", language="en",
                                                context={"k": 1}).event())
            return info, await asyncio.wait_for(client.read_event(), 10)

    info, reply = asyncio.run(go())
    assert info is not None and info.type == "info"
    assert reply is not None and reply.type == "intent" and reply.data["context"] == {"k": 1}, reply


# --- transcript -> exactly one reply, context echoed -----------------------------------------------

CONTEXT = {"conversation_id": "01J-ü✓", "device_id": None, "nested": {"list": [1, 2.5, True, "x"]}}


@pytest.mark.parametrize("text,language,kind", [
    ("turn off the kitchen lights", "en", "intent"),
    ("schalte das licht in der küche aus", "de", "intent"),
    ("what's the capital of peru", "en", "not-recognized"),  # no home command and no cloud
    ("turn off the kitchen lights", "tlh", "not-recognized"),  # a language the model does not serve
    # a careless empty tag: no language (the first) or none served; either way one reply, never an error
    ("turn off the kitchen lights", "", ("intent", "not-recognized")),
    ("", "en", "not-recognized"),  # nothing said
    ("   \n\t ", "en", "not-recognized"),
])
def test_a_transcript_gets_exactly_one_reply_with_the_context_echoed(served, text: str, language: str,
                                                                     kind: str | tuple[str, ...]) -> None:
    """"`transcript {text, language?, context?}` → exactly one reply, with the context echoed"; intent or
    not-recognized {text}."""
    got = one(served[0], text, language, CONTEXT)
    assert len(got) == 1 and got[0].type in (kind if isinstance(kind, tuple) else (kind,)), got
    assert got[0].data["context"] == CONTEXT, got[0].data
    if got[0].type == "not-recognized":
        assert isinstance(got[0].data.get("text"), str) and got[0].data["text"], got[0].data
    else:
        assert isinstance(got[0].data.get("name"), str) and isinstance(got[0].data.get("entities"), list)
        assert all(set(e) >= {"name", "value"} for e in got[0].data["entities"]), got[0].data


def test_no_language_means_the_models_first_and_a_region_tag_its_language(served) -> None:
    """"`language` picks the model's language" (request: "default the model's first language")."""
    port = served[0]
    assert LANGUAGES[0] == "en"
    for language in (None, "en-US", "EN"):
        got = one(port, "turn off the kitchen lights", language)
        assert [e.type for e in got] == ["intent"] and got[0].data["name"] == "HassTurnOff", (language, got)
    # German words asked as English are not acted on as English words would be: one reply, never an error
    got = one(port, "schalte das licht in der küche aus", "de-DE")
    assert [e.type for e in got] == ["intent"] and entities(got[0].data).get("area") == "Kitchen", got


# --- names: exact names only, and only those in the file ---------------------------------------------

# (text, intent, entities, whether not-recognized is an acceptable answer: a thing said by its exact name must be
# acted on; one said by an alias may be refused, "when unsure", but never answered with the alias itself)
@pytest.mark.parametrize("text,language,intent,want,may_refuse", [
    ("turn on the desk lamp", "en", "HassTurnOn", {"name": "Desk Lamp"}, False),
    ("turn on the overhead light", "en", "HassTurnOn", {"name": "Overhead Light"}, False),
    ("lock the front door", "en", "HassTurnOn", {"name": "Front Door"}, False),  # HA: lock = HassTurnOn
    ("turn off the lights upstairs", "en", "HassTurnOff", {"floor": "Upstairs", "domain": "light"}, False),
    ("turn on the ceiling lamp", "en", "HassTurnOn", {"name": "Overhead Light"}, True),  # an alias
    ("turn off the lights in the cookery", "en", "HassTurnOff", {"area": "Kitchen", "domain": "light"}, True),
    ("turn on the lights in the first floor", "en", "HassTurnOn", {"floor": "Upstairs", "domain": "light"}, True),
])
def test_names_are_the_exact_names_from_the_file(served, text: str, language: str, intent: str, want: dict,
                                                 may_refuse: bool) -> None:
    """"`name` (of a thing), `area` and `floor` values are the exact names (not aliases) from the names file"."""
    got = one(served[0], text, language)
    assert len(got) == 1, got
    if got[0].type == "not-recognized" and may_refuse:
        return
    assert got[0].type == "intent" and got[0].data["name"] == intent, got
    assert entities(got[0].data) == want, got[0].data


@pytest.mark.parametrize("text,language", [
    ("turn on the bedroom light", "en"), ("turn off the garage door light", "en"),
    ("open the living room blinds", "en"),
    ("turn on the reading lamp", "en"), ("set the bathroom light to 40%", "en"),
    ("turn off the lights in the basement", "en"), ("lock the back door", "en"), ("turn on the ceiling fan", "en"),
    ("turn off the lights downstairs", "en"), ("schalte das licht im schlafzimmer an", "de"),
    ("allume la lumière de la chambre", "fr"), ("enciende la luz del baño", "es"),
])
def test_nothing_outside_the_names_file_is_ever_named(served, text: str, language: str) -> None:
    """"Only these entities may be named in a result ... the daemon must never name anything that is not in the
    file"; "a name that matches nothing" -> not-recognized."""
    got = one(served[0], text, language)
    assert len(got) == 1 and got[0].type in ("intent", "not-recognized"), got
    for slot, value in entities(got[0].data).items():
        if slot in EXACT:
            assert value in EXACT[slot], (text, got[0].data)


# --- numbers and free text ----------------------------------------------------------------------------

def test_numbers_are_numbers_and_a_shopping_item_stays_as_said(served) -> None:
    """"free-text slots stay as the user said them (... `item` ...); numbers are numbers"."""
    port = served[0]
    got = one(port, "set the desk lamp to 30%")
    assert [e.type for e in got] in (["intent"], ["not-recognized"]), got
    if got[0].type == "intent":
        ent = entities(got[0].data)
        assert got[0].data["name"] == "HassLightSet" and ent.get("brightness") == 30, got[0].data
        assert type(ent["brightness"]) is int and ent.get("name") == "Desk Lamp", got[0].data
    got = one(port, "add Oat Milk to my shopping list")
    assert [e.type for e in got] == ["intent"] and got[0].data["name"] == "HassShoppingListAddItem", got
    assert entities(got[0].data) == {"item": "Oat Milk"}, got[0].data


# --- careless and hostile clients --------------------------------------------------------------------

def _header(head: dict, data: bytes = b"") -> bytes:
    return json.dumps(head).encode() + b"\n" + data


MALFORMED = {
    "not json": b"{not an event\n",
    "a json list": b'["transcript"]\n',
    "a json string": b'"transcript"\n',
    "no type": b'{"data": {"text": "hi"}}\n',
    "type not a string": b'{"type": 7}\n',
    "empty type": b'{"type": ""}\n',
    "data not an object": b'{"type": "transcript", "data": ["turn on"]}\n',
    "data_length not a number": b'{"type": "transcript", "data_length": "ten"}\n',
    "negative data_length": b'{"type": "transcript", "data_length": -5}\n',
    "data not json": _header({"type": "transcript", "data_length": 5}, b"{{{{{"),
    "data a json list": _header({"type": "transcript", "data_length": 2}, b"[]"),
    "invalid utf-8 header": b'{"type": "transcript\xff\xfe"}\n',
    "text not a string": _header({"type": "transcript", "data": {"text": 42}}),
    "text null": _header({"type": "transcript", "data": {"text": None}}),
    "no text": _header({"type": "transcript", "data": {"language": "en"}}),
    "language not a string": _header({"type": "transcript", "data": {"text": "hi", "language": ["en"]}}),
    "context not an object": _header({"type": "transcript", "data": {"text": "hi", "context": "c-1"}}),
    "an audio payload": _header({"type": "transcript", "data": {"text": "hi"}, "payload_length": 4}, b"\0\0\0\0"),
    "deeply nested": b'{"type": "transcript", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
    "huge data_length, nothing sent": _header({"type": "transcript", "data_length": 100 * 1024 * 1024}),
    "data over the limit": _header({"type": "transcript", "data_length": MAX_DATA + 1},
                                   json.dumps({"text": "x" * MAX_DATA}).encode()[:MAX_DATA + 1]),
    "a header over the limit": b'{"type": "transcript", "data": {"text": "' + b"a" * (64 * 1024) + b'"}}\n',
    "unknown event type": b'{"type": "run-program", "data": {"cmd": "rm -rf /"}}\n',
}


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_a_malformed_event_gets_an_error_and_the_connection_closes(served, what: str) -> None:
    """"A malformed event gets an `error` event and the connection closes; the server keeps serving others"."""
    port, d, _ = served
    events, closed = asyncio.run(raw_exchange("127.0.0.1", port, MALFORMED[what], timeout=IDLE_S + 5))
    assert [e.type for e in events] == ["error"], (what, events)
    assert isinstance(events[0].data.get("text"), str) and events[0].data["text"], events[0].data
    assert closed, what
    still_serving(port)
    assert d.proc is not None and d.proc.poll() is None


def test_an_oversized_transcript_from_the_real_client_is_refused_and_one_at_the_limit_answered(served) -> None:
    """Oversized events: refused with an error (the connection closes); a transcript whose data is within the
    limit gets its one reply."""
    port = served[0]
    over = one(port, "turn on the light " + "a" * MAX_DATA)
    assert [e.type for e in over] == ["error"], over
    # within the limit: ~15 KiB of text -> one ordinary reply, not an error
    near = one(port, ("turn on the light " * 900)[: MAX_DATA - 1024], "en", {"c": 1})
    assert len(near) == 1 and near[0].type in ("intent", "not-recognized") and near[0].data["context"] == {"c": 1}
    still_serving(port)


def test_a_client_that_sends_nothing_is_closed_and_others_are_served_meanwhile(served) -> None:
    """"a client that sends nothing": the server does not wait on it forever, and it blocks nobody."""
    port = served[0]

    async def go() -> tuple[list[Event], bool, float, list[Any]]:
        silent_r, silent_w = await asyncio.open_connection("127.0.0.1", port)
        half_r, half_w = await asyncio.open_connection("127.0.0.1", port)
        half_w.write(b'{"type": "transcr')  # a header begun and never finished
        await half_w.drain()
        t0 = time.monotonic()
        # meanwhile: Home Assistant's requests are answered at once
        others = [await ha_process("127.0.0.1", port, "turn off the kitchen lights", "en", timeout=5)
                  for _ in range(3)]
        events: list[Event] = []
        async with asyncio.timeout(IDLE_S + 10):
            while (ev := await async_read_event(silent_r)) is not None:
                events.append(ev)
            closed = silent_r.at_eof()
            while await async_read_event(half_r) is not None:
                pass
        took = time.monotonic() - t0
        for w in (silent_w, half_w):
            w.close()
        return events, closed and half_r.at_eof(), took, others

    events, closed, took, others = asyncio.run(go())
    assert all(type(o).__name__ == "Intent" for o in others), others
    assert closed and took < IDLE_S + 10, took
    assert [e.type for e in events] in ([], ["error"]), events
    still_serving(port)


def test_clients_that_connect_and_vanish_do_not_hurt_the_server(served) -> None:
    """Connections reset mid-event or closed at once leave the server serving."""
    port = served[0]
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            s.sendall(_header({"type": "transcript", "data_length": 100}, b'{"text": "turn'))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        s.close()
    still_serving(port)


def test_many_concurrent_connections_each_get_their_own_answer(served) -> None:
    """"many concurrent connections": 60 at once (Home Assistant opens one per utterance), interleaved
    commands and non-commands, each answer matching its own transcript and context."""
    port = served[0]
    texts = [("turn off the kitchen lights", "intent"), ("what's the capital of peru", "not-recognized"),
             ("turn on the desk lamp", "intent")]

    async def ask(i: int) -> tuple[int, list[Event]]:
        text, _ = texts[i % len(texts)]
        return i, await replies(port, Transcript(text, language="en", context={"i": i}).event(), quiet_s=0.2)

    async def go() -> list[tuple[int, list[Event]]]:
        return await asyncio.gather(*(ask(i) for i in range(60)))

    for i, got in asyncio.run(go()):
        assert len(got) == 1 and got[0].data["context"] == {"i": i}, (i, got)
        assert got[0].type == texts[i % len(texts)][1], (i, got)
    still_serving(port)


def test_mqtt_goes_on_beside_wyoming_after_all_that(served) -> None:
    """The Wyoming server is one channel of the daemon: the MQTT side still answers (`edge send`, exit 0)."""
    import subprocess
    import sys

    port, d, broker = served
    out = subprocess.run([sys.executable, "-m", "edge", "send", "turn off the kitchen lights", "--host", "127.0.0.1",
                          "--port", str(broker.port), "--device", "wy", "--timeout", "20"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["intent"] == "HassTurnOff"
    still_serving(port)


def test_one_peer_holding_many_idle_connections_does_not_lock_out_another(served) -> None:
    """"many concurrent connections" and "the server keeps serving others": one address that opens more idle
    connections than a peer may hold is told so (an `error`, closed); Home Assistant on another address is still
    answered meanwhile, and the first address is served again once its connections are gone."""
    from wyoming.event import async_write_event

    port = served[0]

    async def other_peer() -> Event | None:  # 127.0.0.2 is loopback too: another peer address on one host
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        try:
            await async_write_event(Transcript("turn off the kitchen lights", language="en").event(), writer)
            return await asyncio.wait_for(async_read_event(reader), 10)
        finally:
            writer.close()

    async def go() -> tuple[int, list[str], Event | None]:
        hog = [await asyncio.open_connection("127.0.0.1", port) for _ in range(80)]
        told: list[str] = []
        try:
            # the connections over the peer's share are answered (busy) and closed; the rest wait, idle
            async def first(reader: asyncio.StreamReader) -> Event | None:
                try:
                    return await asyncio.wait_for(async_read_event(reader), 1.0)
                except TimeoutError:
                    return None  # one that waits, idle

            told = [ev.type for ev in await asyncio.gather(*(first(r) for r, _ in hog)) if ev is not None]
            served_other = await other_peer()
        finally:
            for _, writer in hog:
                writer.close()
        return len(hog), told, served_other

    n, told, other = asyncio.run(go())
    assert told and set(told) == {"error"} and len(told) < n, told  # some refused, not all
    assert other is not None and other.type == "intent" and other.data["name"] == "HassTurnOff", other
    deadline = time.monotonic() + IDLE_S
    while True:  # the hog's connections are closed by now or soon: the address is served again
        answer = asyncio.run(ha_process("127.0.0.1", port, "turn off the kitchen lights", "en"))
        if type(answer).__name__ == "Intent" or time.monotonic() > deadline:
            break
    assert type(answer).__name__ == "Intent", answer


def test_a_model_that_is_no_home_model_never_answers_with_its_own_labels(tmp_path: Path) -> None:
    """`intent {name, ...}`: "a Home Assistant intent (HassTurnOn, ...)": with [wyoming] on and the shipped
    CLINC150 model (labels such as `weather`), Assist gets not-recognized, never `intent {name: "weather"}`;
    describe still lists the loaded model's languages."""
    broker = Broker(tmp_path / "b").start()
    port = free_port()
    d = Daemon(tmp_path / "d", daemon_config(broker, tmp_path / "s", device_id="nothome",
                                             wyoming={"enabled": True, "port": port}), env={"EDGE_CLOUD_API_KEY": ""})
    try:
        d.start()
        languages = json.loads((ROOT / "models" / "clinc150" / "manifest.json").read_text()).get("languages", ["en"])
        info = asyncio.run(ha_describe("127.0.0.1", port))
        assert sorted(info.intent[0].models[0].languages) == sorted(languages), info
        for text in ("what is the weather like", "set an alarm for 7 am", "turn off the kitchen lights"):
            got = one(port, text, "en", {"t": text})
            assert [e.type for e in got] == ["not-recognized"] and got[0].data["context"] == {"t": text}, got
        assert d.stop() == 0, d.log_text()
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()
