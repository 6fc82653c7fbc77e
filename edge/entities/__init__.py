"""Built-in entities for every model: number, ordinal, datetime, duration, money, percentage, temperature.

    >>> import datetime as dt
    >>> tz = dt.timezone(dt.timedelta(hours=1))
    >>> now = dt.datetime(2026, 11, 28, 9, 30, tzinfo=tz)       # a Saturday
    >>> [(e.kind, e.raw, e.value) for e in find("wake me at 7 am tomorrow", ["datetime"], now=now)]
    [('datetime', '7 am tomorrow', '2026-11-29T07:00:00+01:00')]

`find(text, kinds, now=None, tz=None)` returns `Entity(start, end, kind, raw, value)`
records, character offsets into `text` (`text[start:end] == raw`), left to right,
without overlaps (a longer entity of another kind wins: "40 percent" is a
percentage, not also a number), from the first MAX_TEXT characters and the first
MAX_STARTS tokens that could begin an entity (bounds on what one call can cost:
docs/slots.md, "Limits"). `resolve(raw, kind)` resolves one phrase as a
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

The package: `tokens` (the words the grammar reads), `numbers` (numbers, ordinals),
`quantities` (durations, money, percentages, temperatures), `datetimes`; this
module holds the finder and the resolver.

Hand-written rules on purpose: docs/slots.md has the measurements of the
maintained parsers considered (ovos-date-parser, ovos-number-parser, text2num,
dateparser) against the budget of 0.1 ms per utterance and 5 MB of RSS.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Iterable, NamedTuple

from edge.entities.datetimes import _MONTHS, _WEEKDAYS, _datetime, _localize
from edge.entities.numbers import MAX_DIGITS, _NUMBER_WORDS, _ORD_TENS, _ORD_UNITS, _TENS, _UNITS, _number
from edge.entities.quantities import _CURRENCY_SYMBOLS, _DURATION_UNITS, _duration, _money, _percentage, _temperature
from edge.entities.tokens import _Tok, _tokens

# (edge.tagger reads the word lists _NUMBER_WORDS, _WEEKDAYS, _MONTHS and _DURATION_UNITS from here)

__all__ = ["KINDS", "Entity", "find", "resolve", "MAX_TEXT", "MAX_STARTS"]

KINDS = ("number", "ordinal", "datetime", "duration", "money", "percentage", "temperature")

# What one call may cost, whatever the text (docs/slots.md, "Limits"): every parse reads a bounded
# number of tokens from where it starts (numbers.MAX_NUMBER_WORDS, quantities.MAX_DURATION_PARTS),
# and the finder reads at most MAX_TEXT characters and tries at most MAX_STARTS tokens that could
# begin an entity. An utterance has a handful of those; a 16 KiB payload of "1h1h..." has 8,000, at
# about 24 us each on the 2-core x86_64 VM of docs/slots.md (more on a Pi).
MAX_TEXT = 1000
MAX_STARTS = 64


class Entity(NamedTuple):
    start: int
    end: int
    kind: str
    raw: str
    value: Any


# -- the finder -----------------------------------------------------------------------------------

_WORDY = set(_UNITS) | set(_TENS) | set(_ORD_UNITS) | set(_ORD_TENS) | set(_WEEKDAYS) | set(_MONTHS) | {
    "a", "an", "half", "quarter", "noon", "midday", "midnight", "today", "tonight", "tomorrow",
    "yesterday", "next", "this", "the", "in", "within", "now", "immediately", "minus", "negative", "dozen",
    "day", "couple", "-", "coming"} | set(_CURRENCY_SYMBOLS)


def _starts(tok: _Tok) -> bool:
    return tok.s[:1].isdigit() or tok.s in _WORDY


# The quantity parsers, each (tokens, start) -> (end, value) or None, in the order they are offered.
_QUANTITIES = (("money", _money), ("percentage", _percentage), ("temperature", _temperature),
               ("duration", _duration))


def find(text: str, kinds: Iterable[str] | None = None, now: dt.datetime | None = None,
         tz: dt.tzinfo | None = None) -> list[Entity]:
    """The built-in entities of `kinds` (default: all) in `text`, left to right, without overlaps."""
    want = set(KINDS if kinds is None else kinds)
    unknown = want - set(KINDS)
    if unknown:
        raise ValueError(f"unknown entity kinds {sorted(unknown)}; built-ins are {list(KINDS)}")
    toks = _tokens(text[:MAX_TEXT])
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
    starts = 0
    while i < n and starts < MAX_STARTS:
        tok = toks[i]
        if not _starts(tok):
            i += 1
            continue
        starts += 1
        best: tuple[int, str, Any] | None = None  # (end index, kind, value)

        def offer(end: int, kind: str, value: Any) -> None:
            nonlocal best
            if end > i and (best is None or end > best[0]):
                best = (end, kind, value)

        if "datetime" in want:
            try:
                r = _datetime(toks, i, now)
                if r is not None:
                    offer(r[0], "datetime", _localize(r[1], tz))
            except (OverflowError, ValueError):  # "in 99999999 days", "2026-99999999999-01": past the calendar
                pass
        for kind, parse in _QUANTITIES:
            if kind in want:
                r = parse(toks, i)
                if r is not None:
                    offer(r[0], kind, r[1])
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
    if kind == "number" and raw.isdigit() and raw.isascii() and len(raw) <= MAX_DIGITS:
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
