"""A number's words and its unit bound together (edge/home_numbers.py), as Home Assistant's templates read them.

As tests/test_home_recall.py: `decide` gets what the model and the tagger give it (the spans below are what
models/home 1.2.0's tagger gave on the proxy's lines, bench/home_proxy.py), with the real names file
tests/data/home_names.yaml and the real `home_schema`. Each reading is paired with what must stay as it was or
be refused, and with what a careless user sends.
"""

from __future__ import annotations

import pytest

from edge import names
from edge.home import NotUnderstood

from test_home_recall import NAMES, ask, entities


@pytest.fixture(scope="module")
def home() -> names.Names:
    return names.load(NAMES)


# -- a timer's number read whole, the name the tagger cut out of it dropped -------------------------------------

@pytest.mark.parametrize("lang, intent, text, spans, expect", [
    # before: start_seconds 90 + a timer called "four" (the tagger's cut at the hyphen)
    ("en", "HassPauseTimer", "pause my ninety-four-minutes timer",
     [("start_seconds", "ninety", 1.0), ("name", "four", 1.0)], {"start_minutes": 94}),
    ("en", "HassCancelTimer", "cancel the twenty-two-hour timer",
     [("start_minutes", "twenty", 1.0), ("name", "two", 1.0)], {"start_hours": 22}),
])
def test_a_timer_name_inside_the_number_is_the_number(home: names.Names, lang: str, intent: str, text: str,
                                                      spans: list, expect: dict) -> None:
    assert entities(ask(home, lang, intent, text, spans)) == expect


def test_a_timer_name_beside_the_number_stays(home: names.Names) -> None:
    text = "pause my ninety minutes pizza timer"
    got = ask(home, "en", "HassPauseTimer", text, [("start_minutes", "ninety", 1.0), ("name", "pizza", 1.0)])
    assert entities(got) == {"start_minutes": 90, "name": "pizza"}


def test_a_name_inside_a_number_of_no_timer_is_not_dropped(home: names.Names) -> None:
    # a thing's name is never dropped for a number: the reply is refused as it was
    text = "set the living room to twenty-five percent"
    got = ask(home, "en", "HassLightSet", text, [("brightness", "twenty", 1.0), ("name", "five", 1.0)])
    assert isinstance(got, NotUnderstood)


# -- a unit word of several units' lists binds to its own, larger unit ----------------------------------------

@pytest.mark.parametrize("lang, intent, text, spans, expect", [
    # "minute" is in the seconds' list for "a minute and a half": with no "and" after it, minutes
    ("en", "HassStartTimer", "create an fifty hours and seventy-five-minute timer for homework",
     [("hours", "fifty", 1.0), ("seconds", "seventy-five", 1.0), ("name", "homework", 0.0)],
     {"hours": 50, "minutes": 75, "name": "homework"}),
    # "hora" is in the minutes' list for "una hora y media": alone it is hours
    ("es", "HassIncreaseTimer", "agregar ochenta y cinco hora a la cuenta atrás té",
     [("minutes", "ochenta y cinco", 0.21), ("name", "té", 1.0)], {"hours": 85, "name": "té"}),
    ("es", "HassUnpauseTimer", "reactive con temporizador de ochenta y dos minuto",
     [("start_seconds", "ochenta y dos", 0.33)], {"start_minutes": 82}),
    ("en", "HassStartTimer", "set a timer for 12 minute", [("seconds", "12", 1.0)], {"minutes": 12}),
])
def test_a_singular_or_hyphenated_unit_binds_to_its_number(home: names.Names, lang: str, intent: str, text: str,
                                                           spans: list, expect: dict) -> None:
    assert entities(ask(home, lang, intent, text, spans)) == expect


@pytest.mark.parametrize("lang, intent, text, spans", [
    # a fraction after the unit: "minute" is the seconds' word there (90 s), not 1 minute
    ("en", "HassStartTimer", "set a timer for a minute and a half", [("seconds", "a minute and a half", 1.0)]),
    # "hora" alone is hours, and hours are said twice: refused (it was 2 minutes + 3 hours)
    ("es", "HassStartTimer", "pon un temporizador de dos hora tres horas",
     [("minutes", "dos", 1.0), ("hours", "tres", 1.0)]),
])
def test_a_unit_word_with_a_fraction_or_a_clash_is_not_moved(home: names.Names, lang: str, intent: str, text: str,
                                                             spans: list) -> None:
    got = ask(home, lang, intent, text, spans)
    assert isinstance(got, NotUnderstood) or dict(got.entities).get("seconds") == 90


@pytest.mark.parametrize("text, spans", [
    ("set a timer for minute", [("seconds", "minute", 1.0)]),                   # a unit without a number
    ("set a timer for % minutes", []),                                           # "%" alone
    ("set a timer for " + " ".join(["twenty"] * 60) + " minutes", [("minutes", "twenty", 1.0)]),  # 60 number words
])
def test_careless_durations_are_refused(home: names.Names, text: str, spans: list) -> None:
    assert isinstance(ask(home, "en", "HassStartTimer", text, spans), NotUnderstood)


# -- a volume level told from a step ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang, intent, text, spans", [
    # HA: HassSetVolumeRelative +49 (its "dreh[e] die lautstärke ... {volume_step}% auf"); was volume_level 49
    ("de", "HassSetVolume", "dreh die lautstärke von dem Fernseher 49% auf", [("name", "Fernseher", 1.0),
                                                                              ("volume_level", "49", 0.99)]),
    ("de", "HassSetVolume", "die Lautstärke vom Fernseher 30 Prozent runter", [("name", "Fernseher", 1.0),
                                                                                ("volume_level", "30", 0.99)]),
    # HA: +74 ("<sube> <vol> del {area} {volume_step}%"); a level is said after "a"/"al"
    ("es", "HassSetVolume", "levantar el volumen del salón 74%", [("area", "salón", 1.0), ("volume_level", "74", 1.0)]),
    ("en", "HassSetVolume", "turn the volume up 30 percent on the TV", [("volume_level", "30", 1.0),
                                                                        ("name", "TV", 1.0)]),
    # HA's French steps take no number: "baisser ... deux %" is its level 2, not a step of -2
    ("fr", "HassSetVolumeRelative", "baisser watts la télé deux %", [("name", "télé", 1.0)]),
    ("fr", "HassSetVolumeRelative", "baisse le son de la télé 20 pour cent", [("name", "télé", 1.0),
                                                                                ("volume_step", "20", 1.0)]),
])
def test_a_level_said_as_a_step_is_refused(home: names.Names, lang: str, intent: str, text: str, spans: list) -> None:
    got = ask(home, lang, intent, text, spans)
    assert isinstance(got, NotUnderstood) and got.reason == "slot", got


@pytest.mark.parametrize("lang, intent, text, spans, expect", [
    ("en", "HassSetVolume", "turn the volume up to 40 percent on the TV",
     [("volume_level", "40", 1.0), ("name", "TV", 1.0)], {"volume_level": 40, "name": "TV"}),
    ("es", "HassSetVolume", "sube el volumen del salón al 40%", [("area", "salón", 1.0), ("volume_level", "40", 1.0)],
     {"volume_level": 40, "area": "Living Room"}),
    ("de", "HassSetVolume", "Lautstärke von dem Fernseher auf 40%", [("name", "Fernseher", 1.0),
                                                                    ("volume_level", "40", 1.0)],
     {"volume_level": 40, "name": "TV"}),
    ("de", "HassSetVolumeRelative", "dreh die Lautstärke vom Fernseher um 20% runter",
     [("name", "Fernseher", 1.0), ("volume_step", "20", 1.0)], {"volume_step": -20, "name": "TV"}),
    ("fr", "HassSetVolumeRelative", "baisse le son de la télé", [("name", "télé", 1.0)],
     {"volume_step": "down", "name": "TV"}),
    ("fr", "HassSetVolume", "baisse le volume de la télé à 20 %", [("name", "télé", 1.0), ("volume_level", "20", 1.0)],
     {"volume_level": 20, "name": "TV"}),
])
def test_levels_and_steps_as_ha_says_them_stand(home: names.Names, lang: str, intent: str, text: str, spans: list,
                                                expect: dict) -> None:
    assert entities(ask(home, lang, intent, text, spans)) == expect


@pytest.mark.parametrize("text, spans", [
    ("lautstärke %", []),                                      # "%" alone
    ("dreh die Lautstärke auf", []),                           # a step's words without a number or a thing
    ("dreh die Lautstärke vom Fernseher Prozent auf", [("name", "Fernseher", 1.0)]),   # a unit without a number
])
def test_careless_volume_words_are_refused(home: names.Names, text: str, spans: list) -> None:
    assert isinstance(ask(home, "de", "HassSetVolume", text, spans), NotUnderstood)


def test_a_french_step_said_with_de_stays_a_step(home: names.Names) -> None:
    # no HA template reads "baisse le volume de vingt pour cent"; the user's step is kept (tests/test_home_recall.py)
    got = ask(home, "fr", "HassSetVolumeRelative", "baisse le volume de la télé de vingt pour cent",
              [("name", "télé", 1.0), ("volume_step", "vingt", 1.0)])
    assert entities(got) == {"volume_step": -20, "name": "TV"}


@pytest.mark.parametrize("lang, intent, text, spans, expect", [
    # the number tagged as the timer's name, its unit right after it (the second English home's proxy line)
    ("en", "HassCancelTimer", "cancel the timer for four-second", [("name", "four", 1.0)], {"start_seconds": 4}),
    ("es", "HassPauseTimer", "pausa el temporizador de diez minuto", [("name", "diez", 1.0)], {"start_minutes": 10}),
    # a name that is no number, or a number with no unit after it, stays the timer's name
    ("en", "HassCancelTimer", "cancel the pizza timer", [("name", "pizza", 1.0)], {"name": "pizza"}),
    ("en", "HassCancelTimer", "cancel the timer called five", [("name", "five", 1.0)], {"name": "five"}),
])
def test_a_number_tagged_as_a_timers_name_before_its_unit_is_the_duration(
        home: names.Names, lang: str, intent: str, text: str, spans: list, expect: dict) -> None:
    assert entities(ask(home, lang, intent, text, spans)) == expect


# -- the unit is no part of the number; a unit says which of several number slots (edge/home_units.py) ---------

@pytest.mark.parametrize("lang, text, spans, expect", [
    # models/home 1.2.0's tagger on tests/data/home_dev3_es.txt: "cincuenta" at 0.0; the run was read as
    # "cincuenta por ciento" (names_values reads it as 50), so no unit followed it and it was refused as unsure
    ("es", "pon la luz de la cocina al cincuenta por ciento", [("area", "cocina", 1.0), ("brightness", "cincuenta", 0.0)],
     {"area": "Kitchen", "brightness": 50, "domain": "light"}),
    ("fr", "mets la lumière de la cuisine à cinquante pour cent", [("area", "cuisine", 1.0),
                                                                    ("brightness", "cinquante", 0.0)],
     {"area": "Kitchen", "brightness": 50, "domain": "light"}),
    ("es", "pon la luz de la cocina al setenta y cinco por ciento", [("area", "cocina", 1.0),
                                                                     ("brightness", "setenta", 0.0)],
     {"area": "Kitchen", "brightness": 75, "domain": "light"}),
    # the tagger marking no number at all before a trailing "please" (tests/data/home_dev3_en.txt)
    ("en", "set the kitchen lights to ten percent please", [("area", "kitchen", 1.0)],
     {"area": "Kitchen", "brightness": 10, "domain": "light"}),
    ("en", "set the desk lamp to 30 % please", [("name", "desk lamp", 1.0)], {"name": "Desk Lamp", "brightness": 30}),
])
def test_a_percent_said_of_a_light_is_its_brightness(home: names.Names, lang: str, text: str, spans: list,
                                                     expect: dict) -> None:
    assert entities(ask(home, lang, "HassLightSet", text, spans)) == expect


@pytest.mark.parametrize("lang, text, spans", [
    ("en", "set the kitchen to ten percent please", [("area", "kitchen", 1.0)]),         # no light said: volume?
    ("en", "set the kitchen lights to ten please", [("area", "kitchen", 1.0)]),          # no unit: which slot?
    ("en", "set the kitchen lights to ten degrees please", [("area", "kitchen", 1.0)]),  # no unit of a light
    ("en", "set the kitchen lights to ten percent and twenty percent", [("area", "kitchen", 1.0)]),  # two numbers
    ("en", "set the kitchen lights and the speaker to ten percent", [("area", "kitchen", 1.0)]),
    ("es", "pon la luz de la cocina al por ciento", [("area", "cocina", 1.0)]),
    ("en", "percent percent lights", []),
])
def test_a_number_no_unit_ties_to_one_slot_of_a_light_is_refused(home: names.Names, lang: str, text: str,
                                                                  spans: list) -> None:
    assert isinstance(ask(home, lang, "HassLightSet", text, spans), NotUnderstood)


def test_a_volume_with_the_same_words_is_not_a_brightness(home: names.Names) -> None:
    # HassSetVolume's shape is not read by unit: its own level rules stand (edge.home_numbers.volume_set)
    got = ask(home, "en", "HassSetVolume", "set the kitchen speaker to ten percent please",
              [("name", "kitchen speaker", 1.0)])
    assert entities(got) == {"name": "Kitchen Speaker", "volume_level": 10}
