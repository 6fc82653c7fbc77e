"""A place and a kind of thing that together are one thing's name: read as that name, as Home Assistant does.

"open the Office Shutter to 81" with a cover called "Office Shutter": the tagger marks `area` "Office" and
`device_class` "Shutter", and the resolver then acts on every shutter of the office. Home Assistant's matcher
reads the words both ways ("{name}" and "{area} <shutter>") and keeps the reading with a `name`
(hassil's `recognize_best(..., best_slot_name="name")`, which its default agent calls), so its intent tests
expect the name. `name_reading` does the same before resolution: the longest run of words that overlaps the
tagger's spans of things, places and kinds, covers each of them whole, is more than one span as tagged, and is
exactly a thing's name or alias (edge.names.Names.said_exactly: case, accents and articles aside, no slip
corrected) becomes one `name` span: "Office Shutter", "Bedroom AC" (only "Bedroom" tagged, or "Bedroom" as a
place and "AC" as a name), "Volet du bureau" (kind, "du", area), "Shopping List" (only "Shopping" tagged as the
name). Words of a place and more must say a kind of thing.
A place alone stays a place (an area and a thing both called "Office": which one is not for the words to say),
a run with no kind word is left as the tagger read it, and so is a sentence that asks about several or any of a
kind ("how many upper level fans are off", "activate each and every library fan": `_SEVERAL`): HA's templates
that say these words take a place and a kind, never one name, so the name reading is not among HA's.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from edge import home_guard, names_schema

__all__ = ["name_reading", "place_reading", "said_target", "untagged_target"]

_TARGETS = ("name", "area", "floor", "device_class", "domain")
_WORD = re.compile(r"[^\W_]+")  # "l'Fenêtre" is "l" and "Fenêtre": a name starts after an elided article
# Words of HA's templates that ask about several or any things of a kind (folded).
_SEVERAL: Mapping[str, frozenset[str]] = {
    "en": frozenset("all every each any many which".split()),
    "de": frozenset("alle allen jede jeder jeden welche welcher viele".split()),
    "fr": frozenset("tous toutes chaque combien quels quelles".split()),
    "es": frozenset("todos todas cada cuantos cuantas cuales".split()),
}
MAX_WORDS = 6  # the longest name tried, in words
_AROUND = 3  # untagged words before and after the spans a name may take in ("*Bedroom AC*", "*Fenêtre de la* cuisine")


def name_reading(text: str, lang: str, found: Sequence[Mapping[str, Any]], names: Any,
                 free_name: bool = False) -> list[Mapping[str, Any]]:
    """`found` with the longest run of words that covers whole place/kind spans, says a kind word and is exactly
    one thing's name or alias replaced by one `name` span of those words; else `found` as it was."""
    found = list(found)
    if names is None or not hasattr(names, "said_exactly") or not isinstance(text, str):
        return found
    if free_name:  # a timer's `name` is free text, no thing of the file
        found, kept = [s for s in found if s.get("name") != "name"], [s for s in found if s.get("name") == "name"]
        return sorted(name_reading(text, lang, found, names) + kept,
                      key=lambda s: s.get("start", 0) if isinstance(s.get("start"), int) else 0)
    spans = [s for s in found if s.get("name") in _TARGETS and isinstance(s.get("start"), int)
             and isinstance(s.get("end"), int) and 0 <= s["start"] < s["end"] <= len(text)]
    if not spans:
        return found
    from edge.names_schema import words as folded

    if folded(text[:512]) & _SEVERAL.get(lang, frozenset()):
        return found
    from edge.home_words import implied_domains

    words = [(m.start(), m.end()) for m in _WORD.finditer(text[:512])]
    touched = [i for i, (a, b) in enumerate(words) if any(s["start"] < b and a < s["end"] for s in spans)]
    if not touched:
        return found
    lo, hi = max(0, touched[0] - _AROUND), min(len(words), touched[-1] + 1 + _AROUND)
    from edge.names_lang import LANGUAGES
    from edge.names_schema import first_word

    language = LANGUAGES.get(lang)
    articles = {d[0] for d in language.determiners if len(d) == 1} if language is not None else set()
    best: tuple[int, int] | None = None
    for i in range(lo, hi):
        if first_word(text[words[i][0]:words[i][1]]) in articles \
                and not any(s["start"] <= words[i][0] < s["end"] for s in spans):
            continue  # "the desk lamp" is "desk lamp": the name's own words start after the article
        for j in range(min(hi, i + MAX_WORDS), i, -1):  # longest first
            a, b = words[i][0], words[j - 1][1]
            inside = [s for s in spans if a < s["end"] and s["start"] < b]
            if not inside or any(s["start"] < a or s["end"] > b for s in inside):
                continue  # a span cut in two, or none of the tagger's words
            if len(inside) == 1 and (inside[0]["start"], inside[0]["end"]) == (a, b) \
                    and inside[0].get("name") not in ("device_class", "domain"):
                continue  # a name or place as the tagger gave it: nothing to read anew (a place alone stays a place)
            said = text[a:b]
            # a place's words and more need a kind said ("Office Shutter"); a name's, or two spans, need not
            # ("Shopping" + "List", "Bedroom" + "AC": the tagger cut one name in two)
            if all(s.get("name") in ("area", "floor") for s in inside) and not implied_domains(said, lang):
                continue
            if not names.said_exactly("name", said, lang):
                continue
            if best is None or b - a > best[1] - best[0]:
                best = (a, b)
            break
    if best is None:
        return found
    a, b = best
    inside = [s for s in spans if a < s["end"] and s["start"] < b]
    span = {"name": "name", "entity": "name", "raw": text[a:b], "value": text[a:b], "start": a, "end": b,
            "confidence": min(float(s.get("confidence", 0.0)) for s in inside)}
    return sorted([s for s in found if not any(s is t for t in inside)] + [span],
                  key=lambda s: s.get("start", 0) if isinstance(s.get("start"), int) else 0)


_SLOT_OF = {"entity": "name", "area": "area", "floor": "floor"}


def said_target(text: str, lang: str, intent: str, got: Mapping[str, Any], spans: Sequence[Mapping[str, Any]],
                names: Any, schema: Mapping[str, Any] | None, free_name: bool) -> dict[str, Any] | None:
    """The one thing, area or floor a reply with no target says in words the tagger left untagged, as a
    `name`/`area`/`floor` span of those words, or None. "what's the temp in my Rec Room" or "return Mowbot to
    base" tagged with no place or thing would be refused as a name said but not carried (edge.home_guard
    .dropped); Home Assistant's matcher reads the exact name or alias of its lists there, so this does too,
    only when exactly one name of the file is said there (the longest at each place; a word that is an area
    and a thing both is two), the reply carries no name, area or floor, and one of the intent's Home Assistant
    sentences takes that slot with the others it has (names_schema.target_misfit). A timer's `name` is free
    text (`free_name`): only a place is taken there."""
    if any(k in got for k in ("name", "area", "floor")):
        return None
    said = [m for m in home_guard.mentions(text, lang, names, spans) if m.outside]
    top = [m for m in said if not any(o.start <= m.start and m.end <= o.end and o.end - o.start > m.end - m.start
                                      for o in said)]
    if len({(m.kind, m.name) for m in top}) != 1 or top[0].kind not in _SLOT_OF:
        return None
    m = top[0]
    slot = _SLOT_OF[m.kind]
    if not hasattr(names, "said_exactly") or not names.said_exactly(slot, text[m.start:m.end], lang):
        return None  # part of a word: "Wohnzimmerlampe" says a lamp, not every light of the Wohnzimmer
    if (free_name and slot == "name") or names_schema.target_misfit(schema, intent, {**got, slot: m.name}):
        return None
    return {"name": slot, "entity": slot, "raw": text[m.start:m.end], "value": m.name, "start": m.start,
            "end": m.end, "confidence": 1.0}



_PLACES = ("area", "floor", "name")


def place_reading(text: str, lang: str, found: Sequence[Mapping[str, Any]], names: Any,
                  free_name: bool = False) -> list[Mapping[str, Any]]:
    """`found` with a span of a place or thing the tagger cut short or read as the other kind put over the words
    that are exactly one area, floor or thing of the names file ("stop all timers in *front* hall" -> area "front
    hall", "change color of Rec *Room*" -> area "Rec Room"; "illuminate *Basement*" tagged area, the home's floor ->
    floor; "von dem *Erdgeschoss 96* Grad" -> floor "Erdgeschoss", the number left to its slot; a thing is never
    read as a place nor a place as a thing), as Home Assistant's lists read them: the longest run of words around the span (at most `MAX_WORDS`,
    touching no other span) that is said exactly as one kind only (edge.names.Names.said_exactly). A run that is
    several kinds ("Office": an area and a speaker) or none leaves the span as it was. A timer's `name` is free text
    (`free_name`): not read."""
    found = list(found)
    if names is None or not hasattr(names, "said_exactly") or not isinstance(text, str):
        return found
    words = [(m.start(), m.end()) for m in _WORD.finditer(text[:512])]
    out: list[Mapping[str, Any]] = []
    for sp in found:
        kind, a0, b0 = sp.get("name"), sp.get("start"), sp.get("end")
        if kind not in _PLACES or (kind == "name" and free_name) or not isinstance(a0, int) or not isinstance(b0, int) \
                or not 0 <= a0 < b0 <= len(text):
            out.append(sp)
            continue
        inside = [i for i, (a, b) in enumerate(words) if a0 < b and a < b0]
        others = [(o["start"], o["end"]) for o in found if o is not sp and isinstance(o.get("start"), int)
                  and isinstance(o.get("end"), int)]
        best: tuple[int, int, str] | None = None
        if inside:
            lo, hi = inside[0], inside[-1]
            for i in range(max(0, hi - MAX_WORDS + 1), lo + 1):
                for j in range(min(len(words), i + MAX_WORDS), hi, -1):
                    a, b = min(words[i][0], a0), max(words[j - 1][1], b0)
                    if any(oa < b and a < ob for oa, ob in others):
                        continue
                    kinds = [k for k in _PLACES if not (k == "name" and free_name)
                             and names.said_exactly(k, text[a:b], lang)]
                    # a place may be the other kind of place; a thing is never a place nor a place a thing
                    # ("turn on the kitchen" with "kitchen" tagged a thing stays the tagger's doubt)
                    kinds = [k for k in kinds if (k == "name") == (kind == "name")] if len(kinds) == 1 else kinds
                    if len(kinds) == 1 and (best is None or b - a > best[1] - best[0]):
                        best = (a, b, kinds[0])
        if best is None and inside and not names.said_exactly(str(kind), text[a0:b0], lang):
            best = _number_cut(text, lang, words, inside, str(kind), names, free_name)
        if best is None or (best[:2] == (a0, b0) and best[2] == kind) or \
                (names.said_exactly(str(kind), text[a0:b0], lang) and best[2] != kind):
            out.append(sp)  # as said, or already exactly a name of its own kind (the tagger's reading stands)
            continue
        a, b, new = best
        extra = {names_schema.fold(text[x:y]) for x, y in words if a <= x < b and not a0 <= x < b0}
        if new == kind and b - a > b0 - a0 and extra <= _function_words(lang):
            out.append(sp)  # only an article or "in" more ("la en haut"): the tagger's words, no new reading
            continue
        out.append({**sp, "name": new, "entity": new, "raw": text[a:b], "value": text[a:b], "start": a, "end": b})
    return out


def _number_cut(text: str, lang: str, words: Sequence[tuple[int, int]], inside: Sequence[int], kind: str, names: Any,
                free_name: bool) -> tuple[int, int, str] | None:
    """A place or thing span that ran into the number said after it ("Erdgeschoss 96 Grad", "arriba 52"): its words
    before the number, when they are exactly one area, floor or thing of the names file (the same class of kind),
    as (start, end, kind); else None. The number is then left to the number slots (edge/home_numbers.py)."""
    from edge import names_values

    def is_number(i: int) -> bool:
        w = text[words[i][0]:words[i][1]]
        return w.isdigit() or names_values.number(w, lang) is not None

    for k in range(inside[-1] - 1, inside[0] - 1, -1):
        if not all(is_number(i) for i in range(k + 1, inside[-1] + 1)):
            break
        a, b = words[inside[0]][0], words[k][1]
        kinds = [x for x in _PLACES if not (x == "name" and free_name) and (x == "name") == (kind == "name")
                 and names.said_exactly(x, text[a:b], lang)]
        if len(kinds) == 1:
            return a, b, kinds[0]
    return None


def _function_words(lang: str) -> set[str]:
    """The language's articles and locatives, word by word ("la", "de", "dans", "in")."""
    from edge.names_lang import LANGUAGES

    language = LANGUAGES.get(lang)
    if language is None:
        return set()
    return {names_schema.fold(w) for p in (*language.determiners, *language.locatives) for w in p}


def untagged_target(text: str, lang: str, intent: str, got: Mapping[str, Any], found: Sequence[Mapping[str, Any]],
                    names: Any, schema: Mapping[str, Any] | None, free_name: bool, turn: bool) -> dict[str, Any] | None:
    """`said_target` for a reply with no name, area or floor, taken before edge.home judges its slot sets (an intent
    that always names one would refuse it: "Staubsauger aktivieren", "aspire le RDC"). For on/off and state (`turn`)
    only in a reply with nothing tagged but a state ("raise up Sprinklers", "ist Garagenfenster offen"): beside a
    kind the tagger marked, a place is no such reading ("turn off the lights, I'm going to the office" does not
    switch the office's lights), nor is a thing whose words also say a place and a kind ("what den light are on":
    HA's area Den + lights, though a thing is called "Den Light")."""
    if isinstance(got.get("name"), str) and not free_name and not any(k in got for k in ("area", "floor")):
        return _place_of_name(text, lang, intent, got, found, names, schema)
    if any(k in got for k in ("name", "area", "floor")):
        return None
    span = said_target(text, lang, intent, got, list(found), names, schema, free_name)
    if span is not None and turn and (set(got) - {"state"} or _place_and_kind(span, lang, names)):
        return None
    return span


def _place_of_name(text: str, lang: str, intent: str, got: Mapping[str, Any], found: Sequence[Mapping[str, Any]],
                   names: Any, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The one area or floor said word for word and untagged beside a thing the reply names, where that thing is
    ("apague Ventilador de techo piso *Primera planta*", "Fenêtre de la cuisine *RDC*"), as an `area`/`floor`
    span: Home Assistant's "{name} {floor}" carries it. Only a place of the thing named (the same device either
    way: edge.home_guard.dropped lets it pass unsaid), only one such place said, and only where one of the
    intent's Home Assistant sentences takes the name with that slot (names_schema.target_misfit); else None."""
    index = home_guard.index_for(names, lang)
    if index is None or not hasattr(names, "said_exactly") or not hasattr(names, "resolve"):
        return None
    res = names.resolve({"name": got["name"]}, lang)
    if getattr(res, "reason", None) is not None:
        return None
    thing = dict(getattr(res, "slots", ())).get("name")
    if not isinstance(thing, str) or thing not in index.places:
        return None
    areas, floors = index.places[thing]
    said = [m for m in home_guard.mentions(text, lang, names, found) if m.outside]
    top = [m for m in said if not any(o.start <= m.start and m.end <= o.end and o.end - o.start > m.end - m.start
                                      for o in said)]
    if len({(m.kind, m.name) for m in top}) != 1 or top[0].kind not in ("area", "floor"):
        return None
    m = top[0]
    ids = index.area_ids if m.kind == "area" else index.floor_ids
    if ids.get(m.name) not in (areas if m.kind == "area" else floors):
        return None
    if not names.said_exactly(m.kind, text[m.start:m.end], lang) \
            or names_schema.target_misfit(schema, intent, {**got, m.kind: m.name}):
        return None
    return {"name": m.kind, "entity": m.kind, "raw": text[m.start:m.end], "value": m.name, "start": m.start,
            "end": m.end, "confidence": 1.0}


def _place_and_kind(span: Mapping[str, Any], lang: str, names: Any) -> bool:
    """Do a thing's words also say a place of the file and a kind ("den light": area Den + lights)?"""
    from edge.home_words import implied_domains

    raw = span.get("raw")
    if not isinstance(raw, str) or not implied_domains(raw, lang):
        return False
    words = raw.split()
    return any(names.said_exactly(k, " ".join(words[i:j]), lang) for k in ("area", "floor")
               for i in range(len(words)) for j in range(i + 1, len(words) + 1))
