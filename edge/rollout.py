"""The operator side of a deployment: pack a signed package, plan the waves, judge each device's outcome.

No MQTT here (edge/mqtt/fleet.py carries it) and no daemon: `edge deploy` packs the
package once (`pack`), sends it to the canaries, then to the rest only when every canary
is `active`, and reads each device's outcome from its retained `<base>/deploy/status`
(edge/deploy.py writes it). A device's outcome is the last terminal state it reports
after the package was sent: `active`, `rolled_back` or `rejected`; `verifying` and
`testing` are progress. A wave is through when every device in it is `active` (on
probation counts: the spec's "only when they are active"); the last wave is watched on,
within the same timeout, until each device's probation ends (confirmed, or rolled back by
itself), so a package that fails on real traffic shows in the report. A failure (rejected,
rolled back, or no answer in time) stops the rollout: the devices of later waves are never
sent the package, and the report says so.

Exit status (the spec's table): 0 every device active; 1 a device rejected or rolled back
the package; 3 a device did not answer within the timeout. `edge deploy --rollback` sends a
signed order (edge/deploy_command.py) the same way, to one device (`rollback_order`) or, as one
publication on the group's topic, to the members of a group (`group_rollback_order`): 0 every
device rolled back, 1 a device rejected it, 3 the others rolled back but one gave no outcome.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_ACTIVE, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 3
TERMINAL = ("active", "rolled_back", "rejected")
STATES = ("verifying", "testing", *TERMINAL)  # edge/deploy.py's; anything else on a status topic is ignored
MAX_REASON = 400  # the device's own reasons are shorter; a forged status is cut
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # never to the operator's terminal (escape sequences)
SIGNATURE = "manifest.json.minisig"


class RolloutError(Exception):
    """The package cannot be sent as it is (unsigned, a file missing): nothing was published."""


def pack(directory: Path) -> tuple[bytes, str]:
    """The package as one payload (gzip tar: the manifest, its signature, the listed files, flat)
    and its name@version. Refuses an unsigned package: the device would only reject it."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RolloutError(f"{directory}: no readable manifest.json ({exc})") from None
    if not (directory / SIGNATURE).is_file():
        raise RolloutError(f"{directory}: unsigned (no {SIGNATURE}): sign it with `edge sign {directory} --key KEY`")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise RolloutError(f"{directory}: manifest.json lists no files")
    names = ["manifest.json", SIGNATURE, *sorted(files)]
    buf = io.BytesIO()
    # mtime 0 and fixed owners: the same package packs to the same bytes wherever it is packed
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in names:
            path = directory / name
            if "/" in name or name.startswith(".") or not path.is_file():
                raise RolloutError(f"{directory}: {name} is listed but is not a file of the package")
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), f"{manifest.get('name')}@{manifest.get('version')}"


def signing_key(key: Path) -> Any:
    """The secret key that signs an order (edge.signing.SecretKey), loaded before anything is
    sent; RolloutError when it does not load: nothing is published then."""
    from edge import signing

    try:
        return signing.load_secret_key(key)
    except signing.SigningError as exc:  # a bad key file, a wrong password, no cryptography
        raise RolloutError(f"--key: {exc}") from None
    except OSError as exc:
        raise RolloutError(f"--key {key}: {exc.strerror or exc}") from None


def rollback_order(sk: Any, device: str) -> tuple[bytes, str]:
    """A signed rollback order for one device (edge/deploy_command.py's format) and its name for
    the report."""
    from edge import deploy_command

    return deploy_command.build(sk, "rollback", device), "a rollback order"


def group_rollback_order(sk: Any, group: str, devices: list[str]) -> tuple[bytes, str]:
    """One signed rollback order for the members of `group` found now (each checks that it is
    named); sent once on the group's topic."""
    from edge import deploy_command

    return deploy_command.build_group(sk, "rollback", group, devices), f"a rollback order for group {group}"


@dataclass
class Device:
    id: str
    state: str | None = None  # the last state reported since the package was sent
    reason: str | None = None
    sent: bool = False

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def on_probation(self) -> bool:
        return self.state == "active" and bool(self.reason) and str(self.reason).startswith("on probation")

    @property
    def settled(self) -> bool:
        """Its outcome is final: rejected, rolled back, or active and out of probation."""
        return self.done and not self.on_probation


@dataclass
class Plan:
    """Devices in waves: the first `canary` devices, then the rest."""

    devices: list[Device]
    canary: int = 0
    # what was sent: the package's name@version, or None for a rollback order. A live status
    # about anything else (a probation verdict of the package before, another operator's
    # deployment) is not an answer to this one and is ignored.
    package: str | None = None
    waves: list[list[Device]] = field(init=False)

    def __post_init__(self) -> None:
        n = max(0, min(self.canary, len(self.devices)))
        self.waves = [self.devices[:n], self.devices[n:]] if 0 < n < len(self.devices) else [self.devices]

    def by_id(self, device_id: str) -> Device | None:
        return next((d for d in self.devices if d.id == device_id), None)


def status_update(plan: Plan, device_id: str, payload: bytes) -> Device | None:
    """Record a live `<base>/deploy/status` of a device that was sent the package; None if it is not one."""
    device = plan.by_id(device_id)
    if device is None or not device.sent:
        return None
    try:
        status = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(status, dict) or status.get("state") not in STATES:
        return None
    if plan.package is None and status["state"] not in ("rolled_back", "rejected"):
        return None  # a rollback order is answered rolled_back or rejected; `active` is a probation verdict
    model = status.get("model")
    if plan.package is not None and isinstance(model, str) and model != plan.package:
        return None  # about another package (null: rejected before its manifest was read, so ours)
    if device.state in ("rejected", "rolled_back") and status["state"] not in TERMINAL:
        return None  # an outcome stands: a redelivery's progress after it does not undo it in the report
    reason = status.get("reason")
    device.state, device.reason = status["state"], reason if isinstance(reason, str) or reason is None else str(reason)
    return device


def shown(text: str) -> str:
    """A device's words fit for the operator's terminal: control characters escaped, cut when long.
    Anyone who may publish on the broker can forge a status; its reason must not drive the terminal."""
    out = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return out if len(out) <= MAX_REASON else out[:MAX_REASON] + "..."


def line(d: Device) -> str:
    """`id: state (the device's reason)`, as `edge deploy` prints each update and outcome."""
    return f"{d.id}: {d.state}" + (f" ({shown(d.reason)})" if d.reason else "")


def wave_failed(wave: list[Device]) -> bool:
    return any(d.state in ("rolled_back", "rejected") for d in wave)


def exit_status(plan: Plan) -> int:
    if any(d.state in ("rolled_back", "rejected") for d in plan.devices):
        return EXIT_FAILED
    if any(d.state != "active" for d in plan.devices):
        return EXIT_TIMEOUT
    return EXIT_ACTIVE


def rollback_exit_status(plan: Plan) -> int:
    """`edge deploy --rollback`: 0 every device rolled back; 1 a device refused (rejected, or any
    other outcome than rolled_back); 3 none refused but a device gave no outcome in time (partial)."""
    if all(d.state == "rolled_back" for d in plan.devices):
        return EXIT_ACTIVE
    if any(d.state in TERMINAL and d.state != "rolled_back" for d in plan.devices):
        return EXIT_FAILED
    return EXIT_TIMEOUT


def report(plan: Plan, ident: str) -> list[str]:
    """One line a device: its outcome, and for those never sent the package, why not."""
    lines = []
    for d in plan.devices:
        if not d.sent:
            lines.append(f"{d.id}: not sent ({ident}): the rollout stopped at an earlier wave")
        elif d.state is None or not d.done:
            lines.append(f"{d.id}: no outcome in time (last state: {d.state or 'none'})")
        else:
            lines.append(line(d))
    return lines
