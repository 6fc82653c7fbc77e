"""Two wrong actions of a sure model in the proxy's second English home (tests/data/home_fixture_names_en2.yaml):

- a question answered by switching (edge/home_rescue.py's `_unread`, through `overrule`): "every single lights on
  Dining Room" is only HassGetState's template, the model is sure of HassTurnOn; where the templates of the on/off
  and state intents (`STATE_FAMILY`) read the whole text as another of them and none of the model's intent reads it,
  Home Assistant's reading is answered;
- a media search's query cut short (edge/home_freetext.py's `carried_query`): "play *a* podcast about history on
  Family Room Speaker" is "play {search_query} on {name}" to Home Assistant; the tagger cut the article and read the
  area "Family Room" inside the speaker's name, so the carrier's first pass left the tagger's query.

The real home model through the recognizer; each fixed line is one the model's own reading gets wrong (checked), and
each answer is Home Assistant's (hassil 3.13.1's `recognize_best` with that home, where hassil is installed). What
must stay as it was: a line the model's own intent reads, a place the home lacks, words no template says, another
intent's sure answer, a quantity word before the query.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import hassil_ha

from edge import home_agree, home_rescue
from edge.home import NotUnderstood, Recognized

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "models" / "home"
EN2 = ROOT / "tests" / "data" / "home_fixture_names_en2.yaml"


@pytest.fixture(scope="module")
def home():
    """(model, slots, recognizer with the second English home)."""
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(PKG)
    slots = SlotExtractor.load(model.path, model.manifest)
    return model, slots, HomeRecognizer(model, slots, names.load(EN2))


# (text, the model's sure intent, HA's intent, HA's slots)
STATE = [
    ("every single lights on Dining Room", "HassTurnOn", "HassGetState",
     {"state": "on", "area": "Dining Room", "domain": "light"}),
    ("every single light off Dining Room", "HassTurnOff", "HassGetState",
     {"state": "off", "area": "Dining Room", "domain": "light"}),
]
MEDIA = [
    ("play a podcast about history on Family Room Speaker", {"search_query": "a podcast about history",
                                                             "name": "Family Room Speaker"}),
    ("play a podcast about history on my Family Room Speaker", {"search_query": "a podcast about history",
                                                                "name": "Family Room Speaker"}),
]


@pytest.mark.parametrize("text,sure,intent,want", STATE)
def test_a_state_question_is_not_answered_by_switching(home, text: str, sure: str, intent: str, want: dict) -> None:
    model, _, rec = home
    pred = model.classify([text])[0]
    assert pred.intent == sure and pred.confidence >= rec.threshold, pred   # the model alone switches
    got = rec.recognize(text, "en")
    assert isinstance(got, Recognized) and got.name == intent, got
    assert dict(got.entities) == want
    assert got.decided.startswith("template: ") and "the only reading" in got.decided, got.decided


@pytest.mark.parametrize("text,want", MEDIA)
def test_a_search_query_keeps_its_article(home, text: str, want: dict) -> None:
    model, slots, rec = home
    pred = model.classify([text])[0]
    assert pred.intent == "HassMediaSearchAndPlay" and pred.confidence >= rec.threshold, pred
    # the tagger cut the article and read the area inside the speaker's name: the reason the fix is needed
    found = slots.extract(text, pred.intent)
    assert not any(s["name"] == "search_query" and s["raw"] == want["search_query"] for s in found), found
    got = rec.recognize(text, "en")
    assert isinstance(got, Recognized) and got.name == "HassMediaSearchAndPlay", got
    assert dict(got.entities) == want


@pytest.mark.parametrize("text", [t for t, _, _, _ in STATE] + [t for t, _ in MEDIA])
def test_the_answers_are_home_assistants(home, text: str) -> None:
    best = hassil_ha.best(text, "en", EN2)
    got = home[2].recognize(text, "en")
    assert best is not None and isinstance(got, Recognized)
    want = {k: (v.text if v.is_wildcard else v.value) for k, v in best.entities.items()}
    assert got.name == best.intent.name and dict(got.entities) == want


# the model's intent reads it too (its answer stands), or an order said in words no template has
KEPT = [
    ("turn on every single lights in Dining Room", "HassTurnOn", {"area": "Dining Room", "domain": "light"}),
    ("lights on Dining Room", "HassTurnOn", {"area": "Dining Room", "domain": "light"}),
    ("Office Fan on", "HassTurnOn", {"name": "Office Fan"}),
    ("is the Office Fan on", "HassGetState", {"state": "on", "name": "Office Fan"}),
    ("play some jazz on Family Room Speaker", "HassMediaSearchAndPlay",
     {"search_query": "jazz", "name": "Family Room Speaker"}),
    ("play the artist Miles Davis on Family Room Speaker", "HassMediaSearchAndPlay",
     {"media_class": "artist", "search_query": "Miles Davis", "name": "Family Room Speaker"}),
]


@pytest.mark.parametrize("text,intent,want", KEPT)
def test_what_the_model_reads_as_home_assistant_does_stands(home, text: str, intent: str, want: dict) -> None:
    got = home[2].recognize(text, "en")
    assert isinstance(got, Recognized) and got.name == intent and dict(got.entities) == want, got
    assert "the only reading" not in got.decided


@pytest.mark.parametrize("text", [
    "every single lights on Spaceship",                       # a place the home lacks
    "every single lights on Dining Room and unlock the door",  # two orders: no template reads it whole
    "play a podcast about history on Spaceship Speaker",      # a speaker the home lacks
])
def test_what_no_template_reads_is_not_acted_on_by_it(home, text: str) -> None:
    got = home[2].recognize(text, "en")
    assert isinstance(got, NotUnderstood), got


def test_only_the_state_family_is_ranked(home) -> None:
    """Another intent's sure answer is never handed over (ranking it against every template cost too much), nor a
    family answer its own intent's templates read, nor one no template reads."""
    _, _, rec = home
    text = "every single lights on Dining Room"
    assert home_rescue.overrule(rec.schema, "HassLightSet", "en", text, [], rec.names) is None
    assert home_rescue.overrule(rec.schema, "HassGetState", "en", text, [], rec.names) is None
    assert home_rescue.overrule(rec.schema, "HassTurnOn", "en", "switch on the disco ball please now", [],
                                rec.names) is None
    read = home_rescue.overrule(rec.schema, "HassTurnOn", "en", text, [], rec.names)
    assert read is not None and read[0] == "HassGetState"
    # the tagger reading a name where the template reads a place: the tagger's check refuses the hand-over
    a = text.index("Dining Room")
    thing = [{"name": "name", "entity": "name", "raw": "Dining Room", "value": "Dining Room", "start": a,
              "end": a + len("Dining Room"), "confidence": 1.0}]
    assert home_rescue.overrule(rec.schema, "HassTurnOn", "en", text, thing, rec.names) is None


def test_a_state_question_that_dropped_its_state_is_refused(home) -> None:
    """The model sure of HassGetState, the tagger left "detected" untagged: the answer asked the sensor's state where
    the user asked whether it is detected. HassGetState's template reads the state; decide reads no state "detected"
    of a door sensor, so the answer is refused, not given without the state."""
    model, slots, rec = home
    text = "are the Back Door Sensor detected Main Floor"
    pred = model.classify([text])[0]
    assert pred.intent == "HassGetState" and pred.confidence >= rec.threshold, pred
    assert not any(s["name"] == "state" for s in slots.extract(text, pred.intent))   # the state dropped
    got = rec.recognize(text, "en")
    assert isinstance(got, NotUnderstood) and got.reason == "dropped", got
    read = home_agree.completed(rec.schema, "HassGetState", {"name": "Back Door Sensor"}, "en", text, [], rec.names)
    assert read is not None and {s["name"]: s["value"] for s in read[1]}["state"] == "on"
    # a state already said, or another intent: nothing to complete
    assert home_agree.completed(rec.schema, "HassGetState", {"state": "off"}, "en", text, [], rec.names) is None
    assert home_agree.completed(rec.schema, "HassTurnOn", {}, "en", text, [], rec.names) is None


@pytest.mark.parametrize("text,want", [
    ("is the Office Fan on", {"state": "on", "name": "Office Fan"}),
    ("what is the state of the Office Fan", {"name": "Office Fan"}),   # no state said: none completed
    ("is any light on in the Kitchen", {"state": "on", "area": "Kitchen", "domain": "light"}),
])
def test_a_state_question_with_its_state_or_none_stands(home, text: str, want: dict) -> None:
    got = home[2].recognize(text, "en")
    assert isinstance(got, Recognized) and got.name == "HassGetState" and dict(got.entities) == want, got


def test_a_completion_only_adds() -> None:
    assert home_agree.adds_only({"name": "X"}, {"name": "X", "state": "on"})
    assert not home_agree.adds_only({"name": "X"}, {"name": "X"})                     # nothing added
    assert not home_agree.adds_only({"name": "X"}, {"name": "Y", "state": "on"})      # another thing
    assert not home_agree.adds_only({"name": "X", "floor": "F"}, {"name": "X", "state": "on"})   # a slot lost
