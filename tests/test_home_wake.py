"""A wake word said before the command (edge/home_wake.py), through the shipped home package as Wyoming asks it.

models/home 1.2.0 reads "alexa lights on in the kids room" as HassTurnOn at 0.61 and "alexa what day is it today"
as out of scope (tests/data/home_dev3_en.txt); without the call both are sure. The recognizer reads the command
alone, and keeps every word where the call is no call (a thing called so, a call with nothing after it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.home import NotUnderstood, Recognized
from edge.home_wake import command

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


@pytest.mark.parametrize("lang,text,want", [
    ("en", "alexa turn on the kitchen lights", "turn on the kitchen lights"),
    ("en", "Hey Google, what's the time", "what's the time"),
    ("en", "ok google  set a timer for 5 minutes", "set a timer for 5 minutes"),
    ("en", "hey siri: lights off", "lights off"),
    ("de", "Alexa, mach das Licht aus", "mach das Licht aus"),
    ("fr", "dis siri allume la lumière", "allume la lumière"),
    ("es", "oye google, enciende la luz", "enciende la luz"),
])
def test_a_call_before_the_command_is_left_out(lang: str, text: str, want: str) -> None:
    assert command(text, lang) == want


@pytest.mark.parametrize("lang,text", [
    ("en", "alexa off"),                      # one word after it: the call may be a thing's name
    ("en", "turn on alexa"),                  # not at the head
    ("en", "alexander turn on the lights"),   # a word that starts like a call
    ("en", "ok turn it off"),                 # "ok" alone is no call
    ("en", "hey turn it off"),
    ("en", "computer turn off the lights"),   # a thing's name in many homes
    ("en", "alexa"), ("en", ""), ("en", "   "),
    ("xx", "alexa turn on the lights"),       # a language without calls: as said
    ("en", "alexa" * 200 + " turn on the lights"),
])
def test_no_call_or_no_command_after_it_keeps_the_text(lang: str, text: str) -> None:
    assert command(text, lang) == text


@pytest.fixture(scope="module")
def recognizer():
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(ROOT / "models" / "home")
    return HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest),
                          names.load(DATA / "home_fixture_names_en.yaml"))


@pytest.mark.parametrize("text,intent,want", [
    ("alexa what day is it today", "HassGetCurrentDate", {}),
    ("alexa lights on in the kids room", "HassTurnOn", {"area": "Kids Room", "domain": "light"}),
    ("hey google, turn off the porch light", "HassTurnOff", {"name": "Porch Light"}),
])
def test_the_command_after_a_call_is_recognized_as_without_it(recognizer, text: str, intent: str, want: dict) -> None:
    got = recognizer.recognize(text, "en")
    assert isinstance(got, Recognized) and got.name == intent, got
    assert {k: v for k, v in got.entities} == want
    bare = recognizer.recognize(command(text, "en"), "en")
    assert isinstance(bare, Recognized) and (bare.name, bare.entities) == (got.name, got.entities)


@pytest.mark.parametrize("text", [
    "alexa what's the capital of france", "hey google tell me a joke", "alexa, order a pizza", "alexa",
    "alexa alexa alexa", "hey siri, call mom",
])
def test_no_command_after_a_call_is_still_refused(recognizer, text: str) -> None:
    assert isinstance(recognizer.recognize(text, "en"), NotUnderstood)
