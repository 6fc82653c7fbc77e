"""The home package's tables as the manifest stores them (JSON, zlib, base64) and read back lean.

`pack`/`unpack` are the codec of the carriers (edge/home_wildcards.py) and the templates (edge/home_templates.py).
`by_language` reads a table of {lang: table} without building the languages nobody asks for: the carriers of the
four languages are one blob (175 KB of JSON; German alone 72 KB), of which an English home reads 24 KB. Parsed
whole, it left ~350 KB of Python objects (and, once freed, the allocator's pages they touched) in every home
daemon at its first request (docs/wyoming.md, "RSS"). So the blob's top-level members are found by a scan of its
tokens (no object built), each kept as its own zlib'd JSON (5-15 KB) and parsed on first ask.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any, Iterator, Mapping

__all__ = ["MAX_TABLE", "by_language", "pack", "unpack"]

MAX_TABLE = 4 << 20   # bytes of one decoded table: the carriers ~175 KB, a language's templates ~400 KB; more is no table of ours


def pack(obj: Any) -> str:
    """A table as the manifest stores it: JSON, zlib, base64 (~16 KB for 160 KB); `unpack` reads it."""
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def _inflate(data: str) -> str | None:
    """`pack`'s JSON text, at most MAX_TABLE bytes decompressed; None for anything that is not one."""
    try:
        d = zlib.decompressobj()
        raw = d.decompress(base64.b64decode(data, validate=True), MAX_TABLE)
        return raw.decode("utf-8") if not d.unconsumed_tail else None
    except (ValueError, zlib.error, UnicodeDecodeError, TypeError):
        return None


def unpack(data: str) -> dict[str, Any]:
    """`pack`'s table back, at most MAX_TABLE bytes decompressed; {} for anything that is not one (a package is
    verified before it is loaded; this only never raises)."""
    text = _inflate(data)
    try:
        out = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return {}
    return out if isinstance(out, dict) else {}


def by_language(data: str) -> Mapping[str, Any]:
    """`unpack(data)` as a read-only {lang: table} whose languages are parsed when first asked (then kept); {} for
    anything that is not a table. A language whose JSON does not parse is absent (only a hand-edited blob)."""
    text = _inflate(data)
    if text is None:
        return {}
    members = _members(text)
    if members is None:   # not the object of objects `pack` writes: parsed whole, as before
        whole = unpack(data)
        members = {k: json.dumps(v, ensure_ascii=False, separators=(",", ":")) for k, v in whole.items()}
    del text
    return _Languages({lang: zlib.compress(raw.encode("utf-8")) for lang, raw in members.items()})


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]]')   # a JSON string (escapes and all) or a bracket


def _members(text: str) -> dict[str, str] | None:
    """The top-level object's members as their own JSON text, found without building them; None unless `text` is
    one object whose every value is an object or a list (then `unpack` decides)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        return _scan(text)
    except (ValueError, RecursionError):   # a key that is no JSON string
        return None


def _scan(text: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    depth, key, start = 0, None, 0
    for m in _TOKEN.finditer(text):
        ch = text[m.start()]
        if ch == '"':
            if depth == 1:
                if key is not None:   # a string value at the top level
                    return None
                key = json.loads(m.group(0))
        elif ch in "{[":
            depth += 1
            if depth == 2:
                if key is None:
                    return None
                start = m.start()
        else:
            depth -= 1
            if depth == 1:
                out[key] = text[start:m.end()]   # type: ignore[index]  (key is set at depth 2)
                key = None
            elif depth == 0:
                return out if key is None and not text[m.end():].strip() else None
            elif depth < 0:
                return None
    return None


class _Languages(Mapping[str, Any]):
    """{lang: table}, each kept as zlib'd JSON until first asked, then parsed and kept."""

    def __init__(self, packed: dict[str, bytes]) -> None:
        self._packed = packed
        self._decoded: dict[str, Any] = {}

    def __getitem__(self, lang: str) -> Any:
        got = self._decoded.get(lang)
        if got is None:
            try:
                # not sys.intern'd: a few hundred more interned strings can tip CPython's table of them into
                # doubling (~0.5 -> ~1 MB at 21,845 strings), more than the duplicates it would save (measured)
                got = json.loads(zlib.decompress(self._packed[lang]))
            except (ValueError, RecursionError, zlib.error):
                raise KeyError(lang) from None
            self._decoded[lang] = got
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

