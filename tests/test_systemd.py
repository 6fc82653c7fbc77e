"""edge.systemd against real datagram sockets, and the shipped unit against systemd-analyze."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.systemd import Notifier
from notify_socket import NotifySocket

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "edge.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed on this machine")


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_every_notification_arrives(abstract: bool) -> None:
    with NotifySocket(abstract=abstract) as ns:
        n = Notifier(ns.environ())
        assert n.enabled
        n.ready("warming done")
        n.status("processed 3,\np50 1.0 ms")  # a newline must not start a new assignment
        n.watchdog()
        n.extend_timeout(2.5)
        n.stopping("draining")
        n.close()
        assert ns.messages() == [
            "READY=1", "STATUS=warming done",
            "STATUS=processed 3, p50 1.0 ms",
            "WATCHDOG=1",
            "EXTEND_TIMEOUT_USEC=2500000",
            "STOPPING=1", "STATUS=draining",
        ]


def test_watchdog_interval_is_half_the_period() -> None:
    with NotifySocket() as ns:
        assert Notifier(ns.environ(WATCHDOG_USEC="30000000")).watchdog_interval == 15.0
        own = Notifier(ns.environ(WATCHDOG_USEC="2000000", WATCHDOG_PID=str(os.getpid())))
        assert own.watchdog_interval == 1.0
        # systemd meant these pings for another process (we inherited its environment).
        other = Notifier(ns.environ(WATCHDOG_USEC="2000000", WATCHDOG_PID=str(os.getpid() + 1)))
        assert other.watchdog_interval is None
        assert Notifier(ns.environ()).watchdog_interval is None
        assert Notifier(ns.environ(WATCHDOG_USEC="soon")).watchdog_interval is None
        assert Notifier(ns.environ(WATCHDOG_USEC="0")).watchdog_interval is None


def test_without_a_socket_every_call_is_a_no_op() -> None:
    n = Notifier({"WATCHDOG_USEC": "1000000"})
    assert not n.enabled and n.watchdog_interval is None
    n.ready("x")
    n.status("x")
    n.watchdog()
    n.stopping()
    n.close()
    assert Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled is False


def test_a_broken_socket_is_logged_once_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    ns = NotifySocket()
    path = ns.path
    n = Notifier(ns.environ())
    ns.close()  # systemd went away: nobody listens on the path any more
    with caplog.at_level(logging.INFO, logger="edge.systemd"):
        for _ in range(5):
            n.watchdog()  # must not raise
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "cannot notify systemd" in warnings[0].getMessage()
        # The socket comes back at the same path: delivery resumes without a new Notifier.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as again:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            again.bind(path)
            again.settimeout(2)
            n.watchdog()
            assert again.recv(100) == b"WATCHDOG=1"
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
        assert any("delivered again" in r.getMessage() for r in caplog.records)
    n.close()


def _verifiable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointed at a binary this machine has.

    `systemd-analyze verify` checks that the ExecStart= binary exists, and
    /opt/edge/venv/bin/edge exists only on a device (first boot creates it).
    Everything else is verified exactly as shipped.
    """
    text = UNIT.read_text()
    assert "ExecStart=/opt/edge/venv/bin/edge run --config /etc/edge/edge.toml\n" in text
    copy = tmp_path / "edge.service"
    copy.write_text(text.replace("ExecStart=/opt/edge/venv/bin/edge ", f"ExecStart={shutil.which('true')} "))
    return copy


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = _verifiable_copy(tmp_path)
    proc = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on some problems (it only warns about a bad line and ignores it): any word about our unit fails.
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if "edge.service" in line]
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr


@needs_analyze
def test_unit_exposure_is_at_most_2(tmp_path: Path) -> None:
    proc = subprocess.run([ANALYZE, "security", "--offline=yes", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    m = re.search(r"Overall exposure level for edge\.service: (\d+(?:\.\d+)?)", out)
    assert m, out
    assert float(m.group(1)) <= 2.0, out


def test_unit_declares_what_the_daemon_relies_on() -> None:
    """The settings the daemon's code assumes (notify protocol, state dir, credentials, network)."""
    text = UNIT.read_text()
    lines = set(text.splitlines())
    for needed in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30", "Restart=on-failure",
                   "StateDirectory=edge", "KillSignal=SIGTERM", "WantedBy=multi-user.target",
                   "LoadCredential=cloud_api_key:/etc/edge/credentials/cloud_api_key",
                   "LoadCredential=mqtt_password:/etc/edge/credentials/mqtt_password",
                   "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"):
        assert needed in lines, needed
    # Missing credential files must not stop the unit: each load has a default.
    for cred in ("cloud_api_key", "mqtt_password"):
        assert any(line.startswith(f"SetCredential={cred}:") for line in lines), cred
    assert re.search(r"^TimeoutStopSec=\d+", text, re.M) and re.search(r"^RestartSec=\d+", text, re.M)


def test_a_receiver_that_stops_reading_never_blocks_the_sender(caplog: pytest.LogCaptureFixture) -> None:
    with NotifySocket() as ns:
        n = Notifier(ns.environ())
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="edge.systemd"):
            for _ in range(200):  # far more than the kernel queues for an unread datagram socket
                n.watchdog()
        assert time.monotonic() - started < 2.0
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        assert ns.count("WATCHDOG=1") >= 1  # what was queued arrives once the receiver reads again
        n.ready()
        assert ns.wait_for("READY=1", timeout=2) == "READY=1"
        n.close()


@needs_analyze
def test_first_boot_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "edge-firstboot.service"
    shutil.copy(ROOT / "systemd" / "edge-firstboot.service", unit)
    proc = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if "edge-firstboot.service" in line]
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr


MDWE_PROBE = """
import ctypes, sys
# PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN (1): the kernel's own form of
# the unit's MemoryDenyWriteExecute=yes (Linux 6.3+); it cannot be undone, hence a subprocess.
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(77)
from edge.model import Model
model = Model.load(None, threads=2)
print(model.classify(["turn on the kitchen lights", "what is the capital of France"]))
"""


def test_the_model_runs_under_memory_deny_write_execute() -> None:
    """The unit sets MemoryDenyWriteExecute=yes: the TFLite runtime must not need writable+executable memory."""
    if not (ROOT / "models" / "clinc150" / "manifest.json").is_file():
        pytest.skip("no model shipped in models/clinc150 yet")
    proc = subprocess.run([sys.executable, "-c", MDWE_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if proc.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
