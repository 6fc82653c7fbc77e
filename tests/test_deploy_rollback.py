"""`edge deploy --rollback --device ID --key FILE` (issue 23): a signed order, real mosquitto, a real
`edge run` daemon, the real CLI. What an attacker or a careless operator sends (no signature, an
unknown key, another device's order, a replay, an order from the future) is rejected and changes
nothing; requests are answered throughout. Set-up copied from tests/test_deploy_daemon.py."""

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
        for args in (["--rollback", "--group", "g", "--key", k],        # a group: never
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
