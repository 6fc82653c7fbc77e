"""A place said beside the thing named, carried as Home Assistant's "{name} {floor}" carries it (edge/home_reading.py).

As tests/test_home_recall.py: `decide` gets what the model and the tagger give it (the thing tagged, the place
left untagged, as models/home 1.2.0's tagger gave "apague Ventilador de techo piso Primera planta" on
bench/home_proxy.py), with the real names file tests/data/home_names.yaml and the real `home_schema`.
"""

from __future__ import annotations

import pytest

from edge import names
from edge.home import NotUnderstood

from test_home_recall import NAMES, ask, entities


@pytest.fixture(scope="module")
def home() -> names.Names:
    return names.load(NAMES)


@pytest.mark.parametrize("lang, intent, text, spans, expect", [
    # was: the floor said and dropped (the same light either way, but HA's reading carries the floor)
    ("en", "HassTurnOff", "turn off the stairs light upstairs", [("name", "stairs light", 0.99)],
     {"name": "Stairs Light", "floor": "First Floor"}),
    ("es", "HassTurnOff", "apague Treppenlicht piso planta alta", [("name", "Treppenlicht", 0.99)],
     {"name": "Stairs Light", "floor": "First Floor"}),
    ("de", "HassTurnOn", "schalte die Stehlampe im Wohnzimmer an", [("name", "Stehlampe", 0.99)],
     {"name": "Stehlampe", "area": "Living Room"}),
    # an alias of the floor ("rez-de-chaussée" for Ground Floor), the area's floor
    ("fr", "HassTurnOn", "allume le lampadaire rez-de-chaussée", [("name", "lampadaire", 0.99)],
     {"name": "Stehlampe", "floor": "Ground Floor"}),
])
def test_the_place_of_the_thing_named_is_carried(home: names.Names, lang: str, intent: str, text: str, spans: list,
                                                 expect: dict) -> None:
    got = ask(home, lang, intent, text, spans)
    assert entities(got) == expect
    place = next(s for s in got.slots if s["name"] in ("area", "floor"))
    assert text[place["start"]:place["end"]] == place["raw"]


@pytest.mark.parametrize("lang, intent, text, spans", [
    # another floor than the thing's: no such light there; refused as a place said and not carried, as before
    ("en", "HassTurnOff", "turn off the stairs light downstairs", [("name", "stairs light", 0.99)]),
    # two places said: which one HA's reading carries is not for the words to say
    ("en", "HassTurnOff", "turn off the stairs light upstairs in the bedroom", [("name", "stairs light", 0.99)]),
])
def test_a_place_that_is_not_the_things_is_not_carried(home: names.Names, lang: str, intent: str, text: str,
                                                       spans: list) -> None:
    got = ask(home, lang, intent, text, spans)
    assert isinstance(got, NotUnderstood) and got.reason == "dropped", got


def test_a_timers_name_takes_no_place(home: names.Names) -> None:
    # a timer's name is free text, not a thing of the file: no place is read beside it (refused as before)
    got = ask(home, "en", "HassCancelTimer", "cancel the pizza timer upstairs", [("name", "pizza", 0.99)])
    assert isinstance(got, NotUnderstood) and got.reason == "dropped", got


@pytest.mark.parametrize("text", [
    "turn off the stairs light upstairs upstairs upstairs",   # said three times: still the one floor
    "turn off the stairs light %",
])
def test_careless_places_beside_a_name(home: names.Names, text: str) -> None:
    got = ask(home, "en", "HassTurnOff", text, [("name", "stairs light", 0.99)])
    assert isinstance(got, NotUnderstood) or entities(got)["name"] == "Stairs Light"
