"""Text for name matching: spans and names -> lookup keys, and bounded fuzzy lookup.

Leaf module for edge/names.py. A key is the text case folded (NFKC), with
punctuation as separators, apostrophes gone (except elided articles, their
own token), the language's leading determiners stripped and accents folded.
A name from the file gets a second key with German umlauts written out
("Küche" -> "kueche"), so "Kueche" and "Küche" both find it.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from edge.names_lang import Language

_WS = str.maketrans({c: " " for c in "\t\n\r\x0b\x0c\x85\u2028\u2029"})
_APOS = str.maketrans({c: "'" for c in "\u2019\u2018\u02bc\u00b4`"})
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def fold(s: str) -> str:
    """Accents off: NFKD, combining marks dropped ("salle à manger" -> "salle a manger")."""
    if s.isascii():
        return s
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def clean(raw: str) -> str | None:
    """NFKC, case folded, whitespace controls -> space, format characters dropped; None if any other
    control character or a lone surrogate is in it (nothing in a names file has one)."""
    s = raw.translate(_WS)
    if not s.isprintable():
        kept = []
        for c in s:
            cat = unicodedata.category(c)
            if cat in ("Cc", "Cs", "Co", "Cn"):
                return None
            if cat != "Cf" and cat != "Zl" and cat != "Zp":
                kept.append(c)
        s = "".join(kept)
    return unicodedata.normalize("NFKC", s).translate(_APOS).casefold()


def tokens(s: str, lang: Language) -> list[str]:
    """Cleaned text -> word tokens: punctuation is a separator, apostrophes vanish except elided articles."""
    out: list[str] = []
    for tok in "".join(c if c.isalnum() or c == "'" else " " for c in s).split():
        for el in lang.elisions:
            if tok.startswith(el) and len(tok) > len(el):
                out.append(el)
                tok = tok[len(el):]
                break
        if tok not in lang.elisions:
            tok = tok.replace("'", "")
        if tok:
            out.append(tok)
    return out


@functools.lru_cache(maxsize=64)
def _prefix_index(prefixes: tuple[tuple[str, ...], ...]) -> tuple[tuple[int, ...], frozenset[tuple[str, ...]]]:
    return tuple(sorted({len(p) for p in prefixes}, reverse=True)), frozenset(prefixes)


def strip(toks: list[str], prefixes: tuple[tuple[str, ...], ...]) -> list[str]:
    """Drop leading phrases (longest first, repeatedly) but never the last token. O(len(toks)).
    Tokens are compared with their accents folded, as the phrases are written ("à la" = "a la")."""
    lengths, known = _prefix_index(prefixes)
    i = 0
    while True:
        for n in lengths:
            if len(toks) - i > n and tuple(fold(t) for t in toks[i:i + n]) in known:
                i += n
                break
        else:
            return toks[i:]


def finish(joined: str, lang: Language) -> str:
    """Tokens joined -> the key: accents folded, number words as digits ("Lampe zwei" = "lampe 2")."""
    return " ".join(lang.numbers.get(t, t) for t in fold(joined).split())


def keys(text: str, lang: Language) -> set[str]:
    """A name from the file -> its lookup keys in a language (accents folded, and German ä -> ae too)."""
    cleaned = clean(text) or ""
    joined = " ".join(strip(tokens(cleaned, lang), lang.determiners))
    out = {finish(joined, lang), finish(joined.translate(_TRANSLIT), lang)}
    return {k for k in out if k}


def budget(n: int) -> int:
    return 0 if n <= 3 else 1 if n <= 7 else 2


def distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, or limit + 1 once it must exceed limit. Only a band of 2 * limit + 1 cells
    per row is computed, so it costs O(len(a) * limit)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    over = limit + 1
    prev = [j if j <= limit else over for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        lo, hi = max(1, i - limit), min(len(b), i + limit)
        cur = [over] * (len(b) + 1)
        cur[0] = i if i <= limit else over
        ca = a[i - 1]
        best = cur[0]
        for j in range(lo, hi + 1):
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != b[j - 1]))
            cur[j] = v if v < over else over
            if v < best:
                best = v
        if best > limit:
            return over
        prev = cur
    return min(prev[-1], over)


def digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _bag(s: str) -> Mapping[str, int]:
    return MappingProxyType(dict(Counter(s)))


def _bag_gap(q: Mapping[str, int], k: Mapping[str, int]) -> int:
    """A lower bound of the edit distance from the characters alone, cheaper than the distance itself."""
    extra = sum(c - k.get(ch, 0) for ch, c in q.items() if c > k.get(ch, 0))
    missing = sum(c - q.get(ch, 0) for ch, c in k.items() if c > q.get(ch, 0))
    return max(extra, missing)


@dataclass(frozen=True)
class _Key:
    key: str
    targets: frozenset[Any]
    digits: str
    bag: Mapping[str, int]


@dataclass(frozen=True)
class Table:
    """key -> targets, plus the keys by length (with their digits and characters) for fuzzy matching."""

    exact: Mapping[str, frozenset[Any]]
    by_len: Mapping[int, tuple[_Key, ...]]

    @staticmethod
    def build(pairs: Iterable[tuple[str, Any]]) -> "Table":
        exact: dict[str, set[Any]] = {}
        for k, t in pairs:
            exact.setdefault(k, set()).add(t)
        frozen = {k: frozenset(v) for k, v in exact.items()}
        by_len: dict[int, list[_Key]] = {}
        for k, v in frozen.items():
            by_len.setdefault(len(k), []).append(_Key(k, v, digits(k), _bag(k)))
        return Table(MappingProxyType(frozen), MappingProxyType({n: tuple(v) for n, v in by_len.items()}))

    def fuzzy(self, q: str, admit: Callable[[Any], bool]) -> tuple[frozenset[Any], bool]:
        """(the one target within budget, ambiguous?); empty when none is within budget. Candidates within
        one edit more than the budget are looked at too: they may be the runner-up that makes it ambiguous."""
        k = budget(len(q))
        if k == 0:
            return frozenset(), False
        best: dict[Any, int] = {}
        qd, qb = digits(q), _bag(q)
        for n in range(len(q) - k - 1, len(q) + k + 2):
            for cand in self.by_len.get(n, ()):
                if cand.digits != qd:  # "lamp 2" is never "lamp 1"
                    continue
                targets = [t for t in cand.targets if admit(t)]
                if not targets or _bag_gap(qb, cand.bag) > k + 1:
                    continue
                d = distance(q, cand.key, k + 1)
                for t in targets:
                    if d < best.get(t, k + 2):
                        best[t] = d
        ranked = sorted(best.items(), key=lambda td: td[1])
        if not ranked or ranked[0][1] > k:
            return frozenset(), False
        if len(ranked) > 1 and ranked[1][1] <= ranked[0][1] + 1:
            return frozenset(), True
        return frozenset([ranked[0][0]]), False
