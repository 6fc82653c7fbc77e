"""Real parts for tests: a mosquitto broker on a free loopback port, the daemon as a real process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mqttc import TestClient  # noqa: E402

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1",
              proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until something accepts on host:port; give up at once when `proc` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server for {host}:{port} exited with status {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)  # polling a port: a listening socket has no event to wait on
    raise AssertionError(f"nothing listening on {host}:{port} after {timeout} s")


class Broker:
    """A private mosquitto: its own config, port and persistence directory."""

    def __init__(self, workdir: Path, extra: str = "", port: int | None = None, persistence: bool = True) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.conf = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "set_tcp_nodelay true",
            "max_queued_messages 100000",
            "max_inflight_messages 0",
        ]
        if os.geteuid() == 0:
            # mosquitto drops to its own user when started as root and then cannot
            # write its persistence file into pytest's private temp dirs.
            lines.append("user root")
        if persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1"]
        self.extra = extra
        self.conf.write_text("\n".join(lines) + "\n" + extra + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "mosquitto.log"

    def start(self) -> "Broker":
        if not Path(MOSQUITTO).exists():
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        try:
            wait_port(self.port, proc=self.proc)
        except AssertionError as exc:  # mosquitto says why (a bad configuration line) in its log
            raise AssertionError(f"{exc}\n{self.log.read_text(errors='replace')}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)  # pacing: an outage this long is the scenario (not a wait for anything)
        self.start()

    def client(self, **kw: Any) -> TestClient:
        return TestClient(self.port, **kw)


class Daemon:
    """`python -m edge run` as a real subprocess, with a real sd_notify socket to know when it's ready."""

    def __init__(self, workdir: Path, config: str, env: dict[str, str] | None = None,
                 fault: tuple[str, str] | None = None) -> None:
        self.fault = fault  # run tests/faulty.py with this fault instead of `python -m edge`
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "edge.toml"
        self.config_path.write_text(config)
        self.log = self.dir / "daemon.log"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.notify: socket.socket | None = None

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> "Daemon":
        sock_path = self.dir / f"notify-{uuid.uuid4().hex[:6]}.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(sock_path))
        env = {**self.env, "NOTIFY_SOCKET": str(sock_path)}
        entry = ["-m", "edge"] if self.fault is None else [str(ROOT / "tests" / "faulty.py"), *self.fault]
        self.proc = subprocess.Popen(
            [sys.executable, *entry, "run", "--config", str(self.config_path)],
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        if wait_ready:
            # READY=1 comes once the model is loaded and the client started, before the broker
            # answers; STATUS=processed ... once connected and subscribed: requests reach it now.
            self.wait_notify("READY=1", timeout)
            self.wait_notify("STATUS=processed", timeout)
        return self

    def wait_notify(self, prefix: str, timeout: float = 30.0) -> str:
        """The next sd_notify line that starts with `prefix` (the lines before it are consumed)."""
        return next(line for line in self.notify_until(prefix, 1, timeout) if line.startswith(prefix))

    def notify_until(self, prefix: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        """Every sd_notify line the daemon sends until the `count`-th that starts with `prefix`."""
        assert self.notify is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.notify.settimeout(0.2)
            try:
                seen += self.notify.recv(4096).decode().splitlines()
            except socket.timeout:  # what it sent before exiting was read first: the socket keeps it
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log_text()}") from None
                continue
            if sum(line.startswith(prefix) for line in seen) >= count:
                return seen
        raise AssertionError(f"no {prefix} from the daemon within {timeout} s ({count} wanted); got {seen[-20:]}:\n"
                             f"{self.log_text()}")

    def wait_log(self, text: str, count: int = 1, timeout: float = 30.0) -> str:
        """Poll the daemon's log until `text` occurs `count` times; returns the log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_text()
            if log.count(text) >= count:
                return log
            if time.monotonic() >= deadline:
                raise AssertionError(f"{text!r} not logged {count} times within {timeout} s:\n{log[-3000:]}")
            time.sleep(0.02)  # polling a file: nothing to wait on

    def drain_notify(self) -> list[str]:
        """Read and return what the daemon sent so far (datagrams queue up while nobody reads)."""
        assert self.notify is not None
        self.notify.setblocking(False)
        out = []
        try:
            while True:
                out += self.notify.recv(4096).decode().splitlines()
        except BlockingIOError:
            pass
        finally:
            self.notify.setblocking(True)
        return out

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon ignored signal {sig}:\n{self.log_text()}") from None
        finally:
            if self.notify:
                self.notify.close()
                self.notify = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def daemon_config(broker: Broker, state_dir: Path, device_id: str = "test", extra: str = "", **sections: dict) -> str:
    """A config TOML for a daemon on `broker`; `extra` is appended verbatim (more tables)."""
    mqtt = {"host": "127.0.0.1", "port": broker.port, **sections.pop("mqtt", {})}
    tables: dict[str, dict] = {"mqtt": mqtt, "state": {"dir": str(state_dir), **sections.pop("state", {})}}
    tables["health"] = {"interval_s": 1.0, **sections.pop("health", {})}
    tables.update(sections)
    out = [f'device_id = "{device_id}"']
    for name, values in tables.items():
        out.append(f"[{name}]")
        for k, v in values.items():
            out.append(f"{k} = {_toml(v)}")
    return "\n".join(out) + "\n" + extra


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Any]:
    brokers: list[Broker] = []

    def make(extra: str = "", persistence: bool = True, port: int | None = None) -> Broker:
        b = Broker(tmp_path / f"broker{len(brokers)}", extra=extra, persistence=persistence, port=port).start()
        brokers.append(b)
        return b

    yield make
    for b in brokers:
        b.stop()


@pytest.fixture
def broker(broker_factory: Any) -> Broker:
    return broker_factory()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    daemons: list[Daemon] = []

    def make(config: str, env: dict[str, str] | None = None, start: bool = True, wait_ready: bool = True,
             fault: tuple[str, str] | None = None) -> Daemon:
        d = Daemon(tmp_path / f"daemon{len(daemons)}", config, env, fault)
        daemons.append(d)
        return d.start(wait_ready=wait_ready) if start else d

    yield make
    for d in daemons:
        if d.proc and d.proc.poll() is None:
            d.kill()


@pytest.fixture
def client_factory() -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(broker: Broker, **kw: Any) -> TestClient:
        c = broker.client(**kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
