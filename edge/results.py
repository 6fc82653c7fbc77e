"""What the daemon publishes about a request: the Result value, its payload, and the topics a
result and an error go to (the interface spec's "Result" and the error topic).

Pure functions and plain data, as edge/contract.py (which parses what comes in and holds the wire's
JSON encoding `encode`, timestamps and the error codes these payloads carry). A Result's payload is
encoded once, when the value is built; where it goes follows from it without decoding it again.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, Mapping

from edge.contract import OOS, Publication, Request, encode, encode_value, now_iso


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
    slots: list[dict[str, Any]] | None = None,
    not_recognized: Mapping[str, str] | None = None,
    decided: str | None = None,
    ts: str | None = None,
) -> dict[str, Any]:
    out = {
        "id": request.id,
        "text": request.text,
        "intent": intent,
        "confidence": _confidence(confidence),
        "source": source,
        "escalated": escalated,
        "reason": reason,
        "answer": answer,
        "model": model,
        "latency_ms": round(float(latency_ms), 3),
        "ts": ts or now_iso(),
        "slots": list(slots or []),
    }
    if not_recognized is not None:  # additive, only on a home result the daemon does not stand behind
        out["not_recognized"] = dict(not_recognized)
    if decided:  # additive, only on a home result a template decided where the model was unsure
        out["decided"] = decided
    return out


def _confidence(value: float) -> float:
    return round(float(value), 4) if math.isfinite(value) else 0.0


_str = encode_basestring  # the very function the wire's encoder (ensure_ascii=False) uses for a str
_LITERAL = {True: "true", False: "false"}


def result_bytes(
    request: Request, intent: str, confidence: float, source: str, escalated: bool, reason: str,
    answer: str | None, model: str, latency_ms: float, slots: Any, not_recognized: Mapping[str, str] | None,
    decided: str | None,
) -> bytes:
    """`encode(result_payload(...))`, byte for byte, without building the dict and encoding it.

    A result is built once per request, and json's encoder spends most of its ~7 us (warm) on
    what never changes: it makes a C encoder per call, walks the dict and looks up how to write
    each value. Here the fixed keys are literal text and each value is written by the function
    the encoder itself would use (`encode_basestring` for a str, `float.__repr__` for a float);
    slots and `not_recognized` go through the wire encoder. Anything unusual (a value that is not
    of the exact type a Result holds, a float that is not finite, a string UTF-8 cannot carry)
    takes the generic path, with the same timestamp (tests/test_results.py compares the two)."""
    ts = now_iso()
    conf = _confidence(confidence)
    latency = round(float(latency_ms), 3)
    try:
        if (type(request.id) is not str or type(request.text) is not str or type(intent) is not str
                or type(source) is not str or type(escalated) is not bool or type(reason) is not str
                or type(model) is not str or not (answer is None or type(answer) is str)
                or not (decided is None or type(decided) is str) or not math.isfinite(latency)):
            raise TypeError
        # as result_payload: list(slots or []), dict(not_recognized), decided only when truthy
        slot_list = list(slots or [])
        parts = ['{"id":', _str(request.id), ',"text":', _str(request.text), ',"intent":', _str(intent),
                 ',"confidence":', float.__repr__(conf), ',"source":', _str(source), ',"escalated":',
                 _LITERAL[escalated], ',"reason":', _str(reason), ',"answer":',
                 "null" if answer is None else _str(answer), ',"model":', _str(model), ',"latency_ms":',
                 float.__repr__(latency), ',"ts":', _str(ts), ',"slots":',
                 encode_value(slot_list) if slot_list else "[]"]
        if not_recognized is not None:
            parts += (',"not_recognized":', encode_value(dict(not_recognized)))
        if decided:
            parts += (',"decided":', _str(decided))
        parts.append("}")
        return "".join(parts).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):  # the generic path decides, as before
        pass
    return encode(result_payload(
        request, intent=intent, confidence=confidence, source=source, escalated=escalated, reason=reason,
        answer=answer, model=model, latency_ms=latency_ms, slots=slots, not_recognized=not_recognized,
        decided=decided, ts=ts))


@dataclass(frozen=True, slots=True, eq=False)
class Result:
    """One answer to one request, built once (the device's or the cloud's); its payload is encoded
    here, once, and where it goes follows from it by `result_publications`, without decoding it."""

    request: Request
    intent: str
    confidence: float
    source: str  # "edge" | "cloud"
    escalated: bool
    reason: str
    answer: str | None
    model: str
    latency_ms: float
    slots: list[dict[str, Any]] = field(default_factory=list)
    # A home model's result that edge.home.decide refused: {"reason", "detail"}, as Wyoming's
    # not-recognized would be for the same transcript. Never stood behind.
    not_recognized: Mapping[str, str] | None = None
    # A home result the model was unsure of but whose text is word for word one of Home Assistant's
    # templates of its top intent (edge.home_rescue: "carrier: ..."): stood behind as Wyoming stands
    # behind it; `confidence` stays the model's.
    decided: str | None = None
    payload: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload", result_bytes(
            self.request, self.intent, self.confidence, self.source, self.escalated, self.reason, self.answer,
            self.model, self.latency_ms, self.slots, self.not_recognized, self.decided))

    def stands_behind(self, threshold: float) -> bool:
        """The cloud's answer, or the device's when confident enough: what automations may act on."""
        if self.not_recognized is not None:
            return False
        if self.source == "cloud" or self.decided:
            return True
        return self.intent != OOS and _confidence(self.confidence) >= threshold


def result_publications(base: str, result: Result, threshold: float, *, with_reply: bool = True) -> list[Publication]:
    """Where a fresh result goes: `<base>/result` always; `<base>/intent/<intent>` only for a result the
    daemon stands behind (automations listen there, and must not act on a guess); the request's reply
    topic when it named one (`with_reply`)."""
    payload = result.payload
    pubs: list[Publication] = [(f"{base}/result", payload, 1, False, None)]
    if result.stands_behind(threshold):
        pubs.append((intent_topic(base, result.intent), payload, 1, False, None))
    if with_reply and result.request.reply_to:
        pubs.append((result.request.reply_to, payload, 1, False, result.request.correlation))
    return pubs


def repeat_publications(base: str, request: Request, payload: bytes) -> list[Publication]:
    """A result given before (a redelivery, a client retry, a repeat that joined a cloud call): the
    result and reply topics, never the intent topic again, so an automation does not act twice."""
    pubs: list[Publication] = [(f"{base}/result", payload, 1, False, None)]
    if request.reply_to:
        pubs.append((request.reply_to, payload, 1, False, request.correlation))
    return pubs


def error_publications(base: str, request_id: str | None, code: str, message: str, reply_to: str | None = None,
                       correlation: bytes | None = None) -> list[Publication]:
    """`<base>/error`, and where the result would have gone, so the requester learns at once."""
    payload = encode(error_payload(request_id, code, message))
    pubs: list[Publication] = [(f"{base}/error", payload, 1, False, None)]
    if reply_to:
        pubs.append((reply_to, payload, 1, False, correlation))
    return pubs


def error_payload(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "error": code, "message": message}


def intent_topic(base: str, intent: str) -> str:
    """`<base>/intent/<intent>`; labels are [a-z0-9_] in shipped models, but user models may not be.
    Cached: a result the daemon stands behind names one of its model's few labels (a character by
    character walk of the label cost ~2 us a request); long ones are not kept."""
    if len(intent) <= 128:
        return _intent_topic(base, intent)
    return _intent_topic.__wrapped__(base, intent)


@functools.lru_cache(maxsize=512)
def _intent_topic(base: str, intent: str) -> str:
    safe = "".join("_" if c in "+#/\x00" else c for c in intent) or OOS
    return f"{base}/intent/{safe}"
