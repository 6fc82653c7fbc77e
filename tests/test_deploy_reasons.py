"""What the operator reads (issue 23): for each bad package `edge deploy` can send, the real daemon's
`rejected` reason, word for word, in `edge deploy`'s output (exit 1); and a status forged on the broker
(anyone who may publish can) cannot drive the operator's terminal or flood it. Real mosquitto, real
daemons, the real CLI."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Callable

import pytest
from conftest import daemon_config
from mqttc import TestClient
from test_deploy_daemon import SHIPPED, Watch, run_deploy, signed_copy, start_device

from edge import signing as S
from edge.rollout import MAX_REASON

pytestmark = pytest.mark.slow

OLD = "clinc150@2.0.0"


def edited(root: Path, name: str, key: S.SecretKey, edit: Callable[[dict, Path], None],
           after_signing: Callable[[Path], None] | None = None) -> Path:
    """The shipped package with its manifest edited, then signed by `key` (and then tampered with)."""
    pkg = root / name
    shutil.copytree(SHIPPED, pkg)
    m = json.loads((pkg / "manifest.json").read_text())
    edit(m, pkg)
    (pkg / "manifest.json").write_text(json.dumps(m, indent=1))
    S.sign_package(pkg, key)
    if after_signing is not None:
        after_signing(pkg)
    return pkg


def test_the_operator_reads_the_devices_reason_for_each_bad_package(broker, daemon_factory, tmp_path: Path) -> None:
    key, stranger = S.generate(), S.generate()
    start_device(broker, daemon_factory, tmp_path, "x", key)
    small = daemon_config(broker, tmp_path / "state-small", device_id="small",
                          deploy={"keys": [key.public_key.base64()], "max_bytes": 1 << 20})
    daemon_factory(small)

    def version(v: str) -> Callable[[dict, Path], None]:
        return lambda m, p: m.update(version=v)

    def wrong_selftest(m: dict, p: Path) -> None:
        m["version"] = "2.5.0"
        first = m["selftest"][0]
        m["selftest"][0] = {**first, "intent": "weather" if first["intent"] != "weather" else "time"}

    def swap_tokenizer(p: Path) -> None:
        size = (p / "tokenizer.model").stat().st_size
        (p / "tokenizer.model").write_bytes(b"x" * size)

    def bump_after_signing(p: Path) -> None:
        m = json.loads((p / "manifest.json").read_text())
        (p / "manifest.json").write_text(json.dumps({**m, "version": "2.9.0"}, indent=1))

    cases = {  # device, package, words the device's reason holds
        "an unknown key": ("x", edited(tmp_path, "stranger", stranger, version("2.1.0")),
                           f"signed by an unknown key {stranger.public_key.id}"),
        "a file swapped after signing": ("x", edited(tmp_path, "swapped", key, version("2.2.0"), swap_tokenizer),
                                         "tokenizer.model does not match its sha256"),
        "the manifest edited after signing": ("x", edited(tmp_path, "bumped", key, version("2.3.0"),
                                                          bump_after_signing), "signature"),
        "an older version": ("x", signed_copy(tmp_path, "1.9.0", key), "is not newer than clinc150@2.0.0"),
        "a newer edge needed": ("x", edited(tmp_path, "runtime", key,
                                            lambda m, p: m.update(version="2.4.0", requires_runtime="9.0.0")),
                                "needs edge 9.0.0 or newer"),
        "a failing self-test": ("x", edited(tmp_path, "selftest", key, wrong_selftest), "failed its self-test"),
        "the active version, other contents": ("x", edited(tmp_path, "same", key, lambda m, p: m.update(note="x")),
                                               "clinc150@2.0.0 is already active"),
        "too large for the device": ("small", signed_copy(tmp_path, "2.6.0", key),
                                     "package too large"),
    }
    c = TestClient(broker.port)
    try:
        watches = {n: Watch(c, n) for n in ("x", "small")}
        for case, (device, pkg, words) in cases.items():
            w = watches[device]
            w.seen.clear()
            out = run_deploy(broker, str(pkg), "--device", device, "--timeout", "60")
            status = w.status(lambda s: s["state"] == "rejected")
            assert words in status["reason"], (case, status)
            assert out.returncode == 1, (case, out.stdout + out.stderr)
            said = f"{device}: rejected ({status['reason']})"
            assert f"  {said}\n" in out.stdout, (case, out.stdout)  # as it happened
            assert out.stdout.rstrip("\n").endswith(said), (case, out.stdout)  # and in the report
            assert c.request(f"edge/{device}", {"text": "what time is it"})["model"] == OLD, case
    finally:
        c.close()


def test_a_forged_status_cannot_drive_the_operators_terminal(broker, tmp_path: Path) -> None:
    """An attacker answers the package on the device's status topic: escape sequences, a megabyte of
    reason, states edge/deploy.py never sends. The operator sees escaped, cut text; unknown states count
    as no answer."""
    key = S.generate()
    pkg = signed_copy(tmp_path, "2.1.0", key)
    c = TestClient(broker.port)
    try:
        packages = c.subscribe("edge/evil/deploy")
        forged = [
            {"state": "\x1b]0;owned\x07pwned", "reason": "not a state"},
            {"state": "rejected", "reason": "\x1b[2J\x1b[31mformat c:\r\n" + "A" * (1 << 20), "model": None},
        ]

        def answer() -> None:
            packages.get(timeout=60)
            for s in forged:
                c.publish("edge/evil/deploy/status", json.dumps(s))

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        out = run_deploy(broker, str(pkg), "--device", "evil", "--timeout", "20")
        t.join(10)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "\x1b" not in out.stdout and "\r" not in out.stdout and "\x07" not in out.stdout
        assert "pwned" not in out.stdout  # an unknown state is ignored
        report = out.stdout.splitlines()[-1]
        assert report.startswith("evil: rejected (\\x1b[2J\\x1b[31mformat c:\\x0d\\x0aAAA"), report
        assert report.endswith("...)") and len(report) < MAX_REASON + 40, len(report)
    finally:
        c.close()
