"""German parts of an hour or a minute as Home Assistant's German timer templates read them.

"eineinhalb Stunden" is 90 minutes and "zweieinhalb Minuten" 150 seconds: HA's German lists
`timer_hour_parts_to_minutes` and `timer_minute_parts_to_seconds` (home-assistant-intents 2026.12.1,
data/de.json; CC BY 4.0) give each such phrase as a total of the unit below. The tagger puts these words
under some duration slot and edge.names_values cannot read "eineinhalb" as a number, so they were refused.
English and Spanish say a fraction beside the unit instead (edge.home_durations.halves). French templates have
no fractions, so none are read there.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from edge.names_schema import unit_base

__all__ = ["german_parts"]

_S = r"[ ]?"  # HA's "[ ]": the words may be written apart or together ("ein ein halb", "eineinhalb")
_FUENF = r"f(?:ü|ue|u)nf"
# (pattern, the slot it fills, the value): HA's two lists, entry for entry; "Stunde[n]" as HA writes it.
_PARTS: tuple[tuple[str, str, int], ...] = (
    (rf"eine viertel stunden?", "minutes", 15),
    (rf"eine halbe stunden?", "minutes", 30),
    (rf"eine drei{_S}viertel stunden?", "minutes", 45),
    (rf"ein{_S}ein{_S}viertel stunden?", "minutes", 75),
    (rf"(?:ein{_S}ein{_S}halb|anderthalb) stunden?", "minutes", 90),
    (rf"ein{_S}drei{_S}viertel stunden?", "minutes", 105),
    (rf"zwei{_S}ein{_S}halb stunden", "minutes", 150),
    (rf"drei{_S}ein{_S}halb stunden", "minutes", 210),
    (rf"vier{_S}ein{_S}halb stunden", "minutes", 270),
    (rf"eine halbe minute", "seconds", 30),
    (rf"(?:ein{_S}ein{_S}halb|anderthalb) minuten?", "seconds", 90),
    *((rf"{word}{_S}ein{_S}halb minuten", "seconds", n * 60 + 30) for word, n in (
        ("zwei", 2), ("drei", 3), ("vier", 4), (_FUENF, 5), ("sechs", 6), ("sieben", 7), ("acht", 8),
        ("neun", 9))),
)
# Longest first, so "eine drei viertel Stunde" is not read as "drei viertel"; whole words only.
_PATTERN = re.compile("|".join(f"(?P<p{i}>\\b{p}\\b)" for i, (p, _, _) in enumerate(_PARTS)), re.IGNORECASE)
_DURATIONS = ("hours", "minutes", "seconds")


def german_parts(found: Sequence[Mapping[str, Any]], text: str) -> Sequence[Mapping[str, Any]]:
    """The tagger's spans with every German part of a unit said in `text` read as HA reads it: the duration
    spans it overlaps become one span of the unit below, its value HA's ("eineinhalb Stunden" -> minutes
    90, on the phrase's words; start_minutes where the tagger said the timer's start). A phrase the tagger
    marked nothing of is taken only when no duration is marked at all ("anderthalb Stunden mehr")."""
    out = list(found)
    for m in _PATTERN.finditer(text[:512]):
        i = int(next(k for k, v in m.groupdict().items() if v is not None)[1:])
        slot, value = _PARTS[i][1], _PARTS[i][2]
        base = [s for s in out if unit_base(str(s.get("name"))) in _DURATIONS]
        hit = [s for s in base if isinstance(s.get("start"), int) and isinstance(s.get("end"), int)
               and s["start"] < m.end() and m.start() < s["end"]]
        if not hit and base:
            continue
        starts = {str(s.get("name")).startswith("start_") for s in hit}
        if len(starts) > 1:
            continue  # start and change in one phrase: left to be refused
        name = ("start_" if starts == {True} else "") + slot
        out = [s for s in out if not any(s is h for h in hit)]
        out.append({"name": name, "entity": name, "raw": m.group(0), "value": value, "start": m.start(),
                    "end": m.end(), "confidence": 1.0})
    return sorted(out, key=lambda s: s.get("start", 0) if isinstance(s.get("start"), int) else 0)
