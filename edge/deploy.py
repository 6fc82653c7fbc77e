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
status: nothing to publish, the first copy's outcome is its outcome.

On disk, all under the state directory (never /opt)::

    deploy/active.json       the pointer: active and previous package, probation, the newest
                             version of each name run (temp file, fsync, rename, fsync dir)
    deploy/journal.json      the deployment in progress and its step; absent when none
    deploy/commands.json     the `issued` time of the last signed command accepted (replays)
    deploy/incoming-<id>/    the payload and its unpacked, not yet verified files
    models/<name>@<version>/ verified packages: the active one and the previous one only

Nothing is written before every member header and the manifest's signature have been
checked in memory: junk, and packages by unknown keys, never touch the SD card. Then the
steps, each written to the journal before it starts: receiving (the payload to disk),
verifying (unpacked into incoming-<id>: signature, hashes, admission), unpacking (files and
directory fsynced, moved into models/), testing (``load_model``, then ``edge.selftest.check``
on the manifest's examples), swapping (ready; the loop swaps), committing (the pointer). A
package is active once the pointer names it; a kill before that leaves the old pointer, and
``recover`` removes what the deployment left and says where it stopped. Power-loss points:
any step before the pointer's rename -> the old package runs, status ``rejected``
"interrupted while <step>"; after it -> the new one runs, ``active``, still on probation.

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

import hashlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from edge import admission, archive, deploy_command, signing
from edge.admission import Rejected
from edge.probation import Baseline, Probation, ProbationPolicy, Verdict
from edge.selftest import check as selftest_check

log = logging.getLogger(__name__)

STATES = ("verifying", "testing", "active", "rolled_back", "rejected")
STEPS = ("receiving", "verifying", "unpacking", "testing", "swapping", "committing")
DEFAULT_MAX_BYTES = 64 << 20
POINTER, JOURNAL = "active.json", "journal.json"
COMMANDS = "commands.json"  # {"last_issued": t}: the newest signed command accepted (replays)


class DeployError(Exception):
    """A command (commit, rollback) cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Status:
    model: str | None
    state: str
    reason: str | None
    previous: str | None
    ts: str
    loaded: Any = field(default=None, compare=False, repr=False)  # a model the loop must swap in
    # nothing to publish: the package is a copy of the deployment in progress, whose statuses tell
    silent: bool = field(default=False, compare=False, repr=False)

    def payload(self) -> dict[str, Any]:
        return {"model": self.model, "state": self.state, "reason": self.reason,
                "previous": self.previous, "ts": self.ts}

    def to_json(self) -> bytes:
        return json.dumps(self.payload()).encode()


@dataclass(frozen=True)
class Package:
    ident: str   # name@version
    path: Path


@dataclass
class _Work:
    """One deployment on its way through the steps."""
    id: str
    dir: Path
    previous: str | None
    manifest: dict = field(default_factory=dict)
    manifest_sha: bytes | None = None  # of the signed manifest, once its signature is checked
    ident: str | None = None
    target: Path | None = None
    model: Any = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that a reader (or a reboot) sees the old or the new
    contents, never a mix: temporary file, fsync, rename, fsync of the directory."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("deploy: %s unreadable (%s); ignored", path.name, exc)
        return None
    return data if isinstance(data, dict) else None


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
        self.state_dir = Path(state_dir).absolute()
        self.dir, self.models = self.state_dir / "deploy", self.state_dir / "models"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(parents=True, exist_ok=True)
        self.runtime_version, self.load_model = runtime_version, load_model
        self.clock, self.wall, self.policy, self.max_bytes = clock, wall, policy, max_bytes
        self.on_status = on_status
        self.initial = self._initial_package(Path(initial).absolute()) if initial is not None else None
        self._lock = threading.Lock()        # one writer of the pointer at a time
        self._busy: _Work | None = None      # the deployment between receive and commit/abort
        self._probation: Probation | None = None
        self._probation_ident: str | None = None
        self._baseline = Baseline(policy.baseline_window)

    # -- reading the state -------------------------------------------------------------
    @staticmethod
    def _initial_package(path: Path) -> Package | None:
        m = _read_json(path / "manifest.json")
        return Package(f"{m.get('name')}@{m.get('version')}", path) if m else None

    def _pointer(self) -> dict:
        return _read_json(self.dir / POINTER) or {}

    def _entry(self, pointer: dict, key: str) -> Package | None:
        e = pointer.get(key)
        if not isinstance(e, dict) or not isinstance(e.get("model"), str) or not isinstance(e.get("path"), str):
            return None
        path = self.state_dir / e["path"]  # absolute for the configured package, else relative
        return Package(e["model"], path) if (path / "manifest.json").is_file() else None

    def active(self) -> Package | None:
        """The package that became active last (the configured one while none did)."""
        p = self._pointer()
        return self._entry(p, "active") or self._entry(p, "previous") or self.initial

    def previous(self) -> Package | None:
        return self._entry(self._pointer(), "previous")

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

    def _ident(self, pkg: Package | None) -> str | None:
        return pkg.ident if pkg is not None else None

    # -- receiving a package -----------------------------------------------------------
    def receive(self, payload: bytes | bytearray | memoryview) -> Status:
        """Take one package through receiving, verifying, unpacking and testing. ``testing``
        with ``loaded`` set: it passed; swap ``loaded`` in, then ``commit()``. Else
        ``rejected`` with the reason, and nothing on disk changed."""
        size = memoryview(payload).nbytes
        active = self._ident(self.active())
        if size > self.max_bytes:  # before a byte is written
            return self._status(None, "rejected", f"package too large ({size} bytes; the limit is "
                                f"{self.max_bytes})", active)
        if size == 0:
            return self._status(None, "rejected", "empty payload", active)
        with self._lock:
            current = self._busy
            if current is None:
                wid = secrets.token_hex(6)
                work = self._busy = _Work(wid, self.dir / f"incoming-{wid}", active)
        if current is not None:
            return self._while_busy(payload, current, active)
        try:
            manifest = self._signed_by_a_trusted_key(payload)  # before anything is written: no SD wear for junk
            work.manifest_sha = hashlib.sha256(manifest).digest()
            again = self._same_as_active(manifest)
            if again is not None:  # the broker's redelivery of what is already running (or an operator's repeat)
                with self._lock:
                    self._busy = None  # nothing was written for it
                return again
            if self._probation is not None:
                raise Rejected(f"another deployment is in progress ({self._probation_ident} is on probation)")
            self._notify(self._status(None, "verifying", None, active))
            self._run_step("receiving", work, self._receiving, payload)
            self._run_step("verifying", work, self._verifying)
            self._run_step("unpacking", work, self._unpacking)
            self._notify(self._status(work.ident, "testing", None, active))
            self._run_step("testing", work, self._testing)
            self._run_step("swapping", work, self._swapping)
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

    def _signed_by_a_trusted_key(self, payload: bytes | bytearray | memoryview) -> bytes:
        """Check every member header and the signature of the manifest in memory; Rejected
        otherwise. verify_package checks both again, with the hashes, once on disk. Returns the
        manifest's bytes (signed by a trusted key)."""
        try:
            head = archive.read_small(payload, {signing.MANIFEST: 8 << 20, signing.SIG_FILE: 16 << 10},
                                      self.max_bytes)
            if signing.MANIFEST not in head:
                raise Rejected("no manifest.json")
            if signing.SIG_FILE not in head:
                raise Rejected("unsigned")
            signing.verify_bytes(head[signing.MANIFEST], head[signing.SIG_FILE], self.keys)
        except (archive.ArchiveError, signing.SigningError) as exc:  # PackageError, or no cryptography
            raise Rejected(str(exc)) from None
        return head[signing.MANIFEST]

    def _while_busy(self, payload: bytes | bytearray | memoryview, current: _Work, active: str | None) -> Status:
        """A package that arrives while ``current`` is between receive and commit: rejected
        ("another deployment is in progress"), unless it is a copy of ``current`` itself (the
        broker redelivers a package whose delivery was not acknowledged when the connection drops
        and comes back mid-deployment): then ``silent``, since ``current``'s own statuses tell
        what happens to it, and a ``rejected`` here would read as its outcome."""
        busy = self._status(None, "rejected", "another deployment is in progress", active)
        sha = current.manifest_sha
        if sha is None:
            return busy
        try:
            manifest = self._signed_by_a_trusted_key(payload)
        except Rejected:
            return busy
        if hashlib.sha256(manifest).digest() != sha:
            return busy
        log.info("deploy: %s received again while it is being deployed", current.ident or "a package")
        return Status(current.ident, "testing", "received again while it is being deployed", active,
                      self._now(), silent=True)

    def _same_as_active(self, manifest: bytes) -> Status | None:
        """The current truth when a package's signed manifest is byte for byte the active
        package's (the same sha256: every file's hash is in it, so the same package), else None.

        A connection lost between the commit and the PUBACK of the outcome makes the broker
        deliver the package again; so does an operator who runs `edge deploy` twice. Either
        way the device already runs it: it says so again (``active``, the same previous, on
        probation or not) rather than ``rejected`` "already active", which would replace the
        retained ``active`` while the new model runs and make `edge deploy` report a failure."""
        pkg = self.active()
        if pkg is None:
            return None
        try:
            running = (pkg.path / signing.MANIFEST).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(running).digest() != hashlib.sha256(manifest).digest():
            return None
        log.info("deploy: %s received again; it is already active", pkg.ident)
        reason = self._probation_reason() if self.on_probation == pkg.ident else None
        return self._status(pkg.ident, "active", reason, self._ident(self.previous()))

    def _probation_reason(self) -> str:
        p = self.policy
        return f"on probation: confirmed after {p.requests} requests or {p.seconds:g} s"

    def _run_step(self, step: str, work: _Work, fn: Callable[..., None], *args: Any) -> None:
        self._journal(work, step)
        fn(work, *args)

    def _journal(self, work: _Work, step: str) -> None:
        write_atomic(self.dir / JOURNAL, json.dumps({"id": work.id, "step": step, "model": work.ident,
                                                     "previous": work.previous}).encode())

    def _notify(self, status: Status) -> None:
        if self.on_status is not None:
            try:
                self.on_status(status)
            except Exception:
                log.exception("deploy: on_status failed")

    def _receiving(self, work: _Work, payload: bytes | bytearray | memoryview) -> None:
        free = shutil.disk_usage(self.state_dir).free
        need = 2 * memoryview(payload).nbytes + (8 << 20)  # the payload, its files, some room
        if free < need:
            raise Rejected(f"not enough space in the state directory ({free >> 20} MiB free, "
                           f"{need >> 20} MiB needed)")
        os.mkdir(work.dir, 0o700)
        with open(work.dir / "payload", "wb") as f:
            f.write(payload)

    def _verifying(self, work: _Work) -> None:
        staging = work.dir / "package"
        try:
            archive.unpack(work.dir / "payload", staging, self.max_bytes)
            manifest = signing.verify_package(staging, self.keys)
        except (archive.ArchiveError, signing.SigningError) as exc:  # PackageError, or no cryptography
            raise Rejected(str(exc)) from None
        work.manifest = manifest
        work.ident = admission.ident_of(manifest)  # signed: fit to be named in a status from here on
        active = self._ident(self.active())
        admission.admit(manifest, active, admission.newest(self._pointer().get("newest"), active),
                        self.runtime_version)

    def _unpacking(self, work: _Work) -> None:
        staging, target = work.dir / "package", self.models / str(work.ident)
        if os.path.lexists(target):  # the previous package, which a rollback order re-sends: keep it
            target = self.models / f"{work.ident}~{work.id}"
        for f in staging.iterdir():  # the files are on the disk before anything points at them
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(staging)  # and their names
        os.chmod(staging, 0o755)
        os.rename(staging, target)
        _fsync_dir(self.models)
        work.target = target

    def _testing(self, work: _Work) -> None:
        assert work.target is not None
        try:
            work.model = self.load_model(work.target)
        except Exception as exc:
            raise Rejected(f"{work.ident} does not load: {self._hide_paths(str(exc), work)}") from None
        tests = work.manifest["selftest"]
        try:
            failures = selftest_check(work.model, tests)
        except Exception as exc:
            raise Rejected(f"{work.ident}: the self-test could not run ({type(exc).__name__})") from None
        if failures:
            raise Rejected(f"{work.ident} failed its self-test: {len(failures)} of {len(tests)} examples, "
                           f"first {failures[0][:200]}")

    def _hide_paths(self, text: str, work: _Work) -> str:
        return text.replace(f"{work.target}/", "").replace(str(self.state_dir), "<state>")[:300]

    def _swapping(self, work: _Work) -> None:
        """Nothing to do here: the journal now says the package waits for the loop's swap."""

    def _reject(self, work: _Work, reason: str) -> Status:
        log.warning("deploy: rejected %s: %s", work.ident or "a package", reason)
        with self._lock:
            self._discard(work)
        return self._status(work.ident, "rejected", reason, work.previous)

    def _discard(self, work: _Work) -> None:
        """Remove what a deployment wrote (never the active or previous package)."""
        shutil.rmtree(work.dir, ignore_errors=True)
        keep = {p.path for p in (self.active(), self.previous()) if p is not None}
        if work.target is not None and work.target not in keep:
            shutil.rmtree(work.target, ignore_errors=True)
        (self.dir / JOURNAL).unlink(missing_ok=True)
        self._busy = None

    def abort(self, reason: str) -> Status:
        """The loop could not swap the package in: discard it (``rejected``)."""
        work = self._busy
        if work is None:
            raise DeployError("no deployment in progress")
        return self._reject(work, reason)

    # -- committing, probation, rollback -----------------------------------------------
    def _store(self, pkg: Package) -> dict[str, str]:
        try:
            rel = pkg.path.relative_to(self.state_dir)
        except ValueError:
            rel = pkg.path
        return {"model": pkg.ident, "path": str(rel)}

    def commit(self) -> Status:
        """After the swap: the swapped-in package becomes active (the pointer), the one it
        replaced is kept as previous, older ones go; probation starts."""
        with self._lock:
            work = self._busy
            if work is None or work.model is None or work.target is None:
                raise DeployError("no tested package waits to be committed")
            try:
                self._journal(work, "committing")
                self._committing(work)
            except OSError as exc:  # the pointer was not replaced: the old package stays active
                log.error("deploy: cannot commit %s: %s", work.ident, exc)
                self._discard(work)
                return self._status(work.ident, "rejected", f"cannot record the new package "
                                    f"({exc.strerror or exc}); swap the old model back", work.previous)
            self._gc()
            shutil.rmtree(work.dir, ignore_errors=True)
            (self.dir / JOURNAL).unlink(missing_ok=True)
            self._busy = None
            self._start_probation(str(work.ident), self._baseline.p50(self.policy.min_samples))
        return self._status(work.ident, "active", self._probation_reason(), work.previous)

    def _committing(self, work: _Work) -> None:
        pointer, old = self._pointer(), self.active()
        newest = admission.newest(pointer.get("newest"), self._ident(old), work.ident)
        baseline = self._baseline.p50(self.policy.min_samples)
        self._write_pointer({"active": self._store(Package(str(work.ident), work.target)),  # type: ignore[arg-type]
                             "previous": self._store(old) if old else None,
                             "probation": {"baseline_p50_ms": baseline, "starts": 0}, "newest": newest})

    def _write_pointer(self, pointer: dict) -> None:
        pointer["ts"] = self._now()
        write_atomic(self.dir / POINTER, json.dumps(pointer, indent=1).encode())

    def _gc(self) -> None:
        """Keep the active and the previous package; remove every other directory in models/.
        Not while the pointer is unreadable (a damaged disk): then nothing is known to be spare."""
        if (self.dir / POINTER).exists() and _read_json(self.dir / POINTER) is None:
            log.error("deploy: %s unreadable: no package removed", POINTER)
            return
        keep = {p.path.resolve() for p in (self.active(), self.previous()) if p is not None}
        for d in self.models.iterdir():
            if d.resolve() not in keep:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() and not d.is_symlink() else d.unlink()

    def _start_probation(self, ident: str, baseline: float | None) -> None:
        self._probation = Probation(self.policy, self.clock(), baseline)
        self._probation_ident = ident
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
        ident = self._probation_ident
        if self._probation is None:
            raise DeployError("nothing is on probation")
        if verdict.action == "confirm":
            return self.confirm(ident)
        return self.rollback(verdict.reason, on_probation=ident)

    def _still_on_probation(self, ident: str | None) -> None:
        """Under the lock: DeployError unless ``ident`` (None: any) is still the package on probation."""
        if self._probation is None or (ident is not None and ident != self._probation_ident):
            raise DeployError(f"{ident or 'the package'} is no longer on probation")

    def confirm(self, ident: str | None = None) -> Status:
        """Probation passed: the package stays, for good (``active``, null reason)."""
        with self._lock:
            self._still_on_probation(ident)
            pointer = self._pointer()
            pointer["probation"] = None
            self._write_pointer(pointer)
            ident, self._probation = self._probation_ident, None
            log.info("deploy: %s confirmed", ident)
            return self._status(ident, "active", None, self._ident(self.previous()))

    def rollback(self, reason: str = "rolled back on command", on_probation: str | None = None) -> Status:
        """The previous package becomes active again (``rolled_back``; ``loaded`` is it, loaded,
        for the loop to swap in). DeployError when there is none or it does not load, or (with
        ``on_probation``, a probation's verdict) when that package is no longer on probation."""
        with self._lock:
            if self._busy is not None:
                raise DeployError("a deployment is in progress; roll back once it is done")
            if on_probation is not None:
                self._still_on_probation(on_probation)
            pointer, current, prev = self._pointer(), self.active(), self.previous()
            if prev is None or current is None:
                raise DeployError("no previous package to roll back to")
            try:
                model = self.load_model(prev.path)
            except Exception as exc:
                self._probation = None  # no verdict to act on again at every request; restarts still count
                raise DeployError(f"the previous package {prev.ident} does not load ({exc})") from None
            self._write_pointer({"active": self._store(prev), "previous": None, "probation": None,
                                 "newest": pointer.get("newest") or {}})
            self._gc()
            self._probation = None
            log.warning("deploy: %s rolled back to %s: %s", current.ident, prev.ident, reason)
            return self._status(current.ident, "rolled_back", reason, prev.ident, loaded=model)

    def command(self, head: dict[str, bytes], device: str, group: str = "") -> Status:
        """A signed operator command (edge/deploy_command.py; ``head`` from its ``read``) for
        ``device`` (a member of ``group``, its configured group, for a group order): checked,
        remembered (a replay is rejected, restarts included), carried out. ``rejected`` with the
        reason, and nothing changed, when it may not or cannot be."""
        with self._lock:  # two commands at once must not both pass the replay check
            active = self._ident(self.active())
            last = (_read_json(self.dir / COMMANDS) or {}).get("last_issued")
            try:
                cmd = deploy_command.verify(head, self.keys, device,
                                            last if isinstance(last, (int, float)) else None, self.wall(), group)
                # remembered before it is acted on: a command that fails is still spent
                write_atomic(self.dir / COMMANDS, json.dumps({"last_issued": cmd["issued"]}).encode())
            except deploy_command.CommandError as exc:
                return self._status(None, "rejected", str(exc), active)
            except OSError as exc:
                return self._status(None, "rejected", f"cannot store the command ({exc.strerror or exc})", active)
        if self.previous() is None:
            return self._status(active, "rejected", "nothing to roll back to", None)
        try:
            return self.rollback("rolled back on a signed command")
        except DeployError as exc:
            return self._status(active, "rejected", str(exc), self._ident(self.previous()))

    # -- start-up ------------------------------------------------------------------------
    def recover(self) -> Status | None:
        """At start-up, before the model is loaded: finish or undo what a crash interrupted,
        remove half-written files, and say what happened (a status to publish; None when
        nothing was interrupted). A package that was on probation at the crash stays on it;
        after ``policy.max_restarts`` starts on probation it is rolled back."""
        with self._lock:
            journal = _read_json(self.dir / JOURNAL)
            status = None
            pointer, active, prev = self._pointer(), self.active(), self.previous()
            if journal is not None or (self.dir / JOURNAL).exists():
                j = journal or {}
                step = j.get("step") if j.get("step") in STEPS else "an unknown step"
                model = j.get("model") if isinstance(j.get("model"), str) else None
                running = self._ident(active)
                if step == "committing" and model is not None and model == running:
                    status = self._status(model, "active", f"the daemon stopped while committing; {model} is "
                                          "active, on probation", self._ident(prev))
                else:
                    status = self._status(model, "rejected", f"interrupted while {step} (the daemon stopped); "
                                          f"running {running}", running)
            for leftover in self.dir.iterdir():
                if leftover.name.startswith("incoming-"):
                    shutil.rmtree(leftover, ignore_errors=True)
                elif leftover.name.startswith(".") and leftover.name.endswith(".tmp"):
                    leftover.unlink(missing_ok=True)
            self._gc()
            (self.dir / JOURNAL).unlink(missing_ok=True)
            probation = pointer.get("probation")
            if isinstance(probation, dict) and active is not None:
                starts = int(probation.get("starts", 0)) + 1
                if starts >= self.policy.max_restarts and prev is not None:
                    self._write_pointer({"active": self._store(prev), "previous": None, "probation": None,
                                         "newest": pointer.get("newest") or {}})
                    self._gc()
                    return self._status(active.ident, "rolled_back", f"the daemon started {starts} times with "
                                        f"{active.ident} on probation", prev.ident)
                pointer["probation"] = {**probation, "starts": starts}
                self._write_pointer(pointer)
                base = probation.get("baseline_p50_ms")
                self._start_probation(active.ident, float(base) if isinstance(base, (int, float)) else None)
            return status
