"""What a deployment keeps on disk, and how it writes it so that a power cut leaves the old or the
new state, never a mix (edge/deploy.py decides what to write; this module knows where and how).

All under the state directory (never /opt)::

    deploy/active.json       the pointer: active and previous package, probation, the newest
                             version of each name run (temp file, fsync, rename, fsync dir)
    deploy/journal.json      the deployment in progress and its step; absent when none
    deploy/commands.json     the `issued` time of the last signed command accepted (replays)
    deploy/incoming-<id>/    the payload and its unpacked, not yet verified files
    models/<name>@<version>/ verified packages: the active one and the previous one only

A package is active once the pointer names it; the package's files were fsynced before that
(edge/deploy_steps.py), so the pointer never names a half-written package.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("edge.deploy")

POINTER, JOURNAL = "active.json", "journal.json"
COMMANDS = "commands.json"  # {"last_issued": t}: the newest signed command accepted (replays)


@dataclass(frozen=True)
class Package:
    ident: str   # name@version
    path: Path


def fsync_dir(path: Path) -> None:
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
    fsync_dir(path.parent)


def read_json(path: Path) -> dict | None:
    """A JSON object from ``path``; None when the file is missing, unreadable (logged) or no object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("deploy: %s unreadable (%s); ignored", path.name, exc)
        return None
    return data if isinstance(data, dict) else None


def ident(pkg: Package | None) -> str | None:
    return pkg.ident if pkg is not None else None


class DeployDisk:
    """The deployment files of one state directory. Not locked: edge/deploy.py's Deployer holds its
    lock around every write."""

    def __init__(self, state_dir: str | os.PathLike, initial: str | os.PathLike | None = None) -> None:
        """``initial``: the configured package the daemon runs while nothing was deployed."""
        self.state_dir = Path(state_dir).absolute()
        self.dir, self.models = self.state_dir / "deploy", self.state_dir / "models"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(parents=True, exist_ok=True)
        self.initial = self._initial_package(Path(initial).absolute()) if initial is not None else None

    # -- the pointer -----------------------------------------------------------------------
    @staticmethod
    def _initial_package(path: Path) -> Package | None:
        m = read_json(path / "manifest.json")
        return Package(f"{m.get('name')}@{m.get('version')}", path) if m else None

    def pointer(self) -> dict:
        return read_json(self.dir / POINTER) or {}

    def _entry(self, pointer: dict, key: str) -> Package | None:
        e = pointer.get(key)
        if not isinstance(e, dict) or not isinstance(e.get("model"), str) or not isinstance(e.get("path"), str):
            return None
        path = self.state_dir / e["path"]  # absolute for the configured package, else relative
        return Package(e["model"], path) if (path / "manifest.json").is_file() else None

    def active(self) -> Package | None:
        """The package that became active last (the configured one while none did)."""
        p = self.pointer()
        return self._entry(p, "active") or self._entry(p, "previous") or self.initial

    def previous(self) -> Package | None:
        return self._entry(self.pointer(), "previous")

    def entry(self, pkg: Package) -> dict[str, str]:
        """How the pointer names ``pkg``: relative to the state directory when it is under it."""
        try:
            rel = pkg.path.relative_to(self.state_dir)
        except ValueError:
            rel = pkg.path
        return {"model": pkg.ident, "path": str(rel)}

    def write_pointer(self, pointer: dict, ts: str) -> None:
        pointer["ts"] = ts
        write_atomic(self.dir / POINTER, json.dumps(pointer, indent=1).encode())

    def restore(self, pointer: dict, prev: Package, ts: str) -> None:
        """``prev`` active again (a rollback): no previous, no probation; every other package goes."""
        self.write_pointer({"active": self.entry(prev), "previous": None, "probation": None,
                            "newest": pointer.get("newest") or {}}, ts)
        self.gc()

    # -- the journal and the commands record ---------------------------------------------------
    def write_journal(self, work_id: str, step: str, model: str | None, previous: str | None) -> None:
        write_atomic(self.dir / JOURNAL, json.dumps({"id": work_id, "step": step, "model": model,
                                                     "previous": previous}).encode())

    def journal(self) -> dict | None:
        """The journal: None when there is none; {} when one is there but unreadable."""
        journal = read_json(self.dir / JOURNAL)
        if journal is None and (self.dir / JOURNAL).exists():
            return {}
        return journal

    def clear_journal(self) -> None:
        (self.dir / JOURNAL).unlink(missing_ok=True)

    def last_issued(self) -> float | None:
        """The `issued` time of the last signed command accepted (None: none, or unreadable)."""
        last = (read_json(self.dir / COMMANDS) or {}).get("last_issued")
        return last if isinstance(last, (int, float)) else None

    def remember_issued(self, issued: float) -> None:
        write_atomic(self.dir / COMMANDS, json.dumps({"last_issued": issued}).encode())

    # -- clean-up ------------------------------------------------------------------------------
    def gc(self) -> None:
        """Keep the active and the previous package; remove every other directory in models/.
        Not while the pointer is unreadable (a damaged disk): then nothing is known to be spare."""
        if (self.dir / POINTER).exists() and read_json(self.dir / POINTER) is None:
            log.error("deploy: %s unreadable: no package removed", POINTER)
            return
        keep = {p.path.resolve() for p in (self.active(), self.previous()) if p is not None}
        for d in self.models.iterdir():
            if d.resolve() not in keep:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() and not d.is_symlink() else d.unlink()

    def discard(self, incoming: Path, target: Path | None) -> None:
        """Remove what one deployment wrote (never the active or previous package) and its journal."""
        shutil.rmtree(incoming, ignore_errors=True)
        keep = {p.path for p in (self.active(), self.previous()) if p is not None}
        if target is not None and target not in keep:
            shutil.rmtree(target, ignore_errors=True)
        self.clear_journal()

    def sweep(self) -> None:
        """At start-up: remove every incoming-<id> directory and half-written temporary file."""
        for leftover in self.dir.iterdir():
            if leftover.name.startswith("incoming-"):
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.name.startswith(".") and leftover.name.endswith(".tmp"):
                leftover.unlink(missing_ok=True)
