"""A named thing is never dropped from the intent (edge.home_guard, asked by edge.home.decide).

The decision is given what the model and tagger give it (a prediction and spans of the text) and the
real names file tests/data/home_names.yaml; the spans are written here so that each case is the
tagger's miss it names (the real tagger's miss of "counter lights" is tests/test_spec.py's deviation
test, through Wyoming). Over MQTT, a real daemon with models/home: the refusal never reaches the
intent topic.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import Broker, Daemon, daemon_config

from edge import home_guard, names
from edge.home import NotUnderstood, Recognized, decide
from edge.model import Prediction

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_names.yaml"
SERVED = ("en", "de", "fr", "es")


@pytest.fixture(scope="module")
def home() -> names.Names:
    return names.load(NAMES)


def span(text: str, slot: str, words: str) -> dict[str, Any]:
    """The tagger's span of `words` (first occurrence, case-insensitive) as slot `slot`."""
    start = text.lower().index(words.lower())
    raw = text[start:start + len(words)]
    return {"name": slot, "entity": slot, "raw": raw, "value": raw, "start": start, "end": start + len(raw),
            "confidence": 0.99}


def ask(home: names.Names, lang: str, intent: str, text: str, **slots: str) -> Recognized | NotUnderstood:
    found = [span(text, k, v) for k, v in slots.items()]
    return decide(text, lang, Prediction(intent, 0.99, intent), found, home, served=SERVED, threshold=0.5)


# (language, intent, transcript, the spans the tagger gave, what was dropped)
DROPPED = [
    # a name said beside one the tagger found: HA would act on the kitchen's lights, not the counter's
    ("en", "HassTurnOff", "turn off the counter lights in the kitchen", {"area": "kitchen"}, "Counter Lights"),
    ("en", "HassTurnOn", "turn on the lights upstairs in the bedroom", {"floor": "upstairs"}, "Bedroom"),
    ("en", "HassLightSet", "set the counter lights in the kitchen to 20", {"area": "kitchen", "brightness": "20"},
     "Counter Lights"),
    # the guard hears "Counter Lights" in the singular; not its exact name, so not taken as the target
    ("en", "HassLightSet", "Set the brightness of the COUNTER LIGHT to 20", {"brightness": "20"}, "Counter Lights"),
    # two names said, none tagged: which one is not for the words to say
    ("en", "HassLightSet", "set the bedside lamp and the counter lights to 20", {"brightness": "20"}, "Bedside Lamp"),
]

# The tagger missed the reply's only target, said in words of the names file: the one name said is the
# target (edge.home_reading.said_target), as Home Assistant's matcher reads its lists. Before round four
# these were refused as dropped; never sent without the name.
FILLED = [
    ("en", "HassLightSet", "set brightness of counter lights to 20 percent", {"brightness": "20"},
     {"name": "Counter Lights", "brightness": 20}),
    ("en", "HassLightSet", "set the kitchen lights to 50", {"brightness": "50"}, {"area": "Kitchen", "brightness": 50}),
    ("de", "HassLightSet", "stelle die Stehlampe auf 20 Prozent", {"brightness": "20"},
     {"name": "Stehlampe", "brightness": 20}),
    ("de", "HassLightSet", "stelle das Licht in der Küche auf 50 Prozent", {"brightness": "50"},
     {"area": "Kitchen", "brightness": 50}),
    ("fr", "HassLightSet", "règle la lampe du salon à 20 pour cent", {"brightness": "20"},
     {"name": "Lampe du salon", "brightness": 20}),
    ("fr", "HassLightSet", "mets les lumières de la cuisine à 50", {"brightness": "50"}, {"area": "Kitchen", "brightness": 50}),
    ("es", "HassLightSet", "pon la luz del pasillo al 20 por ciento", {"brightness": "20"},
     {"name": "Luz del pasillo", "brightness": 20}),
    ("es", "HassLightSet", "pon las luces de la cocina al 50 por ciento", {"brightness": "50"},
     {"area": "Kitchen", "brightness": 50}),
]


@pytest.mark.parametrize("lang,intent,text,slots,what", DROPPED, ids=[f"{r[0]}:{r[2][:40]}" for r in DROPPED])
def test_a_name_said_outside_every_span_is_refused(home: names.Names, lang: str, intent: str, text: str,
                                                   slots: dict[str, str], what: str) -> None:
    got = ask(home, lang, intent, text, **slots)
    assert isinstance(got, NotUnderstood) and got.reason == "dropped", got
    assert repr(what) in got.detail and got.detail.endswith("was said but is not in the intent"), got


@pytest.mark.parametrize("lang,intent,text,slots,want", FILLED, ids=[f"{r[0]}:{r[2][:40]}" for r in FILLED])
def test_the_one_name_said_is_the_target_the_tagger_missed(home: names.Names, lang: str, intent: str, text: str,
                                                           slots: dict[str, str], want: dict[str, Any]) -> None:
    got = ask(home, lang, intent, text, **slots)
    assert isinstance(got, Recognized) and got.name == intent, got
    assert {k: v for k, v in got.entities if k != "domain"} == want, got


def test_a_name_inside_a_word_is_no_target(home: names.Names) -> None:
    # "Wohnzimmerlampe" says a lamp of the Wohnzimmer, not every light there
    got = ask(home, "de", "HassLightSet", "stelle die Wohnzimmerlampe auf 30 Prozent", brightness="30")
    assert isinstance(got, NotUnderstood) and got.reason == "dropped", got


# (language, intent, transcript, the spans, the entities the intent must carry)
KEPT = [
    # name said and resolved
    ("en", "HassLightSet", "set brightness of counter lights to 20 percent",
     {"name": "counter lights", "brightness": "20"}, {"name": "Counter Lights", "brightness": 20}),
    ("en", "HassTurnOn", "turn on the bedside lamp", {"name": "bedside lamp"}, {"name": "Bedside Lamp"}),
    # area said and resolved (the kind word beside it is no name)
    ("en", "HassLightSet", "set the kitchen lights to 50", {"area": "kitchen", "brightness": "50"},
     {"area": "Kitchen", "brightness": 50}),
    # the area of the thing the intent names; "office" is also a speaker's name
    ("en", "HassTurnOn", "turn on the desk lamp in the office", {"name": "desk lamp"}, {"name": "Desk Lamp"}),
    # the same name said twice, carried once
    ("en", "HassTurnOn", "the desk lamp, turn on the desk lamp", {"name": "desk lamp, turn on the desk lamp"[-9:]},
     {"name": "Desk Lamp"}),
    # names inside free text: a shopping item, a timer's name
    ("en", "HassShoppingListAddItem", "add kitchen curtains to my shopping list", {"item": "kitchen curtains"},
     {"item": "kitchen curtains"}),
    ("en", "HassStartTimer", "start a timer called kitchen for 5 minutes", {"name": "kitchen", "minutes": "5"},
     {"name": "kitchen", "minutes": 5}),
    # a kind word alone, though a thing in the office is called "Light"
    ("en", "HassLightSet", "set the light to 50 percent", {"brightness": "50"}, {"brightness": 50}),
    ("en", "HassLightSet", "set the lamps to 40", {"brightness": "40"}, {"brightness": 40}),
    ("de", "HassTurnOn", "schalte die Stehlampe ein", {"name": "Stehlampe"}, {"name": "Stehlampe"}),
    ("de", "HassLightSet", "stelle das Licht in der Küche auf 50 Prozent", {"area": "Küche", "brightness": "50"},
     {"area": "Kitchen", "brightness": 50}),
    ("de", "HassLightSet", "stelle die Lampe auf 50 Prozent", {"brightness": "50"}, {"brightness": 50}),
    ("de", "HassShoppingListAddItem", "setze Küchenrolle auf die Einkaufsliste", {"item": "Küchenrolle"},
     {"item": "Küchenrolle"}),
    ("fr", "HassLightSet", "règle la lampe du salon à 20 pour cent", {"name": "lampe du salon", "brightness": "20"},
     {"name": "Lampe du salon", "brightness": 20}),
    ("fr", "HassShoppingListAddItem", "ajoute rideaux de cuisine à la liste de courses",
     {"item": "rideaux de cuisine"}, {"item": "rideaux de cuisine"}),
    ("fr", "HassLightSet", "mets la lumière à 50", {"brightness": "50"}, {"brightness": 50}),
    ("es", "HassLightSet", "pon las luces de la cocina al 50 por ciento", {"area": "cocina", "brightness": "50"},
     {"area": "Kitchen", "brightness": 50}),
    ("es", "HassStartTimer", "pon un temporizador cocina de 5 minutos", {"name": "cocina", "minutes": "5"},
     {"name": "cocina", "minutes": 5}),
    ("es", "HassLightSet", "pon la luz al 50 por ciento", {"brightness": "50"}, {"brightness": 50}),
]


@pytest.mark.parametrize("lang,intent,text,slots,want", KEPT, ids=[f"{r[0]}:{r[2][:40]}" for r in KEPT])
def test_a_correct_command_stays_recognized(home: names.Names, lang: str, intent: str, text: str,
                                            slots: dict[str, str], want: dict[str, Any]) -> None:
    got = ask(home, lang, intent, text, **slots)
    assert isinstance(got, Recognized) and got.name == intent, got
    assert {k: v for k, v in got.entities if k != "domain"} == want, got


@pytest.mark.parametrize("text", [
    "set the brightness to 20 percent " + "x" * 400,  # long text: no name, nothing refused
    "set the brightness to 20 percent\x00counter lights",  # a control character is a word break
    "set the brightness to 20 percent ｃｏｕｎｔｅｒ ｌｉｇｈｔｓ",  # full-width letters fold to the name
    "set the brightness to 20 percent counter-lights",  # punctuation is a word break, as in names
])
def test_careless_or_hostile_text_never_lets_a_dropped_name_through(home: names.Names, text: str) -> None:
    got = ask(home, "en", "HassLightSet", text, brightness="20")
    if "counter" in text.lower() or "ｃｏｕｎｔｅｒ" in text:  # the name said is carried, never dropped
        assert isinstance(got, Recognized) and dict(got.entities).get("name") == "Counter Lights", got
    else:
        assert isinstance(got, Recognized) and "name" not in dict(got.entities), got


def test_spans_without_offsets_cover_nothing(home: names.Names) -> None:
    """A span that does not say where it lies cannot vouch for a name: the name counts as dropped."""
    text = "set brightness of counter lights to 20 percent"
    assert home_guard.dropped(text, "en", [("brightness", 20)], [{"name": "name", "raw": "counter lights"}],
                              home) is not None
    assert home_guard.dropped(text, "en", [("brightness", 20)], [span(text, "name", "counter lights")], home) is None


def test_articles_do_not_count_as_a_name(tmp_path: Path) -> None:
    """The German article "den" is not the English room "Den"; a thing called only by a kind word is none."""
    path = tmp_path / "names.json"
    path.write_text(json.dumps({"areas": [{"id": "den", "name": "Den"}], "entities": [
        {"id": "light.den", "name": "Light", "area": "den"}, {"id": "media_player.tv", "name": "TV", "area": "den"}]}))
    n = names.load(path)
    assert home_guard.dropped("schalte den Fernseher ein", "de", [("domain", "media_player")], [], n) is None
    assert home_guard.dropped("set the light to 50", "en", [("brightness", 50)], [], n) is None
    assert home_guard.dropped("set the den to 50", "en", [("brightness", 50)], [], n) == \
        "area 'Den' was said but is not in the intent"


def test_another_thing_said_apart_from_the_named_one_is_no_wrong_device(home: names.Names) -> None:
    """"mute the kettle and the TV" read as the TV: incomplete, but Home Assistant acts on a thing that was
    named. A longer name said over the carried one's words is another device: "the desk lamp" read as a
    thing called "Light" (the office's) is refused."""
    text = "turn off the kettle and the tv"
    assert home_guard.dropped(text, "en", [("name", "TV")], [span(text, "name", "tv")], home) is None
    text = "turn on the desk light"  # "desk light" says the Desk Lamp (a kind word is any of its kind's)
    why = home_guard.dropped(text, "en", [("name", "Light")], [span(text, "name", "light")], home)
    assert why == "entity 'Desk Lamp' was said but is not in the intent"
    text = "turn on the counter lights"
    why = home_guard.dropped(text, "en", [("name", "Light")], [span(text, "name", "lights")], home)
    assert why == "entity 'Counter Lights' was said but is not in the intent"


def test_a_thing_called_by_its_kinds_word_is_a_kind(tmp_path: Path) -> None:
    """Home Assistant's own "Shopping List" and a mower called "Mower" are said in every such command as plain
    words; a list with a name of its own is a name."""
    path = tmp_path / "names.json"
    path.write_text(json.dumps({"entities": [
        {"id": "todo.shopping_list", "name": "Shopping List"}, {"id": "todo.hardware", "name": "Hardware List"},
        {"id": "lawn_mower.m", "name": "Mower"}, {"id": "lawn_mower.r", "name": "Rasenmäher"}]}))
    n = names.load(path)
    text = "add milk to my shopping list"
    assert home_guard.dropped(text, "en", [("item", "milk")], [span(text, "item", "milk")], n) is None
    assert home_guard.dropped("dock the mower", "en", [], [], n) is None
    assert home_guard.dropped("schick den Rasenmäher zurück", "de", [], [], n) is None
    text = "add milk to the hardware list"
    assert home_guard.dropped(text, "en", [("item", "milk")], [span(text, "item", "milk")], n) is not None


def _big_home(path: Path, things: int = 5000) -> Path:
    """A home of `things` entities, 100 areas, 4 floors; names of two or three words, aliases too."""
    words = ["oak", "pine", "maple", "birch", "cedar", "elm", "ash", "willow", "cherry", "walnut"]
    kinds = [("light", "lamp"), ("switch", "plug"), ("fan", "fan"), ("cover", "blind")]
    floors = [{"id": f"f{i}", "name": f"Level {i}"} for i in range(4)]
    areas = [{"id": f"a{i}", "name": f"{words[i % 10].title()} Room {i}", "floor": f"f{i % 4}"} for i in range(100)]
    entities = []
    for i in range(things):
        domain, word = kinds[i % 4]
        entities.append({"id": f"{domain}.t{i}", "name": f"{words[i % 10].title()} {words[i // 10 % 10]} {word} {i}",
                         "area": f"a{i % 100}", "aliases": [f"thing number {i}"]})
    path.write_text(json.dumps({"floors": floors, "areas": areas, "entities": entities}))
    return path


def test_the_cost_per_utterance_stays_well_under_a_millisecond_with_5000_things(tmp_path: Path) -> None:
    """The index is built once per names file and language; then a check is a few dictionary look-ups."""
    n = names.load(_big_home(tmp_path / "big.json"))
    thing = next(e.name for e in n.entities if e.id == "fan.t1234")  # "Cedar birch fan 1234"
    text = f"please set the brightness of the {thing.lower()} in the maple room 7 to 20 percent now"
    spans = [span(text, "brightness", "20 percent")]
    assert home_guard.dropped(text, "en", [("brightness", 20)], spans, n) is not None  # builds the index
    assert home_guard.index_for(n, "en") is home_guard.index_for(n, "en")  # once, not per utterance
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        home_guard.dropped(text, "en", [("brightness", 20)], spans, n)
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.001, statistics.median(times)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    work = tmp_path_factory.mktemp("guard_mqtt")
    broker = Broker(work / "broker").start()
    d = Daemon(work / "daemon", daemon_config(broker, work / "state", model={"path": str(ROOT / "models" / "home")},
                                              home={"names": str(NAMES)}))
    client = None
    try:
        d.start()
        client = broker.client()
        yield d, client
        assert d.stop() == 0, d.log_text()
    finally:
        if client is not None:
            client.close()
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()


@pytest.mark.slow
def test_over_mqtt_a_dropped_name_never_reaches_the_intent_topic(daemon: tuple[Any, Any]) -> None:
    """The real model misses "counter lights" beside the kitchen it found: the result says why and is not
    acted on; a command with the name found still is."""
    _, client = daemon
    intents = client.subscribe("edge/test/intent/#")
    rid = f"g-{uuid.uuid4().hex[:10]}"
    # "... in the kitchen" alone is one of HA's templates whole, now read on it (edge/home_templates.py); "now" after
    # it is no template's: the dropped-name guard decides
    bad = client.request("edge/test", {"id": rid, "text": "turn off the counter lights in the kitchen now",
                                       "language": "en"})
    ok_id = f"g-{uuid.uuid4().hex[:10]}"
    ok = client.request("edge/test", {"id": ok_id, "text": "turn on the bedside lamp", "language": "en"})
    assert bad["id"] == rid and bad["not_recognized"]["reason"] == "dropped", bad
    assert "Counter Lights" in bad["not_recognized"]["detail"], bad
    assert ok["intent"] == "HassTurnOn" and "not_recognized" not in ok, ok
    acted = [m.json()["id"] for m in intents.drain()]
    assert ok_id in acted and rid not in acted, acted  # the intent topic is published before the reply


# -- a mower called by its kind word ------------------------------------------------------------------------------

_SCHEMA = json.loads((ROOT / "models" / "home" / "manifest.json").read_text(encoding="utf-8"))["home_schema"]
_MOWERS = """language: de
areas:
  - {id: garten, name: Garten}
entities:
  - {id: lawn_mower.rasen, name: Rasenmäher, area: garten, state: docked}
  - {id: light.garten, name: Gartenlicht, area: garten, state: "off"}
"""


def _mower_home(tmp_path: Path, body: str = _MOWERS) -> names.Names:
    path = tmp_path / "names.yaml"
    path.write_text(body, encoding="utf-8")
    return names.load(path)


def _ask_schema(home: names.Names, lang: str, intent: str, text: str) -> Recognized | NotUnderstood:
    return decide(text, lang, Prediction(intent, 0.99, intent), [], home, served=SERVED, threshold=0.5, schema=_SCHEMA)


@pytest.mark.parametrize("intent, text", [
    # HA: "{name} zurück schicken" with the mower's name said word for word (was: HassLawnMowerDock {})
    ("HassLawnMowerDock", "den Rasenmäher zurück schicken"),
    ("HassLawnMowerDock", "befehle Rasenmäher an die Ladestation zurück"),
    ("HassLawnMowerStartMowing", "Schicke den Rasenmäher los"),
])
def test_a_mower_named_by_its_kind_word_is_carried(tmp_path: Path, intent: str, text: str) -> None:
    got = _ask_schema(_mower_home(tmp_path), "de", intent, text)
    assert isinstance(got, Recognized) and dict(got.entities) == {"name": "Rasenmäher"}, got
    assert [s["raw"] for s in got.slots] == ["Rasenmäher"]


def test_a_mower_word_that_names_no_mower_stays_a_kind(tmp_path: Path) -> None:
    # no thing is called "Rasenroboter": HA's template without a name, as before
    got = _ask_schema(_mower_home(tmp_path), "de", "HassLawnMowerDock", "den Rasenroboter zurück")
    assert isinstance(got, Recognized) and dict(got.entities) == {}


def test_two_mower_names_said_are_refused(tmp_path: Path) -> None:
    body = _MOWERS + "  - {id: lawn_mower.robo, name: Mähroboter, area: garten, state: docked}\n"
    got = _ask_schema(_mower_home(tmp_path, body), "de", "HassLawnMowerDock", "den Rasenmäher und den Mähroboter zurück")
    assert isinstance(got, NotUnderstood)


def test_a_mower_word_after_a_verb_ha_says_only_without_a_name_stays_a_kind(tmp_path: Path) -> None:
    # HA: "(Starte|Schicke) den Rasenmäher" has no "starte {name}" twin: its reading carries no name
    got = _ask_schema(_mower_home(tmp_path), "de", "HassLawnMowerStartMowing", "Starte den Rasenmäher")
    assert isinstance(got, Recognized) and dict(got.entities) == {}


def test_a_thing_called_mower_that_is_no_mower_leaves_the_kind_word(tmp_path: Path) -> None:
    # a light called "mower" (the template holdout's generated home had one): "dock the mower" is HA's nameless
    # template, not a light the intent cannot act on (was refused as a conflict)
    body = 'language: en\nentities:\n  - {id: light.mower, name: mower, state: "off"}\n'
    got = _ask_schema(_mower_home(tmp_path, body), "en", "HassLawnMowerDock", "dock the mower")
    assert isinstance(got, Recognized) and dict(got.entities) == {}, got
