"""The home's names, and spans -> the exact names Home Assistant will match, or a refusal.

The model hears "the kitchen lights", "Wohnzimmerlampe" or "la lampe du
salon"; Home Assistant matches names, areas and floors exactly. `Names`
turns the model's spans into the file's exact names (never an alias), or a
`Refusal` that says why. Acting on the wrong device is the worst outcome, so
every step that guesses is bounded and refuses when two things fit:

- exact first: case, whitespace, punctuation, accents ("Kueche" = "Küche"),
  and the language's leading determiners ("all the", "die", "l'") ignored;
- then "place + domain word" ("kitchen lights" = area Kitchen + domain light,
  "luces de la cocina", "Wohnzimmerlampe"), the domain word's plural included;
- then bounded fuzzy matching for speech-to-text slips: edit distance <= 1 for
  keys of 4-7 characters, <= 2 for 8 or more, none for 3 or fewer, the same
  digits in both, and only when the best candidate is unique and two edits
  better than the runner-up.

A `Names` is immutable and built once (its lookups are prepared per language
at load time, by edge/names_index.py); a refresh builds a new one and replaces
it whole. Every span is capped before it is looked at, so a 16 KiB span costs
one length check. A span's words are read against the language's tables (its
tag, kind words, German compounds) by edge/names_words.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from edge import names_values
from edge.names_file import Area, Entity, Floor, NamesData, NamesError, read_file
from edge.names_index import Index, Indexes, check_unique_names, place_ids, stops
from edge.names_lang import LANGUAGES, OTHER, DomainClass, Language
from edge.names_text import Table, clean, finish, fold, strip, tokens
# a language tag's tables, kind words, German compounds: edge/names_words.py (language_of, domain_word re-exported)
from edge.names_words import compound_splits, domain_word, language_of

__all__ = ["NAME_SLOTS", "Area", "Entity", "Floor", "Names", "NamesError", "Refusal", "Resolution", "language_of",
           "load"]

NAME_SLOTS = ("name", "area", "floor", "domain", "device_class")


@dataclass(frozen=True)
class Resolution:
    """Slots with exact names from the file, and the ids of the entities the target covers."""

    slots: Mapping[str, Any]
    entity_ids: tuple[str, ...]
    fuzzy: bool = False  # a slip was corrected somewhere: callers may want more confidence


@dataclass(frozen=True)
class Refusal:
    """Why nothing may be acted on. `reason` is one of: language, invalid, too_long, empty, unknown,
    ambiguous, conflict, not_a_thing, nothing_matches. `detail` never repeats more than 40 characters
    of what was sent."""

    reason: str
    slot: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Target:
    """What the name slot came to: one entity, or a place + domain word ("the kitchen lights")."""

    entity: int | None = None
    area: str | None = None
    floor: str | None = None
    domain: str | None = None
    device_class: str | None = None
    fuzzy: bool = False


def _show(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


@dataclass(frozen=True, eq=False)
class Names:
    """The home's names with lookups prepared per language. Build with `load` or `Names.from_data`."""

    source: str
    floors: Mapping[str, Floor]
    areas: Mapping[str, Area]
    entities: tuple[Entity, ...]
    warnings: tuple[str, ...]
    max_span: int  # longer spans are refused unread
    _index: Mapping[str, Index] = field(repr=False)
    _by_domain: Mapping[str, tuple[Entity, ...]] = field(repr=False)

    @staticmethod
    def from_data(data: NamesData) -> "Names":
        check_unique_names(data)
        things = (*data.floors, *data.areas, *data.entities)
        longest = max((len(n) for x in things for n in (x.name, *x.aliases)), default=0)
        return Names(
            source=data.source,
            floors=MappingProxyType({f.id: f for f in data.floors}),
            areas=MappingProxyType({a.id: a for a in data.areas}),
            entities=data.entities,
            warnings=data.warnings,
            # room for "all of the ... in the ... on the ..." around the longest name; beyond it, nothing could match
            max_span=max(128, 4 * longest + 64),
            _index=Indexes(data, MappingProxyType({**LANGUAGES, "*": OTHER})),   # each built when first asked
            _by_domain=MappingProxyType({d: tuple(e for e in data.entities if e.domain == d)
                                         for d in {e.domain for e in data.entities}}),
        )

    def floor_of(self, e: Entity) -> str | None:
        if e.floor is not None:
            return e.floor
        area = self.areas.get(e.area) if e.area else None
        return area.floor if area else None

    def covered(self, *, domain: str | None = None, device_class: str | None = None, area: str | None = None,
                floor: str | None = None) -> tuple[Entity, ...]:
        """The entities a target covers; arguments are ids ("light", "blind", "kitchen", "upstairs")."""
        pool = self.entities if domain is None else self._by_domain.get(domain, ())
        return tuple(e for e in pool if self._fits(e, area, floor, domain, device_class))

    def _fits(self, e: Entity, area: str | None, floor: str | None, domain: str | None, dc: str | None) -> bool:
        return ((area is None or e.area == area) and (floor is None or self.floor_of(e) == floor)
                and (domain is None or e.domain == domain) and (dc is None or e.device_class == dc))

    def resolve(self, slots: Mapping[str, Any], language: str) -> Resolution | Refusal:
        """The model's spans -> exact names, or why not. NAME_SLOTS are resolved; a `state`, `color`,
        `fan_mode` or `media_class` said in the user's language becomes Home Assistant's value (edge.names_values: "cerrada" of a
        lock -> `locked`, "rot" -> `red`), refused if no list has it; any other slot is copied as it is,
        so a timer's free-text `name` must not be passed here."""
        res = self._resolve(slots, language)
        if isinstance(res, Refusal) or not any(k in res.slots for k in names_values.VALUE_SLOTS):
            return res
        domains = {i.split(".", 1)[0] for i in res.entity_ids}
        domain = res.slots.get("domain") or (next(iter(domains)) if len(domains) == 1 else None)
        # not None: _resolve refuses a language it does not serve
        out = names_values.apply(res.slots, language_of(language).code, domain)
        if isinstance(out, str):
            return Refusal("unknown", out, f"no {out.replace('_', ' ')} {_show(str(res.slots[out]))}")
        return replace(res, slots=MappingProxyType(out))

    def _resolve(self, slots: Mapping[str, Any], language: str) -> Resolution | Refusal:
        lang = language_of(language)
        if lang is None:
            shown = _show(language) if isinstance(language, str) else type(language).__name__
            return Refusal("language", detail=f"not served: {shown}")
        if not isinstance(slots, Mapping):
            return Refusal("invalid", detail="slots must be a mapping")
        idx = self._index[lang.code]
        spans: dict[str, str] = {}
        said: dict[str, tuple[str, ...]] = {}  # an area's or floor's keys with its locatives kept ("en haut")
        for s in NAME_SLOTS:
            if slots.get(s) is not None:
                got = self._span(slots[s], lang, lang.locatives if s in ("area", "floor") else ())
                if isinstance(got, Refusal):
                    return replace(got, slot=s)
                spans[s], said[s] = got[0], got
        fuzzy = False
        domain = dc = area = floor = None
        for s in ("domain", "device_class"):
            if s in spans:
                hit = domain_word(spans[s], lang)
                if hit is None and s == "device_class":
                    # a class this file uses that no word list knows ("moisture", "carbon_monoxide")
                    hit = next(((None, e.device_class) for e in self.entities
                                if e.device_class and e.device_class.replace("_", " ").casefold() == spans[s]), None)
                if hit is None or (s == "device_class" and hit[1] is None):
                    return Refusal("unknown", s, f"no {s.replace('_', ' ')} {_show(str(slots[s]))}")
                if (domain and hit[0] and hit[0] != domain) or (dc and hit[1] and hit[1] != dc):
                    return Refusal("conflict", s, f"{hit} does not fit {domain}/{dc}")
                domain, dc = domain or hit[0], dc or hit[1]
        for s, table in (("area", idx.areas), ("floor", idx.floors)):
            if s in spans:
                ids, amb, slip = place_ids(table, said[s])
                if amb or not ids:
                    return Refusal("ambiguous" if amb else "unknown", s, f"{s} {_show(str(slots[s]))}")
                fuzzy = fuzzy or slip
                area, floor = (next(iter(ids)), floor) if s == "area" else (area, next(iter(ids)))
        if area and floor and self.areas[area].floor not in (None, floor):
            return Refusal("conflict", "floor", f"area {self.areas[area].name!r} is not on that floor")
        out: dict[str, Any] = {k: v for k, v in slots.items() if k not in NAME_SLOTS}
        if "name" in spans:
            t = self._name(idx, lang, spans["name"], _Target(None, area, floor, domain, dc))
            if isinstance(t, Refusal):
                return t
            if t.entity is not None:
                e = self.entities[t.entity]
                out["name"] = e.name
                self._describe(out, area, floor, domain, dc)
                return Resolution(MappingProxyType(out), (e.id,), fuzzy or t.fuzzy)
            area, floor, domain, dc, fuzzy = t.area, t.floor, t.domain, t.device_class, fuzzy or t.fuzzy
            if area is None and floor is None and not self._quantified(slots["name"], lang):
                # "the lamp" with no place: one lamp, but which? Only "all the lamps" means every one.
                if len(self.covered(domain=domain, device_class=dc)) > 1:
                    return Refusal("ambiguous", "name", "more than one of that kind; say which, where, or all")
        if not spans:
            return Resolution(MappingProxyType(out), ())
        covered = self.covered(domain=domain, device_class=dc, area=area, floor=floor)
        if not covered:
            return Refusal("nothing_matches", None, "nothing in the names file fits the target")
        self._describe(out, area, floor, domain, dc)
        return Resolution(MappingProxyType(out), tuple(e.id for e in covered), fuzzy)

    def all_placed_elsewhere(self, domains: frozenset[str], area: str | None, floor: str | None) -> bool:
        """Has the home things of `domains`, each in an area or on a floor, and none in the place named by
        `area` / `floor` (the file's exact names, as `resolve` gives them)? edge.home refuses a command to
        that place as a misread intent. An unplaced thing could be anywhere: False."""
        things = [e for d in domains for e in self._by_domain.get(d, ())]
        if not things or any(e.area is None and self.floor_of(e) is None for e in things):
            return False
        area_id = next((a.id for a in self.areas.values() if a.name == area), None) if area else None
        floor_id = next((f.id for f in self.floors.values() if f.name == floor), None) if floor else None
        if (area and area_id is None) or (floor and floor_id is None):
            return False
        return not any(self._fits(e, area_id, floor_id, None, None) for e in things)

    def said_exactly(self, slot: str, raw: Any, language: str) -> bool:
        """Is the span `raw` of `slot` ("name", "area", "floor") exactly a name or alias of the file (case,
        accents, articles and locatives aside, no slip corrected), of its own kind: an area for an area, a
        floor for a floor, a thing for a name? edge.home takes a span the tagger is unsure of when the home
        confirms it word for word."""
        lang = language_of(language)
        if lang is None or slot not in ("name", "area", "floor"):
            return False
        got = self._span(raw, lang, lang.locatives if slot in ("area", "floor") else ())
        if isinstance(got, Refusal):
            return False
        idx = self._index[lang.code]
        # a thing by its own name or alias only: "the kitchen lights" read as place + kind is a second
        # guess on top of the tagger's, not the home confirming the words
        table = idx.entities if slot == "name" else idx.areas if slot == "area" else idx.floors
        # "en haut" said of a home with a floor "En haut" and another "Haut": which one is not confirmed
        return len({table.exact[k] for k in got if k in table.exact}) == 1

    def _describe(self, out: dict[str, Any], area: str | None, floor: str | None, domain: str | None,
                  dc: str | None) -> None:
        if area:
            out["area"] = self.areas[area].name
        if floor:
            out["floor"] = self.floors[floor].name
        if domain:
            out["domain"] = domain
        if dc:
            out["device_class"] = dc

    def _span(self, raw: Any, lang: Language,
              prefixes: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | Refusal:
        """A span -> its lookup keys: first the key with `prefixes` (an area's or floor's locatives)
        stripped, then the keys with fewer of them stripped, down to the span as said, its articles stripped
        as a name's are ("en haut", "d'en haut": a floor's alias in French homes, which stripping "en" would
        turn into "haut"). One key when nothing was stripped. The length check comes first: a 16 KiB span
        is refused unread."""
        if not isinstance(raw, str):
            return Refusal("invalid", detail=f"not text but {type(raw).__name__}")
        if len(raw) > self.max_span:
            return Refusal("too_long", detail=f"{len(raw)} characters")
        cleaned = clean(raw)
        if cleaned is None:
            return Refusal("invalid", detail="control characters")
        toks = tokens(cleaned, lang)
        if tuple(fold(t) for t in toks) in {*lang.determiners, *lang.locatives}:
            # the tagger marked only an article ("überspring den song" -> area "den"): no name, even if a
            # thing is called so in another language (an English room "Den")
            return Refusal("unknown", detail="only an article")
        cut = stops(toks, prefixes)
        key = finish(" ".join(strip(cut[-1], lang.determiners)), lang)
        if not key:
            return Refusal("empty")
        said = (finish(" ".join(strip(t, lang.determiners)), lang) for t in reversed(cut[:-1]))
        return tuple(dict.fromkeys((key, *said)))

    @staticmethod
    def _quantified(raw: str, lang: Language) -> bool:
        """Does the span start with "all" (alle, tous, todos)? raw was checked by _span already."""
        toks = tokens(clean(raw) or "", lang)
        return bool(toks) and fold(toks[0]) in lang.quantifiers

    def _name(self, idx: Index, lang: Language, key: str, given: _Target) -> _Target | Refusal:
        """The name slot: an entity by name or alias, else place + domain word, else the same with a slip
        corrected. Constraints from the other slots (given) narrow the candidates."""
        def admit(i: int) -> bool:
            return self._fits(self.entities[i], given.area, given.floor, given.domain, given.device_class)

        named = idx.entities.exact.get(key, frozenset())
        fitting = [i for i in named if admit(i)]
        if len(fitting) == 1:
            return replace(given, entity=fitting[0])
        if len(fitting) > 1:
            return Refusal("ambiguous", "name", f"{len(fitting)} things are called that; say where")
        if not named and (key in idx.areas.exact or key in idx.floors.exact):
            # "turn off the garage": the place, not the garage door that "garage" alone would name
            return Refusal("not_a_thing", "name", "that is a place, not a thing")
        for fuzzy in (False, True):
            found = self._composite(idx, lang, key, given, fuzzy)
            if found is not None:
                return found
            if named:  # the name exists, but not where (or as what) the other slots say
                return Refusal("conflict", "name", "that thing is not in that place or of that kind")
            if not fuzzy:
                ids, amb = idx.entities.fuzzy(key, admit)
                if amb:
                    return Refusal("ambiguous", "name", "close to more than one name")
                if ids:
                    return replace(given, entity=next(iter(ids)), fuzzy=True)
        return Refusal("unknown", "name", "no such thing")

    def _composite(self, idx: Index, lang: Language, key: str, given: _Target,
                   fuzzy: bool) -> _Target | Refusal | None:
        """ "kitchen lights", "lights in the kitchen", "luces de la cocina", "wohnzimmerlampe" -> place +
        domain. The longest domain phrase that leaves a known place wins; two readings at once: ambiguous."""
        toks = key.split()
        for n in range(min(3, len(toks)), 0, -1):
            readings: set[_Target] = set()
            head = " ".join(toks[:n])
            splits = [(toks[:-n], " ".join(toks[-n:])), (strip(toks[n:], lang.connectors), head)]
            if not fuzzy:
                # the place as said, its connectors kept ("lumieres en haut", "lampes d'en haut": the floor
                # "En haut"). Exact only; if the place with and the place without them are both known, the
                # two readings differ and the set below refuses it as ambiguous
                splits += [(place, head) for place in stops(toks[n:], lang.connectors)[:-1]]
            if lang.compounds and n == 1:
                splits += compound_splits(toks, lang)
            for place, words in splits:
                dw = domain_word(words, lang)
                if dw is None:
                    continue
                t = self._reading(idx, lang, place, dw, given, fuzzy)
                if t is not None:
                    readings.add(t)
            if len(readings) == 1:
                return readings.pop()
            if len(readings) > 1:
                return Refusal("ambiguous", "name", "more than one reading of place and kind")
        return None

    def _reading(self, idx: Index, lang: Language, place: list[str], dw: DomainClass, given: _Target,
                 fuzzy: bool) -> _Target | None:
        """One reading of place + domain word, if the place is known and it agrees with the other slots."""
        domain, dc = dw
        if (given.domain and domain != given.domain) or (given.device_class and dc and dc != given.device_class):
            return None
        t = replace(given, domain=domain, device_class=dc or given.device_class)
        if not place:
            return None if fuzzy else t  # a bare domain word needs no second, fuzzy look
        pkey = " ".join(strip(place, lang.determiners))
        for table, slot in ((idx.areas, "area"), (idx.floors, "floor")):  # an area before a floor: fewer things
            if fuzzy:
                ids, amb = table.fuzzy(pkey, lambda x: True)
                if amb:
                    return None
            else:
                ids = table.exact.get(pkey, frozenset())
            if len(ids) == 1:
                pid = next(iter(ids))
                if getattr(given, slot) not in (None, pid):
                    return None  # "kitchen lights" said in the bedroom: not this reading
                return replace(t, **{slot: pid}, fuzzy=fuzzy)
        return None


def load(path: str | Path) -> Names:
    """Read, validate and index a names file. Raises NamesError (each line names the file and key path)."""
    return Names.from_data(read_file(path))
