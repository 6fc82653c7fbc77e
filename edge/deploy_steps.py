"""One package's way from a payload to a tested model: the steps of a deployment before the swap.

Nothing is written before every member header and the manifest's signature have been checked in
memory (`signed_manifest`): junk, and packages by unknown keys, never touch the SD card. Then the
steps, each written to the journal before it starts (edge/deploy.py's Deployer does that and
orders them): receiving (the payload to disk), verifying (unpacked into incoming-<id>: signature,
hashes, admission), unpacking (files and directory fsynced, moved into models/), testing
(``load_model``, then ``edge.selftest.check`` on the manifest's examples), swapping (ready; the
loop swaps), committing (the pointer; the Deployer's). A step that refuses the package raises
Rejected with the reason an operator reads; an OSError is the disk's.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edge import admission, archive, signing
from edge.admission import Rejected
from edge.deploy_disk import DeployDisk, fsync_dir, ident
from edge.selftest import check as selftest_check

STEPS = ("receiving", "verifying", "unpacking", "testing", "swapping", "committing")


@dataclass
class Work:
    """One deployment on its way through the steps."""
    id: str
    dir: Path
    previous: str | None
    manifest: dict = field(default_factory=dict)
    manifest_sha: bytes | None = None  # of the signed manifest, once its signature is checked
    ident: str | None = None
    target: Path | None = None
    model: Any = None


def signed_manifest(payload: bytes | bytearray | memoryview, keys: list[signing.PublicKey], max_bytes: int) -> bytes:
    """Check every member header and the signature of the manifest in memory; Rejected
    otherwise. verify_package checks both again, with the hashes, once on disk. Returns the
    manifest's bytes (signed by a trusted key)."""
    try:
        head = archive.read_small(payload, {signing.MANIFEST: 8 << 20, signing.SIG_FILE: 16 << 10}, max_bytes)
        if signing.MANIFEST not in head:
            raise Rejected("no manifest.json")
        if signing.SIG_FILE not in head:
            raise Rejected("unsigned")
        signing.verify_bytes(head[signing.MANIFEST], head[signing.SIG_FILE], keys)
    except (archive.ArchiveError, signing.SigningError) as exc:  # PackageError, or no cryptography
        raise Rejected(str(exc)) from None
    return head[signing.MANIFEST]


class Steps:
    """The steps before the swap, each named as the journal names it."""

    def __init__(self, disk: DeployDisk, keys: list[signing.PublicKey], max_bytes: int, runtime_version: str,
                 load_model: Callable[[Path], Any]) -> None:
        self.disk, self.keys, self.max_bytes = disk, keys, max_bytes
        self.runtime_version, self.load_model = runtime_version, load_model

    def receiving(self, work: Work, payload: bytes | bytearray | memoryview) -> None:
        free = shutil.disk_usage(self.disk.state_dir).free
        need = 2 * memoryview(payload).nbytes + (8 << 20)  # the payload, its files, some room
        if free < need:
            raise Rejected(f"not enough space in the state directory ({free >> 20} MiB free, "
                           f"{need >> 20} MiB needed)")
        os.mkdir(work.dir, 0o700)
        with open(work.dir / "payload", "wb") as f:
            f.write(payload)

    def verifying(self, work: Work) -> None:
        staging = work.dir / "package"
        try:
            archive.unpack(work.dir / "payload", staging, self.max_bytes)
            manifest = signing.verify_package(staging, self.keys)
        except (archive.ArchiveError, signing.SigningError) as exc:  # PackageError, or no cryptography
            raise Rejected(str(exc)) from None
        work.manifest = manifest
        work.ident = admission.ident_of(manifest)  # signed: fit to be named in a status from here on
        active = ident(self.disk.active())
        admission.admit(manifest, active, admission.newest(self.disk.pointer().get("newest"), active),
                        self.runtime_version)

    def unpacking(self, work: Work) -> None:
        models = self.disk.models
        staging, target = work.dir / "package", models / str(work.ident)
        if os.path.lexists(target):  # the previous package, which a rollback order re-sends: keep it
            target = models / f"{work.ident}~{work.id}"
        for f in staging.iterdir():  # the files are on the disk before anything points at them
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(staging)  # and their names
        os.chmod(staging, 0o755)
        os.rename(staging, target)
        fsync_dir(models)
        work.target = target

    def testing(self, work: Work) -> None:
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

    def swapping(self, work: Work) -> None:
        """Nothing to do here: the journal now says the package waits for the loop's swap."""

    def _hide_paths(self, text: str, work: Work) -> str:
        return text.replace(f"{work.target}/", "").replace(str(self.disk.state_dir), "<state>")[:300]
