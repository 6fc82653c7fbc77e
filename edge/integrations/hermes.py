"""The Hermes NLU protocol (Rhasspy 2.5, Snips): answer `hermes/nlu/query` like any Rhasspy NLU service.

A voice satellite's dialogue manager publishes the transcript on
`hermes/nlu/query` and waits for `hermes/intent/<intentName>` or
`hermes/nlu/intentNotRecognized` carrying the same `id` and `sessionId`.
Field names follow rhasspy-hermes (`NluQuery`, `NluIntent`,
`NluIntentNotRecognized`) exactly, in camelCase on the wire.

Pure functions: parse a query, build the answer. The service runs the model
and publishes what `respond` returns.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from edge.contract import (
    INVALID_FIELD,
    INVALID_JSON,
    MISSING_TEXT,
    NOT_AN_OBJECT,
    OOS,
    BadRequest,
    decode_payload,
)

QUERY_TOPIC = "hermes/nlu/query"
NOT_RECOGNIZED_TOPIC = "hermes/nlu/intentNotRecognized"
INTENT_PARSED_TOPIC = "hermes/nlu/intentParsed"
DEFAULT_SITE = "default"


@dataclass(frozen=True, slots=True)
class HermesQuery:
    input: str
    id: str | None
    site_id: str
    session_id: str | None
    intent_filter: tuple[str, ...] | None  # None or empty: no restriction (as in Rhasspy)
    wakeword_id: str | None = None  # Rhasspy-only fields, echoed on the intent
    lang: str | None = None


def _optional_str(obj: dict[str, Any], key: str, qid: str | None) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(INVALID_FIELD, f"{key} must be a string or null, got {type(value).__name__}", qid)
    return value


def parse_query(payload: bytes, max_bytes: int) -> HermesQuery:
    """An `NluQuery` payload -> HermesQuery, or BadRequest with the contract's error codes.

    An empty or blank `input` is valid (a satellite whose speech recogniser heard
    nothing sends one): `respond` answers it with intentNotRecognized so the
    dialogue session ends instead of waiting for a timeout.
    """
    body = decode_payload(payload, max_bytes)
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(INVALID_JSON, f"hermes query is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadRequest(NOT_AN_OBJECT, f"hermes query must be a JSON object, got {type(obj).__name__}")
    qid = obj.get("id")
    if qid is not None and not isinstance(qid, str):
        raise BadRequest(INVALID_FIELD, f"id must be a string or null, got {type(qid).__name__}")
    if "input" not in obj:
        raise BadRequest(MISSING_TEXT, "field 'input' is missing", qid)
    text = obj["input"]
    if not isinstance(text, str):
        raise BadRequest(INVALID_FIELD, f"input must be a string, got {type(text).__name__}", qid)
    site_id = _optional_str(obj, "siteId", qid) or DEFAULT_SITE
    filt = obj.get("intentFilter")
    if filt is not None and not (isinstance(filt, list) and all(isinstance(i, str) for i in filt)):
        raise BadRequest(INVALID_FIELD, "intentFilter must be a list of intent names or null", qid)
    return HermesQuery(
        input=text,
        id=qid,
        site_id=site_id,
        session_id=_optional_str(obj, "sessionId", qid),
        intent_filter=tuple(filt) if filt is not None else None,
        wakeword_id=_optional_str(obj, "wakewordId", qid),
        lang=_optional_str(obj, "lang", qid),
    )


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _topic_level(intent: str) -> str:
    """An intent name as one topic level; shipped labels are [a-z0-9_], user models may not be."""
    return "".join("_" if c in "+#/\x00" else c for c in intent) or OOS


def _asr_tokens(text: str) -> list[list[dict[str, Any]]]:
    """Whitespace tokens with their character ranges, one ASR invocation, as Rhasspy's own NLU sends."""
    tokens: list[dict[str, Any]] = []
    start = 0
    for word in text.split():
        start = text.index(word, start)
        tokens.append({"value": word, "confidence": 1.0, "rangeStart": start, "rangeEnd": start + len(word), "time": None})
        start += len(word)
    return [tokens]


def _intent_obj(intent: str, confidence: float) -> dict[str, Any]:
    score = round(float(confidence), 4) if math.isfinite(confidence) else 0.0
    return {"intentName": intent, "confidenceScore": score}


def intent_message(q: HermesQuery, intent: str, confidence: float) -> tuple[str, bytes]:
    """`hermes/intent/<intentName>` with an `NluIntent` payload (slots empty: the model has none)."""
    payload = {
        "input": q.input,
        "intent": _intent_obj(intent, confidence),
        "siteId": q.site_id,
        "id": q.id,
        "slots": [],
        "sessionId": q.session_id,
        "customData": None,
        "asrTokens": _asr_tokens(q.input),
        "asrConfidence": None,
        "rawInput": q.input,
        "wakewordId": q.wakeword_id,
        "lang": q.lang,
    }
    return f"hermes/intent/{_topic_level(intent)}", _encode(payload)


def intent_parsed_message(q: HermesQuery, intent: str, confidence: float) -> tuple[str, bytes]:
    """`hermes/nlu/intentParsed` (`NluIntentParsed`): Rhasspy's NLU sends it just before the intent;
    a few tools listen to it rather than `hermes/intent/#`."""
    payload = {
        "input": q.input,
        "intent": _intent_obj(intent, confidence),
        "siteId": q.site_id,
        "id": q.id,
        "slots": [],
        "sessionId": q.session_id,
    }
    return INTENT_PARSED_TOPIC, _encode(payload)


def not_recognized_message(q: HermesQuery) -> tuple[str, bytes]:
    """`hermes/nlu/intentNotRecognized` (`NluIntentNotRecognized`)."""
    payload = {"input": q.input, "siteId": q.site_id, "id": q.id, "customData": None, "sessionId": q.session_id}
    return NOT_RECOGNIZED_TOPIC, _encode(payload)


def recognized(q: HermesQuery, intent: str, confidence: float, threshold: float) -> bool:
    """Whether the model's answer counts as a recognised intent for this query."""
    # A NaN confidence compares false with everything: treat it as no confidence at all.
    if not q.input.strip() or intent == OOS or not math.isfinite(confidence) or confidence < threshold:
        return False
    # An empty filter means no restriction, as in Rhasspy's own NLU services.
    return not q.intent_filter or intent in q.intent_filter


def respond(q: HermesQuery, intent: str, confidence: float, threshold: float) -> tuple[str, bytes]:
    """The one answer to a query: the intent message, or intentNotRecognized when the input is blank,
    the intent is out of scope (`oos`), its confidence is below `threshold`, or `intentFilter` excludes it."""
    if recognized(q, intent, confidence, threshold):
        return intent_message(q, intent, confidence)
    return not_recognized_message(q)
