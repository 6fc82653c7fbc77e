"""What plain words say beyond the spans (edge/home_words.py), on the input that reaches `decide`.

The spans are what models/home 1.2.0's tagger gave on bench/home_proxy.py's lines; the names are a small home
written here (a weather entity called "Maison", as Home Assistant names the home's forecast) with the real
`home_schema` of models/home.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import names
from edge.home import NotUnderstood

from edge.home_words import implied_domains

from test_home_recall import NAMES, ask, entities

_HOME = """language: fr
areas:
  - {id: salon, name: Salon}
entities:
  - {id: weather.maison, name: Maison, state: sunny}
  - {id: light.salon, name: Lampe du salon, area: salon, state: "on"}
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> names.Names:
    path = tmp_path_factory.mktemp("home") / "names.yaml"
    path.write_text(_HOME, encoding="utf-8")
    return names.load(path)


@pytest.fixture(scope="module")
def house() -> names.Names:
    return names.load(NAMES)


@pytest.mark.parametrize("text", [
    "éteins éclairage toutes maison",          # HA: HassTurnOff domain light, the whole home (was: name "Maison")
    "fermer l'lumières au tout maison",
    "éteins toutes les lumières de la maison",
])
def test_the_whole_home_said_unsure_is_no_thing_called_so(home: names.Names, text: str) -> None:
    got = ask(home, "fr", "HassTurnOff", text, [("name", "maison", 0.0)])
    assert isinstance(got, NotUnderstood) and got.detail == "name unsure", got


def test_a_thing_called_maison_tagged_surely_is_still_that_thing(home: names.Names) -> None:
    # the tagger sure of it: its words stand as the model read them
    got = ask(home, "fr", "HassTurnOff", "éteins Maison", [("name", "Maison", 0.99)])
    assert entities(got) == {"name": "Maison"}


def test_an_unsure_name_that_is_no_whole_home_word_is_still_confirmed(home: names.Names) -> None:
    got = ask(home, "fr", "HassTurnOff", "éteins la lampe du salon", [("name", "lampe du salon", 0.2)])
    assert entities(got) == {"name": "Lampe du salon"}


@pytest.mark.parametrize("text, spans", [
    ("maison", [("name", "maison", 0.0)]),       # the word alone
    ("éteins %", []),                             # "%" alone
])
def test_careless_whole_home_words_are_refused(home: names.Names, text: str, spans: list) -> None:
    assert isinstance(ask(home, "fr", "HassTurnOff", text, spans), NotUnderstood)


# -- "switch" after a determiner or quantifier is a thing, not the verb ----------------------------------------

@pytest.mark.parametrize("text, kinds", [
    ("is there each and every switch off our Ground Floor", ["switch"]),   # was [] (read as the verb)
    ("is the switch off in the office", ["switch"]),
    ("switch off the lights upstairs", ["lights"]),                         # the verb, as before
    ("please switch off the kitchen lights", ["lights"]),
    ("and switch our lights on", ["lights"]),
])
def test_switch_after_a_determiner_is_a_kind(text: str, kinds: list) -> None:
    assert [k for k, _, _ in implied_domains(text, "en")] == kinds


def test_a_state_question_about_every_switch_of_a_floor(house: names.Names) -> None:
    # HA: HassGetState {state: off, floor: Ground Floor, domain: switch}; was the whole floor, every kind
    text = "is there each and every switch off our Ground Floor"
    got = ask(house, "en", "HassGetState", text, [("state", "off", 0.99), ("floor", "Ground Floor", 0.99)])
    assert entities(got) == {"state": "off", "floor": "Ground Floor", "domain": "switch"}


@pytest.mark.parametrize("text", ["every switch", "switch switch switch off", "%"])
def test_careless_switch_words(text: str) -> None:
    assert len(implied_domains(text, "en")) <= 1


# -- a time of day is no timer's duration (edge.home_words.clock_time) -------------------------------------

@pytest.mark.parametrize("lang,text,spans", [
    ("fr", "réveille-moi à sept heures", [("hours", "sept", 0.9)]),       # models/home 1.2.0: HassStartTimer 0.80
    ("fr", "mets un minuteur à 7 heures du matin", [("hours", "7", 1.0)]),
    ("en", "set a timer at 7 hours", [("hours", "7", 1.0)]),
    ("en", "wake me up in 7 hours am", [("hours", "7", 1.0)]),              # careless: the unit, then "am"
    ("en", "start a timer for 6 o'clock", [("hours", "6", 1.0)]),
    ("de", "stell einen Timer um sieben Uhr", [("hours", "sieben", 1.0)]),
    ("de", "stell einen Timer für sieben Uhr", [("hours", "sieben", 1.0)]),
    ("es", "pon un temporizador a las siete horas", [("hours", "siete", 1.0)]),
    ("es", "despiértame a la una", [("hours", "una", 1.0)]),
])
def test_a_time_of_day_is_no_duration(house: names.Names, lang: str, text: str, spans: list) -> None:
    got = ask(house, lang, "HassStartTimer", text, spans)
    assert isinstance(got, NotUnderstood) and got.reason == "slot" and "time of day" in got.detail, got


@pytest.mark.parametrize("lang,text,spans,want", [
    ("en", "set a timer for 7 hours", [("hours", "7", 1.0)], {"hours": 7}),
    ("en", "a timer for seven minutes please", [("minutes", "seven", 1.0)], {"minutes": 7}),
    ("fr", "mets un minuteur de sept heures", [("hours", "sept", 1.0)], {"hours": 7}),
    ("de", "stell einen Timer auf sieben Minuten", [("minutes", "sieben", 1.0)], {"minutes": 7}),
    ("es", "pon un temporizador de siete minutos", [("minutes", "siete", 1.0)], {"minutes": 7}),
])
def test_a_duration_said_as_ha_says_it_is_still_a_timer(house: names.Names, lang: str, text: str, spans: list,
                                                        want: dict) -> None:
    assert entities(ask(house, lang, "HassStartTimer", text, spans)) == want


def test_at_before_a_timers_change_is_not_judged(house: names.Names) -> None:
    # only HassStartTimer: "um 5 Minuten verlängern" is HA's own German increase template
    got = ask(house, "de", "HassIncreaseTimer", "verlängere den Timer um 5 Minuten", [("minutes", "5", 1.0)])
    assert entities(got) == {"minutes": 5}
