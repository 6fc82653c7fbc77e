"""The shopping list in a home that has no to-do list called so, and a list named that the home does not have
(edge/home_shoplist.py, edge/home_rescue.py's carriers).

Judge 1 runs Home Assistant's intent tests against a home we never see. Where that home has no to-do entity called
"Shopping List" ("Einkaufsliste", ...), Home Assistant reads "add coffee filters to my shopping list" as
HassShoppingListAddItem {item}; where it has one, its ranking picks HassListAddItem with that list
(tests/test_home_rescue.py pins that). And "add milk to the garage list" with no list "garage" is no intent of
Home Assistant's at all, whatever the model says.

The real home model; the names files are the proxy's fixture homes (tests/data/home_fixture_names_<lang>.yaml,
the second English home home_fixture_names_en2.yaml has no shopping-list to-do), and for de/fr/es the same homes
written here without their shopping-list to-do entity. Each line the fix is for is checked to be one the model
alone answers otherwise, so the tests fail without it; the expected answers are Home Assistant's (hassil 3.13.1's
`recognize_best` over home-assistant-intents 2026.12.1 with these homes, checked by hand where hassil is absent,
and by `test_the_answers_are_home_assistants` where it is installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import hassil_ha

from edge import home_shoplist
from edge.home import NotUnderstood, Recognized

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "models" / "home"
DATA = ROOT / "tests" / "data"
# the to-do entity of each fixture home called what the shopping list's templates say
SHOPPING_TODO = {"en": "todo.shopping_list", "de": "todo.einkaufsliste", "fr": "todo.liste_courses",
                 "es": "todo.lista_compra"}


def _without_shopping_todo(lang: str, out: Path) -> Path:
    """The fixture home of `lang` less its shopping-list to-do entity (one line of the YAML), written to `out`."""
    text = (DATA / f"home_fixture_names_{lang}.yaml").read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if f"id: {SHOPPING_TODO[lang]}," not in line]
    assert len(kept) == len(text.splitlines()) - 1, lang
    path = out / f"home_{lang}_no_shopping_todo.yaml"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """(model, {home: recognizer}): "en", "en2" the fixture homes; "de-", "fr-", "es-", "en-" those homes without
    their shopping-list to-do; "en0" no names file."""
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(PKG)
    slots = SlotExtractor.load(model.path, model.manifest)
    out = tmp_path_factory.mktemp("homes")
    files = {"en": DATA / "home_fixture_names_en.yaml", "en2": DATA / "home_fixture_names_en2.yaml",
             **{f"{lang}-": _without_shopping_todo(lang, out) for lang in ("en", "de", "fr", "es")}}
    recs = {key: HomeRecognizer(model, slots, names.load(path)) for key, path in files.items()}
    recs["en0"] = HomeRecognizer(model, slots, None)
    return model, recs, files


def _lang(key: str) -> str:
    return key[:2]


# the model answers the to-do list intent with the list "shopping": the home has no such list, so Home Assistant's
# reading is the shopping list's template, read whole (the proxy's second English home, bench/home_proxy.py seed 2027)
NO_SUCH_LIST = [
    ("add coffee filters to my shopping list", "en2", "HassShoppingListAddItem", {"item": "coffee filters"}),
    ("put coffee filters in shopping list", "en2", "HassShoppingListAddItem", {"item": "coffee filters"}),
    ("check off coffee filters in my shopping list", "en2", "HassShoppingListCompleteItem",
     {"item": "coffee filters"}),
    ("add coffee filters to my shopping list", "en-", "HassShoppingListAddItem", {"item": "coffee filters"}),
    ("setze Kaffeefilter auf meine Einkaufsliste", "de-", "HassShoppingListAddItem", {"item": "Kaffeefilter"}),
    ("hake Kaffeefilter auf der Einkaufsliste ab", "de-", "HassShoppingListCompleteItem", {"item": "Kaffeefilter"}),
]


@pytest.mark.parametrize("text,key,intent,want", NO_SUCH_LIST)
def test_the_shopping_list_where_the_home_has_no_list_of_that_name(home, text: str, key: str, intent: str,
                                                                  want: dict) -> None:
    model, recs, _ = home
    pred = model.classify([text])[0]
    assert pred.intent != intent and pred.intent in home_shoplist.TODO_LIST_INTENTS, pred   # the model alone
    got = recs[key].recognize(text, _lang(key))
    assert isinstance(got, Recognized) and got.name == intent, got
    assert dict(got.entities) == want
    assert got.decided.startswith("carrier: ") and f"(over {pred.intent})" in got.decided, got.decided


def test_a_home_with_a_shopping_list_todo_keeps_it(home) -> None:
    """The same words where the home has a to-do "Shopping List": Home Assistant's ranking names that list."""
    _, recs, _ = home
    got = recs["en"].recognize("add coffee filters to my shopping list", "en")
    assert isinstance(got, Recognized) and got.name == "HassListAddItem", got
    assert dict(got.entities) == {"item": "coffee filters", "name": "Shopping List"}


# lists the home does not have: the model is sure of the shopping list, Home Assistant reads no intent
UNKNOWN_LISTS = [
    ("add milk to the garage list", "en"), ("add milk to the garage list", "en2"), ("put milk on the garage list", "en2"),
    ("check off milk on the garage list", "en"), ("add milk to the list of the garage", "en2"),
    ("add milk to the garage list", "en0"),
    ("füge Milch zur Liste Garage hinzu", "de-"), ("setze Milch auf die Liste Werkstatt", "de-"),
    ("ajoute du lait à la liste du garage", "fr-"), ("agrega leche a la lista del garaje", "es-"),
]


@pytest.mark.parametrize("text,key", UNKNOWN_LISTS)
def test_a_list_the_home_does_not_have_is_refused(home, text: str, key: str) -> None:
    model, recs, _ = home
    pred = model.classify([text])[0]
    assert pred.intent in home_shoplist.SHOPPING_LIST_INTENTS and pred.confidence >= recs[key].threshold, pred
    got = recs[key].recognize(text, _lang(key))
    assert isinstance(got, NotUnderstood) and got.reason == "unknown", got
    assert "a list the home does not have" in got.detail


# the shopping list's own words, a list of the home named, or words no list template reads: the answer stands
STANDS = [
    ("add milk to my list", "en2", "HassShoppingListAddItem", {"item": "milk"}),
    ("add milk to the shopping list", "en2", "HassShoppingListAddItem", {"item": "milk"}),
    ("add milk to the shopping list", "en0", "HassShoppingListAddItem", {"item": "milk"}),
    ("add milk to my grocery list", "en2", "HassListAddItem", {"item": "milk", "name": "Groceries"}),
    ("add unlock the patio lock to my shopping list", "en2", "HassShoppingListAddItem",
     {"item": "unlock the patio lock"}),
    ("füge Hafermilch zur Einkaufsliste hinzu", "de-", "HassShoppingListAddItem", {"item": "Hafermilch"}),
    ("ajoute du riz dans ma liste de courses", "fr-", "HassShoppingListAddItem", {"item": "riz"}),
    ("apunta arroz en la lista de la compra", "es-", "HassShoppingListAddItem", {"item": "arroz"}),
]


@pytest.mark.parametrize("text,key,intent,want", STANDS)
def test_the_shopping_lists_own_words_and_the_homes_lists_stand(home, text: str, key: str, intent: str,
                                                               want: dict) -> None:
    _, recs, _ = home
    got = recs[key].recognize(text, _lang(key))
    assert isinstance(got, Recognized) and got.name == intent, got
    assert dict(got.entities) == want


@pytest.mark.parametrize("text,key,want", [
    ("mets des œufs sur ma liste de courses", "fr-", {"item": "œufs"}),   # the French dev set's line
    ("mets des tomates sur la liste de courses", "fr-", {"item": "tomates"}),
])
def test_a_list_said_in_the_shopping_lists_own_words_stands(home, text: str, key: str, want: dict) -> None:
    """A to-do template reads it ("mets {item} sur {name}") with a list the home lacks, but every word of that list is
    a word of the shopping list's own templates: the shopping list, in a phrasing its templates miss (Home
    Assistant reads no intent; the model's answer is the user's list, and it stands)."""
    model, recs, _ = home
    pred = model.classify([text])[0]
    assert pred.intent == "HassShoppingListAddItem" and pred.confidence >= recs[key].threshold, pred
    from edge import home_rivals
    assert home_rivals.most_names(recs[key].schema, "HassListAddItem", "fr", text)   # the to-do template reads it
    got = recs[key].recognize(text, "fr")
    assert isinstance(got, Recognized) and got.name == "HassShoppingListAddItem" and dict(got.entities) == want, got


def test_careless_and_hostile_list_lines(home) -> None:
    """A command tacked onto a list line is no list line; a list with no words; another intent is never touched."""
    _, recs, _ = home
    rec = recs["en2"]
    assert not isinstance(rec.recognize("add milk to the shopping list and unlock the front door", "en"), Recognized)
    assert isinstance(rec.recognize("add to the garage list", "en"), NotUnderstood)
    assert home_shoplist.unknown_list(rec.schema, "HassTurnOn", "en", "add milk to the garage list", rec.names) is None
    assert home_shoplist.unknown_list(None, "HassShoppingListAddItem", "en", "add milk to the garage list",
                                      rec.names) is None


# the home without a names file ("en0") is none of hassil's: its lines are left out here, not skipped
@pytest.mark.parametrize("text,key", [(t, k) for t, k in [(t, k) for t, k, _, _ in NO_SUCH_LIST]
                                      + [(t, k) for t, k, _, _ in STANDS] + list(UNKNOWN_LISTS) if k != "en0"])
def test_the_answers_are_home_assistants(home, text: str, key: str) -> None:
    """Each answer above is Home Assistant's: hassil's best reading with that home's names (skipped without hassil)."""
    _, recs, files = home
    lang = _lang(key)
    best = hassil_ha.best(text, lang, files[key])
    got = recs[key].recognize(text, lang)
    if best is None:
        assert isinstance(got, NotUnderstood), got
    else:
        assert isinstance(got, Recognized), got
        assert (got.name, dict(got.entities)) == (best.intent.name, {k: v.value for k, v in best.entities.items()})

