"""Our paraphrase templates (edge/train/home_paraphrases.py): sampled like Home Assistant's,
slots under Home Assistant's names and sets, polarity in the label, the template holdout
and the dev sets kept out of them."""

from __future__ import annotations

import pytest

pytest.importorskip("hassil")
pytest.importorskip("home_assistant_intents")

from pathlib import Path  # noqa: E402

from edge.dataset import load_examples  # noqa: E402
from edge.markup import parse, render  # noqa: E402
from edge.model import normalize_text  # noqa: E402
from edge.train import home, home_paraphrases  # noqa: E402
from edge.train.home_schema import TARGET_SLOTS, signatures  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module", params=home.LANGUAGES)
def both(request):
    """(lang, Home Assistant's rows as the holdout bench samples them, our paraphrase rows)."""
    lang = request.param
    g = home.generate(lang, 200, 13)
    return lang, g, home_paraphrases.generate(lang, 12, 13, exclude=[m for m, _, _ in g["holdout"]])


def test_every_language_has_paraphrases_of_the_common_intents(both):
    lang, g, para = both
    intents = {i for _, i, _ in para}
    assert {"HassTurnOn", "HassTurnOff", "HassGetState", "HassStartTimer", "HassLightSet",
            "HassClimateGetTemperature", "HassGetCurrentTime"} <= intents
    # only intents Home Assistant has in the language: no class the model would not otherwise know
    assert intents <= {i for _, i, _ in g["train"]}
    assert all(t.startswith("para/") for *_, t in para)
    assert len(para) > 500


def test_markup_round_trips_and_slots_are_whole_words(both):
    _, _, para = both
    for marked, _, _ in para:
        plain, spans = parse(marked)
        assert plain == plain.strip() and "  " not in plain and render(plain, spans) == marked
        for s in spans:
            assert plain[s.start:s.end] == s.raw and s.raw == s.raw.strip()
            assert not plain[s.end:s.end + 1].isalpha(), marked
            assert s.start == 0 or not plain[s.start - 1].isalpha(), marked


def test_slot_sets_are_ones_home_assistant_gives_the_intent(both):
    # a paraphrase must not teach a slot set edge/names_schema.py would refuse, nor a slot
    # the intent never carries in Home Assistant's templates
    lang, g, para = both
    ha = {i: {tuple(s) for s in sigs} for i, sigs in signatures({lang: g["train"]}).items()}
    ha_names = {}
    for marked, i, _ in g["train"] + g["holdout"]:   # every template of the intent
        ha_names.setdefault(i, set()).update(s.name for s in parse(marked)[1])
    for marked, i, _ in para:
        names = {s.name for s in parse(marked)[1]}
        assert names <= ha_names[i], (marked, i)
        assert tuple(sorted(names - TARGET_SLOTS)) in ha[i], (marked, i)


# words (normalised, outside the slots) that say the opposite of the label, per language;
# a lock's own words are the exception: "lock" is on, "unlock" off, in Home Assistant
NOT_ON = {"en": {"off", "kill", "cut", "unlock", "close", "shut", "lower", "down"},
          "de": {"aus", "ausmachen", "ausschalten", "abschalten", "zu", "runter", "entriegeln",
                 "entriegel", "entriegele", "entriegle", "aufschliessen", "aufsperren"},
          "fr": {"eteins", "eteint", "coupe", "baisse", "descends", "deverrouille", "arrete",
                 "desactive", "eteindre", "couper"},
          "es": {"apaga", "apagado", "apagada", "baja", "desbloquea", "desconecta", "corta",
                 "quita", "apagar"}}
NOT_OFF = {"en": {"open", "raise", "lock", "power up", "fire up", "turn on", "switch on", "flip on"},
           "de": {"an", "ein", "anmachen", "einschalten", "anschalten", "hoch", "rauf", "offne",
                  "verriegeln", "verriegel", "abschliessen"},
           "fr": {"allume", "allumer", "ouvre", "ouvrir", "remonte", "leve", "monte", "verrouille"},
           "es": {"enciende", "prende", "abre", "sube", "encendido", "encendida", "levanta",
                  "activa", "bloquea"}}


def _outside_slots(marked: str) -> str:
    plain, spans = parse(marked)
    for s in sorted(spans, key=lambda s: -s.start):
        plain = plain[:s.start] + " " + plain[s.end:]
    return " " + normalize_text(plain) + " "


def test_polarity_stays_in_the_label(both):
    lang, _, para = both
    for marked, i, _ in para:
        text = _outside_slots(marked)
        if i == "HassTurnOn":
            bad = {w for w in NOT_ON[lang] if f" {w} " in text.replace(" zu dunkel ", " ")}
            if lang == "fr" and " ferme a cle " in text or lang == "es" and " cierra con llave " in text:
                continue     # locking is on
            assert not bad, (marked, bad)
        elif i == "HassTurnOff":
            bad = {w for w in NOT_OFF[lang] if f" {w} " in text}
            if lang == "de" and " auf " in text.replace(" auf dem ", " ").replace(" auf der ", " "):
                # "schließ die Tür auf" unlocks ("auf dem Balkon" is a place)
                assert " schliess " in text or " schliesse " in text or " sperr " in text, marked
            assert not bad, (marked, bad)
        if lang == "fr" and " ferme " in text and " cle " not in text:
            assert i != "HassTurnOn", marked      # "ferme les volets" closes
        if lang == "es" and " cierra " in text and " llave " not in text:
            assert i != "HassTurnOn", marked


def test_sampling_is_seeded_and_zero_means_none():
    a = home_paraphrases.generate("fr", 3, 5)
    assert a == home_paraphrases.generate("fr", 3, 5)
    assert a != home_paraphrases.generate("fr", 3, 6)
    assert home_paraphrases.generate("en", 0, 5) == []
    assert home_paraphrases.templates("xx") == []


def test_no_paraphrase_is_a_template_holdout_sentence(both):
    # the holdout judges what the model never saw: our writing must not hand it the answers.
    # A few common phrases we wrote are also held-out templates' sentences ("olvídalo"): the
    # recipe excludes them, and without the exclusion they would be there (the check bites)
    lang, g, para = both
    held = {normalize_text(parse(m)[0]) for m, _, _ in g["holdout"]}
    assert not [m for m, _, _ in para if normalize_text(parse(m)[0]) in held]
    if lang == "es":
        raw = home_paraphrases.generate(lang, 12, 13)
        assert [m for m, _, _ in raw if normalize_text(parse(m)[0]) in held]


def test_the_dev_sets_are_not_in_the_paraphrases(both):
    # the paraphrases were written without looking at the dev sets. Short common commands
    # coincide by chance ("what time is it"; measured at the recipe's 12 per template: 2-13 lines
    # of a set, English dev the most with 13 of 74); a copied set would be nearly all of it.
    # Counts only in the message: the dev lines are not for reading.
    lang, _, para = both
    para = {normalize_text(parse(m)[0]) for m, _, _ in para}
    for name in (f"home_dev_{lang}.txt", f"home_dev2_{lang}.txt"):
        dev = [e for e in load_examples(DATA / name) if e.label != "oos"]
        hits = sum(normalize_text(e.text) in para for e in dev)
        assert hits <= len(dev) // 4, f"{name}: {hits} of {len(dev)} lines are paraphrase sentences"
