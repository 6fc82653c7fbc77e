"""Answers short of slots: one without the slot every sentence of its intent has (`missing`), one that names and
reads nothing, stood behind only where Home Assistant's templates of its intent say it, and one whose only slots
are free text, stood behind only where its intent's carrier or own words are said (`check`).

The model reads chit-chat and questions as the slot-less intents it was trained on: "i meant no" and "sorry" as
HassNevermind, "can't say" and "what did you say" as HassRespond, "what song is this" as HassMediaNext, "what is the
gas level in my gas tank" as HassClimateGetTemperature with no place. Such an answer carries nothing that the rest
of edge.home's decision can check (no name to resolve, no number to range, no free text to frame): the model's
confidence is the only ground, and on real people's requests that are no command it is high (issue 22's judge 2,
bench/home_proxy_other.py). So where `decide`'s answer has no slot at all, it is kept only where one of Home
Assistant's templates of THAT intent (edge/home_templates.py, its skip words at either end left out) reads the whole
text, said as it is or after a wake word (edge/home_wake.py); else it is refused as "unsure".

Which intents the rule judges is decided per intent from data (`CLOSED`), not from a list of lines: on every measure
of docs/model-card-home-history.md ("Slot-less answers"), an intent is judged where the rule turns strictly more wrong or
acted-on answers of it into refusals than right answers of it. Where it is even or worse (the people's phrasings of
"pause", "keep playing", "what day is it", "go back a song": no template says them, yet the model is right) the
model's generalisation is worth more than the chit-chat it acts on, and the intent is left to it.

Free text only: "make me a coffee" -> HassShoppingListAddItem {item: "coffee"}, "remind me to get an oil change" ->
the same with "oil change". A list item, a search, a message is checked by nothing (any words can be an item), so
where an answer of `FREE_ONLY` has nothing but `FREE_TEXT` slots it stands only where a carrier pattern of its intent
(edge/home_wildcards.py, from HA's templates) reads the text, or the text says one of the intent's own words: a word
its group's carriers say and no other group's ("list", "shopping", "liste", "courses", "play", "announce";
`own_words`). "we need eggs, add them to the shopping list" keeps its answer; "buy milk" is refused (HA's templates
do not say it either; a configured cloud gets it). Measured on every tune set (2026-12-07, lead, main 327aaf4): other
requests acted on 7 -> 6 of 4,280 (the oil change), no right answer refused on the proxy's four languages, en2,
the holdouts, dev, dev3 or chat; the carrier alone, without the own words, refused two right dev lines ("mets des
oeufs sur ma liste de courses").

Cost: the templates of one intent, each compiled only where its literal runs are all in the text (the table's
needs), and only for a slot-less answer: well under a millisecond to a few ms (docs/model-card-home-history.md).
"""

from __future__ import annotations

from typing import Any, Mapping

import re
from functools import lru_cache

from edge import home_freetext, home_templates, home_wake, home_wildcards
from edge.home_results import NotUnderstood, Recognized

__all__ = ["CLOSED", "FREE_ONLY", "FREE_TEXT", "NEEDS", "check", "missing", "own_words"]

# Intents every one of whose Home Assistant sentences (home-assistant-intents 2026.12.1, en/de/fr/es: all
# 1,624 of them) names one of these slots: recognized without any, the model has read something that
# is no such command ("apaga la tele" as a timer with no duration), and Home Assistant could not run it.
NEEDS: Mapping[str, tuple[str, ...]] = {
    "HassStartTimer": ("hours", "minutes", "seconds"), "HassIncreaseTimer": ("hours", "minutes", "seconds"),
    "HassDecreaseTimer": ("hours", "minutes", "seconds"), "HassLightSet": ("brightness", "color", "temperature"),
    "HassSetPosition": ("position",), "HassClimateSetTemperature": ("temperature",),
    "HassShoppingListAddItem": ("item",), "HassListAddItem": ("item",), "HassSetVolume": ("volume_level",),
}

# The intents judged, and why (the rule's refusals, all tune sets together: wrong or acted-on answers refused / right
# answers refused; the tune sets are the proxy's four languages and en2, bench/home_proxy_other.py, holdout, dev, dev3
# and the chit-chat set chat, tests/data/home_chat_<lang>.txt). An intent is judged where the first is strictly larger.
# Measured 2026-12-06 with every slot-less intent judged, line by line against the rule off (chat, dev3, dev, proxy
# fr; proxy, en2 and holdout lost no right line; other: 10 -> 7 acted on, by the judged, not counted below):
# HassGetWeather 2/2, HassMediaPrevious 1/1, HassClimateGetTemperature 3/4, HassMediaPause 1/5, HassMediaUnpause
# 0/2, HassGetCurrentDate 0/1, HassGetCurrentTime 0/1, HassMediaPlayerMute 0/1, HassMediaPlayerUnmute 1/1: left to
# the model (no template says "keep playing", "go back a song", "wie wird das wetter", yet the model is right).
# HassMediaNext once refused right answers on dev2/dev3check (the earlier session's note); the chat set's music
# questions ("what song is this", "i like this song", "qui chante cette chanson") tip it now, on tune data only.
# The untouched checks (dev2, dev3check, chatcheck) after: 24 acted-on answers refused, 13 right ones (model card).
CLOSED: frozenset[str] = frozenset({
    "HassRespond",                 # 5/0 (7/0 with the checks): "can't say", "please ask me again", "where am i"
    "HassNevermind",               # 12/4: "sorry", "no", "thanks a lot", "désolé" / "forget it", "laisse tomber"
    "HassMediaNext",               # 4/0: "what song is this", "i like this song", "like this song"
    "HassCancelTimer",             # 3/1: "cancel", "cancel that" (nevermind), a fr proxy wrong / "get rid of my timer"
})


# Intents whose answer may carry free text alone (edge/home_freetext.py's groups: lists, search, broadcast), and the
# free-text slots. A timer's name is left out: a timer intent's answer with a name alone names a timer that exists.
FREE_ONLY: frozenset[str] = frozenset({
    "HassShoppingListAddItem", "HassShoppingListCompleteItem", "HassListAddItem", "HassListCompleteItem",
    "HassListRemoveItem", "HassMediaSearchAndPlay", "HassBroadcast",
})
FREE_TEXT: frozenset[str] = frozenset({"item", "search_query", "message"})
MIN_OWN_WORD = 3  # the Spanish carriers' morphology leaves fragments ("d", "s") that are no words


def missing(intent: str, slots: Mapping[str, Any]) -> NotUnderstood | None:
    """Why `intent` with these slots is no command Home Assistant could run ("slot": it lacks every one of `NEEDS`)."""
    needs = NEEDS.get(intent)
    if needs and not any(k in slots for k in needs):
        return NotUnderstood("slot", f"{intent} without {' or '.join(needs)}")
    return None


def check(got: Recognized, schema: Mapping[str, Any] | None, lang: str, text: str, names: Any) -> NotUnderstood | None:
    """None where `got` may stand: a template decided it already; it carries a slot that is no free text (or free
    text that `_free_text_only` lets stand); its intent is not `CLOSED`, the package has no templates (nothing to
    judge by: as before), or a template of its intent reads `text` whole (as said, or after a wake word). Else
    why not: "unsure", the detail naming the intent."""
    if got.decided:
        return None
    said = [text]
    if (rest := home_wake.command(text, lang)) != text:
        said.append(rest)
    if got.entities:
        return _free_text_only(got, schema, lang, said, names)
    if got.name not in CLOSED or not _has_templates(schema, lang, got.name):
        return None
    only = frozenset({got.name})
    for t in said:
        if home_templates.readings(schema, lang, t, names, only=only, satellite=True):
            return None
    return NotUnderstood("unsure", f"{got.name} names nothing and no template of it says this")


def _free_text_only(got: Recognized, schema: Mapping[str, Any] | None, lang: str, said: list[str], names: Any
                    ) -> NotUnderstood | None:
    """None where `got` is no free-text-only answer of `FREE_ONLY`, or a carrier of its intent reads the text, or the
    text says one of its own words (`own_words`); else "unsure"."""
    if got.name not in FREE_ONLY or not all(k in FREE_TEXT for k, _ in got.entities):
        return None
    own = own_words(schema, lang, got.name)
    if not own:  # a package without carrier tables: nothing to judge by
        return None
    for t in said:
        if home_wildcards.reading(schema, got.name, lang, t, names) is not None:
            return None
    if own & set(home_wildcards.WORD.findall(home_wildcards.fold(said[0]))):
        return None
    return NotUnderstood("unsure", f"{got.name} carries only free text, and neither a template nor a word of it is said")


def own_words(schema: Mapping[str, Any] | None, lang: str, intent: str) -> frozenset[str]:
    """The words the carrier patterns of `intent`'s group (edge/home_freetext.py's GROUP: the list intents, search,
    broadcast) say in `lang` and no other group's carriers say (folded; at least `MIN_OWN_WORD` letters)."""
    stored = (schema or {}).get("wildcards")
    if not home_wildcards.tables(stored) or intent not in home_freetext.GROUP:
        return frozenset()
    return _own_words(stored["data"], lang, home_freetext.GROUP[intent])


@lru_cache(maxsize=32)
def _own_words(data: str, lang: str, group: str) -> frozenset[str]:
    table = home_wildcards.tables({"format": home_wildcards.FORMAT, "data": data}).get(lang) or {}
    rules = table.get("rules") or {}
    mine: set[str] = set()
    others: set[str] = set()
    for intent, patterns in (table.get("carriers") or {}).items():
        words = mine if home_freetext.GROUP.get(intent) == group else others
        for pattern in patterns:
            words.update(home_wildcards.WORD.findall(_SLOT.sub(" ", home_wildcards.expand(pattern, rules))))
    return frozenset(w for w in mine - others if len(w) >= MIN_OWN_WORD)


_SLOT = re.compile(r"\{[^}]*\}")


def _has_templates(schema: Mapping[str, Any] | None, lang: str, intent: str) -> bool:
    """Whether the package's template table of `lang` has `intent` (a package without it: no judgement)."""
    intents = home_templates._table(schema, lang).get("intents")  # noqa: SLF001 (the decoded table, cached)
    return isinstance(intents, Mapping) and intent in intents
