"""A shopping-list answer to a sentence that names another list: "add milk to the garage list".

Home Assistant has two kinds of list intents: the shopping list's (HassShoppingListAddItem, ...CompleteItem), whose
templates say the list in their own words ("add {item} to my shopping list", "zur Einkaufsliste", "à la liste de
courses"), and the to-do lists' (HassListAddItem, ...), whose templates frame the list as a `{name}` of the home
("add {item} to the {name} list"). The model learnt the shopping list's words well and answers "add milk to the
garage list" with HassShoppingListAddItem {item: milk}, sure of it: a sentence Home Assistant reads as no intent
at all where the home has no list "garage", and acting on it puts the milk on a list the user did not name.

`unknown_list` refuses such an answer from the templates alone, in every language they have: none of the
shopping-list intent's own carrier patterns (edge/home_wildcards.py) reads the whole text, but a to-do list
intent's does, framing a `{name}`, and none of its readings can frame a list of the names file
(edge/home_rivals.py's `reads_with_home_names`). Where a to-do list of the home is named, the sibling's reading
is Home Assistant's and edge/home_rescue.py's `overrule` / the model's own answer deal with it; where the
shopping list's own words read the sentence, the answer stands. Out-of-template words that no list template
reads keep the model's answer (nothing says another list was named), and so does a list named only in the
shopping list's own template words ("mets des œufs sur *ma liste de courses*": the to-do template's "mets {item}
sur {name}" frames "ma liste de courses", every word of it a word of the shopping list's templates, a phrasing
their own patterns miss; refusing it cost a French dev line, measured).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

from edge import home_rivals, home_wildcards
from edge.home_needs import may_read
from edge.home_results import NotUnderstood

__all__ = ["SHOPPING_LIST_INTENTS", "TODO_LIST_INTENTS", "unknown_list"]

# The shopping list's intents: their templates name no list, the list is the templates' own words
SHOPPING_LIST_INTENTS = frozenset({"HassShoppingListAddItem", "HassShoppingListCompleteItem"})
# The to-do list intents: their templates' {name} must be a to-do list (edge/home_rivals.py's NAME_DOMAINS, from the
# templates' requires_context)
TODO_LIST_INTENTS = frozenset(i for i, domain in home_rivals.NAME_DOMAINS.items() if domain == "todo")


def unknown_list(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, names: Any) -> NotUnderstood | None:
    """Why a shopping-list answer (`intent`) is refused: its own carriers do not read `text` whole, a to-do list
    intent's carrier does with a list `{name}`, and that name is no list of the names file (`names`, None: the home
    has none); None where the answer stands (another intent, no schema, the shopping list's words read it, no list
    named, or a list of the home named)."""
    if intent not in SHOPPING_LIST_INTENTS or schema is None:
        return None
    carried = home_wildcards.carrier_intents(schema, lang)
    if intent not in carried or home_rivals.most_names(schema, intent, lang, text) is not None:
        return None   # the shopping list's own templates read it (or the schema has no carriers for it)
    for other in sorted(TODO_LIST_INTENTS & set(carried)):
        if not home_rivals.most_names(schema, other, lang, text):
            continue   # no template of it reads the text, or one reads it framing no list
        if names is not None and home_rivals.reads_with_home_names(schema, other, lang, text, names):
            return None   # a list of the home may be named: Home Assistant's reading, not this one's to refuse
        own = _shopping_words(schema, lang)
        if any(all(any(w.fullmatch(word) for w in own) for word in said.split())
               for said in _lists_said(schema, other, lang, text)):
            return None   # the list said in the shopping list's own words
        return NotUnderstood("unknown", f"{other}'s templates name a list the home does not have")
    return None


def _lists_said(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str) -> list[str]:
    """The folded words each of `intent`'s carrier patterns that reads the whole of `text` frames as its `{name}` (the
    list said), as edge/home_rivals.py's `most_names` matches them, whatever the names file holds."""
    c = home_wildcards.carriers(schema, intent, lang, text)
    if c is None:
        return []
    table, patterns, folded, a, b, rules, squeezed = c
    out = []
    for p in patterns:
        if not may_read(p, table, squeezed):
            continue
        try:
            m = home_wildcards.compile_pattern(home_wildcards.expand(p, rules)).fullmatch(folded, a, b)
        except (re.error, ValueError, TypeError):
            continue
        if m is not None:
            out += [" ".join(v.split()) for k, v in m.groupdict().items()
                    if v is not None and k[0] == "N" and k[1:].split("__", 1)[0] == "name"]
    return out


@lru_cache(maxsize=16)
def _words_of(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Each literal word of the expanded carrier patterns as a pattern of its own ("courses?", "d")."""
    words = set()
    for p in patterns:
        literal = re.sub(r"\{[^}]*\}|\(\?:", " ", p)   # the captures and the groups' openings out: the words left
        words |= set(re.findall(r"[^\W\d_]+\??", literal))
    return tuple(re.compile(w) for w in sorted(words))


def _shopping_words(schema: Mapping[str, Any] | None, lang: str) -> tuple[re.Pattern[str], ...]:
    """The words the shopping list's carrier patterns say themselves in `lang` (its own words for the list: "ma liste
    de courses", "my shopping list"), from the package's carrier table."""
    table = home_wildcards.tables((schema or {}).get("wildcards")).get(lang) or {}
    rules = table.get("rules") or {}
    expanded = [home_wildcards.expand(p, rules) for intent in sorted(SHOPPING_LIST_INTENTS)
                for p in (table.get("carriers") or {}).get(intent) or () if isinstance(p, str)]
    return _words_of(tuple(expanded))
