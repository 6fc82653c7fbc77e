"""Never drop a named thing: a transcript that says a name the intent does not carry is refused.

The tagger can miss a span: "set brightness of counter lights to 20 percent" came out as
`HassLightSet {brightness: 20}`, and Home Assistant then acted on the satellite's area, not on
the Counter Lights. `dropped` is asked by edge.home.decide just before it returns a Recognized:
if the transcript says a name or alias of an entity, area or floor of the names file (whole
words, folded as edge.names_text folds names) and a word of that name that says something lies
outside every span the decision used, the answer is NotUnderstood("dropped", ...).

What counts, and why:
- a kind word ("lights", "Lampe", "luces", in any language edge.names_lang knows) matches any kind
  word of the same domain ("counter lamp" says "Counter Lights"), but never counts on its own:
  "turn on the light" with a thing called "Light" is a kind of thing, not a name said;
- articles and prepositions of the language neither count ("the", "den": the German article is
  not the English room "Den");
- a name inside any span is covered, free text included (a timer called "kitchen", an item
  "living room curtains");
- a name the intent does carry is no drop, wherever it was said ("the desk lamp, turn on the desk
  lamp"), and neither is the area or floor of the entity the intent names ("the kitchen lamp" read
  as name "Lamp", the one lamp, which is in the Kitchen);
- German compounds are split like edge.names splits them: "Wohnzimmerlampe" says "Wohnzimmer";
- narrowed after measuring (bench/home_wyoming_eval.py --holdout: 1.2 points of exact answers lost on
  the German holdout, none now): another thing said apart from the named thing the intent carries
  ("Radio von dem Fernseher stumm" as the Fernseher) is an incomplete action, not the wrong device, so
  it passes; and mower and shopping-list words ("the mower", "zum Einkauf") are kind words, as Home
  Assistant's sentences say them (`_MORE_KINDS`; names_lang has none for these kinds).

The index (every name's key, as a tuple of word forms) is built once per names file and language,
on first use (or by `warm`, off the loop), and kept as long as the names object lives; an utterance then
costs a dictionary look-up per word n-gram that starts a name: 55-240 us median with 5,000 things on
the shared 2-core VM (tests/test_home_guard.py's home; building one language's index: 0.4-0.7 s).
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["MAX_NAME_WORDS", "Mention", "dropped", "index_for", "mentions", "warm"]

MAX_NAME_WORDS = 8  # a name of more words is matched on its first MAX_NAME_WORDS only (it is said whole anyway)
_MAX_TEXT = 512  # as edge.home.MAX_TEXT: decide refuses longer text before it gets here
# Generic words for kinds of thing edge.names_lang has no words for (it resolves no lawn mower or list by
# kind): Home Assistant's sentences say them as plain words ("dock the mower", "add milk to my shopping
# list", "zum Einkauf hinzufügen"), so a thing called so is a kind, not a name said. Folded, one word each.
_MORE_KINDS = {
    "lawn_mower": "mower mowers lawnmower lawnmowers rasenmaher rasenmaeher mahroboter maehroboter tondeuse "
                  "tondeuses cortacesped cortacespedes podadora",
    "todo": "list lists shopping einkauf einkaufen einkaufsliste liste listes courses lista listas compra compras",
}
# Not the list words: HA's shopping-list intents say "shopping list" as a plain word beside HassListAddItem's "{name}".
_MOWER_WORDS = frozenset(_MORE_KINDS["lawn_mower"].split())
# Verbs HA's mower templates say before the mower's kind word with no `{name}` twin (home-assistant-intents
# 2026.12.1: de "(Starte|Schicke) den Rasenmäher" has "schick[e] {name}" but no "starte {name}"; en, fr and es
# have a twin for each): there the word is the template's plain word, whatever the home calls its mower.
_MOWER_PLAIN = {"de": {"starte"}}
_WORD = re.compile(r"(?:[^\W_]|['\u2019\u2018\u02bc\u00b4`])+")  # a word with its apostrophes ("kid's", "l'entree")


@dataclass(frozen=True)
class _Entry:
    """One key of one thing: what it is, and which of its word positions say something."""

    kind: str  # "entity", "area", "floor"
    item: Any  # the names file's Entity / Area / Floor
    significant: tuple[bool, ...]


@dataclass(frozen=True)
class _Index:
    keys: Mapping[tuple[str, ...], tuple[_Entry, ...]]
    firsts: frozenset[str]  # the first word form of every key: most words of an utterance start none
    longest: int
    # entity name -> the area and floor ids of every entity so called (the intent carries names, not ids)
    places: Mapping[str, tuple[frozenset[str], frozenset[str]]]
    area_ids: Mapping[str, str]  # exact name -> id
    floor_ids: Mapping[str, str]


@dataclass(frozen=True)
class Mention:
    """A thing the transcript names, where (offsets in the text), and whether a word of it is outside the spans."""

    kind: str
    name: str
    start: int
    end: int
    outside: bool


_CACHE: "weakref.WeakKeyDictionary[Any, dict[str, _Index]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@functools.cache
def _kind_words() -> Mapping[str, str]:
    """Every one-word kind word of every language (and Home Assistant's own domain ids) -> its domain."""
    from edge.names_lang import COMMON, DEVICE_CLASSES, LANGUAGES

    out: dict[str, str] = {}
    for lang in LANGUAGES.values():
        for w, (domain, _) in lang.domain_words.items():
            if " " not in w:
                out.setdefault(w, domain)
    for w, (domain, _) in COMMON.items():
        if " " not in w:
            out.setdefault(w, domain)
    for w, domain in DEVICE_CLASSES.items():
        out.setdefault(w, domain)
    for domain, words in _MORE_KINDS.items():
        for w in words.split():
            out.setdefault(w, domain)
    return out


def _kind(word: str, lang: Any) -> str | None:
    """The domain a word names as a kind of thing, in this language first (its plurals too), else in any."""
    from edge.names import domain_word

    hit = domain_word(word, lang)
    if hit is not None and hit[0] is not None:
        return hit[0]
    return _kind_words().get(word)


def _function_words(lang: Any) -> frozenset[str]:
    """Articles, prepositions and quantifiers of the language: the words of its determiners, locatives and
    connectors ("all of the", "in der", "de l'")."""
    words = {w for phrases in (lang.determiners, lang.locatives, lang.connectors) for p in phrases for w in p}
    return frozenset(words | set(lang.elisions) | set(lang.quantifiers))


def _forms(word: str, lang: Any) -> tuple[tuple[tuple[str, ...], tuple[bool, ...]], ...]:
    return _forms_cached(word, lang.code)


@functools.lru_cache(maxsize=8192)  # the words of names and of utterances repeat; each is read once
def _forms_cached(word: str, code: str) -> tuple[tuple[tuple[str, ...], tuple[bool, ...]], ...]:
    """One folded token -> its readings as word forms, each with which forms say something: a kind word
    becomes "#domain" (plurals and synonyms alike); a German compound ending in a kind word is its
    stem + "#domain" (with the linking "n"/"s" dropped too, as edge.names reads "Küchenlicht")."""
    from edge.names_lang import LANGUAGES, OTHER

    lang = LANGUAGES.get(code, OTHER)
    kind = _kind(word, lang)
    if kind is not None:
        return (((f"#{kind}",), (False,)),)
    out = [((word,), (True,))]
    if lang.compounds:  # the kind word a compound ends in, by its possible lengths (a few look-ups)
        for cut in range(3, len(word) - 2):
            hit = lang.domain_words.get(word[cut:])
            if hit is None or not hit[0]:
                continue
            stem = word[:cut]
            out.append(((stem, f"#{hit[0]}"), (True, False)))
            out += [((stem[: -len(s)], f"#{hit[0]}"), (True, False)) for s in lang.compound_links
                    if stem.endswith(s) and len(stem) - len(s) >= 3]
    return tuple(out)


def _name_keys(name: str, lang: Any, function: frozenset[str]) -> set[tuple[tuple[str, ...], tuple[bool, ...]]]:
    """A name from the file -> its keys (edge.names_text.keys: leading articles off, accents folded,
    number words as digits, "ä" as "ae" too), each as word forms with the forms that say something."""
    from edge.names_text import keys

    out = set()
    for key in keys(name, lang):
        readings: list[list[tuple[tuple[str, ...], tuple[bool, ...]]]] = []
        for word in key.split():
            forms = _forms(word, lang)
            readings.append([(f, tuple(s and f[i] not in function for i, s in enumerate(sig)))
                             for f, sig in forms])
        for combo in itertools.islice(itertools.product(*readings), 16):
            words = tuple(w for f, _ in combo for w in f)
            sig = tuple(s for _, ss in combo for s in ss)
            if any(sig):  # a name of kind words and articles only names no thing in particular
                out.add((words[:MAX_NAME_WORDS], sig[:MAX_NAME_WORDS]))
    return out


def _build(names: Any, lang: Any) -> _Index:
    function = _function_words(lang)
    keys: dict[tuple[str, ...], list[_Entry]] = {}
    for kind, items in (("floor", names.floors.values()), ("area", names.areas.values()),
                        ("entity", names.entities)):
        for item in items:
            for n in (item.name, *item.aliases):
                for words, sig in _name_keys(n, lang, function):
                    keys.setdefault(words, []).append(_Entry(kind, item, sig))
    places: dict[str, tuple[set[str], set[str]]] = {}
    for e in names.entities:
        areas, floors = places.setdefault(e.name, (set(), set()))
        if e.area:
            areas.add(e.area)
        floor = names.floor_of(e)
        if floor:
            floors.add(floor)
    return _Index({k: tuple(v) for k, v in keys.items()}, frozenset(k[0] for k in keys),
                  max((len(k) for k in keys), default=0),
                  {k: (frozenset(a), frozenset(f)) for k, (a, f) in places.items()},
                  {a.name: i for i, a in names.areas.items()}, {f.name: i for i, f in names.floors.items()})


def index_for(names: Any, language: str) -> _Index | None:
    """The index of `names` for a language, built on first use and kept while `names` lives (a refresh
    builds a new Names, so a new index); None for a language edge.names does not read, and for a resolver
    that is no edge.names.Names (edge.home takes anything with `resolve`): it has no names to look for."""
    from edge.names import Names, language_of

    lang = language_of(language)
    if lang is None or not isinstance(names, Names):
        return None
    per = _CACHE.get(names)
    found = per.get(lang.code) if per is not None else None
    if found is None:
        found = _build(names, lang)  # outside the lock: two threads may build it twice, harmlessly
        with _LOCK:
            _CACHE.setdefault(names, {})[lang.code] = found
    return found


def warm(names: Any, languages: Iterable[str]) -> None:
    """Build the indexes now, off the event loop (a pool thread), so that the first transcript of a language
    does not wait for them: 0.3-0.6 s per language for 5,000 things on the 2-core VM."""
    if names is not None:
        for language in languages:
            index_for(names, language)


def _words(text: str, lang: Any) -> list[tuple[list[tuple[tuple[str, ...], tuple[bool, ...]]], int, int]]:
    """The transcript's tokens as edge.names_text reads a name, each with its readings and the offsets
    (in `text`) of the word it came from."""
    from edge.names_text import clean, finish, tokens

    out = []
    for m in _WORD.finditer(text[:_MAX_TEXT]):
        cleaned = clean(m.group())
        if not cleaned:
            continue
        for tok in tokens(cleaned, lang):
            word = finish(tok, lang)
            if word:
                out.append((_forms(word, lang), m.start(), m.end()))
    return out


def _ranges(spans: Iterable[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """The spans' offsets; a span without int offsets covers nothing."""
    return [(s["start"], s["end"]) for s in spans if isinstance(s.get("start"), int) and isinstance(s.get("end"), int)]


def _covered(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


def mentions(text: str, language: str, names: Any, spans: Iterable[Mapping[str, Any]] = ()) -> list[Mention]:
    """Every name or alias of a thing, area or floor the transcript says (longest first at each place),
    with whether a word of it that says something lies outside every one of `spans` (dicts with
    `start`/`end` offsets into `text`; one without them covers nothing)."""
    from edge.names import language_of

    index = index_for(names, language) if names is not None else None
    if index is None or not index.keys:
        return []
    lang = language_of(language)
    ranges = _ranges(spans)
    alts = [[[(f, s, e) for f in forms] for forms, _ in readings] for readings, s, e in _words(text, lang)]
    out: list[Mention] = []
    seen: set[tuple[int, int]] = set()
    for i in range(len(alts)):
        if not any(r[0][0] in index.firsts for r in alts[i]):
            continue
        # every reading of the words from i on (few: a German compound has two or three), each looked up
        # at the lengths its last word added
        seqs: list[list[tuple[str, int, int]]] = [[]]
        for j in range(i, min(len(alts), i + index.longest)):
            grown = [(seq, seq + r) for seq in seqs for r in alts[j]][:32]
            for before, seq in grown:
                for cut in range(len(before) + 1, min(len(seq), index.longest) + 1):
                    for entry in index.keys.get(tuple(f for f, _, _ in seq[:cut]), ()):
                        if (i, id(entry.item)) in seen:
                            continue
                        seen.add((i, id(entry.item)))
                        part = seq[:cut]
                        outside = any(sig and not _covered(s, e, ranges)
                                      for (_, s, e), sig in zip(part, entry.significant))
                        out.append(Mention(entry.kind, entry.item.name, part[0][1], part[-1][2], outside))
            seqs = [seq for _, seq in grown if len(seq) < index.longest]
            if not seqs:
                break
    return out


def dropped(text: str, language: str, entities: Iterable[tuple[str, Any]], spans: Iterable[Mapping[str, Any]],
            names: Any) -> str | None:
    """Why the intent may not go out ("entity 'Counter Lights' was said but is not in the intent"), or None:
    the transcript says no name outside the spans the decision used, or the intent carries what it says
    (the name itself, or the area or floor of what it names). edge.home.decide refuses with it."""
    if names is None:
        return None
    spans = list(spans)
    ranges = _ranges(spans)
    said = mentions(text, language, names, spans)
    found = [m for m in said if m.outside]
    if not found:
        return None
    index = index_for(names, language)
    assert index is not None  # mentions found one
    carried = dict(entities)
    # the places the intent's target lies in: its area and floor, the area's floor, the named entity's
    areas: set[str] = set()
    floors: set[str] = set()
    if isinstance(carried.get("name"), str) and carried["name"] in index.places:
        areas, floors = set(index.places[carried["name"]][0]), set(index.places[carried["name"]][1])
    area = index.area_ids.get(carried.get("area")) if isinstance(carried.get("area"), str) else None
    if area is not None:
        areas.add(area)
        if names.areas[area].floor:
            floors.add(names.areas[area].floor)
    floor = index.floor_ids.get(carried.get("floor")) if isinstance(carried.get("floor"), str) else None
    if floor is not None:
        floors.add(floor)

    def carried_here(m: Mention) -> bool:
        return ((m.kind == "entity" and m.name == carried.get("name"))
                or (m.kind == "area" and index.area_ids.get(m.name) in areas)
                or (m.kind == "floor" and index.floor_ids.get(m.name) in floors))

    # Words the intent accounts for under one reading are accounted for: "office" is the area Office
    # (where the named Desk Lamp is) and also a speaker called Office; "kitchen" inside a carried
    # "Kitchen Ceiling" said outside the spans.
    accounted = [(m.start, m.end) for m in said if carried_here(m)]
    # A thing said apart from the named one the intent carries ("mute the radio of the TV" read as the TV)
    # leaves the action incomplete, not on the wrong device: Home Assistant acts on a thing that was named.
    # One said over the carried name's words ("the desk lamp" read as a "Lamp") is another device: refused.
    named = isinstance(carried.get("name"), str) and carried["name"] in index.places
    for m in found:
        if carried_here(m) or any(s <= m.start and m.end <= e for s, e in accounted):
            continue
        if named and m.kind == "entity" and not _covered(m.start, m.end, ranges):
            continue
        shown = m.name if len(m.name) <= 40 else m.name[:37] + "..."
        return f"{m.kind} {shown!r} was said but is not in the intent"
    return None


def kind_names(text: str, language: str, entities: Iterable[tuple[str, Any]], spans: Iterable[Mapping[str, Any]],
               names: Any, own_kind: str | None = None) -> list[tuple[str, int, int, bool]]:
    """The kind words said outside every span, (words, start, end, whether a thing's whole name or alias), when
    one of them is a thing's name and
    the reply carries no target at all ("pause the TV" read as HassMediaPause {} with a thing called "TV": Home
    Assistant would pause whatever plays where the satellite is; its template "pause {name}" names the TV).
    `dropped` never counts a kind word as a name ("turn on the light" is a kind of thing even where a thing is
    called "Light"), which is right when the reply names a kind or a thing; with no target at all, the words
    said name one. `own_kind`: the domain the intent's own templates say as a plain word (HassLightSet's "set
    the light to 50%": HA's template, the satellite's lights) is the intent's word, not a name."""
    if names is None or not hasattr(names, "said_exactly"):
        return []
    if any(k in ("name", "area", "floor", "domain", "device_class") for k, _ in entities):
        return []
    from edge.home_words import implied_domains
    from edge.names import domain_word, language_of
    from edge.names_text import clean, fold

    chars = list(text[:_MAX_TEXT])
    for s in spans:  # every span the reply used is accounted for (a timer called "lights", an item)
        a, b = s.get("start"), s.get("end")
        if isinstance(a, int) and isinstance(b, int):
            chars[max(a, 0):max(b, 0)] = " " * len(chars[max(a, 0):max(b, 0)])
    blanked = "".join(chars)
    out = []
    for said, start, end in implied_domains(blanked, language):
        kind = domain_word(fold(clean(said) or ""), language_of(language))
        if kind is not None and own_kind is not None and kind[0] == own_kind:
            continue
        out.append((said, start, end, bool(names.said_exactly("name", said, language))))
    # a mower's kind words, which edge.names_lang has none of (`_MORE_KINDS`): "den Rasenmäher zurück schicken" with
    # a mower called "Rasenmäher" is HA's "{name} zurück schicken" (its matcher prefers the reading with a name)
    for m in _WORD.finditer(blanked):
        before = [fold(clean(w) or "") for w in _WORD.findall(blanked[max(0, m.start() - 24):m.start()])][-2:]
        if fold(clean(m.group()) or "") in _MOWER_WORDS and not set(before) & _MOWER_PLAIN.get(language[:2], set()) \
                and _a_mower_called(names, fold(clean(m.group()) or "")):
            out.append((m.group(), m.start(), m.end(), bool(names.said_exactly("name", m.group(), language))))
    return out if any(m[3] for m in out) else []


def _a_mower_called(names: Any, word: str) -> bool:
    """Is a lawn mower of the file called `word` (folded), by name or alias? A light called "mower" is no mower:
    "dock the mower" then stays HA's nameless template, not a light refused as one the intent cannot act on."""
    from edge.names_text import clean, fold

    return any(e.id.startswith("lawn_mower.") and any(fold(clean(n) or "") == word for n in (e.name, *e.aliases))
               for e in getattr(names, "entities", ()))
