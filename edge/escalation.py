"""Escalations to the cloud: calls bounded by a deadline, one call per id, deferred replays, breaker probes.

Every cloud call runs on the service's small pool (a blocking HTTP request),
never on the event loop, so a slow cloud never holds up the device's own
answers; its outcome comes back to the loop (`post`, the loop's
call_soon_threadsafe), which claims, publishes and writes: a pool thread only
waits for the cloud. An escalated
request is owed exactly one result: whoever claims it first (its cloud call,
or the deadline sweep once `cloud.timeout_s` has passed) publishes it. A
repeat of an id whose call is still in flight (a redelivery after a link blip)
joins that call instead of making another: it is answered, and acknowledged,
with the same result. Escalations wanted while the cloud was down were
answered locally and queued on disk; they are replayed here when the breaker
closes, each completing with a second result (same id, `"source": "cloud"`).

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

import json
import logging
import queue
import threading
import time
from concurrent.futures import Executor, Future
from typing import Any, Callable

from typing import TYPE_CHECKING

from edge.answers import Answers
from edge.contract import Request, Result
from edge.health import Health
from edge.model import Prediction
from edge.outbox import Deferred, EscalationStore
from edge.router import Router

if TYPE_CHECKING:
    from edge.cloud import CloudError
    from edge.home_cloud_mqtt import HomeAsk
    from edge.pipeline import Routed

log = logging.getLogger("edge.escalation")

# In a deferred request's queued record (its device result as published, plus this key; never published
# itself): the language a home request was said in, which its replay is checked in.
HOME_LANGUAGE = "home_language"

_AUTH_HINT = {401: " (check EDGE_CLOUD_API_KEY / the cloud_api_key credential)", 403: " (the key may not use this model)"}


class Escalations:
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
        self.cloud = cloud
        self.redact = redact  # [cloud] redact, for the home calls (classify redacts by itself)
        # The home cloud prompt (edge.home_cloud_prompt.HomePrompt) of the model answering now, or None
        # when it is no home model: edge.service_build wires the pipeline's `home_prompt` here.
        self.home_prompt: Callable[[], Any] = lambda: None
        self._post = post  # hands a pool thread's outcome to the loop (in-process tests: run it now)
        self.router = router
        self.store = store
        self.health = health
        self.answers = answers
        self.pool = pool
        self.timeout_s = timeout_s
        self.workers = workers
        self.clock = clock
        self._lock = threading.Lock()
        self.busy = 0  # cloud calls in flight (health's queue_depth counts them)
        self._deferred_busy = 0  # of which replays of deferred escalations and probes
        # Escalations still owed a result, by id(), in arrival (so deadline) order; and by request id,
        # with the repeats that joined them.
        self._owed: dict[int, Routed] = {}
        self._by_id: dict[str, tuple[Routed, list[Routed]]] = {}
        self._failing = False  # the last call failed: warned once, until one succeeds
        self._closed = False  # stopped: late calls publish and write nothing
        self._finishing = 0  # claimed results being published now (the stop waits for these)
        self._settled = threading.Condition(self._lock)

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
        home = self._home(r.home_language)
        if r.home_language is not None and home is None:  # no home prompt (not wired): no unchecked call
            if self._claim(r):
                self._finish(r, lambda: self.answers.local(r, "cloud_error", escalated=True))
            return
        if not self._submit(self._call, r, reason, home, deferred=False):
            # The pool is shut down (a stop under way): the device answers now. Claimed first, so
            # the deadline sweep cannot answer it a second time.
            if self._claim(r):
                self._finish(r, lambda: self.answers.local(r, "cloud_error", escalated=True))

    def _home(self, lang: str | None) -> HomeAsk | None:
        """On the loop: the home call for a request in `lang` (a served language) with the prompt of
        the model answering now; None for a request that is no home one, or without a home prompt."""
        if lang is None:
            return None
        prompt = self.home_prompt()
        if prompt is None:
            return None
        from edge.home_cloud_mqtt import HomeAsk

        return HomeAsk(prompt, lang)

    def _ask(self, text: str, home: HomeAsk | None) -> Any:
        """Pool thread: the blocking call, generic (a CloudAnswer) or home (the reply's JSON value)."""
        if home is None:
            return self.cloud.classify(text)
        from edge.home_cloud_mqtt import ask

        return ask(self.cloud, home, text, self.redact)

    def _home_result(self, request: Request, device: Prediction, t0: float, reply: Any, home: HomeAsk,
                     reason: str, record: bool = True) -> Result | None:
        """On the loop: the cloud's result from a home reply, or None when the checks refuse it."""
        from edge.home_cloud_mqtt import result

        return result(self.answers, self.health, request, device, t0, reply, home, reason, record)

    def _submit(self, fn: Callable[..., None], *args: Any, deferred: bool) -> bool:
        """Count a job as busy and hand it to the pool; False (counters unwound) when the pool
        refuses it (shut down by a stop) or this object is closed. Every busy += has its -= here
        or in the job's own `finally`, so the drain never waits on a job that does not exist."""
        with self._lock:
            if self._closed:
                return False
            self.busy += 1
            if deferred:
                self._deferred_busy += 1
        try:
            self.pool.submit(fn, *args)
        except RuntimeError:
            self._done(deferred)
            return False
        return True

    def _done(self, deferred: bool) -> None:
        with self._lock:
            self.busy -= 1
            if deferred:
                self._deferred_busy -= 1

    def close(self, timeout: float = 3.0) -> None:
        """The drain: answer every owed escalation with the device's result now, and from here on
        take nothing new and publish or write nothing for calls that return later. The cloud calls'
        threads are not waited for (a hanging connect must not hold the stop); a result being
        published right now by one of them is (up to `timeout`), so the store is closed only after
        its last writer."""
        with self._lock:
            self._closed = True
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
        return self._closed

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
                ans = self._ask(r.request.text, home)
            except BaseException as exc:  # CloudError, or anything unforeseen: answered locally
                err = exc
        self._post(lambda: self._called(r, reason, ans, err, expired, home))

    def _called(self, r: Routed, reason: str, ans: Any, err: BaseException | None, expired: bool,
                home: HomeAsk | None = None) -> None:
        """On the loop: publish the cloud's answer, or the device's when the call failed."""
        assert r.pred is not None
        try:
            if expired or self._closed:
                return  # answered already (the deadline sweep, or the stop)
            if _is_cloud_error(err):
                self._failed(err)
                if self._claim(r):
                    self._finish(r, lambda: self.answers.local(r, "cloud_error", escalated=True))
                return
            if err is not None:
                raise err
            self._succeeded()
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
            self._done(False)

    def _failed(self, exc: CloudError) -> None:
        self.router.record_failure(exc.retry_after)
        self.health.record_cloud_error()
        hint = _AUTH_HINT.get(exc.status or 0, "")
        if not self._failing:
            self._failing = True
            log.warning("cloud call failed (%s: %s)%s; the device's answer stands", exc.kind, exc.message, hint)
        else:
            log.debug("cloud call failed again (%s: %s)", exc.kind, exc.message)

    def _succeeded(self) -> None:
        self.router.record_success()
        if self._failing:
            self._failing = False
            log.info("cloud calls succeed again")

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

    # -- deferred escalations -------------------------------------------------------------

    def retry_deferred(self) -> None:
        """Replay deferred escalations when the cloud is up; when it is down, probe once per cool-down."""
        if self.cloud is None:
            return
        with self._lock:
            if self._deferred_busy or self._closed:
                return  # one wave of replays at a time keeps their order and the load gentle
        pending = self.store.deferred_count()
        if self.router.cloud_up:
            if not pending:
                return
            items = self.store.deferred(self.workers)
        elif self.router.probe_due():
            # We now own the breaker's single half-open probe and must report its outcome.
            if not pending:
                self._submit_probe()
                return
            items = self.store.deferred(1)  # the probe is a real deferred request
        else:
            return
        home_now = self.home_prompt() is not None
        for item in items:
            lang = _home_language(item)
            if (lang is not None) != home_now:
                # Queued by a home model and the model answering now is none, or the other way round (a
                # deployment came between): its reply could not be checked as what it was asked about.
                log.warning("deferred request %s dropped: queued by another kind of model than the one "
                            "answering now, its cloud reply could not be checked", item.request_id)
                self.health.count("deferred_unchecked")
                self._drop(item)
                continue
            home = self._home(lang)
            if not self.router.budget.spend():  # admits the call and writes it to the ledger
                if not self.router.cloud_up:
                    self.router.record_failure()  # no budget to probe with: stay open, try later
                return
            if not self._submit(self._replay, item, home, deferred=True):
                return  # the pool is gone (a stop): the item stays queued for the next start

    def _replay(self, item: Deferred, home: HomeAsk | None = None) -> None:
        """Pool thread: the cloud's second opinion on a deferred escalation; the rest on the loop."""
        ans: Any = None
        err: BaseException | None = None
        try:
            ans = self._ask(item.text, home)
        except BaseException as exc:
            err = exc
        self._post(lambda: self._replayed(item, ans, err, home))

    def _replayed(self, item: Deferred, ans: Any, err: BaseException | None, home: HomeAsk | None = None) -> None:
        """On the loop: complete an escalation queued while the cloud was down (a second result, same id)."""
        try:
            if _is_cloud_error(err):
                if not self._closed:
                    self._failed(err)
                return  # stays queued for the next attempt
            if self._closed:
                return  # answered after the stop: it stays queued, replayed after the next start
            if err is not None:
                raise err
            self._succeeded()
            local = json.loads(item.local_result)
            request = Request(id=item.request_id, text=item.text)
            # latency_ms counts from when the request was answered offline (its arrival, near enough).
            # Not a new request: health already counted it and its latency, so record=False.
            t0 = self.clock() - max(0.0, time.time() - item.created)
            device_intent = str(local.get("intent") or "oos")
            device = Prediction(device_intent, float(local.get("confidence") or 0.0), device_intent)
            if home is not None:
                checked = self._home_result(request, device, t0, ans, home, "offline", record=False)
                if checked is not None:  # refused: the device's result stands, no second one
                    self.health.count("deferred_completed")
                    self.answers.publish_second(checked)
                self._drop(item)
                return
            result = self.answers.cloud(request, device, list(local.get("slots") or []), ans.intent, ans.answer,
                                        "offline", t0, record=False, cloud_slots=getattr(ans, "slots", None))
            self.health.count("deferred_completed")
            self.answers.publish_second(result)
            self._drop(item)
        except Exception:
            log.exception("deferred escalation %s failed unexpectedly; dropping it", item.request_id)
            self.health.record_error()
            self._drop(item)
        finally:
            self._done(True)

    def _drop(self, item: Deferred) -> None:
        try:
            self.store.remove_deferred(item.seq)
        except Exception as exc:  # replayed again later: a duplicate second result, not a crash
            self.health.storage.failed("deferred queue", exc)

    def _submit_probe(self) -> None:
        def probe() -> None:  # pool thread: the call; its outcome is recorded on the loop
            err: BaseException | None = None
            try:
                self.cloud.probe()
            except BaseException as exc:
                err = exc
            self._post(lambda: probed(err))

        def probed(err: BaseException | None) -> None:
            try:
                if _is_cloud_error(err):
                    self.router.record_failure(err.retry_after)
                elif err is not None:
                    log.error("cloud probe failed unexpectedly", exc_info=err)
                    self.router.record_failure()
                else:
                    self._succeeded()
            finally:
                self._done(True)

        if not self._submit(probe, deferred=True):
            self.router.record_failure()  # the probe we own was never made: stay open, try later


class DaemonPool(Executor):
    """A fixed pool of daemon threads for the cloud calls.

    Not ThreadPoolExecutor: Python's exit joins that one's threads, so a call stuck in a
    connect (which no socket shutdown reaches) would hold the process past systemd's
    TimeoutStopSec. The stop answers such calls itself (`Escalations.close`) and leaves their
    threads behind; nothing they do afterwards publishes or writes."""

    def __init__(self, workers: int, name: str = "edge-cloud") -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple, dict] | None] = queue.SimpleQueue()
        self._shut = False
        self._lock = threading.Lock()
        self._workers = workers
        self._name = name
        # Started at the first job: with no cloud configured the daemon runs without them (a thread
        # costs its stack and, once it allocates, a malloc arena).
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:  # type: ignore[override]
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if not self._threads:
                self._threads = [threading.Thread(target=self._work, name=f"{self._name}-{i}", daemon=True)
                                 for i in range(self._workers)]
                for t in self._threads:
                    t.start()
            future: Future = Future()
            self._jobs.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shut = True
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for t in self._threads:
                t.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # the jobs guard themselves; this keeps the thread alive anyway
                future.set_exception(exc)


def defer_record(payload: bytes, home_language: str | None) -> bytes:
    """What the deferred queue keeps of a device result: the payload as published, plus a home
    request's language (HOME_LANGUAGE), which its replay is checked in: polarity words, number
    words and names are per language."""
    if home_language is None:
        return payload
    record = json.loads(payload)
    record[HOME_LANGUAGE] = home_language
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _home_language(item: Deferred) -> str | None:
    """The language a queued home request was said in (defer_record); None for any other request
    (a record that does not parse is left to the replay, which drops it)."""
    try:
        record = json.loads(item.local_result)
    except ValueError:
        return None
    lang = record.get(HOME_LANGUAGE) if isinstance(record, dict) else None
    return lang if isinstance(lang, str) and lang else None


def _is_cloud_error(exc: BaseException | None) -> bool:
    """A CloudError (the cloud said no, or could not be reached). edge.cloud is imported only when a
    cloud is configured (http.client and email cost 3 MB of RSS, measured): an outcome of a cloud
    call means it is loaded already, so this import is a dictionary look-up."""
    if exc is None:
        return False
    from edge.cloud import CloudError

    return isinstance(exc, CloudError)
