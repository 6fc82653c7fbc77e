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

What plain words say beyond the spans (the kind beside a place, a volume step's direction, a span the
tagger is unsure of that stands on its own words, a state question that commands) is read by
edge/home_words.py; half an hour and a timer's start apart from its change by edge/home_durations.py; a
duration's unit from the word after it by edge/names_schema.py; a number read whole, a number the tagger left
untagged or is unsure of by edge/home_numbers.py; German parts of a unit by edge/home_fractions.py; whether an
on/off (or (un)mute, or a timer's command) is said the other way round by edge/home_polarity.py; a place and a
kind that spell one thing's name, a place cut short, the one name said untagged by edge/home_reading.py; free
text said whole, and a timer's name said but not tagged, by edge/home_freetext.py. A model unsure of a sentence that is word for word one of
Home Assistant's templates of one intent (its top intent, or another whose carrier alone reads it) is taken
on that template's reading by edge/home_rescue.py. A wake word before the command is left out by edge/home_wake.py;
a date or time question about something else than now is refused by edge/home_when.py; an answer naming nothing, of
an intent the model answers chit-chat with, is kept only where a template of it says the text (edge/home_slotless.py).

Everything after the model is one function, `decide`: Wyoming's recognizer
calls it after classifying and tagging, and so does the MQTT path
(edge/pipeline.py) with its own batch's predictions, so both give the same
intent and slots or the same refusal. The results (`Recognized`, `NotUnderstood`,
`Answered`) are plain dataclasses of edge/home_results.py, re-exported here.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from edge import (home_agree, home_freetext, home_guard, home_numbers, home_polarity, home_rescue, home_shoplist,
                  home_slotless, home_wake, home_when, home_wildcards, names_schema, names_values)
from edge.home_durations import delay_misfit, halves, start_change_misfit, timer_start, unit_text
from edge.home_reading import name_reading, place_reading, said_target, untagged_target
# the result types live in a leaf (edge/home_results.py); re-exported: `from edge.home import Recognized` works
from edge.home_results import Answered, NotUnderstood, Recognized, Recognizer, Result, base_language
# number ranges and the slots' values live in a leaf (edge/home_values.py); NUMBER_RANGES re-exported for the cloud
from edge.home_values import _NAME_SLOTS, NUMBER_RANGES, result_slots, slot_values  # noqa: F401
from edge.home_words import (ACTS_ON, FREE_TEXT_NAME_INTENTS, KIND_ALONE, PLACE_ONLY_LIGHT, blank_names,
                             clock_time, command_misfit, confirmed, everywhere, implied_domains, volume_misfit,
                             volume_step)
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

_HA_INTENT = re.compile(r"^Hass[A-Z][A-Za-z0-9]{1,62}$")


# Intents whose target is a place plus a kind of thing, or a thing: with no target at all Home
# Assistant has nothing to act on (or, for a place alone, acts on everything there).
_TURN_INTENTS = frozenset({"HassTurnOn", "HassTurnOff", "HassGetState"})
_TARGETS = ("name", "area", "floor", "domain", "device_class")


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
    (edge/home_slotless.py's `NEEDS`: a timer without a duration, a light set to nothing). `found`'s offsets are into `text`
    as given (not stripped). `schema` is the package's `home_schema` (edge/names_schema.py: the slot
    sets, number ranges, unit words, place domains and lock words of HA's templates), None: not checked."""
    got = _decide(text, language, pred, found, names, served=served, threshold=threshold,
                  min_slot_confidence=min_slot_confidence, schema=schema)
    # the model sure of its intent but its reading refused: where the text is word for word one of HA's templates
    # (edge/home_rescue.py's `after_refusal`), decide again on the template's spans
    if isinstance(got, NotUnderstood) and got.reason in home_rescue.REREAD and pred.intent != OOS \
            and pred.confidence >= threshold and not isinstance(checked := check(text, language, served), NotUnderstood):
        read = home_rescue.after_refusal(schema, str(pred.intent), checked[0], text, names, found,
                                         carriers=bool(_HA_INTENT.match(str(pred.intent))))
        if read is not None:
            again = _decide(text, language, pred, found, names, served=served, threshold=threshold,
                            min_slot_confidence=min_slot_confidence, schema=schema, read=read)
            if isinstance(again, Recognized):
                return again
    if not isinstance(got, Recognized):
        return got
    lang = check(text, language, served)[0]   # an answer passed the input guard: its served language
    # a sure answer where Home Assistant's ranking puts a sibling intent first (edge/home_rescue.py's overrule)
    if read := home_rescue.overrule(schema, got.name, lang, text, found, names):
        again = _decide(text, language, pred, found, names, served=served, threshold=threshold,
                        min_slot_confidence=min_slot_confidence, schema=schema, read=read)
        if isinstance(again, Recognized):
            return again
    # a sure state question that dropped the state its one template reads (edge/home_agree.py's `completed`)
    if read := home_agree.completed(schema, got.name, dict(got.entities), lang, text, found, names):
        again = _decide(text, language, pred, found, names, served=served, threshold=threshold,
                        min_slot_confidence=min_slot_confidence, schema=schema, read=read)
        if isinstance(again, Recognized) and again.name == got.name and \
                home_agree.adds_only(dict(got.entities), dict(again.entities)):
            got = again
        elif isinstance(again, NotUnderstood):   # the state said is none decide reads ("detected" of a door): refused
            return NotUnderstood("dropped", f"the template's state is not read: {again.detail}")
    # a shopping-list answer where a to-do list's template names a list the home lacks (edge/home_shoplist.py)
    if why := home_shoplist.unknown_list(schema, got.name, lang, text, names):
        return why
    # an answer that names and reads nothing: only where a template of its intent says it (edge/home_slotless.py)
    if why := home_slotless.check(got, schema, lang, text, names):
        return why
    return got


def _decide(text: str, language: str | None, pred: Any, found: Sequence[Mapping[str, Any]], names: Any, *,
            served: Sequence[str], threshold: float, min_slot_confidence: float = MIN_SLOT_CONFIDENCE,
            schema: Mapping[str, Any] | None = None,
            read: tuple[str, Sequence[Mapping[str, Any]], str] | None = None) -> Recognized | NotUnderstood:
    """`decide`, once; with `read` ((intent, spans, what decided it): a template's reading), on those instead of
    the model's intent and the tagger's spans."""
    checked = check(text, language, served)
    if isinstance(checked, NotUnderstood):
        return checked
    lang = checked[0]
    intent, decided = pred.intent, ""
    if read is not None:
        intent, found, decided = read
    elif pred.intent == OOS or not pred.confidence >= threshold:  # NaN too
        # unsure, but the text is one of HA's own templates of one intent, whole (edge/home_rescue.py)
        carried = home_rescue.rescue(schema, pred.top_intent, lang, text, found, names) \
            if _HA_INTENT.match(str(pred.top_intent)) else None
        if carried is None:
            return NotUnderstood("unsure", f"{pred.top_intent} {pred.confidence:.2f}")
        intent, found, decided = carried   # the top intent or its sibling (edge/home_rescue.py's family)
    if not _HA_INTENT.match(intent):
        return NotUnderstood("not_home", "the model's label is no Home Assistant intent")
    # a wildcard's words (an item, a message, a timer's name) as HA's carrier phrases frame them
    found = home_wildcards.apply(schema, intent, lang, text, found, names)
    found = name_reading(text, lang, found, names, intent in FREE_TEXT_NAME_INTENTS)  # "Office" + "Shutter": one
    # a place cut short or run into a number ("*front* hall", "*Erdgeschoss 96* Grad"), before the numbers are read
    found = place_reading(text, lang, found, names, intent in FREE_TEXT_NAME_INTENTS)
    found = home_freetext.carried_query(schema, intent, lang, text, found, names)  # the query once the places are read
    # a duration under the unit its next word says ("twenty-two-hour" tagged seconds), then fractions
    tagged, found = found, home_numbers.number_runs(schema, intent, lang, text, found)
    found = halves(names_schema.unit_said(schema, lang, text, found), text, lang)
    found = timer_start(intent, lang, text, found, schema)  # "add 5 minutes to the *10 minute* timer": its start
    found = home_freetext.extend(text, lang, intent, found, names)  # "oat *milk*": free text as said
    found = home_freetext.trim_quantity(lang, intent, found)  # "play *some* jazz": the query is "jazz"
    got = slot_values(found, min_slot_confidence, intent, lang, confirmed(intent, lang, text, names, schema, found))
    if isinstance(got, NotUnderstood):
        return got
    # the one thing, area or floor said exactly and untagged ("Staubsauger aktivieren"), before the slot sets are judged
    if (span := untagged_target(text, lang, intent, got, found, names, schema, intent in FREE_TEXT_NAME_INTENTS,
                                intent in _TURN_INTENTS)) is not None:
        found, got = sorted([*found, span], key=lambda s: s.get("start", 0)), {**got, span["name"]: span["value"]}
    if intent == "HassSetVolumeRelative":
        got = volume_step(got, text, lang, found)
    # slots HA's templates never give this intent, a duration said in another unit, a number in no slot
    # a fraction read as HA's list reads it ("eineinhalb Minuten" -> seconds 90): a new span, not a number said
    read = [s for s in found if not any(s.get("start") == t.get("start") and s.get("raw") == t.get("raw")
                                        and s.get("value") == t.get("value") for t in tagged)]
    why = (names_schema.misfit(schema, intent, got, [str(s.get("name")) for s in read]) or names_schema.target_misfit(schema, intent, got)
           or names_schema.unit_misfit(schema, lang, unit_text(text, found, tagged, lang), found)
           or home_numbers.stray_number(schema, intent, lang, text, found)
           or volume_misfit(intent, lang, text, found, got)
           or delay_misfit(intent, lang, text, found, schema)
           or start_change_misfit(intent, lang, text, found, schema)
           or command_misfit(intent, lang, blank_names(text, found))
           or clock_time(intent, lang, text, found)
           or home_when.other_moment(intent, lang, text)
           or home_polarity.mute_misfit(intent, lang, text, found)
           or home_freetext.unnamed_timer(text, lang, intent, found, got))
    if why is not None:
        return NotUnderstood("slot", why)
    spans = {str(s["name"]): s for s in found}
    implied: dict[str, Any] = {}
    if intent in _TURN_INTENTS and not any(k in got for k in _TARGETS):
        kinds = implied_domains(text, lang) if intent in KIND_ALONE or everywhere(intent, lang, text) else []
        if len(kinds) != 1:
            return NotUnderstood("slot", f"{intent} names nothing to act on")
        # "which fans are on", "is any lock unlocked": HA's state templates say the kind as a plain word
        # (no slot), so the tagger marks nothing; a question of one kind asks about every one of them
        got["domain"], implied = kinds[0][0], _kind_span(*kinds[0])
    if intent == "HassStartTimer" and "conversation_command" not in got \
            and (verb := home_polarity.command_said(lang, text, found)) is not None:
        return NotUnderstood("slot", f"a command ({verb}) after the timer is not carried")
    if (short := home_slotless.missing(intent, got)) is not None:  # a timer without a duration
        return short
    if intent in _TURN_INTENTS and not any(k in got for k in ("name", "domain", "device_class")) \
            and ("area" in got or "floor" in got):
        kinds = implied_domains(text, lang)
        if len(kinds) > 1:  # "the fan and the lights in the kitchen": not everything in the kitchen
            return NotUnderstood("ambiguous", "several kinds of thing in one place")
        if kinds:
            got["domain"], implied = kinds[0][0], _kind_span(*kinds[0])
        elif intent in PLACE_ONLY_LIGHT:  # "allume le salon", "illumine les pièces de l'étage"
            got["domain"] = "light"
    if not any(k in got for k in ("name", "domain", "device_class")) and ("area" in got or "floor" in got):
        place_domain = names_schema.place_domain(schema, intent)  # "set the kitchen lights to 50%"
        if place_domain is not None:
            got["domain"] = place_domain
    res = _resolve(intent, got, lang, names, blank_names(text, found), schema, (text, found))
    if isinstance(res, NotUnderstood):
        return res
    if implied:
        spans["domain"] = implied
    if (why := home_guard.dropped(text, lang, res, spans.values(), names)) is not None:  # a name said, not carried
        # unless it is the reply's one target, untagged ("what's the temp in my Rec Room"): HA's reading
        span = said_target(text, lang, intent, got, list(spans.values()), names, schema,
                           intent in FREE_TEXT_NAME_INTENTS) if intent not in _TURN_INTENTS else None
        if span is None:
            return NotUnderstood("dropped", why)
        slots = {**got, span["name"]: span["value"]}
        if span["name"] != "name" and not any(k in got for k in ("domain", "device_class")) \
                and (place_domain := names_schema.place_domain(schema, intent)) is not None:
            slots["domain"] = place_domain  # as for a tagged place: "set the ground floor to daylight" is its lights
        retry = _resolve(intent, slots, lang, names, blank_names(text, found), schema, (text, found))
        if isinstance(retry, NotUnderstood) or home_guard.dropped(text, lang, retry, [*spans.values(), span], names):
            return NotUnderstood("dropped", why)
        res, spans[span["name"]] = retry, span
    # "pause the TV" as {}: the TV is named by its kind word (the schema says which kind words are the intent's own)
    said = home_guard.kind_names(text, lang, res, spans.values(), names, names_schema.place_domain(schema, intent)) \
        if schema is not None else []
    if said:
        named = _named_by_kind(intent, got, said, lang, names, text, found, schema)
        if isinstance(named, NotUnderstood):
            return named
        res, spans["name"] = named
    return Recognized(intent, res, pred.confidence, result_slots(res, spans, intent), decided)


def _named_by_kind(intent: str, got: Mapping[str, Any], said: Sequence[tuple[str, int, int, bool]], lang: str, names: Any,
                   text: str, found: Sequence[Mapping[str, Any]], schema: Mapping[str, Any] | None
                   ) -> tuple[tuple[tuple[str, Any], ...], dict[str, Any]] | NotUnderstood:
    """A reply with no target whose words name one thing by its kind word ("pause the TV"), with that thing as
    its `name`, as Home Assistant's "pause {name}" reads it; refused ("dropped") when several are said, the
    intent never takes a name alone, or the name does not resolve."""
    word, start, end, _ = next(m for m in said if m[3])
    slots = {**got, "name": word}
    if len(said) != 1 or intent in FREE_TEXT_NAME_INTENTS or names_schema.target_misfit(schema, intent, slots):
        return NotUnderstood("dropped", f"{word!r} names a thing the intent does not carry")
    res = _resolve(intent, slots, lang, names, blank_names(text, found), schema, (text, found))
    if isinstance(res, NotUnderstood):
        return res
    span = {"name": "name", "entity": "name", "raw": word, "value": word, "start": start, "end": end, "confidence": 1.0}
    if (why := home_guard.dropped(text, lang, res, [*found, span], names)) is not None:
        return NotUnderstood("dropped", why)
    return res, span


def _kind_span(said: str, start: int, end: int) -> dict[str, Any]:
    """The `domain` slot of a kind said as a plain word (edge.home_words.implied_domains): the words said,
    not the tagger's guess."""
    return {"name": "domain", "entity": "domain", "raw": said, "value": said, "start": start, "end": end,
            "confidence": 1.0}


def _resolve(intent: str, slots: dict[str, Any], lang: str, names: Any, text: str = "",
             schema: Mapping[str, Any] | None = None,
             said: tuple[str, Sequence[Mapping[str, Any]]] | None = None) -> tuple[tuple[str, Any], ...] | NotUnderstood:
    """The slots resolved to the names file's exact names, or why not. `text` is the transcript with the names
    blanked, `said` the transcript as said and the spans used (the on/off check reads words in context)."""
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
        domains = {i.split(".", 1)[0] for i in getattr(res, "entity_ids", ())}
        why = names_schema.polarity_misfit(schema, intent, lang, text, domains)
        # every other on/off: the words said must not say only the opposite (edge/home_polarity.py)
        if why is None and said is not None:
            why = home_polarity.onoff_misfit(intent, lang, said[0], said[1], domains)
        if why is not None:
            return NotUnderstood("polarity", why)
        # a thing named that the intent's handler does not act on ("turn the reading light down to 20 percent"
        # read as HassSetVolume of the Reading Light); a place alone covers every kind there, HA picks its own
        acts_on = ACTS_ON.get(intent) if "name" in slots else None
        odd = sorted({i.split(".", 1)[0] for i in getattr(res, "entity_ids", ())} - acts_on) if acts_on else []
        # nor a kind said that the handler never acts on ("set the lounge lamp to 40" as HassSetVolume: area
        # Living Room + domain light would set no volume)
        domain = slots.get("domain")
        if not odd and isinstance(domain, str) and ACTS_ON.get(intent) and domain not in ACTS_ON[intent]:
            odd = [domain]
        if odd:
            return NotUnderstood("conflict", f"{intent} does not act on a {odd[0]}")
        # "start" a place where no vacuum is, every vacuum being placed elsewhere ("démarrer la en haut", HA's
        # "turn on the lights upstairs", read as HassVacuumStart with the one vacuum downstairs): its verb is
        # also HA's on/off verb, so the intent was misread. Only this intent: "send the vacuum in the
        # kitchen back" names the vacuum's place in HA's templates loosely (the proxy's lines lost otherwise).
        if (intent == "HassVacuumStart" and "name" not in slots and "domain" not in slots and "vacuum" not in domains
                and names.all_placed_elsewhere(ACTS_ON[intent], slots.get("area"), slots.get("floor"))):
            return NotUnderstood("nothing_matches", "no vacuum there")
    elif any(k in slots for k in names_values.VALUE_SLOTS):  # no thing named: the values said, made HA's
        got = names_values.apply(slots, lang)
        if isinstance(got, str):
            return NotUnderstood("unknown", f"no {got} of that name")
        slots = got
    if free_name is not None:
        slots["name"] = free_name
    return tuple(slots.items())


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
        # a wake word said before the command ("alexa, ..."): the model and tagger read the command alone
        text = home_wake.command(checked[1], checked[0])
        pred = self.model.classify([text])[0]
        found = self.slots.extract(text, pred.intent) if self.slots is not None and pred.intent != OOS else []
        return decide(text, language, pred, found, self.names, served=self.languages, threshold=self.threshold,
                      min_slot_confidence=self.min_slot_confidence, schema=self.schema)
