"""A names file's lookups, prepared once per language when the names are loaded: every name and
alias of the things, areas and floors under each of its keys (edge/names_text.py: folded, articles
dropped), and the check that two areas (or floors) do not share a name.

edge/names.py builds a `Names` from these at load time and resolves spans against them; a refresh
builds new ones and replaces them whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from edge.names_file import NamesData, NamesError
from edge.names_lang import LANGUAGES, Language
from edge.names_text import Table, keys


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
