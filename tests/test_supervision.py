"""Issue 12 items 2, 6 and 7, and issue 16's readiness: supervision, storage trouble, quiet logs, READY.

Real parts: mosquitto on loopback, the daemon as a process with a real
sd_notify socket, a real 1 MiB tmpfs for the full card (CI runs as root; the
test skips where mounting is not allowed).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Broker, daemon_config, free_port
from loopthread import LoopThread

from edge import config as cfg
from edge.mqtt import Link

BASE = "edge/test"


def _settings(broker: Broker, tmp_path: Path, **sections: dict) -> cfg.Settings:
    path = tmp_path / "link.toml"
    path.write_text(daemon_config(broker, tmp_path / "state", **sections))
    return cfg.load(path)


def _link(lt: LoopThread, settings: cfg.Settings, on_message, on_read_done=None) -> Link:
    link = Link(settings, on_message=on_message, on_connect=lambda _p: None, on_read_done=on_read_done)
    link.subscribe_on_connect(f"{BASE}/request", 1)
    lt.call(link.start, lt.loop)
    assert lt.call(link.wait_first_connect)
    return link


def test_a_callback_that_raises_is_logged_and_counted_and_the_link_keeps_reading(broker, client_factory, tmp_path,
                                                                                 caplog):
    got: list[bytes] = []
    arrived = threading.Event()

    def on_message(m):
        if m.payload == b"boom":
            raise OSError(28, "No space left on device")  # the outbox delete of issue 12, item 6
        got.append(m.payload)
        link.ack(m.mid, m.qos)
        arrived.set()

    lt = LoopThread()
    link = _link(lt, _settings(broker, tmp_path), on_message)
    try:
        c = client_factory(broker)
        c.publish(f"{BASE}/request", b"boom")
        c.publish(f"{BASE}/request", b"after")
        assert arrived.wait(5)
        assert got == [b"after"] and link.callback_errors == 1 and link.connected
        assert "failed in the MQTT link" in caplog.text
    finally:
        lt.call(link.stop)
        lt.close()


def test_reconnect_delays_are_not_truncated(broker, tmp_path):
    s = _settings(broker, tmp_path, mqtt={"reconnect_min_s": 0.05, "reconnect_max_s": 0.5})
    link = Link(s, on_message=lambda m: None, on_connect=lambda p: None)
    assert link.reconnect_delays == (0.05, 0.5)


class _Channel:
    """A channel for the in-process supervisor tests: `fault` says how it goes wrong."""

    name = "test-channel"

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.stopped = False

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.fault == "task":
            loop.create_task(self._die())  # nobody awaits it: only the loop's exception handler sees it
        elif self.fault == "callback":
            loop.call_soon(self._raise)

    async def _die(self) -> None:
        raise RuntimeError("the channel's task dies")

    def _raise(self) -> None:
        raise RuntimeError("the channel's callback raises")

    async def stop(self) -> None:
        self.stopped = True

    def swap_model(self, model: Any, slots: Any) -> None:
        """It serves no model."""


def _service(broker: Broker, tmp_path: Path, channel: _Channel):
    from edge.model import Model
    from edge.service import Service, build

    parts = build(_settings(broker, tmp_path), Model.load(), environ={})
    parts.channels.append(channel)
    return Service(parts)


@pytest.mark.parametrize("fault", ["callback", "task"])
def test_in_process_a_dying_channel_stops_the_service_with_1_after_a_drain(broker, tmp_path, fault, caplog):
    channel = _Channel(fault)
    svc = _service(broker, tmp_path, channel)
    assert svc.run() == 1
    assert channel.stopped and "a channel failed" in caplog.text


def test_in_process_stop_from_another_thread_drains_and_returns_0(broker, tmp_path, client_factory):
    channel = _Channel("none")
    svc = _service(broker, tmp_path, channel)
    c = client_factory(broker)
    status = c.subscribe(f"{BASE}/status")
    out: list[int] = []
    runner = threading.Thread(target=lambda: out.append(svc.run()))
    runner.start()
    while status.get(timeout=15).payload != b"online":
        pass
    assert c.request(BASE, {"text": "what is the weather"})["intent"] == "weather"
    svc.stop()
    runner.join(30)
    assert out == [0] and channel.stopped
    while status.get(timeout=5).payload != b"offline":
        pass


def test_the_daemon_stops_with_1_when_a_channel_dies_and_the_watchdog_stops(broker, daemon_factory, tmp_path):
    port = free_port()
    # tests/faulty.py: the real daemon plus a channel (a TCP server on the loop) whose handler raises on "die".
    d = daemon_factory(daemon_config(broker, tmp_path / "state"), env={"WATCHDOG_USEC": "1000000"},
                       fault=("die", str(port)))
    d.wait_notify("WATCHDOG=1", timeout=5)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"die\n")
    assert d.proc.wait(15) == 1
    assert "a channel failed" in d.log_text() and "the channel dies" in d.log_text()
    assert "WATCHDOG=1" not in d.drain_notify()[-3:]


def _log_lines(text: str, level: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(rf"^\S+ \S+ {level} ", line)]


def test_logs_are_quiet_one_warning_when_the_broker_goes_one_info_when_back_none_on_a_clean_stop(
        broker, daemon_factory, client_factory, tmp_path):
    fast = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.2, "keepalive_s": 5}
    # DEBUG shows paho's own line for each failed attempt (it logs nothing above DEBUG by design).
    d = daemon_factory(daemon_config(broker, tmp_path / "state", mqtt=fast, logging={"level": "debug"}))
    broker.stop()
    d.wait_log("Connection failed, retrying", count=10, timeout=20)  # ten failed reconnect attempts
    broker.start()
    c = client_factory(broker)
    assert c.request(BASE, {"text": "what is the weather"}, timeout=15)["id"]
    assert d.stop() == 0
    log = d.log_text()
    warnings, errors = _log_lines(log, "WARNING"), _log_lines(log, "ERROR")
    assert len(warnings) == 1 and "went away" in warnings[0], warnings
    assert errors == [], errors
    assert log.count("reconnected to") == 1


def test_ready_once_started_waiting_for_broker_until_connected_and_no_extended_timeout(tmp_path, daemon_factory,
                                                                                       client_factory):
    port = free_port()
    broker = Broker(tmp_path / "late", port=port)
    d = daemon_factory(daemon_config(broker, tmp_path / "state", mqtt={"reconnect_min_s": 0.2,
                                                                       "reconnect_max_s": 0.5}), wait_ready=False)
    line = d.wait_notify("READY=1", timeout=30)
    assert line == "READY=1"
    # Two housekeeping ticks (one a second) that find no broker: no start-up timeout extended meanwhile.
    seen = d.notify_until("STATUS=waiting for broker", count=2, timeout=15)
    assert not any(s.startswith("EXTEND_TIMEOUT_USEC") for s in seen), seen
    try:
        broker.start()
        d.wait_notify("STATUS=processed", timeout=15)
        assert client_factory(broker).request(BASE, {"text": "what is the weather"})["id"]
    finally:
        d.stop()
        broker.stop()


def test_readiness_says_waiting_for_broker_in_status(tmp_path, daemon_factory):
    broker = Broker(tmp_path / "never", port=free_port())  # never started
    d = daemon_factory(daemon_config(broker, tmp_path / "state"), wait_ready=False)
    assert "waiting for broker" in d.wait_notify("STATUS=", timeout=30)
    assert d.stop() == 0


def test_an_unusable_state_dir_at_start_exits_2_naming_it(broker, daemon_factory, tmp_path):
    not_a_dir = tmp_path / "state-file"
    not_a_dir.write_text("x")
    d = daemon_factory(daemon_config(broker, not_a_dir), wait_ready=False)
    assert d.proc.wait(30) == 2
    assert str(not_a_dir) in d.log_text()


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "card"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(path: Path) -> None:
    """Write zeros until the file system is full (unbuffered: nothing left to fail at close)."""
    with path.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass


def _health(c, pred, timeout: float = 15.0) -> dict:
    box = c.subscribe(f"{BASE}/health")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = box.json(timeout=max(0.1, deadline - time.monotonic()))
        if pred(h):
            return h
    raise AssertionError("no matching health message")


def test_a_full_card_degrades_and_recovers_by_itself(broker, daemon_factory, client_factory, small_disk):
    state = small_disk / "state"
    d = daemon_factory(daemon_config(broker, state, health={"interval_s": 0.5}))
    c = client_factory(broker)
    assert c.request(BASE, {"id": "before", "text": "what is the weather"})["id"] == "before"
    _fill(small_disk / "filler")
    for i in range(30):  # each answer is cached by id: the writes that fill the last pages
        assert c.request(BASE, {"id": f"full-{i}-{'x' * 200}", "text": "what is the weather in paris"})["intent"]
    h = _health(c, lambda h: h["storage"] == "degraded")
    assert h["state_free_mb"] is not None and h["state_free_mb"] < 0.1
    assert d.proc.poll() is None
    (small_disk / "filler").unlink()
    assert c.request(BASE, {"id": "after", "text": "what is the weather"})["id"] == "after"
    _health(c, lambda h: h["storage"] == "ok")
    log = d.log_text()
    assert "storage degraded" in log and "storage ok again" in log and "Traceback" not in log
    assert h["processed"] >= 1 and d.stop() == 0


def test_start_up_on_a_full_card_either_serves_degraded_or_exits_2_naming_the_dir(broker, daemon_factory,
                                                                                   client_factory, small_disk):
    _fill(small_disk / "filler")
    state = small_disk / "state"
    d = daemon_factory(daemon_config(broker, state), wait_ready=False)
    deadline = time.monotonic() + 30
    while d.proc.poll() is None and "READY=1" not in "".join(d.drain_notify()) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling: READY=1 or the exit, whichever comes
    print(f"start-up on a full card: {'exit %s' % d.proc.poll() if d.proc.poll() is not None else 'serving'}")
    if d.proc.poll() is not None:
        assert d.proc.returncode == 2 and str(state) in d.log_text()
        assert "Traceback" not in d.log_text()
    else:
        c = client_factory(broker)
        assert c.request(BASE, {"text": "what is the weather"}, timeout=15)["id"]
        d.stop()


def test_sigterm_is_bounded_by_the_stop_budget(broker, daemon_factory, tmp_path):
    from edge.service import STOP_BUDGET_S

    assert STOP_BUDGET_S < 30  # systemd's TimeoutStopSec
    d = daemon_factory(daemon_config(broker, tmp_path / "state"))
    broker.stop()  # nothing to flush to: the drain must not wait on the broker
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(30) == 0 and time.monotonic() - t0 < STOP_BUDGET_S
    broker.start()


def test_subscriptions_record_is_written_after_the_broker_confirms(broker, daemon_factory, client_factory, tmp_path):
    state = tmp_path / "state"
    d = daemon_factory(daemon_config(broker, state))
    record = state / "subscriptions.json"
    deadline = time.monotonic() + 5
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the file: its write has no event outside the daemon
    assert json.loads(record.read_text()) == [f"{BASE}/request"]
    d.stop()


def test_a_slots_module_that_cannot_be_imported_fails_the_start_loudly(monkeypatch, broker, tmp_path):
    """edge.slots is part of the package: before, its ImportError was swallowed and every result
    silently lost its slots. Now the start fails (and `edge run` reports it)."""
    import sys

    from edge.model import Model
    from edge.service import build, load_slots

    model = Model.load()
    assert load_slots(model) is not None  # the installed package loads its extractor
    monkeypatch.setitem(sys.modules, "edge.slots", None)  # as a broken install would: import fails
    with pytest.raises(ImportError):
        load_slots(model)
    with pytest.raises(ImportError):
        build(_settings(broker, tmp_path), model, environ={})


def test_in_process_every_publish_and_ack_is_made_on_the_loops_thread_cloud_results_included(
        broker, tmp_path, client_factory):
    """Issue 24, "one owner": the cloud pool's threads only wait for the HTTP answer; the result it
    brings is published, and its request acknowledged, by the loop (the thread that runs Service.run)."""
    from cloud_server import FakeCloud

    from edge.model import Model
    from edge.service import Service, build

    with FakeCloud(intents={"swallow": "fun_fact"}, answer="about eleven metres a second") as fake:
        cloud = {"base_url": fake.base_url, "model": "m", "mode": "local_first", "timeout_s": 10.0}
        parts = build(_settings(broker, tmp_path, cloud=cloud), Model.load(), environ={})
        seen: list[tuple[str, int]] = []
        publish, ack = parts.link.publish, parts.link.ack

        def recorded_publish(*args: Any, **kw: Any) -> bool:
            seen.append(("publish", threading.get_ident()))
            return publish(*args, **kw)

        def recorded_ack(*args: Any) -> None:
            seen.append(("ack", threading.get_ident()))
            ack(*args)

        parts.link.publish, parts.link.ack = recorded_publish, recorded_ack  # type: ignore[method-assign]
        svc = Service(parts)
        c = client_factory(broker)
        status = c.subscribe(f"{BASE}/status")
        out: list[int] = []
        runner = threading.Thread(target=lambda: out.append(svc.run()))
        runner.start()
        try:
            while status.get(timeout=15).payload != b"online":
                pass
            escalated = c.request(BASE, {"text": "what is the airspeed of an unladen swallow"})
            assert escalated["source"] == "cloud" and escalated["intent"] == "fun_fact", escalated
            assert c.request(BASE, {"text": "what is the weather"})["source"] == "edge"
        finally:
            svc.stop()
            runner.join(30)
    assert out == [0] and len(fake.chat_requests) == 1
    assert {what for what, _ in seen} == {"publish", "ack"}
    assert {ident for _, ident in seen} == {runner.ident}, "published or acked off the loop's thread"
