"""`edge deploy --rollback (--device ID | --group NAME) --key FILE` (issue 23): a signed order, real
mosquitto, real `edge run` daemons (three in a group), the real CLI. What an attacker or a careless
operator sends (no signature, an unknown key, another device's or group's order, a replay, an order
from the future) is rejected and changes nothing; requests are answered throughout. Set-up copied from tests/test_deploy_daemon.py."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import free_port
from mqttc import TestClient
from test_deploy_daemon import NEW, ROOT, Load, Watch, run_deploy, signed_copy, start_device, wait_for

from edge import deploy_command as C
from edge import signing as S
from edge.rollout import pack

pytestmark = pytest.mark.slow

OLD = "clinc150@2.0.0"


def key_file(tmp_path: Path, sk: S.SecretKey, name: str) -> str:
    path = tmp_path / f"{name}.key"
    path.write_text(S.secret_key_text(sk))
    return str(path)


def unsigned(device: str) -> bytes:
    body = json.dumps({"command": "rollback", "device": device, "issued": time.time(), "nonce": "00"}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(C.COMMAND)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_rollback_by_a_signed_order(broker, daemon_factory, tmp_path: Path) -> None:
    key, stranger = S.generate(), S.generate()
    start_device(broker, daemon_factory, tmp_path, "x", key)
    c = TestClient(broker.port)
    try:
        w = Watch(c, "x")
        orders = c.subscribe("edge/x/deploy")  # what the CLI sends, to replay it as an attacker would
        with Load(broker.port, "edge/x") as load:
            wait_for(lambda: load.replies, what="the first reply")
            c.publish("edge/x/deploy", pack(signed_copy(tmp_path, "2.1.0", key))[0])
            w.status(lambda s: s["state"] == "active" and s["model"] == NEW)
            orders.drain()
            w.health_model(NEW)

            bad = {
                "unsigned": (unsigned("x"), "unsigned command"),
                "unknown key": (C.build(stranger, "rollback", "x"), f"unknown key {stranger.public_key.id}"),
                "another device": (C.build(key, "rollback", "y"), "command for another device"),
                "from the future": (C.build(key, "rollback", "x", issued=time.time() + 3600), "in the future"),
                "unknown command": (C.build(key, "reboot", "x"), "unknown command"),
            }
            for case, (payload, reason) in bad.items():
                w.seen.clear()
                c.publish("edge/x/deploy", payload)
                s = w.status(lambda s: s["state"] == "rejected")
                assert reason in (s["reason"] or ""), (case, s)
                assert c.request("edge/x", {"text": "what time is it"})["model"] == NEW, case  # nothing changed

            # the CLI with an unknown key: the device says no, exit 1
            out = run_deploy(broker, "--rollback", "--device", "x", "--key", key_file(tmp_path, stranger, "stranger"),
                             "--timeout", "30")
            assert out.returncode == 1, out.stdout + out.stderr
            assert "x: rejected" in out.stdout and "unknown key" in out.stdout, out.stdout
            orders.drain()

            # the real one
            w.seen.clear()
            out = run_deploy(broker, "--rollback", "--device", "x", "--key", key_file(tmp_path, key, "fleet"),
                             "--timeout", "30")
            assert out.returncode == 0, out.stdout + out.stderr
            assert "x: rolled_back" in out.stdout, out.stdout
            s = w.status(lambda s: s["state"] == "rolled_back")
            assert s["model"] == NEW and s["previous"] == OLD, s
            w.health_model(OLD)
            reply = c.request("edge/x", {"text": "what time is it"})
            assert reply["model"] == OLD and reply["intent"] == "time"
            order = orders.get().payload

            # the same order, replayed byte for byte
            w.seen.clear()
            c.publish("edge/x/deploy", order)
            s = w.status(lambda s: s["state"] == "rejected")
            assert "replayed" in s["reason"], s
            assert c.request("edge/x", {"text": "what time is it"})["model"] == OLD

            # a fresh, valid order with nothing kept to go back to
            out = run_deploy(broker, "--rollback", "--device", "x", "--key", key_file(tmp_path, key, "fleet"),
                             "--timeout", "30")
            assert out.returncode == 1, out.stdout + out.stderr
            assert "nothing to roll back to" in out.stdout, out.stdout
            wait_for(lambda: any(r["model"] == OLD for r in list(load.replies.values())), what="a reply by 2.0.0")
        lost = {f"load-{i}" for i in range(load.sent)} - set(load.replies)
        assert not lost, f"{len(lost)} of {load.sent} requests unanswered: {sorted(lost)[:5]}"
        assert {r["model"] for r in load.replies.values()} == {OLD, NEW}
    finally:
        c.close()


def test_rollback_usage_errors_and_no_broker(broker, tmp_path: Path) -> None:
    """Bad arguments exit 2 before anything is published; no broker exits 4."""
    k = key_file(tmp_path, S.generate(), "k")
    c = TestClient(broker.port)
    try:
        sent = c.subscribe("edge/+/deploy")
        for args in (["--rollback", "--group", "nobody-here", "--key", k],  # a group no device reports
                     ["--rollback", "--group", "g", "--device", "x", "--key", k],  # both: never
                     ["--rollback", "--group", "g"],                    # unsigned: never
                     ["--rollback", "--device", "x"],                   # unsigned: never
                     ["--rollback", "--device", "x", "--device", "y", "--key", k],
                     ["--rollback", "--device", "x", "--key", str(tmp_path / "missing.key")],
                     ["--rollback", "--device", "x", "--key", k, "--canary", "1"],
                     [str(tmp_path), "--device", "x", "--key", k]):     # --key without --rollback
            out = run_deploy(broker, *args, "--timeout", "5")
            assert out.returncode == 2, (args, out.stdout + out.stderr)
            assert "edge deploy" in out.stderr, (args, out.stderr)
        out = subprocess.run([sys.executable, "-m", "edge", "deploy", "--rollback", "--device", "x", "--key", k,
                              "--host", "127.0.0.1", "--port", str(free_port())],  # nobody listens there
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert out.returncode == 4, out.stdout + out.stderr
        c.publish("edge/fence/deploy", b"fence")
        assert sent.get().topic == "edge/fence/deploy"  # nothing of ours reached the broker before it
        out = run_deploy(broker, "--rollback", "--device", "nobody", "--key", k, "--timeout", "1")
        assert out.returncode == 3, out.stdout + out.stderr  # sent, but no device answers
        assert "nobody: no outcome in time" in out.stdout, out.stdout
        assert sent.get().topic == "edge/nobody/deploy"
    finally:
        c.close()


def test_rollback_a_group_of_three(broker, daemon_factory, tmp_path: Path) -> None:
    """`--rollback --group hall`: one signed order on edge/group/hall/deploy naming the three members.
    A member that is down makes it partial (exit 3) and acts on the queued order once back; an order for
    another group, one that does not name the device, a stranger's and a replay change nothing; a
    device of another group is never touched; all rolled back is exit 0, all refused exit 1."""
    key, stranger = S.generate(), S.generate()
    fleet = key_file(tmp_path, key, "fleet")
    members = {n: start_device(broker, daemon_factory, tmp_path, n, key, group="hall") for n in ("g1", "g2", "g3")}
    start_device(broker, daemon_factory, tmp_path, "outsider", key, group="attic")
    v21, v22 = pack(signed_copy(tmp_path, "2.1.0", key))[0], pack(signed_copy(tmp_path, "2.2.0", key))[0]
    c = TestClient(broker.port)
    try:
        w = {n: Watch(c, n) for n in (*members, "outsider")}
        for n in w:
            assert w[n].health.json(timeout=10)  # edge deploy --group finds members by their retained health
            c.publish(f"edge/{n}/deploy", v21)
        for n in w:
            w[n].status(lambda s: s["state"] == "active" and s["model"] == NEW)
        orders = c.subscribe("edge/group/hall/deploy")

        def each_rejects(payload: bytes, topic: str, reason: str, who: tuple[str, ...] = tuple(members)) -> None:
            for n in who:
                w[n].seen.clear()
            c.publish(topic, payload)
            for n in who:
                s = w[n].status(lambda s: s["state"] == "rejected")
                assert reason in (s["reason"] or ""), (n, s)

        with Load(broker.port, "edge/g1") as load:
            wait_for(lambda: load.replies, what="the first reply")
            each_rejects(C.build_group(key, "rollback", "attic", ["g1", "g2", "g3"]), "edge/group/hall/deploy",
                         "command for another group ('attic'; this device is in 'hall')")
            each_rejects(C.build_group(key, "rollback", "hall", ["g1", "g2"]), "edge/g3/deploy",
                         "command for group 'hall' does not name this device", ("g3",))
            each_rejects(C.build_group(stranger, "rollback", "hall", list(members)), "edge/group/hall/deploy",
                         f"unknown key {stranger.public_key.id}")
            for n in w:
                assert c.request(f"edge/{n}", {"text": "what time is it"})["model"] == NEW, n  # nothing changed

            # g3 is down (its retained health still names the group): the others roll back, exit 3
            members["g3"].kill()
            orders.drain()
            out = run_deploy(broker, "--rollback", "--group", "hall", "--key", fleet, "--timeout", "15")
            assert out.returncode == 3, out.stdout + out.stderr
            assert "g1: rolled_back" in out.stdout and "g2: rolled_back" in out.stdout, out.stdout
            assert "g3: no outcome in time" in out.stdout and "outsider" not in out.stdout, out.stdout
            order = orders.get().payload
            assert orders.drain() == [], "one publication for the whole group"
            for n in ("g1", "g2"):
                w[n].health_model(OLD)
            # back up, g3 gets the order the broker kept for it and carries it out
            w["g3"].seen.clear()
            members["g3"].start()
            s = w["g3"].status(lambda s: s["state"] == "rolled_back")
            assert (s["model"], s["previous"]) == (NEW, OLD), s
            assert c.request("edge/g3", {"text": "what time is it"})["model"] == OLD

            each_rejects(order, "edge/group/hall/deploy", "replayed command")  # byte for byte, later
            assert c.request("edge/outsider", {"text": "what time is it"})["model"] == NEW  # never touched

            # all three on 2.2.0, then one order rolls them all back: exit 0
            for n in members:
                c.publish(f"edge/{n}/deploy", v22)
            for n in members:
                w[n].status(lambda s: s["state"] == "active" and s["model"] == "clinc150@2.2.0")
            out = run_deploy(broker, "--rollback", "--group", "hall", "--key", fleet, "--timeout", "30")
            assert out.returncode == 0, out.stdout + out.stderr
            for n in members:
                assert f"{n}: rolled_back" in out.stdout, out.stdout
                # back on what ran before 2.2.0: 2.0.0 (2.1.0 was rolled back, and a rollback keeps no previous)
                assert c.request(f"edge/{n}", {"text": "what time is it"})["model"] == OLD, n

            # and again: nothing kept to go back to, each says so, exit 1
            out = run_deploy(broker, "--rollback", "--group", "hall", "--key", fleet, "--timeout", "30")
            assert out.returncode == 1, out.stdout + out.stderr
            for n in members:
                assert f"{n}: rejected (nothing to roll back to)" in out.stdout, out.stdout
            wait_for(lambda: any(r["model"] == OLD for r in list(load.replies.values())), what="a reply by 2.0.0")
        lost = {f"load-{i}" for i in range(load.sent)} - set(load.replies)
        assert not lost, f"{len(lost)} of {load.sent} requests unanswered: {sorted(lost)[:5]}"
    finally:
        c.close()
