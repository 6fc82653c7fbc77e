"""A home answer's slot values: the numbers Home Assistant accepts, the tagger's spans read as values, and the
result's slots on the words they came from. A leaf of edge/home.py's decision (split from it: home.py held the rules
and these readings in 433 lines); edge/pipeline_home.py reads a refused result's numbers with `number_value` too.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from edge import home_numbers, names_values
from edge.home_results import NotUnderstood
from edge.home_words import FREE_TEXT_NAME_INTENTS, number

# Slots resolved against the names file (edge.names.NAME_SLOTS; repeated so this module does not
# import edge.names for a recognizer built without a names file).
_NAME_SLOTS = ("name", "area", "floor", "domain", "device_class")
# Number slots and the values Home Assistant's intents accept; a value outside is refused, not clamped.
NUMBER_RANGES: Mapping[str, tuple[float, float]] = {
    "brightness": (0, 100), "position": (0, 100), "volume_level": (0, 100), "percentage": (0, 100),
    "temperature": (-100, 1000), "hours": (0, 999), "minutes": (0, 9999), "seconds": (0, 99999),
    "start_hours": (0, 999), "start_minutes": (0, 9999), "start_seconds": (0, 99999),
}
# Where an intent's slot takes other values (home-assistant-intents' lists, the same in en/de/fr/es):
# a light's `temperature` is a colour temperature, 1000-10000 K (`color_temperature`), so "set the
# kitchen lights to 500%" read as temperature 500 is refused; a thermostat's is 0-100 (`temperature`).
_INTENT_RANGES: Mapping[tuple[str, str], tuple[float, float]] = {
    ("HassLightSet", "temperature"): (1000, 10000), ("HassClimateSetTemperature", "temperature"): (0, 100),
}


def number_value(span: Mapping[str, Any], intent: str, lang: str | None) -> float | int | None:
    """A number slot's span as a number: its value or words as a number, the language's number words ("fünfzig"),
    the words of HA's lists for the slot (a light's "Tageslicht" 6500 K, brightness "maximum" 100, German "höchste"
    100); None where they say none."""
    name = span.get("name")
    v = number(span.get("value"))
    if v is None:
        v = number(span.get("raw"))
    if v is None and lang is not None:  # number words of the language ("fünfzig", "vingt-deux")
        v = names_values.number(span.get("raw"), lang)
    if v is None and lang is not None and (intent, name) == ("HassLightSet", "temperature"):
        v = names_values.color_temperature(span.get("raw"), lang)  # "Tageslicht" -> 6500 K, HA's list
    if v is None and lang is not None and name == "brightness":
        v = names_values.brightness_level(span.get("raw"), lang)  # "maximum" -> 100, HA's brightness_level
    if v is None and lang is not None and isinstance(name, str):
        v = home_numbers.level(span.get("raw"), lang, name)  # "höchste" -> 100, HA's German volume/position lists
    return v


def slot_values(found: Sequence[Mapping[str, Any]], min_confidence: float, intent: str = "", lang: str | None = None,
           confirmed: Any = None) -> dict[str, Any] | NotUnderstood:
    """The tagger's slots as {HA slot name: value}; numbers read; doubts refused. A span below
    `min_confidence` is kept only when `confirmed(span, value)` says its words stand on their own
    (`confirmed`); without `confirmed`, never."""
    out: dict[str, Any] = {}
    for s in found:
        name = s.get("name")
        if not isinstance(name, str):
            return NotUnderstood("slot", "a slot without a name")
        if name in out:
            return NotUnderstood("slot", f"{name} given twice")  # two areas: which one?
        unsure = not float(s.get("confidence", 0.0)) >= min_confidence
        if name in NUMBER_RANGES:
            v = number_value(s, intent, lang)
            lo, hi = _INTENT_RANGES.get((intent, name), NUMBER_RANGES[name])
            if unsure and (v is None or confirmed is None or not confirmed(s, v)):
                return NotUnderstood("slot", f"{name} unsure")
            if v is None or not lo <= v <= hi:
                return NotUnderstood("number", f"{name} is no number in {lo:g}..{hi:g}")
            out[name] = v
        else:
            # The words as said: names are resolved next; free text (an item, a query) stays as said.
            out[name] = s.get("raw") if isinstance(s.get("raw"), str) else str(s.get("value"))
            if unsure and (confirmed is None or not confirmed(s, out[name])):
                return NotUnderstood("slot", f"{name} unsure")
    return out


def result_slots(entities: Sequence[tuple[str, Any]], spans: Mapping[str, Mapping[str, Any]],
                  intent: str) -> tuple[dict[str, Any], ...]:
    """The entities as MQTT result slots, each on the span it came from: its own (a resolved name keeps
    `raw`, the words said), else the thing-naming span the resolution read it from ("lumière de la
    cuisine", tagged `name`, is area Kitchen + domain light), else none (start = end = 0)."""
    named = [k for k in _NAME_SLOTS if k in spans and not (k == "name" and intent in FREE_TEXT_NAME_INTENTS)]
    consumed = [spans[k] for k in named if k not in dict(entities)] or [spans[k] for k in named]
    out: list[dict[str, Any]] = []
    for key, value in entities:
        span = spans.get(key) or (consumed[0] if key in _NAME_SLOTS and consumed else None)
        if span is None:
            out.append({"name": key, "entity": key, "raw": "", "value": value, "start": 0, "end": 0,
                        "confidence": 1.0})
            continue
        slot = {k: span[k] for k in ("entity", "raw", "start", "end", "confidence") if k in span}
        slot.update({k: v for k, v in span.items() if k not in slot and k not in ("name", "value")})  # "unit"
        if span.get("name") != key:  # read from another slot's words: its type is its own name
            slot["entity"] = key
        out.append({"name": key, **slot, "value": value})
    out.sort(key=lambda s: (s.get("start", 0), s["name"]))
    return tuple(out)
