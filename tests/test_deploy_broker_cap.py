"""A 200 MB publication on `<base>/deploy` (issue 23, bad input): the broker cap of docs/guarantees.md,
verbatim, on a real mosquitto keeps it from the daemon; without the cap an MQTT 5 daemon's Maximum
Packet Size (CONNECT) still keeps it away; an MQTT 3.1.1 daemon has to read it all and refuse it itself. Either way requests keep being answered (counted) and a good package still goes in.

The 200 MB are streamed by a raw MQTT 3.1.1 client from a 1 MiB buffer (the test does not hold them);
the daemon's peak RSS (VmHWM) shows what reached it.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from pathlib import Path

import pytest
from conftest import ROOT, daemon_config
from mqttc import TestClient
from test_deploy_daemon import NEW, Load, Watch, signed_copy, wait_for

from edge import signing as S
from edge.rollout import pack

pytestmark = pytest.mark.slow

HUGE = 200 * 1000 * 1000
CHUNK = 1 << 20


def documented_cap() -> str:
    text = (ROOT / "docs" / "guarantees.md").read_text()
    section = text.split("### A package too big for the device: cap the broker", 1)[1]
    block = re.search(r"```\n(# edge: no MQTT packet over.*?)```", section, re.S)
    assert block, "docs/guarantees.md lost its broker cap block"
    return block.group(1)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    return struct.pack("!H", len(s)) + s.encode()


def publish_huge(port: int, topic: str, size: int) -> tuple[int, bool]:
    """PUBLISH (QoS 0) of `size` zero bytes to `topic` from a raw MQTT 3.1.1 client. Returns the bytes of
    payload the socket took and whether the broker cut the connection before all were sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        body = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _string("huge-publisher")
        sock.sendall(b"\x10" + _varint(len(body)) + body)
        assert sock.recv(4) == b"\x20\x02\x00\x00", "no CONNACK"
        head = _string(topic)
        sock.sendall(b"\x30" + _varint(len(head) + size) + head)
        chunk, sent = bytes(CHUNK), 0
        while sent < size:
            n = min(CHUNK, size - sent)
            try:
                sock.sendall(chunk[:n])
            except (BrokenPipeError, ConnectionResetError):
                return sent, True
            sent += n
        return sent, False
    finally:
        sock.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("case", ["capped", "mqtt5", "mqtt311"],
                         ids=["broker capped as documented",
                              "no broker cap, MQTT 5: the daemon's Maximum Packet Size keeps it away",
                              "no broker cap, MQTT 3.1.1: the daemon reads it and refuses it"])
def test_a_200_mb_publish_on_the_deploy_topic(broker_factory, daemon_factory, tmp_path: Path, case: str) -> None:
    capped = case == "capped"
    kept_away = case in ("capped", "mqtt5")
    broker = broker_factory(extra=documented_cap() if capped else "")
    key = S.generate()
    d = daemon_factory(daemon_config(broker, tmp_path / "state", device_id="big",
                                     mqtt={"protocol": 4 if case == "mqtt311" else 5},
                                     deploy={"keys": [key.public_key.base64()]}))
    protocol = 4 if case == "mqtt311" else 5
    c = TestClient(broker.port, protocol=protocol)
    try:
        w = Watch(c, "big")
        spy = c.subscribe("edge/big/deploy") if capped else None  # what the broker forwards, the daemon gets
        with Load(broker.port, "edge/big", protocol=protocol) as load:
            wait_for(lambda: load.replies, what="the first reply")
            before = peak_rss_mb(d.proc.pid)
            t0 = time.monotonic()
            sent, cut = publish_huge(broker.port, "edge/big/deploy", HUGE)
            if kept_away:
                if capped:
                    assert cut and sent < HUGE // 4, (sent, cut)  # refused at the header, not after reading it
                else:
                    assert not cut and sent == HUGE  # the broker took it, and must not pass it on
                fence = c.subscribe("edge/big/fence")  # the broker is alive and has moved on
                c.publish("edge/big/fence", b"x")
                fence.get()
                assert spy is None or spy.drain() == [], "the broker forwarded the huge publication"
                assert c.request("edge/big", {"text": "what time is it"})["model"] == "clinc150@2.0.0"
                assert w.seen == [] and not w.statuses.drain(), "the daemon reacted to it"
                assert "deploy: rejected" not in d.log_text()
            else:
                assert not cut and sent == HUGE
                s = w.status(lambda s: s["state"] == "rejected", timeout=120)
                assert s["reason"] == f"package too large ({HUGE} bytes; the limit is {64 << 20})", s
                assert s["model"] is None and s["previous"] == "clinc150@2.0.0", s
            took = time.monotonic() - t0
            grew = peak_rss_mb(d.proc.pid) - before
            if kept_away:
                assert grew < 50, f"the daemon's peak RSS grew by {grew:.0f} MB"
            assert c.request("edge/big", {"text": "what time is it"})["model"] == "clinc150@2.0.0"
            w.seen.clear()
            c.publish("edge/big/deploy", pack(signed_copy(tmp_path, "2.1.0", key))[0])  # a real one still fits
            w.status(lambda s: s["state"] == "active" and s["model"] == NEW)
        lost = {f"load-{i}" for i in range(load.sent)} - set(load.replies)
        print(f"200 MB publish, {case}: {sent / 1e6:.1f} MB taken by the socket, "
              f"handled in {took:.1f} s, daemon peak RSS +{grew:.0f} MB; {load.sent} requests, "
              f"{load.sent - len(lost)} answered")
        assert load.sent > 5 and not lost, f"{len(lost)} of {load.sent} requests unanswered"
        assert d.proc.poll() is None
    finally:
        c.close()
