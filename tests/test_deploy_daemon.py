"""The daemon takes signed deployments (issue 23): real mosquitto, real `edge run` processes, the real
`edge deploy` CLI, real SIGKILLs. The device side's steps are pinned by tests/test_deploy.py; here
the wiring: the channel, the swap on the loop, probation fed by real requests, start-up recovery.
A probation the test can trigger comes from tests/faulty.py ("deploy": a model loader passed in)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import daemon_config
from mqttc import TestClient

from edge import signing as S
from edge.rollout import pack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "clinc150"  # 2.0.0: what every daemon here is configured with
NEW = "clinc150@2.1.0"


def signed_copy(root: Path, version: str, key: S.SecretKey) -> Path:
    pkg = root / f"pkg-{version}-{key.public_key.id}"
    shutil.copytree(SHIPPED, pkg)
    m = json.loads((pkg / "manifest.json").read_text())
    m["version"] = version
    (pkg / "manifest.json").write_text(json.dumps(m, indent=1))
    S.sign_package(pkg, key)
    return pkg


@pytest.fixture(scope="module")
def key() -> S.SecretKey:
    return S.generate()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, key: S.SecretKey) -> Path:
    return signed_copy(tmp_path_factory.mktemp("pkgs"), "2.1.0", key)


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "a condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)  # polling `cond` (a condition, not a fixed wait)
    raise AssertionError(f"timed out waiting for {what}")


class Watch:
    """Every `<base>/deploy/status` and `<base>/health` a device publishes, as they arrive."""

    def __init__(self, client: TestClient, device: str) -> None:
        self.statuses = client.subscribe(f"edge/{device}/deploy/status")
        self.health = client.subscribe(f"edge/{device}/health")
        self.seen: list[dict] = []

    def status(self, pred: Callable[[dict], bool], timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for s in self.seen:
            if pred(s):
                return s
        while time.monotonic() < deadline:
            try:
                s = self.statuses.json(timeout=max(0.05, deadline - time.monotonic()))
            except AssertionError:
                break
            self.seen.append(s)
            if pred(s):
                return s
        raise AssertionError(f"no such status; seen {self.seen}")

    def health_model(self, ident: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.health.json(timeout=max(0.05, deadline - time.monotonic()))
            if h.get("model") == ident:
                return h
        raise AssertionError(f"health never showed {ident}")


def start_device(broker, daemon_factory, tmp_path: Path, name: str, key: S.SecretKey | str,
                 fault: str | None = None, group: str = "") -> Any:
    """A daemon that trusts `key` (a key, or the path of a .pub file as a user configures it)."""
    trusted = key if isinstance(key, str) else key.public_key.base64()
    cfg = daemon_config(broker, tmp_path / f"state-{name}", device_id=name, deploy={"keys": [trusted]})
    if group:
        cfg = f'group = "{group}"\n' + cfg
    return daemon_factory(cfg, fault=("deploy", fault) if fault else None)


class Load:
    """Requests sent one after another from a thread while something else happens; counts replies."""

    def __init__(self, port: int, base: str, text: str = "what is the weather like", protocol: int = 5) -> None:
        self.c = TestClient(port, protocol=protocol)  # 4: the reply topic in the payload (no Response Topic)
        self.base, self.text = base, text
        self.sent = 0
        self.replies: dict[str, dict] = {}
        self.topic = f"test/load/{uuid.uuid4().hex}"
        self.box = self.c.subscribe(self.topic)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Load":
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rid = f"load-{self.sent}"
            if self.c.v5:
                self.c.publish(f"{self.base}/request", json.dumps({"id": rid, "text": self.text}),
                               response_topic=self.topic, correlation=rid.encode())
            else:
                self.c.publish(f"{self.base}/request", json.dumps({"id": rid, "text": self.text, "reply_to": self.topic}))
            self.sent += 1
            try:
                r = self.box.json(timeout=10)
            except AssertionError:
                continue  # counted as lost below
            self.replies[r["id"]] = r

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join(15)
        for r in self.box.drain():  # late replies still count
            self.replies[r.json()["id"]] = r.json()
        self.c.close()


def run_deploy(broker, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "deploy", *args, "--host", "127.0.0.1",
                           "--port", str(broker.port)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def edge_cli(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_a_canary_rollout_to_three_daemons(broker, daemon_factory, tmp_path: Path) -> None:
    """(a) README's "Updating models on a fleet", all by the CLI: edge keygen, the .pub in [deploy] keys,
    edge sign, `edge deploy --canary 1` to three real daemons: all active, health and results show it."""
    edge_cli("keygen", "--out", str(tmp_path / "fleet"))
    package = tmp_path / "clinc150-2.1.0"
    shutil.copytree(SHIPPED, package)
    m = json.loads((package / "manifest.json").read_text())
    (package / "manifest.json").write_text(json.dumps({**m, "version": "2.1.0"}, indent=1))
    edge_cli("sign", str(package), "--key", str(tmp_path / "fleet.key"))
    pub = str(tmp_path / "fleet.pub")
    devices = [start_device(broker, daemon_factory, tmp_path, n, pub) for n in ("a", "b", "c")]
    c = TestClient(broker.port)
    try:
        watches = {n: Watch(c, n) for n in ("a", "b", "c")}
        assert c.request("edge/a", {"text": "what time is it"})["model"] == "clinc150@2.0.0"
        t0 = time.monotonic()
        out = run_deploy(broker, str(package), "--device", "a", "--device", "b", "--device", "c",
                         "--canary", "1", "--timeout", "20")
        print(f"edge deploy --canary 1 to 3 daemons: {time.monotonic() - t0:.1f} s (the last wave is "
              "watched on probation until --timeout 20)")
        assert out.returncode == 0, out.stdout + out.stderr
        for n in ("a", "b", "c"):
            assert f"{n}: active" in out.stdout, out.stdout
            s = watches[n].status(lambda s: s["state"] == "active")
            assert s["model"] == NEW and s["previous"] == "clinc150@2.0.0"
            assert [x["state"] for x in watches[n].seen][:2] == ["verifying", "testing"], watches[n].seen
            watches[n].health_model(NEW)
            reply = c.request(f"edge/{n}", {"text": "what time is it"})
            assert reply["model"] == NEW and reply["intent"] == "time"
        for d in devices:
            assert d.proc.poll() is None
    finally:
        c.close()


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _members(pkg: Path) -> list[tuple[str, bytes]]:
    m = json.loads((pkg / "manifest.json").read_text())
    return [(n, (pkg / n).read_bytes()) for n in ["manifest.json", "manifest.json.minisig", *sorted(m["files"])]]


def test_bad_packages_are_rejected_while_every_request_is_answered(broker, daemon_factory, tmp_path: Path,
                                                                   key, package: Path) -> None:
    """(b) what an attacker sends to <base>/deploy: rejected with a reason, the model stays, and
    requests sent throughout (then through a good deployment too) are all answered."""
    start_device(broker, daemon_factory, tmp_path, "b", key)
    stranger = S.generate()
    good = _members(package)
    bad = {
        "garbage": (b"\x00\x01not a package" * 100, "not a tar archive"),
        "traversal": (_tar(good + [("../../etc/cron.d/x", b"* * * * * root sh\n")]), "path traversal"),
        "unknown key": (pack(signed_copy(tmp_path, "2.2.0", stranger))[0],
                        f"signed by an unknown key {stranger.public_key.id}"),
        "file swapped": (_tar([(n, b"x" * len(d) if n == "tokenizer.model" else d) for n, d in good]),
                         "tokenizer.model does not match its sha256"),
        "older": (pack(signed_copy(tmp_path, "1.9.0", key))[0], "not newer"),
    }
    c = TestClient(broker.port)
    try:
        w = Watch(c, "b")
        with Load(broker.port, "edge/b") as load:
            wait_for(lambda: load.replies, what="the first reply")
            for case, (payload, reason) in bad.items():
                w.seen.clear()
                c.publish("edge/b/deploy", payload)
                s = w.status(lambda s: s["state"] == "rejected")
                assert reason in (s["reason"] or ""), (case, s)
                assert s["previous"] == "clinc150@2.0.0", (case, s)
            assert c.request("edge/b", {"text": "what time is it"})["model"] == "clinc150@2.0.0"
            w.seen.clear()
            c.publish("edge/b/deploy", pack(package)[0])  # a good one, under the same load
            w.status(lambda s: s["state"] == "active" and s["model"] == NEW)
            wait_for(lambda: any(r["model"] == NEW for r in list(load.replies.values())), what="a reply by the new model")
        print(f"{load.sent} requests sent during 5 bad packages and 1 good deployment, "
              f"{len(load.replies)} answered")
        assert load.sent > 20
        lost = {f"load-{i}" for i in range(load.sent)} - set(load.replies)
        assert not lost, f"{len(lost)} of {load.sent} requests unanswered: {sorted(lost)[:5]}"
        models = {r["model"] for r in load.replies.values()}
        assert models == {"clinc150@2.0.0", NEW}, models
    finally:
        c.close()


def test_a_retained_package_and_a_racing_one(broker, daemon_factory, tmp_path: Path, key, package: Path) -> None:
    """A retained package (sent again at every subscribe) is never acted on; one that arrives while
    another runs is rejected at once, and the first goes on."""
    c = TestClient(broker.port)
    try:
        c.publish("edge/r/deploy", pack(package)[0], retain=True)  # before the daemon subscribes
        w = Watch(c, "r")
        d = start_device(broker, daemon_factory, tmp_path, "r", key, fault="2.1.0:slow:600")
        c.publish("edge/r/deploy", pack(package)[0])
        w.status(lambda s: s["state"] == "testing")
        c.publish("edge/r/deploy", pack(signed_copy(tmp_path, "2.2.0", key))[0])  # another deployment
        s = w.status(lambda s: s["state"] == "rejected")
        assert "another deployment is in progress" in s["reason"]
        # a copy of the package in progress (as the broker redelivers it after a reconnect): no status of its
        # own, which would read as the outcome of the first
        c.publish("edge/r/deploy", pack(package)[0])
        s = w.status(lambda s: s["state"] == "active")  # the first one goes on
        # one verifying: the racing package is refused before it, and the retained one never ran (the
        # daemon subscribes with MQTT 5's Retain Handling 2; the channel drops a retained one under 3.1.1)
        assert s["model"] == NEW
        assert [x["state"] for x in w.seen] == ["verifying", "testing", "rejected", "testing", "active"], w.seen
        log = d.wait_log("received again while it is being deployed")  # the copy came during the deployment
        assert "it is already active" not in log
    finally:
        c.close()


def test_a_kill_during_a_deployment_then_a_restart(broker, daemon_factory, tmp_path: Path, key,
                                                   package: Path) -> None:
    """(c) SIGKILL while the package is being tested: the restarted daemon runs the old model, says the
    deployment was interrupted, and the broker's redelivery runs it again to the end."""
    d = start_device(broker, daemon_factory, tmp_path, "k", key, fault="2.1.0:slow:600")
    c = TestClient(broker.port)
    try:
        w = Watch(c, "k")
        c.publish("edge/k/deploy", pack(package)[0])
        w.status(lambda s: s["state"] == "testing" and s["model"] == NEW)
        d.wait_log("fault injection: loading clinc150@2.1.0 slowly")
        d.kill()
        w.seen.clear()
        d.start()
        s = w.status(lambda s: s["state"] == "rejected" and "interrupted" in (s["reason"] or ""))
        assert s["reason"].startswith("interrupted while testing") and s["model"] == NEW, s
        assert "running clinc150@2.0.0" in s["reason"]
        s = w.status(lambda s: s["state"] == "active")  # the redelivered package, run again
        assert s["model"] == NEW
        assert c.request("edge/k", {"text": "what time is it"})["model"] == NEW
        d.stop()
        d.start()  # a restart now starts on the deployed package
        assert c.request("edge/k", {"text": "what time is it"})["model"] == NEW
        assert "starting on the deployed package clinc150@2.1.0" in d.log_text()
    finally:
        c.close()


def test_a_package_redelivered_after_its_commit_says_active_again(broker, daemon_factory, tmp_path: Path, key,
                                                                 package: Path) -> None:
    """Issue 23, redelivery: the connection is lost between the commit and the PUBACK of the outcome (the
    broker is frozen with SIGSTOP while the package is tested, the daemon SIGKILLed once its pointer names
    the new package). The broker delivers the package again after the restart: the daemon must say
    `active` (same previous), not `rejected` "already active" over the retained status, and `edge deploy`
    of that same package reads it as success."""
    d = start_device(broker, daemon_factory, tmp_path, "rd", key, fault="2.1.0:slow:600")
    pointer = tmp_path / "state-rd" / "deploy" / "active.json"
    c = TestClient(broker.port)
    try:
        w = Watch(c, "rd")
        c.publish("edge/rd/deploy", pack(package)[0])
        w.status(lambda s: s["state"] == "testing" and s["model"] == NEW)
        d.wait_log("fault injection: loading clinc150@2.1.0 slowly")  # 4 s of loading ahead
        os.kill(broker.proc.pid, signal.SIGSTOP)  # from here the broker acknowledges nothing
        try:
            wait_for(lambda: pointer.is_file() and NEW in pointer.read_text(), what="the commit")
            d.kill()  # committed; the outcome's PUBACK never came, so neither did the package's
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        restarted = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        d.start()
        # the first status of the restarted daemon: its answer to the redelivered package
        s = w.status(lambda s: s["ts"] >= restarted)
        assert (s["model"], s["state"], s["previous"]) == (NEW, "active", "clinc150@2.0.0"), s
        log = d.wait_log("received again; it is already active")  # it was the broker's redelivery
        assert "starting on the deployed package clinc150@2.1.0" in log
        fresh = TestClient(broker.port)  # what anyone who subscribes now reads: the retained status
        try:
            retained = fresh.subscribe("edge/rd/deploy/status").json(timeout=10)
        finally:
            fresh.close()
        assert (retained["model"], retained["state"], retained["previous"]) == (NEW, "active", "clinc150@2.0.0"), \
            retained
        assert retained["reason"].startswith("on probation"), retained
        assert c.request("edge/rd", {"text": "what time is it"})["model"] == NEW
        for _ in range(5):  # probation's 5 requests confirm it
            assert c.request("edge/rd", {"text": "what time is it"})["model"] == NEW
        w.status(lambda s: s["state"] == "active" and s["reason"] is None)
        out = run_deploy(broker, str(package), "--device", "rd", "--timeout", "20")  # the operator tries again
        assert out.returncode == 0, out.stdout + out.stderr
        assert "rd: active" in out.stdout and "rejected" not in out.stdout, out.stdout
        assert d.proc.poll() is None
    finally:
        c.close()


def test_one_daemon_fails_probation_and_rolls_back_while_the_others_stay_active(
        broker, daemon_factory, tmp_path: Path, key, package: Path) -> None:
    """(d) three daemons in one group take the package; on one the new model raises on real requests:
    it rolls back by itself and answers with the old model, the others confirm it."""
    start_device(broker, daemon_factory, tmp_path, "p1", key, fault="2.1.0:none:600", group="hall")
    bad = start_device(broker, daemon_factory, tmp_path, "p2", key, fault="2.1.0:raise:600", group="hall")
    start_device(broker, daemon_factory, tmp_path, "p3", key, fault="2.1.0:none:600", group="hall")
    c = TestClient(broker.port)
    try:
        watches = {n: Watch(c, n) for n in ("p1", "p2", "p3")}
        for w in watches.values():  # edge deploy --group finds the members by their retained health
            assert w.health.json(timeout=10)["group"] == "hall"
        done = threading.Event()
        result: dict[str, Any] = {}

        def roll() -> None:
            result["out"] = run_deploy(broker, str(package), "--group", "hall", "--timeout", "60")
            done.set()

        threading.Thread(target=roll, daemon=True).start()
        for n, w in watches.items():
            w.status(lambda s: s["state"] == "active" and s["model"] == NEW)
        for _ in range(3):  # the faulty model's errors: internal_error replies, counted by probation
            r = c.request("edge/p2", {"text": "explode"})
            assert r["error"] == "internal_error", r
        s = watches["p2"].status(lambda s: s["state"] == "rolled_back")
        assert s["model"] == NEW and s["previous"] == "clinc150@2.0.0" and "error" in s["reason"], s
        assert c.request("edge/p2", {"text": "explode"})["model"] == "clinc150@2.0.0"
        for n in ("p1", "p3"):
            for i in range(5):  # probation's 5 requests confirm it
                assert c.request(f"edge/{n}", {"text": "what time is it"})["model"] == NEW
            watches[n].status(lambda s: s["state"] == "active" and s["reason"] is None)
        assert done.wait(90)
        out = result["out"]
        assert out.returncode == 1, out.stdout + out.stderr
        assert "p2: rolled_back" in out.stdout and "p1: active" in out.stdout and "p3: active" in out.stdout
        assert bad.proc.poll() is None
    finally:
        c.close()


def test_a_bad_key_fails_the_start_naming_it(broker, daemon_factory, tmp_path: Path) -> None:
    cfg = daemon_config(broker, tmp_path / "state", deploy={"keys": ["RWnot-a-key"]})
    d = daemon_factory(cfg, start=False)
    d.start(wait_ready=False)
    assert d.proc.wait(30) == 2
    assert "[deploy] keys[0]" in d.log_text()
