"""A transcript -> a Home Assistant intent with exact names, or a refusal: the home recognizer.

    recognizer = HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest), names.load(path))
    recognizer.recognize("turn off the kitchen lights", "en")
    # Recognized(name="HassTurnOff", entities=(("area", "Kitchen"), ("domain", "light")))

The model (edge.model) picks the intent, its learned slots (edge.slots) find
the spans, and the names file (edge.names) turns the spans of things, areas
and floors into the file's exact names. Acting on the wrong device is the worst
outcome, so every doubt is a `NotUnderstood`: the model below its escalation
threshold, a label that is no Home Assistant intent, a slot the tagger is unsure
of or that appears twice, a number that does not read as one or is out of its
range, a name matching nothing or more than one thing, no names file while a
thing is named, a language the model does not serve.

Everything after the model is one function, `decide`: Wyoming's recognizer
calls it after classifying and tagging, and so does the MQTT path
(edge/pipeline.py) with its own batch's predictions, so both give the same
intent and slots or the same refusal. The results are plain dataclasses, not
wyoming events, so the MQTT path needs no `wyoming` package (edge/wyoming.py
converts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Mapping, Protocol, Sequence, Union

from edge import entities, home_guard, names_schema, names_values
from edge.model import OOS

__all__ = ["Answered", "HomeRecognizer", "NotUnderstood", "Recognized", "Recognizer", "Result", "check", "decide",
           "threshold", "FREE_TEXT_NAME_INTENTS", "NUMBER_RANGES", "base_language"]

MAX_TEXT = 512  # characters: an utterance is far shorter; longer text is refused before the model sees it
MIN_SLOT_CONFIDENCE = 0.5  # a span the tagger is less sure of than this is no ground to act on
# The least intent confidence acted on, whatever the model's escalation threshold says: a model trained
# on little data tunes that threshold low (0.07 for tests/test_wyoming_e2e.py's, which then took "switch on
# the bedside lamp" at 0.16 for HassTurnOff). Over MQTT a low-confidence answer is only reported; here it
# switches a device, so below this it is not-recognized.
MIN_CONFIDENCE = 0.5

# Intents whose `name` slot is the user's free text (a timer's name), not a thing in the names file.
FREE_TEXT_NAME_INTENTS = frozenset({
    "HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassIncreaseTimer", "HassDecreaseTimer",
    "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus"})
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
_HA_INTENT = re.compile(r"^Hass[A-Z][A-Za-z0-9]{1,62}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")


@dataclass(frozen=True)
class Recognized:
    """A Home Assistant intent and its slots (HA's slot names; exact names; numbers as numbers)."""

    name: str
    entities: tuple[tuple[str, Any], ...]
    confidence: float = 1.0
    # The same entities as MQTT result slots (edge.contract: name, entity, raw, value, start, end,
    # confidence), each on the words it came from; filled by `decide`, not part of equality.
    slots: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class NotUnderstood:
    """Nothing to act on. `reason`: language, invalid, empty, too_long, unsure, not_home, slot,
    number, no_names, polarity, dropped (a thing said but not in the intent: edge.home_guard), or a
    names refusal's reason (unknown, ambiguous, conflict, ...)."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Answered:
    """An answer to something that is no home command (from the cloud), spoken as it is."""

    text: str


Result = Union[Recognized, NotUnderstood, Answered]


class Recognizer(Protocol):
    """What the Wyoming server (and the MQTT path) needs: the languages served and one call.
    `recognize` may return the result or an awaitable of it."""

    languages: Sequence[str]

    def recognize(self, text: str, language: str | None) -> Result | Awaitable[Result]: ...


def base_language(language: Any, served: Sequence[str]) -> str | None:
    """"en", "en-US", "de_DE" -> the served language it is ("en", "de"); None when not served
    or not a language tag. A served "pt-BR" is matched whole before its base."""
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        return None
    tag = language.replace("_", "-")
    lowered = {s.lower(): s for s in served}
    return lowered.get(tag.lower()) or lowered.get(tag.split("-")[0].lower())


# Intents whose target is a place plus a kind of thing, or a thing: with no target at all Home
# Assistant has nothing to act on (or, for a place alone, acts on everything there).
_TURN_INTENTS = frozenset({"HassTurnOn", "HassTurnOff", "HassGetState"})
_TARGETS = ("name", "area", "floor", "domain", "device_class")
# Intents every one of whose Home Assistant sentences (home-assistant-intents 2026.12.1, en/de/fr/es: all
# 1,624 of them) names one of these slots: recognized without any, the model has read something that
# is no such command ("apaga la tele" as a timer with no duration), and Home Assistant could not run it.
_NEEDS: Mapping[str, tuple[str, ...]] = {
    "HassStartTimer": ("hours", "minutes", "seconds"), "HassIncreaseTimer": ("hours", "minutes", "seconds"),
    "HassDecreaseTimer": ("hours", "minutes", "seconds"), "HassLightSet": ("brightness", "color", "temperature"),
    "HassSetPosition": ("position",), "HassClimateSetTemperature": ("temperature",),
    "HassShoppingListAddItem": ("item",), "HassListAddItem": ("item",), "HassSetVolume": ("volume_level",),
}
# The domains the handler of an intent acts on in Home Assistant (its intent handlers filter targets by
# them): a reply whose target is of another domain is a misread intent, not a command HA could carry out.
_MEDIA = frozenset({"media_player"})
_ACTS_ON: Mapping[str, frozenset[str]] = {
    "HassLightSet": frozenset({"light"}), "HassSetPosition": frozenset({"cover", "valve"}),
    "HassClimateSetTemperature": frozenset({"climate"}), "HassClimateGetTemperature": frozenset({"climate", "sensor"}),
    "HassClimateSetFanMode": frozenset({"climate"}), "HassFanSetSpeed": frozenset({"fan"}),
    "HassVacuumStart": frozenset({"vacuum"}), "HassVacuumReturnToBase": frozenset({"vacuum"}),
    "HassVacuumCleanArea": frozenset({"vacuum"}), "HassLawnMowerDock": frozenset({"lawn_mower"}),
    "HassLawnMowerStartMowing": frozenset({"lawn_mower"}), "HassSetVolume": _MEDIA, "HassSetVolumeRelative": _MEDIA,
    "HassMediaPause": _MEDIA, "HassMediaUnpause": _MEDIA, "HassMediaNext": _MEDIA, "HassMediaPrevious": _MEDIA,
    "HassMediaPlayerMute": _MEDIA, "HassMediaPlayerUnmute": _MEDIA, "HassMediaSearchAndPlay": _MEDIA,
}
_WORD = re.compile(r"[^\W_]+")  # the words of a text, with their offsets (names_text.tokens' split)
# On/off with a place and no kind of thing said: every Home Assistant template of HassTurnOn/HassTurnOff that
# names a place and no thing fixes a domain (home-assistant-intents 2026.12.1, en/fr/es: light 55, fan 16,
# cover 14 templates), and the fan and cover ones say their kind ("fans", "blinds"), which `_implied_domains`
# finds; the rest are lights ("allume le salon", "illumine les pièces de l'étage"). Without it Home Assistant
# would switch everything in the place.
_PLACE_ONLY_LIGHT = frozenset({"HassTurnOn", "HassTurnOff"})
# Intents that may name a kind of thing alone, said as a plain word: a question about the state of every
# thing of a kind. Not on/off: "turn off the lights" with no place would switch every light in the home.
_KIND_ALONE = frozenset({"HassGetState"})


# Kind words that are also the verb of Home Assistant's on/off sentences: followed by a particle or an article
# ("switch off the lights upstairs", "switch our lights on") one is the verb, not a second kind of thing
# (that was refused as ambiguous: switch and light); followed by anything else it is a thing ("how many
# library switch are on").
_VERB_KINDS: Mapping[str, frozenset[str]] = {"en": frozenset({"switch"})}
_PARTICLES = frozenset({"on", "off", "out", "each", "every", "my", "our", "your"})


def _implied_domains(text: str, lang: str) -> list[tuple[str, int, int]]:
    """The kinds of thing a place-only command names in its words, as said ("turn off the kitchen
    *lights*": the model tags the area, and Home Assistant would switch off everything in the
    kitchen): (the words, start, end in `text`) of the language's domain words found, one a kind."""
    from edge.names import domain_word, language_of
    from edge.names_text import clean, fold

    language = language_of(lang)
    if language is None or clean(text) is None:
        return []
    # Each word cleaned and folded on its own, so the offsets stay those of `text` ("ß" -> "ss").
    words = [(fold(clean(m.group()) or ""), m.start(), m.end()) for m in _WORD.finditer(text[:MAX_TEXT])][:64]
    kinds: dict[str, tuple[str, int, int]] = {}
    i = 0
    while i < len(words):
        for n in (3, 2, 1):  # "garage door" before "door"; "brasseur d air" is three words
            said = " ".join(w for w, _, _ in words[i:i + n]) if len(words) - i >= n else ""
            hit = domain_word(said, language) if said else None
            if hit is not None and n == 1 and said in _VERB_KINDS.get(language.code, ()) and i + 1 < len(words) \
                    and (words[i + 1][0] in _PARTICLES or any(words[i + 1][0] == p[0] for p in language.determiners)
                         or words[i + 1][0] in language.quantifiers):
                hit = None  # "switch off the lights", "switch our lights on": the verb ("the library switch is" a switch)
            if hit is not None:
                start, end = words[i][1], words[i + n - 1][2]
                kinds.setdefault(hit[0], (text[start:end], start, end))
                i += n
                break
        else:
            i += 1
    return list(kinds.values())


def _number(raw: Any) -> float | int | None:
    """A slot's value as a finite number (int when whole), or None. The tagger's value may be a number,
    a {"value": n} of a quantity, or text ("fifty", "50%")."""
    if isinstance(raw, Mapping):
        raw = raw.get("value")
    if isinstance(raw, str):
        text = raw.strip()[:64]
        raw = None
        for kind in ("number", "percentage", "temperature"):  # "40", "forty percent", "21 degrees"
            raw = entities.resolve(text, kind) if text else None
            if isinstance(raw, Mapping):
                raw = raw.get("value")
            if raw is not None:
                break
        text = text.rstrip("%").strip()
        if raw is None:
            try:
                raw = float(text.replace(",", ".")) if re.fullmatch(r"-?\d{1,6}(?:[.,]\d{1,3})?", text) else None
            except ValueError:
                raw = None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        return None
    return int(raw) if float(raw).is_integer() else float(raw)


def threshold(settings: Any, model: Any) -> float:
    """The least confidence a home command is acted on with, the same for Wyoming and MQTT: the daemon's
    escalation threshold (`[model] escalation_threshold`, else the model's; never below its OOS cut, as
    edge.service applies it) and never below MIN_CONFIDENCE."""
    esc = getattr(getattr(settings, "model", None), "escalation_threshold", -1.0)
    esc = esc if isinstance(esc, (int, float)) and esc >= 0 else model.escalation_threshold
    return float(max(esc, getattr(model, "oos_threshold", 0.0), MIN_CONFIDENCE))


def check(text: Any, language: str | None, served: Sequence[str]) -> tuple[str, str] | NotUnderstood:
    """(the served language, the text stripped), or why no transcript of it can be acted on."""
    lang = served[0] if language is None else base_language(language, served)
    if lang is None:
        return NotUnderstood("language", "not served")
    if not isinstance(text, str):
        return NotUnderstood("invalid", "text must be a string")
    text = text.strip()
    if not text:
        return NotUnderstood("empty")
    if len(text) > MAX_TEXT:
        return NotUnderstood("too_long", f"over {MAX_TEXT} characters")
    return lang, text


def decide(text: str, language: str | None, pred: Any, found: Sequence[Mapping[str, Any]], names: Any, *,
           served: Sequence[str], threshold: float, min_slot_confidence: float = MIN_SLOT_CONFIDENCE,
           schema: Mapping[str, Any] | None = None) -> Recognized | NotUnderstood:
    """THE home decision, for Wyoming and MQTT alike: the model's prediction (`intent`, `confidence`,
    `top_intent`) and the tagger's spans of `text` -> a Home Assistant intent with resolved slots, or
    why the daemon does not stand behind it. Every doubt is a refusal (see the module docstring);
    a place-only on/off/state command takes the kind of thing said ("the kitchen lights"), one
    naming nothing is refused, and so is an intent without the slot all its HA sentences have
    (`_NEEDS`: a timer without a duration, a light set to nothing). `found`'s offsets are into `text`
    as given (not stripped). `schema` is the package's `home_schema` (edge/names_schema.py: the slot
    sets, number ranges, unit words, place domains and lock words of HA's templates), None: not checked."""
    checked = check(text, language, served)
    if isinstance(checked, NotUnderstood):
        return checked
    lang = checked[0]
    if pred.intent == OOS or not pred.confidence >= threshold:  # NaN too
        return NotUnderstood("unsure", f"{pred.top_intent} {pred.confidence:.2f}")
    intent = pred.intent
    if not _HA_INTENT.match(intent):
        return NotUnderstood("not_home", "the model's label is no Home Assistant intent")
    found = _halves(found, text, lang)
    got = _slots(found, min_slot_confidence, intent, lang, _confirmed(intent, lang, text, names, schema))
    if isinstance(got, NotUnderstood):
        return got
    if intent == "HassSetVolumeRelative":
        got = _volume_step(got, text, lang, found)
    # slots HA's templates never give this intent, a duration said in another unit, a number in no slot
    why = (names_schema.misfit(schema, intent, got) or names_schema.target_misfit(schema, intent, got)
           or names_schema.unit_misfit(schema, lang, text, found)
           or names_schema.stray_number(schema, intent, lang, text, found))
    if why is not None:
        return NotUnderstood("slot", why)
    spans = {str(s["name"]): s for s in found}
    implied: dict[str, Any] = {}
    if intent in _TURN_INTENTS and not any(k in got for k in _TARGETS):
        kinds = _implied_domains(text, lang) if intent in _KIND_ALONE else []
        if len(kinds) != 1:
            return NotUnderstood("slot", f"{intent} names nothing to act on")
        # "which fans are on", "is any lock unlocked": HA's state templates say the kind as a plain word
        # (no slot), so the tagger marks nothing; a question of one kind asks about every one of them
        said, start, end = kinds[0]
        got["domain"] = said
        implied = {"name": "domain", "entity": "domain", "raw": said, "value": said, "start": start,
                   "end": end, "confidence": 1.0}
    needs = _NEEDS.get(intent)
    if needs and not any(k in got for k in needs):
        return NotUnderstood("slot", f"{intent} without {' or '.join(needs)}")
    if intent in _TURN_INTENTS and not any(k in got for k in ("name", "domain", "device_class")) \
            and ("area" in got or "floor" in got):
        kinds = _implied_domains(text, lang)
        if len(kinds) > 1:  # "the fan and the lights in the kitchen": not everything in the kitchen
            return NotUnderstood("ambiguous", "several kinds of thing in one place")
        if kinds:
            said, start, end = kinds[0]
            got["domain"] = said
            implied = {"name": "domain", "entity": "domain", "raw": said, "value": said, "start": start,
                       "end": end, "confidence": 1.0}  # the words said, not the tagger's guess
        elif intent in _PLACE_ONLY_LIGHT:  # "allume le salon", "illumine les pièces de l'étage"
            got["domain"] = "light"
    if not any(k in got for k in ("name", "domain", "device_class")) and ("area" in got or "floor" in got):
        place_domain = names_schema.place_domain(schema, intent)  # "set the kitchen lights to 50%"
        if place_domain is not None:
            got["domain"] = place_domain
    res = _resolve(intent, got, lang, names, _blank_names(text, found), schema)
    if isinstance(res, NotUnderstood):
        return res
    if implied:
        spans["domain"] = implied
    if (why := home_guard.dropped(text, lang, res, spans.values(), names)) is not None:  # a name said, not carried
        return NotUnderstood("dropped", why)
    return Recognized(intent, res, pred.confidence, _result_slots(res, spans, intent))


# "half an hour", "71 and a 1/2 hours", "media hora", "12 hora y 3/4": Home Assistant's English and Spanish
# timer templates give a half (quarter, three quarters) of a unit as 30 (15, 45) of the next ("and a half
# hours" -> minutes: 30 beside the hours). The words a fraction is said with, and each unit's own words (the
# next smaller unit is the slot). German and French templates add fractions to the total ("eineinhalb
# Stunden" -> 90 minutes): not read here, still refused.
_HALF_WORDS = {"en": {"half": 30, "a half": 30, "1/2": 30, "a 1/2": 30, "quarter": 15, "a quarter": 15, "1/4": 15,
                      "a 1/4": 15, "3/4": 45, "three quarters": 45},
               "es": {"media": 30, "1/2": 30, "cuarto": 15, "un cuarto": 15, "1 cuarto": 15, "1/4": 15, "3/4": 45,
                      "3 cuartos": 45, "tres cuartos": 45}}
_HALF_UNITS = {"en": {"hour": "minutes", "hours": "minutes", "minute": "seconds", "minutes": "seconds"},
               "es": {"hora": "minutes", "horas": "minutes", "minuto": "seconds", "minutos": "seconds"}}


def _halves(found: Sequence[Mapping[str, Any]], text: str, lang: str) -> Sequence[Mapping[str, Any]]:
    """A duration span that says only a fraction (the tagger put it under some unit, or gave it no number)
    as that much of the unit below the one said after it (or right before it): "half an hour" -> minutes
    30, "hora y 3/4" -> minutes 45. Anything else as it was; a fraction with no unit word beside it is left
    to be refused."""
    halves, units = _HALF_WORDS.get(lang), _HALF_UNITS.get(lang)
    if not halves or not units:
        return found
    out: list[Mapping[str, Any]] = []
    for s in found:
        raw, start, end = s.get("raw"), s.get("start"), s.get("end")
        said = " ".join(raw.casefold().replace("/", " / ").split()).replace(" / ", "/") if isinstance(raw, str) else ""
        if (names_schema.unit_base(str(s.get("name"))) in ("hours", "minutes", "seconds") and said in halves
                and isinstance(start, int) and isinstance(end, int)):
            after = [w for w in _WORD.findall(names_schema._fold(text[end:end + 40]))][:3]
            # the unit said after it ("half an hour"), else just before it ("12 hora y 3/4")
            before = [w for w in _WORD.findall(names_schema._fold(text[max(0, start - 24):start]))][-2:][::-1]
            slot = next((units[w] for w in after if w in units), None) or (
                units.get(before[0]) if before and before[0] in units else
                units.get(before[1]) if len(before) > 1 and before[0] in ("and", "y") and before[1] in units
                else None)
            if slot is None:
                out.append(s)
                continue
            if str(s.get("name")).startswith("start_"):
                slot = "start_" + slot
            out.append({**s, "name": slot, "entity": slot, "value": halves[said], "raw": raw, "confidence": 1.0})
            continue
        out.append(s)
    return out


def _volume_step(got: dict[str, Any], text: str, lang: str, found: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """HassSetVolumeRelative's step as Home Assistant's templates give it: the verb says up or down
    (edge.names_lang.VOLUME_DIRECTION), the tagger marks at most the number. One direction said (outside the
    step's words): no step -> "up"/"down"; a number -> +n / -n ("volume down 43 percent" -> -43). Both or
    neither said: left as it was (a number is then refused by edge.names_values, a missing step by the schema)."""
    from edge.names_lang import VOLUME_DIRECTION

    sides = VOLUME_DIRECTION.get(lang)
    step = got.get("volume_step")
    if sides is None or (isinstance(step, str) and names_values.value("volume_step", step, lang) is not None):
        return got
    span = next((s for s in found if s.get("name") == "volume_step"), None)
    bare = text
    if span is not None and isinstance(span.get("start"), int) and isinstance(span.get("end"), int):
        bare = text[:span["start"]] + " " + text[span["end"]:]
    said = names_schema.words(bare)
    direction = [side for side, ws in sides.items() if said & ws]
    if len(direction) != 1:
        return got
    if step is None:
        return {**got, "volume_step": direction[0]}
    n = _number(step)
    if n is None:
        n = names_values.number(step, lang)
    if n is None or not 0 <= n <= 100:
        return got
    return {**got, "volume_step": n if direction[0] == "up" else -n}


def _blank_names(text: str, found: Sequence[Mapping[str, Any]]) -> str:
    """`text` with the spans of things, areas and floors blanked: the words left are the command's own
    (the polarity check reads them; "Front Door Lock" or "Lower Hall Blinds" says no verb)."""
    chars = list(text)
    for s in found:
        a, b = s.get("start"), s.get("end")
        if s.get("name") in ("name", "area", "floor") and isinstance(a, int) and isinstance(b, int):
            chars[max(a, 0):max(b, 0)] = " " * len(chars[max(a, 0):max(b, 0)])
    return "".join(chars)


def _slots(found: Sequence[Mapping[str, Any]], min_confidence: float, intent: str = "", lang: str | None = None,
           confirmed: Any = None) -> dict[str, Any] | NotUnderstood:
    """The tagger's slots as {HA slot name: value}; numbers read; doubts refused. A span below
    `min_confidence` is kept only when `confirmed(span, value)` says its words stand on their own
    (`_confirmed`); without `confirmed`, never."""
    out: dict[str, Any] = {}
    for s in found:
        name = s.get("name")
        if not isinstance(name, str):
            return NotUnderstood("slot", "a slot without a name")
        if name in out:
            return NotUnderstood("slot", f"{name} given twice")  # two areas: which one?
        unsure = not float(s.get("confidence", 0.0)) >= min_confidence
        if name in NUMBER_RANGES:
            v = _number(s.get("value"))
            if v is None:
                v = _number(s.get("raw"))
            if v is None and lang is not None:  # number words of the language ("fünfzig", "vingt-deux")
                v = names_values.number(s.get("raw"), lang)
            if v is None and lang is not None and (intent, name) == ("HassLightSet", "temperature"):
                v = names_values.color_temperature(s.get("raw"), lang)  # "Tageslicht" -> 6500 K, HA's list
            if v is None and lang is not None and name == "brightness":
                v = names_values.brightness_level(s.get("raw"), lang)  # "maximum" -> 100, HA's brightness_level
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


# Free text Home Assistant takes as said: a timer's name, a shopping-list item, a media search. The tagger's
# confidence in such a span is its words' own emission score, and a word never seen ("pizza", "workout") is
# tagged by its context ("named ...", "add ... to"), which that score does not see: 0.0 for every timer name
# of the English holdout. A wrong one names a timer or an item oddly; it switches no device. Not here:
# `conversation_command` (a command run when the timer ends is an action) and any name of a thing.
_FREE_TEXT = frozenset({"item", "search_query"})


def _confirmed(intent: str, lang: str, text: str, names: Any, schema: Mapping[str, Any] | None) -> Any:
    """Whether a span the tagger is unsure of stands on its own words (a callable for `_slots`):
    - free text (`_FREE_TEXT`, a timer's name);
    - a name, area or floor the names file has word for word, as that kind (edge.names.Names.said_exactly):
      the home confirms the words are a name; resolution still checks what it names;
    - a duration whose number reads as one and is followed by its own unit's word in HA's templates
      ("fünf *Minuten*", "vingt *secondes*"): the words say the slot (measured: letting an intent that
      also takes the timer's start in that unit confirm neither, since the words do not say which, lost
      35 right answers on the holdouts for 2 wrong ones)."""
    units = ((schema or {}).get("unit_words") or {}).get(lang) or {} if isinstance(schema, Mapping) else {}

    def check(span: Mapping[str, Any], value: Any) -> bool:
        slot = span.get("name")
        if slot in _FREE_TEXT or (slot == "name" and intent in FREE_TEXT_NAME_INTENTS):
            return True
        if slot in ("name", "area", "floor"):
            said = getattr(names, "said_exactly", None)
            return bool(said and said(slot, span.get("raw"), lang))
        base = names_schema.unit_base(str(slot))
        end = span.get("end")
        if base in units and value is not None and isinstance(end, int):
            return names_schema.first_word(text[end:]) in set(units[base])
        return False

    return check


def _resolve(intent: str, slots: dict[str, Any], lang: str, names: Any, text: str = "",
             schema: Mapping[str, Any] | None = None) -> tuple[tuple[str, Any], ...] | NotUnderstood:
    free_name = slots.pop("name", None) if intent in FREE_TEXT_NAME_INTENTS else None
    if any(k in slots for k in _NAME_SLOTS):
        if names is None:
            return NotUnderstood("no_names", "a thing is named but there is no names file")
        res = names.resolve(slots, lang)
        reason = getattr(res, "reason", None)
        if reason is not None:  # an edge.names.Refusal
            return NotUnderstood(str(reason), str(getattr(res, "detail", "")))
        slots = dict(res.slots)
        # a lock's on/off: the words must back the model's polarity ("open" a lock = unlock)
        why = names_schema.polarity_misfit(schema, intent, lang, text,
                                           {i.split(".", 1)[0] for i in getattr(res, "entity_ids", ())})
        if why is not None:
            return NotUnderstood("polarity", why)
        # a thing named that the intent's handler does not act on ("turn the reading light down to 20 percent"
        # read as HassSetVolume of the Reading Light); a place alone covers every kind there, HA picks its own
        acts_on = _ACTS_ON.get(intent) if "name" in slots else None
        odd = sorted({i.split(".", 1)[0] for i in getattr(res, "entity_ids", ())} - acts_on) if acts_on else []
        if odd:
            return NotUnderstood("conflict", f"{intent} does not act on a {odd[0]}")
    elif any(k in slots for k in names_values.VALUE_SLOTS):  # no thing named: the values said, made HA's
        got = names_values.apply(slots, lang)
        if isinstance(got, str):
            return NotUnderstood("unknown", f"no {got} of that name")
        slots = got
    if free_name is not None:
        slots["name"] = free_name
    return tuple(slots.items())


def _result_slots(entities: Sequence[tuple[str, Any]], spans: Mapping[str, Mapping[str, Any]],
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


class HomeRecognizer:
    """The home model + its slots + the names file, behind `Recognizer`: classify, tag, then `decide`.

    `names` is an edge.names.Names (or anything with its `resolve(slots, language)`), or None: then
    only intents that name no thing (a timer, a shopping-list item) can be recognized.
    `threshold` defaults to the model's escalation threshold (below it the device does not stand behind
    its answer: the MQTT path would ask the cloud), but never less than `MIN_CONFIDENCE`; below it the
    result is `unsure`. Give `threshold` to set it exactly."""

    def __init__(self, model: Any, slots: Any, names: Any = None, *, languages: Sequence[str] | None = None,
                 threshold: float | None = None, min_slot_confidence: float = MIN_SLOT_CONFIDENCE) -> None:
        self.model = model
        self.slots = slots
        self.names = names
        if languages is None:  # edge.model.Model.languages: the manifest's "languages", else English
            languages = getattr(model, "languages", None) or getattr(model, "manifest", {}).get("languages") or ["en"]
        self.languages: tuple[str, ...] = tuple(str(x) for x in languages)
        self.threshold = float(max(model.escalation_threshold, MIN_CONFIDENCE) if threshold is None else threshold)
        self.min_slot_confidence = min_slot_confidence
        # the package's `home_schema` (edge/train/home_schema.py): None for packages without one
        self.schema = (getattr(model, "manifest", None) or {}).get("home_schema")

    def recognize(self, text: str, language: str | None) -> Result:
        checked = check(text, language, self.languages)  # before the model: a refusal costs nothing
        if isinstance(checked, NotUnderstood):
            return checked
        text = checked[1]
        pred = self.model.classify([text])[0]
        found = self.slots.extract(text, pred.intent) if self.slots is not None and pred.intent != OOS else []
        return decide(text, language, pred, found, self.names, served=self.languages, threshold=self.threshold,
                      min_slot_confidence=self.min_slot_confidence, schema=self.schema)
