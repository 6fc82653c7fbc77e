"""The shipped home package (models/home) through the runtime, as the daemon loads it:
it loads unchanged, says which languages it serves, keeps polarity on plain commands in
each language, refuses what is no command, and still reaches its model card's numbers
on the paraphrase dev sets (a floor a few points under them, so a regression fails)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.model import Model
from edge.service import load_slots

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "models" / "home"
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def home():
    model = Model.load(PKG, threads=1)
    return model, load_slots(model)


def _one(home, text: str) -> tuple[str, set[tuple[str, str]]]:
    model, slots = home
    p = model.classify([text])[0]
    found = slots.extract(text, p.intent) if p.intent != "oos" else []
    return p.intent, {(s["name"], s["raw"].lower()) for s in found}


def test_manifest_lists_languages_and_credits_home_assistant():
    m = json.loads((PKG / "manifest.json").read_text(encoding="utf-8"))
    assert m["languages"] == ["en", "de", "fr", "es"]
    assert "CC BY 4.0" in m["license"] and "home-assistant-intents" in m["training"]["source"]
    assert {"name", "version", "labels", "max_len", "thresholds", "calibration", "files"} <= set(m)
    assert "HassTurnOn" in m["labels"] and "HassTurnOff" in m["labels"]
    size = sum(p.stat().st_size for p in PKG.iterdir() if p.is_file())
    assert size <= 12_000_000   # issue 22: one multilingual package at most 12 MB


@pytest.mark.parametrize("text,intent,slots", [
    ("turn off the kitchen lights", "HassTurnOff", {("area", "kitchen")}),
    ("turn on the kitchen lights", "HassTurnOn", {("area", "kitchen")}),
    ("mach das Licht im Wohnzimmer aus", "HassTurnOff", {("area", "wohnzimmer")}),
    ("schalte das Licht im Wohnzimmer ein", "HassTurnOn", {("area", "wohnzimmer")}),
    ("éteins la lumière du salon", "HassTurnOff", {("area", "salon")}),
    ("apaga las luces de la cocina", "HassTurnOff", {("area", "cocina")}),
    ("enciende la luz del salón", "HassTurnOn", {("area", "salón")}),
    ("set a timer for 5 minutes", "HassStartTimer", {("minutes", "5")}),
    ("add milk to my shopping list", "HassShoppingListAddItem", {("item", "milk")}),
])
def test_plain_commands_in_each_language(home, text, intent, slots):
    assert _one(home, text) == (intent, slots)


@pytest.mark.parametrize("text", [
    "what's the capital of peru", "tell me a joke",
    # known failure of 1.2.0 at the model alone (docs/model-card-home-history.md, 1.2.0): a German
    # general question reads as HassGetState without a slot; the recognizer refuses it (below)
    pytest.param("was ist die hauptstadt von peru", marks=pytest.mark.xfail(
        strict=True, reason="model-card-home-history.md: 1.2.0")),
    "", "   ", "[[[", "🙂🙂🙂", "a" * 5000,
    # a word repeated to the length limit: HassSetVolumeRelative at 0.64 in 1.0.0-1.1.0, refused by 1.2.0
    "turn " * 400,
])
def test_no_command_is_acted_on(home, text):
    model, _ = home
    p = model.classify([text])[0]
    acted = p.intent != "oos" and p.confidence >= model.manifest["thresholds"]["escalation"]
    assert not acted, (text[:40], p)


@pytest.mark.parametrize("text,language", [
    ("what's the capital of peru", "en"), ("tell me a joke", "en"),
    ("was ist die hauptstadt von peru", "de"), ("erzähl mir einen witz", "de"),
    ("quelle est la capitale du pérou", "fr"), ("cuál es la capital de perú", "es"),
    ("", "en"), ("[[[", "de"), ("a" * 5000, "fr"), ("turn " * 400, "en")])
def test_no_command_is_recognized_through_the_recognizer(recognizer, text, language):
    """What the daemon answers (Wyoming and MQTT both decide through edge.home): none of these is
    an action, even where the model alone is confident of an intent (German above)."""
    from edge.home import Recognized
    got = recognizer.recognize(text, language)
    assert not isinstance(got, Recognized), (text[:40], got)


# 1.2.0's numbers on the dev sets (model alone, edge/train/home_eval.py) less a few points:
# intent 96.0 / 95.7 / 92.7 / 89.7%, wrong action 5.4 / 6.5 / 19.5 / 17.9%
@pytest.mark.parametrize("lang,intent_floor,wrong_ceiling", [
    ("en", 0.92, 0.10), ("de", 0.91, 0.11), ("fr", 0.88, 0.22), ("es", 0.85, 0.22)])
def test_paraphrase_dev_sets_hold_the_model_cards_numbers(home, lang, intent_floor, wrong_ceiling):
    pytest.importorskip("edge.train.home_eval")
    from edge.train.home_eval import evaluate, load_items
    model, slots = home
    m = evaluate(model, slots, load_items(DATA / f"home_dev_{lang}.txt"))
    assert m["intent_accuracy"] >= intent_floor, m
    assert m["wrong_action"] <= wrong_ceiling, m
    # at most two of the set's out-of-scope lines acted on by the model alone (1.0.0: one in
    # Spanish; 1.2.0: two German questions as HassGetState, which the recognizer refuses: the
    # Wyoming numbers of the model card count 0 out-of-scope lines acted on in every language)
    assert round(m["oos_acted"] * m["n_oos"]) <= 2, f"{round(m['oos_acted'] * m['n_oos'])} acted on"


@pytest.mark.parametrize("text,language,domain", [
    ("turn off the kitchen lights", "en", "light"), ("turn on the lights in the living room", "en", "light"),
    ("schalte das licht in der küche aus", "de", "light"), ("éteins la lumière de la cuisine", "fr", "light")])
def test_a_place_and_a_kind_never_mean_everything_in_the_place(text: str, language: str, domain: str) -> None:
    """HA's HassTurnOff with an area alone switches off everything there: the kind said goes with it."""
    from edge import names
    from edge.home import HomeRecognizer, Recognized
    from edge.slots import SlotExtractor

    model = Model.load(ROOT / "models" / "home")
    rec = HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest),
                         names.load(ROOT / "tests" / "data" / "home_names.yaml"))
    got = rec.recognize(text, language)
    assert isinstance(got, Recognized) and dict(got.entities).get("domain") == domain, got
    two = rec.recognize("turn off the fan and the lights in the kitchen", "en")
    assert not isinstance(two, Recognized) or {"name", "domain"} & set(dict(two.entities)), two


def test_manifest_carries_the_schema_of_home_assistants_templates():
    """home_schema (edge/train/home_schema.py): the slot sets, ranges, place domains and lock words."""
    m = json.loads((PKG / "manifest.json").read_text(encoding="utf-8"))
    schema = m["home_schema"]
    ha = [label for label in m["labels"] if label.startswith("Hass")]
    assert set(schema["signatures"]) == set(ha)                  # every intent the model answers is checked
    assert schema["signatures"]["HassSetVolume"] == [["volume_level"]]
    assert [] not in schema["signatures"]["HassLightSet"]         # a light setting sets something
    assert schema["ranges"]["HassLightSet"]["temperature"] == [1000, 10000]   # Kelvin, not percent
    assert schema["place_domains"]["HassLightSet"] == "light"
    locks = schema["polarity_words"]
    assert set(locks) == {"en", "de", "fr", "es"}
    assert "lock" in locks["en"]["lock"]["HassTurnOn"] and "unlock" in locks["en"]["lock"]["HassTurnOff"]
    assert not set(locks["de"]["lock"]["HassTurnOn"]) & set(locks["de"]["lock"]["HassTurnOff"])
    units = schema["unit_words"]
    assert "stunden" in units["de"]["hours"] and "stunden" not in units["de"]["minutes"]
    assert {"h", "heures"} <= set(units["fr"]["hours"]) and "sec" in units["fr"]["seconds"]


@pytest.fixture(scope="module")
def recognizer():
    from edge import names
    from edge.home import HomeRecognizer
    from edge.slots import SlotExtractor

    model = Model.load(PKG)
    return HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest),
                          names.load(DATA / "home_names.yaml"))


@pytest.mark.parametrize("text,language,intent,want", [
    # number words of each language become numbers (or the line is refused; never the words)
    ("set the kitchen lights to fifty percent", "en", "HassLightSet", {"brightness": 50}),
    ("stell das licht in der küche auf fünfzig prozent", "de", "HassLightSet", {"brightness": 50}),
    ("mets la lumière de la cuisine à cinquante pour cent", "fr", "HassLightSet", {"brightness": 50}),
    ("pon la luz de la cocina al cincuenta por ciento", "es", "HassLightSet", {"brightness": 50}),
    # colours and states as Home Assistant's values
    ("mach das licht in der küche rot", "de", "HassLightSet", {"color": "red"}),
    ("ist die haustür abgeschlossen", "de", "HassGetState", {"name": "Front Door", "state": "locked"}),
    ("la puerta principal está cerrada", "es", "HassGetState", {"name": "Front Door", "state": "locked"}),
])
def test_values_come_out_as_home_assistant_takes_them(recognizer, text, language, intent, want):
    from edge.home import Recognized

    got = recognizer.recognize(text, language)
    if isinstance(got, Recognized):   # not recognized is safe; recognized must be right
        assert got.name == intent, got
        ent = dict(got.entities)
        assert {k: ent.get(k) for k in want} == want, got


@pytest.mark.parametrize("text,language,never", [
    # a lock: "ab"/"zu" lock, "auf" unlocks; open a lock = unlock. home@1.0.0 flipped the first.
    ("schließ die haustür ab", "de", "HassTurnOff"),
    ("sperr die haustür zu", "de", "HassTurnOff"),
    ("schließ die haustür auf", "de", "HassTurnOn"),
    ("abre la puerta principal", "es", "HassTurnOn"),
    ("cierra con llave la puerta principal", "es", "HassTurnOff"),
    ("déverrouille la porte d'entrée", "fr", "HassTurnOn"),
    ("unlock the front door", "en", "HassTurnOn"),
    ("lock the back door", "en", "HassTurnOff"),
])
def test_a_lock_never_gets_the_opposite_of_what_was_said(recognizer, text, language, never):
    got = recognizer.recognize(text, language)
    assert getattr(got, "name", None) != never, got


@pytest.mark.parametrize("text,language", [
    ("pon el volumen", "es"),                 # a volume with no level
    ("turn the volume up by 20", "en"),       # a step whose sign only the verb says: +20, never -20
    ("set the kitchen lights", "en"),         # a light setting that sets nothing
    ("set the kitchen lights to 80 kelvin", "en"),
    ("close the blinds after fifty nine hour", "en"),   # home@1.0.0: minutes 59
    ("minuteur soixante deux sec", "fr"),                # home@1.0.0: minutes 62
])
def test_replies_without_what_their_intent_needs_are_not_recognized(recognizer, text, language):
    from edge.home import Recognized

    got = recognizer.recognize(text, language)
    if isinstance(got, Recognized):
        ent = dict(got.entities)
        if got.name == "HassSetVolume":
            assert "volume_level" in ent, got
        if got.name == "HassSetVolumeRelative":  # HA's up/down, or the number signed as the verb says
            assert ent.get("volume_step") in ("up", 20), got
        if got.name == "HassLightSet":
            assert {"brightness", "color", "temperature"} & set(ent), got
            assert not 0 < ent.get("temperature", 1000) < 1000, got
        if got.name == "HassStartTimer":
            assert "minutes" not in ent, got


def test_the_checks_still_let_plain_commands_through(recognizer):
    """Refusing everything would pass the tests above: plain lock commands and values still come back."""
    from edge.home import Recognized

    for text, language, intent, want in [
            ("unlock the front door", "en", "HassTurnOff", {"name": "Front Door"}),
            ("lock the back door", "en", "HassTurnOn", {"name": "Back Door"}),
            ("déverrouille la porte d'entrée", "fr", "HassTurnOff", {"name": "Front Door"}),
            ("stell das licht in der küche auf fünfzig prozent", "de", "HassLightSet", {"brightness": 50}),
            ("mets la lumière de la cuisine à cinquante pour cent", "fr", "HassLightSet", {"brightness": 50}),
            ("mach das licht in der küche rot", "de", "HassLightSet", {"color": "red", "domain": "light"}),
            ("la puerta principal está cerrada", "es", "HassGetState", {"state": "locked"})]:
        got = recognizer.recognize(text, language)
        assert isinstance(got, Recognized) and got.name == intent, (text, got)
        ent = dict(got.entities)
        assert {k: ent.get(k) for k in want} == want, (text, got)
