"""A command said with a delay is no command now and no timer named by the command (edge.home_durations.delay_misfit).

As tests/test_home_recall.py: `decide` gets what models/home 1.2.0's model and tagger gave on bench/home_proxy.py's
lines, with the real names file tests/data/home_names.yaml and the real `home_schema`. Home Assistant reads these
as HassStartTimer with a `conversation_command`; acting now, or starting a timer called "porte du garage", is
a wrong action, so they are refused.
"""

from __future__ import annotations

import pytest

from edge import names
from edge.home import NotUnderstood, Recognized

from test_home_recall import NAMES, ask, entities


@pytest.fixture(scope="module")
def home() -> names.Names:
    return names.load(NAMES)


@pytest.mark.parametrize("lang, intent, text, spans", [
    # was: HassTurnOff of the garage door, now
    ("es", "HassTurnOff", "cierra la puerta del garaje en un segundo", [("name", "puerta del garaje", 0.75)]),
    ("en", "HassTurnOn", "turn on the desk lamp in 5 minutes", [("name", "desk lamp", 0.99)]),
    ("de", "HassTurnOff", "schalte die Stehlampe in zehn Minuten aus", [("name", "Stehlampe", 0.99)]),
    ("fr", "HassTurnOff", "éteins le lampadaire dans 2 h", [("name", "lampadaire", 0.99)]),
    ("es", "HassTurnOff", "apaga la luz de la cocina dentro de cinco minutos", [("area", "cocina", 0.99)]),
])
def test_a_command_with_a_delay_is_not_acted_on_now(home: names.Names, lang: str, intent: str, text: str,
                                                    spans: list) -> None:
    got = ask(home, lang, intent, text, spans)
    if isinstance(got, Recognized):
        # Home Assistant's reading, the timer's carrier (edge/home_rescue.py): a timer that runs the command, not now
        assert got.name == "HassStartTimer" and dict(got.entities).get("conversation_command"), got
        return
    assert isinstance(got, NotUnderstood) and got.detail.startswith("a delay said"), got


@pytest.mark.parametrize("lang, text, spans", [
    # was: a timer of 70 hours called "porte du garage"
    ("fr", "ferme la porte du garage dans 70 heure", [("name", "porte du garage", 0.0), ("hours", "70", 1.0)]),
    ("fr", "éteins la lampe de bureau dans trente sept heure et soixante huit seconde",
     [("name", "bureau", 0.0), ("hours", "trente sept", 0.5), ("seconds", "soixante huit", 1.0)]),
])
def test_a_command_read_as_a_timers_name_is_refused(home: names.Names, lang: str, text: str, spans: list) -> None:
    got = ask(home, lang, "HassStartTimer", text, spans)
    if isinstance(got, Recognized):
        # the carrier reads the words as the command run when it ends (Home Assistant's reading): no timer's name
        assert "name" not in dict(got.entities) and dict(got.entities).get("conversation_command"), got
        return
    assert isinstance(got, NotUnderstood) and got.detail.startswith("a timer's name said with no timer"), got


@pytest.mark.parametrize("lang, text, spans, expect", [
    ("en", "set a timer for 5 minutes called pizza", [("minutes", "5", 1.0), ("name", "pizza", 0.0)],
     {"minutes": 5, "name": "pizza"}),
    ("fr", "minuteur pizza de 5 minutes", [("name", "pizza", 0.0), ("minutes", "5", 1.0)],
     {"minutes": 5, "name": "pizza"}),
    ("es", "pon la cuenta atrás pizza de 5 minutos", [("name", "pizza", 0.0), ("minutes", "5", 1.0)],
     {"minutes": 5, "name": "pizza"}),
    ("de", "Pizzatimer für 5 Minuten", [("minutes", "5", 1.0)], {"minutes": 5}),
])
def test_a_timer_said_with_its_noun_keeps_its_name(home: names.Names, lang: str, text: str, spans: list,
                                                   expect: dict) -> None:
    assert entities(ask(home, lang, "HassStartTimer", text, spans)) == expect


@pytest.mark.parametrize("lang, intent, text, spans, expect", [
    # "in" + a place, not a delay
    ("en", "HassTurnOff", "turn off the lights in the kitchen", [("area", "kitchen", 0.99)],
     {"area": "Kitchen", "domain": "light"}),
    ("es", "HassTurnOff", "apaga la luz en la cocina", [("area", "cocina", 0.99)], {"area": "Kitchen", "domain": "light"}),
])
def test_a_place_after_in_is_no_delay(home: names.Names, lang: str, intent: str, text: str, spans: list,
                                      expect: dict) -> None:
    assert entities(ask(home, lang, intent, text, spans)) == expect


@pytest.mark.parametrize("text", [
    "turn on the desk lamp in minutes",         # a unit without a number: no delay read, the lamp as before
    "turn on the desk lamp in %",
])
def test_careless_delays(home: names.Names, text: str) -> None:
    assert entities(ask(home, "en", "HassTurnOn", text, [("name", "desk lamp", 0.99)])) == {"name": "Desk Lamp"}


def test_sixty_number_words_before_a_unit(home: names.Names) -> None:
    text = "turn on the desk lamp in " + " ".join(["twenty"] * 60) + " minutes"
    assert isinstance(ask(home, "en", "HassTurnOn", text, [("name", "desk lamp", 0.99)]), NotUnderstood)


@pytest.mark.parametrize("lang, intent, text, spans, expect", [
    ("en", "HassBroadcast", "announce the movie starts in ten minutes",
     [("message", "the movie starts in ten minutes", 0.99)], {"message": "the movie starts in ten minutes"}),
    ("en", "HassShoppingListAddItem", "add call mom in 5 minutes to my shopping list",
     [("item", "call mom in 5 minutes", 0.99)], {"item": "call mom in 5 minutes"}),
])
def test_a_delay_inside_free_text_is_the_texts(home: names.Names, lang: str, intent: str, text: str, spans: list,
                                               expect: dict) -> None:
    assert entities(ask(home, lang, intent, text, spans)) == expect


@pytest.mark.parametrize("spans", [
    [("message", "le film commence", 0.67)],
    [("message", "qu'le film commence", 0.67)],
])
def test_a_message_is_never_cut_before_its_delay(home: names.Names, spans: list) -> None:
    # models/home's tagger stopped the message at "dans" (the proxy: message "qu'le film commence"); HA's message
    # is the whole sentence after "qu'": carried whole (edge/home_wildcards.py) or refused, never cut
    text = "annonce à toutes les pièces qu'le film commence dans dix minutes"
    got = ask(home, "fr", "HassBroadcast", text, spans)
    assert isinstance(got, NotUnderstood) or entities(got)["message"].endswith("dans dix minutes"), got
