"""Does a reply's set of slots fit what Home Assistant's templates give its intent? (the package's
`home_schema`, written by edge/train/home_schema.py from those templates).

An intent with a set of value slots none of its templates has (HassSetVolume with no volume,
HassLightSet with nothing to set, HassTurnOn with a brightness), or a number outside the range
lists its templates use (HassLightSet's colour temperature of 80), is refused: the model or the
tagger misread the sentence, and acting on it would do something the user did not say.
A package without `home_schema` (older ones) is not checked. The numbers said (a number's words read whole,
a number in no slot) are edge/home_numbers.py's.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable, Mapping

__all__ = ["NUMBER_SLOTS", "TARGET_SIGNATURES", "TARGET_SLOTS", "filler", "first_word", "fold", "misfit",
           "place_domain", "polarity_misfit", "target_misfit", "unit_base", "unit_misfit", "unit_said", "unit_words",
           "word_list", "words"]

TARGET_SLOTS = frozenset({"name", "area", "floor", "domain", "device_class"})
_SIGNED = frozenset({"volume_step"})  # slots whose down lists are their up lists times -1


def misfit(schema: Mapping[str, Any] | None, intent: str, slots: Mapping[str, Any],
           listed: Iterable[str] = ()) -> str | None:
    """Why `slots` (HA slot name -> value, numbers read) do not fit `intent`, or None if they do
    (or there is no schema for it). `listed`: slots whose value is one of HA's list values ("eineinhalb
    Minuten" -> seconds 90), not a number said: the schema's ranges are those of the numbers said."""
    if not isinstance(schema, Mapping):
        return None
    sigs = (schema.get("signatures") or {}).get(intent)
    if sigs is not None:
        got = sorted(k for k in slots if k not in TARGET_SLOTS)
        if got not in [sorted(s) for s in sigs]:
            return f"{intent} never takes the slots {got}"
    listed = frozenset(listed)
    for k, (lo, hi) in ((schema.get("ranges") or {}).get(intent) or {}).items():
        v = slots.get(k) if k not in listed else None
        if k in _SIGNED and isinstance(v, (int, float)):
            v = abs(v)  # HA's volume_step_down is the same range with multiplier -1: the schema keeps its size
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not lo <= v <= hi:
            return f"{k} {v:g} is outside {lo:g}..{hi:g} for {intent}"
    return None


# The sets of target slots (name, area, floor, domain, device_class: the spans, before resolution) each
# intent's sentences carry, "|"-separated, "" for none: what edge/train/home_schema.py's `signatures` gives
# for the value slots, here for the targets. Read from the recipe's training sentences (edge.train.home
# .generate(lang, 200, 13)["train"] for en, de, fr and es; home-assistant-intents 2026.12.1). A reply
# with another set is a misread: "lass den Staubsauger auf der Terrasse saugen" as HassVacuumStart
# {name, area} (HA starts a vacuum by name, or the vacuums of a place, never both: it was
# HassVacuumCleanArea), "change all lighting in the den to 20" as HassSetPosition {area} (a position
# needs a thing or a kind of cover). A package's `home_schema` "target_signatures", when it has them,
# replace these.
TARGET_SIGNATURES: Mapping[str, frozenset[frozenset[str]]] = {
    intent: frozenset(frozenset(sig.split()) for sig in sigs.split("|")) for intent, sigs in {
    "HassBroadcast": "",
    "HassCancelAllTimers": "|area",
    "HassCancelTimer": "|area|name",
    "HassClimateGetTemperature": "|area|floor|name",
    "HassClimateSetFanMode": "|area|floor|name",
    "HassClimateSetTemperature": "|area|floor|name",
    "HassDecreaseTimer": "|area|name",
    "HassFanSetSpeed": "|area|floor|name",
    "HassGetCurrentDate": "",
    "HassGetCurrentTime": "",
    "HassGetState": "|area|area device_class|area domain|area name|device_class|device_class floor|domain|"
                    "domain floor|floor|floor name|name",
    "HassGetWeather": "|name",
    "HassIncreaseTimer": "|area|name",
    "HassLawnMowerDock": "|name",
    "HassLawnMowerStartMowing": "|name",
    "HassLightSet": "|area|floor|name",
    "HassListAddItem": "name",
    "HassListCompleteItem": "name",
    "HassListRemoveItem": "name",
    "HassMediaNext": "|area|name",
    "HassMediaPause": "|area|name",
    "HassMediaPlayerMute": "|name",
    "HassMediaPlayerUnmute": "|name",
    "HassMediaPrevious": "|area|name",
    "HassMediaSearchAndPlay": "|area|area name|name",
    "HassMediaUnpause": "|area|name",
    "HassNevermind": "",
    "HassPauseTimer": "|area|name",
    "HassRespond": "",
    "HassSetPosition": "area device_class|area name|device_class|device_class floor|floor name|name",
    "HassSetVolume": "|area|name",
    "HassSetVolumeRelative": "|area|floor|name",
    "HassShoppingListAddItem": "",
    "HassShoppingListCompleteItem": "",
    "HassStartTimer": "|name",
    "HassTimerStatus": "|area|name",
    "HassTurnOff": "|area|area device_class|area name|device_class|device_class floor|floor|floor name|name",
    "HassTurnOn": "|area|area device_class|area name|device_class|device_class floor|floor|floor name|name",
    "HassUnpauseTimer": "|area|name",
    "HassVacuumCleanArea": "|area|area name",
    "HassVacuumReturnToBase": "area|name",
    "HassVacuumStart": "area|floor|name",
    }.items()}


def target_misfit(schema: Mapping[str, Any] | None, intent: str, slots: Mapping[str, Any]) -> str | None:
    """Why the target slots the tagger found (`slots`: HA slot name -> words, before resolution) are a set
    none of `intent`'s sentences has, or None (also for an intent not listed, or without a schema)."""
    if not isinstance(schema, Mapping):
        return None
    own = (schema.get("target_signatures") or {}).get(intent)
    sigs = {frozenset(s) for s in own} if own is not None else TARGET_SIGNATURES.get(intent)
    if sigs is None:
        return None
    got = frozenset(k for k in slots if k in TARGET_SLOTS)
    # a kind word tagged as `domain` beside a place ("unpause the bathroom media player", "die Heizung im
    # Esszimmer") says what the intent acts on anyway; resolution checks that it fits
    if got not in sigs and not ("domain" in got and got - {"domain"} in sigs):
        return f"{intent} never names {sorted(got)}"
    return None


def place_domain(schema: Mapping[str, Any] | None, intent: str) -> str | None:
    """The domain Home Assistant's templates of `intent` fix when a place and no thing is said
    (HassLightSet: "light"), or None."""
    if not isinstance(schema, Mapping):
        return None
    d = (schema.get("place_domains") or {}).get(intent)
    return d if isinstance(d, str) else None


_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case, accents dropped ("Grüße" -> "grusse"): how every word list here is compared."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def words(text: str) -> set[str]:
    """Lower-case, accent-free words of `text` (the same for the recipe's word lists and at run time)."""
    return set(_WORD.findall(fold(text)))


def first_word(text: str) -> str | None:
    """The first word of `text`, folded as `words` folds it ("Minuten und" -> "minuten")."""
    m = _WORD.search(fold(text[:64]))
    return m.group(0) if m else None


def word_list(text: str) -> list[str]:
    """The words of `text` in order, folded as `words` folds them."""
    return _WORD.findall(fold(text))


def unit_words(schema: Mapping[str, Any] | None, lang: str) -> Mapping[str, Any]:
    """The words that follow each duration unit's numbers in HA's templates of `lang` (the schema's
    `unit_words`: {"minutes": ["minute", "minutes", "min"], ...}); {} without a schema or the language."""
    if not isinstance(schema, Mapping):
        return {}
    return (schema.get("unit_words") or {}).get(lang) or {}


def filler(language: Any) -> set[str]:
    """Words of the unit lists that name no unit: an article or "and" ("half *an* hour", "*a* minute
    *and* a half")."""
    if language is None:
        return set()
    return {p[0] for p in language.determiners if len(p) == 1} | {"and", "und", "et", "y"}


def unit_base(slot: str) -> str:
    """A timer slot's unit: start_minutes and minutes are both minutes."""
    return slot[6:] if slot.startswith("start_") else slot


def unit_said(schema: Mapping[str, Any] | None, lang: str, text: str,
              found: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The tagger's spans with each duration put under the unit its own next word says, where that word is
    of one unit's words only ("take twenty-two-*hour* from timer" tagged `seconds` -> hours; "soixante deux
    *sec*" tagged `minutes` -> seconds): HA's templates give a duration's slot by that word ("{hours} hour").
    A word of several units' lists ("minute" follows seconds too: "a minute and a half") is left as it is,
    for `unit_misfit` to judge; so is a span whose new slot another span already has (refused as twice)."""
    found = list(found)
    if not isinstance(schema, Mapping) or not isinstance(text, str):
        return found
    units = unit_words(schema, lang)
    from edge.names import language_of

    fill = filler(language_of(lang))
    taken = {sp.get("name") for sp in found}
    out: list[Mapping[str, Any]] = []
    for sp in found:
        name, end = sp.get("name"), sp.get("end")
        if isinstance(name, str) and unit_base(name) in units and isinstance(end, int):
            w = first_word(text[end:])
            says = [u for u, ws in units.items() if w in ws and w not in fill]
            if len(says) == 1 and says[0] != unit_base(name):
                new = ("start_" if name.startswith("start_") else "") + says[0]
                if new not in taken:
                    taken.add(new)
                    sp = {**sp, "name": new, "entity": new}
        out.append(sp)
    return out


def unit_misfit(schema: Mapping[str, Any] | None, lang: str, text: str, found: Iterable[Mapping[str, Any]]) -> str | None:
    """Why a duration the tagger put under one unit is said in another, or None. The word right after a
    number span says its unit ("fifty nine *hour*" tagged `minutes`, "soixante deux *sec*" tagged
    `minutes`); `unit_words` are the words that follow each unit's numbers in HA's templates. A word of
    another unit's list and not of the slot's own is a misread: acting would set the wrong duration."""
    if not isinstance(schema, Mapping) or not isinstance(text, str):
        return None
    units = unit_words(schema, lang)
    found = list(found)
    for sp in found:
        name, start, end = sp.get("name"), sp.get("start"), sp.get("end")
        if not isinstance(name, str) or unit_base(name) not in units or not isinstance(end, int):
            continue
        if isinstance(start, int) and 0 <= start < end and not text[start:end].strip():
            continue  # blanked by the caller: a fraction read as the unit below the word said after it
        w = first_word(text[end:])
        own = set(units[unit_base(name)])
        if w is not None and w not in own and any(w in ws for u, ws in units.items() if u != unit_base(name)):
            return f"{name} said in another unit ({w!r})"
        # "seventy-five-minute" tagged hours "seventy" + minutes "five": HA's durations always have their
        # unit's word between them, so a duration's number run straight into another number is one number
        if any(isinstance(o.get("start"), int) and o is not sp and o.get("start", -1) >= end
               and NUMBER_SLOTS & {o.get("name")} and not text[end:o["start"]].strip(" -") for o in found):
            return f"{name} runs into another number"
    return None


def polarity_misfit(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
                    domains: Iterable[str]) -> str | None:
    """For an on/off intent whose every target is of a domain with polarity words (a lock, a cover, a
    valve), why the words said do not back the intent, or None. For a lock "open" means unlock
    (HassTurnOff) and German "schließ ... ab" lock (HassTurnOn), so the model, which learnt polarity mostly
    from lights, flips it; the words of HA's own lock templates decide: the text must have a word only the
    intent's templates use and none only the opposite's use, else the reply is refused. For a cover or a
    valve (edge.names_lang.POLARITY_WORDS, unless the package's schema lists the domain) only the second
    half holds: "lower the garden valve" read as HassTurnOn is refused, "pull up the blinds" (no word of
    either side) is not. `text` is best given with the spans of names blanked: a name's own words ("Lower
    Hall Blinds", "Front Door Lock") are no verb."""
    if intent not in ("HassTurnOn", "HassTurnOff"):
        return None
    doms = set(domains)
    if len(doms) != 1:
        return None
    domain = next(iter(doms))
    other = "HassTurnOff" if intent == "HassTurnOn" else "HassTurnOn"
    said = words(text)
    table = ((schema.get("polarity_words") or {}).get(lang) or {}) if isinstance(schema, Mapping) else {}
    if domain not in table:
        from edge.names_lang import POLARITY_WORDS

        lists = (POLARITY_WORDS.get(lang) or {}).get(domain)
        if lists is not None and said & lists[other]:
            return f"the words say {other} for a {domain}"
        return None
    lists = {k: set(v) for k, v in table[domain].items()}
    if domain == "lock":
        from edge.names_lang import LOCK_PARTICLE

        locks, unlocks, particle = LOCK_PARTICLE.get(lang, (frozenset(), frozenset(), ""))
        on = set(lists.get("HassTurnOn", ()))
        if particle in said and said & unlocks and not said & on:  # "mach das Schloss auf": unlock
            lists.setdefault("HassTurnOff", set()).add(particle)
        elif particle not in said and said & locks:  # "sperre die Hintertür", "schließ das Türschloss": lock
            lists.setdefault("HassTurnOn", set()).update(said & locks)
    if said & set(lists.get(other, ())):
        return f"the words say {other} for a {domain}"
    if not said & set(lists.get(intent, ())):
        return f"no word says {intent} for a {domain}"
    return None


# Slots that take a number: a reply of an intent that has them in some signature must hold every number said.
NUMBER_SLOTS = frozenset({"hours", "minutes", "seconds", "start_hours", "start_minutes", "start_seconds",
                          "brightness", "temperature", "volume_level", "position", "percentage", "volume_step"})
