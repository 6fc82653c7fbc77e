"""The cloud path for home commands: when the home model does not stand behind a transcript, ask the cloud.

    recognizer = HomeCloud(HomeRecognizer(model, slots, names), cloud, router, pool,
                           timeout_s=settings.cloud.timeout_s, redact=settings.cloud.redact)
    result = recognizer.recognize("make it bright in the kitchen", "en")  # a result, or an awaitable of one

The home recognizer (edge.home) answers first. Only when it says `NotUnderstood` for a reason the cloud
could help with (the model unsure or out of scope, a slot or name it could not resolve; not a language
it does not serve, nor empty or over-long text) does this ask the cloud, under the daemon's own rules for
MQTT escalations: the same `Router` (mode `local_only`, the circuit breaker: open means no call) and the
same `Budget` (`spend()` takes the call, or there is none). The call is a blocking HTTP request, so it
runs on the daemon's cloud pool; its result comes back to the loop, where the Wyoming connection waits
for it at most `timeout_s`. At most `max_in_flight` ([cloud] workers) calls from here are out at once;
a transcript beyond them is not-recognized at once, its budget not spent. Anything that goes wrong
leaves the home model's `NotUnderstood` standing.

The cloud is asked to reply with one JSON object: `{"intent": <one served Hass* intent>, "slots":
{...}}` for a home command, `{"answer": <text>}` for a question, `{"intent": "none"}` otherwise. The
spec's general Cloud call shape is taken too: `{"intent": "oos", "answer": <text>}` is an answer,
`{"intent": <served intent>, "answer": <text>}` that intent with no slots (the answer a remark, dropped). What
comes back is checked as if it were hostile, because the transcript is: whoever speaks can try to talk
the cloud into something. Everything below is `NotUnderstood`, never a guess:

- not exactly one of those shapes (an extra key, a wrong type, not JSON, too big: the client's cap);
- an intent the model does not serve, a slot that intent does not have, more than `MAX_SLOTS` slots;
- a number slot that is no JSON number, out of Home Assistant's range (edge.home.NUMBER_RANGES), or,
  when the transcript says numbers, none of those numbers;
- a name, area or floor that edge.names does not resolve (exactly as it resolves the model's spans),
  or that the transcript does not mention (none of the thing's name's or aliases' words were said):
  the cloud may map "cuisine" to "Kitchen", never choose a thing nobody named;
- free text (a shopping item, a timer's name, a search) that is not whole words of the transcript;
- on/off, open/close, lock/unlock (HassTurnOn/HassTurnOff) whose direction the transcript contradicts
  (words of the other direction, or of both: refused), or, for a lock or a cover, does not say at all
  ("I can't see a thing in the office" may switch the office lights on; the door needs "lock");
- unlocking a lock or opening a door, garage door or gate: never on the cloud's word (the device's own
  model may still do it), since a transcript that can be made to say so is all an attacker needs.

An answer to a question is `Answered`, its text cleaned like a cloud answer on MQTT
(edge.cloud.clean_answer: at most 500 characters, no control or bidi characters).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from concurrent.futures import Executor, Future
from typing import Any, Awaitable, Callable, Sequence

from edge.contract import OOS
from edge.home import FREE_TEXT_NAME_INTENTS, NUMBER_RANGES
from edge.home_results import Answered, NotUnderstood, Recognized, Result, base_language
from edge.home_cloud_prompt import KIND_SLOTS, TURN, HomePrompt, Said

__all__ = ["HomeCloud", "HomePrompt", "validate", "check", "ask", "maker", "ESCALATE", "MAX_SLOTS"]

log = logging.getLogger("edge.home_cloud")

# The home recognizer's refusals the cloud may overturn: the model unsure or out of scope, a label
# that is no home intent, a slot or a name it could not make sense of, a thing said but missing from
# the intent (edge.home_guard: the cloud is then checked by the same rules). Not: a language it does not
# serve, text that is empty, too long or no text, or an internal error.
ESCALATE = frozenset({"unsure", "not_home", "slot", "number", "no_names", "unknown", "ambiguous", "conflict",
                      "not_a_thing", "nothing_matches", "empty_span", "dropped"})
MAX_SLOTS = 8  # slots in one reply: an intent has at most six
MAX_VALUE_CHARS = 128  # a slot's text; names are at most 128 (edge.names_file.MAX_NAME_CHARS)
MAX_TOKENS = 200  # the reply: an intent and a few slots, or a two-sentence answer
_NAME_SLOTS = ("name", "area", "floor")

# Words that say a direction, folded (edge.names_text.fold: lower case, no accents), per language.
# HassTurnOn is on / open / lock / start; HassTurnOff is off / close / unlock / stop. Words with another
# common meaning are left out (German "zu" is also "too", "auf" also "on top of"; Spanish "para" is
# "for"): a word missing here makes a lock or cover command not-recognized, and for other things
# leaves the direction to the cloud, as when nothing says one ("I can't see a thing in here").
_ON = {
    "en": {"on", "open", "opens", "opening", "lock", "locks", "locked", "start", "activate", "enable", "raise", "up"},
    "de": {"an", "ein", "einschalten", "anschalten", "anmachen", "einmachen", "offne", "offnen", "oeffne",
           "oeffnen", "aufmachen", "abschliessen", "absperren", "verriegeln", "verriegle", "starte",
           "starten", "aktiviere", "aktivieren", "hoch"},
    "fr": {"allume", "allumer", "allumez", "ouvre", "ouvrir", "ouvrez", "verrouille", "verrouiller",
           "verrouillez", "active", "activer", "activez", "demarre", "demarrer", "lance", "monte", "monter"},
    "es": {"enciende", "encender", "encienda", "prende", "prender", "abre", "abrir", "abra", "bloquea",
           "bloquear", "activa", "activar", "arranca", "sube", "subir"},
}
_OFF = {
    "en": {"off", "close", "closes", "closing", "shut", "unlock", "unlocks", "unlocked", "stop", "deactivate",
           "disable", "kill", "lower", "down"},
    "de": {"aus", "ausschalten", "abschalten", "ausmachen", "schliesse", "schliess", "schliessen", "zumachen",
           "aufschliessen", "aufsperren", "entriegeln", "entriegle", "stoppe", "stoppen", "deaktiviere",
           "deaktivieren", "runter", "herunter"},
    "fr": {"eteins", "eteindre", "eteignez", "eteint", "ferme", "fermer", "fermez", "deverrouille",
           "deverrouiller", "deverrouillez", "desactive", "desactiver", "coupe", "couper", "arrete",
           "arreter", "baisse", "baisser", "descends"},
    "es": {"apaga", "apagar", "apague", "cierra", "cerrar", "cierre", "desbloquea", "desbloquear",
           "desactiva", "desactivar", "detener", "baja", "bajar", "corta"},
}
# Opened or unlocked only by the device's own model: the cloud's word is not enough (see the docstring).
_GUARDED_COVERS = frozenset({"door", "garage", "gate"})


# --- the reply ---------------------------------------------------------------------------------


def _refuse(why: str) -> NotUnderstood:
    return NotUnderstood("cloud", why)


def validate(reply: Any, text: str, lang: str, prompt: HomePrompt) -> Result:
    """The cloud's JSON value -> Recognized | Answered | NotUnderstood; see the module docstring."""
    from edge.cloud import clean_answer

    if not isinstance(reply, dict):
        return _refuse("the reply is not a JSON object")
    keys = set(reply)
    # The spec's Cloud call shape, {"intent": label or "oos", "answer": str}, exactly: with "oos" an answer (what
    # a cloud prompted for MQTT requests, or a proxy in front of one, replies), with a served intent that intent
    # without slots, its "answer" a remark, dropped. A mix of both shapes ("slots" and "answer") stays refused.
    if keys == {"intent", "answer"}:
        keys = {"answer"} if reply.get("intent") == OOS else {"intent"}
    if keys == {"answer"}:
        answer = reply["answer"]
        if not isinstance(answer, str):
            return _refuse("answer is not text")
        cleaned = clean_answer(answer)
        return Answered(cleaned) if cleaned else _refuse("an empty answer")
    if not keys or not keys <= {"intent", "slots"}:
        return _refuse("the reply's keys are not intent and slots, nor answer alone")
    intent = reply.get("intent")
    if not isinstance(intent, str):
        return _refuse("intent is not text")
    if intent == "none" and keys == {"intent"}:
        return _refuse("the cloud chose no intent")
    if intent not in prompt.intents:
        return _refuse(f"intent {intent[:40]!r} is not served")
    slots = reply.get("slots", {})
    if slots is None:
        slots = {}
    if not isinstance(slots, dict) or len(slots) > MAX_SLOTS:
        return _refuse(f"slots is not an object of at most {MAX_SLOTS}")
    allowed = prompt.intents[intent]
    said = Said.of(text, lang)
    got: dict[str, Any] = {}
    for name, value in slots.items():
        if name not in allowed:
            return _refuse(f"{intent} has no slot {str(name)[:40]!r}")
        if name in NUMBER_RANGES:
            lo, hi = NUMBER_RANGES[name]
            # range before isfinite: a 400-digit integer compares fine but does not convert to a float
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi \
                    or not math.isfinite(value):
                return _refuse(f"{name} is no number in {lo:g}..{hi:g}")
            spoken = said.numbers()
            if spoken and float(value) not in spoken:
                return _refuse(f"{name} {value!r} is not a number the request says")
            got[name] = int(value) if float(value).is_integer() else float(value)
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE_CHARS:
            return _refuse(f"{name} is not a short text")
        free = name not in (*_NAME_SLOTS, *KIND_SLOTS) or (name == "name" and intent in FREE_TEXT_NAME_INTENTS)
        if free and not said.says(value):
            return _refuse(f"{name}: its text is not words of the request")
        got[name] = value.strip()
    direction = None
    if intent in TURN:
        on, off = said.toks & _ON.get(said.lang.code, set()), said.toks & _OFF.get(said.lang.code, set())
        if (on and off) or (off if intent == "HassTurnOn" else on):
            return _refuse(f"{intent}: the request says the other direction, or both")
        direction = bool(on or off)
    return _resolve(intent, got, lang, prompt, said, direction)


def _resolve(intent: str, got: dict[str, Any], lang: str, prompt: HomePrompt, said: Said,
             direction: bool | None) -> Result:
    """Names, areas and floors through edge.names exactly as the model's spans go, then the checks
    that need to know what they came to. `direction`: whether the words say on/off (HassTurn*)."""
    names = prompt.names
    free_name = got.pop("name", None) if intent in FREE_TEXT_NAME_INTENTS else None
    entity_ids: tuple[str, ...] = ()
    if any(k in got for k in (*_NAME_SLOTS, *KIND_SLOTS)):
        if names is None:
            return NotUnderstood("no_names", "a thing is named but there is no names file")
        res = names.resolve(got, lang)
        reason = getattr(res, "reason", None)
        if reason is not None:
            return NotUnderstood(str(reason), "cloud: " + str(getattr(res, "detail", "")))
        if getattr(res, "fuzzy", False):
            return _refuse("a name only close to one in the file")  # the cloud was told the exact names
        out = dict(res.slots)
        entity_ids = tuple(res.entity_ids)
        by_id, areas, floors = prompt.lookups()
        mentioned = [("area", areas.get(out.get("area"))), ("floor", floors.get(out.get("floor")))]
        if "name" in out:
            mentioned.append(("name", by_id.get(entity_ids[0]) if len(entity_ids) == 1 else None))
        for slot, item in mentioned:
            if slot in out and (item is None or not said.mentions(item)):
                return _refuse(f"the request does not mention that {slot}")
        covered = [by_id[i] for i in entity_ids if i in by_id]
        if direction is False and any(e.domain in ("lock", "cover") for e in covered):
            return _refuse("locking or opening a lock or cover the request gives no direction for")
        if intent == "HassTurnOff" and any(e.domain == "lock" for e in covered):
            return _refuse("unlocking is not done on the cloud's word")
        if intent in ("HassTurnOn", "HassSetPosition") and any(
                e.domain == "cover" and e.device_class in _GUARDED_COVERS for e in covered):
            return _refuse("opening a door, garage door or gate is not done on the cloud's word")
        got = out
    elif intent in TURN:
        return _refuse(f"{intent} names nothing to act on")
    if free_name is not None:
        got["name"] = free_name
    return Recognized(intent, tuple(got.items()), 0.0)


# --- the call and the check, for Wyoming (HomeCloud) and MQTT escalations (edge.escalation) -----


def ask(cloud: Any, prompt: HomePrompt, lang: str, text: str, said: str) -> tuple[Any, float]:
    """Pool thread: one blocking call with the home prompt (the names picked for `text`); (the reply's
    JSON value, latency ms). `said` is `text` as it may leave the device (redacted when configured).
    Raises edge.cloud.CloudError like any cloud call."""
    return cloud.chat_json(prompt.system(lang, text), HomePrompt.user(said), MAX_TOKENS)


def check(reply: Any, text: str, lang: str, prompt: HomePrompt) -> Result:
    """`validate`, for the loop: a check that trips over a shape nobody foresaw is a refusal
    (`NotUnderstood("error")`, logged), never an exception into the caller."""
    try:
        return validate(reply, text, lang, prompt)
    except Exception:
        log.exception("checking the cloud's reply failed; refused")
        return NotUnderstood("error", "checking the cloud's reply failed")


# --- the recognizer ----------------------------------------------------------------------------


class InFlight:
    """The cloud calls from the Wyoming path out at once, and how many may be. One per channel, shared by
    every HomeCloud it builds: a names refresh or a model swap makes a new recognizer while calls of the
    old one are still out, and a count of its own would let a burst past the limit (and past the pool's
    workers) for as long as those calls last. Read and written on the loop only."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.busy = 0


class HomeCloud:
    """A `Recognizer` (edge.home): the home recognizer, and the cloud where it does not stand behind a
    transcript. `local` is an edge.home.HomeRecognizer (its model's labels, its slot extractor's intents
    and its names file make the prompt); `cloud` an edge.cloud.CloudClient; `router` the daemon's
    edge.router.Router (its budget is the daemon's); `pool` the daemon's cloud pool; `health` the
    daemon's edge.health.Health (counters), or None."""

    def __init__(self, local: Any, cloud: Any, router: Any, pool: Executor, *, timeout_s: float,
                 redact: bool = True, health: Any = None, max_in_flight: int = 2,
                 in_flight: InFlight | None = None) -> None:
        self.local = local
        # Calls in flight at once (the pool's workers): a transcript beyond them is not-recognized at
        # once, without spending a call that could only wait out its deadline. `in_flight` is the
        # channel's count, shared with the recognizers built before and after this one (see InFlight).
        self.in_flight = in_flight if in_flight is not None else InFlight(max_in_flight)
        self.cloud = cloud
        self.router = router
        self.pool = pool
        self.timeout_s = float(timeout_s)
        self.redact = redact
        self.health = health
        labels = getattr(local.model, "labels", ())
        self.prompt = HomePrompt.of(labels, getattr(local.slots, "intents", None), local.names)
        if local.names is not None and len(local.names.entities) > 500:  # a big home: index it off the loop now
            try:
                pool.submit(self.prompt.warm, tuple(local.languages))
            except RuntimeError:
                pass  # the pool is shut down: the first call indexes

    @property
    def languages(self) -> Sequence[str]:
        return self.local.languages

    @property
    def model(self) -> Any:
        return self.local.model

    def recognize(self, text: str, language: str | None) -> Result | Awaitable[Result]:
        local = self.local.recognize(text, language)
        if not isinstance(local, NotUnderstood) or local.reason not in ESCALATE:
            return local
        lang = self.local.languages[0] if language is None else base_language(language, self.local.languages)
        if lang is None:
            return local
        from edge.router import CLOUD

        decision = self.router.decide(OOS, 0.0, None)  # as an MQTT request the device is unsure of
        if decision.action != CLOUD:  # local_only, no cloud, over budget, the breaker open
            self._count(f"wyoming_cloud_{decision.reason}")
            return local
        return self._ask(text, lang, local)

    async def _ask(self, text: str, lang: str, local: NotUnderstood) -> Result:
        # Up to the first await this runs as soon as the server awaits it, before any other transcript
        # is looked at: the count and the spend cannot race.
        if self.in_flight.busy >= self.in_flight.limit:  # a burst: more would only wait out the deadline in the queue
            self._count("wyoming_cloud_busy")
            return local
        if not self.router.budget.spend():  # takes the call and writes it to the ledger, as MQTT's do
            self._count("wyoming_cloud_budget")
            return local
        self.in_flight.busy += 1
        try:
            return await self._call_and_check(text, lang, local)
        finally:
            self.in_flight.busy -= 1

    async def _call_and_check(self, text: str, lang: str, local: NotUnderstood) -> Result:
        loop = asyncio.get_running_loop()
        prompt = self.prompt  # read once: a model swap meanwhile does not mix two prompts
        abandoned = threading.Event()
        said = text
        if self.redact:
            from edge.cloud import redact

            said = redact(text)
        self._count("wyoming_cloud_calls")
        try:
            future: Future = self.pool.submit(self._call, prompt, lang, text, said, abandoned)
        except RuntimeError:  # the pool is shut down: a stop is under way
            return local
        future.add_done_callback(lambda f: self._record(loop, f))
        try:
            async with asyncio.timeout(self.timeout_s):
                reply, _ms = await asyncio.wrap_future(future)
        except TimeoutError:
            abandoned.set()
            self._count("wyoming_cloud_deadline")
            return local
        except asyncio.CancelledError:
            abandoned.set()
            raise
        except Exception as exc:  # a CloudError (recorded by _record), or anything unforeseen
            log.info("cloud call for a transcript failed (%s); not-recognized stands", exc)
            return local
        result = check(reply, text, lang, prompt)
        if isinstance(result, NotUnderstood):
            if result.reason == "error":  # a check that tripped (logged by check): the model's refusal stands
                return local
            self._count("wyoming_cloud_refused")
            log.info("cloud reply for a transcript refused: %s %s", result.reason, result.detail[:120])
            return result
        self._count("wyoming_cloud_answers")
        return result

    def _call(self, prompt: HomePrompt, lang: str, text: str, said: str,
              abandoned: threading.Event) -> tuple[Any, float]:
        """Pool thread: the prompt (names picked for this transcript) and the blocking call, unless the
        connection gave up waiting while this was queued. `said` is `text` as it may leave the device."""
        if abandoned.is_set():
            raise _Abandoned()
        return ask(self.cloud, prompt, lang, text, said)

    def _record(self, loop: asyncio.AbstractEventLoop, future: Future) -> None:
        """The call's outcome for the breaker, whether anyone still waits for it (on the loop)."""
        def record() -> None:
            from edge.cloud import CloudError

            exc = future.exception() if not future.cancelled() else None
            if future.cancelled() or isinstance(exc, _Abandoned):
                return
            if exc is None:
                self.router.record_success()
            elif isinstance(exc, CloudError):
                self.router.record_failure(exc.retry_after)
                if self.health is not None:
                    self.health.record_cloud_error()
            else:
                log.error("cloud call for a transcript failed unexpectedly", exc_info=exc)
        try:
            loop.call_soon_threadsafe(record)
        except RuntimeError:  # the loop is closed: the daemon has stopped, nothing left to record
            pass

    def _count(self, name: str) -> None:
        if self.health is not None:
            self.health.count(name)


class _Abandoned(Exception):
    """A queued call nobody waits for any more: not made, and no outcome for the breaker."""


def maker(cloud: Any, router: Any, pool: Executor, settings: Any, health: Any = None
          ) -> Callable[[Any], HomeCloud]:
    """local recognizer -> HomeCloud with the daemon's cloud parts (edge.wyoming_channel.channel uses this).
    Every HomeCloud it makes shares one in-flight count ([cloud] workers), across names and model swaps."""
    in_flight = InFlight(settings.cloud.workers)
    return lambda local: HomeCloud(local, cloud, router, pool, timeout_s=settings.cloud.timeout_s,
                                   redact=settings.cloud.redact, health=health, in_flight=in_flight)
