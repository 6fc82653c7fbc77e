"""The Hermes NLU protocol (Rhasspy 2.5, Snips): answer `hermes/nlu/query` like any Rhasspy NLU service.

A voice satellite's dialogue manager publishes the transcript on
`hermes/nlu/query` and waits for `hermes/intent/<intentName>` or
`hermes/nlu/intentNotRecognized` carrying the same `id` and `sessionId`.
Field names follow rhasspy-hermes (`NluQuery`, `NluIntent`,
`NluIntentNotRecognized`) exactly, in camelCase on the wire.

Pure functions: parse a query, build the answers. The service runs the model
and publishes what `responses` returns (`hermes/nlu/intentParsed`, then
`hermes/intent/<intentName>`; or `hermes/nlu/intentNotRecognized`), and, for a
query it cannot parse, what `error_message` returns (`hermes/error/nlu`, when
the query's siteId or sessionId can be read, so the satellite does not wait for
its timeout). `respond` is the single main answer, for callers that publish one.

Slots (edge.slots' dicts, as in a result) become Rhasspy's `Slot`: `entity`,
`slotName`, `rawValue`, `value` {"kind", "value", ...}, `confidence`, `range`
{start, end, rawStart, rawEnd}. Value kinds follow the Snips/Rhasspy ontology:
Number, Ordinal, InstantTime, Duration, AmountOfMoney, Percentage, Temperature,
and Unknown for a user-defined entity (as Rhasspy's own NLU sends). The
query's `customData` and `asrConfidence` are copied onto the answers, as
Rhasspy's NLU services do (dialogue state that voice apps keep in customData
survives the round trip).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

from edge.contract import (
    INVALID_FIELD,
    INVALID_JSON,
    MISSING_TEXT,
    NOT_AN_OBJECT,
    OOS,
    BadRequest,
    decode_payload,
    encodable,
    loads,
)

QUERY_TOPIC = "hermes/nlu/query"
NOT_RECOGNIZED_TOPIC = "hermes/nlu/intentNotRecognized"
INTENT_PARSED_TOPIC = "hermes/nlu/intentParsed"
ERROR_TOPIC = "hermes/error/nlu"
DEFAULT_SITE = "default"
ERROR_READ_MAX_BYTES = 1 << 18  # error_message reads siteId/sessionId from a query up to this size


@dataclass(frozen=True, slots=True)
class HermesQuery:
    input: str
    id: str | None
    site_id: str
    session_id: str | None
    intent_filter: tuple[str, ...] | None  # None or empty: no restriction (as in Rhasspy)
    wakeword_id: str | None = None  # Rhasspy-only fields, echoed on the intent
    lang: str | None = None
    custom_data: str | None = None  # copied onto the intent and not-recognized messages
    asr_confidence: float | None = None  # copied onto the intent message


def _optional_str(obj: dict[str, Any], key: str, qid: str | None) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(INVALID_FIELD, f"{key} must be a string or null, got {type(value).__name__}", qid)
    if value is not None and not encodable(value):
        raise BadRequest(INVALID_FIELD, f"{key} has a lone surrogate (not encodable as UTF-8)", qid)
    return value


def _sanitise(value: str) -> str:
    """`value` with what UTF-8 cannot carry (lone surrogates, from JSON escapes) as U+FFFD."""
    return value if encodable(value) else _SURROGATE.sub("\ufffd", value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_query(payload: bytes, max_bytes: int) -> HermesQuery:
    """An `NluQuery` payload -> HermesQuery, or BadRequest with the contract's error codes.

    An empty or blank `input` is valid (a satellite whose speech recogniser heard
    nothing sends one): `respond` answers it with intentNotRecognized so the
    dialogue session ends instead of waiting for a timeout.
    """
    body = decode_payload(payload, max_bytes)
    try:
        obj = loads(body)  # the contract's parser: 5000-digit ints and 1e999999 are invalid_json too
    except (ValueError, RecursionError) as exc:
        raise BadRequest(INVALID_JSON, f"hermes query is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise BadRequest(NOT_AN_OBJECT, f"hermes query must be a JSON object, got {type(obj).__name__}")
    qid = obj.get("id")
    if qid is not None and not isinstance(qid, str):
        raise BadRequest(INVALID_FIELD, f"id must be a string or null, got {type(qid).__name__}")
    if qid is not None and not encodable(qid):  # (then not echoed in the error either)
        raise BadRequest(INVALID_FIELD, "id has a lone surrogate (not encodable as UTF-8)")
    if "input" not in obj:
        raise BadRequest(MISSING_TEXT, "field 'input' is missing", qid)
    text = obj["input"]
    if not isinstance(text, str):
        raise BadRequest(INVALID_FIELD, f"input must be a string, got {type(text).__name__}", qid)
    if not encodable(text):  # as for a request's text: every answer echoes it, and could not be encoded
        raise BadRequest(INVALID_FIELD, "input has a lone surrogate (not encodable as UTF-8)", qid)
    site_id = _optional_str(obj, "siteId", qid) or DEFAULT_SITE
    filt = obj.get("intentFilter")
    if filt is not None and not (isinstance(filt, list) and all(isinstance(i, str) and encodable(i) for i in filt)):
        raise BadRequest(INVALID_FIELD, "intentFilter must be a list of intent names or null", qid)
    asr = obj.get("asrConfidence")
    if asr is not None and (isinstance(asr, bool) or not isinstance(asr, (int, float)) or not math.isfinite(asr)):
        raise BadRequest(INVALID_FIELD, f"asrConfidence must be a number or null, got {asr!r:.40}", qid)
    return HermesQuery(
        input=text,
        id=qid,
        site_id=site_id,
        session_id=_optional_str(obj, "sessionId", qid),
        intent_filter=tuple(filt) if filt is not None else None,
        wakeword_id=_optional_str(obj, "wakewordId", qid),
        lang=_optional_str(obj, "lang", qid),
        custom_data=_optional_str(obj, "customData", qid),
        asr_confidence=float(asr) if asr is not None else None,
    )


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _topic_level(intent: str) -> str:
    """An intent name as one topic level; shipped labels are [a-z0-9_], user models may not be."""
    return "".join("_" if c in "+#/\x00" else c for c in intent) or OOS


MAX_ASR_TOKENS = 100  # words listed in asrTokens; the input itself is always there in full


def _asr_tokens(text: str) -> list[list[dict[str, Any]]]:
    """Whitespace tokens with their character ranges, one ASR invocation, as Rhasspy's own NLU sends:
    the first MAX_ASR_TOKENS words (a spoken command has a dozen; a 16 KiB query of one-letter
    words made a 645 KB message of them, 40 times the query)."""
    tokens = [{"value": m.group(), "confidence": 1.0, "rangeStart": m.start(), "rangeEnd": m.end(), "time": None}
              for m in itertools.islice(_WORD.finditer(text), MAX_ASR_TOKENS)]
    return [tokens]


_WORD = re.compile(r"\S+")  # what str.split() splits on, with the offsets


def _intent_obj(intent: str, confidence: float) -> dict[str, Any]:
    score = round(float(confidence), 4) if math.isfinite(confidence) else 0.0
    return {"intentName": intent, "confidenceScore": score}


_KINDS = {"number": "Number", "ordinal": "Ordinal", "datetime": "InstantTime", "duration": "Duration",
          "money": "AmountOfMoney", "percentage": "Percentage", "temperature": "Temperature"}


def _duration_value(seconds: float) -> dict[str, Any]:
    """Snips' Duration value: the parts, and the total in seconds as `value`."""
    rest = float(seconds)
    parts: dict[str, Any] = {}
    for name, size in (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        n = int(rest // size)
        parts[name] = n
        rest -= n * size
    secs = round(rest, 3)
    parts["seconds"] = int(secs) if float(secs).is_integer() else secs
    return {"kind": "Duration", "value": seconds, "years": 0, "quarters": 0, "months": 0, **parts,
            "precision": "Exact"}


def slot_value(slot: dict[str, Any]) -> dict[str, Any]:
    """A result slot's value in Rhasspy/Snips form: {"kind": ..., "value": ..., ...}."""
    entity = slot.get("entity")
    value = slot.get("value")
    kind = _KINDS.get(entity) if isinstance(entity, str) else None
    if kind == "Duration" and isinstance(value, (int, float)):
        return _duration_value(value)
    if kind in ("AmountOfMoney", "Temperature") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"kind": kind, "value": value, "unit": slot.get("unit"),
                **({"precision": "Exact"} if kind == "AmountOfMoney" else {})}
    if kind == "InstantTime" and isinstance(value, str):
        grain = "Day" if value[11:19] == "00:00:00" else ("Hour" if value[14:19] == "00:00" else "Minute")
        return {"kind": kind, "value": value, "grain": grain, "precision": "Exact"}
    if kind is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"kind": kind, "value": value}
    return {"kind": "Unknown", "value": value}


def hermes_slots(slots: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Result slots -> Rhasspy `Slot`s (camelCase on the wire)."""
    out = []
    for s in slots or ():
        start, end = int(s["start"]), int(s["end"])
        out.append({
            "entity": str(s.get("entity") or s["name"]),
            "value": slot_value(s),
            "slotName": str(s["name"]),
            "rawValue": str(s.get("raw", "")),
            "confidence": round(float(s.get("confidence", 1.0)), 4),
            "range": {"start": start, "end": end, "rawStart": start, "rawEnd": end},
        })
    return out


def intent_message(q: HermesQuery, intent: str, confidence: float,
                   slots: Sequence[dict[str, Any]] | None = None) -> tuple[str, bytes]:
    """`hermes/intent/<intentName>` with an `NluIntent` payload."""
    payload = {
        "input": q.input,
        "intent": _intent_obj(intent, confidence),
        "siteId": q.site_id,
        "id": q.id,
        "slots": hermes_slots(slots),
        "sessionId": q.session_id,
        "customData": q.custom_data,
        "asrTokens": _asr_tokens(q.input),
        "asrConfidence": q.asr_confidence,
        "rawInput": q.input,
        "wakewordId": q.wakeword_id,
        "lang": q.lang,
    }
    return f"hermes/intent/{_topic_level(intent)}", _encode(payload)


def intent_parsed_message(q: HermesQuery, intent: str, confidence: float,
                          slots: Sequence[dict[str, Any]] | None = None) -> tuple[str, bytes]:
    """`hermes/nlu/intentParsed` (`NluIntentParsed`): Rhasspy's NLU sends it just before the intent;
    a few tools listen to it rather than `hermes/intent/#`."""
    payload = {
        "input": q.input,
        "intent": _intent_obj(intent, confidence),
        "siteId": q.site_id,
        "id": q.id,
        "slots": hermes_slots(slots),
        "sessionId": q.session_id,
    }
    return INTENT_PARSED_TOPIC, _encode(payload)


def not_recognized_message(q: HermesQuery) -> tuple[str, bytes]:
    """`hermes/nlu/intentNotRecognized` (`NluIntentNotRecognized`)."""
    payload = {"input": q.input, "siteId": q.site_id, "id": q.id, "customData": q.custom_data,
               "sessionId": q.session_id}
    return NOT_RECOGNIZED_TOPIC, _encode(payload)


def error_message(payload: bytes, error: str) -> tuple[str, bytes] | None:
    """`hermes/error/nlu` (`NluError`) for a query that could not be parsed, or None when neither its
    siteId nor its sessionId can be read (then nobody is waiting that could be told), or when the
    payload is over ERROR_READ_MAX_BYTES (a query refused as too large is not parsed at any size)."""
    if len(payload) > ERROR_READ_MAX_BYTES:
        return None
    try:
        obj = json.loads(payload.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    site, session = obj.get("siteId"), obj.get("sessionId")
    site = _sanitise(site) if isinstance(site, str) else None
    session = _sanitise(session) if isinstance(session, str) else None
    if site is None and session is None:
        return None
    text = obj.get("input")
    # Whatever made the query fail may be in these fields (a lone surrogate): the error must still
    # be encodable, or the satellite waits out its timeout.
    body = {"error": _sanitise(str(error)), "siteId": site or DEFAULT_SITE,
            "context": _sanitise(text) if isinstance(text, str) else None, "sessionId": session}
    return ERROR_TOPIC, _encode(body)


def recognized(q: HermesQuery, intent: str, confidence: float, threshold: float) -> bool:
    """Whether the model's answer counts as a recognised intent for this query."""
    # A NaN confidence compares false with everything: treat it as no confidence at all.
    if not q.input.strip() or intent == OOS or not math.isfinite(confidence) or confidence < threshold:
        return False
    # An empty filter means no restriction, as in Rhasspy's own NLU services.
    return not q.intent_filter or intent in q.intent_filter


def respond(q: HermesQuery, intent: str, confidence: float, threshold: float,
            slots: Sequence[dict[str, Any]] | None = None) -> tuple[str, bytes]:
    """The one main answer to a query: the intent message, or intentNotRecognized when the input is
    blank, the intent is out of scope (`oos`), its confidence is below `threshold`, or `intentFilter`
    excludes it."""
    if recognized(q, intent, confidence, threshold):
        return intent_message(q, intent, confidence, slots)
    return not_recognized_message(q)


def responses(q: HermesQuery, intent: str, confidence: float, threshold: float,
              slots: Sequence[dict[str, Any]] | None = None) -> list[tuple[str, bytes]]:
    """Every message to publish for a query, in order, as Rhasspy's NLU sends them:
    `hermes/nlu/intentParsed` then `hermes/intent/<intentName>`; or `hermes/nlu/intentNotRecognized`."""
    if recognized(q, intent, confidence, threshold):
        return [intent_parsed_message(q, intent, confidence, slots), intent_message(q, intent, confidence, slots)]
    return [not_recognized_message(q)]
