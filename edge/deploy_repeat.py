"""A package seen before, told from a new deployment: the broker's redelivery or an operator's repeat.

MQTT delivers at least once, so the same package can arrive twice. Both cases are recognized by
the sha256 of the signed manifest (every file's hash is in it: the same sha is the same package),
checked in memory before anything is written:

- a copy of the package being deployed (the broker redelivers a package whose delivery was not
  acknowledged when the connection drops and comes back mid-deployment): `copy_of`. The first
  copy's statuses tell what happens to it; the Deployer answers the copy with a ``silent`` status,
  since a ``rejected`` would read as the first copy's outcome;
- the active package again (a connection lost between the commit and the PUBACK of the outcome,
  or `edge deploy` run twice): `is_active`. The device already runs it: the Deployer says so again
  (``active``, the same previous, on probation or not) rather than ``rejected`` "already active",
  which would replace the retained ``active`` while the new model runs and make `edge deploy`
  report a failure.
"""

from __future__ import annotations

import hashlib

from edge import signing
from edge.admission import Rejected
from edge.deploy_disk import Package
from edge.deploy_steps import signed_manifest


def sha(manifest: bytes) -> bytes:
    """What a package is known by: the sha256 of its signed manifest."""
    return hashlib.sha256(manifest).digest()


def copy_of(payload: bytes | bytearray | memoryview, current: bytes | None, keys: list[signing.PublicKey],
            max_bytes: int) -> bool:
    """Is `payload` a package signed by a trusted key whose manifest's sha is `current` (the package
    being deployed; None while its signature is not yet checked: then nothing is a copy of it)?"""
    if current is None:
        return False
    try:
        manifest = signed_manifest(payload, keys, max_bytes)
    except Rejected:
        return False
    return sha(manifest) == current


def is_active(pkg: Package | None, manifest: bytes) -> bool:
    """Is `manifest` (signed, checked) byte for byte the manifest of `pkg`, the active package?"""
    if pkg is None:
        return False
    try:
        running = (pkg.path / signing.MANIFEST).read_bytes()
    except OSError:
        return False
    return sha(running) == sha(manifest)
