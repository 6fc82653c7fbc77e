"""Wildcard slots read by Home Assistant's carrier phrases: the words around an item, a message, a query.

A wildcard slot's words are free text; the slot tagger learnt spans from sampled values and cuts
("oat milk" -> "milk") or drops them. Once the model has chosen an intent whose templates have a
wildcard, `apply` matches the text against that intent's carrier patterns (the package's
`home_schema.wildcards`, written by edge/train/home_wildcards.py from HA's templates): where one
matches, the wildcard's words are taken exactly as said, and so are the names it frames ({name},
{area}, {floor}: resolved later as any span); the tagger's spans over those words are dropped, the
rest kept. Where none matches, the tagger's answer stands. The patterns of another intent are never
tried: a carrier decides spans, never the intent.

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
from typing import Any, Mapping, Sequence

HOME_LISTS = ("name", "area", "floor")   # lists the home fills: captured and resolved against the names file
MAX_NAME_WORDS = 6
MAX_NUMBER_WORDS = 4
MIN_CONFIDENCE = 1.0   # a carrier's span is the template's reading, not a guess


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


_REF = re.compile(r"<([^<>\s]+)>")
MAX_RULE_DEPTH = 20


def expand(compact: str, rules: Mapping[str, str]) -> str:
    """A compact pattern with its `<rule>` references replaced by the rules' patterns (nested rules too)."""
    for _ in range(MAX_RULE_DEPTH):
        if "<" not in compact:
            return compact
        compact = _REF.sub(lambda m: "(?:" + str(rules.get(m.group(1), "(?!)")) + ")", compact)
    raise ValueError("carrier rules nest too deep")


_TOKEN = re.compile(r"\{(\w*)(\*?)\}|\{#\}| ")
_WILD = r"(?<!\w)(?P<{}>\w(?:.*?\w)?)(?!\w)"   # free text: whole words, as few as the carrier allows


def _words(n: int) -> str:
    """1..n words, as few as the rest of the pattern allows."""
    return rf"(?<!\w)\w+(?:\s+\w+){{0,{n - 1}}}?"   # from a word's start; its end may be glued ("{name}sliste")


@lru_cache(maxsize=1024)
def compile_pattern(compact: str) -> re.Pattern[str]:
    """A carrier pattern as edge/train/home_wildcards.py stores it -> a regex over `fold`ed text: " " an
    optional blank, `{item*}` a wildcard capture, `{name}` a captured name of at most MAX_NAME_WORDS
    words, `{}` uncaptured words, `{#}` a number of at most MAX_NUMBER_WORDS words; the rest is regex
    (folded words have only letters and digits). Captures are named `<slot>__<n>`."""
    n = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        tok = m.group(0)
        if tok == " ":
            return r"\s*"
        if tok == "{#}":
            return _words(MAX_NUMBER_WORDS)
        slot, wild = m.group(1), m.group(2)
        if not slot:
            return _words(MAX_NAME_WORDS)
        n += 1
        return _WILD.format(f"{slot}__{n}") if wild else f"(?P<{slot}__{n}>{_words(MAX_NAME_WORDS)})"

    return re.compile(_TOKEN.sub(sub, compact))


def _strip_skip(folded: str, skip: Sequence[str]) -> tuple[int, int]:
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


def match(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str) -> list[tuple[str, int, int]] | None:
    """[(slot, start, end)] of the best carrier pattern of `intent` in `lang` matching `text`, or None."""
    table = ((schema or {}).get("wildcards") or {}).get(lang) or {}
    patterns = (table.get("carriers") or {}).get(intent)
    if not patterns or not isinstance(text, str):
        return None
    folded = fold(text)
    a, b = _strip_skip(folded, table.get("skip") or ())
    best: tuple[int, list[tuple[str, int, int]]] | None = None
    rules = table.get("rules") or {}
    for p in patterns:
        m = compile_pattern(expand(p, rules)).fullmatch(folded, a, b)
        if m is None:
            continue
        caps = [(k.split("__", 1)[0], m.start(k), m.end(k)) for k, v in m.groupdict().items() if v is not None]
        covered = (b - a) - sum(e - s for _, s, e in caps)   # the carrier's own characters
        if best is None or covered > best[0]:
            best = (covered, caps)
    return None if best is None else best[1]


def apply(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
          found: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The tagger's spans `found` with the carrier's spans in place of those they cover, or `found` as it
    is where no carrier of `intent` matches (or the package has none)."""
    caps = match(schema, intent, lang, text)
    if not caps:
        return list(found)
    names = {slot for slot, _, _ in caps}
    kept = [s for s in found if s.get("name") not in names
            and not any(int(s.get("start", 0)) < e and a < int(s.get("end", 0)) for _, a, e in caps)]
    entity = {s.get("name"): s.get("entity") for s in found}
    new = [{"name": slot, "entity": entity.get(slot) or slot, "raw": text[a:e], "value": text[a:e],
            "start": a, "end": e, "confidence": MIN_CONFIDENCE} for slot, a, e in caps]
    return sorted([*kept, *new], key=lambda s: int(s.get("start", 0)))
