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
