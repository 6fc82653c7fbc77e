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
from typing import Mapping

from edge import contract
from edge.answers import Answers, Routed, Work, decode
from edge.cloud import CloudClient
from edge.config import Settings, read_secret
from edge.contract import OOS, BadRequest, Request
from edge.delivery import Delivery
from edge.escalation import Escalations
from edge.health import Health, read_throttled
from edge.integrations import hermes, homeassistant
from edge.model import Model, Prediction
from edge.mqtt import Link, LinkError, Message
from edge.outbox import Outbox
from edge.router import Router
from edge.systemd import Notifier

log = logging.getLogger("edge.service")


class Service:
    """One daemon: built from settings and a loaded model; `run()` serves until `stop()`."""

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
        self._flush = threading.Event()  # the outbox has something to replay before new results
        self.delivery = Delivery(self.link, self.outbox, on_backlog=self._flush.set)
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
        self.answers = Answers(settings, model.ident, self.health, self.delivery, self.link)
        self.escalations = Escalations(settings, self.cloud, self.router, self.outbox, self.health, self.answers, self.pool)
        self._accepting = True
        self._stop = threading.Event()
        self._heartbeat = time.monotonic()
        self._worker_failed = False
        self._stall_text = environ.get("EDGE_FAULT_STALL_TEXT", "")  # fault injection for the watchdog test
        self._worker = threading.Thread(target=self._work_loop, name="edge-infer", daemon=True)
        self._housekeeper = threading.Thread(target=self._housekeeping, name="edge-house", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------

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
                parsed = self._parse(work)
            except BadRequest as exc:
                self.answers.error(work, exc.request_id, exc.code, exc.message)
                continue
            if parsed is not None:
                routed.append(parsed)
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
                self.answers.error(r.work, r.request.id, contract.INTERNAL, f"classification failed: {exc}")
            return
        answered: list[tuple[str, bytes]] = []
        for r, pred in zip(routed, preds):
            r.pred = self._apply_thresholds(pred)
            if r.work.kind == "hermes":
                self._answer_hermes(r, r.query)
                continue
            payload = self._route(r)
            if payload is not None:
                answered.append((r.request.id, payload))
        if answered:
            self.outbox.remember(answered)

    def _parse(self, work: Work) -> Routed | None:
        """A request to classify, or None when it was answered from the cache; BadRequest if malformed."""
        msg = work.msg
        if work.kind == "hermes":
            q = hermes.parse_query(msg.payload, self.s.mqtt.max_payload_bytes)
            return Routed(work, Request(id=q.id or contract.new_id(), text=q.input), query=q)
        request = contract.parse_request(msg.payload, self.s.mqtt.max_payload_bytes, msg.response_topic, msg.correlation)
        # A generated id is new by construction: no cache lookup on that path.
        cached = None if request.generated_id else self.outbox.answered(request.id)
        if cached is not None:
            prior = decode(cached)
            # Same id and same text: a redelivery or a client retry. Answer again from the
            # cache, never recompute into the cloud. A client that reuses ids for new
            # text gets a fresh answer instead of a stale one.
            if prior.get("text") == request.text:
                self.health.count("duplicates")
                self.answers.deliver(self.answers.publications(request, cached, str(prior.get("intent") or OOS)), work)
                return None
        return Routed(work, request)

    def _apply_thresholds(self, pred: Prediction) -> Prediction:
        if self.oos_threshold == self.model.oos_threshold:
            return pred
        intent = OOS if pred.confidence < self.oos_threshold else pred.top_intent
        return Prediction(intent=intent, confidence=pred.confidence, top_intent=pred.top_intent)

    def _route(self, r: Routed) -> bytes | None:
        """Decide local/cloud/defer for one request; returns the payload when answered now."""
        assert r.pred is not None
        d = self.router.decide(r.pred.intent, r.pred.confidence, r.request.allow_cloud)
        if d.action == "cloud":
            if self.router.admit():
                self.escalations.submit(r, d.reason)
                return None
            reason = "budget"
        else:
            reason = d.reason
        payload = self.answers.local(r, reason)
        if d.action == "defer":
            self.outbox.defer(r.request.id, r.request.text, r.request.reply_to, r.request.correlation, payload)
        self.answers.publish(r, payload, r.pred.intent)
        return payload

    def _answer_hermes(self, r: Routed, q: hermes.HermesQuery) -> None:
        assert r.pred is not None
        topic, payload = hermes.respond(q, r.pred.intent, r.pred.confidence, self.escalation_threshold)
        self.health.record_result((time.perf_counter() - r.work.received) * 1000, False)
        self.answers.deliver([(topic, payload, 1, False, None)], r.work)

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
                self.escalations.expire()
                self.escalations.retry_deferred()
            except Exception:
                log.exception("housekeeping failed; continuing")

    def _publish_health(self) -> None:
        busy = self.escalations.busy
        extra = {"budget": self.router.stats(), "deferred": self.outbox.deferred_count(),
                 "dropped": self.outbox.dropped, "throttled": read_throttled()}
        snap = self.health.snapshot(
            queue_depth=self.queue.qsize() + busy, outbox=len(self.outbox), cloud=self._cloud_state(), extra=extra
        )
        self.link.publish(f"{self.base}/health", contract.encode(snap), qos=0, retain=True)
        self.notifier.status(self.health.status_line(self._cloud_state()))
