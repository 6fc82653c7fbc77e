"""Built-in entities for every model: number, ordinal, datetime, duration, money, percentage, temperature.

    >>> import datetime as dt
    >>> tz = dt.timezone(dt.timedelta(hours=1))
    >>> now = dt.datetime(2026, 11, 28, 9, 30, tzinfo=tz)       # a Saturday
    >>> [(e.kind, e.raw, e.value) for e in find("wake me at 7 am tomorrow", ["datetime"], now=now)]
    [('datetime', '7 am tomorrow', '2026-11-29T07:00:00+01:00')]

`find(text, kinds, now=None, tz=None)` returns `Entity(start, end, kind, raw, value)`
records, character offsets into `text` (`text[start:end] == raw`), left to right,
without overlaps (a longer entity of another kind wins: "40 percent" is a
percentage, not also a number). `resolve(raw, kind)` resolves one phrase as a
whole (None when it is not one), which the learned slots use for a slot whose
values are of a built-in type.

Values (English; the tests hold a table of the phrasings with their values):

| kind | value | examples |
|---|---|---|
| number | int or float | "250", "1,200.50", "twenty one", "two and a half", "a dozen", "minus 3" |
| ordinal | int | "3rd", "third", "twenty first" |
| datetime | ISO 8601 date-time with the local UTC offset, seconds precision | "7 am tomorrow", "friday at noon", "march 3rd", "in 20 minutes", "tonight" |
| duration | seconds (int or float) | "20 minutes", "an hour and a half", "90 seconds" |
| money | {"value": number, "unit": ISO 4217 code} | "$25", "250 dollars", "12 euros 50", "five pounds" |
| percentage | number of percent (40 for 40 %) | "40 percent", "40%" |
| temperature | {"value": number, "unit": "celsius", "fahrenheit", "kelvin" or null} | "72 degrees", "21 °C", "minus five degrees celsius" |

Datetimes are resolved against the device's local time zone (or `tz`), at
the reference time `now` (default: the current time): a time of day without a
date is its next occurrence ("7 am" at 09:30 is tomorrow 07:00), a bare hour
after "at" is the next of its am/pm readings, a weekday is the next such day
after today ("friday" on a Friday is a week later; "this friday" is today), a
date without a year is its next occurrence, a date without a time is its
midnight (00:00). Parts of the day: morning 09:00, afternoon 15:00, evening
19:00, night and "tonight" 21:00. A month is 30 days and a year 365 days in a
duration; "in a month" adds a calendar month to a date. Spans include "in",
"from now" and "ago" of a relative time, not "at", "on" or "for".

Hand-written rules on purpose: docs/slots.md has the measurements of the
maintained parsers considered (ovos-date-parser, ovos-number-parser, text2num,
dateparser) against the budget of 0.1 ms per utterance and 5 MB of RSS.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from typing import Any, Iterable, NamedTuple, Sequence

__all__ = ["KINDS", "Entity", "find", "resolve"]

KINDS = ("number", "ordinal", "datetime", "duration", "money", "percentage", "temperature")


class Entity(NamedTuple):
    start: int
    end: int
    kind: str
    raw: str
    value: Any


# -- tokens ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\d+(?:[.,:]\d+)*(?:st|nd|rd|th)\b"  # 3rd, 21st
    r"|\d+(?:[.,:]\d+)*"  # 250, 1,200.50, 7:30
    r"|[^\W\d_]+(?:['’][^\W\d_]+)?"  # words, o'clock
    r"|[^\s\w]",  # $ € £ % ° - and other punctuation, one at a time
    re.UNICODE,
)


class _Tok(NamedTuple):
    s: str  # lower case
    start: int
    end: int


def _tokens(text: str) -> list[_Tok]:
    return [_Tok(m.group().lower().replace("’", "'"), m.start(), m.end()) for m in _TOKEN.finditer(text)]


# -- numbers --------------------------------------------------------------------------------------

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
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES) | set(_ORD_UNITS) | set(_ORD_TENS) | set(_ORD_SCALES)


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 6)


def _digits(s: str) -> int | float | None:
    m = _DIGITS.match(s)
    if not m:
        return None
    whole = int(m.group(1).replace(",", ""))
    return _num(whole + float(m.group(2))) if m.group(2) else whole


class _Number(NamedTuple):
    end: int  # token index after the number
    value: int | float
    ordinal: bool


def _number(toks: Sequence[_Tok], i: int, allow_article: bool = False) -> _Number | None:
    """A cardinal or ordinal starting at token i: digits, or number words ("two hundred and five")."""
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
    m = _ORD_DIGITS.match(s)
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
    while j < n:
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
            while k < n and (toks[k].s in _UNITS and _UNITS[toks[k].s] < 10 or toks[k].s.isdigit()):
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


# -- units ----------------------------------------------------------------------------------------

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


def _duration(toks: Sequence[_Tok], i: int) -> tuple[int, int | float] | None:
    """"20 minutes", "an hour and a half", "half an hour", "1 hour 30 minutes", "a couple of days"."""
    n = len(toks)
    total = 0.0
    j = i
    found = False
    while j < n:
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


# -- datetimes ------------------------------------------------------------------------------------

_WEEKDAYS = {w: i for i, w in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}
_WEEKDAYS.update({w: i for i, w in enumerate("mon tue wed thu fri sat sun".split())})
_WEEKDAYS.update({"tues": 1, "thur": 3, "thurs": 3, "weds": 2})
_MONTHS = {calendar.month_name[i].lower(): i for i in range(1, 13)}
_MONTHS.update({calendar.month_abbr[i].lower(): i for i in range(1, 13) if i != 5})
_MONTHS["sept"] = 9
_PARTS = {"morning": 9, "afternoon": 15, "evening": 19, "night": 21, "tonight": 21}
_AMPM = {"am": 0, "pm": 12, "a.m": 0, "p.m": 12}
_HHMM = re.compile(r"(\d{1,2}):(\d{2})\Z")


def _ampm(toks: Sequence[_Tok], j: int) -> tuple[int, int | None]:
    """am/pm (also "a.m.", "a m") at token j: (next index, 0 or 12), or (j, None)."""
    n = len(toks)
    if j >= n:
        return j, None
    s = toks[j].s
    if s in ("am", "pm"):
        return j + (2 if j + 1 < n and toks[j + 1].s == "." else 1), _AMPM[s]
    if s in ("a", "p") and j + 2 < n and toks[j + 1].s == "." and toks[j + 2].s == "m":
        return j + (4 if j + 3 < n and toks[j + 3].s == "." else 3), 0 if s == "a" else 12
    return j, None


def _hour_minute(h: int, m: int, mer: int | None) -> tuple[int, int] | None:
    if mer is not None:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + mer
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return h, m


def _time(toks: Sequence[_Tok], i: int, after_at: bool) -> tuple[int, int, int, bool] | None:
    """A time of day at token i: (next index, hour, minute, explicit) where explicit means am/pm or a
    24-hour reading was given (else a bare 1..12 hour is either)."""
    n = len(toks)
    s = toks[i].s
    if s in ("noon", "midday"):
        return i + 1, 12, 0, True
    if s == "midnight":
        return i + 1, 0, 0, True
    # half past six, quarter to nine, ten past eight, 20 to 5
    if s in ("half", "quarter") or s[:1].isdigit() or s in _UNITS or s in _TENS:
        if s == "half":
            mins, j = 30, i + 1
        elif s == "quarter":
            mins, j = 15, i + 1
        else:
            num = _number(toks, i)
            mins, j = (num.value, num.end) if num and not num.ordinal and isinstance(num.value, int) else (None, i)
            if j < n and toks[j].s in ("minutes", "minute", "mins", "min"):
                j += 1
            elif s[:1].isdigit():
                mins = None  # "20 to 5" is a range ("5/2 to 5/8"); "20 minutes to 5" and "ten to 5" are times
        if mins is not None and j + 1 < n and toks[j].s in ("past", "after", "to", "till", "before") and 0 < mins < 60:
            hnum = _number(toks, j + 1)
            if hnum and not hnum.ordinal and isinstance(hnum.value, int) and 1 <= hnum.value <= 12:
                h = hnum.value
                m = mins if toks[j].s in ("past", "after") else 60 - mins
                if toks[j].s not in ("past", "after"):
                    h = h - 1 if h > 1 else 12
                k, mer = _ampm(toks, hnum.end)
                hm = _hour_minute(h, m, mer)
                if hm:
                    if mer is None:
                        part = _part_after(toks, k)
                        if part is not None:
                            return part[0], _with_part(hm[0], part[1]), hm[1], True
                    return k, hm[0], hm[1], mer is not None
    m = _HHMM.match(s)
    if m:
        h, mi = int(m.group(1)), int(m.group(2))
        j, mer = _ampm(toks, i + 1)
        hm = _hour_minute(h, mi, mer)
        if hm is None:
            return None
        return j, hm[0], hm[1], mer is not None or h > 12 or h == 0 or m.group(1).startswith("0")
    num = _number(toks, i)
    if num is None or num.ordinal or not isinstance(num.value, int):
        return None
    h = num.value
    j = num.end
    mi = 0
    # seven thirty pm, 7 30 pm, 7 o'clock
    if j < n and toks[j].s in ("o'clock", "oclock"):
        j += 1
    else:
        mnum = _number(toks, j)
        if mnum and not mnum.ordinal and isinstance(mnum.value, int) and 0 <= mnum.value < 60 and (
                toks[j].s in _TENS or toks[j].s in ("oh", "o") or (toks[j].s.isdigit() and len(toks[j].s) == 2)):
            k2, mer2 = _ampm(toks, mnum.end)
            if mer2 is not None or after_at:
                mi, j = mnum.value, mnum.end
    k, mer = _ampm(toks, j)
    if mer is None and not after_at and not (j > num.end):
        # a bare number is a time only after "at" or with am/pm/o'clock
        if not (k < n and toks[k].s in ("in", "at") and _part_after(toks, k) is not None):
            return None
    hm = _hour_minute(h, mi, mer)
    if hm is None:
        return None
    h, mi = hm
    # "7 in the morning", "8 at night"
    if mer is None and 1 <= h <= 12:
        part = _part_after(toks, k)
        if part is not None and toks[k].s in ("in", "at"):
            return part[0], _with_part(h, part[1]), mi, True
    if mer is None and k < n and toks[k].s == "tonight" and 1 <= h <= 11:
        return k, h + 12 if h < 12 else h, mi, True
    return k, h, mi, mer is not None or h > 12 or h == 0


def _with_part(h: int, part_hour: int) -> int:
    """A 1..12 hour read in a part of the day (given by its default hour): 8 + evening -> 20."""
    if part_hour >= 12 and h < 12 and not (part_hour == 21 and h < 5):
        return h + 12
    if part_hour < 12 and h == 12:
        return 0
    return h


def _next_weekday(today: dt.date, wd: int, include_today: bool) -> dt.date:
    ahead = (wd - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + dt.timedelta(days=ahead)


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    return d.replace(year=y, month=m + 1, day=min(d.day, calendar.monthrange(y, m + 1)[1]))


def _date(toks: Sequence[_Tok], i: int, today: dt.date) -> tuple[int, dt.date, int | None] | None:
    """A date at token i: (next index, date, hour implied by a part of the day or None)."""
    n = len(toks)
    s = toks[i].s
    nxt = toks[i + 1].s if i + 1 < n else ""
    if s == "today":
        return i + 1, today, None
    if s == "tonight":
        return i + 1, today, 21
    if s == "tomorrow":
        return i + 1, today + dt.timedelta(days=1), None
    if s == "yesterday":
        return i + 1, today - dt.timedelta(days=1), None
    if s in ("the", "day") and " ".join(t.s for t in toks[i:i + 4]).startswith(("the day after tomorrow", "day after tomorrow")):
        return i + (4 if s == "the" else 3), today + dt.timedelta(days=2), None
    if s in ("this", "next", "coming") and nxt in _WEEKDAYS:
        return i + 2, _next_weekday(today, _WEEKDAYS[nxt], include_today=(s == "this")), None
    if s == "this" and nxt in ("morning", "afternoon", "evening"):
        return i + 2, today, _PARTS[nxt]
    if s in _WEEKDAYS:
        return i + 1, _next_weekday(today, _WEEKDAYS[s], include_today=False), None
    if s in ("this", "next", "the") and nxt == "weekend":
        sat = _next_weekday(today, 5, include_today=True)
        if s == "next":
            sat += dt.timedelta(days=7)
        return i + 2, sat, None
    if s == "next" and nxt == "week":
        return i + 2, today + dt.timedelta(days=7 - today.weekday()), None
    if s == "next" and nxt == "month":
        return i + 2, _add_months(today.replace(day=1), 1), None
    if s == "next" and nxt == "year":
        return i + 2, dt.date(today.year + 1, 1, 1), None
    # ISO 2026-12-01
    if re.fullmatch(r"\d{4}", s) and i + 4 < n and toks[i + 1].s == "-" and toks[i + 3].s == "-" \
            and toks[i + 2].s.isdigit() and toks[i + 4].s.isdigit():
        try:
            return i + 5, dt.date(int(s), int(toks[i + 2].s), int(toks[i + 4].s)), None
        except ValueError:
            return None
    # month day [year]: march 3rd, march the 3rd, june 15 2027
    if s in _MONTHS:
        j = i + 1 + (nxt == "the")
        num = _number(toks, j)
        if num and isinstance(num.value, int) and 1 <= num.value <= 31:
            return _with_year(toks, num.end, _MONTHS[s], num.value, today)
        return None
    # [the] 3rd [of] march [year], [the] 15th
    j = i + (s == "the")
    num = _number(toks, j)
    if num and isinstance(num.value, int) and 1 <= num.value <= 31 and (num.ordinal or j == i):
        k = num.end + (num.end < n and toks[num.end].s == "of")
        if k < n and toks[k].s in _MONTHS:
            return _with_year(toks, k + 1, _MONTHS[toks[k].s], num.value, today)
        prev = toks[i - 1].s if i > 0 else ""
        if num.ordinal and (prev in ("on", "for", "until", "by", "before", "after", "from", "till")
                            or (s == "the" and (num.end >= n or toks[num.end].s in ("at", ",", ".", "?")))):
            # "on the 15th", "the 15th": this month, else the next month that has that day
            day = num.value
            d = today
            for _ in range(13):
                if day <= calendar.monthrange(d.year, d.month)[1] and dt.date(d.year, d.month, day) >= today:
                    return num.end, dt.date(d.year, d.month, day), None
                d = _add_months(d.replace(day=1), 1)
    return None


def _with_year(toks: Sequence[_Tok], j: int, month: int, day: int, today: dt.date) -> tuple[int, dt.date, None] | None:
    n = len(toks)
    k = j + (j < n and toks[j].s == ",")
    if k < n and re.fullmatch(r"(19|20)\d\d", toks[k].s):
        try:
            return k + 1, dt.date(int(toks[k].s), month, day), None
        except ValueError:
            return None
    for year in (today.year, today.year + 1, today.year + 4):
        try:
            d = dt.date(year, month, day)
        except ValueError:
            continue
        if d >= today:
            return j, d, None
    return None


def _part_after(toks: Sequence[_Tok], j: int) -> tuple[int, int] | None:
    """"morning", "in the morning", "at night" after a date."""
    n = len(toks)
    if j < n and toks[j].s in ("morning", "afternoon", "evening", "night"):
        return j + 1, _PARTS[toks[j].s]
    if j + 2 < n and toks[j].s in ("in", "at") and toks[j + 1].s == "the" and toks[j + 2].s in _PARTS:
        return j + 3, _PARTS[toks[j + 2].s]
    if j + 1 < n and toks[j].s == "at" and toks[j + 1].s == "night":
        return j + 2, 21
    return None


def _relative(toks: Sequence[_Tok], i: int, now: dt.datetime) -> tuple[int, dt.datetime] | None:
    """"in 20 minutes", "in a month", "3 days from now", "two hours ago", "a week from today"."""
    n = len(toks)
    s = toks[i].s
    if s in ("in", "within"):
        d = _duration(toks, i + 1)
        if d is None:
            return None
        return d[0], _shift(toks, i + 1, d[0], now, 1)
    d = _duration(toks, i)
    if d is None:
        return None
    j = d[0]
    if j + 1 < n and toks[j].s == "from" and toks[j + 1].s in ("now", "today", "tomorrow"):
        base = now
        if toks[j + 1].s == "tomorrow":
            base = now + dt.timedelta(days=1)
        if toks[j + 1].s != "now":
            base = base.replace(hour=0, minute=0, second=0)
        return j + 2, _shift(toks, i, j, base, 1)
    if j < n and toks[j].s in ("ago", "earlier"):
        return j + 1, _shift(toks, i, j, now, -1)
    if j < n and toks[j].s in ("later", "hence"):
        return j + 1, _shift(toks, i, j, now, 1)
    return None


def _shift(toks: Sequence[_Tok], i: int, j: int, base: dt.datetime, sign: int) -> dt.datetime:
    """base +/- the duration in toks[i:j]; months and years move the calendar, the rest add seconds."""
    units = [t.s for t in toks[i:j]]
    d = _duration(toks, i)
    assert d is not None
    seconds = d[1]
    if len([u for u in units if u in _DURATION_UNITS]) == 1 and any(u.startswith(("month", "year")) for u in units):
        num = _number(toks, i, allow_article=True)
        count = 1 if num is None or toks[i].s in ("a", "an") else num.value
        if isinstance(count, int):
            months = count * (12 if any(u.startswith("year") for u in units) else 1)
            return base.replace(tzinfo=None).replace(
                **{k: v for k, v in zip(("year", "month", "day"), _ymd(_add_months(base.date(), sign * months)))})
    return base.replace(tzinfo=None) + dt.timedelta(seconds=sign * seconds)


def _ymd(d: dt.date) -> tuple[int, int, int]:
    return d.year, d.month, d.day


def _datetime(toks: Sequence[_Tok], i: int, now: dt.datetime) -> tuple[int, dt.datetime] | None:
    """The longest datetime starting at token i, as a naive local date-time."""
    n = len(toks)
    today = now.date()
    nnow = now.replace(tzinfo=None, microsecond=0)
    if toks[i].s in ("now", "immediately") and not (i > 0 and toks[i - 1].s in ("from",)):
        return i + 1, nnow
    rel = _relative(toks, i, now)
    if rel is not None:
        return rel[0], rel[1].replace(microsecond=0)
    after_at = i > 0 and toks[i - 1].s in ("at", "@", "by", "until", "till", "around", "about")
    # date first: "tomorrow at 7 am", "friday evening", "march 3rd at noon"
    dd = _date(toks, i, today)
    if dd is not None:
        j, date, part = dd
        hour, minute = (part, 0) if part is not None else (0, 0)
        k = j + (j < n and toks[j].s in (",",))
        pa = _part_after(toks, k)
        if pa is not None:
            j, hour = pa
            k = j
        # "tomorrow morning at 7", "tomorrow at 7 am", "friday 7 pm", "tonight at 9"
        k2 = k + (k < n and toks[k].s in ("at", "@", "around", "by"))
        if k2 < n:
            tm = _time(toks, k2, after_at=k2 > k)
            if tm is not None:
                j, h, mi, explicit = tm
                if not explicit and hour >= 12 and h < 12:
                    h += 12  # "tonight at 9", "friday evening at 7"
                elif not explicit and hour == 0 and part is None and pa is None and 1 <= h <= 7:
                    h += 12  # "tomorrow at 5": afternoon, not 5 in the morning
                hour, minute = h, mi
        return j, dt.datetime(date.year, date.month, date.day, hour, minute)
    tm = _time(toks, i, after_at)
    if tm is None:
        return None
    j, h, mi, explicit = tm
    # "7 am tomorrow", "8 pm on march 3rd", "noon on friday"
    k = j + (j < n and toks[j].s in ("on", ","))
    if k < n:
        dd = _date(toks, k, today)
        if dd is not None:
            j2, date, part = dd
            if not explicit and part is not None and part >= 12 and h < 12:
                h += 12
            elif not explicit and 1 <= h <= 7:
                h += 12
            return j2, dt.datetime(date.year, date.month, date.day, h, mi)
    # a time alone: its next occurrence (either reading of a bare hour)
    cands = [h] if explicit else [h % 12, h % 12 + 12]
    best = None
    for hh in cands:
        t = dt.datetime(today.year, today.month, today.day, hh, mi)
        if t <= nnow:
            t += dt.timedelta(days=1)
        if best is None or t < best:
            best = t
    assert best is not None
    return j, best


def _localize(naive: dt.datetime, tz: dt.tzinfo | None) -> str:
    if tz is None:
        aware = naive.astimezone()  # the device's local zone, with the offset in force on that date
    else:
        aware = naive.replace(tzinfo=tz)
    return aware.isoformat(timespec="seconds")


# -- the finder -----------------------------------------------------------------------------------

_WORDY = set(_UNITS) | set(_TENS) | set(_ORD_UNITS) | set(_ORD_TENS) | set(_WEEKDAYS) | set(_MONTHS) | {
    "a", "an", "half", "quarter", "noon", "midday", "midnight", "today", "tonight", "tomorrow",
    "yesterday", "next", "this", "the", "in", "within", "now", "immediately", "minus", "negative", "dozen",
    "day", "couple", "-", "coming"} | set(_CURRENCY_SYMBOLS)


def _starts(tok: _Tok) -> bool:
    return tok.s[:1].isdigit() or tok.s in _WORDY


def find(text: str, kinds: Iterable[str] | None = None, now: dt.datetime | None = None,
         tz: dt.tzinfo | None = None) -> list[Entity]:
    """The built-in entities of `kinds` (default: all) in `text`, left to right, without overlaps."""
    want = set(KINDS if kinds is None else kinds)
    unknown = want - set(KINDS)
    if unknown:
        raise ValueError(f"unknown entity kinds {sorted(unknown)}; built-ins are {list(KINDS)}")
    toks = _tokens(text)
    if not toks or not want:
        return []
    if now is None:
        now = dt.datetime.now(tz) if tz is not None else dt.datetime.now().astimezone()
    elif now.tzinfo is not None and tz is not None:
        now = now.astimezone(tz)
    elif now.tzinfo is not None and tz is None:
        tz = now.tzinfo
    found: list[Entity] = []
    n = len(toks)
    i = 0
    while i < n:
        tok = toks[i]
        if not _starts(tok):
            i += 1
            continue
        best: tuple[int, str, Any] | None = None  # (end index, kind, value)

        def offer(end: int, kind: str, value: Any) -> None:
            nonlocal best
            if end > i and (best is None or end > best[0]):
                best = (end, kind, value)

        if "datetime" in want:
            r = _datetime(toks, i, now)
            if r is not None:
                offer(r[0], "datetime", _localize(r[1], tz))
        if "money" in want:
            r = _money(toks, i)
            if r is not None:
                offer(r[0], "money", r[1])
        if "percentage" in want:
            r = _percentage(toks, i)
            if r is not None:
                offer(r[0], "percentage", r[1])
        if "temperature" in want:
            r = _temperature(toks, i)
            if r is not None:
                offer(r[0], "temperature", r[1])
        if "duration" in want:
            r = _duration(toks, i)
            if r is not None:
                offer(r[0], "duration", r[1])
        if "number" in want or "ordinal" in want:
            num = _number(toks, i)
            if num is not None and not (tok.s in ("a", "an") and not num.ordinal and num.value == 1):
                kind = "ordinal" if num.ordinal else "number"
                if kind in want and not (kind == "ordinal" and tok.s == "second" and i > 0 and toks[i - 1].s in ("a", "one", "per", "half")):
                    offer(num.end, kind, num.value)
        if best is None:
            i += 1
            continue
        end, kind, value = best
        start_c, end_c = toks[i].start, toks[end - 1].end
        found.append(Entity(start_c, end_c, kind, text[start_c:end_c], value))
        i = end
    return found


def resolve(raw: str, kind: str, now: dt.datetime | None = None, tz: dt.tzinfo | None = None) -> Any:
    """The value of `raw` as one `kind` entity covering all of it (leading/trailing filler words such
    as "at", "on", "for", "the" aside), or None."""
    if kind == "number" and raw.isdigit() and raw.isascii():
        return int(raw)  # the common case, without the grammar
    if kind != "datetime":  # values that do not depend on the time: remembered (a copy of a dict)
        v = _resolve_timeless(raw, kind)
        return dict(v) if isinstance(v, dict) else v
    return _resolve(raw, kind, now, tz)


@functools.lru_cache(maxsize=512)
def _resolve_timeless(raw: str, kind: str) -> Any:
    return _resolve(raw, kind, _EPOCH, dt.timezone.utc)


_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def _resolve(raw: str, kind: str, now: dt.datetime | None, tz: dt.tzinfo | None) -> Any:
    ents = find(raw, [kind], now=now, tz=tz)
    if len(ents) != 1:
        return None
    e = ents[0]
    rest = (raw[: e.start] + " " + raw[e.end:]).lower().split()
    if any(w not in _FILLER for w in rest):
        return None
    return e.value


_FILLER = {"at", "on", "for", "the", "by", "around", "about", "of", "in", "a", "an", "to", "this", ",", "."}
