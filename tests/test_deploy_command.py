"""Signed operator orders (edge/deploy_command.py) checked by the device, and `edge deploy --rollback`'s
exit status (edge/rollout.py), without a broker: real keys, real signatures, real tar payloads. The
same orders against real daemons: tests/test_deploy_rollback.py."""

from __future__ import annotations

import io
import json
import tarfile
import time

import pytest

from edge import deploy_command as C
from edge import signing as S
from edge.rollout import Device, Plan, rollback_exit_status

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def key() -> S.SecretKey:
    return S.generate()


def head(payload: bytes) -> dict[str, bytes]:
    got = C.read(payload)
    assert got is not None
    return got


def signed_body(sk: S.SecretKey, body: dict) -> bytes:
    """A command.json of our own making, properly signed: what a careless tool (or a holder of the key
    who edits the JSON by hand) could send."""
    data = json.dumps(body).encode()
    sig = S.sign_bytes(sk, data, "by hand").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, blob in ((C.COMMAND, data), (C.COMMAND_SIG, sig)):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def verify(key: S.SecretKey, payload: bytes, device: str = "g1", group: str = "hall",
           last: float | None = None) -> dict:
    return C.verify(head(payload), [key.public_key], device, last, NOW, group)


def test_a_group_order_is_carried_out_by_the_members_it_names(key) -> None:
    order = C.build_group(key, "rollback", "hall", ["g2", "g1", "g1"], issued=NOW)
    body = json.loads(head(order)[C.COMMAND])
    assert body["group"] == "hall" and body["devices"] == ["g1", "g2"] and "device" not in body
    for member in ("g1", "g2"):
        assert verify(key, order, member)["command"] == "rollback"


@pytest.mark.parametrize("device, group, reason", [
    ("g3", "hall", "command for group 'hall' does not name this device"),   # joined after the order
    ("g1", "attic", "command for another group ('hall'; this device is in 'attic')"),
    ("g1", "", "command for group 'hall'; this device is in no group"),
])
def test_a_group_order_for_someone_else_is_refused(key, device: str, group: str, reason: str) -> None:
    order = C.build_group(key, "rollback", "hall", ["g1", "g2"], issued=NOW)
    with pytest.raises(C.CommandError) as exc:
        verify(key, order, device, group)
    assert str(exc.value) == reason


@pytest.mark.parametrize("body, reason", [
    ({"group": "hall"}, "a group order needs group and devices"),
    ({"group": "hall", "devices": "g1"}, "a group order needs group and devices"),
    ({"group": "hall", "devices": ["g1", 7]}, "a group order needs group and devices"),
    ({"group": 5, "devices": ["g1"]}, "a group order needs group and devices"),
    ({"devices": ["g1"]}, "a group order needs group and devices"),
    ({"group": "hall", "devices": ["g1"], "device": "g1"}, "a group order needs group and devices (and no device)"),
    ({}, "device or issued missing"),
    ({"device": ["g1"]}, "device or issued missing"),
])
def test_a_malformed_target_is_refused_even_when_signed(key, body: dict, reason: str) -> None:
    payload = signed_body(key, {"command": "rollback", "issued": NOW, "nonce": "00", **body})
    with pytest.raises(C.CommandError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        verify(key, payload)


def test_a_group_order_is_signed_replay_checked_and_not_from_the_future(key) -> None:
    stranger = S.generate()
    with pytest.raises(C.CommandError, match=f"unknown key {stranger.public_key.id}"):
        verify(key, C.build_group(stranger, "rollback", "hall", ["g1"], issued=NOW))
    order = C.build_group(key, "rollback", "hall", ["g1"], issued=NOW - 10)
    with pytest.raises(C.CommandError, match="replayed command"):
        verify(key, order, last=NOW - 10)
    with pytest.raises(C.CommandError, match="in the future"):
        verify(key, C.build_group(key, "rollback", "hall", ["g1"], issued=NOW + 3600))
    # the signature covers the target: a member added to a captured order breaks it
    h = head(order)
    forged = json.loads(h[C.COMMAND])
    forged["devices"].append("g9")
    h[C.COMMAND] = json.dumps(forged, sort_keys=True).encode()
    with pytest.raises(C.CommandError, match="command: "):
        C.verify(h, [key.public_key], "g9", None, NOW, "hall")


def test_a_device_order_still_works_and_ignores_the_group(key) -> None:
    order = C.build(key, "rollback", "g1", issued=NOW)
    assert verify(key, order, "g1", "hall")["device"] == "g1"
    with pytest.raises(C.CommandError, match="command for another device"):
        verify(key, order, "g2", "hall")


def plan(*states: str | None) -> Plan:
    p = Plan([Device(f"d{i}", sent=True) for i in range(len(states))])
    for d, s in zip(p.devices, states):
        d.state = s
    return p


@pytest.mark.parametrize("states, code", [
    (("rolled_back", "rolled_back", "rolled_back"), 0),
    (("rolled_back", "rejected", "rolled_back"), 1),
    (("rolled_back", "rejected", None), 1),         # a refusal beats a silence
    (("rolled_back", "rolled_back", None), 3),      # partial: one gave no outcome in time
    (("rolled_back", "rolled_back", "verifying"), 3),
    ((None, None, None), 3),
    (("active", "rolled_back", "rolled_back"), 1),  # any other outcome is not what was asked
])
def test_the_rollback_exit_status(states: tuple, code: int) -> None:
    assert rollback_exit_status(plan(*states)) == code


def test_an_order_built_now_is_accepted_now(key) -> None:
    order = C.build_group(key, "rollback", "hall", ["g1"])
    assert C.verify(head(order), [key.public_key], "g1", None, time.time(), "hall")["group"] == "hall"
