"""The wiring: the one place that owns threads and queues. Start, serve, drain, stop.

Threads, and why each exists:
- paho's network thread (inside `mqtt.Link`) receives and only enqueues;
- one inference worker drains the queue in micro-batches, classifies, routes,
  publishes, and acknowledges each request once its result is safe;
- a small pool makes cloud calls, so a slow cloud never holds up the
  device's own answers;
- one housekeeping thread publishes health, pings the systemd watchdog (only
  while the worker's heartbeat is fresh), and retries deferred escalations.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping

from edge import contract
from edge.cloud import CloudClient, CloudError
from edge.config import Settings, read_secret
from edge.contract import OOS, BadRequest, Request
from edge.delivery import Delivery, Publication
from edge.health import Health, read_throttled
from edge.integrations import hermes, homeassistant
from edge.model import Model, Prediction
from edge.mqtt import Link, LinkError, Message
from edge.outbox import Deferred, Outbox
from edge.router import Router
from edge.systemd import Notifier

log = logging.getLogger("edge.service")



@dataclass(slots=True)
class Work:
    kind: str  # "request" | "hermes"
    msg: Message
    received: float  # perf_counter at arrival: result latency is measured from here


@dataclass(slots=True)
class Routed:
    work: Work
    request: Request
    pred: Prediction


class Service:
    def __init__(self, settings: Settings, model: Model, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.s = settings
        self.model = model
        self.base = settings.base_topic
        self.request_topics = {f"{self.base}/request"}
        self.oos_threshold = settings.model.oos_threshold if settings.model.oos_threshold >= 0 else model.oos_threshold
        esc = settings.model.escalation_threshold
        self.escalation_threshold = max(esc if esc >= 0 else model.escalation_threshold, self.oos_threshold)
        self.health = Health(model.ident, settings.board.temperature_path)
        self.outbox = Outbox(
            settings.state_dir,
            max_items=settings.state.outbox_max,
            max_age_s=settings.state.outbox_max_age_s,
            deferred_max=settings.cloud.deferred_max,
            answered_max=settings.state.answered_max,
        )
        if self.outbox.recovered_from_corruption:
            self.health.count("state_recovered")
        self.notifier = Notifier(environ)
        cloud_on = bool(settings.cloud.base_url) and settings.cloud.mode != "local_only"
        key = read_secret("EDGE_CLOUD_API_KEY", "cloud_api_key", environ)
        self.cloud = CloudClient(settings.cloud, model.labels, key) if cloud_on else None
        self.router = Router(settings.cloud, self.escalation_threshold, cloud_configured=cloud_on)
        self.router.restore_calls(self.outbox.cloud_calls_since(time.time() - 86400))
        self.link = Link(
            settings,
            password=read_secret("EDGE_MQTT_PASSWORD", "mqtt_password", environ),
            on_message=self._on_message,
            on_connect=self._on_connect,
        )
        self.delivery = Delivery(self.link, self.outbox, on_backlog=self._flush_set)
        self.link.subscribe_on_connect(f"{self.base}/request", 1)
        if settings.group:
            topic = f"edge/group/{settings.group}/request"
            self.request_topics.add(topic)
            self.link.subscribe_on_connect(f"$share/{settings.group}/{topic}", 1)
        if settings.integrations.hermes:
            self.link.subscribe_on_connect(hermes.QUERY_TOPIC, 1)
        if settings.integrations.home_assistant:
            self.link.subscribe_on_connect(homeassistant.birth_topic(settings), 1)
        self._forget_old_subscriptions()
        self.queue: queue.Queue[Work | None] = queue.Queue()
        self.pool = ThreadPoolExecutor(settings.cloud.workers, thread_name_prefix="edge-cloud")
        self._cloud_busy = 0  # cloud calls in flight (health queue_depth)
        self._deferred_busy = 0  # of which replays of deferred escalations and probes
        self._busy_lock = threading.Lock()
        # Escalations still owed a result, by id(), in arrival (so deadline) order; guarded by _busy_lock.
        # Whoever pops one (its cloud job, or the deadline sweep) publishes its one result.
        self._escalations: dict[int, Routed] = {}
        self._accepting = True
        self._stop = threading.Event()
        self._flush = threading.Event()
        self._heartbeat = time.monotonic()
        self._worker_failed = False
        self._stall_text = environ.get("EDGE_FAULT_STALL_TEXT", "")  # fault injection for the watchdog test
        self._worker = threading.Thread(target=self._work_loop, name="edge-infer", daemon=True)
        self._housekeeper = threading.Thread(target=self._housekeeping, name="edge-house", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------

    def _flush_set(self) -> None:
        self._flush.set()

    def _forget_old_subscriptions(self) -> None:
        """A kept session remembers subscriptions across restarts; drop the ones this config
        no longer has (a group the device left), or their messages would arrive unwanted."""
        record = self.s.state_dir / "subscriptions.json"
        try:
            previous = json.loads(record.read_text())
        except (OSError, ValueError):
            previous = []
        if isinstance(previous, list):
            self.link.unsubscribe_on_connect([t for t in previous if isinstance(t, str)])
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.link.subscriptions))
        os.replace(tmp, record)

    def run(self) -> int:
        """Serve until stop() (a signal) or a worker failure; returns the process exit code."""
        self._worker.start()
        try:
            self.link.start()
        except LinkError as exc:
            log.error("%s", exc)
            self._shutdown()
            return 2
        log.info("waiting for broker %s:%d", self.s.mqtt.host, self.s.mqtt.port)
        waited = 0
        while not self._stop.is_set():
            try:
                if self.link.wait_first_connect(timeout=0.5):
                    break
                waited += 1
                if waited % 20 == 0:
                    # A broker that is still down at boot is not a failed start: ask
                    # systemd for more time instead of being restarted in a loop.
                    self.notifier.extend_timeout(30)
                    self.notifier.status(f"waiting for broker {self.s.mqtt.host}:{self.s.mqtt.port}")
            except LinkError as exc:
                log.error("%s", exc)
                self._shutdown()
                return 2
        if not self._stop.is_set():
            self.notifier.ready(self.health.status_line(self._cloud_state()))
            log.info("ready: model %s, base topic %s", self.model.ident, self.base)
            self._housekeeper.start()
        self._stop.wait()
        self._shutdown()
        return 1 if self._worker_failed else 0

    def stop(self) -> None:
        """Ask for a clean drain; safe from a signal handler."""
        self._stop.set()

    def _shutdown(self) -> None:
        self.notifier.stopping("draining")
        self._accepting = False  # new deliveries stay unacked: the broker redelivers them next session
        self._stop.set()
        if self._housekeeper.is_alive():
            self._housekeeper.join(timeout=2)  # no deferred retry may start while the pool drains
        self.queue.put(None)
        if self._worker.is_alive():
            self._worker.join(timeout=30)
        if self.cloud is not None:
            # Cut in-flight cloud calls: they fail at once and their requests get the device's
            # answer (reason cloud_error) now, instead of the drain waiting out cloud.timeout_s
            # for each (TimeoutStopSec is 30 s).
            self.cloud.close()
        self.pool.shutdown(wait=True)
        deadline = time.monotonic() + 5
        while self.link.in_flight() and self.link.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        self.link.stop()
        self.outbox.close()
        self.notifier.close()
        log.info("stopped: processed %d", self.health.snapshot(queue_depth=0, outbox=0, cloud="down")["processed"])

    # -- network thread ----------------------------------------------------------------

    def _on_connect(self, session_present: bool) -> None:
        self._flush.set()  # the worker replays the outbox before new results, to keep order
        if self.s.integrations.home_assistant:
            self._send_discovery()

    def _on_message(self, msg: Message) -> None:
        if not self._accepting:
            return
        if msg.topic in self.request_topics:
            self.queue.put(Work("request", msg, time.perf_counter()))
        elif self.s.integrations.hermes and msg.topic == hermes.QUERY_TOPIC:
            self.queue.put(Work("hermes", msg, time.perf_counter()))
        elif self.s.integrations.home_assistant and msg.topic == homeassistant.birth_topic(self.s):
            if msg.payload.strip() == b"online":
                self._send_discovery()
            self.link.ack(msg.mid, msg.qos)
        else:
            self.link.ack(msg.mid, msg.qos)

    def _send_discovery(self) -> None:
        from edge import __version__

        for topic, payload, retain in homeassistant.discovery_messages(self.s, self.model.ident, __version__):
            self.link.publish(topic, payload, qos=1, retain=retain)

    # -- inference worker --------------------------------------------------------------

    def _work_loop(self) -> None:
        try:
            limit = self.s.model.batch_size
            while True:
                self._heartbeat = time.monotonic()
                self._replay_if_due()
                try:
                    first = self.queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                batch: list[Work] = []
                item: Work | None = first
                while item is not None:
                    batch.append(item)
                    if len(batch) >= limit:
                        break
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    # A connect while we waited (requests redelivered with it arrive at once):
                    # the stored results must go out before this batch's, to keep the order.
                    self._replay_if_due()
                    self._process(batch)
                if item is None:
                    return  # the drain sentinel: everything before it has been handled
        except BaseException:
            log.critical("inference worker died; stopping so systemd restarts the service", exc_info=True)
            self._worker_failed = True
            self._stop.set()

    def _replay_if_due(self) -> None:
        if self._flush.is_set() and self.link.connected:
            self._flush.clear()
            if not self.delivery.replay() and self.link.connected:
                self._flush.set()  # stalled while connected: try again next turn

    def _process(self, batch: list[Work]) -> None:
        routed: list[Routed] = []
        for work in batch:
            try:
                request = self._parse(work)
            except BadRequest as exc:
                self._error(work, exc.request_id, exc.code, exc.message)
                continue
            if request is None:
                continue
            routed.append(Routed(work, request, None))  # type: ignore[arg-type]
        if not routed:
            return
        if self._stall_text and any(r.request.text == self._stall_text for r in routed):
            log.warning("fault injection: stalling the inference worker")
            threading.Event().wait()
        try:
            preds = self.model.classify([r.request.text for r in routed])
        except Exception as exc:  # a model failure must not kill the daemon: report each request
            log.exception("classification failed for a batch of %d", len(routed))
            for r in routed:
                self._error(r.work, r.request.id, contract.INTERNAL, f"classification failed: {exc}")
            return
        answered: list[tuple[str, bytes]] = []
        for r, pred in zip(routed, preds):
            r.pred = self._apply_thresholds(pred)
            if r.work.kind == "hermes":
                self._answer_hermes(r)
                continue
            payload = self._route(r)
            if payload is not None:
                answered.append((r.request.id, payload))
        if answered:
            self.outbox.remember(answered)

    def _parse(self, work: Work) -> Request | None:
        msg = work.msg
        if work.kind == "hermes":
            q = hermes.parse_query(msg.payload, self.s.mqtt.max_payload_bytes)
            return Request(id=q.id or contract.new_id(), text=q.input, reply_to=None, correlation=None)
        request = contract.parse_request(msg.payload, self.s.mqtt.max_payload_bytes, msg.response_topic, msg.correlation)
        cached = self.outbox.answered(request.id)
        if cached is not None:
            prior = _decode(cached)
            # Same id and same text: a redelivery or a client retry. Answer again from the
            # cache, never recompute into the cloud. A client that reuses ids for new
            # text gets a fresh answer instead of a stale one.
            if prior.get("text") == request.text:
                self.health.count("duplicates")
                self._deliver(self._result_publications(request, cached, str(prior.get("intent") or OOS)), work)
                return None
        return request

    def _apply_thresholds(self, pred: Prediction) -> Prediction:
        if self.oos_threshold == self.model.oos_threshold:
            return pred
        intent = OOS if pred.confidence < self.oos_threshold else pred.top_intent
        return Prediction(intent=intent, confidence=pred.confidence, top_intent=pred.top_intent)

    def _route(self, r: Routed) -> bytes | None:
        """Decide local/cloud/defer for one request; returns the payload when answered now."""
        d = self.router.decide(r.pred.intent, r.pred.confidence, r.request.allow_cloud)
        if d.action == "cloud":
            if self.router.admit():
                self.outbox.record_cloud_call(time.time())
                self.health.count("cloud_calls")
                with self._busy_lock:
                    self._cloud_busy += 1
                    self._escalations[id(r)] = r
                self.pool.submit(self._cloud_job, r, d.reason)
                return None
            reason = "budget"
        else:
            reason = d.reason
        payload = self._local_result(r, reason)
        if d.action == "defer":
            self.outbox.defer(r.request.id, r.request.text, r.request.reply_to, r.request.correlation, payload)
        self._publish_result(r, payload)
        return payload

    def _local_result(self, r: Routed, reason: str, escalated: bool = False) -> bytes:
        latency = (time.perf_counter() - r.work.received) * 1000
        self.health.record_result(latency, escalated)
        return contract.encode(
            contract.result_payload(
                r.request,
                intent=r.pred.intent,
                confidence=r.pred.confidence,
                source="edge",
                escalated=escalated,
                reason=reason,
                answer=None,
                model=self.model.ident,
                latency_ms=latency,
            )
        )

    def _answer_hermes(self, r: Routed) -> None:
        q = hermes.parse_query(r.work.msg.payload, self.s.mqtt.max_payload_bytes)
        topic, payload = hermes.respond(q, r.pred.intent, r.pred.confidence, self.escalation_threshold)
        self.health.record_result((time.perf_counter() - r.work.received) * 1000, False)
        self._deliver([(topic, payload, 1, False, None)], r.work)

    # -- cloud pool --------------------------------------------------------------------

    def _claim(self, r: Routed) -> bool:
        """True for the one caller that may publish an escalated request's result."""
        with self._busy_lock:
            return self._escalations.pop(id(r), None) is not None

    def _cloud_job(self, r: Routed, reason: str) -> None:
        try:
            assert self.cloud is not None
            with self._busy_lock:
                expired = id(r) not in self._escalations
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
                payload = self._local_result(r, "cloud_error", escalated=True)
            else:
                self.router.record_success()
                if not self._claim(r):
                    log.info("cloud answer for %s came after cloud.timeout_s; the device's answer stands", r.request.id)
                    return
                payload = self._cloud_result(r.request, r.pred.confidence, ans.intent, ans.answer, reason, r.work.received)
            # Remembered before it goes out: a retry of this id that arrives the moment the
            # result is out must find it in the cache, not call the cloud a second time.
            self.outbox.remember([(r.request.id, payload)])
            self._publish_result(r, payload)
        except Exception:
            log.exception("cloud job failed unexpectedly; answering locally")
            self.health.record_error()
            if self._claim(r):
                self._publish_result(r, self._local_result(r, "cloud_error", escalated=True))
        finally:
            with self._busy_lock:
                self._cloud_busy -= 1

    def _cloud_result(
        self, request: Request, confidence: float, intent: str, answer: str, reason: str, t0: float, record: bool = True
    ) -> bytes:
        latency = (time.perf_counter() - t0) * 1000
        if record:
            self.health.record_result(latency, True)
        return contract.encode(
            contract.result_payload(
                request,
                intent=intent,
                confidence=confidence,
                source="cloud",
                escalated=True,
                reason=reason,
                answer=answer,
                model=self.model.ident,
                latency_ms=latency,
            )
        )

    def _deferred_job(self, item: Deferred) -> None:
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
            payload = self._cloud_result(request, local["confidence"], ans.intent, ans.answer, "offline", t0, record=False)
            self.health.count("deferred_completed")
            self._deliver(self._result_publications(request, payload, ans.intent, with_reply=False), None)
            self.outbox.remove_deferred(item.seq)
        except Exception:
            log.exception("deferred escalation %s failed unexpectedly; dropping it", item.request_id)
            self.health.record_error()
            self.outbox.remove_deferred(item.seq)
        finally:
            with self._busy_lock:
                self._cloud_busy -= 1
                self._deferred_busy -= 1

    # -- publishing --------------------------------------------------------------------

    def _publish_result(self, r: Routed, payload: bytes) -> None:
        intent = _intent_of(payload)
        self._deliver(self._result_publications(r.request, payload, intent), r.work)

    def _result_publications(self, request: Request, payload: bytes, intent: str, with_reply: bool = True) -> list[Publication]:
        pubs: list[Publication] = [
            (f"{self.base}/result", payload, 1, False, None),
            (contract.intent_topic(self.base, intent), payload, 1, False, None),
        ]
        if with_reply and request.reply_to:
            pubs.append((request.reply_to, payload, 1, False, request.correlation))
        return pubs

    def _error(self, work: Work, request_id: str | None, code: str, message: str) -> None:
        self.health.record_error()
        log.info("rejected request on %s: %s: %s", work.msg.topic, code, message)
        payload = contract.encode(contract.error_payload(request_id, code, message))
        self._deliver([(f"{self.base}/error", payload, 1, False, None)], work)

    def _deliver(self, pubs: list[Publication], work: Work | None) -> None:
        on_safe = None
        if work is not None:
            mid, qos = work.msg.mid, work.msg.qos
            on_safe = lambda: self.link.ack(mid, qos)  # noqa: E731
        self.delivery.deliver(pubs, on_safe)

    # -- housekeeping ------------------------------------------------------------------

    def _cloud_state(self) -> str:
        return "up" if self.router.cloud_up else "down"

    def _housekeeping(self) -> None:
        next_health = 0.0
        next_ping = 0.0
        wd = self.notifier.watchdog_interval
        while not self._stop.wait(0.25):
            try:
                now = time.monotonic()
                alive = self._worker.is_alive() and now - self._heartbeat < max(2.0, wd or 0)
                if wd and now >= next_ping and alive:
                    self.notifier.watchdog()
                    next_ping = now + wd
                if now >= next_health:
                    next_health = now + self.s.health.interval_s
                    self._publish_health()
                self._expire_escalations()
                self._retry_deferred()
            except Exception:
                log.exception("housekeeping failed; continuing")

    def _expire_escalations(self) -> None:
        """The device's answer for escalations unanswered cloud.timeout_s after they arrived.

        The client bounds one call, not the wait for a free cloud worker (a burst on a slow
        cloud queues up) nor name resolution; this bounds the whole wait, to within a tick."""
        cutoff = time.perf_counter() - self.s.cloud.timeout_s
        with self._busy_lock:
            late = []
            for key, r in self._escalations.items():
                if r.work.received > cutoff:
                    break
                late.append(key)
            expired = [self._escalations.pop(key) for key in late]
        for r in expired:
            self.health.count("cloud_deadline")
            payload = self._local_result(r, "cloud_error", escalated=True)
            self.outbox.remember([(r.request.id, payload)])  # before it goes out, as in _cloud_job
            self._publish_result(r, payload)

    def _publish_health(self) -> None:
        with self._busy_lock:
            busy = self._cloud_busy
        extra = {"budget": self.router.stats(), "deferred": self.outbox.deferred_count(),
                 "dropped": self.outbox.dropped, "throttled": read_throttled()}
        snap = self.health.snapshot(
            queue_depth=self.queue.qsize() + busy, outbox=len(self.outbox), cloud=self._cloud_state(), extra=extra
        )
        self.link.publish(f"{self.base}/health", contract.encode(snap), qos=0, retain=True)
        self.notifier.status(self.health.status_line(self._cloud_state()))

    def _retry_deferred(self) -> None:
        """Replay deferred escalations when the cloud is up; when it is down, probe once per cool-down."""
        if self.cloud is None:
            return
        with self._busy_lock:
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
            with self._busy_lock:
                self._cloud_busy += 1
                self._deferred_busy += 1
            self.pool.submit(self._deferred_job, item)

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
                with self._busy_lock:
                    self._cloud_busy -= 1
                    self._deferred_busy -= 1

        with self._busy_lock:
            self._cloud_busy += 1
            self._deferred_busy += 1
        self.pool.submit(probe)


def _decode(payload: bytes) -> dict:
    try:
        obj = json.loads(payload)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _intent_of(payload: bytes) -> str:
    return str(_decode(payload).get("intent") or OOS)
