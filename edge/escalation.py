"""Escalations to the cloud: calls bounded by a deadline, one call per id, one result per request.

Every cloud call runs on the service's small pool (a blocking HTTP request),
never on the event loop, so a slow cloud never holds up the device's own
answers; its outcome comes back to the loop (edge.cloud_calls: the pool, the
busy counters, the breaker told of each outcome), which claims, publishes and
writes: a pool thread only waits for the cloud. An escalated
request is owed exactly one result: whoever claims it first (its cloud call,
or the deadline sweep once `cloud.timeout_s` has passed, or the stop) publishes it. A
repeat of an id whose call is still in flight (a redelivery after a link blip)
joins that call instead of making another: it is answered, and acknowledged,
with the same result. Escalations wanted while the cloud was down were
answered locally and queued on disk; edge.deferred_replay replays them when
the breaker closes (`retry_deferred`).

A home model's escalations (the request's `home_language` is set: edge.pipeline) take the home
call and checks instead of the generic prompt (edge.home_cloud: the served intents and the names;
edge.home_cloud_mqtt: the result): a checked intent is the cloud's result with resolved slots, a
question's answer is the cloud's result with intent `oos`, and a refused reply leaves the device's
result standing (reason `cloud_error`; a deferred one gets no second result). The bookkeeping above
is the same for both.

Nothing here raises into its caller or kills a pool thread: one item that
fails is answered locally (or dropped from the deferred queue) and the others
go on.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Callable

from edge.answers import Answers
from edge.cloud_calls import CloudCalls, is_cloud_error
from edge.contract import Request
from edge.results import Result
# defer_record is the pipeline's (it queues a deferred request's record); named here too, where the
# pipeline and edge.home_cloud_mqtt's docstring look for it.
from edge.deferred_replay import DeferredReplays, defer_record
from edge.health import Health
from edge.model import Prediction
from edge.outbox import EscalationStore
from edge.router import Router

if TYPE_CHECKING:
    from edge.home_cloud_mqtt import HomeAsk
    from edge.work import Routed

__all__ = ["Escalations", "defer_record"]

log = logging.getLogger("edge.escalation")


class Escalations:
    """The escalated requests still owed a result, their calls, the deadline sweep and the stop."""

    def __init__(
        self,
        cloud: Any,  # CloudClient or a fake: classify(text) -> CloudAnswer, probe()
        router: Router,
        store: EscalationStore,  # the cache and the deferred queue (Outbox, or a fake)
        health: Health,
        answers: Answers,
        pool: Executor,
        timeout_s: float,
        workers: int,
        clock: Callable[[], float] = time.perf_counter,
        post: Callable[[Callable[[], None]], None] = lambda fn: fn(),
        redact: bool = True,
    ) -> None:
        # The pool, its busy counters, the call itself and the breaker's bookkeeping, shared with the
        # deferred replays.
        self.calls = CloudCalls(cloud, router, health, pool, post, redact)
        self.deferred = DeferredReplays(self.calls, store, health, answers, workers, clock)
        self.store = store
        self.health = health
        self.answers = answers
        self.timeout_s = timeout_s
        self.clock = clock
        self._lock = threading.Lock()
        # Escalations still owed a result, by id(), in arrival (so deadline) order; and by request id,
        # with the repeats that joined them.
        self._owed: dict[int, Routed] = {}
        self._by_id: dict[str, tuple[Routed, list[Routed]]] = {}
        self._finishing = 0  # claimed results being published now (the stop waits for these)
        self._settled = threading.Condition(self._lock)

    @property
    def cloud(self) -> Any:
        """The cloud client; None when no cloud is configured."""
        return self.calls.cloud

    @property
    def busy(self) -> int:
        """Cloud calls in flight, replays and probes included (health's queue_depth counts them)."""
        return self.calls.busy

    @property
    def home_prompt(self) -> Callable[[], Any]:
        """The home cloud prompt of the model answering now (edge.service_build wires the pipeline's)."""
        return self.calls.home_prompt

    @home_prompt.setter
    def home_prompt(self, fn: Callable[[], Any]) -> None:
        self.calls.home_prompt = fn

    def retry_deferred(self) -> None:
        """Replay deferred escalations when the cloud is up; when it is down, probe once per cool-down."""
        self.deferred.retry()

    # -- escalations --------------------------------------------------------------------

    def join(self, r: Routed) -> bool:
        """True when a call for this id and text is in flight: `r` gets that call's result."""
        with self._lock:
            entry = self._by_id.get(r.request.id)
            if entry is None or entry[0].request.text != r.request.text:
                return False
            entry[1].append(r)
        self.health.count("duplicates")
        return True

    def submit(self, r: Routed, reason: str) -> None:
        """Send one request to the cloud (its call already taken by the caller's `budget.spend()`)."""
        self.health.count("cloud_calls")
        with self._lock:
            self._owed[id(r)] = r
            if not r.request.generated_id:
                self._by_id.setdefault(r.request.id, (r, []))
        home = self.calls.home(r.home_language)
        if r.home_language is not None and home is None:  # no home prompt (not wired): no unchecked call
            if self._claim(r):
                self._finish(r, lambda: self.answers.local(r, "cloud_error", escalated=True))
            return
        if not self.calls.submit(self._call, r, reason, home, deferred=False):
            # The pool is shut down (a stop under way): the device answers now. Claimed first, so
            # the deadline sweep cannot answer it a second time.
            if self._claim(r):
                self._finish(r, lambda: self.answers.local(r, "cloud_error", escalated=True))

    def _home_result(self, request: Request, device: Prediction, t0: float, reply: Any, home: HomeAsk,
                     reason: str, record: bool = True) -> Result | None:
        """On the loop: the cloud's result from a home reply, or None when the checks refuse it."""
        from edge.home_cloud_mqtt import result

        return result(self.answers, self.health, request, device, t0, reply, home, reason, record)

    def close(self, timeout: float = 3.0) -> None:
        """The drain: answer every owed escalation with the device's result now, and from here on
        take nothing new and publish or write nothing for calls that return later. The cloud calls'
        threads are not waited for (a hanging connect must not hold the stop); a result being
        published right now by one of them is (up to `timeout`), so the store is closed only after
        its last writer."""
        self.calls.close()
        with self._lock:
            owed = list(self._owed.values())
            self._owed.clear()
            self._finishing += len(owed)
        for r in owed:
            self.health.count("cloud_abandoned_at_stop")
            self._finish(r, lambda r=r: self.answers.local(r, "cloud_error", escalated=True))  # type: ignore[misc]
        with self._settled:
            if not self._settled.wait_for(lambda: self._finishing == 0, timeout):
                log.warning("%d escalation results still being published at stop", self._finishing)

    @property
    def closed(self) -> bool:
        return self.calls.closed

    def _claim(self, r: Routed) -> bool:
        """True for the one caller that may publish an escalated request's result; that caller
        must then call `_finish` (which the stop waits for)."""
        with self._lock:
            if self._owed.pop(id(r), None) is None:
                return False
            self._finishing += 1
            return True

    def _finish(self, r: Routed, result_of: Callable[[], Result]) -> None:
        """Publish a claimed escalation's result, to it and to every repeat that joined it. Never
        raises: a result that cannot even be built is logged (the request stays unacked and the
        broker redelivers it)."""
        try:
            with self._lock:
                owner, joined = self._by_id.get(r.request.id, (None, []))
                if owner is r:
                    del self._by_id[r.request.id]
                else:
                    joined = []
            result = result_of()
            # Remembered before it goes out: a retry of this id that arrives the moment the
            # result is out must find it in the cache, not call the cloud a second time.
            try:
                self.store.remember([(r.request.id, result.payload)])
                self.health.storage.ok()
            except Exception as exc:
                self.health.storage.failed("answered-id cache", exc)
            self.answers.publish(r, result)
            for repeat in joined:
                self.answers.repeat(repeat, result.payload)
        except Exception:
            log.exception("could not publish the result of escalation %s", r.request.id)
            self.health.record_error()
        finally:
            with self._settled:
                self._finishing -= 1
                self._settled.notify_all()

    def _call(self, r: Routed, reason: str, home: HomeAsk | None) -> None:
        """Pool thread: the blocking call only; its outcome goes back to the loop."""
        ans: Any = None
        err: BaseException | None = None
        with self._lock:
            expired = id(r) not in self._owed
        if not expired:  # else it waited out its timeout behind busy workers and has been answered
            try:
                ans = self.calls.ask(r.request.text, home)
            except BaseException as exc:  # CloudError, or anything unforeseen: answered locally
                err = exc
        self.calls.post(lambda: self._called(r, reason, ans, err, expired, home))

    def _called(self, r: Routed, reason: str, ans: Any, err: BaseException | None, expired: bool,
                home: HomeAsk | None = None) -> None:
        """On the loop: publish the cloud's answer, or the device's when the call failed."""
        assert r.pred is not None
        try:
            if expired or self.calls.closed:
                return  # answered already (the deadline sweep, or the stop)
            if is_cloud_error(err):
                self.calls.failed(err)  # type: ignore[arg-type]
                if self._claim(r):
                    self._finish(r, lambda: self.answers.local(r, "cloud_error", escalated=True))
                return
            if err is not None:
                raise err
            self.calls.succeeded()
            if not self._claim(r):
                log.info("cloud answer for %s came after cloud.timeout_s; the device's answer stands", r.request.id)
                return
            assert r.pred is not None
            if home is not None:
                pred = r.pred

                def checked() -> Result:  # refused: the device's result stands, not_recognized and all
                    found = self._home_result(r.request, pred, r.work.received, ans, home, reason)
                    return found if found is not None else self.answers.local(r, "cloud_error", escalated=True)

                self._finish(r, checked)
                return
            self._finish(r, lambda: self.answers.cloud(r.request, r.pred, r.slots, ans.intent, ans.answer, reason,
                                                       r.work.received, cloud_slots=getattr(ans, "slots", None)))
        except Exception:
            log.exception("cloud job failed unexpectedly; answering locally")
            self.health.record_error()
            try:
                if self._claim(r):
                    self._finish(r, lambda: self.answers.local(r, "cloud_error", escalated=True))
            except Exception:
                log.exception("could not answer %s locally either", r.request.id)
        finally:
            self.calls.done(False)

    def expire(self) -> None:
        """The device's answer for escalations unanswered cloud.timeout_s after they arrived.

        The client bounds one call, not the wait for a free cloud worker (a burst on a slow
        cloud queues up) nor name resolution; this bounds the whole wait, to within a tick.
        One that fails does not strand the others."""
        cutoff = self.clock() - self.timeout_s
        with self._lock:
            late = []
            for key, r in self._owed.items():
                if r.work.received > cutoff:
                    break
                late.append(key)
            expired = [self._owed.pop(key) for key in late]
            self._finishing += len(expired)
        for r in expired:
            self.health.count("cloud_deadline")
            self._finish(r, lambda r=r: self.answers.local(r, "cloud_error", escalated=True))  # type: ignore[misc]

