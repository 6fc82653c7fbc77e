"""Durations, money, percentages and temperatures of the built-in entities (edge.entities): a
number (edge.entities.numbers) followed or preceded by its unit or currency."""

from __future__ import annotations

from typing import Sequence

from edge.entities.numbers import _MISSING, _num, _number
from edge.entities.tokens import _Tok


_DURATION_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
    "day": 86400, "days": 86400, "week": 604800, "weeks": 604800,
    "fortnight": 1209600, "fortnights": 1209600,
    "month": 2592000, "months": 2592000, "year": 31536000, "years": 31536000,
}
_CURRENCY_WORDS = {
    "dollar": "USD", "dollars": "USD", "buck": "USD", "bucks": "USD", "usd": "USD",
    "euro": "EUR", "euros": "EUR", "eur": "EUR",
    "pound": "GBP", "pounds": "GBP", "quid": "GBP", "gbp": "GBP",
    "yen": "JPY", "jpy": "JPY", "franc": "CHF", "francs": "CHF", "chf": "CHF",
    "rupee": "INR", "rupees": "INR", "inr": "INR", "yuan": "CNY", "cny": "CNY",
    "cad": "CAD", "aud": "AUD",
}
_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_MINOR = {"cent": "USD", "cents": "USD", "pence": "GBP", "penny": "GBP", "p": "GBP"}
_TEMP_UNITS = {"celsius": "celsius", "centigrade": "celsius", "c": "celsius",
               "fahrenheit": "fahrenheit", "f": "fahrenheit", "kelvin": "kelvin", "k": "kelvin"}


MAX_DURATION_PARTS = 6  # "2 weeks 3 days 4 hours 5 minutes and 6 seconds" is 5; more parts end the duration


def _duration(toks: Sequence[_Tok], i: int) -> tuple[int, int | float] | None:
    """"20 minutes", "an hour and a half", "half an hour", "1 hour 30 minutes", "a couple of days".

    At most MAX_DURATION_PARTS parts: the finder tries a duration at nearly every token, so an
    unbounded chain ("1h1h1h...") made it quadratic. Remembered per index (the datetime grammar
    and the finder both ask)."""
    memo = getattr(toks, "memo", None)
    if memo is None:
        return _parse_duration(toks, i)
    got = memo.get(("d", i), _MISSING)
    if got is _MISSING:
        got = memo[("d", i)] = _parse_duration(toks, i)
    return got  # type: ignore[return-value]


def _parse_duration(toks: Sequence[_Tok], i: int) -> tuple[int, int | float] | None:
    n = len(toks)
    total = 0.0
    j = i
    found = False
    parts = 0
    while j < n and parts < MAX_DURATION_PARTS:
        parts += 1
        k = j
        if found and toks[k].s in ("and", ","):
            k += 1
        if k >= n:
            break
        if toks[k].s == "half" and k + 2 < n and toks[k + 1].s in ("an", "a") and toks[k + 2].s in _DURATION_UNITS:
            total += 0.5 * _DURATION_UNITS[toks[k + 2].s]
            j, found = k + 3, True
            continue
        if found and toks[k].s == "a" and k + 1 < n and toks[k + 1].s == "half":  # "an hour and a half"
            total += 0.5 * last_unit
            j = k + 2
            break
        if toks[k].s in ("a", "an") and k + 1 < n and toks[k + 1].s in _DURATION_UNITS:
            value, k = 1, k + 1
        else:
            num = _number(toks, k, allow_article=True)
            if num is None or num.ordinal or num.end >= n or num.value < 0:
                break
            value, k = num.value, num.end
        unit = toks[k].s
        if unit not in _DURATION_UNITS or (len(unit) <= 2 and toks[k].start != toks[k - 1].end and unit in ("s", "h")):
            break
        last_unit = _DURATION_UNITS[unit]
        total += value * last_unit
        j, found = k + 1, True
    if not found:
        return None
    return j, _num(total)


def _money(toks: Sequence[_Tok], i: int) -> tuple[int, dict] | None:
    n = len(toks)
    if toks[i].s in _CURRENCY_SYMBOLS:  # $25, $ 1,200.50
        num = _number(toks, i + 1)
        if num is None or num.ordinal:
            return None
        return num.end, {"value": num.value, "unit": _CURRENCY_SYMBOLS[toks[i].s]}
    num = _number(toks, i)
    if num is None or num.ordinal or num.end >= n:
        return None
    j = num.end
    if toks[j].s in _CURRENCY_SYMBOLS and toks[j].start == toks[j - 1].end:  # 25€
        return j + 1, {"value": num.value, "unit": _CURRENCY_SYMBOLS[toks[j].s]}
    if toks[j].s in _MINOR and (toks[j].s != "p" or toks[j].start == toks[j - 1].end):
        return j + 1, {"value": _num(num.value * 0.01), "unit": _MINOR[toks[j].s]}
    cur = _CURRENCY_WORDS.get(toks[j].s)
    if cur is None:
        return None
    value = num.value
    j += 1
    # "12 euros 50", "5 dollars and 20 cents"
    k = j + (j < n and toks[j].s == "and")
    cents = _number(toks, k)
    if cents is not None and not cents.ordinal and 0 <= cents.value < 100 and isinstance(cents.value, int):
        if cents.end < n and toks[cents.end].s in _MINOR:
            return cents.end + 1, {"value": _num(value + cents.value / 100), "unit": cur}
        if k == j and (cents.end >= n or toks[cents.end].s not in _DURATION_UNITS):
            return cents.end, {"value": _num(value + cents.value / 100), "unit": cur}
    return j, {"value": value, "unit": cur}


def _percentage(toks: Sequence[_Tok], i: int) -> tuple[int, int | float] | None:
    num = _number(toks, i)
    if num is None or num.ordinal or num.end >= len(toks):
        return None
    j = num.end
    if toks[j].s in ("percent", "%", "pct"):
        return j + 1, num.value
    if toks[j].s == "per" and j + 1 < len(toks) and toks[j + 1].s == "cent":
        return j + 2, num.value
    return None


def _temperature(toks: Sequence[_Tok], i: int) -> tuple[int, dict] | None:
    n = len(toks)
    num = _number(toks, i)
    if num is None or num.ordinal or num.end >= n:
        return None
    j = num.end
    unit = None
    if toks[j].s in ("degrees", "degree", "deg", "°"):
        j += 1
        if j < n and toks[j].s in _TEMP_UNITS and (len(toks[j].s) > 1 or toks[j].start == toks[j - 1].end
                                                   or toks[j - 1].s != "°"):
            unit = _TEMP_UNITS[toks[j].s]
            j += 1
    elif toks[j].s in ("celsius", "centigrade", "fahrenheit", "kelvin"):
        unit = _TEMP_UNITS[toks[j].s]
        j += 1
    elif toks[j].s in ("c", "f") and toks[j].start == toks[j - 1].end:  # 21C
        unit = _TEMP_UNITS[toks[j].s]
        j += 1
    else:
        return None
    return j, {"value": num.value, "unit": unit}
