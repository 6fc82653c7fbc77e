"""The `[value](slot)` markup parser (edge/markup.py)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import edge.markup
from edge.markup import Span, has_markup, parse, render

SNIPS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "snips" / "train.txt"


def test_doctest():
    assert doctest.testmod(edge.markup).failed == 0


@pytest.mark.parametrize(
    "marked, plain, spans",
    [
        ("no slots here", "no slots here", []),
        ("", "", []),
        ("wake me at [7 am](time) [tomorrow](day)", "wake me at 7 am tomorrow", [(11, 15, "time", "7 am"), (16, 24, "day", "tomorrow")]),
        ("[start](a) middle [end](b)", "start middle end", [(0, 5, "a", "start"), (13, 16, "b", "end")]),
        ("[whole](x)", "whole", [(0, 5, "x", "whole")]),
        ("[a](x)[b](y)", "ab", [(0, 1, "x", "a"), (1, 2, "y", "b")]),
        # blanks inside the brackets stay in the text, not in the span (Snips data has them)
        ("weather [in 3 years ](timeRange) here", "weather in 3 years  here", [(8, 18, "timeRange", "in 3 years")]),
        ("[ padded ](p)", " padded ", [(1, 7, "p", "padded")]),
        # slot names: letters, digits, _ - .
        ("[x](timeRange)", "x", [(0, 1, "timeRange", "x")]),
        ("[x](geo.city-2_b)", "x", [(0, 1, "geo.city-2_b", "x")]),
        ("[x](_private)", "x", [(0, 1, "_private", "x")]),
        # parentheses outside a slot are ordinary text
        ("call mum (now) please", "call mum (now) please", []),
        ("(aside) [x](n) (more)", "(aside) x (more)", [(8, 9, "n", "x")]),
        ("[x](n)(literal)", "x(literal)", [(0, 1, "n", "x")]),
        # unicode: offsets are code points
        ("add [música libre](playlist) ☕ [Zürich](city)", "add música libre ☕ Zürich", [(4, 16, "playlist", "música libre"), (19, 25, "city", "Zürich")]),
        ("[😀 emoji](e) after", "😀 emoji after", [(0, 7, "e", "😀 emoji")]),
        ("[東京](city)の天気", "東京の天気", [(0, 2, "city", "東京")]),
        # punctuation inside values
        ("add [Stani, stani Ibar vodo](entity_name) songs", "add Stani, stani Ibar vodo songs", [(4, 26, "entity_name", "Stani, stani Ibar vodo")]),
        # escapes
        (r"a \[draft\] note", "a [draft] note", []),
        (r"[\(x\)](name)", "(x)", [(0, 3, "name", "(x)")]),
        (r"[a \] b](n)", "a ] b", [(0, 5, "n", "a ] b")]),
        (r"[a \[ b](n)", "a [ b", [(0, 5, "n", "a [ b")]),
        (r"back\\slash", "back\\slash", []),
        (r"c:\path\to", "c:\\path\\to", []),  # backslash before an ordinary character: kept
        ("trailing \\", "trailing \\", []),
        (r"\[not a slot\](x)", "[not a slot](x)", []),
        ("[x](n) \\\\[y](m)", "x \\y", [(0, 1, "n", "x"), (3, 4, "m", "y")]),
    ],
)
def test_parse(marked, plain, spans):
    text, got = parse(marked)
    assert text == plain
    assert got == [Span(*s) for s in spans]
    for s in got:
        assert text[s.start : s.end] == s.raw
    # the inverse gives back the same plain text and spans
    assert parse(render(text, got)) == (text, got)


@pytest.mark.parametrize(
    "marked, words",
    [
        ("a ] b", "without a '['"),
        ("a [b c", "never closed"),
        ("[a [b](x)](y)", "do not nest"),  # nested brackets
        ("[[a]](x)", "do not nest"),
        ("[a] b", "followed at once"),  # brackets not followed by (slot)
        ("[a]", "followed at once"),
        ("[a] (x)", "followed at once"),
        ("[a][b](x)", "followed at once"),
        ("[a](x", "never closed"),
        ("[a]()", "empty slot name"),
        ("[](x)", "empty value"),  # empty values
        ("[   ](x)", "empty value"),
        ("[a](1x)", "invalid slot name"),
        ("[a](x y)", "invalid slot name"),
        ("[a](x:y)", "invalid slot name"),
        ("[a](ö)", "invalid slot name"),
        ("[a](x)]", "without a '['"),
        (r"[a\](x)", "never closed"),  # the escaped ] does not close it
    ],
)
def test_malformed(marked, words):
    with pytest.raises(ValueError, match="slot markup, column [0-9]+: .*") as err:
        parse(marked)
    assert words in str(err.value)
    assert repr(marked) in str(err.value)


def test_error_column():
    with pytest.raises(ValueError, match="column 7:"):
        parse("hello ] x")


def test_not_a_string():
    with pytest.raises(TypeError):
        parse(b"[a](x)")  # type: ignore[arg-type]


def test_has_markup():
    assert has_markup("[a](x)") and has_markup(r"\(") and not has_markup("plain (text)")


def test_render_escapes():
    text = "a [b] \\ (c)"
    assert parse(render(text, [Span(0, 1, "x", "a")])) == (text, [Span(0, 1, "x", "a")])
    assert render("x(y)", [Span(0, 4, "n", "x(y)")]) == r"[x\(y\)](n)"
    with pytest.raises(ValueError):
        render("abc", [Span(0, 2, "a", "ab"), Span(1, 3, "b", "bc")])


@pytest.mark.skipif(not SNIPS.exists(), reason="shared Snips data not present")
def test_snips_train_parses():
    n = 0
    for line in SNIPS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("##"):
            continue
        text, spans = parse(line)
        assert "[" not in text and "](" not in text
        for s in spans:
            assert text[s.start : s.end] == s.raw and s.raw == s.raw.strip()
        n += len(spans)
    assert n > 5000
