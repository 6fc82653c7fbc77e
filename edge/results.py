"""What the daemon publishes about a request: the Result value, its payload, and the topics a
result and an error go to (the interface spec's "Result" and the error topic).

Pure functions and plain data, as edge/contract.py (which parses what comes in and holds the wire's
JSON encoding `encode`, timestamps and the error codes these payloads carry). A Result's payload is
encoded once, when the value is built; where it goes follows from it without decoding it again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from edge.contract import OOS, Publication, Request, encode, now_iso


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
        "ts": now_iso(),
        "slots": list(slots or []),
    }
    if not_recognized is not None:  # additive, only on a home result the daemon does not stand behind
        out["not_recognized"] = dict(not_recognized)
    return out


def _confidence(value: float) -> float:
    return round(float(value), 4) if math.isfinite(value) else 0.0


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
    payload: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload", encode(result_payload(
            self.request, intent=self.intent, confidence=self.confidence, source=self.source,
            escalated=self.escalated, reason=self.reason, answer=self.answer, model=self.model,
            latency_ms=self.latency_ms, slots=self.slots, not_recognized=self.not_recognized)))

    def stands_behind(self, threshold: float) -> bool:
        """The cloud's answer, or the device's when confident enough: what automations may act on."""
        if self.not_recognized is not None:
            return False
        if self.source == "cloud":
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
    """`<base>/intent/<intent>`; labels are [a-z0-9_] in shipped models, but user models may not be."""
    safe = "".join("_" if c in "+#/\x00" else c for c in intent) or OOS
    return f"{base}/intent/{safe}"
