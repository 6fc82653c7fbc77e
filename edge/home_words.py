"""What the words of a transcript say beyond the tagger's spans, for edge.home.decide.

The tagger marks spans; Home Assistant's templates also carry meaning in plain words the tagger never
marks: the kind of thing said beside a place ("the kitchen *lights*"), the direction of a volume step
("turn the volume *down* 20"), a fraction of a unit ("*half* an hour"), a verb that only one side of an
on/off pair uses. And a span the tagger is unsure of may still stand on its own words (a timer's name, a
thing the names file has word for word, a number followed by its unit). These readings, each from Home
Assistant's own templates and lists (home-assistant-intents 2026.12.1), are here; `decide` applies them
and keeps every refusal it had. Measured one by one through Wyoming: docs/model-card-home-history.md, "Where it
stands now" (bench/home_wyoming_eval.py --holdout).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping, Sequence

from edge import entities, names_schema, names_values
from edge.home_kinds import implied_domains  # noqa: F401 (re-exported: edge.home and the guards import it from here)

__all__ = ["ACTS_ON", "FREE_TEXT_NAME_INTENTS", "KIND_ALONE", "PLACE_ONLY_LIGHT", "blank_names", "confirmed",
           "implied_domains", "clock_time", "command_misfit", "everywhere", "number", "volume_misfit", "volume_step"]

_MAX_TEXT = 512  # as edge.home.MAX_TEXT: decide refuses longer text before it gets here

# Intents whose `name` slot is the user's free text (a timer's name), not a thing in the names file.
FREE_TEXT_NAME_INTENTS = frozenset({
    "HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassIncreaseTimer", "HassDecreaseTimer",
    "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus"})
# The domains the handler of an intent acts on in Home Assistant (its intent handlers filter targets by
# them): a reply whose target is of another domain is a misread intent, not a command HA could carry out.
_MEDIA = frozenset({"media_player"})
ACTS_ON: Mapping[str, frozenset[str]] = {
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
# cover 14 templates), and the fan and cover ones say their kind ("fans", "blinds"), which `implied_domains`
# finds; the rest are lights ("allume le salon", "illumine les pièces de l'étage"). Without it Home Assistant
# would switch everything in the place.
PLACE_ONLY_LIGHT = frozenset({"HassTurnOn", "HassTurnOff"})
# Intents that may name a kind of thing alone, said as a plain word: a question about the state of every
# thing of a kind. Not on/off: "turn off the lights" with no place would switch every light in the home.
KIND_ALONE = frozenset({"HassGetState"})


def number(raw: Any) -> float | int | None:
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


def volume_step(got: dict[str, Any], text: str, lang: str, found: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
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
    n = number(step)
    if n is None:
        n = names_values.number(step, lang)
    if n is None or not 0 <= n <= 100:
        return got
    return {**got, "volume_step": n if direction[0] == "up" else -n}


# German particles of a step said after its number ("dreh die Lautstärke ... 49% *auf*", HA's "dreh[e] die
# lautstärke ... {volume_step}[%| Prozent] ([he]rauf|auf)"; "[he]runter" down) and the verb only HA's relative
# templates say ("dreh[e] die lautstärke"): no HassSetVolume template of home-assistant-intents 2026.12.1 has them.
_STEP_PARTICLES = frozenset({"auf", "rauf", "herauf", "runter", "herunter"})
_STEP_VERBS = {"de": frozenset({"dreh", "drehe"})}


def volume_misfit(intent: str, lang: str, text: str, found: Iterable[Mapping[str, Any]],
                  got: Mapping[str, Any]) -> str | None:
    """Why a volume reply's words say the other volume intent, or None (edge.home.decide refuses with it):
    - HassSetVolume whose words say a direction (edge.names_lang.VOLUME_DIRECTION, the German step verb) and whose
      number does not follow the word HA's level templates put before it (`_LEVEL_BEFORE`: "turn the volume up
      *to* 40", "sube el volumen *al* 40"): "levantar el volumen del Salón 74%" is HA's step of +74, not a level;
      German: a step's particle after the number ("... 49% auf") says a step wherever the number stands;
    - French HassSetVolumeRelative with a number not said after "de": HA's French step templates take none
      ("baisser ... deux %" is its level 2, `(<regle>|<monte>|<baisse>) ... [à|sur] {volume_level}<pourcent>`);
      "baisse le volume *de* vingt pour cent" is a step by 20, which no HA template reads otherwise.
    Not read for French levels: HA's French level templates say "monte"/"baisse" before a level with no word.
    Beside `volume_step` (which reads a step's sign from the same words); the level words are edge.home_numbers'."""
    from edge.home_numbers import _LEVEL_BEFORE

    if intent == "HassSetVolumeRelative":
        step = got.get("volume_step")
        if lang != "fr" or not isinstance(step, (int, float)) or isinstance(step, bool):
            return None
        span = next((sp for sp in found if sp.get("name") == "volume_step" and isinstance(sp.get("start"), int)), None)
        before = _WORD.findall(text[max(0, span["start"] - 24):span["start"]]) if span is not None else []
        if before and names_schema.fold(before[-1]).lower() in ("de", "d"):
            return None  # "baisse le volume de vingt pour cent": a step by its "de", which no HA level template says
        return "HA's French volume steps take no number: a number said is a level"
    if intent != "HassSetVolume" or lang not in _LEVEL_BEFORE or lang == "fr":
        return None
    level = next((sp for sp in found if sp.get("name") == "volume_level" and isinstance(sp.get("start"), int)
                  and isinstance(sp.get("end"), int)), None)
    if level is None:
        return None
    from edge.names_lang import VOLUME_DIRECTION

    fold = names_schema.fold
    after = [fold(w) for w in _WORD.findall(text[level["end"]:level["end"] + 40])[:3]]
    after = after[1:] if after[:1] in (["prozent"], ["percent"]) else after
    if lang == "de" and after[:1] and after[0] in _STEP_PARTICLES:
        return f"{after[0]!r} after the number says a step"
    said = names_schema.words(text[:level["start"]] + " " + text[level["end"]:])
    direction = said & ({w for ws in (VOLUME_DIRECTION.get(lang) or {}).values() for w in ws}
                        | _STEP_VERBS.get(lang, frozenset()))
    before = _WORD.findall(text[max(0, level["start"] - 24):level["start"]])
    if direction and not (before and fold(before[-1]) in _LEVEL_BEFORE[lang]):
        return f"{sorted(direction)[0]!r} says a step, and no level word comes before the number"
    return None


def blank_names(text: str, found: Sequence[Mapping[str, Any]]) -> str:
    """`text` with the spans of things, areas and floors blanked: the words left are the command's own
    (the polarity check reads them; "Front Door Lock" or "Lower Hall Blinds" says no verb)."""
    chars = list(text)
    for s in found:
        a, b = s.get("start"), s.get("end")
        if s.get("name") in ("name", "area", "floor") and isinstance(a, int) and isinstance(b, int):
            chars[max(a, 0):max(b, 0)] = " " * len(chars[max(a, 0):max(b, 0)])
    return "".join(chars)


# Free text Home Assistant takes as said: a timer's name, a shopping-list item, a media search. The tagger's
# confidence in such a span is its words' own emission score, and a word never seen ("pizza", "workout") is
# tagged by its context ("named ...", "add ... to"), which that score does not see: 0.0 for every timer name
# of the English holdout. A wrong one names a timer or an item oddly; it switches no device. Not here:
# `conversation_command` (a command run when the timer ends is an action) and any name of a thing.
_FREE_TEXT = frozenset({"item", "search_query"})


def confirmed(intent: str, lang: str, text: str, names: Any, schema: Mapping[str, Any] | None,
              found: Sequence[Mapping[str, Any]] = ()) -> Any:
    """Whether a span the tagger is unsure of stands on its own words (a callable for `_slots`):
    - free text (`_FREE_TEXT`, a timer's name);
    - a name, area or floor the names file has word for word, as that kind (edge.names.Names.said_exactly):
      the home confirms the words are a name; resolution still checks what it names;
    - a duration whose number reads as one and is followed by its own unit's word in HA's templates
      ("fünf *Minuten*", "vingt *secondes*"): the words say the slot (measured: letting an intent that
      also takes the timer's start in that unit confirm neither, since the words do not say which, lost
      35 right answers on the holdouts for 2 wrong ones);
    - a media class that is word for word a value of HA's list (edge.names_values; not a fan mode or colour:
      "put whisper mode on" read as fan mode "on" acted on an other request);
    - any other number that its own words confirm (edge.home_numbers.confirmed: a unit word of the slot after
      it, a word of HA's list for the slot, or the one number said of an intent with one number slot; `found`
      are the spans, for HassSetVolume's thing named)."""
    units = names_schema.unit_words(schema, lang)

    def check(span: Mapping[str, Any], value: Any) -> bool:
        slot = span.get("name")
        if slot in _FREE_TEXT or (slot == "name" and intent in FREE_TEXT_NAME_INTENTS):
            return True
        if slot in ("name", "area", "floor"):
            if intent in PLACE_ONLY_LIGHT and _whole_home(span.get("raw"), lang):
                return False  # "éteins éclairage toute(s) maison": HA's whole home, not a thing called "Maison"
            said = getattr(names, "said_exactly", None)
            return bool(said and said(slot, span.get("raw"), lang))
        base = names_schema.unit_base(str(slot))
        end = span.get("end")
        if base in units and value is not None and isinstance(end, int):
            return names_schema.first_word(text[end:]) in set(units[base])
        if slot == "media_class" and isinstance(span.get("raw"), str):
            # word for word a value of HA's list for the slot ("émission", "serie", "track"): the list confirms it;
            # not a word HA's templates also say as a plain word before the query ("écoute musique Édith Piaf")
            query = [s for s in found if s.get("name") == "search_query" and isinstance(s.get("start"), int)]
            if slot == "media_class" and names_schema.fold(span["raw"].strip()) in _MEDIA_WORDS.get(lang, ()) \
                    and isinstance(span.get("start"), int) and any(span["start"] < q["start"] for q in query):
                return False
            return names_values.value("media_class", span.get("raw"), lang) is not None
        if value is not None and slot in names_schema.NUMBER_SLOTS:
            from edge import home_numbers

            return home_numbers.confirmed(schema, intent, lang, text, span, value, found)
        return False

    return check


# Words of HA's French media templates' `<media>` rule that its media_class list has too ("(<active>|<mets>|<ecoute>)
# [<le>]<media> [<de>] {search_query}"): said before the query, HA's reading carries no class (folded).
_MEDIA_WORDS: Mapping[str, frozenset[str]] = {
    "fr": frozenset("morceau chanson musique element podcast film video episode radio media".split())}


def command_misfit(intent: str, lang: str, text: str) -> str | None:
    """Why a state question is a command, or None: its words (names blanked: `blank_names`) hold a verb only
    HA's on/off templates use (edge.names_lang.COMMAND_VERBS: "make *sure* all lamps are off")."""
    if intent != "HassGetState":
        return None
    from edge.names_lang import COMMAND_VERBS

    verbs = names_schema.words(text) & COMMAND_VERBS.get(lang, frozenset())
    return f"{sorted(verbs)[0]!r} commands; a state question does not" if verbs else None


# A clock time, not a duration: the words right before a number that say "at" a time of day, and right after it
# that name a time of day ("wake me up at seven", "alarm for 7 am", "um sieben Uhr", "à sept heures", "a las
# siete"). No HassStartTimer template of home-assistant-intents 2026.12.1 says any of them beside its duration
# (German "um" only in the increase/decrease templates: "um 5 Minuten verlängern"); an alarm is no HA intent.
_CLOCK_BEFORE: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "en": (("at",),), "de": (("um",),), "fr": (("à",), ("a",), ("vers",)), "es": (("a", "las"), ("a", "la"))}
_CLOCK_AFTER: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "en": (("am",), ("pm",), ("a", "m"), ("p", "m"), ("o", "clock"), ("oclock",)), "de": (("uhr",),),
    "fr": (("du", "matin"), ("du", "soir"), ("de", "l", "après", "midi")),
    "es": (("de", "la", "mañana"), ("de", "la", "tarde"), ("de", "la", "noche"))}
_DURATION_SLOTS = frozenset({"hours", "minutes", "seconds"})


def clock_time(intent: str, lang: str, text: str, found: Iterable[Mapping[str, Any]]) -> str | None:
    """Why a timer's duration is a time of day, or None: "réveille-moi à sept heures" read as HassStartTimer
    {hours: 7} would ring in seven hours, not at seven (`_CLOCK_BEFORE`, `_CLOCK_AFTER`). Only HassStartTimer:
    the other timer intents' numbers are a timer's start or change, said the templates' way."""
    if intent != "HassStartTimer" or lang not in _CLOCK_BEFORE or not isinstance(text, str):
        return None
    for sp in found:
        a, b = sp.get("start"), sp.get("end")
        if str(sp.get("name")) not in _DURATION_SLOTS or not isinstance(a, int) or not isinstance(b, int):
            continue
        before = [m.group(0).casefold() for m in _WORD.finditer(text[:a])]
        after = [m.group(0).casefold() for m in _WORD.finditer(text[b:_MAX_TEXT])]
        # the span's own last words may be its unit ("sept heures"): the clock words follow the unit
        after = after[1:] if after and names_schema.fold(after[0]) in _UNIT_WORDS else after
        said = [w for w in _CLOCK_BEFORE[lang] if tuple(before[-len(w):]) == w] \
            + [w for w in _CLOCK_AFTER[lang] if tuple(after[:len(w)]) == w]
        if said:
            return f"{' '.join(said[0])!r} says a time of day, not a timer's duration"
    return None


_UNIT_WORDS = frozenset({"hour", "hours", "stunde", "stunden", "heure", "heures", "hora", "horas"})


def _whole_home(raw: Any, lang: str) -> bool:
    """Are `raw`'s words all words HA's on/off templates say for the whole home (`_ALL_LIGHTS_OFF`: "maison",
    "house", "casa")? A span the tagger is unsure of that says only them is no thing's name, whatever the home
    calls a thing."""
    words = names_schema.word_list(raw) if isinstance(raw, str) else []
    return bool(words) and lang in _ALL_LIGHTS_OFF and set(words) <= _ALL_LIGHTS_OFF[lang][0]


def everywhere(intent: str, lang: str, text: str) -> bool:
    """Whether an on/off command with a kind of thing and no place says "in every place"
    (edge.names_lang.EVERYWHERE: "schalte das Licht überall aus"); then it is every one of that kind. And
    "turn off all the lights" (`_ALL_LIGHTS_OFF`): HA's one on/off template with no place and no need of one
    turns off every light of the home, said with a word for all of them or for the whole home."""
    from edge.names_lang import EVERYWHERE

    said = names_schema.words(text)
    if intent in PLACE_ONLY_LIGHT and said & EVERYWHERE.get(lang, frozenset()):
        return True
    if intent != "HassTurnOff" or lang not in _ALL_LIGHTS_OFF:
        return False
    words, pairs = _ALL_LIGHTS_OFF[lang]
    if not said & words and not any(pair <= said for pair in pairs):
        return False
    return _only_lights(implied_domains(text, lang), lang)


def _only_lights(kinds: Sequence[tuple[str, int, int]], lang: str) -> bool:
    """Are the kinds said one kind, lights ("lighting", "ampolletas", "Beleuchtungen")?"""
    from edge.names import domain_word, language_of
    from edge.names_text import clean, fold

    language = language_of(lang)
    if language is None or len(kinds) != 1:
        return False
    hit = domain_word(fold(clean(kinds[0][0]) or ""), language)
    return hit is not None and hit[0] == "light"


# The words of Home Assistant's HassTurnOff template that turns off every light with no place (home-assistant-
# intents 2026.12.1, folded): en "<turn> <all> <light> off [<everywhere>]" (<all>: all, every, each; <everywhere>:
# the (whole) home, house, flat, every room), es "<apaga> <todos> <luces>" (todos, todas, cada) and "<todas_partes>",
# de "<alle_lichter_ueberall>" (alle, sämtliche, jede, die ganzen ..., überall), fr only "<partout>" (partout, the
# maison/appartement/logement, toutes les pièces: "éteins toutes les lumières" alone is the satellite's room). A pair
# is two words said together.
_ALL_LIGHTS_OFF: Mapping[str, tuple[frozenset[str], tuple[frozenset[str], ...]]] = {
    "en": (frozenset("all every each everywhere home house apartment flat".split()), ()),
    "es": (frozenset("todos todas cada partes sitios lados casa".split()), ()),
    "de": (frozenset("alle allen aller samtliche samtlichen jede jeder jedes jeden ganze ganzen komplette kompletten "
                     "gesamte gesamten uberall".split()), ()),
    "fr": (frozenset("partout maison domicile appartement appart logement".split()),
           (frozenset({"toutes", "pieces"}),)),
}
