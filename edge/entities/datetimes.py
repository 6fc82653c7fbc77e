"""Dates and times of the built-in entities (edge.entities): times of day, dates, weekdays,
relative times ("in 20 minutes", "the day after tomorrow"), resolved against a reference time
and written as ISO 8601 in the device's (or a given) time zone."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Sequence

from edge.entities.numbers import _TENS, _UNITS, _number
from edge.entities.quantities import _DURATION_UNITS, _duration
from edge.entities.tokens import _Tok


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
