"""`edge deploy` (the operator side, edge/rollout.py + edge/mqtt/fleet.py) against a real mosquitto.

The devices here run the real device side (edge/deploy.py's Deployer: signature, hashes,
admission, unpacking, the real model loaded and self-tested, the pointer committed,
probation) behind a small MQTT shim that does what the daemon's deployment channel will
do: take `<base>/deploy` (and the group's topic), publish each status retained on
`<base>/deploy/status`, publish health with its group. These pin the operator's side and the
wire between; tests/test_deploy_rollback.py and test_deploy_daemon.py run the real daemons.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mqttc import TestClient
from test_deploy_daemon import key, package, signed_copy  # noqa: F401 (fixtures: a key, the shipped package signed)

from edge import rollout
from edge import signing as S
from edge.deploy import Deployer
from edge.model import Model
from edge.probation import ProbationPolicy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "clinc150"
POLICY = ProbationPolicy(requests=50, seconds=600, max_errors=3, latency_factor=3.0, min_samples=10, max_restarts=3)


class Device:
    """The real Deployer behind the deployment topics, as the daemon's channel will wire it."""

    def __init__(self, port: int, device_id: str, state: Path, key: S.PublicKey, group: str = "",
                 fail_probation: bool = False, silent: bool = False) -> None:
        self.id, self.base = device_id, f"edge/{device_id}"
        self.fail_probation, self.silent = fail_probation, silent
        self.received: list[float] = []
        self.active_at: float | None = None  # when it first reported active
        self.deployer = Deployer(state, [key], "0.1.0", Model.load, time.monotonic, initial=SHIPPED,
                                 policy=POLICY, on_status=self._publish)
        self.client = TestClient(port, client_id=f"dev-{device_id}")
        self.client.publish(f"{self.base}/health", json.dumps({"device_id": device_id, "group": group or None}),
                            retain=True)
        self.client.client.message_callback_add(f"{self.base}/deploy", self._on_package)
        if group:
            self.client.client.message_callback_add(f"edge/group/{group}/deploy", self._on_package)
            self.client.subscribe(f"edge/group/{group}/deploy")
        self.client.subscribe(f"{self.base}/deploy")

    def _publish(self, status) -> None:
        if status.state == "active" and self.active_at is None:
            self.active_at = time.monotonic()
        self.client.publish(f"{self.base}/deploy/status", status.to_json(), retain=True, wait=False)

    def _on_package(self, _c, _u, msg) -> None:
        self.received.append(time.monotonic())
        if not self.silent:
            threading.Thread(target=self._deploy, args=(bytes(msg.payload),), daemon=True).start()

    def _deploy(self, payload: bytes) -> None:
        status = self.deployer.receive(payload)
        self._publish(status)
        if status.loaded is None:
            return
        status = self.deployer.commit()  # the swap itself is the daemon's; here the package is committed
        self._publish(status)
        # Requests on the new model: they fail (probation rolls it back by itself) or they succeed
        # (probation confirms it after POLICY.requests of them).
        verdict = None
        while verdict is None:
            verdict = self.deployer.record(5.0, self.fail_probation)
        self._publish(self.deployer.settle(verdict))

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def fleet(broker, tmp_path: Path, key: S.SecretKey):
    made: list[Device] = []

    def make(device_id: str, **kw) -> Device:
        d = Device(broker.port, device_id, tmp_path / device_id, key.public_key, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def deploy(broker, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "deploy", *args, "--host", "127.0.0.1",
                           "--port", str(broker.port)], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def test_a_canary_rollout_reaches_every_device_canary_first(broker, fleet, package: Path) -> None:
    a, b, c = fleet("a"), fleet("b"), fleet("c")
    out = deploy(broker, str(package), "--device", "a", "--device", "b", "--device", "c", "--canary", "1",
                 "--timeout", "60")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "a: active" in out.stdout and "b: active" in out.stdout and "c: active" in out.stdout
    assert "still on probation" not in out.stdout and "a: active (on probation" not in out.stdout.splitlines()[-3]
    assert a.active_at is not None and a.active_at < min(b.received[0], c.received[0]), "the rest before the canary was active"
    for d in (a, b, c):
        assert d.deployer.active() is not None and d.deployer.active().ident == "clinc150@2.1.0"


def test_one_device_fails_probation_and_rolls_back_while_the_others_stay_active(
        broker, fleet, package: Path) -> None:
    fleet("a"), fleet("b", fail_probation=True), fleet("c")
    out = deploy(broker, str(package), "--device", "a", "--device", "b", "--device", "c", "--timeout", "60")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if line[:1] in "abc" and ": " in line)
    assert lines["a"].startswith("active") and lines["c"].startswith("active")
    assert lines["b"].startswith("rolled_back"), out.stdout


def test_a_canary_that_rejects_stops_the_rollout_before_the_rest(broker, fleet, package: Path, tmp_path) -> None:
    other = S.generate()
    a = Device(broker.port, "a", tmp_path / "a", other.public_key)  # trusts another key: rejects
    try:
        b = fleet("b")
        out = deploy(broker, str(package), "--device", "a", "--device", "b", "--canary", "1", "--timeout", "60")
        assert out.returncode == 1, out.stdout + out.stderr
        assert "a: rejected (signed by an unknown key" in out.stdout
        assert "b: not sent" in out.stdout and b.received == []
    finally:
        a.close()


def test_a_silent_device_is_a_timeout_exit_3(broker, fleet, package: Path) -> None:
    fleet("quiet", silent=True)
    out = deploy(broker, str(package), "--device", "quiet", "--timeout", "3")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "quiet: no outcome in time" in out.stdout


def test_a_group_is_found_from_health_and_sent_one_publication(broker, fleet, package: Path) -> None:
    a, b = fleet("g1", group="hall"), fleet("g2", group="hall")
    fleet("other", group="attic")
    out = deploy(broker, str(package), "--group", "hall", "--timeout", "60")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "g1: active" in out.stdout and "g2: active" in out.stdout and "other" not in out.stdout
    assert len(a.received) == 1 and len(b.received) == 1


def test_an_unsigned_package_is_refused_before_anything_is_published(broker, tmp_path: Path) -> None:
    pkg = tmp_path / "unsigned"
    shutil.copytree(SHIPPED, pkg)
    (pkg / "manifest.json.minisig").unlink(missing_ok=True)
    c = TestClient(broker.port)
    try:
        spy = c.subscribe("edge/#")
        out = deploy(broker, str(pkg), "--device", "a", "--timeout", "5")
        assert out.returncode == 2 and "unsigned" in out.stderr, out.stderr
        assert not [m for m in spy.drain() if m.topic.endswith("/deploy")]
    finally:
        c.close()


def _status(state: str, model: str | None, reason: str | None = None) -> bytes:
    return json.dumps({"model": model, "state": state, "reason": reason, "previous": None, "ts": 0}).encode()


def test_a_live_status_about_another_package_is_not_this_deployments_outcome() -> None:
    # The CI race: a device confirms the probation of the package before (live `active`,
    # model 2.2.0) just after the next package or order was sent; that is not its answer.
    plan = rollout.Plan([rollout.Device("d1", sent=True)], package="clinc150@2.3.0")
    assert rollout.status_update(plan, "d1", _status("active", "clinc150@2.2.0")) is None
    assert plan.devices[0].state is None
    assert rollout.status_update(plan, "d1", _status("rejected", None, "package too large")) is plan.devices[0]
    assert rollout.status_update(plan, "d1", _status("active", "clinc150@2.3.0", "on probation")) is plan.devices[0]
    assert plan.devices[0].on_probation


def test_a_rollback_order_is_answered_only_by_rolled_back_or_rejected() -> None:
    plan = rollout.Plan([rollout.Device("d1", sent=True)])  # package None: a rollback order
    assert rollout.status_update(plan, "d1", _status("active", "clinc150@2.2.0")) is None
    assert plan.devices[0].state is None
    assert rollout.status_update(plan, "d1", _status("rolled_back", "clinc150@2.2.0", "rolled back on a signed "
                                                     "command")).state == "rolled_back"


def test_progress_after_an_outcome_does_not_undo_it() -> None:
    # The device test's kill: `rejected (interrupted ...)` at the restart, then at once `verifying`
    # of the broker's redelivery; the report and the exit status keep the outcome that was seen.
    plan = rollout.Plan([rollout.Device("d1", sent=True)], package="clinc150@2.2.0")
    rollout.status_update(plan, "d1", _status("rejected", "clinc150@2.2.0", "interrupted while unpacking"))
    assert rollout.status_update(plan, "d1", _status("verifying", None)) is None
    assert plan.devices[0].state == "rejected" and rollout.exit_status(plan) == 1
    assert rollout.status_update(plan, "d1", _status("active", "clinc150@2.2.0")).state == "active"
