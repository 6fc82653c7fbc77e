"""On/off polarity never flips (edge/home_polarity.py, issue 22): an on/off reply whose words say only the
opposite is refused, whatever the thing; words that are also prepositions or particles are read in context.

`decide` gets what the model and the tagger give it, with the real names file tests/data/home_names.yaml and
the real `home_schema` of models/home, as tests/test_home_recall.py does; the last test runs the real model.
The false refusals the check costs and the flips it catches are measured on the template holdouts, the dev
sets and dev2 (docs/model-card-home-history.md).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from edge import home_polarity, names
from edge.home import NotUnderstood, Recognized

from test_home_recall import SCHEMA, ask  # the real names file and schema, the same `decide` call

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_names.yaml"


@pytest.fixture(scope="module")
def home() -> names.Names:
    return names.load(NAMES)


@pytest.mark.parametrize("lang, intent, text, spans", [
    # the flip the German holdout had: "aufschalten" is said only by HA's on templates
    ("de", "HassTurnOff", "den Wasserkocher aufschalten", [("name", "Wasserkocher")]),
    ("en", "HassTurnOff", "turn on the kettle", [("name", "kettle")]),
    ("en", "HassTurnOn", "switch the coffee maker off", [("name", "coffee maker")]),
    ("en", "HassTurnOff", "activate the christmas tree", [("name", "christmas tree")]),
    ("de", "HassTurnOn", "mach den Fernseher aus", [("name", "Fernseher")]),
    ("de", "HassTurnOff", "schalte das Licht in der Küche ein", [("area", "Küche")]),
    ("fr", "HassTurnOn", "éteins la télé", [("name", "télé")]),
    ("fr", "HassTurnOff", "allume la lumière de la cuisine", [("area", "cuisine")]),
    ("es", "HassTurnOn", "apaga la cafetera", [("name", "cafetera")]),
    ("es", "HassTurnOff", "enciende las luces de la cocina", [("area", "cocina")]),
])
def test_words_that_say_only_the_opposite_are_refused(home: names.Names, lang: str, intent: str, text: str,
                                                      spans: list) -> None:
    got = ask(home, lang, intent, text, [(k, w, 0.99) for k, w in spans])
    assert isinstance(got, NotUnderstood) and got.reason == "polarity", got


@pytest.mark.parametrize("lang, intent, text, spans", [
    # prepositions that are also particles: "on the ..." in an off command, "aus der Küche" in an on command
    ("en", "HassTurnOff", "turn off the lights on the first floor", [("floor", "first floor")]),
    ("en", "HassTurnOn", "turn on the lights on the first floor", [("floor", "first floor")]),
    ("en", "HassTurnOff", "switch the lights on the ground floor off", [("floor", "ground floor")]),
    ("de", "HassTurnOn", "schalte die Stehlampe aus dem Wohnzimmer an", [("name", "Stehlampe")]),
    ("de", "HassTurnOn", "mach den Fernseher auf dem Sofa an", [("name", "Fernseher")]),
    ("de", "HassTurnOff", "schalte ein Licht in der Küche aus", [("area", "Küche")]),
    # a name that holds an opposite's word: blanked ("Light Strip" has no verb; neither has a place)
    ("en", "HassTurnOn", "the light strip please", [("name", "light strip")]),
    # words of no side (a careless user, a paraphrase HA's templates lack): nothing to contradict
    ("en", "HassTurnOn", "lights in the kitchen, now", [("area", "kitchen")]),
    ("en", "HassTurnOn", "turn on the lights everywhere in the kitchen", [("area", "kitchen")]),
    ("fr", "HassTurnOff", "éteins tout de suite et partout la cuisine", [("area", "cuisine")]),
    ("es", "HassTurnOn", "pon en marcha la cafetera", [("name", "cafetera")]),
])
def test_what_says_its_own_side_or_nothing_is_kept(home: names.Names, lang: str, intent: str, text: str,
                                                   spans: list) -> None:
    got = ask(home, lang, intent, text, [(k, w, 0.99) for k, w in spans])
    assert isinstance(got, Recognized) and got.name == intent, got


def test_a_name_that_says_an_opposite_word_is_no_verb(tmp_path: Path) -> None:
    (tmp_path / "names.yaml").write_text(
        "areas:\n  - {id: den, name: Den}\nentities:\n"
        "  - {id: switch.off_grid, name: Off Grid Inverter, area: den}\n"
        "  - {id: light.on_air, name: On Air Sign, area: den}\n", encoding="utf-8")
    home = names.load(tmp_path / "names.yaml")
    assert isinstance(ask(home, "en", "HassTurnOn", "turn on the off grid inverter",
                          [("name", "off grid inverter", 0.99)]), Recognized)
    assert isinstance(ask(home, "en", "HassTurnOff", "turn off the on air sign", [("name", "on air sign", 0.99)]),
                      Recognized)
    got = ask(home, "en", "HassTurnOff", "turn on the off grid inverter", [("name", "off grid inverter", 0.99)])
    assert isinstance(got, NotUnderstood) and got.reason == "polarity"


def test_locks_covers_and_valves_keep_their_own_words(home: names.Names) -> None:
    # "open" is HassTurnOn for a cover, but never contradicts a lock's HassTurnOff (names_schema's check)
    assert home_polarity.onoff_misfit("HassTurnOff", "en", "open the front door", [], {"lock"}) is None
    assert home_polarity.onoff_misfit("HassTurnOn", "en", "turn off the front door", [], {"lock"}) is None
    assert home_polarity.onoff_misfit("HassTurnOn", "en", "turn off it", [], {"light"}) is not None


@pytest.mark.parametrize("text, lang, want", [
    ("turn off the lights on the porch", "en", ["turn", "turn>off", "off<f", "lights", "lights>on", "on<f", "porch"]),
    ("das Licht aus der Küche", "de", ["licht", "licht>aus", "aus<f", "kuche"]),
    ("mach xslotx aus", "de", ["mach", "_>aus", "aus<$"]),
    ("", "en", []),
    ("on", "en", ["on<$"]),
])
def test_particles_are_read_in_context(text: str, lang: str, want: list) -> None:
    assert home_polarity.tokens(text, lang) == want


@pytest.mark.parametrize("junk", ["", " ", "\u0000on", "off " * 300, "🔌 off", "ＯＦＦ", "of\u0308f"])
def test_odd_text_is_read_without_error(junk: str) -> None:
    # what a careless or hostile client sends: the check answers, it never raises
    for intent in ("HassTurnOn", "HassTurnOff", "HassGetState"):
        got = home_polarity.onoff_misfit(intent, "en", junk, [{"name": "name", "start": -5, "end": 10 ** 6}],
                                         {"light"})
        assert got is None or isinstance(got, str)
    assert home_polarity.onoff_misfit("HassTurnOn", "xx", "off", [], {"light"}) is None  # no table: no check


def test_the_table_is_what_home_assistants_templates_give() -> None:
    """Re-derive ONOFF_WORDS for English and German from the intents package (the method in edge/home_polarity's
    docstring) and compare: the table is data, not hand-picked."""
    pytest.importorskip("hassil")
    pytest.importorskip("home_assistant_intents")
    from collections import Counter

    from edge.train.home import _Lang, sample, templates

    for lang in ("en", "de"):
        L, rng = _Lang(lang), random.Random(f"13/{lang}/onoff")
        ts = [t for t in templates(lang) if t.intent in ("HassTurnOn", "HassTurnOff")]

        def doms(t: Any) -> set:
            return set(t.domains) | ({t.fixed["domain"]} if isinstance(t.fixed.get("domain"), str) else set())

        sides: dict[str, set] = {}
        for t in ts:
            for d in doms(t):
                sides.setdefault(d, set()).add(t.intent)
        counts: dict[str, Counter] = {"HassTurnOn": Counter(), "HassTurnOff": Counter()}
        per: dict[tuple, Counter] = {}
        for t in ts:
            if doms(t) & home_polarity.OWN_DOMAINS or any(len(sides[d]) < 2 for d in doms(t)):
                continue
            for _ in range(60):
                text, spans = sample(t, L, rng)
                for a, b, *_ in sorted(spans, key=lambda sp: -sp[0]):
                    text = text[:a] + f" {home_polarity.SLOT} " + text[b:]
                toks = set(home_polarity.tokens(text, lang))
                counts[t.intent].update(toks)
                for d in doms(t):
                    per.setdefault((d, t.intent), Counter())[""] += 1
                    per[(d, t.intent)].update(toks)
        drop = home_polarity._NOT_VERBS[lang]
        for intent, other in (("HassTurnOn", "HassTurnOff"), ("HassTurnOff", "HassTurnOn")):
            often = {w for (d, i), c in per.items() if i == intent for w, m in c.items()
                     if w and m >= 0.02 * c[""]}
            want = {w for w in counts[intent] if w not in counts[other] and w in often
                    and w.split(">")[-1].split("<")[0] not in drop}
            assert home_polarity.ONOFF_WORDS[lang][intent] == want, (lang, intent)
