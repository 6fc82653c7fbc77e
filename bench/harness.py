"""Real parts for the benchmark: a private mosquitto, responders as real processes, an RSS sampler.

The same ideas as tests/conftest.py (a broker on a free loopback port with
`set_tcp_nodelay true`, the daemon as `python -m edge run --config FILE`, a
datagram NOTIFY_SOCKET we bind to see READY=1), without pytest.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Broker:
    """A private mosquitto on loopback: no persistence (disk writes would only add noise), Nagle off."""

    def __init__(self, workdir: Path, max_inflight: int = 0) -> None:
        if not Path(MOSQUITTO).exists():
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        self.dir = workdir
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
            f"max_queued_messages 100000\nmax_inflight_messages {max_inflight}\npersistence false\n"
        )
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=(workdir / "mosquitto.log").open("ab"),
                                     stderr=subprocess.STDOUT)
        wait_port(self.port)

    def stop(self) -> None:
        _terminate(self.proc)


class Responder:
    """A responder process (the daemon or the echo floor) that reports READY=1 over sd_notify.

    `t_spawn` is taken just before fork/exec, so `ready_s` covers interpreter
    start, imports, model load and the first CONNACK: what systemd would see.
    """

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"{name}.log"
        sock_path = workdir / f"notify-{uuid.uuid4().hex[:6]}.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(sock_path))
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": str(sock_path), **(env or {})}
        self.t_spawn = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=full_env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     cwd=workdir)
        self.ready_s: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from spawn to READY=1."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.log_tail()}")
            self.notify.settimeout(0.1)
            try:
                data = self.notify.recv(4096).decode()
            except socket.timeout:
                continue
            if any(line.startswith("READY=1") for line in data.splitlines()):
                self.ready_s = time.perf_counter() - self.t_spawn
                return self.ready_s
        raise RuntimeError(f"no READY=1 from {self.name} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def vm_hwm_mb(self) -> float | None:
        """The kernel's own peak resident set (VmHWM), in MB; None once the process is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> int:
        rc = _terminate(self.proc)
        self.notify.close()
        return rc


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class RssSampler:
    """Samples a process's RSS with psutil every `interval` seconds on a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_mb = 0.0
        self.last_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss / 2**20
            except psutil.Error:
                return
            self.last_mb = rss
            self.peak_mb = max(self.peak_mb, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def memory_detail(pid: int) -> dict[str, float]:
    """USS / PSS / shared of a live process (MB): how much of the RSS is its own."""
    try:
        full = psutil.Process(pid).memory_full_info()
    except psutil.Error:
        return {}
    return {k: getattr(full, k) / 2**20 for k in ("rss", "uss", "pss", "shared") if hasattr(full, k)}


def python() -> str:
    return sys.executable
