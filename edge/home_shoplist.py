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
reads keep the model's answer (nothing says another list was named).
"""

from __future__ import annotations

from typing import Any, Mapping

from edge import home_rivals, home_wildcards
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
        return NotUnderstood("unknown", f"{other}'s templates name a list the home does not have")
    return None
