"""A template's reading against the tagger's: the spans decide goes on with where a template reads the whole text.

edge/home_rescue.py reads a sentence on one of Home Assistant's templates where the model is unsure or its reading
was refused. Before decide goes on with the template's spans, they must say what the template says and the tagger
must not read the same words otherwise (two readings of one intent, and Home Assistant's ranking is not ours to
guess): `template_spans` (a template's fixed kind said, or `implied`), `tagger_disagrees` (a place, thing or floor
of the reading over the tagger's other slot, unless the tagger's split leaves words nothing reads: `_no_split`).
`completed`: a sure state question's answer that dropped the state its one template reads, completed by that
reading (`adds_only`) or refused (edge/home.py). Split from edge/home_rescue.py, which calls these.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from edge import home_templates, home_wildcards, names_schema

__all__ = ["STATE_FAMILY", "adds_only", "completed", "implied", "tagger_disagrees", "template_spans"]

# The intents whose sure answers edge/home_rescue.py's `overrule` may hand to another of them where only that one's templates read the
# text: switching a thing on or off and asking whether it is ("every single lights on Dining Room": HassGetState's
# template, the model's sure HassTurnOn). Not every intent: ranking a sure answer against all templates cost
# 8 / 39 ms p50 (en / de, `rank` alone over 12 everyday lines, 2026-12-07, 2-core x86_64 VM, under load). Against
# these three, `overrule` and `completed` together add p50 0.0 ms, p95 1.0 / 1.8 / 1.0 / 1.5 ms, max 3.7 ms to a line
# (en / de / fr / es, bench/home_proxy.py's 4,659 lines, warm pattern caches; same machine and day), and the
# on/off-vs-state confusion is the one measured.
STATE_FAMILY = frozenset({"HassTurnOn", "HassTurnOff", "HassGetState"})


def template_spans(read: home_templates.Reading, lang: str, text: str, names: Any,
                    found: Sequence[Mapping[str, Any]], schema: Mapping[str, Any] | None = None
                    ) -> tuple[str, list[Mapping[str, Any]], str] | None:
    """edge/home_rescue.py's `reread` guards on one template reading: (intent, spans, what decided it), or None."""
    # the tagger read a name's words as another slot ("what *den* *light* are on": area + kind, where the template
    # reads a thing "Den Light"): two readings of one intent, and Home Assistant's ranking is not ours to guess (one
    # English template-holdout wrong action without this, measured)
    # the template's block fixes a slot ("which {area} lights are on": domain light): the kind word the template says
    # is its span, as the tagger would tag it; none, and the reading is refused (decide read "what den light are on"
    # without it as a thing "den light": a template-holdout wrong action, measured)
    spans = list(read.spans)
    for k, v in read.slots.items():
        if k in {s["name"] for s in spans}:
            continue
        said = _kind_said(lang, text, spans, k, v)
        if said is None and not implied(schema, read.intent, lang, spans, k, v):
            return None
        if said is not None:
            spans.append(said)
    spans.sort(key=lambda s: s["start"])
    # two spans side by side that together are a thing's name ("den" + "light" and a thing "Den Light"): the place's
    # kind or the thing? decide reads the thing (edge/home_reading.py); the template holdout meant the place's lights
    for a, b in zip(spans, spans[1:]):
        if not text[a["end"]:b["start"]].strip() and names is not None \
                and names.said_exactly("name", text[a["start"]:b["end"]], lang):
            return None
    if tagger_disagrees(spans, found, text, lang):
        return None
    return read.intent, spans, "template: " + " ".join(read.own)


def tagger_disagrees(spans: Sequence[Mapping[str, Any]], found: Sequence[Mapping[str, Any]], text: str = "",
                     lang: str = "") -> bool:
    """A name, area or floor of a template's reading over words the tagger (`found`) read as another slot ("what
    *den* *light* are on": area + kind, where a template reads a thing "Den Light"): two readings of one intent, and
    Home Assistant's ranking is not ours to guess (a template-holdout wrong action without it, measured). With `text`
    and `lang`, not where the tagger's place lies inside the template's thing and leaves only words no kind is
    called by (`_no_split`): "turn off the *Kitchen* Ceiling" with a thing "Kitchen Ceiling" has no second reading."""
    return any(s["name"] in ("name", "area", "floor") and any(
        t.get("name") != s["name"] and int(t.get("start", 0)) < s["end"] and s["start"] < int(t.get("end", 0))
        and not _no_split(s, t, text, lang) for t in found) for s in spans)


def _no_split(thing: Mapping[str, Any], place: Mapping[str, Any], text: str, lang: str) -> bool:
    """Whether the tagger's `place` (an area or floor) lies inside the template's `thing` (a name) and the thing's
    other words say no kind of thing (edge.names' `domain_word`): the tagger's split then leaves words no template
    reads (no slot, no kind), so it is no reading of its own ("Kitchen" + "Ceiling"); a kind word left ("den" +
    "light") is one, and the disagreement stands."""
    if not text or thing["name"] != "name" or place.get("name") not in ("area", "floor"):
        return False
    a, e = int(place.get("start", -1)), int(place.get("end", -1))
    if not (thing["start"] <= a and e <= thing["end"]) or (a, e) == (thing["start"], thing["end"]):
        return False
    from edge.names import domain_word, language_of   # a name was read: the names module is loaded

    language = language_of(lang)
    if language is None:
        return False
    rest = home_wildcards.fold(text[thing["start"]:a] + " " + text[e:thing["end"]]).split()
    # each word alone and the words together ("garage door"): none may be a kind
    return bool(rest) and not any(domain_word(w, language) for w in [*rest, " ".join(rest)])


def implied(schema: Mapping[str, Any] | None, intent: str, lang: str, spans: Sequence[Mapping[str, Any]], slot: str,
             value: Any) -> bool:
    """Whether the `domain` a template's block fixes (`value`) is said without a kind word of its own: by the
    reading's device class ("raise up the deck *door*": device_class door, a cover's), or, for a place and no thing,
    by the intent itself as decide fills it in (edge/names_schema.py's `place_domain`: "decrease our Primary bedroom
    brightness to 57 percent" is its lights). The reading decide goes on with says the same as the template's."""
    if slot != "domain" or not isinstance(value, str):
        return False
    said = {str(s["name"]) for s in spans}
    if "name" not in said and said & {"area", "floor"} and names_schema.place_domain(schema, intent) == value:
        return True
    from edge.names import domain_word, language_of   # a name was read: the names module is loaded

    language = language_of(lang)
    return language is not None and any(
        s["name"] == "device_class" and (hit := domain_word(home_wildcards.fold(str(s["raw"])), language)) is not None
        and hit[0] == value for s in spans)


def _kind_said(lang: str, text: str, spans: Sequence[Mapping[str, Any]], slot: str, value: Any) -> dict[str, Any] | None:
    """The span of a kind word the template says itself ("which {area} *lights* are on") that is its block's fixed
    `domain` / `device_class` `value`, as the tagger would have tagged it; None where no word outside the captures
    says it (or the slot is another)."""
    if slot not in ("domain", "device_class") or not isinstance(value, str):
        return None
    from edge.names import domain_word, language_of   # a name was read: the names module is loaded

    language = language_of(lang)
    if language is None:
        return None
    folded = home_wildcards.fold(text)
    for m in re.finditer(r"\w+", folded):
        if any(int(s["start"]) < m.end() and m.start() < int(s["end"]) for s in spans):
            continue
        hit = domain_word(m.group(0), language)
        if hit is not None and value in hit:
            return {"name": slot, "entity": slot, "raw": text[m.start():m.end()], "value": text[m.start():m.end()],
                    "start": m.start(), "end": m.end(), "confidence": 1.0}
    return None


def completed(schema: Mapping[str, Any] | None, intent: str, slots: Mapping[str, Any], lang: str, text: str,
              found: Sequence[Mapping[str, Any]], names: Any
              ) -> tuple[str, list[Mapping[str, Any]], str] | None:
    """A template's reading of a sure HassGetState answer that dropped the state asked about ("are the Back Door Sensor
    *detected* Main Floor": the tagger left "detected" untagged, and the answer asked for the sensor's state, not
    whether it is on): where of `STATE_FAMILY` only HassGetState's template reads the whole text, anchored, with a
    state, through reread's guards (`template_spans`, the tagger's check included). edge/home.py
    takes it only where it adds to the answer (`adds_only`). None otherwise: the answer stands. Gated on the one
    intent and the missing slot: reading every sure answer again costs the templates' pass each time."""
    if intent != "HassGetState" or "state" in slots:
        return None
    got = home_templates.readings(schema, lang, text, names, STATE_FAMILY)
    if len(got) != 1 or got[0].intent != intent or not home_templates.anchored(got[0]) \
            or not any(s.get("name") == "state" for s in got[0].spans):
        return None
    return template_spans(got[0], lang, text, names, found, schema)


def adds_only(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether `after`'s slots keep every one of `before`'s, value for value, and add some: `completed`'s reading
    completes the answer, never changes what it acts on."""
    return len(after) > len(before) and all(k in after and after[k] == v for k, v in before.items())
