"""The wire contract: parse a request (or say exactly why not), build result, error and health payloads.

Pure functions and plain data: no MQTT, no model. Everything that goes on the
wire is encoded here, so the payload shapes live in one file that can be read
side by side with the interface spec.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

OOS = "oos"
REASONS = ("confident", "low_confidence", "cloud_preferred", "offline", "budget", "cloud_error", "disabled")

# Error codes published on <base>/error.
PAYLOAD_TOO_LARGE = "payload_too_large"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_TEXT = "missing_text"
EMPTY_TEXT = "empty_text"
INVALID_FIELD = "invalid_field"
INTERNAL = "internal_error"


class BadRequest(Exception):
    """A request that cannot be served; becomes one message on the error topic."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    text: str
    reply_to: str | None = None  # JSON reply_to, or the MQTT 5 Response Topic
    correlation: bytes | None = None  # MQTT 5 Correlation Data, echoed on the reply
    allow_cloud: bool | None = None  # None: the configured policy decides
    generated_id: bool = False  # the client sent no id, so this one was made here


# What a broker refuses in a topic name (MQTT 5 sections 1.5.4 and 4.7.3), and mosquitto answers
# by dropping the connection: wildcards, U+0000, control characters, non-characters, surrogates.
# Publishing to such a topic is a poison pill: paho resends it after every reconnect.
_BAD_TOPIC = re.compile(
    "[+#\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(p << 16 | 0xFFFE)}{chr(p << 16 | 0xFFFF)}" for p in range(17))
    + "]"
)


def valid_publish_topic(topic: str) -> bool:
    """True when a broker accepts `topic` as the topic name of a PUBLISH."""
    return bool(topic) and len(topic.encode("utf-8", "surrogatepass")) <= 65535 and not _BAD_TOPIC.search(topic)


def new_id() -> str:
    return uuid.uuid4().hex


def decode_payload(payload: bytes, max_bytes: int) -> str:
    """The size and encoding checks every inbound payload gets, whatever its topic."""
    if len(payload) > max_bytes:
        raise BadRequest(PAYLOAD_TOO_LARGE, f"payload is {len(payload)} bytes; the limit is {max_bytes}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(INVALID_UTF8, f"payload is not valid UTF-8 (byte {exc.start})") from None


def parse_request(
    payload: bytes,
    max_bytes: int,
    response_topic: str | None = None,
    correlation: bytes | None = None,
) -> Request:
    """Turn a raw payload into a Request, or raise BadRequest with a code and a message a user can act on.

    A payload whose first non-blank character is `{` or `[` is JSON and must be
    an object; anything else is plain UTF-8 text.
    """
    if response_topic is not None and not valid_publish_topic(response_topic):
        # A broker drops the connection of a client that publishes there: refuse it up front.
        raise BadRequest(INVALID_FIELD, "the Response Topic has characters a broker refuses in a topic name")
    body = decode_payload(payload, max_bytes)
    stripped = body.lstrip()
    if not stripped.startswith(("{", "[")):
        if not body.strip():
            raise BadRequest(EMPTY_TEXT, "text is empty")
        return Request(id=new_id(), text=body.strip(), reply_to=response_topic, correlation=correlation, generated_id=True)
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(INVALID_JSON, f"payload is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadRequest(NOT_AN_OBJECT, f"JSON payload must be an object, got {type(obj).__name__}")
    return _from_object(obj, response_topic, correlation)


def _from_object(obj: dict[str, Any], response_topic: str | None, correlation: bytes | None) -> Request:
    rid = obj.get("id")
    if rid is not None and not (isinstance(rid, str) and 0 < len(rid) <= 256):
        raise BadRequest(INVALID_FIELD, "id must be a non-empty string of at most 256 characters")
    if "text" not in obj:
        raise BadRequest(MISSING_TEXT, "field 'text' is missing", rid)
    text = obj["text"]
    if not isinstance(text, str):
        raise BadRequest(INVALID_FIELD, f"text must be a string, got {_json_type(text)}", rid)
    if not text.strip():
        raise BadRequest(EMPTY_TEXT, "text is empty", rid)
    reply_to = obj.get("reply_to")
    if reply_to is not None and not (isinstance(reply_to, str) and valid_publish_topic(reply_to)):
        raise BadRequest(INVALID_FIELD, "reply_to must be a topic without wildcards or control characters", rid)
    allow_cloud = obj.get("allow_cloud")
    if allow_cloud is not None and not isinstance(allow_cloud, bool):
        raise BadRequest(INVALID_FIELD, f"allow_cloud must be true or false, got {_json_type(allow_cloud)}", rid)
    # The MQTT 5 Response Topic wins over a JSON reply_to: it is the protocol's own mechanism.
    return Request(
        id=rid or new_id(),
        text=text.strip(),
        reply_to=response_topic or reply_to,
        correlation=correlation,
        allow_cloud=allow_cloud,
        generated_id=rid is None,
    )


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def now_iso() -> str:
    """ISO 8601 UTC with milliseconds and a Z, as Home Assistant and most dashboards parse it."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_payload(
    request: Request,
    *,
    intent: str,
    confidence: float,
    source: str,
    escalated: bool,
    reason: str,
    answer: str | None,
    model: str,
    latency_ms: float,
) -> dict[str, Any]:
    return {
        "id": request.id,
        "text": request.text,
        "intent": intent,
        "confidence": round(float(confidence), 4) if math.isfinite(confidence) else 0.0,
        "source": source,
        "escalated": escalated,
        "reason": reason,
        "answer": answer,
        "model": model,
        "latency_ms": round(float(latency_ms), 3),
        "ts": now_iso(),
    }


def error_payload(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "error": code, "message": message}


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def intent_topic(base: str, intent: str) -> str:
    """`<base>/intent/<intent>`; labels are [a-z0-9_] in shipped models, but user models may not be."""
    safe = "".join("_" if c in "+#/\x00" else c for c in intent) or OOS
    return f"{base}/intent/{safe}"
