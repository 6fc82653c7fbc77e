"""Slot values said in the user's language -> the values Home Assistant's intents take.

The model's spans are the words as said: "rot", "ouverte", "cerrada", "fünfzig",
"Wiedergabeliste". Home Assistant wants `red`, `open`, `locked`, 50, `playlist`. The tables
(edge/names_values_data.py) are Home Assistant's own lists, expanded once by
edge/train/home_values.py, and its number speller's words for 0..200, so this module needs
nothing but the standard library.

A state word means different things for different kinds of thing: Spanish "cerrada" is
`closed` for a cover and `locked` for a lock, "abierta" `open` or `unlocked`. So a state is
read against the list of the thing's domain (lock -> lock_states, cover/valve -> cover_states,
anything else -> on_off_states); with no domain known, only a word every list that has it
reads the same way is accepted. A word no list has is refused by `apply` (safe): it never
passes the words on as if they were a value.
"""

from __future__ import annotations

from typing import Any, Mapping

from edge.names_text import clean, fold
from edge.names_values_data import NUMBERS, STATES, VALUES

__all__ = ["UNITS", "VALUE_SLOTS", "apply", "brightness_level", "color_temperature", "knows", "number", "state",
           "value"]

# Slots whose words become a list's value: `state` by the thing's domain, the others by their own list.
VALUE_SLOTS = ("state", "color", "fan_mode", "media_class", "volume_step")
# Slots whose words must be a list's value, even in a language without the list: a volume step said
# as a number ("lauter um 20", "baja el volumen un 20") is up or down by the verb, which the tagger does
# not mark, so a number there is refused rather than sent without its sign.
_STRICT = frozenset({"volume_step"})
_DOMAIN_STATES = {"lock": "lock_states", "cover": "cover_states", "valve": "cover_states"}
# Unit words a number span may carry along ("fünfzig prozent", "veinte grados"): dropped before lookup.
UNITS = frozenset({"percent", "per cent", "%", "prozent", "pour cent", "pourcent", "por ciento", "porciento",
                    "degrees", "degree", "grad", "degres", "degre", "grados", "grado"})
_MAX_KEY = 64  # characters: no value phrase is longer; longer text is not looked up


def _key(raw: Any) -> str | None:
    if not isinstance(raw, str) or len(raw) > _MAX_KEY:
        return None
    c = clean(raw)
    if c is None:
        return None
    return " ".join(fold(c).replace("-", " ").replace("%", " % ").split()) or None


def _base(lang: str) -> str:
    return lang.replace("_", "-").split("-")[0].casefold() if isinstance(lang, str) else ""


def knows(lang: str) -> bool:
    """Whether `lang` has value lists here (else its values cannot be judged: callers pass them as said)."""
    return _base(lang) in STATES


def state(raw: Any, lang: str, domain: str | None = None) -> str | None:
    """Home Assistant's state for the words `raw` said of a thing of `domain`, or None."""
    k, tables = _key(raw), STATES.get(_base(lang))
    if k is None or not tables:
        return None
    if domain is not None:
        return tables.get(_DOMAIN_STATES.get(domain, "on_off_states"), {}).get(k)
    seen = {t[k] for t in tables.values() if k in t}
    return seen.pop() if len(seen) == 1 else None


def value(slot: str, raw: Any, lang: str) -> str | None:
    """Home Assistant's value of list `slot` ("color", "fan_mode", "media_class") for the words `raw`."""
    k = _key(raw)
    return None if k is None else VALUES.get(_base(lang), {}).get(slot, {}).get(k)


def apply(slots: Mapping[str, Any], lang: str, domain: str | None = None) -> dict[str, Any] | str:
    """`slots` with every VALUE_SLOTS value turned into Home Assistant's, or the slot whose words no list
    of `lang` has (a string: the caller refuses). A language without tables, or a slot its lists lack
    (French has no fan modes), passes as said."""
    out = dict(slots)
    base = _base(lang)
    if base not in STATES:
        return out
    for k in VALUE_SLOTS:
        if out.get(k) is None or (k != "state" and k not in _STRICT and k not in VALUES.get(base, {})):
            continue
        if k == "volume_step" and (out[k] in ("up", "down") or (isinstance(out[k], (int, float))
                                                               and not isinstance(out[k], bool))):
            continue  # already Home Assistant's: a direction, or a signed step read with its verb (edge.home)
        v = state(out[k], base, domain) if k == "state" else value(k, out[k], base)
        if v is None:
            return k
        out[k] = v
    return out


# Home Assistant's `color_temperature_names` lists (home-assistant-intents 2026.12.1), their alternatives
# spelled out and folded as `_key` folds what was said: "Kerzenlicht" is 1900 K, "blanc chaud" 2700 K.
_COLOR_TEMPERATURE_NAMES = {
    "en": {1900: "candle light|candlelight", 2700: "warm white", 4000: "cold white|cool white",
           6500: "day light|daylight"},
    "de": {1900: "kerze|kerzenlicht", 2700: "warm weiss|warmweiss", 4000: "kalt weiss|kaltweiss", 6500: "tageslicht"},
    "fr": {1900: "lumiere de bougie|bougie", 2700: "blanc chaud", 4000: "blanc froid|blanc neutre",
           6500: "lumiere du jour"},
    "es": {1900: "luz de vela|vela", 2700: "blanco calido", 4000: "blanco frio", 6500: "luz de dia"},
}


def _by_word(tables: Mapping[str, Mapping[int, str]]) -> dict[str, dict[str, int]]:
    """{lang: {value: "word|word"}} as {lang: {word: value}}."""
    return {lang: {w: k for k, ws in t.items() for w in ws.split("|")} for lang, t in tables.items()}


def _said(table: Mapping[str, Mapping[str, int]], raw: Any, lang: str) -> int | None:
    k = _key(raw)
    return None if k is None else table.get(_base(lang), {}).get(k)


_COLOR_TEMPERATURES = _by_word(_COLOR_TEMPERATURE_NAMES)


def color_temperature(raw: Any, lang: str) -> int | None:
    """The colour temperature (kelvin) Home Assistant's list gives a named white ("Tageslicht" -> 6500), or None."""
    return _said(_COLOR_TEMPERATURES, raw, lang)


# Home Assistant's `brightness_level` lists: the brightest and the dimmest said in words ("höchste", "mínima").
_BRIGHTNESS_LEVELS = {
    "en": {100: "max|maximum|highest", 1: "min|minimum|lowest"},
    "de": {100: "max|maximal|maximale|maximum|hochste|volle|grosste|hell|hellste",
           1: "min|minimal|minimale|minimum|niedrigste|kleinste|geringste"},
    "es": {100: "maximo|maxima|mas alta|mas alto|lo mas alto|la mas alta|tope",
           1: "minimo|minima|mas bajo|mas baja|lo mas bajo|la mas baja"},
}
_BRIGHTNESS = _by_word(_BRIGHTNESS_LEVELS)


def brightness_level(raw: Any, lang: str) -> int | None:
    """The brightness Home Assistant's list gives a word for the brightest or dimmest ("maximum" -> 100), or None."""
    return _said(_BRIGHTNESS, raw, lang)


def _german_compound(k: str, table: Mapping[str, int]) -> int | None:
    """A German number word past the table ("sechstausendzweihundert", "dreihundertzwölf"): thousands and
    hundreds written together, each part a number of the table. Up to 999,999; None if a part is no number."""
    for word, size in (("tausend", 1000), ("hundert", 100)):
        if word in k:
            left, right = k.split(word, 1)
            lead = 1 if left in ("", "ein", "eins") else table.get(left)
            rest = 0 if right in ("", "und") else (table.get(right.removeprefix("und"))
                                                   if right.removeprefix("und") in table
                                                   else _german_compound(right, table))
            if lead is None or rest is None or not 1 <= lead < (1000 if size == 1000 else 10) or rest >= size:
                return None
            return lead * size + rest
    return None


def number(raw: Any, lang: str) -> int | None:
    """The number the words `raw` say in `lang` ("dreiundzwanzig", "vingt-deux", "veinte grados"), or
    None. Digits are not read here (the caller reads them); only whole words, 0..200 (German compounds of
    hundreds and thousands too: "siebentausendeinhundert")."""
    k = _key(raw)
    if k is None:
        return None
    table = NUMBERS.get(_base(lang), {})
    if k in table:
        return table[k]
    for unit in UNITS:
        if k.endswith(" " + unit) and k[: -len(unit) - 1] in table:
            return table[k[: -len(unit) - 1]]
    if _base(lang) == "de" and " " not in k and len(k) <= 48:  # "sechstausendzweihundert" (a colour temperature)
        return _german_compound(k, table)
    return None
