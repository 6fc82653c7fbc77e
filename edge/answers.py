"""What answers a request: the result (device's or cloud's), an error, and where each goes.

The unit of work (`Work`: one delivery from the broker; `Routed`: a parsed,
classified request) lives here, with the code that builds a result or an
error and the list of its publications, then hands them to `Delivery`, which
acknowledges the request once they are safe.

Where a result goes, and why:
- `<base>/result` always, and the reply topic when the request named one;
- `<base>/intent/<intent>` only for a result the daemon stands behind (the
  cloud's, or confident on the device) and only the first time: automations
  listen there, and must neither act on a guess nor act twice on a repeat.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

from edge import contract
from edge.contract import OOS, Request
from edge.delivery import Delivery, Publication
from edge.health import Health
from edge.model import Prediction
from edge.mqtt import Message

log = logging.getLogger("edge.answers")


@dataclass(slots=True, eq=False)
class Work:
    """One delivery from the broker, acknowledged exactly once."""

    kind: str  # "request" | "hermes"
    msg: Message
    received: float  # perf_counter at arrival: result latency is measured from here
    answered: bool = False  # its answer was handed to delivery, which acks once it is safe
    acked: bool = False
    unsafe: bool = False  # its answer could be neither published nor stored: not cached, not acked
    request: Request | None = None  # once parsed: where an internal error must go too


@dataclass(slots=True, eq=False)
class Routed:
    work: Work
    request: Request
    pred: Prediction | None = None
    query: Any = None  # the Hermes NLU query, for requests that came that way
    slots: list[dict[str, Any]] = field(default_factory=list)
    result: bytes | None = None  # the device's result, once published (the answered-id cache keeps it)


class Answers:
    """Builds payloads and publications; `deliver` ties them to the request's acknowledgement."""

    def __init__(
        self,
        base: str,
        model_ident: str,
        health: Health,
        delivery: Delivery,
        ack: Callable[[int, int], None],
        escalation_threshold: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.base = base
        self.model_ident = model_ident
        self.health = health
        self.delivery = delivery
        self._ack = ack
        self.escalation_threshold = escalation_threshold
        self.clock = clock
        self.slots: Any = None  # the model's SlotExtractor (edge.slots), to check the cloud's slots

    # -- payloads -----------------------------------------------------------------------

    def local(self, r: Routed, reason: str, escalated: bool = False) -> bytes:
        """The device's own result; records it in health."""
        assert r.pred is not None
        latency = (self.clock() - r.work.received) * 1000
        self.health.record_result(latency, escalated)
        return self._encode(r, r.pred.intent, r.pred.confidence, "edge", escalated, reason, None, latency)

    def cloud(self, r: Routed, intent: str, answer: str, reason: str, t0: float, record: bool = True,
              cloud_slots: Any = None) -> bytes:
        """A result from the cloud; `confidence` stays the device's (the cloud gives no calibrated score).
        Slots: the device's when the cloud agrees on the intent and the device found some, else the
        cloud's `cloud_slots`, validated against the request like its intent (edge.slots)."""
        assert r.pred is not None
        latency = (self.clock() - t0) * 1000
        if record:
            self.health.record_result(latency, True)
        # the device's slots were extracted for the device's intent: under another intent they would
        # name the wrong things
        slots = r.slots if intent == r.pred.intent else []
        if not slots and cloud_slots is not None and self.slots is not None:
            try:
                slots, problems = self.slots.cloud_slots(r.request.text, intent, cloud_slots)
                if problems:
                    log.info("cloud slots for %s left out: %s", r.request.id, "; ".join(problems[:5]))
            except Exception:  # the cloud's intent still stands
                log.exception("cloud slots for %s could not be checked", r.request.id)
                slots = []
        return self._encode(r, intent, r.pred.confidence, "cloud", True, reason, answer, latency, slots)

    def _encode(
        self, r: Routed, intent: str, confidence: float, source: str, escalated: bool, reason: str,
        answer: str | None, latency: float, slots: list[dict[str, Any]] | None = None,
    ) -> bytes:
        return contract.encode(contract.result_payload(
            r.request, intent=intent, confidence=confidence, source=source, escalated=escalated, reason=reason,
            answer=answer, model=self.model_ident, latency_ms=latency, slots=r.slots if slots is None else slots,
        ))

    def stands_behind(self, payload: bytes | dict) -> bool:
        """The cloud's result, or a device result confident enough to keep: what automations may act on."""
        obj = payload if isinstance(payload, dict) else decode(payload)
        if obj.get("source") == "cloud":
            return True
        conf = obj.get("confidence")
        return obj.get("intent", OOS) != OOS and isinstance(conf, (int, float)) and conf >= self.escalation_threshold

    # -- publications -------------------------------------------------------------------

    def publications(
        self, request: Request, payload: bytes, *, to_intent: bool = True, with_reply: bool = True
    ) -> list[Publication]:
        """`<base>/result`, the intent topic when `to_intent` and the daemon stands behind it, the reply topic."""
        pubs: list[Publication] = [(f"{self.base}/result", payload, 1, False, None)]
        if to_intent:
            obj = decode(payload)  # once, for both questions
            if self.stands_behind(obj):
                pubs.append((contract.intent_topic(self.base, str(obj.get("intent") or OOS)), payload, 1, False, None))
        if with_reply and request.reply_to:
            pubs.append((request.reply_to, payload, 1, False, request.correlation))
        return pubs

    def publish(self, r: Routed, payload: bytes) -> bool:
        """A fresh result: every publication; the request is acked once they are safe.
        False when they could be neither published nor stored (the request stays unacked)."""
        return self.deliver(self.publications(r.request, payload), r.work)

    def repeat(self, r: Routed, payload: bytes) -> None:
        """A result given before (a redelivery, a client retry): result and reply topics, never the intent
        topic again, so an automation does not act twice."""
        self.deliver(self.publications(r.request, payload, to_intent=False), r.work)

    def error(
        self, work: Work, request_id: str | None, code: str, message: str,
        reply_to: str | None = None, correlation: bytes | None = None, extra: list[Publication] | None = None,
    ) -> None:
        """`<base>/error`, and where the result would have gone, so the requester learns at once
        (`extra`: a protocol's own error message, such as Hermes' `hermes/error/nlu`)."""
        self.health.record_error()
        log.info("rejected request on %s: %s: %s", work.msg.topic, code, message[:300])
        payload = contract.encode(contract.error_payload(request_id, code, message))
        pubs: list[Publication] = [(f"{self.base}/error", payload, 1, False, None)]
        if reply_to:
            pubs.append((reply_to, payload, 1, False, correlation))
        self.deliver(pubs + list(extra or []), work)

    def deliver(self, pubs: list[Publication], work: Work | None) -> bool:
        """Publish; the request behind `work` is acknowledged once every publication is safe."""
        if work is None:
            return self.delivery.deliver(pubs, None)
        work.answered = True
        return self.delivery.deliver(pubs, lambda: self.ack(work), lambda: setattr(work, "unsafe", True))

    def batch(self) -> ContextManager[None]:
        """What the block's requests must keep on disk is written once, at its end (Delivery.batch)."""
        return self.delivery.batch()

    def ack(self, work: Work) -> None:
        """Acknowledge a delivery once (the PUBACK callback and a guard may both get here)."""
        if work.acked:
            return
        work.acked = True
        self._ack(work.msg.mid, work.msg.qos)


def decode(payload: bytes) -> dict:
    try:
        obj = json.loads(payload)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}
