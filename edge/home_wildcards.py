"""Wildcard slots read by Home Assistant's carrier phrases: the words around an item, a message, a query.

A wildcard slot's words are free text; the slot tagger learnt spans from sampled values and cuts
("oat milk" -> "milk") or drops them. Once the model has chosen an intent whose templates have a
wildcard, `apply` matches the text against that intent's carrier patterns (the package's
`home_schema.wildcards`, written by edge/train/home_wildcards.py from HA's templates): where one
matches, the wildcard's words are taken exactly as said, and so are the names it frames ({name},
{area}, {floor}: resolved later as any span); the tagger's spans over those words are dropped, the
rest kept. The carrier widens or fills the tagger's span, never overrules its reading (`_disputed`).
Where none matches, the tagger's answer stands. The patterns of another intent are never tried: a
carrier decides spans, never the intent (where the model is unsure, edge/home_rescue.py may stand on
the carrier of its top intent, and reads the other intents' patterns only to refuse).

The table is stored zlib + base64 (`encode`/`tables`) and trusted as the package is: a package is
verified (signed deployment) before it is loaded; a pattern that does not compile is skipped.

Matching is over `fold`ed text (lower case, accents and punctuation off, one character per
character, so offsets are the text's own), fully anchored, after the language's skip words ("please")
at either end. Of several matching patterns the one whose own words cover most of the text wins (the
longest prefix + suffix). Captures are lazy and names bounded to a few words, so a 500-word item
costs one linear scan per pattern.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Mapping, NamedTuple, Sequence

from edge import home_tables
from edge.heap import give_back_memory
from edge.home_tables import MAX_TABLE, pack, unpack  # noqa: F401 (the codec's home; edge/home_templates.py's too)
from edge.home_needs import may_read as _may_read, required  # noqa: F401 (required: the recipe's too)

HOME_LISTS = ("name", "area", "floor")   # lists the home fills: captured and resolved against the names file
MAX_NAME_WORDS = 6
MAX_NUMBER_WORDS = 4
MIN_CONFIDENCE = 1.0   # a carrier's span is the template's reading, not a guess
# Wildcards a carrier fills or widens as said: a list item, a broadcast, a search, a timer's name. Any other
# (a timer's delayed command, "in 5 minutes turn off the kettle") is widened only where the tagger found
# it, at the tagger's confidence: an unsure command stays unsure (edge/home_words.py refuses it).
FREE_SLOTS = frozenset({"item", "message", "search_query", "name"})


def fold(text: str) -> str:
    """Lower case, accents off, anything but a letter or digit a blank: one character for each of `text`'s."""
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch.lower() if ch.isalnum() else " ")
            continue
        base = unicodedata.normalize("NFD", ch)[:1].lower()[:1]
        out.append(base if base.isalnum() else " ")
    return "".join(out)


RULE_REF = re.compile(r"<([^<>\s]+)>")
MAX_RULE_DEPTH = 20


def expand(compact: str, rules: Mapping[str, str]) -> str:
    """A compact pattern with its `<rule>` references replaced by the rules' patterns (nested rules too)."""
    for _ in range(MAX_RULE_DEPTH):
        if "<" not in compact:
            return compact
        compact = RULE_REF.sub(lambda m: "(?:" + str(rules.get(m.group(1), "(?!)")) + ")", compact)
    raise ValueError("carrier rules nest too deep")


_TOKEN = re.compile(r"\{(\w*)(\*?)\}|\{#\}|\{(\w*)@(#|\w*)\}| ")
_WILD = r"(?<!\w)(?P<{}>\w(?:.*?\w)?)(?!\w)"   # free text: whole words, as few as the carrier allows
_WILD_GREEDY = r"(?<!\w)(?P<{}>\w(?:.*\w)?)(?!\w)"   # ... as many


def _words(n: int, greedy: bool = False) -> str:
    """1..n words, as few (or with `greedy`, as many) as the rest of the pattern allows."""
    # from a word's start; its end may be glued ("{name}sliste")
    return rf"(?<!\w)\w+(?:\s+\w+){{0,{n - 1}}}" + ("" if greedy else "?")


# How a pattern's captures are tried: as few words as possible first (the plain reading); where the names
# that reading captures are in no names file, with the names as long as possible ("add X to Shopping List":
# {name} "Shopping List", not "Shopping" + the template's optional "list"), then with the free text as long
# as possible ("Dachrinne reinigen Haushalt hinzufügen": item "Dachrinne reinigen", name "Haushalt"); a
# later reading's names must be the file's word for word (`_best`).
WORD = re.compile(r"\w+")

READINGS = ((False, False), (True, False), (False, True))   # (greedy names, greedy free text)


# Bounded well below a package's patterns (~1,600 carriers, three readings each: ~6 MB compiled, 1.1-1.6 KB each
# by sys.getsizeof): the prefilter (edge/home_needs.py) compiles a line's few, the bench's traffic ~20, so a flood
# of varied lines recompiles the least used instead of keeping every one (tests/test_home_wildcards.py)
@lru_cache(maxsize=256)
def compile_pattern(compact: str, greedy_names: bool = False, greedy_free: bool = False) -> re.Pattern[str]:
    """A carrier pattern as edge/train/home_wildcards.py stores it -> a regex over `fold`ed text: " " an
    optional blank, `{item*}` a wildcard capture, `{*}` free text never returned, `{name}` a captured
    name of at most MAX_NAME_WORDS words, `{}` uncaptured words, `{#}` a number of at most
    MAX_NUMBER_WORDS words; the rest is regex (folded words have only letters and digits). Captures are
    named `W<slot>__<n>` (a wildcard), `N<slot>__<n>` (a name) or `X__<n>` (`{*}`). `greedy_names`,
    `greedy_free`: those captures take as many words as the pattern allows (`READINGS`)."""
    n = 0
    wild_re = _WILD_GREEDY if greedy_free else _WILD

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        tok = m.group(0)
        if tok == " ":
            return r"\s*"
        if tok == "{#}":
            return _words(MAX_NUMBER_WORDS)
        if m.group(3) is not None:   # edge/home_templates.py's captures, closed by `{@}`
            if not m.group(3):
                return ")"
            n += 1
            if m.group(4) == "#":   # `{slot@#}`: a number's words as `slot` (D)
                return f"(?P<D{m.group(3)}__{n}>"
            return f"(?P<L{m.group(3)}__{m.group(4)}__{n}>"   # `{slot@list}`: a small list's words (L)
        slot, wild = m.group(1), m.group(2)
        if not slot and not wild:
            return _words(MAX_NAME_WORDS)
        n += 1
        if not slot:   # `{*}`: free text that is no span of ours (X: matched, never returned)
            return wild_re.format(f"X__{n}")
        # W: a wildcard's capture, N: a name's
        return wild_re.format(f"W{slot}__{n}") if wild else \
            f"(?P<N{slot}__{n}>{_words(MAX_NAME_WORDS, greedy_names)})"

    return _compile(_TOKEN.sub(sub, compact))


def _compile(regex: str) -> re.Pattern[str]:
    """`re.compile` without re's own cache: that cache keeps the last 512 patterns compiled anywhere in the process,
    so each pattern compiled here (the carriers', the templates': ~1.5 KB each, with rules inlined more) stayed
    alive after our bounded lru_caches let it go, and pushed the daemon's own regexes out of it. Only the
    caller's lru_cache holds a pattern now (tests/test_home_templates.py: the live patterns stay bounded)."""
    if _re_compiler is None:
        return re.compile(regex)
    return _re_compiler.compile(regex, 0)


try:   # CPython's compiler behind re.compile (3.11+: re._compiler); elsewhere re.compile as it is
    from re import _compiler as _re_compiler
except ImportError:   # pragma: no cover
    _re_compiler = None


def strip_skip(folded: str, skip: Sequence[str]) -> tuple[int, int]:
    """(start, end) of `folded` with the skip words at either end (and blanks) left out."""
    a, b = 0, len(folded)
    changed = True
    while changed:
        changed = False
        while a < b and folded[a] == " ":
            a += 1
        while b > a and folded[b - 1] == " ":
            b -= 1
        for w in skip:
            if folded.startswith(w, a) and (a + len(w) == b or folded[a + len(w)] == " "):
                a, changed = a + len(w), True
                break
            if folded.endswith(w, a, b) and (b - len(w) == a or folded[b - len(w) - 1] == " "):
                b, changed = b - len(w), True
                break
    return a, b


FORMAT = "zlib+base64 json"


def encode(table: Mapping[str, Any]) -> dict[str, str]:
    """The per-language tables as the manifest stores them (`pack`)."""
    return {"format": FORMAT, "data": pack(table)}


def tables(stored: Any) -> Mapping[str, Any]:
    """{lang: {"skip", "rules", "carriers"}} from the manifest's `home_schema.wildcards`; {} for none or
    for anything that is not one (a package is verified before it is loaded; this only never raises)."""
    if not isinstance(stored, Mapping) or stored.get("format") != FORMAT or not isinstance(stored.get("data"), str):
        return {}
    return _decode(stored["data"])


@lru_cache(maxsize=4)
def _decode(data: str) -> Mapping[str, Any]:
    """{lang: table}, each language parsed when first asked (edge/home_tables.py: an English home holds 24 KB of
    the blob's 175 KB decoded, not all four languages' ~350 KB of objects)."""
    out = home_tables.by_language(data)
    if out:
        give_back_memory()   # the blob just inflated and scanned left its pages in the heap (edge/heap.py): once
    return out


def match(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
          names: Any = None) -> list[tuple[str, int, int, bool]] | None:
    """[(slot, start, end, a wildcard's)] of the best carrier pattern of `intent` in `lang` matching `text`, or None:
    none matches, or the best is one of the intent's templates without a wildcard ("cancel the 5 minute
    timer", "cancel the kitchen timer": a duration, an area, not a timer named "5 minute" or "kitchen").
    Best: the most characters outside the captures, then no wildcard (Home Assistant ranks a list's
    match over a wildcard's). With `names` (edge.names.Names), a pattern whose {name}/{area}/{floor}
    names nothing in the file does not match, as in Home Assistant, whose lists are the home's."""
    # the first reading and the long names' (exact): the long free text's (`reading`, for the rescue) took
    # "entspannte klaviermusik *von*" as a query where the tagger had it right (a German template holdout
    # line: one more wrong action, measured)
    best = _best(schema, intent, lang, text, names, READINGS[:2])
    if best is None or best[0][1]:
        return None
    return [(k[1:].split("__", 1)[0], s, e, k[0] == "W") for k, s, e in best[1] if k[0] != "X"]


def reading(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
            names: Any = None) -> tuple[list[tuple[str, int, int, bool]], list[tuple[str, int, int]]] | None:
    """`match`'s captures and the carrier's own words, (folded word, start, end): the words of `text` (skip words
    off) outside every capture (a wildcard's, a name's, a `{*}`'s), i.e. what the template itself says ("add",
    "to", "my", "list" of "add oat milk to my shopping list"). edge/home_rescue.py weighs a carrier by them.
    Unlike `match`, every one of `READINGS` is tried where the first one's names are in no names file (`match`
    leaves out the long free text's)."""
    best = _best(schema, intent, lang, text, names, READINGS)
    if best is None or best[0][1]:
        return None
    (_, _), caps, a, b = best
    folded = fold(text)
    inside = [(s, e) for _, s, e in caps]
    own = [(m.group(0), m.start(), m.end()) for m in WORD.finditer(folded, a, b)
           if not any(s <= m.start() and m.end() <= e for s, e in inside)]
    return [(k[1:].split("__", 1)[0], s, e, k[0] == "W") for k, s, e in caps if k[0] != "X"], own


def carrier_intents(schema: Mapping[str, Any] | None, lang: str) -> list[str]:
    """The intents of `lang` the package has carrier patterns for (those with a wildcard slot)."""
    table = tables((schema or {}).get("wildcards")).get(lang) or {}
    return sorted(table.get("carriers") or {})


class Carriers(NamedTuple):
    """`intent`'s carrier patterns in `lang` and the text as they read it: folded, the skip words at either end
    (a, b) left out, and its letters run together (`squeezed`: what edge/home_needs.py's prefilter looks in)."""

    table: Mapping[str, Any]
    patterns: Sequence[str]
    folded: str
    a: int
    b: int
    rules: Mapping[str, str]
    squeezed: str


def carriers(schema: Mapping[str, Any] | None, intent: str, lang: str, text: Any) -> Carriers | None:
    """The set-up every carrier reading starts from (this module's `_best`, edge/home_rivals.py's readings), or None
    where `intent` has no carrier in `lang` or `text` is no text."""
    table = tables((schema or {}).get("wildcards")).get(lang) or {}
    patterns = (table.get("carriers") or {}).get(intent)
    if not patterns or not isinstance(text, str):
        return None
    folded = fold(text)
    a, b = strip_skip(folded, table.get("skip") or ())
    return Carriers(table, patterns, folded, a, b, table.get("rules") or {}, folded[a:b].replace(" ", ""))


def _best(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, names: Any,
          readings: Sequence[tuple[bool, bool]]) -> tuple[tuple[int, bool], list[tuple[str, int, int]], int, int] | None:
    """((the carrier's own characters, no wildcard), [(capture key, start, end)], start, end of the text matched)
    of the best pattern of `intent` matching all of `text`, each tried in `readings` (of `READINGS`) until its
    names name something (in a reading after the first, word for word: "der Einkaufs Liste" is no list
    "Einkaufsliste" there, where Home Assistant's reading is the shopping list's own template; taking it cost two
    German wrong actions on the in-template proxy); None where none does."""
    c = carriers(schema, intent, lang, text)
    if c is None:
        return None
    table, patterns, folded, a, b, rules, squeezed = c
    best: tuple[tuple[int, bool], list[tuple[str, int, int]]] | None = None
    for p in patterns:
        if not _may_read(p, table, squeezed):
            continue
        for greedy in readings:   # another reading only where the first one's names are in no names file
            try:
                m = compile_pattern(expand(p, rules), *greedy).fullmatch(folded, a, b)
            except (re.error, ValueError, TypeError):   # a hand-edited table: that pattern is no carrier
                break
            if m is None:
                break   # the readings differ in how words are shared out, not in what matches
            caps = [(k, m.start(k), m.end(k)) for k, v in m.groupdict().items() if v is not None]
            wild = any(k[0] == "W" for k, _, _ in caps)
            key = ((b - a) - sum(e - s for _, s, e in caps), not wild)   # the carrier's own characters
            if best is not None and key <= best[0]:
                break
            said = _names_something if greedy == readings[0] else said_exactly   # a long reading: exact names only
            if names is not None and not all(said(names, k[1:].split("__", 1)[0], text[s:e], lang)
                                             for k, s, e in caps if k[0] == "N"):
                continue
            best = (key, caps)
            break
    return None if best is None else (best[0], best[1], a, b)


def said_exactly(names: Any, slot: str, said: str, lang: str) -> bool:
    """Whether `said` is word for word a name of `slot`'s kind in the names file (edge.names.Names.said_exactly)."""
    try:
        return bool(names.said_exactly(slot, said, lang))
    except (AttributeError, ValueError, TypeError, KeyError):
        return False


def _names_something(names: Any, slot: str, said: str, lang: str) -> bool:
    """Whether `said` as `slot` names something in the names file (one thing or several: a name)."""
    try:
        res = names.resolve({slot: said}, lang)
    except (ValueError, TypeError, KeyError):
        return False
    if getattr(res, "reason", None) == "ambiguous":   # several things of that name: a name all the same
        return True
    # a name, not a kind ("Enceinte" alone is any speaker: the carrier's "{name} de la {area}" misreads it)
    return getattr(res, "reason", None) is None and slot in getattr(res, "slots", {})


def apply(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
          found: Sequence[Mapping[str, Any]], names: Any = None,
          caps: Sequence[tuple[str, int, int, bool]] | None = None) -> list[Mapping[str, Any]]:
    """The tagger's spans `found` with the carrier's spans in place of those they cover, or `found` as it
    is where no wildcard carrier of `intent` matches best (or the package has none). `caps`: the carrier's
    captures already read (`reading`), else `match`'s."""
    caps = match(schema, intent, lang, text, names) if caps is None else list(caps)
    if not caps or _disputed(caps, found):
        return list(found)
    units = ((schema or {}).get("unit_words") or {}).get(lang) or {}
    unit_words = frozenset(fold(w).strip() for ws in units.values() if isinstance(ws, list) for w in ws
                           if isinstance(w, str))
    caps = _trimmed(caps, found, text, _carrier_words(schema, lang), unit_words)
    if caps is None:
        return list(found)
    sure: dict[str, float] = {}
    for slot, _, _, wild in list(caps):
        if wild and slot not in FREE_SLOTS:
            own = [float(s.get("confidence", 0.0)) for s in found if s.get("name") == slot]
            if own:
                sure[slot] = min(own)
            else:   # not ours to fill
                caps = [c for c in caps if c[0] != slot]
    said = {slot for slot, _, _, _ in caps}
    kept = [s for s in found if s.get("name") not in said
            and not any(int(s.get("start", 0)) < e and a < int(s.get("end", 0)) for _, a, e, _ in caps)]
    entity = {s.get("name"): s.get("entity") for s in found}
    new = [{"name": slot, "entity": entity.get(slot) or slot, "raw": text[a:e], "value": text[a:e],
            "start": a, "end": e, "confidence": sure.get(slot, MIN_CONFIDENCE)} for slot, a, e, _ in caps]
    return sorted([*kept, *new], key=lambda s: int(s.get("start", 0)))


def _disputed(caps: Sequence[tuple[str, int, int, bool]], found: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the tagger read the words otherwise: a span of another slot inside a capture's words
    ("take 30 seconds off attic timer": attic an area, not a timer's name; "musik von treppenhaus"), or
    the capture's own slot on words the carrier leaves out ("podcast about history" cut to "about
    history", "Enceinte de la cuisine" to "Enceinte"). The carrier extends the tagger's span ("milk" ->
    "oat milk") and fills a span it dropped; it never overrules a reading. Then the tagger's answer
    stands, as without carriers."""
    for slot, a, e, _ in caps:
        for s in found:
            sa, se = int(s.get("start", 0)), int(s.get("end", 0))
            if s.get("name") == slot:
                if not (a <= sa and se <= e):
                    return True
            elif sa < e and a < se:
                return True
    return False



def template_words(schema: Mapping[str, Any] | None, lang: str) -> frozenset[str]:
    """Every word the language's templates say themselves, not a list's value (folded)."""
    return _carrier_words(schema, lang)


def _carrier_words(schema: Mapping[str, Any] | None, lang: str) -> frozenset[str]:
    """Every word the language's templates say themselves, not a list's value ("add", "to", "mir", "some")."""
    stored = (schema or {}).get("wildcards")
    return _words_of(stored["data"], lang) if tables(stored) else frozenset()


@lru_cache(maxsize=16)
def _words_of(data: str, lang: str) -> frozenset[str]:
    words = (_decode(data).get(lang) or {}).get("words")
    return frozenset(w for w in words if isinstance(w, str)) if isinstance(words, list) else frozenset()


def _trimmed(caps: Sequence[tuple[str, int, int, bool]], found: Sequence[Mapping[str, Any]], text: str,
             carrier: frozenset[str], units: frozenset[str] = frozenset()) -> list[tuple[str, int, int, bool]] | None:
    """The captures, or None where a wildcard would fill a span the tagger left empty with nothing but
    words the templates say themselves ("stell mir einen timer für zwanzig minuten": no timer named
    "mir einen"), or a timer's name with a duration's unit word ("pause the ninety eight minute and 30 second
    timer": a duration no template placed, not a timer's name; home_schema's unit_words). A span the tagger found is widened as the carrier says, template words included:
    trimming them cut "return the library books" and "Dachrinne reinigen" (measured on the proxy)."""
    folded = fold(text)
    for slot, a, e, wild in caps:
        if wild and not any(s.get("name") == slot for s in found):
            said = [m.group(0) for m in WORD.finditer(folded, a, e)]
            # a unit word only in a timer's name: a message or an item says durations ("broadcast that the movie
            # starts in ten minutes": refused as a misfit before, 5 English proxy lines)
            if all(w in carrier for w in said) or (slot == "name" and any(w in units for w in said)):
                return None
    return list(caps)
