"""The model unsure, but the sentence is one of Home Assistant's own templates for its top intent or, read by
that intent's carrier alone, of another intent (edge/home_rescue.py): taken with the carrier's spans; generic
carriers, names not in the file, extra words, another intent's template and a tagger that reads the words
otherwise stay refused.

The real home model, the real fixture names files of bench/home_proxy.py (tests/data/home_fixture_names_<lang>.yaml);
every rescued line is checked to be one the model alone is unsure of, so the tests fail without the rescue."""

from __future__ import annotations

from pathlib import Path

import pytest

import hassil_ha

from edge import home_rescue, home_rivals
from edge.home import NotUnderstood, Recognized, decide
from edge.model import OOS, Prediction

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "models" / "home"
DATA = ROOT / "tests" / "data"
LANGS = ("en", "de", "fr", "es")


@pytest.fixture(scope="module")
def home():
    """(model, {lang: recognizer with that language's fixture home})."""
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(PKG)
    slots = SlotExtractor.load(model.path, model.manifest)
    return model, {lang: HomeRecognizer(model, slots, names.load(DATA / f"home_fixture_names_{lang}.yaml"))
                   for lang in LANGS}


def unsure(home, text: str, lang: str) -> Prediction:
    """The model's prediction, asserted to be one `decide` refuses as unsure on its own."""
    model, recs = home
    pred = model.classify([text])[0]
    assert pred.intent == OOS or pred.confidence < recs[lang].threshold, (text, pred)
    return pred


# in-template lines of the proxy's fixture homes the model alone is unsure of (bench/home_proxy.py, seed 2027)
RESCUED = [
    ("put fix the bike on the Chores list", "en", "HassListAddItem", {"item": "fix the bike", "name": "Chores"}),
    ("delete fix the bike in Chores", "en", "HassListRemoveItem", {"item": "fix the bike", "name": "Chores"}),
    ("play the evening news on Living Room TV", "en", "HassMediaSearchAndPlay",
     {"search_query": "the evening news", "name": "Living Room TV"}),
    ("Fahrrad reparieren aus der Liste Haushalt entfernen", "de", "HassListRemoveItem",
     {"item": "Fahrrad reparieren", "name": "Aufgaben"}),
    ("sag in der ganzen Wohnung bitte die Katze füttern", "de", "HassBroadcast", {"message": "bitte die Katze füttern"}),
    ("cocher nettoyer les gouttières de Corvées", "fr", "HassListCompleteItem",
     {"item": "nettoyer les gouttières", "name": "Tâches"}),
    ("marque en quehaceres limpiar los canalones", "es", "HassListCompleteItem",
     {"item": "limpiar los canalones", "name": "Tareas"}),
]


@pytest.mark.parametrize("text,lang,intent,want", RESCUED)
def test_a_template_sentence_is_taken_on_its_carrier(home, text: str, lang: str, intent: str, want: dict) -> None:
    pred = unsure(home, text, lang)
    got = home[1][lang].recognize(text, lang)
    assert isinstance(got, Recognized) and got.name == intent == pred.top_intent, got
    assert dict(got.entities) == want
    assert got.confidence == pred.confidence            # the model's own, not the carrier's
    assert got.decided.startswith("carrier: ")          # what decided it is said
    free = next(s for s in got.slots if s["name"] in ("item", "message", "search_query"))
    assert text[free["start"]:free["end"]] == free["raw"]


@pytest.mark.parametrize("text,lang", [
    ("play something", "en"),                           # "play {search_query}": a verb and a wildcard
    ("play a game with me", "en"),
    ("announce please feed the cat", "en"),             # "announce {message}": one word of its own
    ("verkünden Bitte die Katze füttern", "de"),
    ("spiele die Nachrichten Stube ab", "de"),          # "spiele {search_query} ab": two
])
def test_a_generic_carrier_rescues_nothing(home, text: str, lang: str) -> None:
    unsure(home, text, lang)
    got = home[1][lang].recognize(text, lang)
    assert isinstance(got, NotUnderstood) and got.reason == "unsure", got


@pytest.mark.parametrize("text,lang", [
    ("put fix the bike on the Groceries list", "en"),    # no list of that name in the file
    ("put fix the bike on the Choers list", "en"),       # slips: fuzzy matching is no template's word
    ("play the evening news on Livng Room TV", "en"),
    ("put fix the bike on the Chore list", "en"),
    ("delete fix the bike in Chores right now", "en"),   # words after the name no template says
    ("delete fix the bike in Chores and unlock the front door", "en"),
    ("Fahrrad reparieren aus der Liste Garage entfernen", "de"),
    ("meinen Miles Daviswiedergabeliste ein Küchenradio wiedergeben", "de"),   # a class word glued on
])
def test_names_not_in_the_file_and_extra_words_are_refused(home, text: str, lang: str) -> None:
    got = home[1][lang].recognize(text, lang)
    assert not (isinstance(got, Recognized) and got.decided), got
    if isinstance(got, Recognized):   # the model itself was sure: then never a list named otherwise
        assert dict(got.entities).get("name") in (None, "Chores", "Aufgaben", "Küchenradio"), got


# in-template lines of the proxy's fixture homes the model alone is unsure of, its top intent the sibling list intent
# of the same act (bench/home_proxy.py, seed 2027): the names file's list, word for word, in the sibling's template
SIBLINGS = [
    ("schreib Bücher zurückbringen in Liste Haushalt", "de", "HassListAddItem",
     {"item": "Bücher zurückbringen", "name": "Aufgaben"}),
    ("Fahrrad reparieren von unserer Liste Einkaufsliste streichen", "de", "HassListCompleteItem",
     {"item": "Fahrrad reparieren", "name": "Einkaufsliste"}),
    ("ajoutez de l'rendre les livres sur liste Liste de courses", "fr", "HassListAddItem",
     {"item": "rendre les livres", "name": "Liste de courses"}),
    ("valide réparer le vélo sur la liste corvées", "fr", "HassListCompleteItem",
     {"item": "réparer le vélo", "name": "Tâches"}),
    ("sume a quehaceres tomates", "es", "HassListAddItem", {"item": "tomates", "name": "Tareas"}),
    ("finaliza en lista de los quehaceres arreglar la bici", "es", "HassListCompleteItem",
     {"item": "arreglar la bici", "name": "Tareas"}),
]


@pytest.mark.parametrize("text,lang,intent,want", SIBLINGS)
def test_a_sibling_list_intent_is_taken_on_its_carrier(home, text: str, lang: str, intent: str, want: dict) -> None:
    pred = unsure(home, text, lang)
    assert pred.top_intent != intent, pred
    got = home[1][lang].recognize(text, lang)
    assert isinstance(got, Recognized) and got.name == intent, got
    assert dict(got.entities) == want
    assert got.confidence == pred.confidence
    assert got.decided.startswith("carrier: ") and got.decided.endswith(f"(over {pred.top_intent})"), got.decided


def test_an_english_sibling_with_the_files_list_is_taken(home) -> None:
    """English: "add fix the bike to Chores", the model's top intent said to be the shopping list's."""
    rec = home[1]["en"]
    kw = dict(served=rec.languages, threshold=rec.threshold, schema=rec.schema)
    got = decide("add fix the bike to Chores", "en", Prediction(OOS, 0.1, "HassShoppingListAddItem"), [], rec.names,
                 **kw)
    assert isinstance(got, Recognized) and got.name == "HassListAddItem", got
    assert dict(got.entities) == {"item": "fix the bike", "name": "Chores"}


@pytest.mark.parametrize("text,lang,top", [
    ("add fix the bike to Garage", "en", "HassShoppingListAddItem"),            # no list of that name in the file
    ("add fix the bike to Chors", "en", "HassShoppingListAddItem"),             # a slip: no exact name
    ("schreib Bücher zurückbringen in Liste Garage", "de", "HassShoppingListAddItem"),
    ("schreib Bücher zurückbringen in Liste Haushalt und Garage", "de", "HassShoppingListAddItem"),   # more words
    ("füge Fahrrad reparieren zu Einkaufsliste hinzu", "de", "HassShoppingListAddItem"),   # "zu": item unclear
    ("add a reminder to call mom", "en", "HassShoppingListAddItem"),           # no home request: no list named
    ("add a reminder to call mom", "en", "HassListAddItem"),
    ("add something", "en", "HassShoppingListAddItem"),                         # a generic carrier
    ("add milk to Chores and unlock the front door", "en", "HassTurnOn"),      # a second command glued on
    ("remind me to add milk to Chores", "en", "HassGetState"),                 # words before no template says
    ("add milk to Chores; turn off all lights", "en", "HassTurnOff"),
])
def test_a_sibling_is_refused_where_its_carrier_does_not_decide(home, text: str, lang: str, top: str) -> None:
    rec = home[1][lang]
    kw = dict(served=rec.languages, threshold=rec.threshold, schema=rec.schema)
    got = decide(text, lang, Prediction(OOS, 0.1, top), [], rec.names, **kw)
    assert isinstance(got, NotUnderstood) and got.reason == "unsure", got


def test_an_unsure_non_home_request_is_not_rescued(home) -> None:
    rec = home[1]["en"]
    got = rec.recognize("add a reminder to call mom", "en")
    assert not (isinstance(got, Recognized) and got.decided), got


def test_the_family_is_the_top_intent_then_every_carrier_intent(home) -> None:
    from edge import home_wildcards
    rec = home[1]["en"]
    got = home_rescue.family(rec.schema, "HassShoppingListAddItem", "en")
    assert got[0] == "HassShoppingListAddItem" and len(got) == len(set(got))
    assert set(got) == set(home_wildcards.carrier_intents(rec.schema, "en")) and "HassListRemoveItem" in got
    assert home_rescue.family(rec.schema, "HassTurnOff", "en")[0] == "HassTurnOff"
    assert home_rescue.family(None, "HassTurnOff", "en") == ["HassTurnOff"]


# in-template lines the model alone is unsure of, its top intent no list intent at all (bench/home_proxy.py)
OTHER_TOP = [
    ("retira en quehaceres limpiar los canalones", "es", "HassListRemoveItem",
     {"item": "limpiar los canalones", "name": "Tareas"}),
    ("enlève nettoyer les gouttières aux corvées", "fr", "HassListRemoveItem",
     {"item": "nettoyer les gouttières", "name": "Tâches"}),
    ("setzt Fahrrad reparieren in unsere Haushalt", "de", "HassListAddItem",
     {"item": "Fahrrad reparieren", "name": "Aufgaben"}),
]


@pytest.mark.parametrize("text,lang,intent,want", OTHER_TOP)
def test_a_list_intent_under_another_top_intent_is_taken(home, text: str, lang: str, intent: str, want: dict) -> None:
    pred = unsure(home, text, lang)
    assert not pred.top_intent.startswith(("HassList", "HassShoppingList")), pred
    got = home[1][lang].recognize(text, lang)
    assert isinstance(got, Recognized) and got.name == intent and dict(got.entities) == want, got


def test_only_a_home_top_intent_is_ever_rescued(home) -> None:
    """A sentence of HassListRemoveItem's templates: taken as that intent whatever Home Assistant intent the model
    put on top (its carrier alone reads it); a top label that is no Home Assistant intent is refused."""
    model, recs = home
    rec = recs["en"]
    text = "delete fix the bike in Chores"
    kw = dict(served=rec.languages, threshold=rec.threshold, schema=rec.schema)
    taken = decide(text, "en", Prediction(OOS, 0.1, "HassListRemoveItem"), [], rec.names, **kw)
    assert isinstance(taken, Recognized) and taken.name == "HassListRemoveItem"
    for top in ("HassListAddItem", "HassTurnOff", "HassShoppingListCompleteItem"):
        got = decide(text, "en", Prediction(OOS, 0.1, top), [], rec.names, **kw)
        assert isinstance(got, Recognized) and got.name == "HassListRemoveItem", (top, got)
        assert got.decided.endswith(f"(over {top})")
    for top in ("smalltalk", "", "Hass\n", "oos"):
        got = decide(text, "en", Prediction(OOS, 0.1, top), [], rec.names, **kw)
        assert isinstance(got, NotUnderstood) and got.reason == "unsure", (top, got)


def test_another_intents_template_saying_it_too_is_ranked_as_home_assistant_does(home) -> None:
    """Where a template of another intent with carriers matches the whole text as well, the words alone do not decide:
    "mettre du X à la liste Tâches" is HassListAddItem's ("à la liste {name}") and HassMediaSearchAndPlay's ("mettre
    {search_query} à {name}"); `_carried` alone refuses each. Home Assistant's ranking does decide (both name the
    list; the same wildcards; HassListAddItem's template says more of its own words), and so does the rescue: HA's
    reading, whatever the model's top intent. "tacha de Lista de la compra X": the to-do list named ranks over the
    shopping list's reading, which names none."""
    from edge import home_wildcards
    _, recs = home
    for text, lang, refused, want in [
            ("mettre du rendre les livres à la liste Tâches", "fr", ("HassListAddItem", "HassMediaSearchAndPlay"),
             ("HassListAddItem", {"item": "rendre les livres", "name": "Tâches"})),
            ("mais aux liste de Tâches Rendre les livres", "fr", ("HassListAddItem", "HassMediaSearchAndPlay"),
             ("HassListAddItem", {"item": "Rendre les livres", "name": "Tâches"})),
            ("tacha de Lista de la compra Arreglar la bici", "es", ("HassShoppingListCompleteItem",),
             ("HassListCompleteItem", {"item": "Arreglar la bici", "name": "Lista de la compra"}))]:
        rec = recs[lang]
        both = [i for i in home_wildcards.carrier_intents(rec.schema, lang)
                if home_rivals.most_names(rec.schema, i, lang, text) is not None]
        assert len(both) > 1 and set(refused) <= set(both), both
        for intent in refused:
            assert home_rescue._carried(rec.schema, intent, lang, text, [], rec.names) is None, intent
            got = home_rescue.rescue(rec.schema, intent, lang, text, [], rec.names)
            assert got is not None and got[0] == want[0] and "(ranked over " in got[2], (intent, got)
        unsure(home, text, lang)
        got = rec.recognize(text, lang)
        assert isinstance(got, Recognized) and (got.name, dict(got.entities)) == want, got


def test_a_named_list_ranks_over_a_carrier_naming_none(home) -> None:
    """"add fix the bike to Shopping List" is HassShoppingListAddItem's "add {item} to my shopping list" too, which
    frames no name: Home Assistant ranks the reading with the home's list named first, and so does the rescue."""
    _, recs = home
    rec = recs["en"]
    text = "add fix the bike to Shopping List"
    unsure(home, text, "en")
    got = rec.recognize(text, "en")
    assert isinstance(got, Recognized) and got.name == "HassListAddItem", got
    assert dict(got.entities) == {"item": "fix the bike", "name": "Shopping List"}
    # the other way round: the shopping list's carrier frames no name, so it never outranks the named reading: the
    # model's top intent said to be the shopping list's, its sibling's reading is taken
    got = home_rescue.rescue(rec.schema, "HassShoppingListAddItem", "en", text, [], rec.names)
    assert got is not None and got[0] == "HassListAddItem", got
    assert home_rescue._carried(rec.schema, "HassShoppingListAddItem", "en", text, [], rec.names) is None


def test_a_media_class_the_carrier_does_not_capture_refuses(home) -> None:
    """"lied X auf die Fernseher wiedergeben": HA reads media_class track; the carrier matches "lied" as its own
    word and captures nothing for it: the reply would lack the class, so no rescue."""
    _, recs = home
    rec = recs["de"]
    text = "lied Regengeräusche auf die Fernseher wiedergeben"
    unsure(home, text, "de")
    assert home_rescue.rescue(rec.schema, "HassMediaSearchAndPlay", "de", text, [], rec.names) is None


def test_no_names_file_no_rescue_of_a_named_list(home) -> None:
    model, recs = home
    rec = recs["en"]
    got = decide("put fix the bike on the Chores list", "en", Prediction(OOS, 0.1, "HassListAddItem"), [], None,
                 served=rec.languages, threshold=rec.threshold, schema=rec.schema)
    assert isinstance(got, NotUnderstood) and got.reason == "unsure"


def test_no_schema_no_rescue(home) -> None:
    _, recs = home
    rec = recs["en"]
    for schema in (None, {}, {"wildcards": {"format": "zlib+base64 json", "data": "not base64!"}}):
        got = decide("put fix the bike on the Chores list", "en", Prediction(OOS, 0.1, "HassListAddItem"), [],
                     rec.names, served=rec.languages, threshold=rec.threshold, schema=schema)
        assert isinstance(got, NotUnderstood) and got.reason == "unsure"


def test_a_confident_answer_says_nothing_decided_it(home) -> None:
    _, recs = home
    got = recs["en"].recognize("turn off the Desk Lamp", "en")
    assert isinstance(got, Recognized) and got.decided == "", got


# sure list answers of the model that Home Assistant's ranking gives to a sibling list intent: the fixture homes have
# to-do lists called what the shopping list's templates say ("Shopping List", "Lista de la compra"), and only the
# template's structure tells them apart (hassil 3.13.1's recognize_ranked, best_slot_name="name", gives these answers)
OVERRULED = [
    ("add oat milk to my shopping list", "en", "HassListAddItem", {"item": "oat milk", "name": "Shopping List"}),
    ("apuntar arroz en Lista de la compra", "es", "HassListAddItem", {"item": "arroz", "name": "Lista de la compra"}),
    ("tachá en Lista de la compra Limpiar los canalones", "es", "HassListCompleteItem",
     {"item": "Limpiar los canalones", "name": "Lista de la compra"}),
    ("sume filtros de café a mi lista de la compra", "es", "HassShoppingListAddItem", {"item": "filtros de café"}),
    ("quitar en mi lista de la compra filtros de café", "es", "HassShoppingListCompleteItem", {"item": "filtros de café"}),
    ("hake Bücher zurückbringen von Einkaufsliste ab", "de", "HassListCompleteItem",
     {"item": "Bücher zurückbringen", "name": "Einkaufsliste"}),
]


@pytest.mark.parametrize("text,lang,intent,want", OVERRULED)
def test_a_sure_list_answer_follows_home_assistants_ranking(home, text: str, lang: str, intent: str, want: dict) -> None:
    """The model is sure of another list intent (its words are the same for both); HA's reading is taken, with the
    model's confidence, and what decided it is said."""
    model, recs = home
    rec = recs[lang]
    pred = model.classify([text])[0]
    assert pred.intent != intent and pred.intent in home_rescue.LIST_INTENTS and pred.confidence >= rec.threshold, pred
    got = rec.recognize(text, lang)
    assert isinstance(got, Recognized) and got.name == intent, got
    assert dict(got.entities) == want
    assert got.confidence == pred.confidence and "(ranked over" in got.decided or got.decided.startswith("carrier: ")


def _hassil_best(lang: str, text: str) -> tuple[str, dict] | None:
    """Home Assistant's answer: hassil's `recognize_best(..., best_slot_name="name")` over HA's templates of `lang`,
    with the fixture home's names, areas and floors as slot lists (a thing's names with its domain as context, as the
    default agent builds them); (intent, slot values) or None. Skips the test where hassil is not installed."""
    best = hassil_ha.best(text, lang, DATA / f"home_fixture_names_{lang}.yaml")
    return None if best is None else (best.intent.name, {k: v.value for k, v in best.entities.items()})


def test_a_tie_is_broken_as_hassil_breaks_it(home) -> None:
    """"stoppe Fernseher": HassMediaPause's and HassTurnOff's templates both read it, the same name, the same literal
    word: a full tie, which hassil 3.13 breaks on the intent's name (`_get_result_score`'s last key, lowest first):
    HassMediaPause. The model alone is unsure; the rescue answers what Home Assistant answers, and says it was a tie."""
    _, recs = home
    rec = recs["de"]
    text = "stoppe Fernseher"
    order = home_rivals.rank(rec.schema, "de", text, rec.names)
    assert [r.intent for r in order] == ["HassMediaPause", "HassTurnOff"]
    assert order[0].key == order[1].key and home_rivals.tied(order) and home_rivals.first(order) is order[0]
    unsure(home, text, "de")
    got = rec.recognize(text, "de")
    assert isinstance(got, Recognized) and got.name == "HassMediaPause", got
    assert dict(got.entities) == {"name": "Fernseher"}
    assert "(tied with, first by name over HassTurnOff)" in got.decided


@pytest.mark.parametrize("text,lang", [("stoppe Fernseher", "de")])
def test_a_tied_line_is_answered_as_hassil_answers_it(home, text: str, lang: str) -> None:
    """The tie's answer is hassil's own, checked against hassil where it is installed (skipped otherwise)."""
    _, recs = home
    rec = recs[lang]
    assert home_rivals.tied(home_rivals.rank(rec.schema, lang, text, rec.names))
    got = rec.recognize(text, lang)
    assert isinstance(got, Recognized) and _hassil_best(lang, text) == (got.name, dict(got.entities)), got


def test_the_order_of_a_tie_is_the_names_not_the_templates(home) -> None:
    """A tie's first is the lowest intent name whatever order the intents were weighed in: `rank` of the list
    intents alone, and of all of them, agree on every reading they share."""
    _, recs = home
    rec = recs["de"]
    text = "stoppe Fernseher"
    whole = home_rivals.rank(rec.schema, "de", text, rec.names)
    for only in (["HassTurnOff", "HassMediaPause"], ["HassMediaPause", "HassTurnOff"]):
        assert [r.intent for r in home_rivals.rank(rec.schema, "de", text, rec.names, only)] == \
            [r.intent for r in whole]
    # one reading alone is no tie and no ranking: the callers' own rules decide it
    alone = home_rivals.rank(rec.schema, "de", text, rec.names, ["HassTurnOff"])
    assert [r.intent for r in alone] == ["HassTurnOff"] and home_rivals.first(alone) is None
    assert not home_rivals.tied(alone)


def test_a_tie_whose_first_fails_its_guards_stays_refused(home) -> None:
    """The tie's first reading goes through every guard of its kind, and no second reading is tried where it fails:
    the tagger read "Fernseher" as a place (another slot over the template's name: two readings of one intent,
    `tagger_disagrees`), so "stoppe Fernseher" is refused, not handed to HassTurnOff; a name the home lacks ties
    nothing ("stoppe Kühlschrank": no reading of either intent)."""
    _, recs = home
    rec = recs["de"]
    text = "stoppe Fernseher"
    place = [{"name": "area", "entity": "area", "raw": "Fernseher", "value": "Fernseher", "start": 7, "end": 16,
              "confidence": 0.9}]
    assert home_rescue.ranked(rec.schema, "de", text, place, rec.names) is None
    assert home_rescue.ranked(rec.schema, "de", text, [], rec.names)[0] == "HassMediaPause"
    for other in ("stoppe Kühlschrank", "stoppe Fernseher Fernseher", "Fernseher stoppe", "stoppe " * 50, ""):
        assert home_rescue.ranked(rec.schema, "de", other, [], rec.names) is None, other
    got = rec.recognize("stoppe Kühlschrank", "de")
    assert not isinstance(got, Recognized) or got.name not in ("HassMediaPause", "HassTurnOff"), got


def test_a_list_the_home_lacks_ranks_nothing(home, tmp_path) -> None:
    """The same words in a home without a list "Lista de la compra": HassListAddItem has no reading (a name must be
    the file's, letter for letter), so the shopping list's stands; a name said with a word the template does not
    have ("mi Lista de la compra" after "a") is no name to hassil either; no names file, no name ranked."""
    import yaml

    from edge import names

    _, recs = home
    rec = recs["es"]
    data = yaml.safe_load((DATA / "home_fixture_names_es.yaml").read_text(encoding="utf-8"))
    data["entities"] = [e for e in data["entities"] if e["id"] != "todo.lista_compra"]
    path = tmp_path / "names_es.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    lacking = names.load(path)
    text = "apuntar arroz en Lista de la compra"
    assert [r.intent for r in home_rivals.rank(rec.schema, "es", text, rec.names)][0] == "HassListAddItem"
    assert "HassListAddItem" not in [r.intent for r in home_rivals.rank(rec.schema, "es", text, lacking)]
    assert all(not r.key[0] for r in home_rivals.rank(rec.schema, "es", text, None))
    assert home_rescue.overrule(rec.schema, "HassShoppingListAddItem", "es", text, [], lacking) is None
    order = home_rivals.rank(rec.schema, "es", "sume filtros de café a mi lista de la compra", rec.names)
    assert [r.intent for r in order] == ["HassShoppingListAddItem"]


@pytest.mark.parametrize("text", [
    "apuntar qqqqqqqqqqqqqqqqqq en Lista de la compra",     # the mask's own letters said
    "apuntar (.*)+ en Lista de la compra$",                # regex-like words
    "añade arroz en " + "Lista de la compra " * 26,         # a name said over and over, up to decide's bound
    "\x00\u202e lista de la compra",
])
def test_what_an_attacker_sends_is_ranked_in_bounded_time(home, text: str) -> None:
    import time

    _, recs = home
    rec = recs["es"]
    start = time.perf_counter()
    order = home_rivals.rank(rec.schema, "es", text[:512], rec.names)
    assert time.perf_counter() - start < 2.0
    assert all(r.intent.startswith("Hass") for r in order)
    got = rec.recognize(text[:512], "es")
    if text.startswith("apuntar qqq"):   # the user's "qqq…" is the item, never the masked name
        assert isinstance(got, Recognized) and dict(got.entities) == {"item": "qqqqqqqqqqqqqqqqqq",
                                                                      "name": "Lista de la compra"}, got
    elif isinstance(got, Recognized):     # whatever is answered carries words said, each on its own place
        assert all(text[s["start"]:s["end"]] == s["raw"] for s in got.slots), got


def test_a_long_free_text_is_fast_and_safe(home) -> None:
    """500 words inside a carrier: refused (too long) before any pattern runs; 60 words: one scan per pattern."""
    import time
    _, recs = home
    rec = recs["en"]
    assert isinstance(rec.recognize("delete " + "fix the bike " * 170 + "in Chores", "en"), NotUnderstood)
    t0 = time.perf_counter()
    home_rescue.rescue(rec.schema, "HassListRemoveItem", "en", "delete " + "a " * 60 + "in Chores", [], rec.names)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("text,lang,want", [
    # the first reading's {name} "Shopping" names nothing; the long one's "Shopping List" is the file's todo list
    ("add fix the bike to Shopping List", "en", {"item": "fix the bike", "name": "Shopping List"}),
    # the first reading's item "Dachrinne", name "reinigen Haushalt"; the long free text's item, name "Haushalt"
    ("Dachrinne reinigen Haushalt hinzufügen", "de", {"item": "Dachrinne reinigen", "name": "Haushalt"}),
    ("Kaffeefilter zur der Einkaufsliste hinzufügen", "de", {"item": "Kaffeefilter", "name": "Einkaufsliste"}),
    # "Einkaufs Liste" resolves to the list Einkaufsliste, but is not its name word for word: no long reading
    ("Kaffeefilter zur der Einkaufs Liste hinzufügen", "de", None),
])
def test_a_long_reading_takes_only_names_said_word_for_word(home, text: str, lang: str, want: dict | None) -> None:
    """The rescue's readings (`reading`); a sure model's carrier (`match`) takes the long names', never the long
    free text's."""
    from edge import home_wildcards
    rec = home[1][lang]
    got = home_wildcards.reading(rec.schema, "HassListAddItem", lang, text, rec.names)
    assert (None if got is None else {slot: text[a:e] for slot, a, e, _ in got[0]}) == want
    sure = home_wildcards.match(rec.schema, "HassListAddItem", lang, text, rec.names)
    assert (None if sure is None else {slot: text[a:e] for slot, a, e, _ in sure}) == \
        (None if text.startswith("Dachrinne") else want)


def test_a_message_may_say_a_duration_a_timers_name_may_not(home) -> None:
    """A unit word in a broadcast's message is the message's ("the movie starts in ten minutes"); in a timer's
    name it is a duration no template placed, and stays refused."""
    rec = home[1]["en"]
    got = rec.recognize("broadcast that the movie starts in ten minutes", "en")
    assert isinstance(got, Recognized) and got.name == "HassBroadcast", got
    assert dict(got.entities) == {"message": "the movie starts in ten minutes"}
    refused = rec.recognize("pause the ninety eight minute and 30 second timer", "en")
    assert not (isinstance(refused, Recognized) and "name" in dict(refused.entities)), refused


# the model sure of HassListAddItem / HassListCompleteItem, which need a list's name, and no list of the file said:
# only the shopping list's carrier reads the sentence with the home's names (bench/home_proxy.py, seed 2027)
SHOPPING = [
    ("put coffee filters in my list", "HassShoppingListAddItem"),
    ("add coffee filters to the list", "HassShoppingListAddItem"),
    ("complete coffee filters from the list", "HassShoppingListCompleteItem"),
]


@pytest.mark.parametrize("text,intent", SHOPPING)
def test_a_list_the_home_has_not_is_no_rival_reading(home, text: str, intent: str) -> None:
    """"put {item} in [my] {name}" (HassListAddItem) reads "put coffee filters in my list" too, with a list "list"
    the home has not: that is no reading Home Assistant's matcher takes, so it does not block the shopping list's."""
    _, recs = home
    rec = recs["en"]
    rival = intent.replace("Shopping", "")
    assert home_rivals.most_names(rec.schema, rival, "en", text)   # the rival's template frames a name ...
    assert not home_rivals.reads_with_home_names(rec.schema, rival, "en", text, rec.names)   # ... not the home's
    got = rec.recognize(text, "en")
    assert isinstance(got, Recognized) and got.name == intent, got
    assert dict(got.entities) == {"item": "coffee filters"}


def test_a_rival_reading_with_the_homes_list_outranks_the_shopping_list(home) -> None:
    """Where the rival's template frames a list of the file, even split otherwise by one regex match ("en [la] lista de
    {name}" over "en Lista de la compra", a to-do list of the Spanish home), it counts: the shopping list's carrier
    alone is refused, and Home Assistant's ranking (the list named first) answers the to-do list's reading."""
    _, recs = home
    rec = recs["es"]
    text = "quita arreglar la bici en Lista de la compra"
    assert home_rivals.reads_with_home_names(rec.schema, "HassListRemoveItem", "es", text, rec.names)
    assert home_rescue._carried(rec.schema, "HassShoppingListCompleteItem", "es", text, [], rec.names) is None
    got = home_rescue.rescue(rec.schema, "HassShoppingListCompleteItem", "es", text, [], rec.names)
    assert got is not None and got[0] == "HassListRemoveItem", got
    got = rec.recognize(text, "es")
    assert isinstance(got, Recognized) and got.name == "HassListRemoveItem", got
    assert dict(got.entities) == {"item": "arreglar la bici", "name": "Lista de la compra"}
