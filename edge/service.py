"""The loop and the lifecycle only: build the parts, run them on one event loop, supervise, drain, stop.

The process model in one sentence: one asyncio event loop (the main thread of
`edge run`) owns the broker socket and every publish, ack, store write and
timer; the model runs on it (0.1-0.2 ms a request); cloud calls (blocking
HTTP) and the broker's connect (TCP and TLS handshake) run on daemon-thread
executors and hand their results back to the loop.

A request, socket to ack, on the loop: paho's socket is readable ->
`Link._readable` reads once (at most 64 KiB) and paho calls `_on_message` for
each request in it (collected in `_inbox`) -> `_answer_batch` hands the batch
to `Pipeline.handle` (parse, cache, classify, slots, decide, publish) ->
`Delivery` publishes through the link or keeps the results in the outbox ->
the link writes them at once -> each PUBACK, read on a later turn, completes
its publication and the last one acks the request.

Three parts, kept apart so that each can be tested alone:
- `build(settings, model, environ) -> Parts`: constructs every collaborator
  (store, link, delivery, replay, pipeline, escalations) and wires them; it
  starts nothing;
- `Service(parts).run()`: the loop: starts the link and the other channels
  (`Channel`: the Wyoming server and the deployment channel start here too),
  the timers, waits for a stop;
- the supervisor (`_unhandled`, `_watch_task`): a callback that raises out of
  the loop, or a channel's task that ends, stops the daemon with exit 1
  (systemd restarts it); the watchdog is pinged by a loop timer, so a batch
  that never ends (it blocks the loop) stops the pings and systemd kills us.

Backpressure: paho holds at most `mqtt.client.MAX_QUEUED` publications (in
flight and queued); beyond that a result goes to the on-disk outbox and its
request is acknowledged once it is stored, so a flood costs disk, not memory.

Readiness: READY=1 once the model is loaded and the MQTT client is started,
not when the broker answers (a broker down at boot is not a failed start); until
the first connection STATUS= and health say "waiting for broker".
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Mapping, Protocol

from edge import contract
from edge.answers import Answers
from edge.config import Settings, read_secret
from edge.delivery import Delivery, Replay
from edge.escalation import DaemonPool, Escalations
from edge.health import Health, give_back_memory, read_throttled
from edge.integrations import hermes, homeassistant
from edge.model import Model
from edge.mqtt import Link, LinkError, Message
from edge.outbox import Outbox
from edge.pipeline import Pipeline, Work
from edge.budget import Budget
from edge.router import Router
from edge.systemd import Notifier

if TYPE_CHECKING:
    from edge.cloud import CloudClient

log = logging.getLogger("edge.service")

STOP_BUDGET_S = 25.0  # the whole drain, inside the unit's TimeoutStopSec=30
STORAGE_RETRY_S = 5.0  # how often a degraded store is tried again when nothing else writes
TICK_S = 0.25  # escalation deadlines and deferred retries are checked this often


class Channel(Protocol):
    """Something else the loop serves: the Wyoming server (edge/wyoming.py), the deployment channel
    (edge/deploy.py). `start` binds or connects and returns once serving (its tasks run on `loop`);
    `stop` closes it within the drain. An exception that escapes a channel's callbacks or tasks
    stops the daemon with exit 1 (see `Service._unhandled`)."""

    name: str

    async def start(self, loop: asyncio.AbstractEventLoop) -> None: ...

    async def stop(self) -> None: ...


def load_slots(model: Model) -> Any:
    """The slot extractor for this model package. edge.slots is part of the package: failing to import
    it is a broken install and fails the start (raises). A package whose slot files cannot be loaded
    costs only the slots (logged): results then carry `"slots": []`."""
    from edge.slots import SlotExtractor

    try:
        return SlotExtractor.load(model.path, model.manifest)
    except Exception:
        log.exception("slot extractor could not be loaded; results carry no slots")
        return None


@dataclass
class Parts:
    """Everything one daemon is made of, wired, nothing started (`build`)."""

    settings: Settings
    model: Model
    loop: asyncio.AbstractEventLoop
    health: Health
    outbox: Outbox
    notifier: Notifier
    cloud: CloudClient | None
    router: Router
    link: Link
    delivery: Delivery
    replay: Replay
    pool: DaemonPool
    connector: DaemonPool
    answers: Answers
    escalations: Escalations
    pipeline: Pipeline
    request_topics: set[str]
    channels: list[Channel] = field(default_factory=list)
    # Other topics a channel takes from the link (the deployment channel's): topic -> handler, on the loop.
    handlers: dict[str, Callable[[Message], None]] = field(default_factory=dict)
    # The link's callbacks, bound by Service (build wires the link before the service exists).
    hooks: dict[str, Callable[..., None]] = field(default_factory=dict)


def _thresholds(settings: Settings, model: Model) -> float:
    """Apply the configured OOS cut to `model` and return the escalation threshold the router, the
    answers and the pipeline use: the configured one, else the model's, never below the OOS cut."""
    if settings.model.oos_threshold >= 0:
        model.oos_threshold = settings.model.oos_threshold  # the model's rule, with the configured cut
    esc = settings.model.escalation_threshold
    return max(esc if esc >= 0 else model.escalation_threshold, model.oos_threshold)


def swap_model(parts: Parts, model: Model) -> Model:
    """Make `model` the one that answers, with everything that belongs to it: its slot extractor, its
    thresholds, its ident in results and health; returns the model it replaced. Called on the loop
    between two batches (the deployment channel), so requests in flight finished on the old model.
    The cloud prompt's labels and the channels (Wyoming: `swap_model`) follow it too."""
    slots = load_slots(model)  # a package whose slots do not load answers without slots (logged)
    threshold = _thresholds(parts.settings, model)
    old, parts.model = parts.model, model
    pipeline, answers = parts.pipeline, parts.answers
    pipeline.model, pipeline.slots, answers.slots = model, slots, slots
    pipeline.escalation_threshold = answers.escalation_threshold = threshold
    pipeline.languages = frozenset(model.languages)
    pipeline.first_language = model.languages[0]
    parts.router.set_threshold(threshold)
    answers.model_ident = parts.health.model_ident = model.ident
    if parts.cloud is not None:
        parts.cloud.set_labels(model.labels, slots.cloud_prompt() if hasattr(slots, "cloud_prompt") else "")
    for channel in parts.channels:
        getattr(channel, "swap_model", lambda m, s: None)(model, slots)
    log.info("model %s now answers (it replaced %s)", model.ident, old.ident)
    return old


def build(settings: Settings, model: Model, environ: Mapping[str, str] | None = None) -> Parts:
    """Construct and wire the daemon's parts; starts no thread and opens no socket but the store's file.
    Raises StateError (the state directory) or LinkError (the TLS files)."""
    environ = os.environ if environ is None else environ
    slots = load_slots(model)  # first: a broken install fails before anything is opened
    base = settings.base_topic
    threshold = _thresholds(settings, model)
    health = Health(model.ident, settings.board.temperature_path)
    outbox = Outbox(  # StateError here: `edge run` exits 2 naming the directory
        settings.state_dir, max_items=settings.state.outbox_max, max_age_s=settings.state.outbox_max_age_s,
        deferred_max=settings.cloud.deferred_max, answered_max=settings.state.answered_max,
    )
    if outbox.recovered_from_corruption:
        health.count("state_recovered")
    cloud_on = bool(settings.cloud.base_url) and settings.cloud.mode != "local_only"
    key = read_secret("EDGE_CLOUD_API_KEY", "cloud_api_key", environ)
    slot_prompt = slots.cloud_prompt() if slots is not None and hasattr(slots, "cloud_prompt") else ""
    cloud: CloudClient | None = None
    if cloud_on:  # only then: the client's http.client and email modules cost 3 MB of RSS (measured)
        from edge.cloud import CloudClient

        cloud = CloudClient(settings.cloud, model.labels, key, slot_prompt)
    budget = Budget.from_settings(settings.cloud, ledger=outbox, storage=health.storage)
    budget.restore()  # the windows survive a restart
    router = Router(settings.cloud, threshold, cloud_configured=cloud_on, budget=budget)
    hooks: dict[str, Callable[..., None]] = {}
    loop = asyncio.new_event_loop()

    def hook(name: str) -> Callable[..., None]:
        return lambda *args: hooks[name](*args)

    connector = DaemonPool(1, name="edge-connect")  # a hung connect must not hold the exit either
    link = Link(settings, password=read_secret("EDGE_MQTT_PASSWORD", "mqtt_password", environ),
                on_message=hook("message"), on_connect=hook("connect"), on_settled=hook("settled"),
                on_read_done=hook("read_done"), executor=connector)
    request_topics = {f"{base}/request"}
    link.subscribe_on_connect(f"{base}/request", 1)
    if settings.group:
        topic = f"edge/group/{settings.group}/request"
        request_topics.add(topic)
        link.subscribe_on_connect(f"$share/{settings.group}/{topic}", 1)
    if settings.integrations.hermes:
        link.subscribe_on_connect(hermes.QUERY_TOPIC, 1)
    if settings.integrations.home_assistant:
        link.subscribe_on_connect(homeassistant.birth_topic(settings), 1)
    replay = Replay(link, outbox, health.storage, call_later=loop.call_later, on_drained=hook("drained"))
    delivery = Delivery(link, outbox, health.storage, on_backlog=replay.kick)
    pool = DaemonPool(settings.cloud.workers)  # daemon threads: a hung call never holds the exit
    answers = Answers(base, model.ident, health, delivery, threshold)
    answers.slots = slots

    def post(fn: Callable[[], None]) -> None:  # a pool thread's outcome, handed to the loop
        if not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    escalations = Escalations(cloud, router, outbox, health, answers, pool, settings.cloud.timeout_s,
                              settings.cloud.workers, post=post)
    names = None
    if settings.home.names:  # the home's names: MQTT results and the Wyoming channel resolve against them
        from edge import names as names_file

        names = names_file.load(settings.home.names)  # NamesError: a start-up error (exit 2)
    pipeline = Pipeline(
        model=model, router=router, store=outbox, health=health, answers=answers,
        escalations=escalations, slots=slots, max_payload_bytes=settings.mqtt.max_payload_bytes,
        forbidden_reply_prefixes=(base, settings.integrations.discovery_prefix),
        allowed_reply_prefixes=tuple(settings.mqtt.reply_prefixes), languages=model.languages, names=names,
        escalation_threshold=threshold, flush=link.flush,
    )
    channels: list[Channel] = []
    if settings.wyoming.enabled:  # only then: the wyoming package, the names file, zeroconf
        from edge import wyoming

        channels.append(wyoming.channel(settings, model, slots, names, cloud=(cloud, router, pool, health)))
    return Parts(settings=settings, model=model, loop=loop, health=health, outbox=outbox,
                 notifier=Notifier(environ), cloud=cloud, router=router, link=link, delivery=delivery,
                 replay=replay, pool=pool, connector=connector, answers=answers, escalations=escalations,
                 pipeline=pipeline, request_topics=request_topics, hooks=hooks, channels=channels)


class Service:
    """One daemon: `run()` serves on `parts.loop` until `stop()`; returns the exit code."""

    def __init__(self, parts: Parts) -> None:
        self.p = parts
        self.s = parts.settings
        self.base = self.s.base_topic
        self.link = parts.link
        self.health = parts.health
        self.loop = parts.loop
        parts.hooks.update(message=self._on_message, connect=self._on_connect, settled=self._record_subscriptions,
                           read_done=self._answer_batch, drained=self._drained)
        self._forget_old_subscriptions()
        self._inbox: list[Work] = []  # this read's requests (answered once the read is done)
        self._accepting = True
        self._stopping: asyncio.Event | None = None
        self._stop_asked = False
        self._exit = 0
        self._trim_due = False  # a backlog drained: give its memory back to the OS (health tick)
        self._tasks: list[asyncio.Task[Any]] = []

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
        """Once the broker holds exactly our subscriptions; best-effort."""
        record = self.s.state_dir / "subscriptions.json"
        tmp = record.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.link.subscriptions))
            os.replace(tmp, record)
        except OSError as exc:
            self.health.storage.failed("subscriptions record", exc)

    def run(self) -> int:
        """Serve until stop() (a signal) or a supervised failure; returns the process exit code."""
        asyncio.set_event_loop(self.loop)
        try:
            return self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    def stop(self) -> None:
        """Ask for a clean drain; safe from a signal handler and from any thread."""
        self._stop_asked = True
        if self._stopping is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stopping.set)

    def _fail(self, why: str, code: int = 1) -> None:
        if code == 1:
            log.critical("%s; stopping so systemd restarts the service", why)
        else:
            log.error("%s; stopping", why)
        self._exit = self._exit or code
        if self._stopping is not None:
            self._stopping.set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A supervised task: should it end before the stop (an exception, or returning), the daemon stops (1)."""
        task = self.loop.create_task(coro, name=name)
        self._watch_task(task)
        return task

    def _watch_task(self, task: asyncio.Task[Any]) -> None:
        self._tasks.append(task)

        def ended(t: asyncio.Task[Any]) -> None:
            if self._stopping is not None and self._stopping.is_set():
                return
            if t.cancelled():
                self._fail(f"task {t.get_name()} was cancelled")
            elif t.exception() is not None:
                log.error("task %s died", t.get_name(), exc_info=t.exception())
                self._fail(f"task {t.get_name()} died")
            elif t is self.link.task and self.link.refused is not None:
                self._fail(self.link.refused, code=2)  # credentials: a configuration error, as at start-up
            else:
                self._fail(f"task {t.get_name()} ended")

        task.add_done_callback(ended)

    def _unhandled(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Anything that escaped a callback or a task on the loop (a channel's handler, say): nothing
        dies silently; the daemon stops with 1 and systemd restarts it."""
        exc = context.get("exception")
        log.error("unhandled on the event loop: %s", context.get("message"), exc_info=exc)
        self._fail(f"a channel failed: {context.get('message')}")

    async def _main(self) -> int:
        self._stopping = asyncio.Event()
        if self._stop_asked:
            self._stopping.set()
        self.loop.set_exception_handler(self._unhandled)
        try:
            await self.link.start(self.loop)
        except LinkError as exc:
            log.error("%s", exc)
            await self._shutdown()
            return 2
        assert self.link.task is not None
        self._watch_task(self.link.task)
        waiting = f"waiting for broker {self.s.mqtt.host}:{self.s.mqtt.port}"
        self.p.notifier.ready(waiting)  # model loaded, client started: ready (not "connected")
        log.info("ready: model %s, base topic %s; %s", self.p.model.ident, self.base, waiting)
        for channel in self.p.channels:  # the Wyoming server, the deployment channel: on this loop
            try:
                await channel.start(self.loop)
            except OSError as exc:  # the port is taken, the address is not ours: fail the start loudly
                log.error("%s channel cannot start: %s", channel.name, exc)
                await self._shutdown()
                return 2
        self.spawn(self._first_connect(), "edge-first-connect")
        self.spawn(self._housekeeping(), "edge-housekeeping")
        if self.p.notifier.watchdog_interval:
            self.spawn(self._watchdog(self.p.notifier.watchdog_interval), "edge-watchdog")
        await self._stopping.wait()
        await self._shutdown()
        return self._exit

    async def _first_connect(self) -> None:
        try:
            await self.link.wait_first_connect()
        except LinkError:  # refused for good (credentials): the link's task ends, and says so (exit 2)
            await asyncio.Event().wait()  # ended by the stop
        self.p.notifier.status(self.health.status_line(self._cloud_state()))
        await asyncio.Event().wait()  # a supervised task that ends only with the stop

    async def _shutdown(self) -> None:
        """Drain within STOP_BUDGET_S in all, whatever each step would like."""
        deadline = time.monotonic() + STOP_BUDGET_S
        left = lambda cap: max(0.0, min(cap, deadline - time.monotonic()))  # noqa: E731
        assert self._stopping is not None
        self._stopping.set()
        self.p.notifier.stopping("draining")
        self._accepting = False  # new deliveries stay unacked: the broker redelivers them next session
        for task in self._tasks:
            if task is not self.link.task:
                task.cancel()
        for channel in self.p.channels:
            try:
                await asyncio.wait_for(channel.stop(), left(3))
            except Exception:
                log.exception("channel %s did not stop cleanly", getattr(channel, "name", channel))
        if self.p.cloud is not None:
            self.p.cloud.close()  # in-flight calls fail at once (a connect still under way may not)
        # Every escalation still owed gets the device's answer (reason cloud_error) now, instead of
        # the drain waiting out cloud.timeout_s; a call that returns later publishes and writes
        # nothing, and its daemon thread does not hold the exit (a hung connect is not cut by close()).
        self.p.escalations.close(timeout=left(3))
        self.p.pool.shutdown(wait=False)
        if self.link.task is not None:
            await self.link.drained(left(STOP_BUDGET_S - 3))
            await self.link.stop(timeout=left(3))
        self.p.connector.shutdown(wait=False)
        self.p.outbox.close()  # last: every writer (the batch, the timers, escalation results) is done
        self.p.notifier.close()
        log.info("stopped: processed %d", self.health.snapshot(queue_depth=0, outbox=0, cloud="none")["processed"])

    # -- the request path: the link's callbacks -----------------------------------------

    def _on_connect(self, session_present: bool) -> None:
        self.p.replay.kick()  # what was stored meanwhile goes first; new results queue behind it
        if self.s.integrations.home_assistant:
            self._send_discovery()

    def _on_message(self, msg: Message) -> None:
        if not self._accepting:
            return
        if msg.topic in self.p.request_topics:
            self._inbox.append(Work("request", msg, time.perf_counter(), self.link.ack))  # answered once this read is done
        elif self.s.integrations.hermes and msg.topic == hermes.QUERY_TOPIC:
            self._inbox.append(Work("hermes", msg, time.perf_counter(), self.link.ack))
        elif msg.topic in self.p.handlers:
            self.p.handlers[msg.topic](msg)  # the handler acknowledges it (once its outcome is published)
        elif self.s.integrations.home_assistant and msg.topic == homeassistant.birth_topic(self.s):
            if msg.payload.strip() == b"online" and not msg.retain:
                self._send_discovery()
            self.link.ack(msg.mid, msg.qos)
        else:
            self.link.ack(msg.mid, msg.qos)

    def _answer_batch(self) -> None:
        """After each read: answer what it brought, as one micro-batch (the pipeline's guard keeps
        anything from raising out of it). Order holds: while stored results wait for replay,
        delivery queues new ones behind them on disk."""
        batch = self._inbox
        if not batch:
            return
        self._inbox = []
        if not self._accepting:
            return  # draining: unacked, so the broker redelivers them to the next session
        limit = self.s.model.batch_size
        for i in range(0, len(batch), limit):
            self.p.pipeline.handle(batch[i:i + limit])

    def _send_discovery(self) -> None:
        from edge import __version__

        for topic, payload, retain in homeassistant.discovery_messages(self.s, self.p.model.ident, __version__):
            self.link.publish(topic, payload, qos=1, retain=retain)

    def _drained(self) -> None:
        self._trim_due = True

    # -- timers ------------------------------------------------------------------------

    async def _watchdog(self, interval: float) -> None:
        """WATCHDOG=1 from the loop itself: while a batch blocks the loop (a stuck model), this does
        not run, the pings stop, and systemd kills and restarts the daemon."""
        while True:
            self.p.notifier.watchdog()
            await asyncio.sleep(interval)

    async def _housekeeping(self) -> None:
        next_health = 0.0
        next_storage = 0.0
        while True:
            try:
                now = time.monotonic()
                if now >= next_health:
                    next_health = now + self.s.health.interval_s
                    self._publish_health()
                    if self._trim_due:
                        self._trim_due = False
                        give_back_memory()
                if self.health.storage.state != "ok" and now >= next_storage:
                    next_storage = now + STORAGE_RETRY_S
                    self._probe_storage()
                self.p.escalations.expire()
                self.p.escalations.retry_deferred()
            except Exception:
                log.exception("housekeeping failed; continuing")
            await asyncio.sleep(TICK_S)

    def _probe_storage(self) -> None:
        """A degraded store recovers by itself: try a tiny write, and the replay it may owe."""
        try:
            self.p.outbox.probe()
        except Exception as exc:
            self.health.storage.failed("storage probe", exc)
            return
        self.health.storage.ok()
        self.p.replay.kick()

    def _cloud_state(self) -> str:
        if self.p.cloud is None:
            return "none"
        return "up" if self.p.router.cloud_up else "down"

    def _broker_state(self) -> str:
        if self.link.connected:
            return "connected"
        return "reconnecting" if self.link.ever_connected else "waiting for broker"

    def _publish_health(self) -> None:
        outbox = self.p.outbox
        extra = {"device_id": self.s.device_id, "group": self.s.group or None,  # edge deploy --group finds members
                 "broker": self._broker_state(), "state_free_mb": _free_mb(self.s.state_dir),
                 "budget": self.p.router.stats(),
                 "deferred": outbox.deferred_count(), "dropped": outbox.dropped,
                 "callback_errors": self.link.callback_errors, "publish_refused": self.link.publish_refused,
                 "publish_backpressure": self.link.publish_backpressure, "throttled": read_throttled()}
        snap = self.health.snapshot(queue_depth=len(self._inbox) + self.p.escalations.busy, outbox=len(outbox),
                                    cloud=self._cloud_state(), extra=extra)
        self.link.publish(f"{self.base}/health", contract.encode(snap), qos=0, retain=True)
        if self.link.ever_connected:
            self.p.notifier.status(self.health.status_line(self._cloud_state()))
        else:
            self.p.notifier.status(f"waiting for broker {self.s.mqtt.host}:{self.s.mqtt.port}")


def _free_mb(path: os.PathLike[str] | str) -> float | None:
    """Free space where the state lives: a card filling up shows here before storage degrades."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return round(st.f_bavail * st.f_frsize / 1048576, 1)
