"""The numbers a transcript says, for edge.home.decide: each read whole, each in a slot, each sure.

The tagger marks a number's span; Home Assistant's templates read the number whole ("seventy-eight"),
take every number said into a slot ("pause the fifteen hour timer" has one), and say a number's unit
after it ("{volume_level}[ (Prozent|%)]", "{temperature} Grad"). Here:
- `number_runs`: a number span over the whole number said, and a number left untagged put in the slot its
  unit word or the intent's one number slot says;
- `stray_number`: a number said that is in no slot (refused by `decide`);
- `confirmed`: a number span the tagger is unsure of that its own words confirm (a unit word of the slot
  after it, a word of HA's list for the slot, or the one number said of an intent with one number slot).
Moved out of edge/names_schema.py (which judges the slot sets), where it grew to 445 lines.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from edge.home_units import _unit_kind, unit_after, unit_at, unit_slot
from edge.names_schema import NUMBER_SLOTS, filler, first_word, fold, unit_base, unit_words

__all__ = ["article_number", "confirmed", "level", "listed", "number_runs", "one_number_slot", "stray_number",
           "unit_after", "volume_set"]

_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r"\d+|[^\W\d_]+")
# Intents whose only durations are the timer's start ("pause the 98 hour timer"), and those whose only are plain.
_START_ONLY = frozenset({"HassPauseTimer", "HassUnpauseTimer", "HassCancelTimer", "HassTimerStatus"})
_PLAIN_ONLY = frozenset({"HassStartTimer"})


def number_runs(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
                found: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The tagger's number spans over the whole number said ("thirty two hour" tagged "thirty"; "dix neuf
    s" tagged "neuf"; "seventy-eight percent" tagged "seventy", "quatre-vingt-onze degrés" tagged "quatre-vingt":
    a number's words side by side, only spaces or hyphens between, that read as one number; HA's range lists
    read them whole, and the rest left out would be refused as a number in no slot), and a whole number it left untagged read as a duration when the next word is of one unit's
    words only ("pause ninety-eight hours timer" -> start_hours 98: HA's "{hours} hour"), for intents whose
    durations are all plain (HassStartTimer) or all the timer's start (pause, resume, cancel, status)."""
    found = list(found)
    if not isinstance(schema, Mapping) or not isinstance(text, str):
        return found
    from edge import names_values
    from edge.names import language_of

    units = unit_words(schema, lang)
    language = language_of(lang)
    if not units or language is None or not names_values.knows(lang):
        return found
    fill = filler(language)
    toks = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text[:512])]
    isnum = [t[2].isdigit() or (fold(t[2]) not in fill and names_values.number(t[2], lang) is not None)
             or article_number(toks, i, lang, units, fill) for i, t in enumerate(toks)]
    runs: list[tuple[int, int]] = []  # token index ranges of numbers said side by side
    i = 0
    while i < len(toks):
        if not isnum[i]:
            i += 1
            continue
        j = i + 1
        if not toks[i][2].isdigit():  # the longest words that read as one number ("setenta y una", "one hundred")
            for k in range(min(len(toks), i + 6), i + 1, -1):
                if not text[toks[k - 2][1]:toks[k - 1][0]].strip(" -") == "" or toks[k - 1][2].isdigit():
                    continue
                if all(not text[toks[m - 1][1]:toks[m][0]].strip(" -") for m in range(i + 1, k)) \
                        and not any(unit_at([t[2] for t in toks[m:k]], lang) for m in range(i + 1, k)) \
                        and names_values.number(text[toks[i][0]:toks[k - 1][1]], lang) is not None:
                    j = k
                    break
        runs.append((i, j))
        i = j
    out: list[Mapping[str, Any]] = []
    covered: set[int] = set()
    absorbed: set[int] = set()  # ids of timer-name spans that were the rest of a number ("ninety-*four*-minutes")
    for sp in found:
        a, b, name = sp.get("start"), sp.get("end"), str(sp.get("name"))
        if (unit_base(name) in units or name in NUMBER_SLOTS) and isinstance(a, int) and isinstance(b, int):
            for i, j in runs:
                ra, rb = toks[i][0], toks[j - 1][1]
                others = [o for o in found if o is not sp and isinstance(o.get("start"), int)
                          and isinstance(o.get("end"), int) and o["start"] < rb and ra < o["end"]]
                # a timer's free-text name the tagger cut out of the number ("ninety-four" as start_seconds
                # "ninety" + name "four"): HA's "{minutes} minute" reads the number whole, so the name goes
                parts = [o for o in others if _name_in_number(intent, o, ra, rb)]
                if ra < b and a < rb and (ra, rb) != (a, b) and ra <= a and b <= rb and len(parts) == len(others):
                    said = text[ra:rb]
                    if names_values.number(said, lang) is not None or said.isdigit():
                        sp = {**sp, "raw": said, "value": said, "start": ra, "end": rb}
                        absorbed.update(id(o) for o in parts)
                    break
            covered.update(k for k, t in enumerate(toks) if sp["start"] <= t[0] < sp["end"])
        elif isinstance(a, int) and isinstance(b, int):
            covered.update(k for k, t in enumerate(toks) if a <= t[0] < b)
        out.append(sp)
    out = _own_units([_name_as_duration(intent, lang, text, sp, units, fill) for sp in out if id(sp) not in absorbed],
                     lang, text, toks, units, fill)
    prefix = "start_" if intent in _START_ONLY else "" if intent in _PLAIN_ONLY else None
    if prefix is None:
        return _the_one_number(schema, intent, lang, text, toks, runs, covered, out)
    taken = {unit_base(str(sp.get("name"))) for sp in out}
    for i, j in runs:
        if any(k in covered for k in range(i, j)):
            continue
        said = text[toks[i][0]:toks[j - 1][1]]
        w = first_word(text[toks[j - 1][1]:])
        says = [u for u, ws in units.items() if w in ws and w not in fill]
        if len(says) > 1 and not _and_after(toks, j):
            # "hora" is in the minutes' list for "hora y media" (a fraction of it is minutes), "minute" in the
            # seconds' for "a minute and a half": with no "and" after it, the word names its own, larger unit
            says = [u for u in ("hours", "minutes", "seconds") if u in says][:1]
        if len(says) != 1 or says[0] in taken or not (said.isdigit() or names_values.number(said, lang) is not None):
            continue
        taken.add(says[0])
        name = prefix + says[0]
        out.append({"name": name, "entity": name, "raw": said, "value": said, "start": toks[i][0],
                    "end": toks[j - 1][1], "confidence": 1.0})
    return sorted(out, key=lambda sp: sp.get("start", 0) if isinstance(sp.get("start"), int) else 0)


_TIMER_INTENTS = _START_ONLY | _PLAIN_ONLY | {"HassIncreaseTimer", "HassDecreaseTimer", "HassCancelAllTimers"}
_UNIT_ORDER = ("hours", "minutes", "seconds")


def _name_in_number(intent: str, span: Mapping[str, Any], start: int, end: int) -> bool:
    """Is `span` a timer's free-text name lying wholly inside the number said at start..end?"""
    return (intent in _TIMER_INTENTS and span.get("name") == "name"
            and start <= span["start"] and span["end"] <= end)


def _name_as_duration(intent: str, lang: str, text: str, span: Mapping[str, Any], units: Mapping[str, Any],
                      fill: set[str]) -> Mapping[str, Any]:
    """A timer's `name` span that is only a number, its unit's word right after it ("cancel the timer for *four*-second"),
    as that duration (start_seconds 4: HA's "{seconds} second"), for intents whose durations are all the timer's start
    or all plain; any other span as it was. A unit word of several units' lists with no "and" after it is the larger."""
    from edge import names_values

    prefix = "start_" if intent in _START_ONLY else "" if intent in _PLAIN_ONLY else None
    raw, end = span.get("raw"), span.get("end")
    if prefix is None or span.get("name") != "name" or not isinstance(raw, str) or not isinstance(end, int) \
            or not (raw.strip().isdigit() or names_values.number(raw, lang) is not None) or fold(raw.strip()) in fill:
        return span
    rest = [fold(w).lower() for w in _WORD.findall(text[end:end + 40])[:2]]
    says = [u for u in _UNIT_ORDER if u in units and rest[:1] and rest[0] in units[u] and rest[0] not in fill]
    if len(says) > 1 and rest[1:] and rest[1] in {"and", "und", "et", "y"}:
        return span  # "a minute and a half": a fraction after it, not read here
    if not says:
        return span
    return {**span, "name": prefix + says[0], "entity": prefix + says[0]}  # the largest unit the word says


def _own_units(found: list[Mapping[str, Any]], lang: str, text: str, toks: list[tuple[int, int, str]],
               units: Mapping[str, Any], fill: set[str]) -> list[Mapping[str, Any]]:
    """Each tagged duration whose number is followed by a word of several units' lists, with no "and" after that
    word, put under the largest of them ("seventy-five-*minute*" tagged seconds -> minutes; "ochenta y cinco
    *hora*" tagged minutes -> hours): "minute" is in the seconds' list and "hora" in the minutes' only for a
    fraction after them ("a minute and a half", "una hora y media"), as `number_runs` reads an untagged number.
    edge.names_schema.unit_said moves a span whose word is of one unit only. A span whose new slot another span
    has moves too, so that edge.home refuses the unit said twice ("dos hora tres horas" is no 2 minutes). A span
    whose words are no number (a fraction) is left as it was."""
    from edge import names_values

    out: list[Mapping[str, Any]] = []
    for sp in found:
        name, end, raw = str(sp.get("name")), sp.get("end"), sp.get("raw")
        if unit_base(name) not in units or not isinstance(end, int) or not isinstance(raw, str) \
                or not (raw.strip().isdigit() or names_values.number(raw, lang) is not None):
            out.append(sp)
            continue
        w = first_word(text[end:])
        says = [u for u in _UNIT_ORDER if u in units and w in units[u] and w not in fill]
        j = next((k for k, t in enumerate(toks) if t[0] >= end), len(toks))  # the unit word's token
        if len(says) > 1 and not _and_after(toks, j):
            new = ("start_" if name.startswith("start_") else "") + says[0]
            if new != name:
                sp = {**sp, "name": new, "entity": new}
        out.append(sp)
    return out


def _and_after(toks: list[tuple[int, int, str]], j: int) -> bool:
    """Does "and" come right after the unit word at token j ("una hora y media")?"""
    return j + 1 < len(toks) and fold(toks[j + 1][2]) in {"and", "und", "et", "y"}


def article_number(toks: list[tuple[int, int, str]], i: int, lang: str, units: Mapping[str, Any],
                   fill: set[str]) -> bool:
    """Is token i an article that is the number one, said right before a unit's word ("de los un minutos",
    "una hora", "eine Minute": HA's "{minutes} minutos" with one as its article)? Not when "and" follows the
    unit ("una hora y media", "une heure et demie": a fraction after it, read by edge.home_durations or refused)."""
    from edge import names_values

    w = fold(toks[i][2])
    if w not in fill or names_values.number(w, lang) != 1 or i + 1 >= len(toks):
        return False
    unit = fold(toks[i + 1][2])
    if not any(unit in ws for ws in units.values()) or unit in fill:
        return False
    return not _and_after(toks, i + 1)


# A place and a number alone is HA's HassLightSet too ("set the living room to 50%"): for HassSetVolume the
# model's choice is then backed by no tagged number ("pon el salón al cincuenta por ciento", measured on dev),
# unless the words say a volume (`volume_set`); HassLightSet has three number slots, so never one of them.
_SHARED_SHAPE = frozenset({"HassSetVolume", "HassLightSet"})


def one_number_slot(schema: Mapping[str, Any] | None, intent: str) -> str | None:
    """The one number slot every Home Assistant template of `intent` has (HassSetPosition: position), or None."""
    if not isinstance(schema, Mapping):
        return None
    sigs = (schema.get("signatures") or {}).get(intent) or []
    slots = {k for sig in sigs for k in sig if k in NUMBER_SLOTS}
    if len(slots) != 1 or not sigs or not all(slots <= set(sig) for sig in sigs):
        return None
    return next(iter(slots))


# Intents with several number slots told apart by their unit words, and the kind of thing the words must say:
# HassLightSet's "{brightness}[%| percent]" said of a light ("set the dining room lights to ten percent please",
# no number tagged: tests/data/home_dev3_en.txt). Not HassSetVolume's shape: "the lights" must be said.
_BY_UNIT: Mapping[str, str] = {"HassLightSet": "light"}


def _by_unit(schema: Mapping[str, Any], intent: str, lang: str, text: str, toks: list[tuple[int, int, str]],
             run: tuple[int, int], out: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`out` with the one number said and left untagged put in the one number slot of `intent` its unit word
    says (edge.home_units.unit_slot), where the words name the intent's kind of thing (`_BY_UNIT`); else `out`."""
    from edge.home_kinds import implied_domains
    from edge.names import domain_word, language_of
    from edge.names_text import clean

    i, j = run
    slot = unit_slot(schema, intent, lang, text, toks[j - 1][1])
    language = language_of(lang)
    if slot is None or language is None or any(sp.get("name") in NUMBER_SLOTS for sp in out):
        return out
    kinds = {(domain_word(fold(clean(w) or ""), language) or (None,))[0] for w, _, _ in implied_domains(text, lang)}
    if kinds != {_BY_UNIT[intent]}:
        return out
    said = text[toks[i][0]:toks[j - 1][1]]
    span = {"name": slot, "entity": slot, "raw": said, "value": said, "start": toks[i][0], "end": toks[j - 1][1],
            "confidence": 1.0}
    return sorted([*out, span], key=lambda sp: sp.get("start", 0) if isinstance(sp.get("start"), int) else 0)


# HassSetVolume's words (home-assistant-intents 2026.12.1, folded): the word for the volume its templates say
# ("volume", "Lautstärke", "son", "volumen"), and the word right before the level where its templates always
# have one ("to {volume_level}", "a[l] {volume_level}"); HassSetVolumeRelative says its step after "by",
# "en", "un" or the thing's name ("turn the volume down in Living Room 94" is a step of 94, not a level).
# German levels follow "auf"/"zu" or stand in a sentence with no word of the volume's direction (its relative
# templates with a number always say "lauter", "leiser", "erhöhe", ...); French relative templates take no
# number at all.
_VOLUME_WORDS = {"en": frozenset({"volume"}), "de": frozenset({"lautstarke"}),
                 "fr": frozenset({"volume", "son", "watt", "watts"}), "es": frozenset({"volumen"})}
_LEVEL_BEFORE = {"en": frozenset({"to"}), "de": frozenset({"auf", "zu"}), "es": frozenset({"a", "al"})}


def volume_set(lang: str, text: str, start: int, found: Iterable[Mapping[str, Any]]) -> bool:
    """Do the words say HassSetVolume's level for the number said at `start`: a volume word or a thing named
    (edge.home's ACTS_ON then holds it to a media player), and the word before the number HA's level templates
    say there (`_LEVEL_BEFORE`)?"""
    if lang not in _VOLUME_WORDS or not 0 <= start <= len(text):
        return False
    from edge.names_lang import VOLUME_DIRECTION

    said = {fold(w) for w in _WORD.findall(text[:512])}
    if not said & _VOLUME_WORDS[lang] and not any(sp.get("name") == "name" for sp in found):
        return False
    before = _WORD.findall(text[max(0, start - 24):start])
    prev = fold(before[-1]) if before else ""
    if lang == "fr":
        return True
    if lang == "de" and prev not in _LEVEL_BEFORE["de"]:
        return not said & {w for ws in (VOLUME_DIRECTION.get("de") or {}).values() for w in ws}
    return prev in _LEVEL_BEFORE[lang]


def _the_one_number(schema: Mapping[str, Any], intent: str, lang: str, text: str, toks: list[tuple[int, int, str]],
                    runs: list[tuple[int, int]], covered: set[int],
                    out: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`out` with the one number said and left untagged put in the one number slot every template of the
    intent has ("ändere Lautstärke spielzimmer 13" -> volume_level 13), when no span has that slot; else as it
    was (a second number, or an intent with several number slots, is left to be refused). HassSetVolume's
    only where its words say a level (`volume_set`)."""
    from edge import names_values

    slot = one_number_slot(schema, intent)
    # "cent" of "34 pour cent" is the unit's word, no second number
    free = [(i, j) for i, j in runs if not any(k in covered for k in range(i, j))
            and not (i > 0 and f"{fold(toks[i - 1][2])} {fold(toks[i][2])}" in names_values.UNITS)]
    if slot == "volume_step" and len(free) == 1:
        # the step's direction tagged as the step ("um einundachtzig *leiser*"): the number is the step, and
        # edge.home_words.volume_step reads its sign from the direction word, which stays in the text
        out = [sp for sp in out if not (sp.get("name") == slot
                                        and names_values.value("volume_step", sp.get("raw"), lang) is not None)]
    if slot is None and len(free) == 1 and intent in _BY_UNIT:
        return _by_unit(schema, intent, lang, text, toks, free[0], out)
    if slot is None or len(free) != 1 or any(sp.get("name") == slot for sp in out):
        return out
    i, j = free[0]
    if intent in _SHARED_SHAPE and not (intent == "HassSetVolume" and volume_set(lang, text, toks[i][0], out)):
        return out
    said = text[toks[i][0]:toks[j - 1][1]]
    out.append({"name": slot, "entity": slot, "raw": said, "value": said, "start": toks[i][0],
                "end": toks[j - 1][1], "confidence": 1.0})
    return sorted(out, key=lambda sp: sp.get("start", 0) if isinstance(sp.get("start"), int) else 0)


# Home Assistant's German `volume_mapping` and `position_level` lists (home-assistant-intents 2026.12.1; the
# only level words of en/de/fr/es besides `brightness_level`, edge.names_values), folded: "auf höchste".
_LEVELS: Mapping[tuple[str, str], Mapping[str, int]] = {
    ("de", "volume_level"): {**dict.fromkeys("max maximal maximale maximum hochste volle".split(), 100),
                             **dict.fromkeys("min minimal minimale minimum niedrigste".split(), 1)},
    ("de", "position"): {**dict.fromkeys("max maximal maximale maximum hochste".split(), 100),
                         **dict.fromkeys("min minimal minimale minimum niedrigste".split(), 1)},
}


def level(raw: Any, lang: str, slot: str) -> int | None:
    """The level HA's list gives a word for the most or the least of `slot` ("höchste" -> 100), or None."""
    table = _LEVELS.get((lang, slot))
    if table is None or not isinstance(raw, str) or len(raw) > 32:
        return None
    return table.get(" ".join(fold(w) for w in _WORD.findall(raw)))


def listed(intent: str, slot: str, lang: str, raw: Any) -> bool:
    """Is `raw` word for word a value of HA's list for the slot (a level, a named white, a brightness word)?"""
    from edge import names_values

    if level(raw, lang, slot) is not None:
        return True
    if slot == "brightness":
        return names_values.brightness_level(raw, lang) is not None
    if slot == "volume_step":  # "up", "leiser": the step's direction, HA's volume_step list
        return names_values.value("volume_step", raw, lang) is not None
    return (intent, slot) == ("HassLightSet", "temperature") and names_values.color_temperature(raw, lang) is not None


def confirmed(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, span: Mapping[str, Any],
              value: Any, found: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a number span the tagger is unsure of (not a duration: edge.home_words reads those) stands on its
    own words (`value`: as edge.home read it), as Home Assistant's templates would read it: a unit word of its slot after it (`unit_after`), a
    word of HA's list for the slot (`listed`), or the one number said of an intent whose every template has
    this one number slot (what `number_runs` reads when the tagger marks nothing; HassSetVolume's only where
    the words say a level: `volume_set`). The tagger is unsure of most number words it was not trained on
    ("einundzwanzig", "dieciséis"); the intent and the other slots are still the model's and checked as ever."""
    slot, start, end = str(span.get("name")), span.get("start"), span.get("end")
    if slot not in NUMBER_SLOTS or not isinstance(start, int) or not isinstance(end, int):
        return False
    raw = span.get("raw")
    if listed(intent, slot, lang, raw):
        return True
    if unit_after(intent, slot, lang, text, end):
        return True
    kind = _unit_kind(intent, slot)
    if kind == "kelvin" and isinstance(raw, str) and re.fullmatch(r"\d{3,5}\s*(?:k|kelvin)", fold(raw).strip()):
        return True  # "7700kelvin": the unit said with the number
    from edge import names_values

    if not (isinstance(value, (int, float)) and not isinstance(value, bool)) and not (
            isinstance(raw, str) and (raw.strip().isdigit() or names_values.number(raw, lang) is not None)):
        return False  # a number slot's words that read as no number ("up" as a volume step)
    if one_number_slot(schema, intent) != slot or stray_number(schema, intent, lang, text, [span]) is not None:
        return False  # another number said: which one is the slot's is the tagger's to say
    return intent not in _SHARED_SHAPE or (intent == "HassSetVolume" and volume_set(lang, text, start, found))


def stray_number(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
                 found: Iterable[Mapping[str, Any]]) -> str | None:
    """Why a number said is in no slot of an intent that takes numbers, or None. "pause the fifteen hour
    timer" answered HassPauseTimer {} pauses whichever timer; "seventy seven hours" tagged as "seventy"
    sets 70. A number word that is also an article of the language ("ein", "un", "una") is not counted."""
    if not isinstance(schema, Mapping) or not isinstance(text, str):
        return None
    sigs = (schema.get("signatures") or {}).get(intent) or []
    if not any(NUMBER_SLOTS & set(sig) for sig in sigs):
        return None
    from edge import names_values
    from edge.names import language_of

    language = language_of(lang)
    if language is None or not names_values.knows(lang):
        return None
    articles = {p[0] for p in language.determiners if len(p) == 1}
    units = unit_words(schema, lang)
    toks = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text[:512])]
    ones = {toks[i][0] for i in range(len(toks)) if article_number(toks, i, lang, units, filler(language))}
    covered = [(sp.get("start"), sp.get("end")) for sp in found]
    covered = [(a, b) for a, b in covered if isinstance(a, int) and isinstance(b, int)]
    prev = ""
    for m in _WORD.finditer(text[:512]):
        w = fold(m.group(0))
        unit = f"{prev} {w}" in names_values.UNITS   # "pour cent", "por ciento": a unit, not a hundred
        prev = w
        if unit or any(a <= m.start() < b for a, b in covered):
            continue
        if w.isdigit() or (w not in articles and names_values.number(w, lang) is not None) or m.start() in ones:
            return f"the number {m.group(0)!r} is in no slot of {intent}"
    return None
