"""Inline slot markup in training and evaluation text: `wake me at [7 am](time) [tomorrow](day)`.

`parse(marked)` returns the plain text and the slots marked in it, as character
offsets into the plain text:

    >>> parse("wake me at [7 am](time) [tomorrow](day)")
    ('wake me at 7 am tomorrow', [Span(start=11, end=15, name='time', raw='7 am'), Span(start=16, end=24, name='day', raw='tomorrow')])

The grammar (Markdown-link style, as Rasa and Snips write it):

- `[value](name)` marks `value` as slot `name`. `name` starts with a letter or
  `_` and continues with letters, digits, `_`, `-` or `.` (`timeRange`,
  `object_name`, `geo.city`). The value may not be empty or blank and may not
  contain another `[`: slots do not nest.
- Blanks just inside the brackets stay in the text but not in the span:
  `[in 3 years ](timeRange)` gives the span `in 3 years` (crowd-sourced data
  such as Snips' has them).
- Parentheses outside a slot are ordinary text: `call mum (now)` is fine.
- Escapes: a backslash before `[`, `]`, `(`, `)` or another backslash stands
  for that character literally (`\\[draft\\]` is the text `[draft]`, and
  `[\\(x\\)](name)` a slot whose value is `(x)`). A backslash before any other
  character, or at the end of the text, is an ordinary backslash.
- Everything else is an error (ValueError naming the column and the problem):
  a `]` with no `[`, a `[` never closed, a `[` inside a value, `[value]` not
  followed at once by `(name)`, a `(name` never closed, an empty or invalid
  name, an empty value. Strict on purpose: a typo in training data would
  otherwise become a silently wrong example.

Offsets are in Python characters (code points), the same unit as the
`start`/`end` of a result's `slots`, so `plain[span.start:span.end] == span.raw`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Span", "parse", "has_markup", "render"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_ESCAPABLE = "[]()\\"


class Span(NamedTuple):
    """One marked slot: `plain[start:end] == raw`."""

    start: int
    end: int
    name: str
    raw: str


def _error(marked: str, pos: int, problem: str) -> ValueError:
    return ValueError(f"slot markup, column {pos + 1}: {problem}: {marked!r}")


def parse(marked: str) -> tuple[str, list[Span]]:
    """`marked` -> (plain text, spans in order). ValueError on malformed markup (see the module doc)."""
    if not isinstance(marked, str):
        raise TypeError(f"markup must be a str, got {type(marked).__name__}")
    out: list[str] = []  # plain text, one character a piece (so an offset is an index into it)
    n_out = 0  # len(out), kept as we go
    spans: list[Span] = []
    open_at = -1  # position in `marked` of the open "[" (-1: outside a slot)
    value_start = 0  # offset in the plain text where the open slot's value starts
    i = 0
    n = len(marked)
    while i < n:
        c = marked[i]
        if c == "\\" and i + 1 < n and marked[i + 1] in _ESCAPABLE:
            out.append(marked[i + 1])
            n_out += 1
            i += 2
            continue
        if c == "[":
            if open_at >= 0:
                raise _error(marked, i, f"'[' inside the slot value opened at column {open_at + 1} (slots do not nest; write \\[ for a literal bracket)")
            open_at, value_start = i, n_out
            i += 1
            continue
        if c == "]":
            if open_at < 0:
                raise _error(marked, i, "']' without a '[' before it (write \\] for a literal bracket)")
            if i + 1 >= n or marked[i + 1] != "(":
                raise _error(marked, i, "'[value]' must be followed at once by '(slot_name)' (write \\[ and \\] for literal brackets)")
            close = marked.find(")", i + 2)
            if close < 0:
                raise _error(marked, i + 1, "'(' of a slot name is never closed")
            name = marked[i + 2 : close]
            if not name:
                raise _error(marked, i + 1, "empty slot name")
            if not _NAME.match(name):
                raise _error(marked, i + 2, f"invalid slot name {name!r} (a letter or _, then letters, digits, _ - .)")
            value = "".join(out[value_start:])  # one character a piece: the value alone, not all so far
            stripped = value.strip()
            if not stripped:
                raise _error(marked, open_at, f"empty value for slot {name!r}")
            start = value_start + (len(value) - len(value.lstrip()))
            spans.append(Span(start, start + len(stripped), name, stripped))
            open_at = -1
            i = close + 1
            continue
        out.append(c)
        n_out += 1
        i += 1
    if open_at >= 0:
        raise _error(marked, open_at, "'[' is never closed")
    return "".join(out), spans


def has_markup(text: str) -> bool:
    """Whether `text` holds anything `parse` would change (a slot or an escape)."""
    return "[" in text or "]" in text or "\\" in text


def render(plain: str, spans: list[Span] | list[tuple[int, int, str]]) -> str:
    """The inverse of `parse`: plain text and spans -> markup (escaping what needs it)."""

    def esc(s: str) -> str:
        return "".join("\\" + ch if ch in "[]\\" or ch in "()" else ch for ch in s)

    def esc_outside(s: str) -> str:
        # Outside slots parentheses are ordinary text, and a backslash needs escaping only before
        # an escapable character; escaping every backslash and bracket is always right.
        return "".join("\\" + ch if ch in "[]\\" else ch for ch in s)

    parts: list[str] = []
    pos = 0
    for sp in sorted(spans, key=lambda s: s[0]):
        start, end, name = sp[0], sp[1], sp[2]
        if start < pos:
            raise ValueError(f"overlapping spans at {start}")
        parts.append(esc_outside(plain[pos:start]))
        parts.append(f"[{esc(plain[start:end])}]({name})")
        pos = end
    parts.append(esc_outside(plain[pos:]))
    return "".join(parts)
