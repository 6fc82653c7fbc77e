"""The unit word Home Assistant's templates say after a number, for edge.home_numbers: which slot a number is.

"{brightness}[%| percent]", "{temperature} degrees", "{color_temperature} kelvin": the word after a number says
its kind. `unit_after` asks it of a tagged span; `unit_slot` of a number the tagger left untagged, for an intent
with several number slots (HassLightSet: brightness and colour temperature), where the unit leaves one;
`unit_at` whether words start with a unit ("cincuenta *por ciento*": names_values.number reads the run
as 50, but the unit is no part of the number). Moved out of edge/home_numbers.py (402 lines).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from edge.names_schema import NUMBER_SLOTS, fold

__all__ = ["unit_after", "unit_at", "unit_slot"]

_WORD = re.compile(r"[^\W_]+")

# The unit words Home Assistant's templates say right after a number of each kind (home-assistant-intents
# 2026.12.1, folded): "{volume_level}[ (Prozent|%)]", "{temperature}[([ ]°)|( degree[s])]", "<degres>",
# "{color_temperature}[[ ](k|kelvin)]".
_UNITS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "percent": {"en": frozenset({"%", "percent"}), "de": frozenset({"%", "prozent"}),
                "fr": frozenset({"%", "pourcent", "pour cent"}),
                "es": frozenset({"%", "por ciento", "porciento", "por cien", "porcien"})},
    "degrees": {"en": frozenset({"°", "degree", "degrees"}), "de": frozenset({"°", "grad"}),
                "fr": frozenset({"°", "degre", "degres"}), "es": frozenset({"°", "grados"})},
    "kelvin": {lang: frozenset({"k", "kelvin", "kelvins"}) for lang in ("en", "de", "fr", "es")},
}
_PERCENT_SLOTS = frozenset({"brightness", "position", "volume_level", "percentage", "volume_step"})


def _unit_kind(intent: str, slot: str) -> str | None:
    if slot == "temperature":
        return "kelvin" if intent == "HassLightSet" else "degrees"
    return "percent" if slot in _PERCENT_SLOTS else None


def unit_after(intent: str, slot: str, lang: str, text: str, end: int) -> bool:
    """Is the number span ending at `end` followed by a unit word HA's templates say after that slot's numbers
    ("vierunddreißig*%*", "treinta *por ciento*", "quatre *degré*")?"""
    kind = _unit_kind(intent, slot)
    units = _UNITS[kind].get(lang, frozenset()) if kind else frozenset()
    if not units or not 0 <= end <= len(text):
        return False
    rest = text[end:end + 40].lstrip()
    if rest[:1] in units:  # "%", "°"
        return True
    ws = [fold(w) for w in _WORD.findall(rest)[:2]]
    return bool(ws) and (ws[0] in units or " ".join(ws) in units)



def unit_slot(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, end: int) -> str | None:
    """The one number slot of `intent`'s Home Assistant templates whose unit word follows the number ending at
    `end` ("set the dining room lights to ten *percent* please": HassLightSet's brightness, not its colour
    temperature), or None (no unit word, or one that fits several of its slots or none)."""
    if not isinstance(schema, Mapping):
        return None
    sigs = (schema.get("signatures") or {}).get(intent) or []
    slots = sorted({k for sig in sigs for k in sig if k in NUMBER_SLOTS})
    fits = [s for s in slots if unit_after(intent, s, lang, text, end)]
    return fits[0] if len(fits) == 1 else None


def unit_at(words: list[str], lang: str) -> bool:
    """Do `words` start with a unit of any kind ("por ciento", "%", "grad"), one word or two?"""
    ws = [fold(w) for w in words[:2]]
    units = {u for kinds in _UNITS.values() for u in kinds.get(lang, frozenset())}
    return bool(ws) and (ws[0] in units or " ".join(ws) in units)
