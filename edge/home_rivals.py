"""Rival readings: may another intent's carrier template say the same sentence, and with the home's names?

edge/home_rescue.py stands on one intent's carrier only where no other intent's template reads the whole
text too. A rival's reading counts only where Home Assistant's matcher could take it: its {name}/{area}/{floor}
captures must be able to frame names of the names file ("put coffee filters in my list" is HassListAddItem's
"put {item} in [my] {name}" only in a home with a list called "list"). Split from edge/home_wildcards.py, whose
tables, folding and pattern compiler these use.
"""

from __future__ import annotations

from typing import Any, Mapping

from edge.home_needs import may_read as _may_read
from edge.home_wildcards import (MAX_NAME_WORDS, READINGS, WORD, compile_pattern, expand, fold, said_exactly,
                                 strip_skip, tables)


def most_names(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str) -> int | None:
    """The most {name}/{area}/{floor} any template of `intent` in `lang` (a wildcard's or not) matching the whole of
    `text` frames, whatever the names file holds; None where none matches. edge/home_rescue.py: may another
    intent's template say this sentence too?"""
    table = tables((schema or {}).get("wildcards")).get(lang) or {}
    patterns = (table.get("carriers") or {}).get(intent)
    if not patterns or not isinstance(text, str):
        return None
    folded = fold(text)
    a, b = strip_skip(folded, table.get("skip") or ())
    rules = table.get("rules") or {}
    squeezed = folded[a:b].replace(" ", "")
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
    table = tables((schema or {}).get("wildcards")).get(lang) or {}
    patterns = (table.get("carriers") or {}).get(intent)
    if not patterns or not isinstance(text, str) or names is None:
        return bool(patterns) and most_names(schema, intent, lang, text) is not None
    folded = fold(text)
    a, b = strip_skip(folded, table.get("skip") or ())
    rules = table.get("rules") or {}
    words = [(w.start(), w.end()) for w in WORD.finditer(folded)]

    def home_name(slot: str, s: int, e: int) -> bool:
        for i, (ws, _) in enumerate(words):
            for we in (end for _, end in words[i:i + MAX_NAME_WORDS]):
                if ws < e and s < we and said_exactly(names, slot, text[ws:we], lang):
                    return True
        return False

    squeezed = folded[a:b].replace(" ", "")
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
