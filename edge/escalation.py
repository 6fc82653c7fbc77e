"""Escalations to the cloud: calls bounded by a deadline, deferred replays, breaker probes.

Every cloud call runs on the service's small pool, never on the inference
worker, so a slow cloud never holds up the device's own answers. An escalated
request is owed exactly one result: whoever claims it first (its cloud call,
or the deadline sweep once `cloud.timeout_s` has passed) publishes it.
Escalations wanted while the cloud was down were answered locally and queued
on disk; they are replayed here when the breaker closes, each completing with
a second result (same id, `"source": "cloud"`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Executor

from edge.answers import Answers, Routed, intent_of
from edge.cloud import CloudClient, CloudError
from edge.config import Settings
from edge.contract import Request
from edge.health import Health
from edge.outbox import Deferred, Outbox
from edge.router import Router

log = logging.getLogger("edge.escalation")


class Escalations:
    def __init__(
        self,
        settings: Settings,
        cloud: CloudClient | None,
        router: Router,
        outbox: Outbox,
        health: Health,
        answers: Answers,
        pool: Executor,
    ) -> None:
        self.s = settings
        self.cloud = cloud
        self.router = router
        self.outbox = outbox
        self.health = health
        self.answers = answers
        self.pool = pool
        self._lock = threading.Lock()
        self.busy = 0  # cloud calls in flight (health's queue_depth counts them)
        self._deferred_busy = 0  # of which replays of deferred escalations and probes
        # Escalations still owed a result, by id(), in arrival (so deadline) order.
        self._owed: dict[int, Routed] = {}

    def submit(self, r: Routed, reason: str) -> None:
        """Send one request to the cloud (budget already admitted by the caller)."""
        self.outbox.record_cloud_call(time.time())
        self.health.count("cloud_calls")
        with self._lock:
            self.busy += 1
            self._owed[id(r)] = r
        self.pool.submit(self._call, r, reason)

    def _claim(self, r: Routed) -> bool:
        """True for the one caller that may publish an escalated request's result."""
        with self._lock:
            return self._owed.pop(id(r), None) is not None

    def _call(self, r: Routed, reason: str) -> None:
        assert r.pred is not None
        try:
            assert self.cloud is not None
            with self._lock:
                expired = id(r) not in self._owed
            if expired:
                return  # it waited out its timeout behind busy workers and has been answered: do not call
            try:
                ans = self.cloud.classify(r.request.text)
            except CloudError as exc:
                self.router.record_failure(exc.retry_after)
                self.health.record_cloud_error()
                log.warning("cloud call failed (%s); the device's answer stands", exc.kind)
                if not self._claim(r):
                    return
                payload = self.answers.local(r, "cloud_error", escalated=True)
            else:
                self.router.record_success()
                if not self._claim(r):
                    log.info("cloud answer for %s came after cloud.timeout_s; the device's answer stands", r.request.id)
                    return
                payload = self.answers.cloud(r.request, r.pred.confidence, ans.intent, ans.answer, reason, r.work.received)
            # Remembered before it goes out: a retry of this id that arrives the moment the
            # result is out must find it in the cache, not call the cloud a second time.
            self.outbox.remember([(r.request.id, payload)])
            self.answers.publish(r, payload)
        except Exception:
            log.exception("cloud job failed unexpectedly; answering locally")
            self.health.record_error()
            if self._claim(r):
                self.answers.publish(r, self.answers.local(r, "cloud_error", escalated=True))
        finally:
            with self._lock:
                self.busy -= 1

    def expire(self) -> None:
        """The device's answer for escalations unanswered cloud.timeout_s after they arrived.

        The client bounds one call, not the wait for a free cloud worker (a burst on a slow
        cloud queues up) nor name resolution; this bounds the whole wait, to within a tick."""
        cutoff = time.perf_counter() - self.s.cloud.timeout_s
        with self._lock:
            late = []
            for key, r in self._owed.items():
                if r.work.received > cutoff:
                    break
                late.append(key)
            expired = [self._owed.pop(key) for key in late]
        for r in expired:
            self.health.count("cloud_deadline")
            payload = self.answers.local(r, "cloud_error", escalated=True)
            self.outbox.remember([(r.request.id, payload)])  # before it goes out, as in _call
            self.answers.publish(r, payload)

    def retry_deferred(self) -> None:
        """Replay deferred escalations when the cloud is up; when it is down, probe once per cool-down."""
        if self.cloud is None:
            return
        with self._lock:
            if self._deferred_busy:
                return  # one wave of replays at a time keeps their order and the load gentle
        pending = self.outbox.deferred_count()
        if self.router.cloud_up:
            if not pending:
                return
            items = self.outbox.deferred(self.s.cloud.workers)
        elif self.router.probe_due():
            # We now own the breaker's single half-open probe and must report its outcome.
            if not pending:
                self._submit_probe()
                return
            items = self.outbox.deferred(1)  # the probe is a real deferred request
        else:
            return
        for item in items:
            if not self.router.admit():
                if not self.router.cloud_up:
                    self.router.record_failure()  # no budget to probe with: stay open, try later
                return
            self.outbox.record_cloud_call(time.time())
            with self._lock:
                self.busy += 1
                self._deferred_busy += 1
            self.pool.submit(self._replay, item)

    def _replay(self, item: Deferred) -> None:
        """Complete an escalation queued while the cloud was down: a second result, same id."""
        try:
            assert self.cloud is not None
            try:
                ans = self.cloud.classify(item.text)
            except CloudError as exc:
                self.router.record_failure(exc.retry_after)
                self.health.record_cloud_error()
                return  # stays queued for the next attempt
            self.router.record_success()
            local = json.loads(item.local_result)
            request = Request(id=item.request_id, text=item.text)
            # latency_ms counts from when the request was answered offline (its arrival, near enough).
            # Not a new request: health already counted it and its latency, so record=False.
            t0 = time.perf_counter() - max(0.0, time.time() - item.created)
            payload = self.answers.cloud(request, local["confidence"], ans.intent, ans.answer, "offline", t0, record=False)
            self.health.count("deferred_completed")
            self.answers.deliver(self.answers.publications(request, payload, intent_of(payload), with_reply=False), None)
            self.outbox.remove_deferred(item.seq)
        except Exception:
            log.exception("deferred escalation %s failed unexpectedly; dropping it", item.request_id)
            self.health.record_error()
            self.outbox.remove_deferred(item.seq)
        finally:
            with self._lock:
                self.busy -= 1
                self._deferred_busy -= 1

    def _submit_probe(self) -> None:
        def probe() -> None:
            try:
                assert self.cloud is not None
                self.cloud.probe()
            except CloudError as exc:
                self.router.record_failure(exc.retry_after)
            else:
                self.router.record_success()
            finally:
                with self._lock:
                    self.busy -= 1
                    self._deferred_busy -= 1

        with self._lock:
            self.busy += 1
            self._deferred_busy += 1
        self.pool.submit(probe)
