"""One home decision for MQTT and Wyoming (edge.home.decide), through a real daemon.

One `edge run` with models/home, the Wyoming channel on and tests/data/home_names.yaml, on a real
mosquitto: each transcript goes to Home Assistant's side of Wyoming (tests/wyoming_ha.py, the real
`wyoming` client) and as an MQTT request with its `language`. Both must give the same intent and
slots, or both refuse: a refused MQTT result says why (`not_recognized`, as the in-process recognizer
says it) and is never published on `<base>/intent/<x>`, where automations act.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import Broker, Daemon, daemon_config, free_port
from mqttc import TestClient
from wyoming_ha import ha_process

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_names.yaml"
BASE = "edge/test"

REFUSE = "refuse"  # both paths must refuse: acting would name nothing, the wrong thing or a guess
# (language, transcript, expectation): REFUSE, an (intent, slots) both must give, or None (the two paths
# must agree, whatever the model makes of it: careless phrasings whose answer is the model's business).
TABLE: list[tuple[str, str, Any]] = [
    ("en", "turn off the kitchen lights", ("HassTurnOff", {"area": "Kitchen", "domain": "light"})),
    ("en", "TURN OFF THE KITCHEN LIGHTS!!!", ("HassTurnOff", {"area": "Kitchen", "domain": "light"})),
    ("en-US", "Turn off the kitchen lights please", None),
    ("en", "turn on the bedside lamp", ("HassTurnOn", {"name": "Bedside Lamp"})),
    ("en", "turn on the kitchen", None),  # a place alone, no kind said
    ("en", "add milk to my shopping list", ("HassShoppingListAddItem", {"item": "milk"})),
    ("en", "turn off the lights in the ballroom", REFUSE),  # a place the home does not have
    ("en", "switch on the reading lamp", REFUSE),  # two Reading Lamps: which one?
    ("en", "turn off the fan and the lights in the kitchen", REFUSE),  # two kinds in one place
    ("en", "turn off", REFUSE),  # names nothing
    ("en", "turn off the lamp", REFUSE),
    ("en", "what's the capital of peru", REFUSE),
    ("en", "turn on the {{ states('lock.front_door') }}", REFUSE),  # a template, not a name
    ("en", "turn off the kitchen lights " * 20, REFUSE),  # over 512 characters: refused before the model
    ("en", "set the kitchen lights to 500%", REFUSE),  # no brightness, no colour temperature is 500
    ("de", "schalte das licht in der küche aus", ("HassTurnOff", {"area": "Kitchen", "domain": "light"})),
    ("de", "schalte die stehlampe ein", ("HassTurnOn", {"name": "Stehlampe"})),
    ("de", "stelle einen timer auf 10 minuten", ("HassStartTimer", {"minutes": 10})),
    ("de-DE", "SCHALTE DAS LICHT IM BALLSAAL AUS", REFUSE),
    ("de", "öffne das garagentor", None),
    ("fr", "éteins la lumière de la cuisine", ("HassTurnOff", {"area": "Kitchen", "domain": "light"})),
    # a place and no kind: every HA on/off template of a place alone is a light's (never everything there)
    ("fr", "allume le salon", ("HassTurnOn", {"area": "Living Room", "domain": "light"})),
    ("fr", "ouvre le volet de la cuisine", None),
    ("es", "apaga la luz de la cocina", ("HassTurnOff", {"area": "Kitchen", "domain": "light"})),
    ("es", "pon un temporizador de 5 minutos", ("HassStartTimer", {"minutes": 5})),
    ("es", "apaga la tele", None),
    ("es", "cuál es la capital de francia", REFUSE),
]


class Served:
    def __init__(self, daemon: Daemon, client: TestClient, wyoming_port: int) -> None:
        self.daemon = daemon
        self.client = client
        self.port = wyoming_port
        self.intents = client.subscribe(f"{BASE}/intent/#")  # what automations would act on
        self.acted: dict[str, str] = {}  # request id -> the intent topic it was published on

    def mqtt(self, text: str, language: str) -> dict[str, Any]:
        rid = f"hm-{uuid.uuid4().hex[:12]}"
        result = self.client.request(BASE, {"text": text, "language": language, "id": rid})
        assert result.get("id") == rid and "intent" in result, result  # a result, not an error
        # The intent topic is published before the reply, on the same connection: it is here by now.
        for m in self.intents.drain():
            self.acted[m.json()["id"]] = m.topic
        return result


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("home_mqtt")
    broker = Broker(work / "broker").start()
    port = free_port()
    daemon = Daemon(work / "daemon", daemon_config(
        broker, work / "state", model={"path": str(ROOT / "models" / "home")},
        wyoming={"enabled": True, "port": port}, home={"names": str(NAMES)}, integrations={"hermes": True}))
    client: TestClient | None = None
    try:
        daemon.start()
        client = broker.client()
        yield Served(daemon, client, port)
        assert daemon.stop() == 0, daemon.log_text()
    finally:
        if client is not None:
            client.close()
        if daemon.proc and daemon.proc.poll() is None:
            daemon.kill()
        broker.stop()


@pytest.fixture(scope="module")
def recognizer():
    """The same decision in this process, for the reason a refusal gives (Wyoming's not-recognized
    carries none)."""
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(ROOT / "models" / "home")
    return HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest), names.load(NAMES))


def _slots(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in result["slots"]:
        assert s["name"] not in out, result["slots"]  # one value a slot, as in a Wyoming intent
        assert s["raw"] == result["text"][s["start"]:s["end"]], s  # the contract's span rule holds
        out[s["name"]] = s["value"]
    return out


@pytest.mark.parametrize("language,text,expect", TABLE, ids=[f"{r[0]}:{r[1][:40]}" for r in TABLE])
def test_wyoming_and_mqtt_give_the_same_intent_and_slots_or_the_same_refusal(served: Served, recognizer,
                                                                            language: str, text: str,
                                                                            expect: Any) -> None:
    wy = asyncio.run(ha_process("127.0.0.1", served.port, text, language))
    result = served.mqtt(text, language)
    local = recognizer.recognize(text, language)
    if type(wy).__name__ == "Intent":
        entities = {e.name: e.value for e in wy.entities}
        assert "not_recognized" not in result, (wy, result)
        assert result["intent"] == wy.name and _slots(result) == entities, (wy, result)
        assert result["reason"] == "confident" and not result["escalated"]
        assert served.acted.get(result["id"]) == f"{BASE}/intent/{wy.name}"  # automations may act on it
        assert expect is not REFUSE, f"acted on {text!r}: {wy.name} {entities}"
        if expect is not None:
            assert (wy.name, entities) == expect
    else:
        assert type(wy).__name__ == "NotRecognized", wy
        assert result["id"] not in served.acted, f"a refused home result reached {served.acted[result['id']]}"
        assert result["not_recognized"]["reason"] == local.reason, (result, local)
        assert result["reason"] == "disabled" and not result["escalated"] and result["source"] == "edge"
        # refused, the slots are what the tagger found, the words as said: nothing named is resolved
        for s in result["slots"]:
            assert s["raw"] == result["text"][s["start"]:s["end"]]
        assert expect is None or expect is REFUSE, f"refused {text!r} ({local}); expected {expect}"


def test_the_refusal_is_kept_for_a_repeated_id_and_never_reaches_the_intent_topic(served: Served) -> None:
    """A client retry (same id, same text) is answered from the cache: the refusal again, still not acted on."""
    rid = f"hm-{uuid.uuid4().hex[:12]}"
    body = {"text": "turn off the lights in the ballroom", "language": "en", "id": rid}
    first = served.client.request(BASE, body)
    again = served.client.request(BASE, body)
    served.intents.drain()
    assert first["not_recognized"] == again["not_recognized"] and first["not_recognized"]["reason"]
    assert rid not in served.acted


def test_hermes_gets_the_same_decision(served: Served) -> None:
    """Rhasspy's NLU topics: a refused home command is intentNotRecognized (nothing on hermes/intent/...),
    a recognized one carries the exact names as slot values."""
    c = served.client
    parsed = c.subscribe("hermes/nlu/intentParsed")
    refused = c.subscribe("hermes/nlu/intentNotRecognized")
    acted = c.subscribe("hermes/intent/#")
    c.publish("hermes/nlu/query", json.dumps({"input": "switch on the reading lamp", "id": "q1",
                                              "sessionId": "s1", "siteId": "kitchen"}))
    assert refused.json()["id"] == "q1"
    c.publish("hermes/nlu/query", json.dumps({"input": "turn off the kitchen lights", "id": "q2",
                                              "sessionId": "s2", "siteId": "kitchen"}))
    ok = parsed.json()
    assert ok["id"] == "q2" and ok["intent"]["intentName"] == "HassTurnOff", ok
    assert {s["slotName"]: s["value"]["value"] for s in ok["slots"]} == {"area": "Kitchen", "domain": "light"}
    assert [m.json()["id"] for m in [acted.get()] + acted.drain()] == ["q2"]  # only the recognized one
    assert parsed.drain() == [] and refused.drain() == []


def test_a_careless_payload_never_turns_a_refusal_into_an_act(served: Served) -> None:
    """What a careless or hostile client sends with a home command: a language tag the model does not
    serve is an error (the contract), a reply topic on the intent topic is refused, and text padded with
    control characters or a lone surrogate never resolves a name."""
    c = served.client
    errors = c.subscribe(f"{BASE}/error")
    for language in ("it", "de_DE", "../en", ""):  # not served; not BCP 47 (Wyoming reads "de_DE" as de)
        bad_lang = c.request(BASE, {"text": "turn off the kitchen lights", "language": language})
        assert bad_lang["error"] == "invalid_field", bad_lang
    c.publish(f"{BASE}/request", json.dumps({"text": "turn off the kitchen lights", "language": "en",
                                             "reply_to": f"{BASE}/intent/HassTurnOff"}))
    assert errors.json()["error"] in ("invalid_field",)  # a request must not publish on the intent topic
    odd = c.request(BASE, {"text": "turn off the \u0000ballroom\u200b lights", "language": "en"})
    served.intents.drain()
    assert "not_recognized" in odd or all(s["value"] != "Kitchen" for s in odd["slots"]), odd


def test_a_home_command_never_takes_the_generic_cloud_path(
        broker, daemon_factory, client_factory, tmp_path: Path) -> None:
    """With a cloud configured, a home request the model does not stand behind (unsure, or refused over its
    names or slots) is asked with the home prompt, and a reply in the generic path's shape (`{"intent",
    "answer"}`, which would go to the intent topic with names no one checked) fails the home checks: the
    device's refusal stands (`cloud_error`), off the intent topic. tests/test_home_cloud_mqtt.py has the
    rest of the checked path."""
    from cloud_server import FakeCloud

    with FakeCloud(default_intent="HassTurnOff", answer="no idea") as cloud:
        cfg = daemon_config(broker, tmp_path / "state", model={"path": str(ROOT / "models" / "home")},
                            home={"names": str(NAMES)},
                            cloud={"base_url": cloud.base_url, "model": "m", "timeout_s": 2.0})
        daemon_factory(cfg, env={"EDGE_CLOUD_API_KEY": ""})
        c = client_factory(broker)
        acted = c.subscribe(f"{BASE}/intent/#")
        for text, reason in (("turn off the lights in the attic", "unknown"), ("what's the capital of peru", "unsure")):
            refused = c.request(BASE, {"text": text, "language": "en"})
            assert refused["not_recognized"]["reason"] == reason, refused
            assert refused["reason"] == "cloud_error" and refused["source"] == "edge", refused
            system = cloud.chat_requests[-1].body["messages"][0]["content"]
            assert "Home Assistant" in system and "HassTurnOff:" in system  # the home prompt, not the labels'
        assert len(cloud.chat_requests) == 2
        ok = c.request(BASE, {"text": "turn off the kitchen lights", "language": "en"})
        assert ok["reason"] == "confident" and "not_recognized" not in ok, ok
        assert [m.json()["id"] for m in acted.drain()] == [ok["id"]]
        assert len(cloud.chat_requests) == 2


# -- in process: the pipeline with the real home model, and parts that fail -------------------------------

class _TrippingNames:
    """The real names file, except that resolving raises (a resolver bug): injected, as tests/faulty.py
    injects its faults, to see the home decision fail safe."""

    def __init__(self, names: Any) -> None:
        self.names = names

    def resolve(self, slots: Any, language: str) -> Any:
        if "kitchen" in str(slots).lower():
            raise RuntimeError("resolver bug")
        return self.names.resolve(slots, language)


class _TrippingTagger:
    def __init__(self, slots: Any) -> None:
        self.slots = slots

    def extract(self, text: str, intent: str) -> Any:
        if "boom" in text:
            raise RuntimeError("tagger bug")
        return self.slots.extract(text, intent)


def test_a_home_decision_that_fails_refuses_instead_of_acting(recognizer) -> None:
    """A resolver or tagger that raises on a home command: the result is refused (`error`), answered and
    acknowledged, and nothing reaches the intent topic; the other requests of the batch are served."""
    from fakes import Rig, msg

    rig = Rig(model=recognizer.model, slots=_TrippingTagger(recognizer.slots))
    rig.pipeline.names = _TrippingNames(recognizer.names)
    works = rig.send(msg(b'{"id": "k", "text": "turn off the kitchen lights"}'),
                     msg(b'{"id": "b", "text": "turn on the bedside lamp boom"}'),
                     msg(b'{"id": "ok", "text": "turn on the bedside lamp"}'))
    results = {json.loads(p)["id"]: json.loads(p) for p in rig.link.on("edge/t/result")}
    assert results["k"]["not_recognized"]["reason"] == "error", results["k"]
    assert results["b"]["not_recognized"]["reason"] == "error", results["b"]
    assert results["ok"]["intent"] == "HassTurnOn" and "not_recognized" not in results["ok"]
    assert [s["value"] for s in results["ok"]["slots"]] == ["Bedside Lamp"]
    acted = [json.loads(p)["id"] for t, p, _ in rig.link.published if t.startswith("edge/t/intent/")]
    assert acted == ["ok"]
    assert all(rig.acked(w) for w in works)


def test_wyoming_and_mqtt_act_above_the_same_configured_threshold(tmp_path: Path, recognizer) -> None:
    """`[model] escalation_threshold` moves the home decision's threshold on both paths alike (the
    Wyoming channel's recognizer and the pipeline); never below 0.5."""
    from edge import config as cfg
    from edge import home, wyoming_channel
    from edge.service import build

    for configured, expected in ((0.93, 0.93), (0.2, max(0.5, recognizer.model.oos_threshold)), (-1.0, None)):
        env = {"EDGE_STATE_DIR": str(tmp_path / f"s{configured}"), "EDGE_WYOMING_ENABLED": "true",
               "EDGE_WYOMING_PORT": str(free_port()), "EDGE_MODEL_ESCALATION_THRESHOLD": str(configured)}
        settings = cfg.load(None, None, env)
        parts = build(settings, recognizer.model, env)
        try:
            channel = next(c for c in parts.channels if c.name == "wyoming")
            assert isinstance(channel, wyoming_channel.WyomingChannel)
            on_wyoming = channel.server.recognizer.threshold
            on_mqtt = max(parts.pipeline.escalation_threshold, home.MIN_CONFIDENCE)
            assert on_wyoming == on_mqtt == home.threshold(settings, recognizer.model)
            if expected is not None:
                assert on_wyoming == pytest.approx(expected)
        finally:
            parts.outbox.close()
            parts.loop.close()


@pytest.mark.parametrize("intent,text,language", [
    ("HassStartTimer", "apaga la tele", "es"),  # the model's reading of it once: a timer with no duration
    ("HassStartTimer", "start a timer", "en"),
    ("HassLightSet", "set the kitchen lights", "en"),
    ("HassSetVolume", "set the volume", "en"),
    ("HassShoppingListAddItem", "add to my shopping list", "en"),
])
def test_an_intent_without_the_slot_all_its_sentences_have_is_not_recognized(recognizer, intent: str, text: str,
                                                                            language: str) -> None:
    """Every Home Assistant sentence of these intents names a duration, a level, an item: the decision
    refuses a confident prediction of one without it (the tagger's real spans of the text)."""
    from edge.home import NotUnderstood, decide
    from edge.model import Prediction

    # the tagger's spans, made sure (so only the missing slot can be the reason)
    found = [dict(s, confidence=1.0) for s in recognizer.slots.extract(text, intent)]
    got = decide(text, language, Prediction(intent, 0.99, intent), found, recognizer.names,
                 served=recognizer.languages, threshold=recognizer.threshold)
    assert isinstance(got, NotUnderstood) and got.reason == "slot" and "without" in got.detail, (got, found)
    with_it = {"HassStartTimer": ("set a timer for 5 minutes", "minutes")}.get(intent)
    if with_it and language == "en":  # the same intent with its slot is not refused for that reason
        found = [dict(s, confidence=1.0) for s in recognizer.slots.extract(with_it[0], intent)]
        ok = decide(with_it[0], "en", Prediction(intent, 0.99, intent), found, recognizer.names,
                    served=recognizer.languages, threshold=recognizer.threshold)
        assert not isinstance(ok, NotUnderstood) and dict(ok.entities)[with_it[1]] == 5, ok


@pytest.mark.parametrize("said,ok", [("500", False), ("2700", True), ("20000", False), ("-3", False)])
def test_a_lights_temperature_is_a_colour_temperature(recognizer, said: str, ok: bool) -> None:
    """HassLightSet's `temperature` is Kelvin (Home Assistant's color_temperature list, 1000-10000):
    "500" there is a misread percentage, refused; a thermostat's stays 0-100."""
    from edge.home import NotUnderstood, Recognized, decide
    from edge.model import Prediction

    text = f"set the desk lamp to {said}"
    found = [{"name": "name", "entity": "name", "raw": "desk lamp", "value": "desk lamp", "start": 8, "end": 17,
              "confidence": 1.0},
             {"name": "temperature", "entity": "temperature", "raw": said, "value": said, "start": 21,
              "end": 21 + len(said), "confidence": 1.0}]
    got = decide(text, "en", Prediction("HassLightSet", 0.99, "HassLightSet"), found, recognizer.names,
                 served=recognizer.languages, threshold=recognizer.threshold)
    if ok:
        assert isinstance(got, Recognized) and dict(got.entities) == {"name": "Desk Lamp", "temperature": 2700}
        assert [(s["name"], s["raw"]) for s in got.slots] == [("name", "desk lamp"), ("temperature", said)]
    else:
        assert isinstance(got, NotUnderstood) and got.reason == "number", got
    thermostat = decide("set the thermostat to 500", "en", Prediction("HassClimateSetTemperature", 0.99, "x"),
                        [{"name": "temperature", "entity": "temperature", "raw": "500", "value": "500", "start": 22,
                          "end": 25, "confidence": 1.0}], recognizer.names, served=recognizer.languages,
                        threshold=recognizer.threshold)
    assert isinstance(thermostat, NotUnderstood) and thermostat.reason == "number"


def test_a_home_daemon_imports_no_training_package_and_no_yaml_for_a_json_names_file(tmp_path: Path) -> None:
    """RSS: with models/home, Wyoming on and a JSON names file, the daemon's parts import neither the
    training side (hassil, home-assistant-intents, TensorFlow, torch) nor PyYAML."""
    import subprocess
    import sys

    import yaml

    names = tmp_path / "names.json"
    names.write_text(json.dumps(yaml.safe_load(NAMES.read_text())))
    env = {"EDGE_STATE_DIR": str(tmp_path / "state"), "EDGE_HOME_NAMES": str(names), "EDGE_WYOMING_ENABLED": "true",
           "EDGE_WYOMING_PORT": str(free_port()), "EDGE_MODEL_PATH": str(ROOT / "models" / "home")}
    code = ("import sys; from edge import config; from edge.model import Model; from edge.service import build; "
            f"env = {env!r}; s = config.load(None, None, env); build(s, Model.load(s.model.path), env); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'yaml', 'hassil', 'home_assistant_intents', "
            "'tensorflow', 'torch', 'wyoming'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['wyoming']"
