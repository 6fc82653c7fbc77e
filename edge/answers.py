"""Results and errors, built as values and handed to `Delivery` tied to their request's acknowledgement.

A result is a `results.Result`, built once here (the device's: `local`; the
cloud's: `cloud`); where it goes follows from it by a pure function
(`results.result_publications`). The request's acknowledgement was bound when
the request was taken (`work.Work.acknowledge`): delivery runs it once every
publication is safe (PUBACKed, or committed to the outbox).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, ContextManager

from edge import results
from edge.contract import Publication, Request
from edge.results import Result
from edge.delivery import Delivery
from edge.health import Health
from edge.model import Prediction

if TYPE_CHECKING:
    from edge.work import Routed, Work

log = logging.getLogger("edge.answers")


class Answers:
    """Builds results and errors; `deliver` ties their publications to the request's acknowledgement."""

    def __init__(
        self,
        base: str,
        model_ident: str,
        health: Health,
        delivery: Delivery,
        escalation_threshold: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.base = base
        self.model_ident = model_ident
        self.health = health
        self.delivery = delivery
        self.escalation_threshold = escalation_threshold
        self.clock = clock
        self.slots: Any = None  # the model's SlotExtractor (edge.slots), to check the cloud's slots

    # -- results ------------------------------------------------------------------------

    def local(self, r: Routed, reason: str, escalated: bool = False) -> Result:
        """The device's own result; recorded in health."""
        assert r.pred is not None
        latency = (self.clock() - r.work.received) * 1000
        self.health.record_result(latency, escalated)
        return Result(r.request, r.pred.intent, r.pred.confidence, "edge", escalated, reason, None,
                      self.model_ident, latency, list(r.slots), r.not_recognized)

    def cloud(self, request: Request, device: Prediction, device_slots: list[dict[str, Any]], intent: str,
              answer: str | None, reason: str, t0: float, record: bool = True, cloud_slots: Any = None,
              checked_slots: list[dict[str, Any]] | None = None) -> Result:
        """A result from the cloud; `confidence` stays the device's (the cloud gives no calibrated score).
        Slots: `checked_slots` when given (a home model's, resolved and checked by edge.home_cloud),
        else the device's when the cloud agrees on the intent and the device found some, else the
        cloud's `cloud_slots`, validated against the request like its intent (edge.slots)."""
        latency = (self.clock() - t0) * 1000
        if record:
            self.health.record_result(latency, True)
        if checked_slots is not None:
            return Result(request, intent, device.confidence, "cloud", True, reason, answer, self.model_ident,
                          latency, list(checked_slots))
        # the device's slots were extracted for the device's intent: under another intent they would
        # name the wrong things
        slots = list(device_slots) if intent == device.intent else []
        if not slots and cloud_slots is not None and self.slots is not None:
            try:
                slots, problems = self.slots.cloud_slots(request.text, intent, cloud_slots)
                if problems:
                    log.info("cloud slots for %s left out: %s", request.id, "; ".join(problems[:5]))
            except Exception:  # the cloud's intent still stands
                log.exception("cloud slots for %s could not be checked", request.id)
                slots = []
        return Result(request, intent, device.confidence, "cloud", True, reason, answer, self.model_ident, latency,
                      slots)

    # -- publications -------------------------------------------------------------------

    def publish(self, r: Routed, result: Result) -> bool:
        """A fresh result, wherever it goes; the request is acked once they are safe.
        False when they could be neither published nor stored (the request stays unacked)."""
        return self.deliver(results.result_publications(self.base, result, self.escalation_threshold), r.work)

    def publish_second(self, result: Result) -> bool:
        """A deferred escalation's cloud result: result and intent topics, no request to acknowledge."""
        pubs = results.result_publications(self.base, result, self.escalation_threshold, with_reply=False)
        return self.deliver(pubs, None)

    def repeat(self, r: Routed, payload: bytes) -> None:
        """A result given before (a redelivery, a client retry): never to the intent topic again."""
        self.deliver(results.repeat_publications(self.base, r.request, payload), r.work)

    def error(
        self, work: Work, request_id: str | None, code: str, message: str,
        reply_to: str | None = None, correlation: bytes | None = None, extra: list[Publication] | None = None,
    ) -> None:
        """`<base>/error`, and where the result would have gone, so the requester learns at once
        (`extra`: a protocol's own error message, such as Hermes' `hermes/error/nlu`)."""
        self.health.record_error()
        log.info("rejected request on %s: %s: %s", work.msg.topic, code, message[:300])
        pubs = results.error_publications(self.base, request_id, code, message, reply_to, correlation)
        self.deliver(pubs + list(extra or []), work)

    def deliver(self, pubs: list[Publication], work: Work | None) -> bool:
        """Publish; the request behind `work` is acknowledged once every publication is safe."""
        if work is None:
            return self.delivery.deliver(pubs, None)
        work.answered = True
        return self.delivery.deliver(pubs, work.acknowledge, work.mark_unsafe)

    def batch(self) -> ContextManager[None]:
        """What the block's requests must keep on disk is written once, at its end (Delivery.batch)."""
        return self.delivery.batch()
