"""The tokens the built-in entity grammar reads (edge.entities): lower-cased words, numbers and
single symbols with their character offsets."""

from __future__ import annotations

import re
from typing import NamedTuple


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


class _Toks(list):
    """The tokens of one text, and a memo of the parses made at each index while finding its
    entities: the finder offers every parser at every candidate token, and they all start by
    reading a number there (edge.entities.numbers._number), so each index is parsed once."""

    __slots__ = ("memo",)

    def __init__(self, items: object = ()) -> None:
        super().__init__(items)  # type: ignore[call-overload]
        self.memo: dict[tuple[str, int], object] = {}


_new = tuple.__new__  # a _Tok without NamedTuple's Python-level __new__ (a third of the cost of _tokens)


def _tokens(text: str) -> _Toks:
    if "’" in text:
        return _Toks([_new(_Tok, (m.group().lower().replace("’", "'"), *m.span())) for m in _TOKEN.finditer(text)])
    return _Toks([_new(_Tok, (m.group().lower(), *m.span())) for m in _TOKEN.finditer(text)])
