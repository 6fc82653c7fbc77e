"""The home model's training data (edge/train/home.py): Home Assistant's templates sampled
with slots, whole templates held out, bounded sampling, and the files edge train reads."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

pytest.importorskip("hassil")
pytest.importorskip("home_assistant_intents")

from hassil.intents import Intents  # noqa: E402
from home_assistant_intents import get_intents  # noqa: E402

from edge.dataset import load_examples  # noqa: E402
from edge.markup import parse, render  # noqa: E402
from edge.model import normalize_text  # noqa: E402
from edge.train import home  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module", params=home.LANGUAGES)
def generated(request):
    lang = request.param
    return lang, home.generate(lang, per_intent=40, seed=7)


def _spans_ok(plain: str, spans) -> None:
    prev_end = 0
    for s in spans:
        assert 0 <= s.start < s.end <= len(plain), (plain, s)
        assert plain[s.start:s.end] == s.raw
        assert s.raw == s.raw.strip() and s.raw, (plain, s)
        assert s.start >= prev_end, f"overlapping spans in {plain!r}"
        prev_end = s.end


def test_every_language_yields_every_intent(generated):
    lang, g = generated
    want = set(get_intents(lang)["intents"])
    assert {i for _, i, _ in g["train"]} == want
    # and the holdout is not empty: the model card's numbers have something to stand on
    assert len({i for _, i, _ in g["holdout"]}) >= len(want) // 2


def test_markup_round_trips_and_spans_are_inside_the_text(generated):
    _, g = generated
    n_spans = 0
    for marked, _, _ in g["train"] + g["holdout"]:
        plain, spans = parse(marked)
        assert plain and plain == plain.strip() and "  " not in plain
        _spans_ok(plain, spans)
        assert render(plain, spans) == marked
        for sp in spans:   # whole words: never glued to a letter ("{floor}geschoss")
            assert not plain[sp.end:sp.end + 1].isalpha(), marked
            assert not plain[sp.start - 1:sp.start].isalpha() or sp.start == 0, marked
        n_spans += len(spans)
    assert n_spans > len(g["train"]) // 2   # most commands name something


def test_slots_carry_home_assistant_slot_names(generated):
    lang, g = generated
    names = {s.name for marked, _, _ in g["train"] for s in parse(marked)[1]}
    assert {"name", "area", "floor", "brightness", "temperature", "item", "minutes"} <= names
    assert not any(n.startswith(("timer_", "cover_", "shopping_list")) for n in names), names


def test_polarity_stays_in_the_label():
    g = home.generate("en", per_intent=60, seed=3)
    on = [parse(m)[0] for m, i, _ in g["train"] if i == "HassTurnOn"]
    off = [parse(m)[0] for m, i, _ in g["train"] if i == "HassTurnOff"]
    assert any(" on" in t or t.startswith(("open", "lock")) for t in on)
    assert not any(t.startswith(("unlock", "turn off", "switch off")) for t in on)
    assert not any(t.startswith(("lock ", "turn on", "switch on")) for t in off)


def test_template_holdout_keeps_templates_on_one_side(generated):
    lang, g = generated
    tr = {t for *_, t in g["train"]}
    he = {t for *_, t in g["holdout"]}
    assert tr and he and not (tr & he)
    ts = home.templates(lang)
    train_ids, held_ids = home.split_templates(ts, 0.15, 7)
    assert not (train_ids & held_ids) and train_ids | held_ids == {t.id for t in ts}
    # about the asked share held out, and every intent keeps a training template
    assert 0.10 < len(held_ids) / len(ts) < 0.20
    assert {t.intent for t in ts if t.id in train_ids} == {t.intent for t in ts}
    # the same seed, the same split (the package is reproducible); another seed, another split
    assert home.split_templates(ts, 0.15, 7) == (train_ids, held_ids)
    assert home.split_templates(ts, 0.15, 8) != (train_ids, held_ids)


def test_an_intent_with_one_template_is_never_held_out_whole():
    ts = [t for t in home.templates("en") if t.intent == "HassNevermind"][:1]
    train_ids, held_ids = home.split_templates(ts, 0.9, 1)
    assert train_ids == {ts[0].id} and not held_ids


def test_sampling_is_bounded_by_the_template_not_its_expansion():
    # 30 alternatives of 10 words each: 10**30 sentences to enumerate, one walk to sample
    big = " ".join("(" + "|".join(f"w{i}x{j}" for j in range(10)) + ")" for i in range(30))
    intents = Intents.from_dict({"language": "en", "intents": {"Big": {"data": [
        {"sentences": [big + " {area}"]}]}}})
    t = home.Template("Big/0/0", "Big", big, intents.intents["Big"].data[0].sentences[0],
                      intents.expansion_rules)
    lang = home._Lang("en")
    t0 = time.monotonic()
    out = [home.sample(t, lang, random.Random(i)) for i in range(200)]
    assert time.monotonic() - t0 < 5.0
    assert len({p for p, _ in out}) == 200          # random, not the first expansion again
    assert all(s[-1].name == "area" for _, s in out)


def test_a_rule_that_refers_to_itself_fails_instead_of_recursing_forever():
    intents = Intents.from_dict({"language": "en", "expansion_rules": {"loop": "a <loop>"},
                                 "intents": {"L": {"data": [{"sentences": ["<loop>"]}]}}})
    t = home.Template("L/0/0", "L", "<loop>", intents.intents["L"].data[0].sentences[0],
                      intents.expansion_rules)
    with pytest.raises(ValueError, match="nests too deep"):
        home.sample(t, home._Lang("en"), random.Random(0))


def test_generate_stops_at_its_time_limit():
    with pytest.raises(TimeoutError):
        home.generate("en", per_intent=100000, seed=1, time_limit_s=0.5)


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="no language"):
        home.templates("xx-not-a-language")


def test_fill_values_with_markup_characters_are_escaped(monkeypatch):
    # a careless fill list (or a name from a real home) with brackets and parentheses
    lists = {**home.LISTS["en"], "area": ["kid's room (old) [2]"]}
    monkeypatch.setitem(home.LISTS, "en", lists)
    lang = home._Lang("en")
    t = next(t for t in home.templates("en") if "{area}" in t.text)
    plain, spans = home.sample(t, lang, random.Random(0))
    marked = render(plain, spans)
    assert parse(marked) == (plain, spans)
    assert any(s.name == "area" and s.raw.lower() == "kid's room (old) [2]" for s in spans)


def test_written_file_loads_as_edge_train_reads_it(tmp_path):
    g = home.generate("de", per_intent=20, seed=5)
    f = tmp_path / "train.txt"
    home.write_intents(f, g["train"], home.negatives("de"))
    ex = load_examples(f)
    assert len([e for e in ex if e.label == "oos"]) == len(home.negatives("de"))
    by_text = {parse(m)[0]: (i, parse(m)[1]) for m, i, _ in g["train"]}
    for e in ex:
        if e.label != "oos":
            assert by_text[e.text] == (e.label, list(e.spans))


def test_dev_sets_and_negatives_are_not_in_the_training_data():
    for lang in home.LANGUAGES:
        g = home.generate(lang, per_intent=150, seed=13)
        train = {normalize_text(parse(m)[0]) for m, _, _ in g["train"]}
        dev = [e for e in load_examples(DATA / f"home_dev_{lang}.txt")]
        assert len(dev) >= 40
        leaked = [e.text for e in dev if normalize_text(e.text) in train]
        # a paraphrase may coincide with a template ("what time is it"): a few, not the set
        assert len(leaked) <= len(dev) // 5, leaked
        neg = home.negatives(lang)
        assert len(neg) >= 40
        assert not [n for n in neg if normalize_text(n) in train]
        # dev2 is the untouched check: no line of it is a training negative, and few coincide with a template
        dev2 = [e for e in load_examples(DATA / f"home_dev2_{lang}.txt")]
        assert len(dev2) >= 50
        negs = {normalize_text(n) for n in neg}
        assert not [e.text for e in dev2 if normalize_text(e.text) in negs]
        leaked = [e.text for e in dev2 if normalize_text(e.text) in train]
        assert len(leaked) <= len(dev2) // 5, leaked


def test_normalisation_keeps_accented_words():
    assert normalize_text("Mach das Licht in der Küche aus, schließ die Tür") == \
        "mach das licht in der kuche aus schliess die tur"
    assert normalize_text("Éteins la lumière du salón") == "eteins la lumiere du salon"
    assert normalize_text("turn on the kitchen lights!") == "turn on the kitchen lights"


def test_recipe_drops_a_sentence_two_intents_share():
    from edge.train.home_recipe import _drop_conflicts
    rows = [("resume", "HassMediaUnpause", "a/0/0"), ("Resume!", "HassUnpauseTimer", "b/0/0"),
            ("turn on the [fan](name)", "HassTurnOn", "c/0/0"),
            ("turn on the [fan](name)", "HassTurnOn", "c/0/1")]
    keep, dropped = _drop_conflicts(rows)
    assert dropped == 2 and {i for _, i, _ in keep} == {"HassTurnOn"}


def test_recipe_negatives_file_loads_and_leaves_home_intents_out(tmp_path):
    from edge.train.home_recipe import OVERLAP, _negatives, own_negatives
    f = tmp_path / "neg.txt"
    wiki = ["a sentence with [[brackets]] and (parens)", "another ] odd one \\"]
    counts = _negatives(["en", "de"], f, wiki)
    ex = load_examples(f)
    sections = {e.label for e in ex}
    assert not [s for s in sections if s.rsplit(".", 1)[-1] in OVERLAP]
    assert {e.text for e in ex} >= set(wiki)          # escaped on the way in, intact on the way out
    assert counts["wikipedia_more"] == 2 and counts["shipped"] == len(ex) - 2
    own = own_negatives(["en"])["en"]
    held = home.negatives("en")[::3]
    assert own and held and not set(own) & set(held)   # the held-out third is never trained on


def test_edge_train_takes_the_home_recipe_without_data_and_others_still_need_it(tmp_path, capsys):
    import argparse

    from edge.train.cli import add_arguments, recipe_of, run
    p = argparse.ArgumentParser()
    add_arguments(p)
    a = p.parse_args(["--recipe", "home", "--out", str(tmp_path / "m"), "--languages", "en,de"])
    assert recipe_of(a) == "home" and a.per_intent == 250 and a.tagger_prune == 4.0
    b = p.parse_args(["--out", str(tmp_path / "m")])
    assert run(b) == 2
    assert "--data is required" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_names_in_one_domain_blocks_are_names_of_that_domain():
    from edge.train.home_lists import DOMAIN_NAMES
    for lang in ("en", "es"):
        g = home.generate(lang, per_intent=80, seed=2)
        vac = {s.raw.lower() for m, i, _ in g["train"] if i == "HassVacuumStart"
               for s in parse(m)[1] if s.name == "name"}
        assert vac and vac <= {n.lower() for n in DOMAIN_NAMES[lang]["vacuum"]}, vac
        # the generic on/off blocks still draw from every device name
        on = {s.raw.lower() for m, i, _ in g["train"] if i == "HassTurnOn"
              for s in parse(m)[1] if s.name == "name"}
        assert len(on - {n.lower() for n in DOMAIN_NAMES[lang]["vacuum"]}) > 20


def test_the_committed_value_tables_are_what_home_assistants_lists_give():
    """edge/names_values_data.py is generated (python -m edge.train.home_values): it must match the
    installed intents package, so a stale or hand-edited table fails here."""
    from edge import names_values_data
    from edge.train.home_values import build

    built = build()
    assert built["STATES"] == names_values_data.STATES
    assert built["VALUES"] == names_values_data.VALUES
    assert built["NUMBERS"] == names_values_data.NUMBERS
    assert built["STATES"]["es"]["lock_states"]["cerrada"] == "locked"
    assert built["STATES"]["es"]["cover_states"]["cerrada"] == "closed"
    assert built["NUMBERS"]["de"]["dreiundzwanzig"] == 23


def test_schema_signatures_count_the_templates_fixed_slots():
    from edge.train.home_schema import place_domains, signatures

    rows = {lang: home.generate(lang, per_intent=30, seed=7)["train"] for lang in ("en", "de")}
    sig = signatures(rows)
    assert set(sig) == {i for r in rows.values() for _, i, _ in r}
    assert sig["HassSetVolume"] == [["volume_level"]]
    assert [] not in sig["HassSetVolumeRelative"]          # "turn it up" fixes volume_step: up
    assert [] not in sig["HassStartTimer"] and [] not in sig["HassLightSet"]
    assert [] in sig["HassTurnOn"] and [] in sig["HassCancelTimer"]
    assert place_domains(rows).get("HassLightSet") == "light"
