"""Threads and lifecycle only: build the parts, start, serve, supervise, drain, stop.

The request path itself is `pipeline.Pipeline.handle`. Threads, and why each exists:
- paho's network thread (inside `mqtt.Link`) receives, and answers: the
  requests of one read (at most one 64 KiB recv, see `mqtt.client`) are
  collected and, once the read is done, handed to the pipeline as one
  micro-batch on that same thread (`_answer_batch`). A hand-off to another
  Python thread cost 40 futex calls per request at 50 in flight, the two
  threads trading the GIL on every socket call (strace; docs/performance.md).
  It always answers: while stored results wait for replay, new results queue
  behind them in the outbox (delivery), so their order holds without handing
  requests to another thread;
- one replayer publishes the outbox after a reconnect or a flood, chunk by
  chunk, waiting for each chunk's PUBACKs (which paho's thread receives);
- a small pool of daemon threads makes cloud calls, so a slow cloud never
  holds up the device's own answers, nor the exit;
- one housekeeping thread publishes health, retries deferred escalations and
  supervises: it pings the systemd watchdog only while the replayer *and*
  paho's network thread are alive and making progress, and stops the daemon
  (exit 1, systemd restarts it) when the network thread has died.

Backpressure: paho holds at most `mqtt.client.MAX_QUEUED` publications (in
flight and queued); beyond that a result goes to the on-disk outbox and its
request is acknowledged once it is stored, so a flood costs disk, not memory,
and paho's 65,535 message ids are never exhausted.

Readiness: READY=1 once the model is loaded and the MQTT client is started,
not when the broker answers (a broker down at boot is not a failed start, and
the start timeout is never extended); until the first connection STATUS= and
health say "waiting for broker". Monitoring checks connectedness on the
retained `<base>/status` topic (`online`/`offline`) and health's `broker`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Mapping

from edge import contract
from edge.answers import Answers, Work
from edge.cloud import CloudClient
from edge.config import Settings, read_secret
from edge.delivery import Delivery
from edge.escalation import DaemonPool, Escalations
from edge.health import Health, give_back_memory, read_throttled
from edge.integrations import hermes, homeassistant
from edge.model import Model
from edge.mqtt import Link, LinkError, Message
from edge.outbox import Outbox
from edge.pipeline import Pipeline
from edge.router import Router
from edge.systemd import Notifier

log = logging.getLogger("edge.service")

STOP_BUDGET_S = 25.0  # the whole drain, inside the unit's TimeoutStopSec=30
STORAGE_RETRY_S = 5.0  # how often a degraded store is tried again when nothing else writes


def load_slots(model: Model) -> Any:
    """The slot extractor for this model package (edge.slots, when installed), or None: results then
    carry `"slots": []`. Never stops the daemon: a broken slot package only costs the slots."""
    try:
        from edge.slots import SlotExtractor  # type: ignore[import-not-found]

        return SlotExtractor.load(model.path, model.manifest)
    except ImportError:
        return None
    except Exception:
        log.exception("slot extractor could not be loaded; results carry no slots")
        return None


class Service:
    """One daemon: built from settings and a loaded model; `run()` serves until `stop()`."""

    def __init__(self, settings: Settings, model: Model, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.s = settings
        self.model = model
        self.base = settings.base_topic
        self.request_topics = {f"{self.base}/request"}
        if settings.model.oos_threshold >= 0:
            model.oos_threshold = settings.model.oos_threshold  # the model's rule, with the configured cut
        esc = settings.model.escalation_threshold
        threshold = max(esc if esc >= 0 else model.escalation_threshold, model.oos_threshold)
        self.health = Health(model.ident, settings.board.temperature_path)
        self.outbox = Outbox(  # StateError here: `edge run` exits 2 naming the directory
            settings.state_dir, max_items=settings.state.outbox_max, max_age_s=settings.state.outbox_max_age_s,
            deferred_max=settings.cloud.deferred_max, answered_max=settings.state.answered_max,
        )
        if self.outbox.recovered_from_corruption:
            self.health.count("state_recovered")
        self.notifier = Notifier(environ)
        cloud_on = bool(settings.cloud.base_url) and settings.cloud.mode != "local_only"
        key = read_secret("EDGE_CLOUD_API_KEY", "cloud_api_key", environ)
        slots = load_slots(model)
        slot_prompt = slots.cloud_prompt() if slots is not None and hasattr(slots, "cloud_prompt") else ""
        self.cloud = CloudClient(settings.cloud, model.labels, key, slot_prompt) if cloud_on else None
        self.router = Router(settings.cloud, threshold, cloud_configured=cloud_on)
        self.router.restore_calls(self.outbox.cloud_calls_since(time.time() - 86400))
        self.link = Link(settings, password=read_secret("EDGE_MQTT_PASSWORD", "mqtt_password", environ),
                         on_message=self._on_message, on_connect=self._on_connect, on_settled=self._record_subscriptions,
                         on_read_done=self._answer_batch)
        self._flush = threading.Event()  # the outbox has something to replay
        self.delivery = Delivery(self.link, self.outbox, self.health.storage, on_backlog=self._flush.set)
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
        self._inbox: list[Work] = []  # this read's requests; touched only on paho's network thread
        self._busy = threading.Lock()  # held while a batch is answered; the drain waits for it
        self._handling_since = 0.0  # monotonic start of the batch being answered now; 0 when none
        self.pool = DaemonPool(settings.cloud.workers)  # daemon threads: a hung call never holds the exit
        self.answers = Answers(self.base, model.ident, self.health, self.delivery, self.link.ack, threshold)
        self.answers.slots = slots
        self.escalations = Escalations(self.cloud, self.router, self.outbox, self.health, self.answers, self.pool,
                                       settings.cloud.timeout_s, settings.cloud.workers)
        self.pipeline = Pipeline(
            model=model, router=self.router, store=self.outbox, health=self.health, answers=self.answers,
            escalations=self.escalations, slots=slots, max_payload_bytes=settings.mqtt.max_payload_bytes,
            forbidden_reply_prefixes=(self.base, settings.integrations.discovery_prefix),
            allowed_reply_prefixes=tuple(settings.mqtt.reply_prefixes), languages=model.languages,
            escalation_threshold=threshold,
            flush=self.link.flush, stall_text=environ.get("EDGE_FAULT_STALL_TEXT", ""),
        )
        self._fault_network_text = environ.get("EDGE_FAULT_KILL_NETWORK_TEXT", "").encode()  # watchdog test
        self._accepting = True
        self._stop = threading.Event()
        self._heartbeat = time.monotonic()
        self._failed = False
        self._worker = threading.Thread(target=self._replay_loop, name="edge-replay", daemon=True)
        self._trim_due = False  # a backlog drained: give its memory back to the OS (health tick)
        self._housekeeper = threading.Thread(target=self._housekeeping, name="edge-house", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------

    def _forget_old_subscriptions(self) -> None:
        """A kept session remembers subscriptions across restarts; drop the ones this config
        no longer has (a group the device left), or their messages would arrive unwanted.
        The record is rewritten only once the broker has confirmed (`_record_subscriptions`)."""
        try:
            previous = json.loads((self.s.state_dir / "subscriptions.json").read_text())
        except (OSError, ValueError):
            previous = []
        if isinstance(previous, list):
            self.link.unsubscribe_on_connect([t for t in previous if isinstance(t, str)])

    def _record_subscriptions(self) -> None:
        """Network thread, once the broker holds exactly our subscriptions; best-effort."""
        record = self.s.state_dir / "subscriptions.json"
        tmp = record.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.link.subscriptions))
            os.replace(tmp, record)
        except OSError as exc:
            self.health.storage.failed("subscriptions record", exc)

    def run(self) -> int:
        """Serve until stop() (a signal) or a supervised thread failing; returns the process exit code."""
        self._worker.start()
        try:
            self.link.start()
        except LinkError as exc:
            log.error("%s", exc)
            self._shutdown()
            return 2
        waiting = f"waiting for broker {self.s.mqtt.host}:{self.s.mqtt.port}"
        self.notifier.ready(waiting)  # model loaded, client started: ready (not "connected")
        log.info("ready: model %s, base topic %s; %s", self.model.ident, self.base, waiting)
        self._housekeeper.start()
        while not self._stop.is_set():
            try:
                if self.link.wait_first_connect(timeout=0.5):
                    self.notifier.status(self.health.status_line(self._cloud_state()))
                    break
            except LinkError as exc:  # refused for good (credentials): a configuration error
                log.error("%s", exc)
                self._shutdown()
                return 2
        self._stop.wait()
        self._shutdown()
        return 1 if self._failed else 0

    def stop(self) -> None:
        """Ask for a clean drain; safe from a signal handler."""
        self._stop.set()

    def _fail(self, why: str) -> None:
        log.critical("%s; stopping so systemd restarts the service", why)
        self._failed = True
        self._stop.set()

    def _shutdown(self) -> None:
        """Drain within STOP_BUDGET_S in all, whatever each step would like."""
        deadline = time.monotonic() + STOP_BUDGET_S
        left = lambda cap: max(0.0, min(cap, deadline - time.monotonic()))  # noqa: E731
        self.notifier.stopping("draining")
        self._accepting = False  # new deliveries stay unacked: the broker redelivers them next session
        self._stop.set()
        if self._housekeeper.is_alive():
            self._housekeeper.join(timeout=2)  # no deferred retry may start while the pool drains
        if self._worker.is_alive():
            self._worker.join(timeout=left(STOP_BUDGET_S - 10))
        if self._busy.acquire(timeout=left(STOP_BUDGET_S - 10)):  # a batch paho's thread is answering ends
            self._busy.release()
        if self.cloud is not None:
            self.cloud.close()  # in-flight calls fail at once (a connect still under way may not: see below)
        # Every escalation still owed gets the device's answer (reason cloud_error) now, instead of
        # the drain waiting out cloud.timeout_s; a call that returns later publishes and writes
        # nothing, and its daemon thread does not hold the exit (a hung connect is not cut by close()).
        self.escalations.close(timeout=left(3))
        self.pool.shutdown(wait=False)
        while self.link.in_flight() and self.link.connected and time.monotonic() < deadline - 3:
            time.sleep(0.01)
        self.link.stop(timeout=left(3))
        self.outbox.close()  # last: every writer (the batch, the housekeeper, escalation results) is done
        self.notifier.close()
        log.info("stopped: processed %d", self.health.snapshot(queue_depth=0, outbox=0, cloud="none")["processed"])

    # -- network thread ----------------------------------------------------------------

    def _on_connect(self, session_present: bool) -> None:
        self._flush.set()  # the replayer sends what was stored meanwhile; new results queue behind it
        if self.s.integrations.home_assistant:
            self._send_discovery()

    def _on_message(self, msg: Message) -> None:
        if not self._accepting:
            return
        if self._fault_network_text and msg.payload == self._fault_network_text:
            raise SystemExit("fault injection: the network thread dies")  # not an Exception: kills the thread
        if msg.topic in self.request_topics:
            self._inbox.append(Work("request", msg, time.perf_counter()))  # answered once this read is done
        elif self.s.integrations.hermes and msg.topic == hermes.QUERY_TOPIC:
            self._inbox.append(Work("hermes", msg, time.perf_counter()))
        elif self.s.integrations.home_assistant and msg.topic == homeassistant.birth_topic(self.s):
            if msg.payload.strip() == b"online" and not msg.retain:
                self._send_discovery()
            self.link.ack(msg.mid, msg.qos)
        else:
            self.link.ack(msg.mid, msg.qos)

    def _answer_batch(self) -> None:
        """Network thread, after each read: answer what it brought, here, as one micro-batch.

        Order holds without another thread: while stored results wait for replay, delivery
        queues new ones behind them on disk. The pipeline's guard keeps anything from raising
        into paho."""
        batch = self._inbox
        if not batch:
            return
        self._inbox = []
        if not self._accepting:
            return  # draining: unacked, so the broker redelivers them to the next session
        with self._busy:
            limit = self.s.model.batch_size
            for i in range(0, len(batch), limit):
                self._handle(batch[i:i + limit])
            self.health.count("answered_inline", len(batch))

    def _handle(self, batch: list[Work]) -> None:
        """The pipeline, timed for the watchdog; caller holds `_busy`."""
        self._handling_since = time.monotonic()
        try:
            self.pipeline.handle(batch)
        finally:
            self._handling_since = 0.0

    def _send_discovery(self) -> None:
        from edge import __version__

        for topic, payload, retain in homeassistant.discovery_messages(self.s, self.model.ident, __version__):
            self.link.publish(topic, payload, qos=1, retain=retain)

    # -- replayer ------------------------------------------------------------------------

    def _beat(self) -> None:
        self._heartbeat = time.monotonic()

    def _replay_loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._heartbeat = time.monotonic()
                if self._flush.wait(0.5):
                    self._replay_if_due()
        except BaseException:
            log.critical("outbox replayer died", exc_info=True)
            self._fail("the outbox replayer died")

    def _replay_if_due(self) -> None:
        if not (self._flush.is_set() and self.link.connected):
            if self._flush.is_set():
                self._stop.wait(0.1)  # disconnected: the connect sets it again; no busy loop meanwhile
            return
        self._flush.clear()
        try:
            done = self.delivery.replay(on_chunk=self._beat)
        except Exception:
            log.exception("outbox replay failed; retrying later")
            done = False
        if done:
            self._trim_due = True
        elif self.link.connected and self.health.storage.state == "ok":
            self._stop.wait(0.05)  # paho's queue is full or the broker is slow: let PUBACKs come in
            self._flush.set()  # stalled while connected: try again (storage: housekeeping)

    # -- housekeeping ------------------------------------------------------------------

    def _cloud_state(self) -> str:
        if self.cloud is None:
            return "none"
        return "up" if self.router.cloud_up else "down"

    def _broker_state(self) -> str:
        if self.link.connected:
            return "connected"
        return "reconnecting" if self.link.ever_connected else "waiting for broker"

    def _housekeeping(self) -> None:
        next_health = 0.0
        next_ping = 0.0
        next_storage = 0.0
        wd = self.notifier.watchdog_interval
        while not self._stop.wait(0.25):
            try:
                now = time.monotonic()
                if not self.link.network_alive(stale_after=float("inf")) and not self.link.refused:
                    self._fail("the MQTT network thread died")
                    return
                since = self._handling_since
                stuck = bool(since) and now - since >= max(2.0, wd or 0)  # a batch that never ends
                worker_ok = self._worker.is_alive() and now - self._heartbeat < max(2.0, wd or 0) and not stuck
                if wd and now >= next_ping and worker_ok and self.link.network_alive():
                    self.notifier.watchdog()
                    next_ping = now + wd
                if now >= next_health:
                    next_health = now + self.s.health.interval_s
                    self._publish_health()
                    if self._trim_due:
                        self._trim_due = False
                        give_back_memory()
                if self.health.storage.state != "ok" and now >= next_storage:
                    next_storage = now + STORAGE_RETRY_S
                    self._probe_storage()
                self.escalations.expire()
                self.escalations.retry_deferred()
            except Exception:
                log.exception("housekeeping failed; continuing")

    def _probe_storage(self) -> None:
        """A degraded store recovers by itself: try a tiny write, and the replay it may owe."""
        try:
            self.outbox.probe()
        except Exception as exc:
            self.health.storage.failed("storage probe", exc)
            return
        self.health.storage.ok()
        self._flush.set()

    def _publish_health(self) -> None:
        extra = {"broker": self._broker_state(), "state_free_mb": _free_mb(self.s.state_dir),
                 "budget": self.router.stats(),
                 "deferred": self.outbox.deferred_count(), "dropped": self.outbox.dropped,
                 "callback_errors": self.link.callback_errors, "publish_refused": self.link.publish_refused,
                 "publish_backpressure": self.link.publish_backpressure, "throttled": read_throttled()}
        snap = self.health.snapshot(queue_depth=len(self._inbox) + self.escalations.busy, outbox=len(self.outbox),
                                    cloud=self._cloud_state(), extra=extra)
        self.link.publish(f"{self.base}/health", contract.encode(snap), qos=0, retain=True)
        if self.link.ever_connected:
            self.notifier.status(self.health.status_line(self._cloud_state()))
        else:
            self.notifier.status(f"waiting for broker {self.s.mqtt.host}:{self.s.mqtt.port}")


def _free_mb(path: os.PathLike[str] | str) -> float | None:
    """Free space where the state lives: a card filling up shows here before storage degrades."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return round(st.f_bavail * st.f_frsize / 1048576, 1)
