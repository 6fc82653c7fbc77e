"""Numbers and ordinals of the built-in entities (edge.entities): digits ("1,200.50", "3rd") and
number words ("twenty one", "two and a half", "a dozen", "third")."""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

from edge.entities.tokens import _Tok


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_ORD_UNITS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split())}
_ORD_TENS = {w: 10 * (i + 2) for i, w in enumerate(
    "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split())}
_ORD_SCALES = {"hundredth": 100, "thousandth": 1000, "millionth": 10**6}
_DIGITS = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\Z")
_ORD_DIGITS = re.compile(r"(\d+)(st|nd|rd|th)\Z")
# Bounds that keep every parse a constant amount of work from where it starts, whatever follows
# (edge.entities' finder tries a parse at nearly every token, so an unbounded one is quadratic):
MAX_DIGITS = 18  # a longer run of digits is no number anybody says (and int() of 5,000 digits raises)
MAX_NUMBER_WORDS = 12  # "nine hundred and ninety nine thousand nine hundred and ninety nine" is 11
MAX_FRACTION_DIGITS = 12  # "three point one four one five ..."
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES) | set(_ORD_UNITS) | set(_ORD_TENS) | set(_ORD_SCALES)


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 6)


def _digits(s: str) -> int | float | None:
    if len(s) > MAX_DIGITS + MAX_DIGITS // 3 + 1 + MAX_FRACTION_DIGITS:  # digits, group commas, a decimal part
        return None
    m = _DIGITS.match(s)
    if not m:
        return None
    whole = int(m.group(1).replace(",", ""))
    return _num(whole + float(m.group(2))) if m.group(2) else whole


class _Number(NamedTuple):
    end: int  # token index after the number
    value: int | float
    ordinal: bool


_MISSING = object()


def _number(toks: Sequence[_Tok], i: int, allow_article: bool = False) -> _Number | None:
    """A cardinal or ordinal starting at token i: digits, or number words ("two hundred and five");
    remembered per index in the token list's memo (edge.entities.tokens._Toks)."""
    memo = getattr(toks, "memo", None)
    if memo is None:
        return _parse_number(toks, i, allow_article)
    key = ("n1" if allow_article else "n0", i)
    got = memo.get(key, _MISSING)
    if got is _MISSING:
        got = memo[key] = _parse_number(toks, i, allow_article)
    return got  # type: ignore[return-value]


def _parse_number(toks: Sequence[_Tok], i: int, allow_article: bool) -> _Number | None:
    n = len(toks)
    if i >= n:
        return None
    sign = 1
    j = i
    if toks[j].s in ("minus", "negative") or (toks[j].s == "-" and j + 1 < n and toks[j + 1].start == toks[j].end
                                                and toks[j + 1].s[:1].isdigit()):
        sign, j = -1, j + 1
        if j >= n:
            return None
    s = toks[j].s
    m = _ORD_DIGITS.match(s) if len(s) <= MAX_DIGITS + 2 else None
    if m and sign == 1:
        return _Number(j + 1, int(m.group(1)), True)
    v = _digits(s)
    if v is not None:
        j += 1
        # "2 and a half", "1.5 million"
        if j + 2 < n and toks[j].s == "and" and toks[j + 1].s == "a" and toks[j + 2].s == "half":
            return _Number(j + 3, sign * (v + 0.5), False)
        if j < n and toks[j].s in ("million", "billion", "thousand", "dozen"):
            v = _num(v * (12 if toks[j].s == "dozen" else _SCALES[toks[j].s]))
            j += 1
        return _Number(j, sign * v, False)
    # words
    total = 0
    current = 0
    last = None  # kind of the last word taken: unit, teen, tens, scale
    seen = False
    if s in ("a", "an") and j + 1 < n and toks[j + 1].s in ("hundred", "thousand", "million", "dozen", "half", "quarter", "couple"):
        if toks[j + 1].s == "half":
            return _Number(j + 2, sign * 0.5, False) if allow_article else None
        if toks[j + 1].s == "quarter":
            return _Number(j + 2, sign * 0.25, False) if allow_article else None
        if toks[j + 1].s == "couple":
            k = j + 2 + (j + 2 < n and toks[j + 2].s == "of")
            return _Number(k, sign * 2, False)
        current, seen, last = 1, True, "unit"
        j += 1
    elif s == "half" and allow_article:
        return _Number(j + 1, sign * 0.5, False)
    elif s == "dozen":
        return _Number(j + 1, sign * 12, False)
    stop = min(n, j + MAX_NUMBER_WORDS)
    while j < stop:
        w = toks[j].s
        if w == "-" and last in ("tens",) and j + 1 < n and toks[j + 1].s in _UNITS | _ORD_UNITS.keys():
            j += 1
            continue
        if w in _UNITS:
            u = _UNITS[w]
            if last in ("unit", "teen") or (last == "tens" and u >= 10) or (last == "tens" and u == 0):
                break
            current += u
            last = "teen" if u >= 10 else "unit"
        elif w in _TENS:
            if last in ("unit", "teen", "tens"):
                break
            current += _TENS[w]
            last = "tens"
        elif w in _SCALES:
            if not seen:
                break
            sc = _SCALES[w]
            if sc == 100:
                if current == 0 or current >= 100:
                    break
                current *= 100
            else:
                total += max(current, 1) * sc
                current = 0
            last = "scale"
        elif w == "dozen" and seen:
            current *= 12
            last = "scale"
        elif w in _ORD_UNITS and last not in ("unit", "teen"):
            if w == "second" and not seen:
                # "a second", "one second" are durations; a bare "second" is an ordinal
                pass
            return _Number(j + 1, total + current + _ORD_UNITS[w], True) if sign == 1 else None
        elif w in _ORD_TENS and last not in ("unit", "teen", "tens"):
            return _Number(j + 1, total + current + _ORD_TENS[w], True) if sign == 1 else None
        elif w in _ORD_SCALES and seen:
            return _Number(j + 1, (total + max(current, 1)) * _ORD_SCALES[w], True) if sign == 1 else None
        elif w == "and" and seen and j + 1 < n:
            nxt = toks[j + 1].s
            if last == "scale" and (nxt in _UNITS or nxt in _TENS or nxt in _ORD_UNITS or nxt in _ORD_TENS):
                j += 1
                continue
            if nxt == "a" and j + 2 < n and toks[j + 2].s == "half":
                return _Number(j + 3, sign * _num(total + current + 0.5), False)
            break
        elif w == "point" and seen and j + 1 < n and (toks[j + 1].s in _UNITS or toks[j + 1].s.isdigit()):
            frac = ""
            k = j + 1
            end = min(n, k + MAX_FRACTION_DIGITS)
            while k < end and len(frac) < MAX_FRACTION_DIGITS and (toks[k].s in _UNITS and _UNITS[toks[k].s] < 10 or toks[k].s.isdigit()):
                frac += str(_UNITS[toks[k].s]) if toks[k].s in _UNITS else toks[k].s
                k += 1
            return _Number(k, sign * _num(float(f"{total + current}.{frac}")), False)
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    return _Number(j, sign * (total + current), False)
