"""Run built parts on one event loop: start, supervise, time, drain, stop.

The process model in one sentence: one asyncio event loop (the main thread of
`edge run`) owns the broker socket and every publish, ack, store write and
timer; the model runs on it (0.1-0.2 ms a request); cloud calls (blocking
HTTP), the broker's connect (TCP and TLS handshake) and a deployment's unpack
and self-test run on daemon-thread executors and hand their results back to
the loop.

The daemon in three modules, each testable alone:
- edge/service_build.py: `build(settings, model, environ) -> Parts` constructs
  and wires every collaborator; it starts nothing (`Parts`, `swap_model`);
- edge/service_intake.py: the link's callbacks, where a request enters (the
  path from socket to ack is told there) and goes to `Pipeline.handle`;
- here, `Service(parts).run()`: the loop. It starts the link and the other
  channels (`Channel`: the Wyoming server, the deployment channel), the timers
  (health, escalation deadlines, deferred retries, storage probes, watchdog),
  waits for a stop and drains. The supervisor (`_unhandled`, `_watch_task`): a
  callback that raises out of the loop, or a supervised task that ends, stops
  the daemon with exit 1 (systemd restarts it); the watchdog is pinged by a
  loop timer, so a batch that never ends (it blocks the loop) stops the pings
  and systemd kills us.

Backpressure: paho holds at most `mqtt.client.MAX_QUEUED` publications (in
flight and queued); beyond that a result goes to the on-disk outbox and its
request is acknowledged once it is stored, so a flood costs disk, not memory.

Readiness: READY=1 once the model is loaded and the MQTT client is started,
not when the broker answers (a broker down at boot is not a failed start); until
the first connection STATUS= and health say "waiting for broker".
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Coroutine

from edge import contract
from edge.health import give_back_memory, read_throttled
from edge.mqtt import LinkError
# The names callers know as edge.service's (edge.__main__, tests/faulty.py patches `build` here,
# the deployment channel's swap, the training tools' load_slots): built in service_build.
from edge.service_build import Channel, Parts, build, load_slots, swap_model
from edge.service_intake import Intake

__all__ = ["Channel", "Parts", "Service", "build", "load_slots", "swap_model", "STOP_BUDGET_S"]

log = logging.getLogger("edge.service")

STOP_BUDGET_S = 25.0  # the whole drain, inside the unit's TimeoutStopSec=30
STORAGE_RETRY_S = 5.0  # how often a degraded store is tried again when nothing else writes
TICK_S = 0.25  # escalation deadlines and deferred retries are checked this often


class Service:
    """One daemon: `run()` serves on `parts.loop` until `stop()`; returns the exit code."""

    def __init__(self, parts: Parts) -> None:
        self.p = parts
        self.s = parts.settings
        self.base = self.s.base_topic
        self.link = parts.link
        self.health = parts.health
        self.loop = parts.loop
        self.intake = Intake(parts)  # binds the link's callbacks
        self._stopping: asyncio.Event | None = None
        self._stop_asked = False
        self._exit = 0
        self._tasks: list[asyncio.Task[Any]] = []

    # -- lifecycle ---------------------------------------------------------------------

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
        if self.p.notifier.watchdog_interval:  # from here: the start's names fetch may take its 15 s
            self.spawn(self._watchdog(self.p.notifier.watchdog_interval), "edge-watchdog")
        if not await self._first_names():
            await self._shutdown()
            return 2
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
        if self.p.names is not None and self.p.names.fetching:  # names from Home Assistant, refreshed
            self.spawn(self.p.names.run(), "edge-names")
        await self._stopping.wait()
        await self._shutdown()
        return self._exit

    async def _first_names(self) -> bool:
        """The names fetched from Home Assistant before anything is served (edge.names_source: bounded,
        15 s). False: Home Assistant refused the token, a start-up error; unreachable is not (logged)."""
        if self.p.names is None or not self.p.names.fetching:
            return True
        from edge.names_ha import TokenRefused

        assert self._stopping is not None
        fetch = self.loop.create_task(self.p.names.first(), name="edge-names-first")
        stop = self.loop.create_task(self._stopping.wait())
        await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not fetch.done():  # asked to stop meanwhile: no reason to wait out the fetch's deadline
            fetch.cancel()
            return True
        try:
            fetch.result()
        except TokenRefused as exc:
            log.error("home.homeassistant_url %s: %s (EDGE_HOME_HA_TOKEN or the ha_token credential); "
                      "make a long-lived access token in Home Assistant's profile page", self.p.names.url, exc)
            return False
        return True

    async def _first_connect(self) -> None:
        try:
            await self.link.wait_first_connect()
        except LinkError:  # refused for good (credentials): the link's task ends, and says so (exit 2)
            await asyncio.Event().wait()  # ended by the stop
        self.p.notifier.status(self.health.status_line(self._cloud_state()))
        # Start-up is over (imports, config, model load and warm-up, the connect): give the heap
        # it freed back to the OS once, as after a drained backlog. 0.6 MB less RSS while idle
        # (docs/performance.md, "Memory"); a few milliseconds, once.
        give_back_memory()
        await asyncio.Event().wait()  # a supervised task that ends only with the stop

    async def _shutdown(self) -> None:
        """Drain within STOP_BUDGET_S in all, whatever each step would like."""
        deadline = time.monotonic() + STOP_BUDGET_S
        left = lambda cap: max(0.0, min(cap, deadline - time.monotonic()))  # noqa: E731
        assert self._stopping is not None
        self._stopping.set()
        self.p.notifier.stopping("draining")
        self.intake.accepting = False  # new deliveries stay unacked: the broker redelivers them next session
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
        if self.p.names is not None:
            self.p.names.close()  # a fetch under way swaps nothing in now
        if self.link.task is not None:
            await self.link.drained(left(STOP_BUDGET_S - 3))
            await self.link.stop(timeout=left(3))
        self.p.connector.shutdown(wait=False)
        self.p.outbox.close()  # last: every writer (the batch, the timers, escalation results) is done
        self.p.notifier.close()
        log.info("stopped: processed %d", self.health.snapshot(queue_depth=0, outbox=0, cloud="none")["processed"])

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
                    if self.intake.trim_due:
                        self.intake.trim_due = False
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
        if self.p.names is not None:  # where the home's names came from, and when (edge.names_source)
            extra["names"] = self.p.names.health()
        snap = self.health.snapshot(queue_depth=len(self.intake.inbox) + self.p.escalations.busy, outbox=len(outbox),
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
