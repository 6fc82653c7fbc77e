"""The daemon's deployment channel: signed packages in over MQTT, edge/deploy.py's Deployer does the
work, the model is swapped on the loop, each status goes out retained on `<base>/deploy/status`.

Imported only with `[deploy] keys` set (deployment is off while it is empty). The loop calls the
Deployer as its module docstring says: `recover()` and `active_path()` before the model is loaded
(`deployer` + `start_model`, from `edge run`), `receive`/`commit`/`settle`/`abort` on an executor
(they write, fsync and load a model), `record` after every request (the pipeline's `on_served`
hook) and `tick` from a 1 s timer on the loop itself.

One package's way: `<base>/deploy` (or `edge/group/<group>/deploy`: every member, no $share) ->
`receive` on the executor, its verifying/testing statuses handed back to the loop -> the swap
(edge.service.swap_model) on the loop, between two batches, so requests in flight finish on the
old model -> `commit` on the executor -> the outcome status. The MQTT delivery is acknowledged once
that outcome is PUBACKed: a daemon killed mid-deployment gets the package again from the broker
after `recover()` cleaned up, and it runs again. A package that arrives while another is under
way runs `receive` too, on a second worker: the Deployer rejects it at once ("another deployment
is in progress"). Statuses are published in order; while the broker is away they wait (the last
few) and go out once it is back.

A payload with `command.json` is a signed operator command (edge/deploy_command.py: today only
`edge deploy --rollback`, for one device or a group): `Deployer.command` checks it (key, target:
device id, or group and members; replay) on the executor,
then the previous model is swapped in on the loop and `rolled_back` (or `rejected`) goes out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edge import __version__, deploy_command, signing
from edge.deploy import Deployer, DeployError, Status
from edge.daemon_pool import DaemonPool
from edge.mqtt import Message
from edge.probation import ProbationPolicy, Verdict, policy_of

if TYPE_CHECKING:
    from edge.config import Settings
    from edge.service import Parts

log = logging.getLogger("edge.deploy_channel")

TICK_S = 1.0  # probation's time-based verdict and statuses held back while the broker was away
MAX_UNSENT = 32  # statuses kept while disconnected (the retained topic needs only the last)


class DeployConfigError(Exception):
    """`[deploy]` cannot be used (a key that does not load); the message names the key."""


def deployer(settings: Settings, load_model: Callable[[Path], Any] | None = None,
             policy: ProbationPolicy | None = None) -> Deployer:
    """The device's Deployer from `[deploy]`: each key is checked alone so that the error names it;
    the probation is `[deploy] probation_*`'s. `load_model` and `policy` are for tests that pass a
    faulty model or a probation of their own in."""
    from edge.model import Model, default_model_path

    keys = []
    for i, text in enumerate(settings.deploy.keys):
        try:
            keys.append(signing.load_public_key(text))
        except signing.SigningError as exc:
            raise DeployConfigError(f"[deploy] keys[{i}]: {exc}") from None
    if keys and not signing.crypto_available():  # else every package would be rejected, found out only then
        raise DeployConfigError("[deploy] keys: set, but the 'cryptography' package is missing, so no package "
                                "could be verified (Debian / Raspberry Pi OS: sudo apt install python3-cryptography;"
                                " else pip install 'edge-intent[deploy]')")
    load = load_model or functools.partial(Model.load, threads=settings.model.threads)
    initial = Path(settings.model.path) if settings.model.path else default_model_path()
    return Deployer(settings.state_dir, keys, __version__, load, initial=initial,
                    policy=policy or policy_of(settings.deploy), max_bytes=settings.deploy.max_bytes)


def start_model(d: Deployer, configured: Callable[[], Any]) -> tuple[Any, Status | None]:
    """At start-up, before anything else: `recover()`, then the last package that became active
    (`configured()` while none did). Returns the model and what recover() reported."""
    recovered = d.recover()
    path = d.active_path()
    if path is None or (d.initial is not None and path == d.initial.path):
        return configured(), recovered
    try:
        model = d.load_model(path)
    except Exception as exc:  # whole by construction; still, a device that starts beats one that loops
        log.error("the active package %s does not load (%s); starting on the configured model", path, exc)
        return configured(), recovered
    log.info("deploy: starting on the deployed package %s", model.ident)
    return model, recovered


class DeployChannel:
    """The deployment topics of one daemon, on its loop (edge.channel.Channel)."""

    name = "deploy"

    def __init__(self, parts: Parts, d: Deployer, recovered: Status | None,
                 swap: Callable[[Any], Any]) -> None:
        self.p, self.d, self.swap = parts, d, swap
        self.link = parts.link
        self.status_topic = f"{parts.settings.base_topic}/deploy/status"
        self.loop = parts.loop  # packages may arrive before start() (the link starts first)
        self.pool = DaemonPool(2, name="edge-deploy")  # a second package is rejected at once, not queued
        self._unsent: deque[tuple[Status, Callable[[], None] | None]] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._settling = False
        topics = [f"{parts.settings.base_topic}/deploy"]
        if parts.settings.group:
            topics.append(f"edge/group/{parts.settings.group}/deploy")  # every member: not $share
        for topic in topics:
            self.link.subscribe_on_connect(topic, 1)
            parts.handlers[topic] = self._on_package
        parts.pipeline.on_served = self._served
        d.on_status = self._from_thread
        if recovered is not None:
            log.warning("deploy: %s %s: %s", recovered.model or "a package", recovered.state, recovered.reason)
            self._publish(recovered)  # goes out once connected

    # -- the Channel protocol ------------------------------------------------------------
    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._spawn(self._timer())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.pool.shutdown(wait=False)  # daemon threads: a deployment under way never holds the exit

    def swap_model(self, model: Any, slots: Any) -> None:
        """Nothing to follow: this channel is what swaps the model (edge.service_build.swap_model)."""

    # -- statuses ------------------------------------------------------------------------
    def _from_thread(self, status: Status) -> None:
        """on_status, from the executor's thread: the loop publishes it."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._publish, status)

    def _publish(self, status: Status, on_done: Callable[[], None] | None = None) -> None:
        self._unsent.append((status, on_done))
        while len(self._unsent) > MAX_UNSENT:
            self._unsent.popleft()  # the oldest: its delivery is redelivered anyway (never acked)
        self._flush()

    def _flush(self) -> None:
        while self._unsent:
            status, on_done = self._unsent[0]
            if not self.link.publish(self.status_topic, status.to_json(), qos=1, retain=True, on_done=on_done):
                return  # not connected (or paho is full): the timer tries again
            self._unsent.popleft()

    # -- one package ---------------------------------------------------------------------
    def _on_package(self, msg: Message) -> None:
        if msg.retain:  # a retained package would re-run at every subscribe: never act on one
            log.warning("deploy: ignored a retained package on %s (clear it with an empty retained message)",
                        msg.topic)
            self.link.ack(msg.mid, msg.qos)
            return
        self._spawn(self._deploy(msg))

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.loop.run_in_executor(self.pool, fn, *args)

    async def _deploy(self, msg: Message) -> None:
        ack = functools.partial(self.link.ack, msg.mid, msg.qos)
        head = deploy_command.read(msg.payload)  # a signed command (edge deploy --rollback), not a package
        if head is not None:
            await self._command(head, ack)
            return
        status: Status = await self._run(self.d.receive, msg.payload)
        if status.silent:  # a copy of the package being deployed: its first delivery's statuses tell
            ack()
            return
        if status.loaded is not None:
            self._publish(status)  # testing: self-test passed, ready to swap
            try:
                old = self.swap(status.loaded)  # on the loop: between two batches
            except Exception as exc:
                log.exception("deploy: the swap failed")
                status = await self._run(self.d.abort, f"the swap failed ({type(exc).__name__})")
            else:
                status = await self._run(self.d.commit)
                if status.state == "rejected":  # the pointer could not be written: the old one stays
                    self.swap(old)
        self._publish(status, on_done=ack)  # acknowledged once its outcome is safe with the broker

    async def _command(self, head: dict[str, bytes], ack: Callable[[], None]) -> None:
        """Checked and carried out on the executor (it writes, and loads the previous model);
        the swap on the loop, like a package's."""
        status: Status = await self._run(self.d.command, head, self.p.settings.device_id, self.p.settings.group)
        if status.loaded is not None:
            self.swap(status.loaded)
        self._publish(status, on_done=ack)

    # -- probation -----------------------------------------------------------------------
    def _served(self, latency_ms: float | None, error: bool, ident: str | None) -> None:
        """After every request the model classified (the pipeline's hook, on the loop)."""
        verdict = self.d.record(latency_ms, error, ident)
        if verdict is not None:
            self._spawn(self._settle(verdict))

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._flush()
                verdict = self.d.tick()
                if verdict is not None:
                    self._spawn(self._settle(verdict))
            except Exception:
                log.exception("deploy: timer failed; continuing")

    async def _settle(self, verdict: Verdict) -> None:
        if self._settling:  # a verdict is returned once; this only guards against a second source
            return
        self._settling = True
        try:
            status: Status = await self._run(self.d.settle, verdict)
        except DeployError as exc:  # the previous package does not load: the new one keeps answering;
            # or a signed rollback order ended this probation first: the verdict is void
            log.error("deploy: %s: %s", verdict.action, exc)
            return
        finally:
            self._settling = False
        if status.loaded is not None:  # rolled back: the previous package answers again
            self.swap(status.loaded)
        self._publish(status)

    def _spawn(self, coro: Any) -> None:
        """A task of this channel; one that raises reaches the loop's handler (the daemon stops, 1)."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.loop.call_exception_handler({"message": "the deployment channel failed",
                                                  "exception": t.exception(), "task": t})

        task.add_done_callback(done)


def channel(parts: Parts, d: Deployer, recovered: Status | None) -> DeployChannel:
    """The deployment channel of a built daemon; the swap is edge.service.swap_model on its parts."""
    from edge.service import swap_model

    return DeployChannel(parts, d, recovered, functools.partial(swap_model, parts))
