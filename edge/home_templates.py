"""Home Assistant's templates of every intent, read where the model would refuse: the package's `home_schema.templates`.

Home Assistant's first judge is its own intent tests, which its template matcher passes by construction; our model
is unsure of some of those lines although the sentence is word for word one of HA's templates ("mach Glotze stumm",
"aspire Recibidor"). edge/home_rescue.py asks `read` where the model is unsure and no carrier (a wildcard intent's
template, edge/home_wildcards.py) reads the text: every intent whose templates (without a wildcard) read the WHOLE
text, each name said exactly as the names file has it and of a kind the template's context allows (HA refuses
"open the Ceiling Light": the cover template requires domain cover). One intent only is answered; several are a
refusal (the words do not decide).

The table (written by edge/train/home_wildcards.py, `python -m edge.train.home_wildcards --package models/home`) is
per language: {"skip": words, "rules": {name: pattern}, "values": {list: {value pattern: HA's value}}, "contexts":
[{"requires", "excludes", "slots"}], "intents": {intent: [entry, ...]}}, each entry one string (`entry`): the
index of its context, what it always says (needs: literal runs, one of each need in the text), the pattern.
Patterns are edge/home_wildcards.py's compact patterns, with `{slot@#}...{@}` capturing a number's words and
`{slot@list}...{@}` a small list's (its value from `values[list]`) as `slot`. Each language is stored on its own (zlib + base64) and decoded on first need, each pattern compiled
only where its literal runs are all in the text, into a bounded cache: the idle daemon pays nothing. A package
without the key loads and behaves as before (nothing is read).
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from typing import Any, Collection, Mapping, NamedTuple

from edge import home_wildcards, names_values
from edge.heap import give_back_memory
from edge.home_wildcards import compile_pattern, expand, fold, pack, unpack

__all__ = ["FORMAT", "MAX_TEXT", "Reading", "encode", "anchored", "entry", "name_ok", "read", "readings"]

FORMAT = "zlib+base64 json per language"
MAX_TEXT = 512        # characters: decide refuses longer text first; a bound of its own here all the same
CACHE = 128           # compiled patterns kept (a sentence compiles the few whose literal runs it says)
CONTEXT_KEYS = ("domain", "device_class")   # what a name's thing is; any other context (the satellite's area) we lack


class Reading(NamedTuple):
    """One intent's best template reading of the whole text: its spans (decide's format), the template's own words,
    the names it frames, the small lists' values it reads ("höchste"), and its context's fixed slots."""

    intent: str
    spans: list[dict[str, Any]]
    own: list[str]
    names: int
    lists: int
    slots: Mapping[str, Any]


def entry(context: int, needs: list[list[str]], pattern: str) -> str:
    """One pattern as stored: "context<TAB>needs<TAB>pattern", needs blank-separated, each one's runs "|"-separated
    (runs are letters and digits: neither occurs in one). One string, not lists: ~4x less memory decoded."""
    return f"{context}\t{' '.join('|'.join(n) for n in needs)}\t{pattern}"


def _head(head: str, squeezed: str) -> int | None:
    """The context index of an entry's head ("context<TAB>needs") where the text (`squeezed`: folded, no blanks) says
    one run of each need; None where it does not (or the head does not parse). The needs are checked first, one by
    one, and the index parsed only where all are met: most heads fail their first need, and parsing every head whole
    was a tenth of a refused line's ranking over every intent (cProfile, French proxy refusals, 2026-12-06)."""
    ci, tab, needs = head.partition("\t")
    if not tab:
        return None
    for need in needs.split():
        if not any(r in squeezed for r in need.split("|")):
            return None
    try:
        return int(ci)
    except ValueError:
        return None


def encode(tables: Mapping[str, Any]) -> dict[str, Any]:
    """{lang: table} as the manifest stores it: each language's JSON zlib-compressed and base64'd on its own."""
    return {"format": FORMAT, "languages": {lang: pack(table) for lang, table in sorted(tables.items())}}


def _table(schema: Mapping[str, Any] | None, lang: str) -> Mapping[str, Any]:
    stored = (schema or {}).get("templates")
    if not isinstance(stored, Mapping) or stored.get("format") != FORMAT:
        return {}
    data = (stored.get("languages") or {}).get(lang) if isinstance(stored.get("languages"), Mapping) else None
    return _decode(data) if isinstance(data, str) else {}


@lru_cache(maxsize=4)
def _decode(data: str) -> Mapping[str, Any]:
    """One language's table, held lean: each intent's entries as (context + needs) strings and its patterns as one
    zlib blob, decompressed only where a need of the text is met (English: ~60 KB held, not ~170 KB)."""
    out = unpack(data)
    if not isinstance(out.get("intents"), Mapping):
        return {}
    lean: dict[str, tuple[tuple[str, ...], bytes]] = {}
    for intent, entries in out["intents"].items():
        if not isinstance(entries, list) or not all(isinstance(e, str) and e.count("\t") >= 2 for e in entries):
            continue
        heads = tuple(e.rsplit("\t", 1)[0] if "\n" not in e else "" for e in entries)
        # a pattern has no newline (folded words, regex, tokens): one joins them
        blob = zlib.compress("\n".join(e.split("\t", 2)[2] for e in entries).encode("utf-8"))
        lean[str(intent)] = (heads, blob)
    out["intents"] = lean
    # the JSON just parsed (~170 KB a language) left its pages in the heap: give them back, once per language
    # (the Wyoming daemon's RSS after traffic: -0.6 MB in one process, docs/model-card-home-history.md)
    give_back_memory()
    return out


@lru_cache(maxsize=CACHE)
def _regex(data: str, compact: str, greedy_names: bool) -> re.Pattern[str] | None:
    """A pattern of the language stored as `data` compiled (None: it does not compile: a hand-edited table). Its
    own cache, not the carriers'."""
    rules = _decode(data).get("rules")
    try:
        return compile_pattern.__wrapped__(expand(compact, rules if isinstance(rules, Mapping) else {}),
                                           greedy_names, False)
    except (re.error, ValueError, TypeError, RecursionError):
        return None


def readings(schema: Mapping[str, Any] | None, lang: str, text: str, names: Any,
             only: Collection[str] | None = None, satellite: bool = False) -> list[Reading]:
    """Every intent of `lang` (of `only`, where given) whose best template reads all of `text` with its names exact
    and its context met (`satellite`: a block that requires the satellite's area too, as Home Assistant reads a
    sentence said to a satellite: edge/home_slotless.py, for an answer that names nothing)."""
    stored = (schema or {}).get("templates")
    table = _table(schema, lang)
    intents = table.get("intents")
    if not isinstance(intents, Mapping) or not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        return []
    data = stored["languages"][lang]
    folded = fold(text)
    a, b = home_wildcards.strip_skip(folded, table.get("skip") or ())
    squeezed = folded[a:b].replace(" ", "")
    contexts = table.get("contexts") or []
    values = table.get("values") or {}
    out = []
    for intent, (heads, blob) in intents.items():
        if only is not None and intent not in only:
            continue
        best: tuple[int, Reading] | None = None
        patterns: list[str] | None = None
        for i, head in enumerate(heads):
            ci = _head(head, squeezed)
            if ci is None or not 0 <= ci < len(contexts) or not isinstance(contexts[ci], Mapping):
                continue
            ctx = contexts[ci]
            if patterns is None:
                patterns = zlib.decompress(blob).decode("utf-8").split("\n")
            if i >= len(patterns):
                continue
            compact = patterns[i]
            got = _read(data, compact, folded, a, b, text, lang, names, ctx, values, satellite)
            if got is None:
                continue
            score, spans, own, framed, lists = got
            if best is None or score > best[0]:
                best = (score, Reading(intent, spans, own, framed, lists, ctx.get("slots") or {}))
        if best is not None:
            out.append(best[1])
    return out


def _read(data: str, compact: str, folded: str, a: int, b: int, text: str, lang: str, names: Any,
          ctx: Mapping[str, Any], values: Mapping[str, Any],
          satellite: bool = False) -> tuple[int, list[dict[str, Any]], list[str], int, int] | None:
    """(own characters, spans, own words, names framed, small lists' values said) of one pattern reading folded[a:b] whole, or None."""
    if not _context_usable(ctx, satellite):
        return None
    for greedy in (False, True):   # names as short as the pattern allows, then as long (exact names only)
        rx = _regex(data, compact, greedy)
        m = rx.fullmatch(folded, a, b) if rx is not None else None
        if m is None:
            return None
        caps = [(k, m.start(k), m.end(k)) for k, v in m.groupdict().items() if v is not None and k[0] in "NLD"]
        if all(name_ok(k[1:].split("__", 1)[0], text[s:e], lang, names, ctx) for k, s, e in caps if k[0] == "N"):
            break
    else:
        return None
    spans, lists = [], 0
    for k, s, e in caps:
        slot = k[1:].split("__", 1)[0]
        said = text[s:e]
        value: Any = said
        listed = k[0] == "L"
        if listed:   # a small list's words: Home Assistant's value of that list
            value = _value(values.get(k[1:].split("__")[1]), folded[s:e], said)
        # a number's capture is any few words: they must say a number ("pause" is no volume)
        if k[0] == "D" and not _DIGITS.fullmatch(folded[s:e].strip()) and names_values.number(said, lang) is None:
            return None
        spans.append({"name": slot, "entity": slot, "raw": said, "value": value, "start": s, "end": e,
                      "confidence": 1.0})
        lists += listed
    spans.sort(key=lambda x: x["start"])
    inside = [(s, e) for _, s, e in caps]
    own = [w.group(0) for w in re.finditer(r"\w+", folded[:b]) if w.start() >= a
           and not any(s <= w.start() and w.end() <= e for s, e in inside)]
    return (b - a) - sum(e - s for _, s, e in caps), spans, own, sum(1 for k, _, _ in caps if k[0] == "N"), lists


_DIGITS = re.compile(r"\d+(?: \d+)?")   # "50", "2.5" folded to "2 5"


def _context_usable(ctx: Mapping[str, Any], satellite: bool = False) -> bool:
    """Whether this block's context is one we can check: only what a named thing is (its domain, its class). A block
    that requires the satellite's area ("turn on the lights" said in a room) is Home Assistant's, not ours, unless
    `satellite` (Home Assistant fills the area in)."""
    req = ctx.get("requires") or {}
    return isinstance(req, Mapping) and all(k in CONTEXT_KEYS or (satellite and k == "area") for k in req)


def name_ok(slot: str, said: str, lang: str, names: Any, ctx: Mapping[str, Any]) -> bool:
    """Whether `said` is exactly a name of the file of `slot`'s kind, and, for a thing's name, each thing it names
    of the domain/device class the block requires and none the block excludes."""
    if names is None:
        return False
    try:
        if not names.said_exactly(slot, said, lang):
            return False
        if slot != "name":
            return True
        req, exc = ctx.get("requires") or {}, ctx.get("excludes") or {}
        if not any(k in req or k in exc for k in CONTEXT_KEYS):
            return True
        res = names.resolve({"name": said}, lang)
        ids = getattr(res, "entity_ids", None)
        if not ids:
            return False
        things = [t for t in getattr(names, "entities", ()) if t.id in ids]
        if len(things) != len(ids):
            return False
        for t in things:
            for key, have in (("domain", t.domain), ("device_class", t.device_class)):
                want, never = _listed(req.get(key)), _listed(exc.get(key))
                if (want is not None and have not in want) or (never is not None and have in never):
                    return False
        return True
    except (AttributeError, ValueError, TypeError, KeyError):
        return False


def _listed(x: Any) -> frozenset[str] | None:
    if x is None:
        return None
    return frozenset(str(v) for v in (x if isinstance(x, list) else [x]))


def _value(known: Any, folded: str, said: str) -> Any:
    """Home Assistant's value of a small list's words (a state "an" -> "on", "maximum" -> 100), or the words."""
    if isinstance(known, Mapping):
        for pattern, out in known.items():
            try:
                if compile_pattern(pattern).fullmatch(folded.strip()):
                    return out
            except (re.error, ValueError, TypeError):
                continue
    return said


MIN_ANCHORS = 2   # the template's own words plus the names it frames: "Glotze pause" (1 + 1) and more
MIN_OWN = 1       # at least one word the template says itself: a name alone is no command


def anchored(r: Reading) -> bool:
    """Whether a reading says enough of its own: MIN_OWN words of the template, MIN_ANCHORS with the names."""
    # a small list's words ("höchste", "rot") are the template's own as much as its plain words: "{name} höchste"
    fixed = len(r.own) + r.lists
    return fixed >= MIN_OWN and fixed + r.names >= MIN_ANCHORS


def read(schema: Mapping[str, Any] | None, lang: str, text: str, names: Any) -> Reading | None:
    """The one intent whose template reads `text` (see the module docstring), or None: none, several, a generic
    reading (fewer than MIN_ANCHORS anchors), or a carrier intent's template that reads it too."""
    got = readings(schema, lang, text, names)
    if len(got) != 1 or not anchored(got[0]):
        return None
    r = got[0]
    # a carrier (a wildcard intent's template) that reads it with names of the file reads it too: the words do not
    # decide which ("kühle an Stube auf 46 runter" is no item "kühle an" of a list "Stube": Stube is no list, so not
    # that carrier's, as in Home Assistant, whose lists are the home's)
    if any(home_wildcards.reading(schema, other, lang, text, names) is not None
           for other in home_wildcards.carrier_intents(schema, lang)):
        return None
    return r
