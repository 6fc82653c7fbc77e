"""The wire contract, inbound: parse a request (or say exactly why not), and the wire's rules.

Pure functions and plain data: no MQTT, no model. Here: the request's shape and every way it
can be refused (the error codes), and the wire's JSON (`loads`, `encode`) and timestamps. Which
topics a reply may go to is edge/topics.py (asked here while a request is parsed); what goes out
about a request (the Result value, result and error payloads, their topics) is edge/results.py.
The three can be read side by side with the interface spec.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from edge.topics import reply_topic_problem

OOS = "oos"
Publication = tuple[str, bytes, int, bool, "bytes | None"]  # topic, payload, qos, retain, correlation
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
    """A request that cannot be served; becomes one message on the error topic.

    `reply_to` and `correlation` say where else the error goes: where the result
    would have gone (the MQTT 5 Response Topic, known even for garbage payloads,
    or the JSON `reply_to` once the JSON was readable), so a requester never
    waits out its timeout. None when there is no such place or it was refused.
    """

    def __init__(
        self, code: str, message: str, request_id: str | None = None,
        reply_to: str | None = None, correlation: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.reply_to = reply_to
        self.correlation = correlation


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    text: str
    reply_to: str | None = None  # JSON reply_to, or the MQTT 5 Response Topic
    correlation: bytes | None = None  # MQTT 5 Correlation Data, echoed on the reply
    allow_cloud: bool | None = None  # None: the configured policy decides
    language: str | None = None  # BCP 47 tag as sent ("en", "de-CH"); None: the model's first language
    generated_id: bool = False  # the client sent no id, so this one was made here


def encodable(text: str) -> bool:
    """False for strings UTF-8 cannot carry (lone surrogates, from JSON escapes such as \\udc80)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"number {raw[:20]}{'...' if len(raw) > 20 else ''} is out of range")
    return value


def _no_constant(raw: str) -> float:
    raise ValueError(f"{raw} is not a JSON number")


# One decoder for every request: json.loads with these hooks builds a JSONDecoder and its scanner
# per call (about 5 µs of each request's time on the loop, bench/profile.py).
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)


def loads(body: str) -> Any:
    """json.loads that refuses what Python would accept but cannot round-trip: NaN/Infinity,
    numbers that overflow to inf (1e999999); int-digit-limit overflow raises ValueError too."""
    if not isinstance(body, str) or body.startswith("\ufeff"):  # json.loads's own checks and messages
        return json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    return _DECODER.decode(body)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_ID_IN_GARBAGE = re.compile(r'"id"\s*:\s*"((?:[^"\\\x00-\x1f]|\\.){1,256})"')


def _salvage_id(body: str) -> str | None:
    """The id of a payload that is not valid JSON, when one can be read: the requester matches on it."""
    m = _ID_IN_GARBAGE.search(body)
    if not m:
        return None
    try:
        rid = json.loads(f'"{m.group(1)}"')
    except ValueError:
        return None
    return rid if isinstance(rid, str) and rid and encodable(rid) else None


def _id_of(payload: bytes, max_bytes: int) -> str | None:
    """The request's own id, when one can be read, for an error raised before the payload is parsed."""
    try:
        body = decode_payload(payload, max_bytes)
        obj = loads(body) if body.lstrip().startswith("{") else None
    except (BadRequest, ValueError, RecursionError):
        return _salvage_id(payload[:max_bytes].decode("utf-8", "replace"))
    rid = obj.get("id") if isinstance(obj, dict) else None
    ok = isinstance(rid, str) and 0 < len(rid) <= 256 and encodable(rid) and not _CONTROL.search(rid)
    return rid if ok else None


def new_id() -> str:
    return uuid.uuid4().hex


def decode_payload(payload: bytes, max_bytes: int) -> str:
    """The size and encoding checks every inbound payload gets, whatever its topic. A leading UTF-8
    byte-order mark (Windows tools write one) is dropped, so `\ufeff{"text": ...}` is JSON."""
    if len(payload) > max_bytes:
        raise BadRequest(PAYLOAD_TOO_LARGE, f"payload is {len(payload)} bytes; the limit is {max_bytes}")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(INVALID_UTF8, f"payload is not valid UTF-8 (byte {exc.start})") from None


def parse_request(
    payload: bytes,
    max_bytes: int,
    response_topic: str | None = None,
    correlation: bytes | None = None,
    forbidden_reply_prefixes: tuple[str, ...] = (),
    allowed_reply_prefixes: tuple[str, ...] = (),
    fast_path: bool = True,
) -> Request:
    """Turn a raw payload into a Request, or raise BadRequest with a code and a message a user can act on.

    A payload whose first non-blank character is `{` or `[` is JSON and must be
    an object; anything else is plain UTF-8 text. The Response Topic is checked
    first, so that every later error can go back to it. The common shape is read
    by `_common_shape` (`fast_path=False`: the general path alone, which tests
    compare it with); anything else, and every refusal, by the general path.
    """
    if response_topic is not None:
        problem = reply_topic_problem(response_topic, forbidden_reply_prefixes, allowed_reply_prefixes)
        if problem:  # the error still names the request, so a requester watching <base>/error can match it
            raise BadRequest(INVALID_FIELD, f"the Response Topic {problem}", _id_of(payload, max_bytes))
    if fast_path:
        fast = _common_shape(payload, max_bytes, response_topic, correlation)
        if fast is not None:
            return fast
    back = {"reply_to": response_topic, "correlation": correlation}
    try:
        body = decode_payload(payload, max_bytes)
    except BadRequest as exc:
        raise BadRequest(exc.code, exc.message, **back) from None
    stripped = body.lstrip()
    if not stripped.startswith(("{", "[")):
        if not body.strip():
            raise BadRequest(EMPTY_TEXT, "text is empty", **back)
        return Request(id=new_id(), text=body.strip(), reply_to=response_topic, correlation=correlation, generated_id=True)
    try:
        obj = loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, the int-digit limit, 1e999999, NaN
        raise BadRequest(INVALID_JSON, f"payload is not valid JSON: {str(exc)[:200]}", _salvage_id(body), **back) from None
    if not isinstance(obj, dict):
        raise BadRequest(NOT_AN_OBJECT, f"JSON payload must be an object, got {_json_type(obj)}", **back)
    return _from_object(obj, response_topic, correlation, forbidden_reply_prefixes, allowed_reply_prefixes)


def _common_shape(payload: bytes, max_bytes: int, response_topic: str | None,
                  correlation: bytes | None) -> Request | None:
    """The request nearly every client sends, `{"id": "...", "text": "..."}` (nothing before the
    brace, those two keys, both strings), checked as `_from_object` checks it; else None (the general
    path parses it). That path's generality cost most of a parse's 7-10 us warm (docs/performance.md)."""
    if len(payload) > max_bytes or payload[:1] != b"{":
        return None
    try:
        obj = _DECODER.decode(payload.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if type(obj) is not dict or len(obj) != 2:
        return None
    rid, text = obj.get("id"), obj.get("text")
    if type(rid) is not str or type(text) is not str or not 0 < len(rid) <= 256:
        return None
    # a printable ASCII id is encodable and has no _CONTROL character (its other ones are not ASCII)
    if not (rid.isascii() and rid.isprintable()):
        return None
    if not (text.isascii() or encodable(text)):
        return None
    stripped = text.strip()
    if not stripped:
        return None
    return Request(id=rid, text=stripped, reply_to=response_topic or None, correlation=correlation)


def _from_object(
    obj: dict[str, Any], response_topic: str | None, correlation: bytes | None, forbidden: tuple[str, ...],
    allowed: tuple[str, ...] = (),
) -> Request:
    back: dict[str, Any] = {"reply_to": response_topic, "correlation": correlation}
    raw_reply = obj.get("reply_to")
    if response_topic is None and isinstance(raw_reply, str) and reply_topic_problem(raw_reply, forbidden, allowed) is None:
        back["reply_to"] = raw_reply  # where an error about another field goes
    rid = obj.get("id")
    if rid is not None and not (isinstance(rid, str) and 0 < len(rid) <= 256):
        raise BadRequest(INVALID_FIELD, "id must be a non-empty string of at most 256 characters", **back)
    if rid is not None and not encodable(rid):
        raise BadRequest(INVALID_FIELD, "id has a lone surrogate (not encodable as UTF-8)", **back)
    if rid is not None and _CONTROL.search(rid):  # an id is matched and logged: no NUL, no escapes
        raise BadRequest(INVALID_FIELD, "id has a control character (U+0000-U+001F, U+007F-U+009F)", **back)
    if "text" not in obj:
        raise BadRequest(MISSING_TEXT, "field 'text' is missing", rid, **back)
    text = obj["text"]
    if not isinstance(text, str):
        raise BadRequest(INVALID_FIELD, f"text must be a string, got {_json_type(text)}", rid, **back)
    if not encodable(text):
        raise BadRequest(INVALID_FIELD, "text has a lone surrogate (not encodable as UTF-8)", rid, **back)
    if not text.strip():
        raise BadRequest(EMPTY_TEXT, "text is empty", rid, **back)
    if raw_reply is not None:
        if not isinstance(raw_reply, str):
            raise BadRequest(INVALID_FIELD, f"reply_to must be a string, got {_json_type(raw_reply)}", rid, **back)
        problem = reply_topic_problem(raw_reply, forbidden, allowed)
        if problem:
            raise BadRequest(INVALID_FIELD, f"reply_to {problem}", rid, **back)
    allow_cloud = obj.get("allow_cloud")
    if allow_cloud is not None and not isinstance(allow_cloud, bool):
        raise BadRequest(INVALID_FIELD, f"allow_cloud must be true or false, got {_json_type(allow_cloud)}", rid, **back)
    language = obj.get("language")
    if language is not None and not (isinstance(language, str) and _LANGUAGE.fullmatch(language)):
        shown = language[:40] if isinstance(language, str) and encodable(language) else _json_type(language)
        raise BadRequest(INVALID_FIELD, f"language must be a BCP 47 tag such as 'en' or 'de-CH', got {shown!r}",
                         rid, **back)
    # The MQTT 5 Response Topic wins over a JSON reply_to: it is the protocol's own mechanism.
    return Request(
        id=rid or new_id(),
        text=text.strip(),
        reply_to=response_topic or raw_reply,
        correlation=correlation,
        allow_cloud=allow_cloud,
        language=language,
        generated_id=rid is None,
    )


# A BCP 47 tag, loosely: a 2-3 letter primary language, then subtags (script, region, variant).
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}")


def primary_language(tag: str) -> str:
    """'de-CH' -> 'de': the model packages name the languages they serve by their primary tag."""
    return tag.split("-", 1)[0].lower()


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def now_iso() -> str:
    """ISO 8601 UTC with milliseconds and a Z, as Home Assistant and most dashboards parse it."""
    return iso_of_ns(time.time_ns())


_second: tuple[int, str] = (-1, "")  # the last whole second written, and its text (swapped whole)


def iso_of_ns(ns: int) -> str:
    """`datetime.now(timezone.utc).isoformat(timespec="milliseconds")` with a Z at `ns` (ns since the
    epoch; `now()` floors to the us, `isoformat` to the ms), with the date and time of day formatted
    once a second (`isoformat` cost ~2.5 us a result)."""
    global _second
    sec, rem = divmod(ns, 1_000_000_000)
    last = _second  # one tuple, replaced whole: a thread never sees one second's text with another's key
    if last[0] == sec:
        text = last[1]
    else:
        text = datetime.fromtimestamp(sec, timezone.utc).isoformat(timespec="seconds")[:-6]  # less "+00:00"
        _second = (sec, text)
    return f"{text}.{rem // 1_000_000:03d}Z"


# One encoder for every payload: json.dumps with any option builds a JSONEncoder per call (as
# json.loads does a decoder, above); the output is the same.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_value(value: Any) -> str:
    """The wire's JSON text of one value (a str; `encode` makes the payload's UTF-8 bytes)."""
    return _ENCODER.encode(value)


def encode(obj: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. Never raises on a string UTF-8 cannot carry (a lone surrogate that
    slipped through): that payload is written with \\u escapes instead, which is still valid JSON."""
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
