"""Rival readings: may another intent's carrier template say the same sentence, and with the home's names? And
where several intents' templates read it whole, which one Home Assistant's matcher answers (`rank`).

edge/home_rescue.py stands on one intent's carrier only where no other intent's template reads the whole
text too, unless `rank` puts one reading first (a full tie broken on the intent's name, as hassil does). A
rival's reading counts only where Home Assistant's matcher could take it: its {name}/{area}/{floor} captures
must be able to frame names of the names file ("put coffee filters in my list" is HassListAddItem's "put {item}
in [my] {name}" only in a home with a list called "list").
Split from edge/home_wildcards.py, whose tables, folding and pattern compiler these use.
"""

from __future__ import annotations

import re
from typing import Any, Collection, Mapping, NamedTuple

from edge import home_templates
from edge.home_needs import may_read as _may_read
from edge.home_wildcards import (MAX_NAME_WORDS, READINGS, WORD, carrier_intents, carriers, compile_pattern, expand,
                                 fold, reading, said_exactly)


def most_names(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str) -> int | None:
    """The most {name}/{area}/{floor} any template of `intent` in `lang` (a wildcard's or not) matching the whole of
    `text` frames, whatever the names file holds; None where none matches. edge/home_rescue.py: may another
    intent's template say this sentence too?"""
    c = carriers(schema, intent, lang, text)
    if c is None:
        return None
    table, patterns, folded, a, b, rules, squeezed = c
    most: int | None = None
    for p in patterns:
        if not _may_read(p, table, squeezed):
            continue
        try:
            m = compile_pattern(expand(p, rules)).fullmatch(folded, a, b)
        except (re.error, ValueError, TypeError):
            continue
        if m is not None:
            n = sum(1 for k, v in m.groupdict().items() if v is not None and k[0] == "N")
            most = n if most is None else max(most, n)
    return most


def reads_with_home_names(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, names: Any) -> bool:
    """Whether a template of `intent` matching the whole of `text` could frame names of the file (or frames none):
    a reading Home Assistant's matcher could take. edge/home_rescue.py: "put coffee filters in my list" is also
    HassListAddItem's "put {item} in [my] {name}" with a list "list" the home has not, so only
    HassShoppingListAddItem's reading is Home Assistant's. One regex match is one split of the words, and a
    template's optional words may take a name's own ("en [la] lista de {name}" over "en Lista de la compra"), so a
    captured name counts as the home's where any run of at most MAX_NAME_WORDS words overlapping it is a name of
    the file, word for word: the doubt goes to the conflict (a refusal)."""
    c = carriers(schema, intent, lang, text)
    if c is None:
        return False
    if names is None:
        return most_names(schema, intent, lang, text) is not None
    table, patterns, folded, a, b, rules, squeezed = c
    words = [(w.start(), w.end()) for w in WORD.finditer(folded)]

    def home_name(slot: str, s: int, e: int) -> bool:
        for i, (ws, _) in enumerate(words):
            for we in (end for _, end in words[i:i + MAX_NAME_WORDS]):
                if ws < e and s < we and said_exactly(names, slot, text[ws:we], lang):
                    return True
        return False

    for p in patterns:
        if not _may_read(p, table, squeezed):
            continue
        for greedy in READINGS:
            try:
                m = compile_pattern(expand(p, rules), *greedy).fullmatch(folded, a, b)
            except (re.error, ValueError, TypeError):
                continue
            if m is not None and all(home_name(k[1:].split("__", 1)[0], m.start(k), m.end(k))
                                     for k, v in m.groupdict().items() if v is not None and k[0] == "N"):
                return True
    return False


# What a {name} of these carrier intents must be: their templates' requires_context (home-assistant-intents
# 2026.12.1: HassList* domain todo in every language, HassMediaSearchAndPlay's {name} blocks media_player). The
# carrier table keeps no contexts, and a reading of a thing of another kind is none of Home Assistant's ("passer les
# chanson Edith Piaf sur *Enceinte de la cuisine*" is no to-do list's item)
NAME_DOMAINS = {"HassListAddItem": "todo", "HassListCompleteItem": "todo", "HassListRemoveItem": "todo",
                "HassMediaSearchAndPlay": "media_player"}


class Ranked(NamedTuple):
    """One intent's best whole-text reading as hassil's `recognize_ranked` weighs it (higher `key` first):
    (a non-wildcard `name` said, its length, fewer wildcards, more literal characters, less wildcard text).
    `kind`: "template" (edge/home_templates.py) or "carrier" (edge/home_wildcards.py)."""

    key: tuple[int, int, int, int, int]
    intent: str
    kind: str
    got: Any = None   # a carrier's (captures, own words): the reading ranked, which edge/home_rescue.py guards


def _key(named: int, wild: int, own: int, wild_text: int) -> tuple[int, int, int, int, int]:
    return (named > 0, named, -wild, own, -wild_text)


def rank(schema: Mapping[str, Any] | None, lang: str, text: str, names: Any,
         only: Collection[str] | None = None) -> list[Ranked]:
    """Every intent whose templates read the whole of `text` with the home's names, best first, ranked as Home
    Assistant's default agent ranks hassil's readings (`recognize_best(..., best_slot_name="name")`, hassil 3.13's
    `_get_ranked_score`): a reading with a non-wildcard `name` first, the longest name said first; then fewer
    wildcards; then more of the template's own characters (the words outside every capture, spaces not counted:
    hassil counts its literal chunks stripped); then less wildcard text; a full tie last on the intent's name, the
    lowest first, as hassil 3.13's `_get_result_score` breaks it ("stoppe Fernseher": HassMediaPause over
    HassTurnOff), so the first is the reading Home Assistant answers. Each intent weighs its best reading
    only: templates without a wildcard (their names exact, their context met) and carriers, whose {name} must also
    be a thing of `NAME_DOMAINS`' kind. `only`: the intents weighed (all where None): a sure list answer is weighed
    against the list intents alone, a tenth of the templates (a list line cost 13-35 ms against all of them)."""
    out: dict[str, Ranked] = {}
    exact = _thing_names(names)

    def put(r: Ranked) -> None:
        if r.intent not in out or r.key > out[r.intent].key:
            out[r.intent] = r

    # a thing's name as hassil reads it: letter for letter one of the file's (edge.names' `said_exactly` lets an
    # article or "notre" go: "ajoute Tomates dans *notre liste de courses*" is no list of the home to hassil, and
    # taking it for one cost a French wrong action on the in-template proxy, measured)
    for r in home_templates.readings(schema, lang, text, names, only):
        if any(s["name"] == "name" and " ".join(fold(s["raw"]).split()) not in exact for s in r.spans):
            continue
        named = max((len(s["raw"]) for s in r.spans if s["name"] == "name"), default=0)
        put(Ranked(_key(named, 0, sum(len(w) for w in r.own), 0), r.intent, "template"))
    for intent in carrier_intents(schema, lang):
        if only is not None and intent not in only:
            continue
        need = NAME_DOMAINS.get(intent)
        for got in (reading(schema, intent, lang, text, names), *named_readings(schema, intent, lang, text, names)):
            if got is None:
                continue
            caps, own = got
            if any(slot == "name" and not wild and " ".join(fold(text[a:e]).split()) not in exact
                   for slot, a, e, wild in caps):
                continue
            if need is not None and any(not home_templates.name_ok(slot, text[a:e], lang, names,
                                                                   {"requires": {"domain": need}})
                                        for slot, a, e, wild in caps if slot == "name" and not wild):
                continue
            named = [e - a for slot, a, e, wild in caps if slot == "name" and not wild]
            wild = [e - a for _, a, e, w in caps if w]
            put(Ranked(_key(max(named, default=0), len(wild), sum(len(w) for w, _, _ in own), sum(wild)), intent,
                       "carrier", got))
    # by name first, then by key (Python's sort is stable, `reverse` included): a full tie keeps the name order
    return sorted(sorted(out.values(), key=lambda r: r.intent), key=lambda r: r.key, reverse=True)


Caps = list[tuple[str, int, int, bool]]
Own = list[tuple[str, int, int]]


def named_readings(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, names: Any
                   ) -> list[tuple[Caps, Own]]:
    """Carrier readings of `intent` whose {name} is a name of the file said word for word in `text`. One regex match
    is one split of the words, and a template's optional words take a name's own first ("en [[la] lista [de la]]
    {name}" over "en Lista de la compra" reads the name "compra", no list of the home: no reading, where hassil, which
    tries every split, reads the list "Lista de la compra"). So each run of at most MAX_NAME_WORDS words that is a
    name of the file is masked as one word no template says (as many letters: the offsets stay), and a pattern counts
    where its {name} captures exactly that word. Each: (captures, the carrier's own words), as `reading`'s."""
    c = carriers(schema, intent, lang, text) if names is not None else None
    if c is None:
        return []
    table, patterns, folded, a, b, rules, squeezed = c
    words = [(w.start(), w.end()) for w in WORD.finditer(folded, a, b)]
    # the names as said, letter for letter (folded): not `said_exactly`, which lets an article or "my" go ("mi
    # lista de la compra" is no list "Lista de la compra" to hassil)
    exact = _thing_names(names)
    runs = [(ws, we) for i, (ws, _) in enumerate(words) for _, we in words[i:i + MAX_NAME_WORDS]
            if " ".join(folded[ws:we].split()) in exact]
    out: list[tuple[Caps, Own]] = []
    for ws, we in runs:
        masked = folded[:ws] + _MASK * (we - ws) + folded[we:]
        for p in patterns:
            if not _may_read(p, table, squeezed):
                continue
            for greedy in READINGS:
                try:
                    m = compile_pattern(expand(p, rules), *greedy).fullmatch(masked, a, b)
                except (re.error, ValueError, TypeError):
                    break
                if m is None:
                    break
                caps = [(k, m.start(k), m.end(k)) for k, v in m.groupdict().items() if v is not None]
                if not any(k[0] == "N" and k[1:].split("__", 1)[0] == "name" and (s, e) == (ws, we)
                           for k, s, e in caps):
                    continue
                # any other name, area or floor it frames: the file's, word for word, and not over the masked one
                if not all(k[1:].split("__", 1)[0] == "name" and (s, e) == (ws, we) or
                           (e <= ws or we <= s) and said_exactly(names, k[1:].split("__", 1)[0], text[s:e], lang)
                           for k, s, e in caps if k[0] == "N"):
                    continue
                inside = [(s, e) for _, s, e in caps]
                own = [(w.group(0), w.start(), w.end()) for w in WORD.finditer(folded, a, b)
                       if not any(s <= w.start() and w.end() <= e for s, e in inside)]
                out.append(([(k[1:].split("__", 1)[0], s, e, k[0] == "W") for k, s, e in caps if k[0] != "X"], own))
    return out


def _thing_names(names: Any) -> frozenset[str]:
    """Every thing's name and alias of the names file, folded, blanks collapsed; made once per names object (the
    last one asked: a daemon serves one home; folding a 500-thing home at every ranking cost more than the ranking)."""
    cached = _THING_NAMES[0]
    if cached is not None and cached[0] is names:
        return cached[1]
    try:
        got = frozenset(" ".join(fold(n).split()) for t in names.entities for n in (t.name, *t.aliases))
    except (AttributeError, TypeError):
        got = frozenset()
    _THING_NAMES[0] = (names, got)
    return got


_THING_NAMES: list[tuple[Any, frozenset[str]] | None] = [None]   # (the names object, its folded names): one home


_MASK = "q"   # a name's letters masked: "qqqq" is no word of any template (en, de, fr, es)


def first(ranked: list[Ranked]) -> Ranked | None:
    """The reading Home Assistant answers where several read the text: `rank`'s first, a full tie broken on the
    intent's name as hassil breaks it (`tied` says whether it was one); None for fewer than two."""
    return ranked[0] if len(ranked) >= 2 else None


def tied(ranked: list[Ranked]) -> bool:
    """Whether `rank`'s first two readings tie in everything but the intent's name."""
    return len(ranked) >= 2 and ranked[0].key == ranked[1].key
