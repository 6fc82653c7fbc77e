"""Home Assistant Assist over Wyoming (edge/wyoming.py, edge/home.py), driven the way Home Assistant's
Wyoming conversation agent drives it (tests/wyoming_ha.py, the real `wyoming` client) against a real
server on a loopback port.

The protocol tests use `HomeRecognizer` with a rule model (`RuleModel`: a few phrases -> an intent)
and a phrase tagger (`PhraseSlots`), but the real names file resolution (edge.names) and the real
built-in number rules (edge.slots.SlotExtractor); tests/test_wyoming_e2e.py runs a real trained model.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("wyoming")

from edge import config, names  # noqa: E402
from edge.home import Answered, HomeRecognizer, NotUnderstood, Recognized, base_language  # noqa: E402
from edge.model import OOS, Prediction  # noqa: E402
from edge.slots import SlotExtractor  # noqa: E402
from edge.wyoming import MAX_DATA, MAX_HEADER, ServerLimits, WyomingServer  # noqa: E402
from edge.wyoming_channel import serve  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.handle import Handled  # noqa: E402
from wyoming.intent import Intent, NotRecognized  # noqa: E402
from wyoming_ha import ha_describe, ha_process, raw_exchange  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_names.yaml"
HOST = "127.0.0.1"


class RuleModel:
    """A few phrases -> an intent, confident; "hmm" -> unsure; anything else out of scope."""

    name, version = "rules", "0.0.1"
    escalation_threshold = 0.6
    manifest = {"languages": ["en", "de"]}
    RULES = (("turn off", "HassTurnOff"), ("ausschalten", "HassTurnOff"), ("turn on", "HassTurnOn"),
             ("timer", "HassStartTimer"), ("brightness", "HassLightSet"), ("balance", "check_balance"))

    def classify(self, texts: list[str]) -> list[Prediction]:
        out = []
        for t in texts:
            label = next((i for w, i in self.RULES if w in t.lower()), None)
            conf = 0.4 if "hmm" in t else 0.97
            out.append(Prediction(OOS if label is None else label, conf if label else 0.1, label or "HassTurnOn"))
        return out


class PhraseSlots:
    """Tags known phrases as slots (a stand-in for the learned tagger), then the real number rules."""

    PHRASES = {"the kitchen lights": "name", "the desk lamp": "name", "the reading lamp": "name",
               "the toaster": "name", "die küche": "area", "das licht": "domain", "living room": "area",
               "pasta": "name"}

    def __init__(self) -> None:
        self.rules = SlotExtractor({"HassStartTimer": {"minutes": "number"},
                                    "HassLightSet": {"brightness": "percentage"}})

    def extract(self, text: str, intent: str) -> list[dict]:
        out = self.rules.extract(text, intent)
        low = text.lower()
        for phrase, slot in self.PHRASES.items():
            at = low.find(phrase)
            if at >= 0:
                out.append({"name": slot, "raw": text[at:at + len(phrase)], "value": text[at:at + len(phrase)],
                            "start": at, "end": at + len(phrase), "confidence": 0.2 if "mumble" in low else 0.9})
        return out


def recognizer(with_names: bool = True) -> HomeRecognizer:
    return HomeRecognizer(RuleModel(), PhraseSlots(), names.load(NAMES) if with_names else None)


def run(scenario, rec=None, limits: ServerLimits = ServerLimits()):
    """Start a server on a free port, run `scenario(server)`, close the server."""
    async def main():
        server = WyomingServer(rec or recognizer(), host=HOST, port=0, limits=limits)
        await server.start()
        try:
            return await scenario(server)
        finally:
            await server.close()
    return asyncio.run(main())


def entities_of(intent: Intent) -> dict:
    return {e.name: e.value for e in intent.entities}


# -- what Home Assistant does -----------------------------------------------------------------

def test_describe_gives_one_installed_intent_program_with_the_languages():
    info = run(lambda s: ha_describe(HOST, s.port))
    assert len(info.intent) == 1 and not info.asr and not info.handle
    program = info.intent[0]
    assert program.installed and program.name == "edge"
    assert [m.languages for m in program.models if m.installed] == [["en", "de"]]


def test_the_info_event_is_what_the_wyoming_package_writes_for_the_same_values():
    """edge/wyoming_events.py writes the `info` event without wyoming.info (its imports cost 0.6 MB):
    the same data as the package's own dataclasses, so a change of its schema fails here."""
    from wyoming.info import Attribution, Info, IntentModel, IntentProgram

    from edge.wyoming_events import info_event_data

    server = WyomingServer(HomeRecognizer(RuleModel(), PhraseSlots(), names.load(NAMES)), version="9.8.7")
    got = server.info_event()
    who = Attribution(name="edge", url="")
    want = Info(intent=[IntentProgram(
        name="edge", attribution=who, installed=True, description=server.description, version="9.8.7",
        models=[IntentModel(name="rules", attribution=who, installed=True, description="home control intents",
                            version="0.0.1", languages=["en", "de"])])]).event()
    assert (got.type, got.data) == (want.type, want.data)
    # and with what may be missing (no version, no description)
    bare = info_event_data(name="x", description=None, version=None, model_name="home", model_description=None,
                           model_version=None, languages=[])
    assert bare == Info(intent=[IntentProgram(name="x", attribution=who, installed=True, description=None,
                                              version=None, models=[IntentModel(
                                                  name="home", attribution=who, installed=True, description=None,
                                                  version=None, languages=[])])]).event().data


def test_the_wyoming_package_imports_without_importlib_metadata_and_with_its_own_version():
    """A fresh interpreter importing edge.wyoming: wyoming's version string is the installed
    distribution's (what importlib.metadata says, asked afterwards), and neither importlib.metadata
    nor wyoming.info (with wave, audioop) was imported for it."""
    code = ("import sys, edge.wyoming, wyoming.event as e; "
            "loaded = sorted(m for m in ('importlib.metadata', 'wyoming.info', 'wyoming.audio', 'wave', 'audioop') "
            "if m in sys.modules); "
            "import importlib.metadata as md; print(loaded, e._VERSION_NUMBER == md.version('wyoming'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[] True"


def test_a_wyoming_imported_before_edge_is_left_as_it_is():
    from edge.wyoming_events import register_version

    assert "wyoming" in sys.modules and register_version() is None


def test_transcript_gives_intent_with_exact_names_and_context_echoed():
    ctx = {"conversation_id": "01J", "device_id": "abc", "satellite_id": "assist_satellite.x"}

    async def go(s):
        return await asyncio.gather(
            ha_process(HOST, s.port, "Turn off the kitchen lights", "en", ctx),
            ha_process(HOST, s.port, "turn on the desk lamp", "en-US"),
            ha_process(HOST, s.port, "die Küche das Licht ausschalten", "de-DE"))
    kitchen, desk, german = run(go)
    assert isinstance(kitchen, Intent) and kitchen.name == "HassTurnOff"
    assert entities_of(kitchen) == {"area": "Kitchen", "domain": "light"}
    assert kitchen.context == ctx
    # no text: Home Assistant renders an intent's text as a template (the speaker's words must not be one)
    assert kitchen.text is None
    assert isinstance(desk, Intent) and entities_of(desk) == {"name": "Desk Lamp"}
    assert isinstance(german, Intent) and entities_of(german) == {"area": "Kitchen", "domain": "light"}


def test_numbers_are_numbers_and_a_timer_name_is_free_text():
    async def go(s):
        return await asyncio.gather(ha_process(HOST, s.port, "set a pasta timer for five minutes"),
                                    ha_process(HOST, s.port, "set the desk lamp brightness to 40%"),
                                    ha_process(HOST, s.port, "set the desk lamp brightness to 400%"))
    timer, light, too_bright = run(go)
    assert isinstance(timer, Intent) and timer.name == "HassStartTimer"
    assert entities_of(timer) == {"minutes": 5, "name": "pasta"}  # "pasta" is in no names file: a timer's name
    assert type(entities_of(timer)["minutes"]) is int
    assert isinstance(light, Intent) and entities_of(light) == {"brightness": 40, "name": "Desk Lamp"}
    assert isinstance(too_bright, NotRecognized)  # refused, not clamped


@pytest.mark.parametrize("text,why", [
    ("what is the capital of peru", "out of scope"),
    ("hmm turn off the kitchen lights", "the model is unsure"),
    ("turn off the toaster", "a name matching nothing"),
    ("turn off the reading lamp", "a name matching two things"),
    ("turn off the kitchen lights mumble", "the tagger is unsure of the span"),
    ("what is my balance", "a label that is no Home Assistant intent"),
    ("", "empty"),
    ("turn on " + "x" * 600, "too long"),
])
def test_not_recognized_when_unsure_with_context_echoed(text, why):
    got = run(lambda s: ha_process(HOST, s.port, text, "en", {"conversation_id": "c1"}))
    assert isinstance(got, NotRecognized), why
    assert got.context == {"conversation_id": "c1"} and got.text


def test_without_a_names_file_nothing_is_named_but_a_timer_works():
    async def go(s):
        return await asyncio.gather(ha_process(HOST, s.port, "turn off the desk lamp"),
                                    ha_process(HOST, s.port, "start a timer for 3 minutes"))
    lamp, timer = run(go, recognizer(with_names=False))
    assert isinstance(lamp, NotRecognized)
    assert isinstance(timer, Intent) and entities_of(timer) == {"minutes": 3}


@pytest.mark.parametrize("language", ["fr", "it-IT", "xx", "../../etc", "e", "en-" + "x" * 40, ""])
def test_a_language_not_served_is_not_recognized(language):
    got = run(lambda s: ha_process(HOST, s.port, "turn off the desk lamp", language))
    assert isinstance(got, NotRecognized)


def test_no_language_means_the_models_first():
    got = run(lambda s: ha_process(HOST, s.port, "turn off the desk lamp", None))
    assert isinstance(got, Intent) and entities_of(got) == {"name": "Desk Lamp"}


def test_fifty_clients_at_once_each_get_their_own_answer():
    async def go(s):
        texts = [("turn off the desk lamp", "HassTurnOff") if i % 3 == 0 else
                 ("turn on the kitchen lights", "HassTurnOn") if i % 3 == 1 else ("tell me a joke", None)
                 for i in range(50)]
        got = await asyncio.gather(*(ha_process(HOST, s.port, t, "en", {"conversation_id": f"c{i}"})
                                     for i, (t, _) in enumerate(texts)))
        return texts, got, s.served
    texts, got, served = run(go)
    assert served == 50
    for i, ((_, want), answer) in enumerate(zip(texts, got)):
        assert answer.context == {"conversation_id": f"c{i}"}
        if want is None:
            assert isinstance(answer, NotRecognized)
        else:
            assert isinstance(answer, Intent) and answer.name == want


# -- what a careless or hostile client sends ---------------------------------------------------

def _line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


MALFORMED = {
    "not json": b"{this is not json\n",
    "binary garbage": bytes(range(256)) + b"\n",
    "a list": b"[1, 2, 3]\n",
    "no type": _line({"data": {"text": "hi"}}),
    "type not a string": _line({"type": 7}),
    "huge type": _line({"type": "x" * 1000}),
    "unknown type": _line({"type": "audio-chunk", "data": {"rate": 16000}}),
    "data not an object": _line({"type": "transcript", "data": "turn on"}),
    "negative data_length": _line({"type": "transcript", "data_length": -5}),
    "data_length a string": _line({"type": "transcript", "data_length": "12"}),
    "100 MB data_length": _line({"type": "transcript", "data_length": 100 * 1024 * 1024}),
    "payload": _line({"type": "transcript", "data": {"text": "hi"}, "payload_length": 4}) + b"abcd",
    "data not json": _line({"type": "transcript", "data_length": 5}) + b"{nope",
    "data a list": _line({"type": "transcript", "data_length": 2}) + b"[]",
    "text not a string": _line({"type": "transcript", "data": {"text": ["turn on"]}}),
    "language not a string": _line({"type": "transcript", "data": {"text": "turn on", "language": 5}}),
    "context not an object": _line({"type": "transcript", "data": {"text": "turn on", "context": "x"}}),
    "header nested deep": b"[" * (MAX_HEADER - 10) + b"\n",
    "data nested deep": _line({"type": "transcript", "data_length": 9000}) + b"[" * 9000,
    "a lone surrogate in the text": _line({"type": "transcript", "data": {"text": "turn on \ud800"}}),
    "a lone surrogate in the context": b'{"type": "transcript", "data": {"text": "hi", "context": {"a": "\\udfff"}}}\n',
    "a bad header with more behind it": b"{bad\n" + b"y" * 20000,
    "header too long": b'{"type": "transcript", "data": {"text": "' + b"a" * (MAX_HEADER + 10) + b'"}}\n',
}


@pytest.mark.parametrize("what", list(MALFORMED))
def test_a_malformed_event_gets_an_error_and_the_connection_closes_while_others_are_served(what):
    async def go(s):
        t0 = time.monotonic()
        events, closed = await raw_exchange(HOST, s.port, MALFORMED[what])
        took = time.monotonic() - t0
        after = await ha_process(HOST, s.port, "turn off the desk lamp")
        return events, closed, took, after
    events, closed, took, after = run(go)
    assert [e.type for e in events] == ["error"], what
    assert Error.from_event(events[0]).code in ("bad-header", "bad-data", "too-large", "unknown-event")
    assert closed
    assert took < 5  # answered at once: a 100 MB data_length is never waited for
    assert isinstance(after, Intent)


def test_data_at_its_limit_is_read_and_one_byte_over_is_refused():
    text = "turn off the desk lamp"

    def event(size: int) -> bytes:
        body = json.dumps({"text": text, "context": {"pad": ""}})
        body = json.dumps({"text": text, "context": {"pad": "p" * (size - len(body))}}).encode()
        assert len(body) == size
        return _line({"type": "transcript", "data_length": len(body)}) + body

    async def go(s):
        return (await raw_exchange(HOST, s.port, event(MAX_DATA), half_close=True),
                await raw_exchange(HOST, s.port, event(MAX_DATA + 1), half_close=True))
    (ok, _), (over, _) = run(go)
    assert [e.type for e in ok] == ["intent"]
    assert [e.type for e in over] == ["error"] and over[0].data["code"] == "too-large"


def test_an_idle_client_is_closed_and_the_server_keeps_serving():
    async def go(s):
        t0 = time.monotonic()
        events, closed = await raw_exchange(HOST, s.port, b"")  # connects, says nothing
        took = time.monotonic() - t0
        half, half_closed = await raw_exchange(HOST, s.port, b'{"type": "transcr')  # half a header
        return events, closed, took, half, half_closed, await ha_process(HOST, s.port, "turn on the desk lamp")
    events, closed, took, half, half_closed, after = run(go, limits=ServerLimits(idle_timeout_s=0.3))
    assert closed and [e.data.get("code") for e in events] == ["timeout"]
    assert 0.25 <= took < 5
    assert half_closed and [e.data.get("code") for e in half] == ["timeout"]
    assert isinstance(after, Intent)


def test_connections_over_the_limits_are_told_busy():
    async def go(s):
        idle = [await asyncio.open_connection(HOST, s.port) for _ in range(3)]
        try:
            events, closed = await raw_exchange(HOST, s.port, b"")
        finally:
            for _, w in idle:
                w.close()
        # the idle ones gone, there is room again
        async def served():
            while True:
                got = await ha_process(HOST, s.port, "turn on the desk lamp")
                if isinstance(got, Intent):
                    return got
                await asyncio.sleep(0.01)  # a closed connection's slot frees once its task ends
        return events, closed, await asyncio.wait_for(served(), 5)
    events, closed, after = run(go, limits=ServerLimits(max_connections=3, idle_timeout_s=30))
    assert closed and [e.data.get("code") for e in events] == ["busy"]
    assert isinstance(after, Intent)

    events, closed, _ = run(go, limits=ServerLimits(max_per_peer=3, idle_timeout_s=30))
    assert [e.data.get("code") for e in events] == ["busy"]


def test_events_per_connection_are_bounded():
    many = _line({"type": "describe"}) * 5
    events, closed = run(lambda s: raw_exchange(HOST, s.port, many), limits=ServerLimits(max_events=3))
    assert [e.type for e in events] == ["info"] * 3 + ["error"] and closed


def test_ping_and_describe_then_transcript_on_one_connection():
    data = _line({"type": "ping", "data": {"text": "x"}}) + _line({"type": "describe"}) + \
        _line({"type": "transcript", "data": {"text": "turn on the desk lamp", "context": {"a": 1}}})
    events, _ = run(lambda s: raw_exchange(HOST, s.port, data, half_close=True))
    assert [e.type for e in events] == ["pong", "info", "intent"]
    assert events[2].data["context"] == {"a": 1}


def test_a_failing_recognizer_answers_not_recognized_and_the_server_goes_on():
    class Boom:
        languages = ("en",)
        calls = 0

        def recognize(self, text, language):
            Boom.calls += 1
            if "boom" in text:
                raise RuntimeError("the model fell over")
            return Recognized("HassTurnOn", (("name", "Desk Lamp"),))

    async def go(s):
        return (await ha_process(HOST, s.port, "boom"), await ha_process(HOST, s.port, "turn on"))
    bad, good = run(go, Boom())
    assert isinstance(bad, NotRecognized) and isinstance(good, Intent)


def test_an_async_recognizer_and_a_handled_answer():
    class Cloudy:
        languages = ("en",)

        async def recognize(self, text, language):
            await asyncio.sleep(0)  # a real await, so the recognizer is truly asynchronous
            return Answered("Paris is the capital of France.")

    got = run(lambda s: ha_process(HOST, s.port, "what is the capital of france", "en", {"c": 2}), Cloudy())
    assert isinstance(got, Handled) and got.text == "Paris is the capital of France." and got.context == {"c": 2}


# -- the recognizer's own refusals -----------------------------------------------------------

def test_recognizer_refusals():
    rec = recognizer()
    assert isinstance(rec.recognize(123, "en"), NotUnderstood)  # type: ignore[arg-type]
    assert rec.recognize("turn off the toaster", "en").reason == "unknown"
    assert rec.recognize("turn off the reading lamp", "en").reason == "ambiguous"
    two = HomeRecognizer(RuleModel(), type("Two", (), {"extract": lambda self, t, i: [
        {"name": "area", "raw": "kitchen", "value": "kitchen", "confidence": 1.0},
        {"name": "area", "raw": "garage", "value": "garage", "confidence": 1.0}]})(), names.load(NAMES))
    assert two.recognize("turn on", "en").reason == "slot"  # two areas: which one?
    # a model that tuned its escalation threshold low is still not acted on below MIN_CONFIDENCE
    low = RuleModel()
    low.escalation_threshold = 0.05
    assert HomeRecognizer(low, PhraseSlots(), names.load(NAMES)).recognize(
        "hmm turn off the desk lamp", "en").reason == "unsure"
    assert isinstance(HomeRecognizer(low, PhraseSlots(), names.load(NAMES), threshold=0.05).recognize(
        "hmm turn off the desk lamp", "en"), Recognized)
    assert base_language("de_CH", ("en", "de")) == "de" and base_language("pt-BR", ("pt-BR", "pt")) == "pt-BR"
    assert base_language("en\n", ("en",)) is None


# -- the entry point, the config, and nothing imported while off --------------------------------

def test_serve_binds_the_configured_port_and_stops_when_cancelled(tmp_path):
    from conftest import free_port
    port = free_port()
    settings = config.load(environ={"EDGE_WYOMING_ENABLED": "true", "EDGE_WYOMING_PORT": str(port)})
    assert settings.wyoming.enabled and settings.wyoming.port == port and settings.wyoming.host == "127.0.0.1"

    async def main():
        started = asyncio.Event()
        task = asyncio.create_task(serve(settings, recognizer(), started=started))
        await asyncio.wait_for(started.wait(), 5)
        got = await ha_process(HOST, port, "turn off the desk lamp")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        try:
            await asyncio.open_connection(HOST, port)
        except OSError:
            return got, True
        return got, False
    got, refused_after = asyncio.run(main())
    assert isinstance(got, Intent) and refused_after


def test_config_refuses_bad_wyoming_keys(tmp_path):
    with pytest.raises(config.ConfigError) as exc:
        config.load(environ={"EDGE_WYOMING_PORT": "70000", "EDGE_WYOMING_HOST": "a b",
                             "EDGE_HOME_NAMES": str(tmp_path / "missing.yaml")})
    text = str(exc.value)
    assert "EDGE_WYOMING_PORT" in text and "EDGE_WYOMING_HOST" in text and "home.names" in text
    p = tmp_path / "edge.toml"
    p.write_text('[wyoming]\nenabled = true\nzeroconf = true\n[home]\nnames = "names.yaml"\n')
    (tmp_path / "names.yaml").write_text(NAMES.read_text())
    s = config.load(p, environ={})
    assert s.wyoming.zeroconf and Path(s.home.names) == tmp_path / "names.yaml"  # relative to the file
    d = config.load(environ={})
    assert (d.wyoming.enabled, d.wyoming.host, d.wyoming.port, d.wyoming.zeroconf, d.home.names) == \
        (False, "127.0.0.1", 10700, False, "")


def test_nothing_of_wyoming_or_zeroconf_is_imported_while_off():
    code = ("import sys, edge.service, edge.config as c; s = c.load(environ={}); assert not s.wyoming.enabled; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('wyoming', 'zeroconf', 'yaml') "
            "or m in ('edge.wyoming', 'edge.home', 'edge.names')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_zeroconf_advertises_wyoming_tcp_and_is_imported_only_when_enabled():
    code = """
import asyncio, socket, sys
sys.path.insert(0, "tests")
from test_wyoming import recognizer
from edge.wyoming import WyomingServer, ZEROCONF_TYPE

async def main():
    off = WyomingServer(recognizer(), host="127.0.0.1", port=0)
    await off.start()
    await off.close()
    print("imported while off:", "zeroconf" in sys.modules)
    s = WyomingServer(recognizer(), host="127.0.0.1", port=0, zeroconf=True)
    await s.start()
    if s._zc is None:
        print("no multicast")
        return
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
    zc = AsyncZeroconf()
    info = AsyncServiceInfo(ZEROCONF_TYPE, f"edge-{socket.gethostname()}.{ZEROCONF_TYPE}")
    found = await info.async_request(zc.zeroconf, 3000)
    print("found:", found, info.port == s.port, info.parsed_addresses())
    await zc.async_close()
    await s.close()
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "imported while off: False" in out.stdout
    if "no multicast" in out.stdout:
        pytest.skip("zeroconf could not register here (no multicast interface)")
    assert "found: True True ['127.0.0.1']" in out.stdout, out.stdout + out.stderr
