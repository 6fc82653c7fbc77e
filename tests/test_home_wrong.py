"""Round three's rules against wrong actions (edge.home.decide), each general, each paired with what it keeps.

As tests/test_home_recall.py: `decide` gets what the model and the tagger give it, with the real names file
tests/data/home_names.yaml and the real `home_schema` of models/home. The lines of the template holdouts and
dev sets they came from, and what they changed there, are in docs/model-card-home.md.
"""

from __future__ import annotations

import pytest

from edge import home_polarity, names
from edge.home import NotUnderstood, Recognized

from test_home_recall import NAMES, ask, entities


@pytest.fixture(scope="module")
def home() -> names.Names:
    return names.load(NAMES)


# -- "un minuto": the article that is the number one, before a unit's word -----------------------------------

@pytest.mark.parametrize("lang, intent, text, expect", [
    ("es", "HassCancelTimer", "cancela la cuenta atrás de los un minutos", {"start_minutes": 1}),
    ("es", "HassTimerStatus", "cuánto queda del temporizador de una hora", {"start_hours": 1}),
    ("es", "HassStartTimer", "pon un temporizador de una hora", {"hours": 1}),
    ("de", "HassStartTimer", "stell einen Timer für eine Minute", {"minutes": 1}),
    ("en", "HassCancelTimer", "cancel the one minute timer", {"start_minutes": 1}),
    # "minute" is in the seconds' list too ("a minute and a half"): with no "and" after it, it is minutes
    ("en", "HassPauseTimer", "pause the ninety eight minute timer", {"start_minutes": 98}),
])
def test_one_said_as_an_article_before_its_unit_is_one(home: names.Names, lang: str, intent: str, text: str,
                                                       expect: dict) -> None:
    assert entities(ask(home, lang, intent, text, [])) == expect


@pytest.mark.parametrize("lang, intent, text", [
    ("es", "HassStartTimer", "pon un temporizador de una hora y media"),   # a fraction after it: not one hour
    ("fr", "HassStartTimer", "minuteur de une heure et demie"),
    ("en", "HassStartTimer", "a timer for one minute and a half"),
    ("es", "HassIncreaseTimer", "añade un minuto al temporizador"),        # a change: the tagger's, not filled
    ("es", "HassCancelTimer", "cancela un temporizador de dos horas y un minuto"),
])
def test_one_before_a_unit_is_never_dropped(home: names.Names, lang: str, intent: str, text: str) -> None:
    # before: "de los un minutos" was no number, and HassCancelTimer {} cancelled whichever timer
    assert isinstance(ask(home, lang, intent, text, []), NotUnderstood)


def test_an_article_before_no_unit_is_an_article(home: names.Names) -> None:
    got = ask(home, "es", "HassCancelTimer", "cancela un temporizador", [])
    assert entities(got) == {}


# -- (un)mute said with an on/off verb and no word of the sound -----------------------------------------------

@pytest.mark.parametrize("lang, intent, text, words, fits", [
    ("es", "HassMediaPlayerUnmute", "enciende la tele", "tele", False),     # dev2: HA turns the TV on
    ("fr", "HassMediaPlayerMute", "arrête la télé", "télé", False),          # dev: HA turns it off
    ("de", "HassMediaPlayerMute", "mach den Fernseher aus", "Fernseher", False),
    ("en", "HassMediaPlayerMute", "turn off the tv", "tv", False),
    ("fr", "HassMediaPlayerMute", "coupe le son de la télé", "télé", True),  # HA's own: an off verb + the sound
    ("es", "HassMediaPlayerUnmute", "activa el sonido de la tele", "tele", True),
    ("de", "HassMediaPlayerMute", "schalte den Fernseher stumm", "Fernseher", True),
    ("en", "HassMediaPlayerMute", "mute the tv", "tv", True),
    ("en", "HassMediaPlayerMute", "silence the tv", "tv", True),             # no on/off verb: the model's call
])
def test_mute_is_no_on_off_misread(home: names.Names, lang: str, intent: str, text: str, words: str,
                                   fits: bool) -> None:
    got = ask(home, lang, intent, text, [("name", words, 0.99)])
    assert isinstance(got, Recognized) == fits, got


def test_mute_words_are_home_assistants_and_no_kinds() -> None:
    for lang in ("en", "de", "fr", "es"):
        assert home_polarity.MUTE_WORDS[lang]
        assert not home_polarity.MUTE_WORDS[lang] & (home_polarity.ONOFF_WORDS[lang]["HassTurnOn"]
                                                     | home_polarity.ONOFF_WORDS[lang]["HassTurnOff"])
    assert {"tv", "fernseher", "tele"}.isdisjoint(set().union(*home_polarity.MUTE_WORDS.values()))


# -- a thing said by its kind word, in a reply with no target --------------------------------------------------

@pytest.mark.parametrize("lang, intent, text, expect", [
    ("en", "HassMediaPause", "pause the tv", {"name": "TV"}),   # dev2: the TV was dropped, HA paused another player
    ("de", "HassMediaPause", "pausiere den Fernseher", {"name": "TV"}),
    ("fr", "HassMediaPlayerUnmute", "rétablis le son de la télé", {"name": "TV"}),
])
def test_a_thing_named_by_its_kind_word_is_the_things_name(home: names.Names, lang: str, intent: str, text: str,
                                                          expect: dict) -> None:
    got = ask(home, lang, intent, text, [])
    assert entities(got) == expect
    assert [s["raw"].lower() for s in got.slots if s["name"] == "name"] == [text.split()[-1].lower()]


@pytest.mark.parametrize("lang, intent, text", [
    ("en", "HassMediaNext", "next song on the tv and in the lights", ),   # a second kind: which?
    ("en", "HassStartTimer", "set a 5 minute timer for the tv"),        # a timer's name is free text, not a thing
])
def test_a_kind_name_that_does_not_resolve_to_one_thing_is_refused(home: names.Names, lang: str, intent: str,
                                                                   text: str) -> None:
    got = ask(home, lang, intent, text, [("minutes", "5", 0.99)] if "5" in text else [])
    assert isinstance(got, NotUnderstood), got


@pytest.mark.parametrize("lang, intent, text, spans", [
    ("en", "HassMediaPause", "pause", []),
    ("en", "HassMediaPause", "pause the music", []),                            # no thing is called "music"
    ("en", "HassMediaPause", "pause the tv", [("name", "tv", 0.99)]),            # carried: as it was
    # a thing is called "Light", but "the light" is HassLightSet's own word (HA: the satellite's lights)
    ("en", "HassLightSet", "set the light to 50 percent", [("brightness", "50", 0.99)]),
    ("en", "HassStartTimer", "set a 5 minute timer called tv", [("minutes", "5", 0.99), ("name", "tv", 0.2)]),
])
def test_what_names_no_thing_or_carries_it_is_kept(home: names.Names, lang: str, intent: str, text: str,
                                                   spans: list) -> None:
    assert isinstance(ask(home, lang, intent, text, spans), Recognized)
