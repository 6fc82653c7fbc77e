"""Wildcard slots (an item, a message, a search query, a timer's name) read by Home Assistant's carrier
phrases: edge/train/home_wildcards.py writes them from the templates, edge/home_wildcards.py matches them,
edge/home.py's decide takes their spans over the tagger's."""

from __future__ import annotations

import base64
import json
import time
import zlib
from pathlib import Path

import pytest

from edge import home_wildcards as hw
from edge.home import NotUnderstood, Recognized

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "models" / "home"
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((PKG / "manifest.json").read_text(encoding="utf-8"))["home_schema"]


@pytest.fixture(scope="module")
def names_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/data/home_names.yaml and a todo list, Chores."""
    home = (DATA / "home_names.yaml").read_text(encoding="utf-8")
    home = home.replace("entities:\n", "entities:\n  - {id: todo.chores, name: Chores, state: \"2\"}\n", 1)
    path = tmp_path_factory.mktemp("names") / "names.yaml"
    path.write_text(home, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def home(names_path: Path):
    from edge import names
    return names.load(names_path)


def spans(schema: dict, intent: str, lang: str, text: str, names=None) -> dict[str, str] | None:
    got = hw.match(schema, intent, lang, text, names)
    return None if got is None else {slot: text[a:b] for slot, a, b, _ in got}


# --- build time: carrier phrases from the real templates -------------------------------------------------

def test_carriers_from_home_assistants_templates() -> None:
    pytest.importorskip("hassil")
    pytest.importorskip("home_assistant_intents")
    from edge.train.home_wildcards import carriers, wildcards

    pats, rules, words = carriers("en")
    assert {"add", "to", "some"} <= set(words) and not {"milk", "red", "kitchen"} & set(words)
    # the todo list's {name} kept as a capture, "[my|the]" and "[list]" as optionals
    assert "add {item*} to (?:the|my)? {name} (?:list)?" in pats["HassListAddItem"]
    assert any("{message*}" in p for p in pats["HassBroadcast"])
    assert any("{search_query*}" in p for p in pats["HassMediaSearchAndPlay"])
    assert any("{name*}" in p for p in pats["HassCancelTimer"])     # a timer's name is free text
    assert "HassTurnOn" not in pats                                  # no wildcard, no carrier
    for ps in pats.values():                                         # every reference is stored
        for p in ps:
            hw.compile_pattern(hw.expand(p, rules))
            assert "(?!)" not in hw.expand(p, rules)
    table = wildcards(["de"])["de"]
    assert "bitte" in table["skip"]
    assert any("{item*}" in p and "{name}" in p for p in table["carriers"]["HassListAddItem"])


def test_generator_rewrites_only_its_key(tmp_path: Path, schema: dict) -> None:
    """One command, the lead's at merge: the package's other keys and files untouched, the table small."""
    pytest.importorskip("hassil")
    from edge.train.home_wildcards import main

    man = json.loads((PKG / "manifest.json").read_text(encoding="utf-8"))
    del man["home_schema"]["wildcards"]
    (tmp_path / "manifest.json").write_text(json.dumps(man), encoding="utf-8")
    assert main(["--package", str(tmp_path)]) == 0
    new = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert new["home_schema"]["wildcards"] == schema["wildcards"]      # the shipped table is this command's
    assert {k: v for k, v in new["home_schema"].items() if k != "wildcards"} == man["home_schema"]
    assert {k: v for k, v in new.items() if k != "home_schema"} == {k: v for k, v in man.items() if k != "home_schema"}
    assert len(json.dumps(new["home_schema"]["wildcards"])) < 40_000             # tens of KB in the manifest


# --- run time: matching -----------------------------------------------------------------------------------

@pytest.mark.parametrize("intent,lang,text,want", [
    ("HassShoppingListAddItem", "en", "add oat milk to my shopping list", {"item": "oat milk"}),
    ("HassListAddItem", "en", "add bread dough flour to the chores list",
     {"item": "bread dough flour", "name": "chores"}),
    ("HassBroadcast", "en", "broadcast please feed the cat", {"message": "please feed the cat"}),
    ("HassCancelTimer", "en", "cancel lasagna timer", {"name": "lasagna"}),
    ("HassShoppingListAddItem", "de", "füge Hafermilch zur Einkaufsliste hinzu", {"item": "Hafermilch"}),
    # punctuation and case folded; the words kept as said (the comma is no part of the item)
    ("HassShoppingListAddItem", "en", "Add OAT MILK, to my shopping-list!", {"item": "OAT MILK"}),
    # Home Assistant's skip words at either end
    ("HassShoppingListAddItem", "en", "please add oat milk to my shopping list please", {"item": "oat milk"}),
])
def test_match(schema: dict, home, intent: str, lang: str, text: str, want: dict) -> None:
    got = spans(schema, intent, lang, text, home)
    assert got is not None and {k: got[k] for k in want} == want, got


@pytest.mark.parametrize("intent,lang,text", [
    ("HassShoppingListAddItem", "en", "add to my shopping list"),           # nothing to add
    ("HassShoppingListAddItem", "en", "add , to my shopping list"),         # punctuation is no item
    ("HassShoppingListAddItem", "en", "füge Hafermilch zur Einkaufsliste hinzu"),   # German words, English carriers
    ("HassShoppingListAddItem", "fr", "add oat milk to my shopping list"),  # a language's own carriers only
    ("HassTurnOn", "en", "add oat milk to my shopping list"),               # an intent without carriers
    ("HassShoppingListAddItem", "xx", "add oat milk to my shopping list"),  # a language without a table
])
def test_no_match(schema: dict, home, intent: str, lang: str, text: str) -> None:
    assert hw.match(schema, intent, lang, text, home) is None


@pytest.mark.parametrize("text", ["cancel the 5 minute timer", "cancel timer for ninety five hours",
                                  "stop the kitchen timer", "stop the Küche timer"])
def test_a_duration_or_a_place_is_no_timer_name(schema: dict, home, text: str) -> None:
    """HassCancelTimer's own duration and area templates frame these better than "cancel {name} timer":
    the carriers decide nothing and the tagger's duration or area stands."""
    assert hw.match(schema, "HassCancelTimer", "en", text, home) is None


def test_without_names_a_name_could_be_a_place(schema: dict, home) -> None:
    """"cancel lasagna timer" reads as "cancel {area} timer" as well: only a names file without an area
    called lasagna makes it a timer's name."""
    assert hw.match(schema, "HassCancelTimer", "en", "cancel lasagna timer") is None
    assert spans(schema, "HassCancelTimer", "en", "cancel lasagna timer", home) == {"name": "lasagna"}


@pytest.mark.parametrize("stored", [None, {}, "x", {"format": "zlib+base64 json", "data": "!!"},
                                    {"format": "zlib+base64 json", "data": hw.encode([1])["data"]},
                                    {"format": "gzip", "data": ""},
                                    {"format": "zlib+base64 json", "data": base64.b64encode(
                                        zlib.compress(b"[" * (hw.MAX_TABLE + 10))).decode()}])
def test_a_broken_table_is_no_table(stored) -> None:
    """A hand-edited or foreign manifest: no carriers, never an exception, never a decompression bomb."""
    assert hw.tables(stored) == {}
    assert hw.match({"wildcards": stored}, "HassShoppingListAddItem", "en", "add milk to my shopping list") is None


def test_a_broken_pattern_is_skipped() -> None:
    table = {"en": {"skip": [], "rules": {"a": "<a>"}, "carriers": {"HassBroadcast": [
        "broadcast ((", "broadcast <a> {message*}", "broadcast <missing> {message*}", "broadcast {message*}"]}}}
    got = hw.match({"wildcards": hw.encode(table)}, "HassBroadcast", "en", "broadcast feed the cat")
    assert got == [("message", 10, 22, True)]


def test_no_table_keeps_the_taggers_answer(schema: dict) -> None:
    found = [{"name": "item", "raw": "milk", "value": "milk", "start": 8, "end": 12, "confidence": 0.9}]
    text = "add oat milk to my shopping list"
    assert hw.apply(None, "HassShoppingListAddItem", "en", text, found) == found
    assert hw.apply({"signatures": {}}, "HassShoppingListAddItem", "en", text, found) == found
    assert hw.apply(schema, "HassTurnOn", "en", text, found) == found   # the model chose no wildcard intent
    got = hw.apply(schema, "HassShoppingListAddItem", "en", text, found)
    assert [(s["name"], s["raw"], s["start"], s["end"]) for s in got] == [("item", "oat milk", 4, 12)]


@pytest.mark.parametrize("text,found", [
    # the tagger read "attic" as a place: the carrier's timer name "attic" does not overrule it
    ("take 30 seconds off attic timer", [{"name": "area", "raw": "attic", "start": 21, "end": 26}]),
    # the tagger's query covers words the carrier would leave out ("podcast" read as the carrier's)
    ("play podcast about history on tv",
     [{"name": "search_query", "raw": "podcast about history", "start": 5, "end": 26}]),
])
def test_the_tagger_is_extended_never_overruled(schema: dict, home, text: str, found: list) -> None:
    intent = "HassDecreaseTimer" if "timer" in text else "HassMediaSearchAndPlay"
    assert hw.match(schema, intent, "en", text, home) is not None   # a carrier does match
    assert hw.apply(schema, intent, "en", text, found, home) == found


def test_template_words_alone_name_no_timer(schema: dict, home) -> None:
    """A timer named with template words alone ("mir einen") is no name, it is how the sentence is said;
    a span the tagger found is widened with them all the same, as Home Assistant reads it."""
    text = "play some taylor swift"
    found = [{"name": "search_query", "raw": "taylor swift", "start": 10, "end": 22}]
    got = hw.apply(schema, "HassMediaSearchAndPlay", "en", text, found, home)
    assert [(s["raw"], s["start"], s["end"]) for s in got] == [("some taylor swift", 5, 22)]
    text = "stell mir einen timer für zwanzig minuten"
    found = [{"name": "minutes", "raw": "zwanzig", "start": 26, "end": 33}]
    assert hw.apply(schema, "HassStartTimer", "de", text, found, home) == found


def test_a_delayed_command_is_left_to_the_tagger(schema: dict, home) -> None:
    """"in 5 minutes turn off the kettle": HassStartTimer's command wildcard is widened where the tagger
    found it, at the tagger's confidence (an unsure one is refused as before), never filled."""
    text = "in 5 minutes cierra turn off the kettle"
    cmd = {"name": "conversation_command", "raw": "turn off the kettle", "start": 20, "end": 39, "confidence": 0.1}
    found = [{"name": "minutes", "raw": "5", "start": 3, "end": 4}]
    got = hw.apply(schema, "HassStartTimer", "en", text, [*found, cmd], home)
    assert [(s["name"], s["raw"], s["confidence"]) for s in got if s["name"] != "minutes"] == \
        [("conversation_command", "cierra turn off the kettle", 0.1)]
    assert hw.apply(schema, "HassStartTimer", "en", text, found, home) == found


def test_a_long_item_is_taken_whole_and_fast(schema: dict) -> None:
    """500 words of item: every pattern of the intent tried, still linear (captures are lazy, names bounded)."""
    item = " ".join(["bread"] * 500)
    text = f"add {item} to my shopping list"
    t0 = time.perf_counter()
    got = spans(schema, "HassShoppingListAddItem", "en", text)
    worst = time.perf_counter() - t0
    assert got == {"item": item}
    t0 = time.perf_counter()
    for intent in hw.tables(schema["wildcards"])["en"]["carriers"]:             # none of them blows up on it
        hw.match(schema, intent, "en", text + " timer")
    worst = max(worst, time.perf_counter() - t0)
    assert worst < 2.0, f"{worst:.2f} s"


def test_fold_keeps_offsets() -> None:
    for s in ["Füge Hafermilch zur Einkaufsliste hinzu!", "İstanbul’s ½ café", "ÆØÅ ß ﬁ"]:
        assert len(hw.fold(s)) == len(s)
    assert hw.fold("Crème brûlée, s'il te plaît") == "creme brulee  s il te plait"


# --- through HomeRecognizer with the real model -------------------------------------------------------------

@pytest.fixture(scope="module")
def recognizers(names_path: Path):
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(PKG)
    new = HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest), names.load(names_path))
    old = HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest), names.load(names_path))
    old.schema = {k: v for k, v in new.schema.items() if k != "wildcards"}   # what the tagger alone says
    return new, old


@pytest.mark.parametrize("text,lang,intent,want", [
    ("broadcast please feed the cat", "en", "HassBroadcast", {"message": "please feed the cat"}),
    ("add oat milk to my shopping list", "en", "HassShoppingListAddItem", {"item": "oat milk"}),
    ("set a timer for 10 minutes called bread dough", "en", "HassStartTimer", {"minutes": 10, "name": "bread dough"}),
    ("cancel lasagna timer", "en", "HassCancelTimer", {"name": "lasagna"}),
    ("füge Hafermilch zur Einkaufsliste hinzu", "de", "HassShoppingListAddItem", {"item": "Hafermilch"}),
])
def test_recognizer_takes_the_wildcard_as_said(recognizers, text: str, lang: str, intent: str, want: dict) -> None:
    new, _ = recognizers
    got = new.recognize(text, lang)
    assert isinstance(got, Recognized) and got.name == intent and dict(got.entities) == want, got
    free = next(k for k in want if k in ("item", "message", "name"))
    slot = next(s for s in got.slots if s["name"] == free)
    assert text[slot["start"]:slot["end"]] == slot["raw"] == slot["value"]


def test_the_todo_lists_name_is_resolved(recognizers) -> None:
    new, _ = recognizers
    got = new.recognize("add bread dough flour to the chores list", "en")
    if isinstance(got, Recognized):   # the model may read it as the shopping list; never another item
        assert dict(got.entities).get("item") == "bread dough flour", got
        if got.name == "HassListAddItem":
            assert dict(got.entities)["name"] == "Chores"
    unknown = new.recognize("add eggs to the garage list", "en")      # no todo list of that name
    assert not (isinstance(unknown, Recognized) and unknown.name == "HassListAddItem"), unknown


@pytest.mark.parametrize("text,lang", [
    ("add to my shopping list", "en"),                       # nothing to add
    ("add to my shopping list please", "en"),
    ("broadcast", "en"),
    ("add " + " ".join(["oat milk"] * 250) + " to my shopping list", "en"),   # 500 words: too long to act on
])
def test_careless_lines_are_refused(recognizers, text: str, lang: str) -> None:
    new, _ = recognizers
    assert isinstance(new.recognize(text, lang), NotUnderstood)


def test_another_languages_words_change_nothing(recognizers) -> None:
    """German and French words said to the English recognizer: no English carrier matches, so no carrier changes the
    tagger's answer; where that answer is free text alone, no English carrier nor word of its intent frames it, and
    edge/home_slotless.py refuses it (a package without carriers has nothing to judge it by: `old` answers)."""
    new, old = recognizers
    for text in ["füge Hafermilch zur Einkaufsliste hinzu", "ajoute du lait à ma liste de courses"]:
        got, before = new.recognize(text, "en"), old.recognize(text, "en")
        assert got == before or (isinstance(got, NotUnderstood) and "carries only free text" in got.detail
                                 and isinstance(before, Recognized) and {k for k, _ in before.entities} <= {"item"}), \
            (text, got, before)


def test_a_carrier_never_changes_the_intent(recognizers) -> None:
    """Lines whose intent has no carrier get exactly the tagger-only answer."""
    new, old = recognizers
    for text, lang in [("turn off the kitchen lights", "en"), ("what's the temperature in the kitchen", "en"),
                       ("schalte das licht in der küche aus", "de")]:
        assert new.recognize(text, lang) == old.recognize(text, lang)


def test_a_carrier_is_compiled_only_where_the_text_says_what_it_needs() -> None:
    """An unsure line tries every carrier intent (edge/home_rescue.py's family): only the patterns whose literal runs
    the text says are compiled (676 of the English table's for the Wyoming bench's twelve sentences before)."""
    from edge import home_wildcards as W
    from edge.model import Model

    schema = Model.load(ROOT / "models" / "home").manifest["home_schema"]
    W.compile_pattern.cache_clear()
    for intent in W.carrier_intents(schema, "en"):
        W.reading(schema, intent, "en", "what is my checking account balance")
    assert W.compile_pattern.cache_info().currsize < 40, W.compile_pattern.cache_info()
    got = W.reading(schema, "HassShoppingListAddItem", "en", "add oat milk to my shopping list")
    assert got is not None and [c[0] for c in got[0]] == ["item"]


def _live_patterns() -> int:
    import gc
    import re

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, re.Pattern))


def test_compiled_carriers_stay_bounded_under_a_thousand_distinct_patterns() -> None:
    """compile_pattern keeps at most its lru_cache's patterns alive: not re's own cache's 512 more (each pattern was
    kept there too after our cache let it go), nor a package's every pattern (~1,600 carriers x 3 readings)."""
    hw.compile_pattern.cache_clear()
    before = _live_patterns()
    for i in range(1000):   # distinct patterns, as a flood of varied lines compiles them
        assert hw.compile_pattern(f"(?:add|put) {{item*}} to w{i} list", i % 2 == 0).fullmatch(f"add milk to w{i} list")
    bound = hw.compile_pattern.cache_info().maxsize
    assert hw.compile_pattern.cache_info().currsize == bound <= 256
    assert _live_patterns() - before <= bound
    hw.compile_pattern.cache_clear()
    assert _live_patterns() <= before


def test_each_language_s_carriers_are_decoded_when_asked(schema: dict) -> None:
    """The four languages' carriers are one blob in the package; the daemon holds decoded only the languages asked
    (an English home: 24 of 175 KB of JSON), each exactly as stored."""
    stored = schema["wildcards"]
    whole = hw.unpack(stored["data"])
    hw._decode.cache_clear()
    try:
        tables = hw.tables(stored)
        assert sorted(tables) == sorted(whole) and len(tables) == 4
        assert tables["en"] == whole["en"] and tables.get("en") is tables["en"]
        assert list(tables._decoded) == ["en"]   # the other three still packed
        for lang in whole:
            assert tables[lang] == whole[lang]
            assert list(tables[lang]["carriers"]) == list(whole[lang]["carriers"])   # the order patterns are tried in
        assert tables.get("xx") is None and tables.get("") is None
    finally:
        hw._decode.cache_clear()
