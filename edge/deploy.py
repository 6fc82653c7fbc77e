"""Signed model packages in, self-test, probation, swap, rollback: the device side of a
deployment, with no transport and no event loop of its own (the daemon's loop calls it).

Wire format: one MQTT payload is one tar archive, uncompressed or gzip, of ``manifest.json``,
``manifest.json.minisig`` and the files the manifest lists, flat (edge/archive.py); at most
``max_bytes`` (64 MiB by default) on the wire and unpacked. What a verified manifest must
satisfy is edge/admission.py: newer than what this device has run, unless the signed manifest
says ``"deploy": {"rollback": true}`` (a rollback order); runnable by this edge; self-test
examples present. One deployment at a time: while one is between ``receive`` and
``commit``, or on probation, another is rejected ("another deployment is in progress").
A package whose signed manifest is the active package's, byte for byte (the broker's
redelivery after a connection lost between the commit and the outcome's PUBACK, or the
same `edge deploy` run twice), is not a deployment: ``receive`` answers the current truth,
``active`` with the same previous (on probation or not), and writes nothing. A copy of the
package being deployed (redelivered after a reconnect mid-deployment) gets a ``silent``
status: nothing to publish, the first copy's outcome is its outcome. Both are recognized
by edge/deploy_repeat.py.

The jobs around this one, a module each: the files and their atomic writes (edge/deploy_disk.py),
the steps before the swap, each journalled before it starts (edge/deploy_steps.py), a package
seen before (edge/deploy_repeat.py), the status value (edge/deploy_status.py) and start-up
recovery (edge/deploy_recover.py). A package is active
once the pointer names it (``commit``); a kill before that leaves the old pointer, and ``recover``
removes what the deployment left and says where it stopped.

Status: ``Status.payload()`` is the retained ``<base>/deploy/status`` payload, keys exactly
model/state/reason/previous/ts. ``model`` is the package the status is about (null until it
is verified: nothing unsigned is repeated); ``previous`` the package that runs if it does not
(the one active when it began; after ``rolled_back``, the one running again). ``active``
with reason ``on probation: ...`` at the commit, ``active`` with a null reason once probation
confirms it. Probation (edge/probation.py) rolls back by itself on errors or latency; a
daemon that starts ``policy.max_restarts`` times with a package on probation rolls it back
(a model that crashes the daemon). A rollback keeps no previous: the failed package goes.

Calling it from the loop (issue 24). ``receive``, ``commit``, ``confirm``, ``rollback``,
``settle``, ``abort`` and ``recover`` write and fsync files, and ``receive``/``rollback`` load
a model: run them in an executor. ``record``, ``tick``, ``active_path``, ``busy`` and
``on_probation`` are cheap and meant for the loop itself::

    status = deployer.recover()                       # at start-up, before loading the model
    model = load(deployer.active_path() or configured_path)
    status = await run(deployer.receive, payload)     # on <base>/deploy; publish status
    if status.loaded is not None:                     # passed: swap between two requests
        old, pipeline.model = pipeline.model, status.loaded   # in-flight ones finish on old
        status = await run(deployer.commit)           # publish; "rejected": swap old back
    verdict = deployer.record(latency_ms, error, model.ident)   # after every request
    verdict = verdict or deployer.tick()                        # and from a ~1 s timer
    if verdict: status = await run(deployer.settle, verdict)    # swap in status.loaded if set

A signed operator command (``edge deploy --rollback``; edge/deploy_command.py) goes to
``command(head, device_id, group)`` on the executor instead of ``receive``: swap in ``loaded`` if set.

A verdict is returned once. ``settle``/``rollback`` raise DeployError when the previous
package does not load (nothing changes then). ``on_status`` (optional) gets the verifying
and testing statuses from the thread ``receive`` runs on (``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from edge import admission, deploy_command, deploy_repeat, signing
from edge.admission import Rejected
# POINTER and STEPS are named here too: tests/deploy_harness.py kills a deployment at a step by them.
from edge.deploy_disk import POINTER, DeployDisk, Package, ident
from edge.deploy_recover import recover
from edge.deploy_status import STATES, Status
from edge.deploy_steps import STEPS, Steps, Work, signed_manifest
from edge.probation import Baseline, Probation, ProbationPolicy, Verdict

__all__ = ["POINTER", "STATES", "STEPS", "DeployError", "Deployer", "Package", "Status"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 << 20


class DeployError(Exception):
    """A command (commit, rollback) cannot be carried out; the message says why."""


class Deployer:
    """The deployments of one device: its state directory, trusted keys and running version."""

    def __init__(self, state_dir: str | os.PathLike, trusted_keys: Iterable[signing.PublicKey | str],
                 runtime_version: str, load_model: Callable[[Path], Any],
                 clock: Callable[[], float] = time.monotonic, *, initial: str | os.PathLike | None = None,
                 wall: Callable[[], float] = time.time, policy: ProbationPolicy = ProbationPolicy(),
                 max_bytes: int = DEFAULT_MAX_BYTES, on_status: Callable[[Status], None] | None = None) -> None:
        """``clock`` times probation (monotonic: a Pi without a clock battery jumps its wall
        time at the first NTP answer); ``wall`` stamps statuses. ``initial``: the configured
        package the daemon runs while nothing was deployed (the first deployment's previous)."""
        self.keys = [k if isinstance(k, signing.PublicKey) else signing.load_public_key(k) for k in trusted_keys]
        if not self.keys:
            raise ValueError("deployment needs at least one trusted key ([deploy] keys)")
        self.disk = DeployDisk(state_dir, initial)
        self.runtime_version, self.load_model = runtime_version, load_model
        self.clock, self.wall, self.policy, self.max_bytes = clock, wall, policy, max_bytes
        self.on_status = on_status
        self.steps = Steps(self.disk, self.keys, max_bytes, runtime_version, load_model)
        self._lock = threading.Lock()        # one writer of the pointer at a time
        self._busy: Work | None = None       # the deployment between receive and commit/abort
        self._probation: Probation | None = None
        self._probation_ident: str | None = None
        self._baseline = Baseline(policy.baseline_window)

    # -- reading the state -------------------------------------------------------------
    @property
    def initial(self) -> Package | None:
        """The configured package, run while nothing was deployed."""
        return self.disk.initial

    def active(self) -> Package | None:
        """The package that became active last (the configured one while none did)."""
        return self.disk.active()

    def previous(self) -> Package | None:
        return self.disk.previous()

    def active_path(self) -> Path | None:
        """The directory to load at start-up: the last package that became active (whole by
        construction: it was fsynced before the pointer named it); None: the configured one."""
        a = self.active()
        return a.path if a is not None else None

    @property
    def busy(self) -> bool:
        return self._busy is not None

    @property
    def on_probation(self) -> str | None:
        return self._probation_ident if self._probation is not None else None

    def _status(self, model: str | None, state: str, reason: str | None, previous: str | None,
                loaded: Any = None) -> Status:
        return Status(model, state, reason, previous, self._now(), loaded)

    def _now(self) -> str:
        ts = datetime.fromtimestamp(self.wall(), timezone.utc).isoformat(timespec="milliseconds")
        return ts.replace("+00:00", "Z")

    # -- receiving a package -----------------------------------------------------------
    def receive(self, payload: bytes | bytearray | memoryview) -> Status:
        """Take one package through receiving, verifying, unpacking and testing. ``testing``
        with ``loaded`` set: it passed; swap ``loaded`` in, then ``commit()``. Else
        ``rejected`` with the reason, and nothing on disk changed."""
        size = memoryview(payload).nbytes
        active = ident(self.active())
        if size > self.max_bytes:  # before a byte is written
            return self._status(None, "rejected", f"package too large ({size} bytes; the limit is "
                                f"{self.max_bytes})", active)
        if size == 0:
            return self._status(None, "rejected", "empty payload", active)
        with self._lock:
            current = self._busy
            if current is None:
                wid = secrets.token_hex(6)
                work = self._busy = Work(wid, self.disk.dir / f"incoming-{wid}", active)
        if current is not None:
            return self._while_busy(payload, current, active)
        steps = self.steps
        try:
            # Before anything is written: no SD wear for junk.
            manifest = signed_manifest(payload, self.keys, self.max_bytes)
            work.manifest_sha = deploy_repeat.sha(manifest)
            again = self._same_as_active(manifest)
            if again is not None:  # the broker's redelivery of what is already running (or an operator's repeat)
                with self._lock:
                    self._busy = None  # nothing was written for it
                return again
            if self._probation is not None:
                raise Rejected(f"another deployment is in progress ({self._probation_ident} is on probation)")
            self._notify(self._status(None, "verifying", None, active))
            self._run_step("receiving", work, steps.receiving, payload)
            self._run_step("verifying", work, steps.verifying)
            self._run_step("unpacking", work, steps.unpacking)
            self._notify(self._status(work.ident, "testing", None, active))
            self._run_step("testing", work, steps.testing)
            self._run_step("swapping", work, steps.swapping)
        except Rejected as exc:
            return self._reject(work, str(exc))
        except OSError as exc:
            return self._reject(work, f"cannot store the package ({exc.strerror or exc})")
        except Exception as exc:  # a bug must not leave the deployer busy forever
            log.exception("deploy: unexpected failure")
            return self._reject(work, f"internal error ({type(exc).__name__})")
        n = len(work.manifest["selftest"])
        return self._status(work.ident, "testing", f"self-test passed ({n} examples); ready to swap",
                            active, loaded=work.model)

    def _while_busy(self, payload: bytes | bytearray | memoryview, current: Work, active: str | None) -> Status:
        """A package that arrives while ``current`` is between receive and commit: rejected
        ("another deployment is in progress"), unless it is a copy of ``current`` itself: then
        ``silent`` (edge/deploy_repeat.py says why)."""
        busy = self._status(None, "rejected", "another deployment is in progress", active)
        if not deploy_repeat.copy_of(payload, current.manifest_sha, self.keys, self.max_bytes):
            return busy
        log.info("deploy: %s received again while it is being deployed", current.ident or "a package")
        return Status(current.ident, "testing", "received again while it is being deployed", active,
                      self._now(), silent=True)

    def _same_as_active(self, manifest: bytes) -> Status | None:
        """The current truth when a package's signed manifest is byte for byte the active
        package's, else None (edge/deploy_repeat.py: the broker's redelivery after a commit, or
        an operator's repeat)."""
        pkg = self.active()
        if pkg is None or not deploy_repeat.is_active(pkg, manifest):
            return None
        log.info("deploy: %s received again; it is already active", pkg.ident)
        reason = self._probation_reason() if self.on_probation == pkg.ident else None
        return self._status(pkg.ident, "active", reason, ident(self.previous()))

    def _probation_reason(self) -> str:
        p = self.policy
        return f"on probation: confirmed after {p.requests} requests or {p.seconds:g} s"

    def _run_step(self, step: str, work: Work, fn: Callable[..., None], *args: Any) -> None:
        """Every step goes through here: journalled before it starts (tests/deploy_harness.py kills
        a deployment at a step by wrapping this)."""
        self.disk.write_journal(work.id, step, work.ident, work.previous)
        fn(work, *args)

    def _notify(self, status: Status) -> None:
        if self.on_status is not None:
            try:
                self.on_status(status)
            except Exception:
                log.exception("deploy: on_status failed")

    def _reject(self, work: Work, reason: str) -> Status:
        log.warning("deploy: rejected %s: %s", work.ident or "a package", reason)
        with self._lock:
            self._discard(work)
        return self._status(work.ident, "rejected", reason, work.previous)

    def _discard(self, work: Work) -> None:
        """Remove what a deployment wrote (never the active or previous package)."""
        self.disk.discard(work.dir, work.target)
        self._busy = None

    def abort(self, reason: str) -> Status:
        """The loop could not swap the package in: discard it (``rejected``)."""
        work = self._busy
        if work is None:
            raise DeployError("no deployment in progress")
        return self._reject(work, reason)

    # -- committing, probation, rollback -----------------------------------------------
    def commit(self) -> Status:
        """After the swap: the swapped-in package becomes active (the pointer), the one it
        replaced is kept as previous, older ones go; probation starts."""
        with self._lock:
            work = self._busy
            if work is None or work.model is None or work.target is None:
                raise DeployError("no tested package waits to be committed")
            try:
                self._run_step("committing", work, self._committing)
            except OSError as exc:  # the pointer was not replaced: the old package stays active
                log.error("deploy: cannot commit %s: %s", work.ident, exc)
                self._discard(work)
                return self._status(work.ident, "rejected", f"cannot record the new package "
                                    f"({exc.strerror or exc}); swap the old model back", work.previous)
            self.disk.gc()
            shutil.rmtree(work.dir, ignore_errors=True)
            self.disk.clear_journal()
            self._busy = None
            self._start_probation(str(work.ident), self._baseline.p50(self.policy.min_samples))
        return self._status(work.ident, "active", self._probation_reason(), work.previous)

    def _committing(self, work: Work) -> None:
        disk = self.disk
        pointer, old = disk.pointer(), self.active()
        newest = admission.newest(pointer.get("newest"), ident(old), work.ident)
        baseline = self._baseline.p50(self.policy.min_samples)
        disk.write_pointer({"active": disk.entry(Package(str(work.ident), work.target)),  # type: ignore[arg-type]
                            "previous": disk.entry(old) if old else None,
                            "probation": {"baseline_p50_ms": baseline, "starts": 0}, "newest": newest}, self._now())

    def _start_probation(self, pkg: str, baseline: float | None) -> None:
        self._probation = Probation(self.policy, self.clock(), baseline)
        self._probation_ident = pkg
        self._baseline.clear()

    def record(self, latency_ms: float | None, error: bool, model: str | None = None) -> Verdict | None:
        """One request served (every request: the active model's make the baseline a new one is
        held to). ``model``: the ident that served it, when a request in flight at the swap
        finished on the old one. A Verdict: call ``settle`` with it (in an executor)."""
        pb = self._probation
        if pb is None or (model is not None and model != self._probation_ident):
            if not error and pb is None and latency_ms is not None:  # None: a cost not comparable
                self._baseline.add(latency_ms)
            return None
        return pb.record(latency_ms, error, self.clock())

    def tick(self) -> Verdict | None:
        """The time-based verdict (confirmed after ``policy.seconds``); call from a timer."""
        pb = self._probation
        return pb.due(self.clock()) if pb is not None else None

    def settle(self, verdict: Verdict) -> Status:
        """Act on a probation verdict (each is returned once by ``record``/``tick``). DeployError
        when that probation has ended meanwhile: a signed rollback order (``command``, on another
        worker) may take the lock first, and the verdict is then about a package no longer active."""
        on_probation = self._probation_ident
        if self._probation is None:
            raise DeployError("nothing is on probation")
        if verdict.action == "confirm":
            return self.confirm(on_probation)
        return self.rollback(verdict.reason, on_probation=on_probation)

    def _still_on_probation(self, pkg: str | None) -> None:
        """Under the lock: DeployError unless ``pkg`` (None: any) is still the package on probation."""
        if self._probation is None or (pkg is not None and pkg != self._probation_ident):
            raise DeployError(f"{pkg or 'the package'} is no longer on probation")

    def confirm(self, pkg: str | None = None) -> Status:
        """Probation passed: the package stays, for good (``active``, null reason)."""
        with self._lock:
            self._still_on_probation(pkg)
            pointer = self.disk.pointer()
            pointer["probation"] = None
            self.disk.write_pointer(pointer, self._now())
            confirmed, self._probation = self._probation_ident, None
            log.info("deploy: %s confirmed", confirmed)
            return self._status(confirmed, "active", None, ident(self.previous()))

    def rollback(self, reason: str = "rolled back on command", on_probation: str | None = None) -> Status:
        """The previous package becomes active again (``rolled_back``; ``loaded`` is it, loaded,
        for the loop to swap in). DeployError when there is none or it does not load, or (with
        ``on_probation``, a probation's verdict) when that package is no longer on probation."""
        with self._lock:
            if self._busy is not None:
                raise DeployError("a deployment is in progress; roll back once it is done")
            if on_probation is not None:
                self._still_on_probation(on_probation)
            pointer, current, prev = self.disk.pointer(), self.active(), self.previous()
            if prev is None or current is None:
                raise DeployError("no previous package to roll back to")
            try:
                model = self.load_model(prev.path)
            except Exception as exc:
                self._probation = None  # no verdict to act on again at every request; restarts still count
                raise DeployError(f"the previous package {prev.ident} does not load ({exc})") from None
            self.disk.restore(pointer, prev, self._now())
            self._probation = None
            log.warning("deploy: %s rolled back to %s: %s", current.ident, prev.ident, reason)
            return self._status(current.ident, "rolled_back", reason, prev.ident, loaded=model)

    def command(self, head: dict[str, bytes], device: str, group: str = "") -> Status:
        """A signed operator command (edge/deploy_command.py; ``head`` from its ``read``) for
        ``device`` (a member of ``group``, its configured group, for a group order): checked,
        remembered (a replay is rejected, restarts included), carried out. ``rejected`` with the
        reason, and nothing changed, when it may not or cannot be."""
        with self._lock:  # two commands at once must not both pass the replay check
            active = ident(self.active())
            try:
                cmd = deploy_command.verify(head, self.keys, device, self.disk.last_issued(), self.wall(), group)
                # remembered before it is acted on: a command that fails is still spent
                self.disk.remember_issued(cmd["issued"])
            except deploy_command.CommandError as exc:
                return self._status(None, "rejected", str(exc), active)
            except OSError as exc:
                return self._status(None, "rejected", f"cannot store the command ({exc.strerror or exc})", active)
        if self.previous() is None:
            return self._status(active, "rejected", "nothing to roll back to", None)
        try:
            return self.rollback("rolled back on a signed command")
        except DeployError as exc:
            return self._status(active, "rejected", str(exc), ident(self.previous()))

    # -- start-up ------------------------------------------------------------------------
    def recover(self) -> Status | None:
        """At start-up, before the model is loaded: finish or undo what a crash interrupted,
        remove half-written files, and say what happened (a status to publish; None when
        nothing was interrupted). A package that was on probation at the crash stays on it;
        after ``policy.max_restarts`` starts on probation it is rolled back."""
        with self._lock:
            done = recover(self.disk, self.policy.max_restarts, self._status, self._now)
            if done.probation is not None:
                self._start_probation(*done.probation)
            return done.status
