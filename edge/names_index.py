"""A names file's lookups, prepared once per language when the names are loaded: every name and
alias of the things, areas and floors under each of its keys (edge/names_text.py: folded, articles
dropped), the check that two areas (or floors) do not share a name, and the look-up of a place said with
or without its locatives ("en haut" / "haut").

edge/names.py builds a `Names` from these at load time (each language's index when first asked: `Indexes`)
and resolves spans against them; a refresh builds new ones and replaces them whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from edge.names_file import NamesData, NamesError
from edge.names_lang import LANGUAGES, Language
from edge.names_text import Table, fold, keys


@dataclass(frozen=True)
class Index:
    """One language's lookups: a key -> what carries that name or alias."""

    entities: Table  # key -> entity positions
    areas: Table  # key -> area ids
    floors: Table  # key -> floor ids


def index(data: NamesData, lang: Language) -> Index:
    """Every name and alias of `data` under its keys in `lang` (entities by position, places by id)."""
    def pairs(items: Iterable[Any], target: Any) -> Iterable[tuple[str, Any]]:
        for pos, x in enumerate(items):
            for n in (x.name, *x.aliases):
                for k in keys(n, lang):
                    yield k, target(pos, x)

    return Index(Table.build(pairs(data.entities, lambda i, e: i)),
                  Table.build(pairs(data.areas, lambda i, a: a.id)),
                  Table.build(pairs(data.floors, lambda i, f: f.id)))


class Indexes(Mapping[str, Index]):
    """{language code: Index} of a names file, each language's built when first asked, then kept.

    Built at load for all five (en, de, fr, es and "*", any other) they were ~100 KB each for
    tests/data/home_names.yaml's 44 entities (tracemalloc of `index`), growing with the home, while a home
    speaks one or two: an English home's daemon held ~0.4 MB of indexes it never read (docs/wyoming.md, "RSS").
    The build is pure, so two threads asking at once at worst build one twice; the first stored stays."""

    def __init__(self, data: NamesData, languages: Mapping[str, Language]) -> None:
        self._data = data
        self._languages = languages
        self._built: dict[str, Index] = {}

    def __getitem__(self, code: str) -> Index:
        got = self._built.get(code)
        if got is None:
            got = self._built.setdefault(code, index(self._data, self._languages[code]))
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._languages)

    def __len__(self) -> int:
        return len(self._languages)


def check_unique_names(data: NamesData) -> None:
    """Two areas (or floors) with the same name could never be told apart: an error, as in Home Assistant."""
    errors = []
    for kind, items in (("areas", data.areas), ("floors", data.floors)):
        seen: dict[str, str] = {}
        for i, item in enumerate(items):
            for k in keys(item.name, LANGUAGES["en"]):
                if seen.get(k, item.id) != item.id:
                    errors.append(f"{data.source}: {kind}[{i}].name: {item.name!r} is also the name of "
                                  f"{kind[:-1]} {seen[k]!r}")
                seen.setdefault(k, item.id)
    if errors:
        raise NamesError(errors)


def stops(toks: list[str], prefixes: tuple[tuple[str, ...], ...]) -> list[list[str]]:
    """The tokens, and what is left each time edge.names_text.strip drops one more leading phrase (longest
    first, never the last token): "d' en haut" -> [d' en haut], [en haut], [haut]. The last is strip's."""
    lengths = sorted({len(p) for p in prefixes}, reverse=True)
    out, i = [toks], 0
    while True:
        n = next((n for n in lengths if len(toks) - i > n and tuple(fold(t) for t in toks[i:i + n]) in prefixes),
                 0)
        if not n:
            return out
        i += n
        out.append(toks[i:])


def place_ids(table: Table, keys: tuple[str, ...]) -> tuple[frozenset[Any], bool, bool]:
    """An area or floor span's keys (edge.names.Names._span) -> (ids, ambiguous?, slip corrected?). Each
    key is looked up whole: the span as said ("en haut") as well as with its locatives stripped ("haut");
    when two name different places, no reading is preferred: ambiguous. A slip is corrected only on the
    stripped key, and only when no key is a name."""
    found = {table.exact[k] for k in keys if k in table.exact}
    if found:
        ids = found.pop()
        return (ids, False, False) if not found and len(ids) == 1 else (frozenset(), True, False)
    ids, amb = table.fuzzy(keys[0], lambda t: True)
    return ids, amb, bool(ids)
