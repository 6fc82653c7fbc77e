"""Does a reply's set of slots fit what Home Assistant's templates give its intent? (the package's
`home_schema`, written by edge/train/home_schema.py from those templates).

An intent with a set of value slots none of its templates has (HassSetVolume with no volume,
HassLightSet with nothing to set, HassTurnOn with a brightness), or a number outside the range
lists its templates use (HassLightSet's colour temperature of 80), is refused: the model or the
tagger misread the sentence, and acting on it would do something the user did not say.
A package without `home_schema` (older ones) is not checked.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["TARGET_SLOTS", "misfit", "place_domain"]

TARGET_SLOTS = frozenset({"name", "area", "floor", "domain", "device_class"})


def misfit(schema: Mapping[str, Any] | None, intent: str, slots: Mapping[str, Any]) -> str | None:
    """Why `slots` (HA slot name -> value, numbers read) do not fit `intent`, or None if they do
    (or there is no schema for it)."""
    if not isinstance(schema, Mapping):
        return None
    sigs = (schema.get("signatures") or {}).get(intent)
    if sigs is not None:
        got = sorted(k for k in slots if k not in TARGET_SLOTS)
        if got not in [sorted(s) for s in sigs]:
            return f"{intent} never takes the slots {got}"
    for k, (lo, hi) in ((schema.get("ranges") or {}).get(intent) or {}).items():
        v = slots.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not lo <= v <= hi:
            return f"{k} {v:g} is outside {lo:g}..{hi:g} for {intent}"
    return None


def place_domain(schema: Mapping[str, Any] | None, intent: str) -> str | None:
    """The domain Home Assistant's templates of `intent` fix when a place and no thing is said
    (HassLightSet: "light"), or None."""
    if not isinstance(schema, Mapping):
        return None
    d = (schema.get("place_domains") or {}).get(intent)
    return d if isinstance(d, str) else None
