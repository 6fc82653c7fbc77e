"""A question about the date or time of something else is no HassGetCurrentDate/Time (edge/home_when.py).

As tests/test_home_recall.py: `decide` gets the model's intent as models/home 1.2.0 gave it (its confidence on
these lines: 0.73-0.95), the real names file tests/data/home_names.yaml and the real `home_schema`.
"""

from __future__ import annotations

import pytest

from edge import names
from edge.home import NotUnderstood
from edge.home_when import other_moment

from test_home_recall import NAMES, ask, entities


@pytest.fixture(scope="module")
def home() -> names.Names:
    return names.load(NAMES)


@pytest.mark.parametrize("lang, intent, text", [
    ("en", "HassGetCurrentDate", "what's the date of easter"),                        # tests/data/home_dev3_en.txt
    ("en", "HassGetCurrentDate", "can you tell me the due date for the water bill"),  # bench/home_proxy_other.py
    ("en", "HassGetCurrentTime", "you want to know about current time now"),          # bench/home_proxy_other.py
    ("en", "HassGetCurrentTime", "what time is it in tokyo"),
    ("en", "HassGetCurrentDate", "what was the date yesterday"),
    ("en", "HassGetCurrentTime", "WHAT TIME IS IT IN LONDON"),
    ("de", "HassGetCurrentTime", "wie spät ist es in Tokio"),
    ("de", "HassGetCurrentDate", "welcher Tag ist morgen"),
    ("fr", "HassGetCurrentTime", "quelle heure est-il à Tokyo"),
    ("fr", "HassGetCurrentDate", "quel jour sommes-nous demain"),
    ("es", "HassGetCurrentDate", "qué día es mañana... no, cuándo es navidad"),
    ("es", "HassGetCurrentTime", "qué hora es para ti"),
])
def test_a_date_or_time_of_something_else_is_refused(home: names.Names, lang: str, intent: str, text: str) -> None:
    got = ask(home, lang, intent, text, [])
    assert isinstance(got, NotUnderstood) and "another date or time" in got.detail, got


@pytest.mark.parametrize("lang, intent, text", [
    ("en", "HassGetCurrentDate", "what's the date today"),
    ("en", "HassGetCurrentDate", "what day of the week is it"),
    ("en", "HassGetCurrentTime", "could you tell me the time for me please"),   # "for me": HA's skip words
    ("en", "HassGetCurrentTime", "what time is it right now"),
    ("en", "HassGetCurrentTime", "got the time?"),
    ("de", "HassGetCurrentDate", "was haben wir für ein Datum"),                 # "für" is HA's template's
    ("de", "HassGetCurrentDate", "gebe mir das aktuelle Datum von heute"),       # so is "von heute"
    ("de", "HassGetCurrentTime", "wie viel Uhr haben wir"),
    ("fr", "HassGetCurrentDate", "quelle est la date d'aujourd'hui"),
    ("es", "HassGetCurrentDate", "en qué día estamos hoy"),                      # "en": HA's template's
    ("es", "HassGetCurrentTime", "dime la hora actual"),
])
def test_today_and_now_asked_any_way_are_kept(home: names.Names, lang: str, intent: str, text: str) -> None:
    assert entities(ask(home, lang, intent, text, [])) == {}


@pytest.mark.parametrize("intent, text", [
    ("HassStartTimer", "set a timer for 5 minutes"),             # other intents: not judged here
    ("HassGetWeather", "what's the weather in the garden"),
])
def test_other_intents_are_not_judged(intent: str, text: str) -> None:
    assert other_moment(intent, "en", text) is None


@pytest.mark.parametrize("text, refused", [("", False), ("   ", False), ("¿?", False), ("of " * 300, True),
                                           ("\x00of", True), (None, False), ("what day of the week of easter", True)])
def test_careless_text_never_raises(text: str, refused: bool) -> None:
    assert (other_moment("HassGetCurrentDate", "en", text) is not None) == refused
    assert other_moment("HassGetCurrentDate", "xx", text) is None
