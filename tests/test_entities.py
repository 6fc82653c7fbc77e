"""Built-in entities (edge/entities.py): a table of phrasings with their resolved values.

Reference time: Saturday 2026-11-28 09:30 in Europe/Berlin (UTC+01:00; +02:00 from the
end of March, which the dates in summer show).
"""

from __future__ import annotations

import datetime as dt
import doctest
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

import edge.entities
from edge.entities import KINDS, Entity, find, resolve

TZ = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 11, 28, 9, 30, tzinfo=TZ)

# (kind asked for, text, [(raw, value), ...])
TABLE = [
    ('number', '250', [('250', 250)]),
    ('number', '1,200', [('1,200', 1200)]),
    ('number', '3.75', [('3.75', 3.75)]),
    ('number', 'twenty one', [('twenty one', 21)]),
    ('number', 'twenty-one', [('twenty-one', 21)]),
    ('number', 'one hundred and five', [('one hundred and five', 105)]),
    ('number', 'two thousand three hundred', [('two thousand three hundred', 2300)]),
    ('number', 'a hundred', [('a hundred', 100)]),
    ('number', 'a dozen', [('a dozen', 12)]),
    ('number', 'two dozen', [('two dozen', 24)]),
    ('number', 'two point five', [('two point five', 2.5)]),
    ('number', 'minus 3', [('minus 3', -3)]),
    ('number', 'negative twelve', [('negative twelve', -12)]),
    ('number', '1.5 million', [('1.5 million', 1500000)]),
    ('number', 'three and a half', [('three and a half', 3.5)]),
    ('number', 'seventeen', [('seventeen', 17)]),
    ('number', 'ninety nine', [('ninety nine', 99)]),
    ('number', 'a couple of', [('a couple of', 2)]),
    ('number', 'zero', [('zero', 0)]),
    ('number', 'i want 2 or 3', [('2', 2), ('3', 3)]),
    ('ordinal', '3rd', [('3rd', 3)]),
    ('ordinal', '21st', [('21st', 21)]),
    ('ordinal', 'third', [('third', 3)]),
    ('ordinal', 'twenty first', [('twenty first', 21)]),
    ('ordinal', 'the second song', [('second', 2)]),
    ('ordinal', 'play the fifth track', [('fifth', 5)]),
    ('ordinal', 'one hundredth', [('one hundredth', 100)]),
    ('ordinal', 'the 2nd one', [('2nd', 2)]),
    ('ordinal', 'twelfth', [('twelfth', 12)]),
    ('ordinal', 'fortieth', [('fortieth', 40)]),
    ('percentage', '40 percent', [('40 percent', 40)]),
    ('percentage', '40%', [('40%', 40)]),
    ('percentage', 'twenty five per cent', [('twenty five per cent', 25)]),
    ('percentage', 'set volume to 3.5 percent', [('3.5 percent', 3.5)]),
    ('percentage', 'fifty percent brighter', [('fifty percent', 50)]),
    ('percentage', '100 pct', [('100 pct', 100)]),
    ('temperature', '72 degrees', [('72 degrees', {'value': 72, 'unit': None})]),
    ('temperature', '21 °C', [('21 °C', {'value': 21, 'unit': 'celsius'})]),
    ('temperature', '21°C', [('21°C', {'value': 21, 'unit': 'celsius'})]),
    ('temperature', 'minus five degrees celsius', [('minus five degrees celsius', {'value': -5, 'unit': 'celsius'})]),
    ('temperature', '68 degrees fahrenheit', [('68 degrees fahrenheit', {'value': 68, 'unit': 'fahrenheit'})]),
    ('temperature', '18C', [('18C', {'value': 18, 'unit': 'celsius'})]),
    ('temperature', 'twenty two degrees', [('twenty two degrees', {'value': 22, 'unit': None})]),
    ('temperature', '300 kelvin', [('300 kelvin', {'value': 300, 'unit': 'kelvin'})]),
    ('temperature', 'set it to seventy degrees f', [('seventy degrees f', {'value': 70, 'unit': 'fahrenheit'})]),
    ('money', '$25', [('$25', {'value': 25, 'unit': 'USD'})]),
    ('money', '$1,200.50', [('$1,200.50', {'value': 1200.5, 'unit': 'USD'})]),
    ('money', '250 dollars', [('250 dollars', {'value': 250, 'unit': 'USD'})]),
    ('money', '12 euros 50', [('12 euros 50', {'value': 12.5, 'unit': 'EUR'})]),
    ('money', '5 dollars and 20 cents', [('5 dollars and 20 cents', {'value': 5.2, 'unit': 'USD'})]),
    ('money', 'five pounds', [('five pounds', {'value': 5, 'unit': 'GBP'})]),
    ('money', '€30', [('€30', {'value': 30, 'unit': 'EUR'})]),
    ('money', '30€', [('30€', {'value': 30, 'unit': 'EUR'})]),
    ('money', 'fifty bucks', [('fifty bucks', {'value': 50, 'unit': 'USD'})]),
    ('money', '99 cents', [('99 cents', {'value': 0.99, 'unit': 'USD'})]),
    ('money', 'a hundred dollars', [('a hundred dollars', {'value': 100, 'unit': 'USD'})]),
    ('money', '1000 yen', [('1000 yen', {'value': 1000, 'unit': 'JPY'})]),
    ('money', 'send 20 quid', [('20 quid', {'value': 20, 'unit': 'GBP'})]),
    ('duration', '20 minutes', [('20 minutes', 1200)]),
    ('duration', '90 seconds', [('90 seconds', 90)]),
    ('duration', 'half an hour', [('half an hour', 1800)]),
    ('duration', 'an hour and a half', [('an hour and a half', 5400)]),
    ('duration', 'two and a half hours', [('two and a half hours', 9000)]),
    ('duration', '1 hour 30 minutes', [('1 hour 30 minutes', 5400)]),
    ('duration', '1 hour and 30 minutes', [('1 hour and 30 minutes', 5400)]),
    ('duration', 'for 10 mins', [('10 mins', 600)]),
    ('duration', '3 days', [('3 days', 259200)]),
    ('duration', 'a week', [('a week', 604800)]),
    ('duration', 'two weeks', [('two weeks', 1209600)]),
    ('duration', 'a couple of minutes', [('a couple of minutes', 120)]),
    ('duration', '45 secs', [('45 secs', 45)]),
    ('duration', 'wait a second', [('a second', 1)]),
    ('duration', '2 hrs', [('2 hrs', 7200)]),
    ('duration', 'a year', [('a year', 31536000)]),
    ('datetime', 'set an alarm for 7 am tomorrow', [('7 am tomorrow', '2026-11-29T07:00:00+01:00')]),
    ('datetime', 'tomorrow at 7 am', [('tomorrow at 7 am', '2026-11-29T07:00:00+01:00')]),
    ('datetime', 'wake me up at half past six', [('half past six', '2026-11-28T18:30:00+01:00')]),
    ('datetime', 'quarter to nine', [('quarter to nine', '2026-11-28T20:45:00+01:00')]),
    ('datetime', 'quarter past 7 pm', [('quarter past 7 pm', '2026-11-28T19:15:00+01:00')]),
    ('datetime', 'ten past eight in the morning', [('ten past eight in the morning', '2026-11-29T08:10:00+01:00')]),
    ('datetime', '8 at night', [('8 at night', '2026-11-28T20:00:00+01:00')]),
    ('datetime', 'half past eleven at night', [('half past eleven at night', '2026-11-28T23:30:00+01:00')]),
    ('money', '99 pence', [('99 pence', {'value': 0.99, 'unit': 'GBP'})]),
    ('datetime', 'in 5 months', [('in 5 months', '2027-04-28T09:30:00+02:00')]),
    ('datetime', 'at 7', [('7', '2026-11-28T19:00:00+01:00')]),
    ('datetime', 'at 10', [('10', '2026-11-28T10:00:00+01:00')]),
    ('datetime', '7:30', [('7:30', '2026-11-28T19:30:00+01:00')]),
    ('datetime', '7:30 pm', [('7:30 pm', '2026-11-28T19:30:00+01:00')]),
    ('datetime', '19:00', [('19:00', '2026-11-28T19:00:00+01:00')]),
    ('datetime', '19:00 on friday', [('19:00 on friday', '2026-12-04T19:00:00+01:00')]),
    ('datetime', 'noon', [('noon', '2026-11-28T12:00:00+01:00')]),
    ('datetime', 'midnight', [('midnight', '2026-11-29T00:00:00+01:00')]),
    ('datetime', 'at noon on friday', [('noon on friday', '2026-12-04T12:00:00+01:00')]),
    ('datetime', 'friday', [('friday', '2026-12-04T00:00:00+01:00')]),
    ('datetime', 'this saturday', [('this saturday', '2026-11-28T00:00:00+01:00')]),
    ('datetime', 'next friday', [('next friday', '2026-12-04T00:00:00+01:00')]),
    ('datetime', 'friday evening at 7', [('friday evening at 7', '2026-12-04T19:00:00+01:00')]),
    ('datetime', 'tonight', [('tonight', '2026-11-28T21:00:00+01:00')]),
    ('datetime', 'tonight at 9', [('tonight at 9', '2026-11-28T21:00:00+01:00')]),
    ('datetime', 'this evening', [('this evening', '2026-11-28T19:00:00+01:00')]),
    ('datetime', 'tomorrow morning', [('tomorrow morning', '2026-11-29T09:00:00+01:00')]),
    ('datetime', 'tomorrow afternoon at 4', [('tomorrow afternoon at 4', '2026-11-29T16:00:00+01:00')]),
    ('datetime', 'tomorrow at 5', [('tomorrow at 5', '2026-11-29T17:00:00+01:00')]),
    ('datetime', 'today', [('today', '2026-11-28T00:00:00+01:00')]),
    ('datetime', 'yesterday', [('yesterday', '2026-11-27T00:00:00+01:00')]),
    ('datetime', 'the day after tomorrow', [('the day after tomorrow', '2026-11-30T00:00:00+01:00')]),
    ('datetime', 'in 20 minutes', [('in 20 minutes', '2026-11-28T09:50:00+01:00')]),
    ('datetime', 'in an hour', [('in an hour', '2026-11-28T10:30:00+01:00')]),
    ('datetime', 'in an hour and a half', [('in an hour and a half', '2026-11-28T11:00:00+01:00')]),
    ('datetime', 'in 3 days', [('in 3 days', '2026-12-01T09:30:00+01:00')]),
    ('datetime', 'in two weeks', [('in two weeks', '2026-12-12T09:30:00+01:00')]),
    ('datetime', 'in a month', [('in a month', '2026-12-28T09:30:00+01:00')]),
    ('datetime', 'in 2 years', [('in 2 years', '2028-11-28T09:30:00+01:00')]),
    ('datetime', '3 days from now', [('3 days from now', '2026-12-01T09:30:00+01:00')]),
    ('datetime', 'a week from today', [('a week from today', '2026-12-05T00:00:00+01:00')]),
    ('datetime', 'two hours ago', [('two hours ago', '2026-11-28T07:30:00+01:00')]),
    ('datetime', 'march 3rd', [('march 3rd', '2027-03-03T00:00:00+01:00')]),
    ('datetime', 'march 3rd at 8 pm', [('march 3rd at 8 pm', '2027-03-03T20:00:00+01:00')]),
    ('datetime', '8 pm on march 3rd', [('8 pm on march 3rd', '2027-03-03T20:00:00+01:00')]),
    ('datetime', 'the 15th of june at noon', [('the 15th of june at noon', '2027-06-15T12:00:00+02:00')]),
    ('datetime', 'june 15 2027', [('june 15 2027', '2027-06-15T00:00:00+02:00')]),
    ('datetime', 'december 25th', [('december 25th', '2026-12-25T00:00:00+01:00')]),
    ('datetime', 'on the 15th', [('the 15th', '2026-12-15T00:00:00+01:00')]),
    ('datetime', 'the 30th', [('the 30th', '2026-11-30T00:00:00+01:00')]),
    ('datetime', '2026-12-01', [('2026-12-01', '2026-12-01T00:00:00+01:00')]),
    ('datetime', 'next week', [('next week', '2026-11-30T00:00:00+01:00')]),
    ('datetime', 'this weekend', [('this weekend', '2026-11-28T00:00:00+01:00')]),
    ('datetime', 'next weekend', [('next weekend', '2026-12-05T00:00:00+01:00')]),
    ('datetime', 'next month', [('next month', '2026-12-01T00:00:00+01:00')]),
    ('datetime', 'seven thirty pm', [('seven thirty pm', '2026-11-28T19:30:00+01:00')]),
    ('datetime', '7 in the evening', [('7 in the evening', '2026-11-28T19:00:00+01:00')]),
    ('datetime', '6:45 am on monday', [('6:45 am on monday', '2026-11-30T06:45:00+01:00')]),
    ('datetime', 'the meeting is at 3 pm next thursday', [('3 pm next thursday', '2026-12-03T15:00:00+01:00')]),
    ('datetime', 'now', [('now', '2026-11-28T09:30:00+01:00')]),
    ('datetime', 'in 5 months', [('in 5 months', '2027-04-28T09:30:00+02:00')]),
    ('number', 'seven hundred thousand', [('seven hundred thousand', 700000)]),
    ('number', '3 and a half', [('3 and a half', 3.5)]),
    ('ordinal', 'the 1st', [('1st', 1)]),
    ('datetime', 'remind me at 9 pm tomorrow to call mom', [('9 pm tomorrow', '2026-11-29T21:00:00+01:00')]),
    ('datetime', 'wake me at 6:00', [('6:00', '2026-11-28T18:00:00+01:00')]),
    ('datetime', 'at 07:15', [('07:15', '2026-11-29T07:15:00+01:00')]),
    ('datetime', 'saturday at 10 am', [('saturday at 10 am', '2026-12-05T10:00:00+01:00')]),
    ('datetime', 'friday 7 pm', [('friday 7 pm', '2026-12-04T19:00:00+01:00')]),
    ('datetime', 'christmas is on december 25th at 6 pm', [('december 25th at 6 pm', '2026-12-25T18:00:00+01:00')]),
    ('datetime', 'dec 31', [('dec 31', '2026-12-31T00:00:00+01:00')]),
]


def test_table_is_big_enough():
    assert len(TABLE) >= 100
    assert {k for k, _, _ in TABLE} == set(KINDS)


@pytest.mark.parametrize("kind, text, expected", TABLE, ids=[f"{k}:{t}" for k, t, _ in TABLE])
def test_table(kind, text, expected):
    got = find(text, [kind], now=NOW)
    assert [(e.raw, e.value) for e in got] == expected
    for e in got:
        assert e.kind == kind and text[e.start : e.end] == e.raw


@pytest.mark.parametrize(
    "text, expected",
    [
        # every kind at once: the longest entity wins, no overlaps
        ("book a table for four at 8 pm on march 3rd", [("number", "four"), ("datetime", "8 pm on march 3rd")]),
        ("turn the volume to 40 percent", [("percentage", "40 percent")]),
        ("set the thermostat to 72 degrees", [("temperature", "72 degrees")]),
        ("remind me in 20 minutes", [("datetime", "in 20 minutes")]),
        ("set a timer for 20 minutes", [("duration", "20 minutes")]),
        ("transfer 250 dollars to savings", [("money", "250 dollars")]),
        ("play the third song", [("ordinal", "third")]),
        ("i need 3 tickets for saturday", [("number", "3"), ("datetime", "saturday")]),
        ("what's 15% of 80", [("percentage", "15%"), ("number", "80")]),
        ("nothing to see here", []),
        ("", []),
        ("may i march on", []),
        ("a roundtrip flight for 5/2 to 5/8", [("number", "5"), ("number", "2"), ("number", "5"), ("number", "8")]),
        ("open from 9 to 5", [("number", "9"), ("number", "5")]),
        ("leave at 20 minutes to 5", [("datetime", "20 minutes to 5")]),
        ("leave at ten to five", [("datetime", "ten to five")]),
    ],
)
def test_all_kinds(text, expected):
    assert [(e.kind, e.raw) for e in find(text, now=NOW)] == expected


def test_offsets_with_unicode_and_case():
    text = "Réveille-moi — Wake me at 7 AM Tomorrow ☕"
    (e,) = find(text, ["datetime"], now=NOW)
    assert e == Entity(text.index("7 AM"), len(text) - 2, "datetime", "7 AM Tomorrow", "2026-11-29T07:00:00+01:00")


def test_other_time_zones():
    ny = ZoneInfo("America/New_York")
    # the same instant, resolved on a device in New York: 03:30 local, so 7 am is today
    (e,) = find("7 am", ["datetime"], now=NOW, tz=ny)
    assert e.value == "2026-11-28T07:00:00-05:00"
    fixed = dt.timezone(dt.timedelta(hours=5, minutes=30))
    (e,) = find("tomorrow at noon", ["datetime"], now=dt.datetime(2026, 1, 1, 23, 0, tzinfo=fixed))
    assert e.value == "2026-01-02T12:00:00+05:30"


def test_dst_change_uses_the_offset_on_that_date():
    before = dt.datetime(2026, 3, 28, 12, 0, tzinfo=TZ)  # the day before summer time
    (e,) = find("tomorrow at 9 am", ["datetime"], now=before)
    assert e.value == "2026-03-29T09:00:00+02:00"
    (e,) = find("in 2 days", ["datetime"], now=before)
    assert e.value == "2026-03-30T12:00:00+02:00"


def test_default_is_the_device_local_zone():
    # a child process with TZ set: no `now`, no `tz` -> the local zone's offset
    code = ("import datetime as dt; from edge.entities import find; "
            "v = find('tomorrow at 7 am', ['datetime'])[0].value; "
            "d = dt.datetime.fromisoformat(v); "
            "assert d.utcoffset() == dt.timedelta(hours=9), v; "
            "assert d.date() == (dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date() + dt.timedelta(days=1)), v; "
            "print(v)")
    env = {**os.environ, "TZ": "Asia/Tokyo"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("T07:00:00+09:00")


@pytest.mark.parametrize(
    "raw, kind, value",
    [
        ("7 am tomorrow", "datetime", "2026-11-29T07:00:00+01:00"),
        ("at 7 am", "datetime", "2026-11-29T07:00:00+01:00"),
        ("for 20 minutes", "duration", 1200),
        ("twenty one", "number", 21),
        ("the fifth", "ordinal", 5),
        ("$5", "money", {"value": 5, "unit": "USD"}),
        ("40%", "percentage", 40),
        ("20 degrees", "temperature", {"value": 20, "unit": None}),
        ("7 am and more words", "datetime", None),
        ("jazz", "datetime", None),
        ("3 and 4", "number", None),
    ],
)
def test_resolve(raw, kind, value):
    assert resolve(raw, kind, now=NOW) == value


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown entity kinds"):
        find("x", ["colour"])


def test_doctest():
    assert doctest.testmod(edge.entities).failed == 0
