"""A question about the date or time of something else, for edge.home.decide: no HassGetCurrentDate/Time.

Home Assistant's templates of HassGetCurrentDate and HassGetCurrentTime (home-assistant-intents 2026.12.1) ask
for today's date and the time now and nothing else: "<what_is> the date [today]", "what time is it [[right]
now]", "wie spät ist es", "quelle heure est-il", "qué hora es". People ask the model's way about other dates
and times too ("what's the date of easter", "what time is it in tokyo", "which day is pay day", "can you tell
me the due date for the water bill"), which models/home 1.2.0 answers as today's date or the time now
(tests/data/home_dev3_en.txt; bench/home_proxy_other.py). Such a question says what it is about after a
preposition, or asks when, or about another day; none of the words here is in any of those templates of its
language (`_OTHER`), so a reply of either intent whose words say one is refused.
"""

from __future__ import annotations

import re

__all__ = ["INTENTS", "other_moment"]

INTENTS = frozenset({"HassGetCurrentDate", "HassGetCurrentTime"})
_WORD = re.compile(r"[^\W\d_]+")
# Phrases that are Home Assistant's skip words (said anywhere, meaning nothing): blanked first ("for me").
_SKIP = {"en": ("for me", "for us"), "de": (), "fr": (), "es": ()}
# Words of another moment or of what it is about, none in the two intents' templates of the language
# (German "für" is: "was haben wir für ein Datum", and "von heute"; Spanish "en" and "de": "en qué día estamos", "fecha de hoy";
# French "de": "la date d'aujourd'hui"). "of the week|month|year" is still today's ("what day of the week is it").
_OTHER = {
    "en": frozenset("of in at for until till since before after about from when tomorrow yesterday next last "
                    "was were will".split()),
    "de": frozenset("von vom in im bis seit vor nach wann morgen gestern übermorgen nächste nächsten letzte "
                    "letzten war wird".split()),
    "fr": frozenset("à au pour depuis avant après quand demain hier prochain prochaine dernier dernière était "
                    "sera".split()),
    "es": frozenset("para hasta desde antes después cuándo cuando ayer próximo próxima último última fue "
                    "será".split()),
}
_OF_TODAY = {"en": ("of the week", "of the month", "of the year"), "de": ("von heute",)}  # HA's "Datum[ von heute]"


def other_moment(intent: str, lang: str, text: str) -> str | None:
    """Why a date or time question is about something else than now ("'of' asks about another date or time"),
    or None. Only HassGetCurrentDate and HassGetCurrentTime."""
    if intent not in INTENTS or lang not in _OTHER or not isinstance(text, str):
        return None
    said = " ".join(w.casefold() for w in _WORD.findall(text[:512]))
    for phrase in (*_SKIP.get(lang, ()), *_OF_TODAY.get(lang, ())):
        said = re.sub(rf"\b{phrase}\b", " ", said)
    hits = [w for w in said.split() if w in _OTHER[lang]]
    return f"{hits[0]!r} asks about another date or time than now" if hits else None
