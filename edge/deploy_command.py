"""Signed operator commands (`edge deploy --rollback`): the wire format, shared by the operator
(edge/rollout.py builds one) and the device (edge/deploy.py checks one).

A command travels on `<base>/deploy` (or a group's `edge/group/<name>/deploy`) like a package, as a
tar archive of exactly two members:

    command.json          {"command": "rollback", "device": ID, "issued": unix seconds, "nonce": hex}
                          or, for a group, {"command": "rollback", "group": NAME, "devices": [ID, ...], ...}
    command.json.minisig  a minisign signature of command.json, by a key of the device's `[deploy] keys`

Authenticated because anyone who can publish on the broker could otherwise roll a fleet back.
The order names its target and the device checks it: `device` binds it to one device (a command
for another is rejected); a group order binds it to the group the device is configured in *and* to
the members the operator found (`devices`: a device that joins the group later, or one moved from
another group, does not act on an order that was not meant for it); `issued` must be newer than
the last command the device accepted (persisted: a replay, even after a restart, is rejected) and
not more than `MAX_FUTURE_S` ahead of the device's clock; `nonce` keeps two commands issued in the
same second distinct in the log. No cryptography here beyond edge.signing's.
"""

from __future__ import annotations

import io
import json
import math
import secrets
import tarfile
import time
from typing import Any, Iterable

from edge import archive, signing

COMMAND = "command.json"
COMMAND_SIG = "command.json.minisig"
COMMANDS = ("rollback",)
MAX_FUTURE_S = 300.0  # a clock a few minutes off is normal on a Pi; an hour ahead is not
_MAX_BYTES = 4096


class CommandError(Exception):
    """The command is not one this device may act on; the message is the `rejected` reason."""


def build(sk: signing.SecretKey, command: str, device: str, issued: float | None = None) -> bytes:
    """The signed command for one device as one payload (an uncompressed tar)."""
    return _signed(sk, {"command": command, "device": device}, issued, f"edge {command} {device}")


def build_group(sk: signing.SecretKey, command: str, group: str, devices: Iterable[str],
                issued: float | None = None) -> bytes:
    """One signed command for the members `devices` of `group` (published once, on the group's topic)."""
    members = sorted(set(devices))
    return _signed(sk, {"command": command, "group": group, "devices": members}, issued,
                   f"edge {command} group {group} ({len(members)} devices)")


def _signed(sk: signing.SecretKey, target: dict[str, Any], issued: float | None, comment: str) -> bytes:
    body = json.dumps({**target, "issued": time.time() if issued is None else issued,
                       "nonce": secrets.token_hex(8)}, sort_keys=True).encode()
    sig = signing.sign_bytes(sk, body, comment).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in ((COMMAND, body), (COMMAND_SIG, sig)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read(payload: bytes | bytearray | memoryview) -> dict[str, bytes] | None:
    """The command's two members if the payload is a command (it has command.json), else None
    (a package, or junk for the package path to reject). Commands are small: anything bigger
    is not one."""
    if memoryview(payload).nbytes > 64 * 1024:
        return None
    try:
        head = archive.read_small(payload, {COMMAND: _MAX_BYTES, COMMAND_SIG: 16 << 10}, 64 * 1024)
    except archive.ArchiveError:
        return None
    return head if COMMAND in head else None


def verify(head: dict[str, bytes], keys: Iterable[signing.PublicKey], device: str,
           last_issued: float | None, now: float, group: str = "") -> dict[str, Any]:
    """The command, checked in this order: signed by a trusted key, well formed, for `device`
    (in `group`, the device's configured group, for a group order), newer than `last_issued`,
    not from the future. CommandError with the reason otherwise."""
    if COMMAND_SIG not in head:
        raise CommandError("unsigned command")
    try:
        signing.verify_bytes(head[COMMAND], head[COMMAND_SIG], keys)
    except signing.SigningError as exc:
        raise CommandError(f"command: {exc}") from None
    try:
        cmd = json.loads(head[COMMAND])
    except ValueError:
        raise CommandError("command: command.json is not JSON") from None
    if not isinstance(cmd, dict) or cmd.get("command") not in COMMANDS:
        what = cmd.get("command") if isinstance(cmd, dict) else cmd
        raise CommandError(f"command: unknown command {str(what)[:40]!r}")  # cut: it is echoed on the status
    issued = cmd.get("issued")
    if isinstance(issued, bool) or not isinstance(issued, (int, float)) or not math.isfinite(issued):
        raise CommandError("command: device or issued missing")
    _for_this_device(cmd, device, group)
    if last_issued is not None and issued <= last_issued:
        raise CommandError("replayed command (not newer than the last one accepted)")
    if issued > now + MAX_FUTURE_S:
        raise CommandError(f"command issued in the future ({issued - now:.0f} s ahead of this device's clock)")
    return cmd


def _for_this_device(cmd: dict[str, Any], device: str, group: str) -> None:
    """CommandError unless the command's target is this device: its id, or its group and its id
    among the members the operator named. Names are cut when echoed (the status is public)."""
    if "group" in cmd or "devices" in cmd:
        members = cmd.get("devices")
        if "device" in cmd or not isinstance(cmd.get("group"), str) or not isinstance(members, list) \
                or not all(isinstance(m, str) for m in members):
            raise CommandError("command: a group order needs group and devices (and no device)")
        if not group or cmd["group"] != group:
            raise CommandError(f"command for another group ({cmd['group'][:64]!r}; this device is in "
                               f"{group[:64]!r})" if group else
                               f"command for group {cmd['group'][:64]!r}; this device is in no group")
        if device not in members:
            raise CommandError(f"command for group {group[:64]!r} does not name this device")
        return
    if not isinstance(cmd.get("device"), str):
        raise CommandError("command: device or issued missing")
    if cmd["device"] != device:
        raise CommandError(f"command for another device ({cmd['device'][:64]!r})")
