"""Labelled examples from every data format ``edge train`` and ``edge eval`` read.

Runtime only (standard library + edge.markup): the daemon's install can run
``edge eval`` without the training extra.

Formats (``../shared/spec/interface.md``, "Intents and slots"):

1. An intents text file: ``## intent_name`` header lines, one example a line
   under each. ``## oos`` holds examples that belong to no intent. Blank lines
   and comment lines (``#`` alone or ``#`` followed by a space) are ignored.
2. An intents JSON: ``{"intent_name": ["example", ...], ...}`` (``"oos"`` too).
3. A pairs JSON, as CLINC150's ``data_full.json`` and ``edge eval`` use:
   ``{"split": [[text, label], ...], ...}``; label ``oos`` = out of scope.
   With ``split``, only the lists ``split`` and ``oos_<split>`` are read.

Slots may be marked inline in every format (``wake me at [7 am](time)``); the
markup is stripped (``edge.markup.parse``) and the spans kept on the example.

A [text, label] file's text that is not valid markup is kept as written
(CLINC150 has literal brackets: "is there a travel alert for [country]");
everything else is strict on purpose: every problem is a :class:`DataError` whose message names
the file and the line (text) or key and index (JSON): bad UTF-8, an example
before the first header, a header twice, an empty section, an invalid intent
name, a line over :data:`MAX_LINE` characters, unbalanced slot markup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from edge.markup import Span, parse

__all__ = ["Example", "DataError", "load_examples", "parse_text", "parse_json", "OOS",
           "MAX_LINE", "MAX_BYTES", "labels_of", "counts"]

OOS = "oos"
MAX_LINE = 2000            # characters in one example: far beyond any utterance
MAX_BYTES = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class DataError(ValueError):
    """A data file is malformed; the message names the file and the place."""


@dataclass(frozen=True)
class Example:
    text: str                          # plain text, slot markup removed
    label: str                         # an intent name, or "oos"
    spans: tuple[Span, ...] = ()       # slots marked in the original text
    where: str = field(default="", compare=False)   # "file:line" or "file: key[i]"
    split: str | None = field(default=None, compare=False)  # pairs JSON: the list it came from


def labels_of(examples: list[Example]) -> list[str]:
    """The in-scope labels, sorted."""
    return sorted({e.label for e in examples if e.label != OOS})


def counts(examples: list[Example]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in examples:
        out[e.label] = out.get(e.label, 0) + 1
    return out


def _check_name(name: str, where: str) -> None:
    if name != OOS and not _NAME.match(name):
        raise DataError(f"{where}: intent name {name!r} must be 1-64 characters of letters, "
                        "digits, '_', '.', '-'")


def _example(marked: str, label: str, where: str, split: str | None = None,
             strict: bool = True) -> Example:
    if len(marked) > MAX_LINE:
        raise DataError(f"{where}: example is {len(marked):,} characters long (at most {MAX_LINE:,})")
    if "\x00" in marked:
        raise DataError(f"{where}: example contains a NUL character")
    try:
        plain, spans = parse(marked)
    except ValueError as e:
        if strict:
            raise DataError(f"{where}: {e}") from None
        plain, spans = marked, []
    lead = len(plain) - len(plain.lstrip())
    if lead:
        spans = [Span(s.start - lead, s.end - lead, s.name, s.raw) for s in spans]
    return Example(plain.strip(), label, tuple(spans), where, split)


def _read(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise DataError(f"{path}: {size:,} bytes is more than the {MAX_BYTES:,} a data file may have")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset "
                        f"{e.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def parse_text(text: str, name: str = "<text>") -> list[Example]:
    """Examples of an intents text file (``## intent`` sections)."""
    out: list[Example] = []
    current: str | None = None
    header_line: dict[str, int] = {}
    n_in: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line == "#" or (line.startswith("#") and not line.startswith("##")
                                       and line[1:2].isspace()):
            continue
        if line.startswith("##"):
            label = line[2:].strip()
            where = f"{name}:{n}"
            if not label:
                raise DataError(f"{where}: '##' header without an intent name")
            _check_name(label, where)
            if label in header_line:
                raise DataError(f"{where}: section '## {label}' appears twice (first at line "
                                f"{header_line[label]}); put its examples under one header")
            if current is not None and n_in[current] == 0:
                raise DataError(f"{name}:{header_line[current]}: section '## {current}' has no examples")
            header_line[label] = n
            n_in[label] = 0
            current = label
            continue
        if current is None:
            raise DataError(f"{name}:{n}: example before the first '## intent' header")
        ex = _example(line, current, f"{name}:{n}")
        if ex.text:
            out.append(ex)
            n_in[current] += 1
    if current is not None and n_in[current] == 0:
        raise DataError(f"{name}:{header_line[current]}: section '## {current}' has no examples")
    if not header_line:
        raise DataError(f"{name}: no '## intent' sections (expected '## intent_name' headers, "
                        "one example a line under each)")
    return out


def _json_line(raw: str, key: str) -> str:
    """Best-effort line of a key in the JSON source, for messages."""
    i = raw.find(json.dumps(key))
    return f":{raw.count(chr(10), 0, i) + 1}" if i >= 0 else ""


def parse_json(raw: str, name: str = "<json>", split: str | None = None) -> list[Example]:
    """Examples of an intents JSON or a pairs JSON (see the module doc)."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DataError(f"{name}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
    if not isinstance(obj, dict) or not obj:
        raise DataError(f"{name}: expected a non-empty JSON object: {{\"intent\": [examples]}} "
                        "or {\"split\": [[text, label], ...]}")
    kinds = set()
    for k, v in obj.items():
        if not isinstance(v, list):
            raise DataError(f"{name}{_json_line(raw, k)}: {k!r} must map to a list")
        if v:
            kinds.add("pairs" if isinstance(v[0], (list, tuple)) else "intents")
    if len(kinds) > 1:
        raise DataError(f"{name}: mixes [text, label] lists with lists of example strings; "
                        "use one form per file")
    pairs = kinds == {"pairs"}
    out: list[Example] = []
    if pairs:
        keys = list(obj)
        if split is not None:
            keys = [k for k in obj if k in (split, f"{OOS}_{split}")]
            if not keys:
                raise DataError(f"{name}: no split {split!r}; available keys: {', '.join(map(str, obj))}")
        for k in keys:
            for i, it in enumerate(obj[k]):
                where = f"{name}: {k}[{i}]"
                if (not isinstance(it, (list, tuple)) or len(it) != 2 or not isinstance(it[0], str)
                        or not isinstance(it[1], str)):
                    raise DataError(f"{where}: not a [text, label] pair of strings")
                _check_name(it[1], where)
                # lenient: CLINC150's own texts have literal brackets ("[country]"); text
                # that is not valid markup is kept as it is, without slots
                ex = _example(it[0], it[1], where, k, strict=False)
                if ex.text:
                    out.append(ex)
        return out
    if split is not None:
        raise DataError(f"{name}: --split {split!r} applies to [text, label] files; this is an "
                        "intents file")
    for k, v in obj.items():
        where = f"{name}{_json_line(raw, k)}: intent {k!r}"
        _check_name(k, where)
        if not v:
            raise DataError(f"{where}: has no examples")
        for i, s in enumerate(v):
            if not isinstance(s, str):
                raise DataError(f"{where}, example {i}: not a string")
            ex = _example(s, k, f"{where}, example {i}")
            if ex.text:
                out.append(ex)
    return out


def load_examples(path: str | Path, split: str | None = None) -> list[Example]:
    """Every example of a data file, in file order. JSON when the name ends in
    ``.json`` or the content starts with ``{``; else the intents text format."""
    path = Path(path)
    raw = _read(path)
    if path.suffix.lower() == ".json" or raw.lstrip().startswith("{"):
        return parse_json(raw, str(path), split)
    if split is not None:
        raise DataError(f"{path}: --split {split!r} applies to [text, label] JSON files")
    return parse_text(raw, str(path))
