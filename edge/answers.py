"""Turning a classified request into the messages that answer it, and sending them.

The unit of work (`Work`: one delivery from the broker; `Routed`: a parsed,
classified request) lives here, with the code that builds a result (device's
or cloud's), an error, and the publications for each, then hands them to
`Delivery`, which acknowledges the request once they are safe.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from edge import contract
from edge.config import Settings
from edge.contract import OOS, Request
from edge.delivery import Delivery, Publication
from edge.health import Health
from edge.model import Prediction
from edge.mqtt import Link, Message

log = logging.getLogger("edge.answers")


@dataclass(slots=True)
class Work:
    kind: str  # "request" | "hermes"
    msg: Message
    received: float  # perf_counter at arrival: result latency is measured from here


@dataclass(slots=True)
class Routed:
    work: Work
    request: Request
    pred: Prediction | None = None
    query: Any = None  # the Hermes NLU query, for requests that came that way


class Answers:
    def __init__(self, settings: Settings, model_ident: str, health: Health, delivery: Delivery, link: Link) -> None:
        self.s = settings
        self.base = settings.base_topic
        self.model_ident = model_ident
        self.health = health
        self.delivery = delivery
        self.link = link

    def local(self, r: Routed, reason: str, escalated: bool = False) -> bytes:
        """The device's own result; records it in health."""
        assert r.pred is not None
        latency = (time.perf_counter() - r.work.received) * 1000
        self.health.record_result(latency, escalated)
        return self._encode(r.request, r.pred.intent, r.pred.confidence, "edge", escalated, reason, None, latency)

    def cloud(
        self, request: Request, confidence: float, intent: str, answer: str, reason: str, t0: float, record: bool = True
    ) -> bytes:
        """A result from the cloud; `confidence` stays the device's (the cloud gives no calibrated score)."""
        latency = (time.perf_counter() - t0) * 1000
        if record:
            self.health.record_result(latency, True)
        return self._encode(request, intent, confidence, "cloud", True, reason, answer, latency)

    def _encode(
        self, request: Request, intent: str, confidence: float, source: str, escalated: bool, reason: str,
        answer: str | None, latency: float,
    ) -> bytes:
        return contract.encode(
            contract.result_payload(
                request,
                intent=intent,
                confidence=confidence,
                source=source,
                escalated=escalated,
                reason=reason,
                answer=answer,
                model=self.model_ident,
                latency_ms=latency,
            )
        )

    def publish(self, r: Routed, payload: bytes, intent: str | None = None) -> None:
        """All of a result's publications; pass `intent` when known (saves re-parsing the payload)."""
        self.deliver(self.publications(r.request, payload, intent or intent_of(payload)), r.work)

    def publications(self, request: Request, payload: bytes, intent: str, with_reply: bool = True) -> list[Publication]:
        """`<base>/result`, `<base>/intent/<intent>`, and the reply topic when the request named one."""
        pubs: list[Publication] = [
            (f"{self.base}/result", payload, 1, False, None),
            (contract.intent_topic(self.base, intent), payload, 1, False, None),
        ]
        if with_reply and request.reply_to:
            pubs.append((request.reply_to, payload, 1, False, request.correlation))
        return pubs

    def error(self, work: Work, request_id: str | None, code: str, message: str) -> None:
        self.health.record_error()
        log.info("rejected request on %s: %s: %s", work.msg.topic, code, message)
        payload = contract.encode(contract.error_payload(request_id, code, message))
        self.deliver([(f"{self.base}/error", payload, 1, False, None)], work)

    def deliver(self, pubs: list[Publication], work: Work | None) -> None:
        """Publish; the request behind `work` is acknowledged once every publication is safe."""
        on_safe = None
        if work is not None:
            mid, qos = work.msg.mid, work.msg.qos
            on_safe = lambda: self.link.ack(mid, qos)  # noqa: E731
        self.delivery.deliver(pubs, on_safe)


def decode(payload: bytes) -> dict:
    try:
        obj = json.loads(payload)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def intent_of(payload: bytes) -> str:
    return str(decode(payload).get("intent") or OOS)
