"""The home cloud path for MQTT escalations: what edge.escalation needs beyond edge.home_cloud's call and check.

A daemon running a home model (its labels are Home Assistant's `Hass*` intents) escalates over MQTT
as it always did (low confidence, `cloud_preferred`, the deferred queue, the deadline), but the call
is the home one (edge.home_cloud.ask: the served intents and the names file's names) and the reply
passes the home checks (edge.home_cloud.check) before it becomes a result:

- `Recognized` -> a result with `source: "cloud"`, the cloud's intent and its slots resolved (values
  the names file's exact names, numbers as numbers), each slot on the words of the request it came
  from when they can be found (`result_slots`), stood behind (the intent topic);
- `Answered` (a question) -> a result with intent `oos` and the answer in `answer`, as the generic
  path gives a question;
- `NotUnderstood` (the reply failed a check, or chose no intent) -> the device's own result stands,
  `not_recognized` and all, with reason `cloud_error`: never on the intent topic.

`HomeAsk` is what edge.escalation asks with for one request: the prompt of the model answering (the
pipeline's `home_prompt`) and the served language the request is in (edge.pipeline's `home_language`;
a request deferred while the cloud was down keeps it in its queued record: edge.escalation.defer_record).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from edge.contract import OOS
from edge.home import FREE_TEXT_NAME_INTENTS, MAX_TEXT
from edge.home_results import Answered, Recognized
from edge.home_cloud import check
from edge.home_cloud import ask as ask_prompt
from edge.home_cloud_prompt import HomePrompt

__all__ = ["HomeAsk", "ask", "result", "result_slots"]

log = logging.getLogger("edge.home_cloud")

_THINGS = ("name", "area", "floor")


@dataclass(frozen=True)
class HomeAsk:
    """One home escalation: the prompt of the model that answered the request, its served language."""

    prompt: HomePrompt
    lang: str


def ask(cloud: Any, home: HomeAsk, text: str, redact: bool) -> Any:
    """Pool thread: the home call for one request (redacted first with `[cloud] redact`); the reply's
    JSON value. Raises edge.cloud.CloudError like any call (the escalation's bookkeeping takes it)."""
    said = text
    if redact:
        from edge.cloud import redact as scrub

        said = scrub(text)
    return ask_prompt(cloud, home.prompt, home.lang, text, said)[0]


def result(answers: Any, health: Any, request: Any, device: Any, t0: float, reply: Any, home: HomeAsk,
           reason: str, record: bool = True) -> Any:
    """On the loop: the reply checked (edge.home_cloud.check) -> the cloud's edge.results.Result (a
    checked intent with resolved slots, or a question's answer under `oos`), built by `answers`
    (edge.answers.Answers.cloud, `device`'s confidence); None when the checks refuse it (the caller
    keeps the device's result). Health counts `cloud_home_intents` and `cloud_refused`."""
    checked = check(reply, request.text, home.lang, home.prompt)
    if isinstance(checked, Recognized):
        health.count("cloud_home_intents")
        return answers.cloud(request, device, [], checked.name, None, reason, t0, record=record,
                             checked_slots=result_slots(request.text, checked, home.prompt))
    if isinstance(checked, Answered):
        return answers.cloud(request, device, [], OOS, checked.text, reason, t0, record=record, checked_slots=[])
    health.count("cloud_refused")
    log.info("cloud reply for %s refused by the home checks: %s %s", request.id, checked.reason,
             checked.detail[:120])
    return None


def result_slots(text: str, rec: Recognized, prompt: HomePrompt) -> list[dict[str, Any]]:
    """The cloud's checked entities as MQTT result slots (edge.contract's form). Each sits on the words
    of `text` it came from when they can be found (a name or one of its aliases, a number's digits,
    free text as said, the kind's word; case aside, whole words, not overlapping an earlier slot);
    else `raw` is "" at 0..0 (the cloud mapped "cuisine" to Kitchen: no words say "Kitchen"), which
    keeps the contract's `raw == text[start:end]`. `entity` is the slot's own name, `confidence` 1.0
    (the cloud gives none; the result's confidence is the device's, as on every cloud result)."""
    text = text[:MAX_TEXT]
    taken: list[tuple[int, int]] = []
    out: list[dict[str, Any]] = []
    for key, value in rec.entities:
        span = None
        for words in _candidates(key, value, rec.name, prompt):
            span = _find(text, words, taken)
            if span is not None:
                break
        start, end = span if span is not None else (0, 0)
        if span is not None:
            taken.append(span)
        out.append({"name": key, "entity": key, "raw": text[start:end], "value": value, "start": start,
                    "end": end, "confidence": 1.0})
    out.sort(key=lambda s: (s["start"], s["name"]))
    return out


def _candidates(key: str, value: Any, intent: str, prompt: HomePrompt) -> list[str]:
    """The words `value` may have been said with, most specific first."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)] + ([str(value).replace(".", ",")] if isinstance(value, float) else [])
    if not isinstance(value, str):
        return []
    if key in _THINGS and not (key == "name" and intent in FREE_TEXT_NAME_INTENTS) and prompt.names is not None:
        by_id, areas, floors = prompt.lookups()
        items: list[Any] = []
        if key == "area":
            items = [areas[value]] if value in areas else []
        elif key == "floor":
            items = [floors[value]] if value in floors else []
        else:
            items = [e for e in by_id.values() if e.name == value]
        said = [n for item in items for n in (item.name, *getattr(item, "aliases", ()))]
        return sorted(dict.fromkeys(said), key=len, reverse=True)  # "kitchen lights" before "kitchen"
    return [value, value + "s"] if key in ("domain", "device_class") else [value]


def _find(text: str, words: str, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    """`words` in `text` (case aside, whole words, blanks as any blanks) clear of the spans taken."""
    parts = words.split()
    if not parts or len(words) > MAX_TEXT:
        return None
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(p) for p in parts) + r"(?!\w)", re.IGNORECASE)
    for m in pattern.finditer(text):
        if not any(m.start() < e and s < m.end() for s, e in taken):
            return m.start(), m.end()
    return None
