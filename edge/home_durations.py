"""A timer's durations as Home Assistant's templates say them, for edge.home.decide: fractions of a unit, and the
timer's start told from its change.

- `halves`: "half an hour", "71 and a 1/2 hours", "media hora" as HA's English and Spanish lists read them
  (German parts: edge/home_fractions.py); `unit_text` blanks what it read for edge.names_schema.unit_misfit;
- `timer_start`: of a change's two durations, the one at the timer's noun is its start ("the 40 hours timer");
- `start_change_misfit`: a start and a change that do not part, or a change said in two places, is refused;
- `delay_misfit`: a command said with a delay, read as the command now or as a timer named by the command, is refused.
Moved out of edge/home_words.py (over 400 lines).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from edge import names_schema

__all__ = ["delay_misfit", "halves", "start_change_misfit", "timer_start", "unit_text"]

_MAX_TEXT = 512  # as edge.home.MAX_TEXT
_WORD = re.compile(r"[^\W_]+")


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
# The unit's own slot: in "71 and a 1/2 hours" the number before the fraction is hours, whatever the tagger
# put it under (it often reads "71 ... hours" as minutes, then "1/2" as a second minutes: refused as twice).
_OWN_UNITS = {"en": {"hour": "hours", "hours": "hours", "minute": "minutes", "minutes": "minutes"},
              "es": {"hora": "hours", "horas": "hours", "minuto": "minutes", "minutos": "minutes"}}
# What may stand between a number and the fraction said after it ("71 *and a* 1/2 hours", "una hora *y* media").
_FRACTION_JOIN = {"en": frozenset({"and", "a"}), "es": frozenset({"y"})}


def halves(found: Sequence[Mapping[str, Any]], text: str, lang: str) -> Sequence[Mapping[str, Any]]:
    """A duration span that says only a fraction (the tagger put it under some unit, or gave it no number)
    as that much of the unit below the one said after it (or right before it): "half an hour" -> minutes
    30, "hora y 3/4" -> minutes 45. Anything else as it was; a fraction with no unit word beside it is left
    to be refused."""
    if lang == "de":  # "eineinhalb Stunden": HA's German lists give the total in the unit below
        from edge.home_fractions import german_parts

        return german_parts(found, text)
    halves, units = _HALF_WORDS.get(lang), _HALF_UNITS.get(lang)
    if not halves or not units:
        return found
    out: list[Mapping[str, Any]] = []
    for s in found:
        raw, start, end = s.get("raw"), s.get("start"), s.get("end")
        said = " ".join(raw.casefold().replace("/", " / ").split()).replace(" / ", "/") if isinstance(raw, str) else ""
        if (names_schema.unit_base(str(s.get("name"))) in ("hours", "minutes", "seconds") and said in halves
                and isinstance(start, int) and isinstance(end, int)):
            after = names_schema.word_list(text[end:end + 40])[:3]
            # the unit said after it ("half an hour"), else just before it ("12 hora y 3/4")
            before = names_schema.word_list(text[max(0, start - 24):start])[-2:][::-1]
            slot = next((units[w] for w in after if w in units), None) or (
                units.get(before[0]) if before and before[0] in units else
                units.get(before[1]) if len(before) > 1 and before[0] in ("and", "y") and before[1] in units
                else None)
            if slot is None:
                out.append(s)
                continue
            if str(s.get("name")).startswith("start_"):
                slot = "start_" + slot
            own = next((_OWN_UNITS[lang][w] for w in after if w in units), None)
            prev = _number_before(out, text, start, _FRACTION_JOIN.get(lang, frozenset())) if own else None
            if prev is not None:  # "71 and a 1/2 hours": the 71 is hours, said once for both
                i, p = prev
                pslot = ("start_" if str(p.get("name")).startswith("start_") else "") + str(own)
                out[i] = {**p, "name": pslot, "entity": pslot}
            out.append({**s, "name": slot, "entity": slot, "value": halves[said], "raw": raw, "confidence": 1.0})
            continue
        out.append(s)
    return out


def _number_before(spans: Sequence[Mapping[str, Any]], text: str, start: int,
                   joins: frozenset[str]) -> tuple[int, Mapping[str, Any]] | None:
    """The duration span said right before a fraction, with only `joins` words between ("71 and a"), and its
    index in `spans`; None when there is none."""
    for i in range(len(spans) - 1, -1, -1):
        p = spans[i]
        end = p.get("end")
        if names_schema.unit_base(str(p.get("name"))) not in ("hours", "minutes", "seconds") or not isinstance(end, int):
            continue
        between = names_schema.word_list(text[end:start]) if 0 <= end <= start else None
        return (i, p) if between and set(between) <= joins else None
    return None


def unit_text(text: str, found: Sequence[Mapping[str, Any]], original: Sequence[Mapping[str, Any]],
              lang: str) -> str:
    """`text` for edge.names_schema.unit_misfit after `halves`: each fraction it read blanked with the words
    joining it to the number before ("fifty *and half* hour"), so that number is followed by its unit's word;
    the fraction's own span is then blank, which unit_misfit skips (its slot is the unit below the word)."""
    chars = list(text)
    joins = _FRACTION_JOIN.get(lang, frozenset())
    for s in found:
        a, b = s.get("start"), s.get("end")
        if any(s is o for o in original) or not isinstance(a, int) or not isinstance(b, int) or not 0 <= a <= b:
            continue
        while True:  # back over the joining words ("and", "a")
            m = re.search(r"([^\W_]+)\W*$", text[:a])
            if m is None or names_schema.first_word(m.group(1)) not in joins:
                break
            a = m.start(1)
        chars[a:b] = " " * (b - a)
    return "".join(chars)


# Words that join the parts of one duration ("1 hour *and* 30 minutes", "una hora *y* 95 segundos").
_DURATION_JOINS = frozenset({"and", "und", "et", "y", "e"})
_CHANGE_INTENTS = frozenset({"HassIncreaseTimer", "HassDecreaseTimer"})


# The timer's own nouns in HA's timer templates (folded; "compte à rebours", "cuenta atrás" by their last word), and
# the words HA's templates say between the noun and the timer's start after it ("timer *for* 5 minutes",
# "temporizador *de* 5 minutos", "minuteur [de] 84 m", "Timer *für* 5 Minuten").
_TIMER_NOUNS: Mapping[str, frozenset[str]] = {
    "en": frozenset({"timer"}), "de": frozenset({"timer"}),
    "fr": frozenset({"minuteur", "minuterie", "decompte", "rebours"}), "es": frozenset({"temporizador", "atras"})}
_START_AFTER: Mapping[str, frozenset[str]] = {
    "en": frozenset({"for"}), "de": frozenset({"fur"}), "fr": frozenset({"de"}), "es": frozenset({"de", "para"})}


def timer_start(intent: str, lang: str, text: str, found: Sequence[Mapping[str, Any]],
                schema: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """`found` with the timer's start told from its change where the tagger read both as the change: of a
    timer change's two durations (each its numbers said together, as `start_change_misfit` groups them), the
    one said right at the timer's noun is the start, as every HA template of the change intents says it: just
    before it ("increase the *40 hours* timer by 74 hours") or just after it, with only the template's word
    between ("retrancher 61 secondes du décompte *84 m*", "timer *for* 5 minutes"). Only when exactly one of the
    two stands there; else as it was (refused as a change said in two places)."""
    found = list(found)
    nouns = _TIMER_NOUNS.get(lang)
    if intent not in _CHANGE_INTENTS or not nouns or not isinstance(text, str):
        return found
    units = names_schema.unit_words(schema, lang)
    unit_words = {w for ws in units.values() for w in ws}
    spans = sorted((s for s in found if names_schema.unit_base(str(s.get("name"))) in ("hours", "minutes", "seconds")
                    and isinstance(s.get("start"), int) and isinstance(s.get("end"), int)), key=lambda s: s["start"])
    if any(str(s.get("name")).startswith("start_") for s in spans):
        return found
    groups: list[list[Mapping[str, Any]]] = []
    for s in spans:
        between = set(names_schema.word_list(text[groups[-1][-1]["end"]:s["start"]])) if groups else None
        if between is not None and between <= unit_words | _DURATION_JOINS:
            groups[-1].append(s)
        else:
            groups.append([s])
    if len(groups) != 2:
        return found
    words = [(m.start(), m.end(), names_schema.fold(m.group())) for m in _WORD.finditer(text[:_MAX_TEXT])]

    def at_noun(group: list[Mapping[str, Any]]) -> bool:
        before = [w for a, _, w in words if group[-1]["end"] <= a]
        after = [w for _, b, w in words if b <= group[0]["start"]][::-1]
        units_then = next((i for i, w in enumerate(before) if w not in unit_words), len(before))
        if units_then < len(before) and before[units_then] in nouns and all(w in unit_words for w in before[:units_then]):
            return units_then > 0  # "40 hours timer": the unit said, then the noun
        lead = after[:1] if after[:1] and after[0] in _START_AFTER.get(lang, frozenset()) else []
        return len(after) > len(lead) and after[len(lead)] in nouns

    def own_unit(span: Mapping[str, Any]) -> bool:
        """Is the word after the span its own unit's ("71 *minutes*" tagged seconds is no start of 71 seconds)? A
        word of several units' lists ("minuto": "minuto y medio" is seconds) with no "and" after it is the larger."""
        rest = names_schema.word_list(text[span["end"]:span["end"] + 40])[:2]
        says = [u for u in ("hours", "minutes", "seconds") if rest and rest[0] in units.get(u, ())]
        if len(says) > 1 and not (len(rest) > 1 and rest[1] in _DURATION_JOINS):
            says = says[:1]
        return says == [names_schema.unit_base(str(span.get("name")))]

    starts = [g for g in groups if at_noun(g)]
    if len(starts) != 1 or not all(own_unit(s) for s in starts[0]):
        return found
    mine = {id(s) for s in starts[0]}
    return [{**s, "name": "start_" + str(s["name"]), "entity": "start_" + str(s["name"])} if id(s) in mine else s
            for s in found]


def start_change_misfit(intent: str, lang: str, text: str, found: Sequence[Mapping[str, Any]],
                        schema: Mapping[str, Any] | None) -> str | None:
    """Why a timer's start and its change cannot be told apart, or None. One duration is its numbers said
    together, only unit words and "and" between them; HA's templates say the change in one such duration
    and the timer's start ("the 98 minute timer") in another. So a duration the tagger splits between the
    start and the change ("by ninety one hours 51 minutes" as start_hours + minutes), and a change said in
    two places ("increase the ninety eight minute timer by 10 hours" as minutes + hours: one of them is the
    timer's start) are refused: acting would change the wrong timer or by the wrong amount."""
    if intent in _CHANGE_INTENTS:  # a change says so in words of its own intent's templates
        from edge.names_lang import TIMER_CHANGE

        sides = TIMER_CHANGE.get(lang)
        said = names_schema.words(text)
        if sides is not None and not said & sides[intent]:
            return f"no word says {intent}"
    units = names_schema.unit_words(schema, lang)
    unit_words = {w for ws in units.values() for w in ws}
    spans = sorted((s for s in found if names_schema.unit_base(str(s.get("name"))) in ("hours", "minutes", "seconds")
                    and isinstance(s.get("start"), int) and isinstance(s.get("end"), int)), key=lambda s: s["start"])
    groups: list[list[Mapping[str, Any]]] = []
    for s in spans:
        between = set(names_schema.word_list(text[groups[-1][-1]["end"]:s["start"]])) if groups else set()
        if groups and between <= unit_words | _DURATION_JOINS:
            was, now = (str(x.get("name")).startswith("start_") for x in (groups[-1][-1], s))
            if was != now and (between & _DURATION_JOINS or now):
                # "una hora y 95 segundos": "and" joins one duration, and HA's templates never say the start right
                # after the change. The start then the change may stand side by side without "and" ("para 25 hora
                # quince segundos": the timer of 25 hours, by 15 seconds)
                return "one duration read as both the timer's start and the change"
            groups[-1].append(s)
        else:
            groups.append([s])
    kinds = [{str(s.get("name")).startswith("start_") for s in g} for g in groups]
    if intent in _CHANGE_INTENTS and sum(1 for k in kinds if k == {False}) > 1:
        return "the change said in two places: one of them is the timer's start"
    return None


# The words before a delay in HA's HassStartTimer templates with a `conversation_command` ("turn off the lights
# *in* 5 minutes", "*dans* 70 heures", "*en* un segundo", "*in* 5 Minuten"), folded.
_DELAY_BEFORE: Mapping[str, frozenset[str]] = {
    "en": frozenset({"in", "after"}), "de": frozenset({"in", "nach"}), "fr": frozenset({"dans"}),
    "es": frozenset({"en", "dentro"})}
_TIMER_INTENTS = frozenset({"HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassIncreaseTimer",
                            "HassDecreaseTimer", "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus"})


def delay_misfit(intent: str, lang: str, text: str, found: Sequence[Mapping[str, Any]],
                 schema: Mapping[str, Any] | None) -> str | None:
    """Why a reply drops the delay or the command of a command said with a delay, or None. HA's templates read
    "cierra la puerta del garaje en un segundo" and "ferme la porte du garage dans 70 heures" as HassStartTimer
    with the command as its `conversation_command`, run when the timer ends:
    - any other intent with a delay said outside its spans (`_DELAY_BEFORE`, then a number or the article one, then
      a unit's word) would act now ("cierra ... en un segundo" as HassTurnOff); one inside a span is free text's
      ("announce the movie starts in ten minutes", a message; a message cut before it is refused);
    - HassStartTimer with a `name` and no `conversation_command`, where no word is the timer's noun: every HA
      template that names a timer says its noun ("minuteur {name}", "timer called {name}": 161 en/de/fr/es
      templates of home-assistant-intents 2026.12.1), so the words taken as its name are a command dropped."""
    if not isinstance(text, str):
        return None
    said = [(m.start(), names_schema.fold(m.group())) for m in _WORD.finditer(text[:_MAX_TEXT])]
    if intent == "HassStartTimer":
        slots = {str(s.get("name")) for s in found}
        nouns = _TIMER_NOUNS.get(lang)
        if "name" not in slots or "conversation_command" in slots or not nouns:
            return None
        if any(w in nouns or w.rstrip("s") in nouns or (lang == "de" and w.endswith("timer")) for _, w in said):
            return None
        return "a timer's name said with no timer: the words are a command run when it ends"
    if intent in _TIMER_INTENTS or lang not in _DELAY_BEFORE:
        return None
    from edge import names_values
    from edge.names import language_of

    units = names_schema.unit_words(schema, lang)
    fill = names_schema.filler(language_of(lang))
    unit_words = {w for ws in units.values() for w in ws} - fill
    articles = {w for w in fill if names_values.number(w, lang) == 1}
    spans = [(sp["start"], sp["end"]) for sp in found if isinstance(sp.get("start"), int) and isinstance(sp.get("end"), int)]
    for i, (at, w) in enumerate(said):
        if w not in _DELAY_BEFORE[lang] or any(a <= at < b for a, b in spans):
            continue  # a delay inside free text ("announce *the movie starts in ten minutes*") is the text's
        j = i + 1 + (lang == "es" and w == "dentro" and i + 1 < len(said) and said[i + 1][1] == "de")
        k = j
        while k < len(said) and (said[k][1].isdigit() or said[k][1] in articles
                                               or (said[k][1] not in fill and names_values.number(said[k][1], lang)
                                                   is not None)):
            k += 1
        if k > j and k < len(said) and said[k][1] in unit_words:
            return f"a delay said ({w} ... {said[k][1]}): HA starts a timer that runs the command"
    return None
