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

from edge.names_schema import NUMBER_SLOTS, filler, first_word, fold, unit_base, unit_words

__all__ = ["article_number", "number_runs", "stray_number"]

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
                        and names_values.number(text[toks[i][0]:toks[k - 1][1]], lang) is not None:
                    j = k
                    break
        runs.append((i, j))
        i = j
    out: list[Mapping[str, Any]] = []
    covered: set[int] = set()
    for sp in found:
        a, b, name = sp.get("start"), sp.get("end"), str(sp.get("name"))
        if (unit_base(name) in units or name in NUMBER_SLOTS) and isinstance(a, int) and isinstance(b, int):
            for i, j in runs:
                ra, rb = toks[i][0], toks[j - 1][1]
                others = [o for o in found if o is not sp and isinstance(o.get("start"), int)
                          and isinstance(o.get("end"), int) and o["start"] < rb and ra < o["end"]]
                if ra < b and a < rb and (ra, rb) != (a, b) and ra <= a and b <= rb and not others:
                    said = text[ra:rb]
                    if names_values.number(said, lang) is not None or said.isdigit():
                        sp = {**sp, "raw": said, "value": said, "start": ra, "end": rb}
                    break
            covered.update(k for k, t in enumerate(toks) if sp["start"] <= t[0] < sp["end"])
        elif isinstance(a, int) and isinstance(b, int):
            covered.update(k for k, t in enumerate(toks) if a <= t[0] < b)
        out.append(sp)
    prefix = "start_" if intent in _START_ONLY else "" if intent in _PLAIN_ONLY else None
    if prefix is None:
        return _the_one_number(schema, intent, text, toks, runs, covered, out)
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


def _and_after(toks: list[tuple[int, int, str]], j: int) -> bool:
    """Does "and" come right after the unit word at token j ("una hora y media")?"""
    return j + 1 < len(toks) and fold(toks[j + 1][2]) in {"and", "und", "et", "y"}


def article_number(toks: list[tuple[int, int, str]], i: int, lang: str, units: Mapping[str, Any],
                   fill: set[str]) -> bool:
    """Is token i an article that is the number one, said right before a unit's word ("de los un minutos",
    "una hora", "eine Minute": HA's "{minutes} minutos" with one as its article)? Not when "and" follows the
    unit ("una hora y media", "une heure et demie": a fraction after it, read by edge.home_words or refused)."""
    from edge import names_values

    w = fold(toks[i][2])
    if w not in fill or names_values.number(w, lang) != 1 or i + 1 >= len(toks):
        return False
    unit = fold(toks[i + 1][2])
    if not any(unit in ws for ws in units.values()) or unit in fill:
        return False
    return not _and_after(toks, i + 1)


# A place and a number alone is HA's HassLightSet too ("set the living room to 50%"): for HassSetVolume the
# model's choice is then backed by no tagged number ("pon el salón al cincuenta por ciento", measured on dev).
_SHARED_SHAPE = frozenset({"HassSetVolume", "HassLightSet"})


def _the_one_number(schema: Mapping[str, Any], intent: str, text: str, toks: list[tuple[int, int, str]],
                    runs: list[tuple[int, int]], covered: set[int],
                    out: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`out` with the one number said and left untagged put in the one number slot every template of the
    intent has ("ändere Lautstärke spielzimmer 13" -> volume_level 13), when no span has that slot; else as it
    was (a second number, or an intent with several number slots, is left to be refused)."""
    if intent in _SHARED_SHAPE:
        return out
    sigs = (schema.get("signatures") or {}).get(intent) or []
    slots = {k for sig in sigs for k in sig if k in NUMBER_SLOTS}
    free = [(i, j) for i, j in runs if not any(k in covered for k in range(i, j))]
    if len(slots) != 1 or not sigs or not all(slots <= set(sig) for sig in sigs) or len(free) != 1:
        return out
    slot = next(iter(slots))
    if any(sp.get("name") == slot for sp in out):
        return out
    i, j = free[0]
    said = text[toks[i][0]:toks[j - 1][1]]
    out.append({"name": slot, "entity": slot, "raw": said, "value": said, "start": toks[i][0],
                "end": toks[j - 1][1], "confidence": 1.0})
    return sorted(out, key=lambda sp: sp.get("start", 0) if isinstance(sp.get("start"), int) else 0)



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
