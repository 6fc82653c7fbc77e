"""Measure what docs/guarantees.md says about back-pressure (run by hand, not by pytest):

1. Does the broker honour the daemon's MQTT 5 Receive Maximum? A manual-ack client
   with Receive Maximum N that acks nothing: count deliveries; then ack one, count again.
2. Memory per queued request in the daemon: a real daemon whose event loop is stalled
   (tests/faulty.py, fault "stall"), N requests published, RSS read from /proc before/after
   (a stalled loop publishes no health).

    .venv/bin/python tests/measure_backpressure.py [N]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import paho.mqtt.client as paho  # noqa: E402
from conftest import Broker, Daemon, daemon_config  # noqa: E402
from mqttc import TestClient  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402


def receive_maximum(port: int, recv_max: int = 5, sent: int = 60) -> tuple[int, int]:
    got: list[paho.MQTTMessage] = []
    ready = threading.Event()
    c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="rm-probe",
                    protocol=paho.MQTTv5, manual_ack=True)
    c.on_message = lambda _c, _u, m: got.append(m)
    c.on_subscribe = lambda *a: ready.set()
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = recv_max
    c.connect("127.0.0.1", port, properties=props)
    c.loop_start()
    c.subscribe("rm/t", 1)
    ready.wait(5)
    pub = TestClient(port)
    for i in range(sent):
        pub.publish("rm/t", str(i), wait=False)
    pub.publish("rm/done", b"", wait=True)  # PUBACKed: the broker has taken every one of them
    # What is measured is what the broker withholds: no event says "this is all it will send",
    # so a pause is the measurement itself (a by-hand script; no test depends on it).
    time.sleep(1.5)
    before = len(got)
    c.ack(got[0].mid, 1)
    time.sleep(1.5)  # as above: how many more the one ack let through
    after = len(got)
    pub.close()
    c.disconnect()
    c.loop_stop()
    return before, after


def memory_per_queued(port: int, root: Path, n: int) -> tuple[float, float, int]:
    import psutil

    d = Daemon(root / "d", daemon_config(_B(port), root / "state",  # type: ignore[arg-type]
                                         health={"interval_s": 0.5}), fault=("stall", "stall now"))
    d.start()
    c = TestClient(port)

    def rss() -> float:
        assert d.proc is not None
        return psutil.Process(d.proc.pid).memory_info().rss / 1048576

    c.publish("edge/test/request", "stall now")
    d.wait_log("fault injection: stalling")  # the loop is stuck from here
    base = rss()
    body = json.dumps({"id": "q-000000", "text": "what is the weather like in paris tomorrow"})
    for i in range(n):
        c.publish("edge/test/request", body.replace("000000", f"{i:06d}"), wait=False)
    c.publish("edge/test/done", b"", wait=True)  # PUBACKed: the broker has every request
    # The stalled daemon reads nothing, so no event of its own marks when the broker has pushed all
    # it will into its socket: a pause (a by-hand measurement; no test depends on it).
    time.sleep(3.0)
    loaded = rss()
    c.close()
    d.kill()
    return base, loaded, len(body)


def memory_in_process(n: int, size: int = 72) -> float:
    """Bytes per request held in the service's queue: Work + Message + payload + topic, by tracemalloc."""
    import queue
    import tracemalloc

    from edge.pipeline import Work
    from edge.mqtt import Message

    q: queue.Queue = queue.Queue()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        payload = (b'{"id": "q-%06d", "text": "' % i).ljust(size - 2, b"x") + b'"}'
        topic = "".join(["edge/kitchen/", "request"])  # paho decodes a new str per message
        q.put(Work("request", Message(topic, payload, i % 65535, 1, False, None, None), time.perf_counter(), print))
    used = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    return used / n


def broker_memory_per_queued(broker: Broker, n: int, size: int = 72) -> float:
    """Bytes of mosquitto RSS per message queued for an offline persistent session (the daemon away)."""
    ready = threading.Event()
    c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="offline-daemon",
                    protocol=paho.MQTTv5)
    c.on_subscribe = lambda *a: ready.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
    c.loop_start()
    c.subscribe("edge/kitchen/request", 1)
    ready.wait(5)
    c.disconnect()
    c.loop_stop()

    def rss() -> int:
        status = Path(f"/proc/{broker.proc.pid}/status").read_text()  # type: ignore[union-attr]
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) * 1024

    before = rss()
    pub = TestClient(broker.port)
    payload = b"x" * size
    for _ in range(n):
        pub.publish("edge/kitchen/request", payload, wait=False)
    pub.publish("edge/kitchen/request", payload, wait=True)  # its PUBACK: the broker has queued them all
    pub.close()
    return (rss() - before) / (n + 1)  # the last one, waited for, is queued too


class _B:
    def __init__(self, port: int) -> None:
        self.port = port


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    version = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = Broker(root / "broker", persistence=False).start()
        try:
            before, after = receive_maximum(broker.port)
            print(f"{version}: Receive Maximum 5, nothing acked: {before} delivered; after acking 1: {after}")
            base, loaded, size = memory_per_queued(broker.port, root, n)
            print(f"daemon stalled, {n} requests published: RSS {base:.1f} -> {loaded:.1f} MiB"
                  " (the broker holds back what is past the daemon's Receive Maximum of 200 while nothing is acked)")
            for sz in (72, 512):
                b = Broker(root / f"b{sz}", persistence=False, extra="max_queued_messages 1000000").start()
                try:
                    print(f"mosquitto: {broker_memory_per_queued(b, n, sz):.0f} bytes RSS per queued {sz}-byte request")
                finally:
                    b.stop()
            for sz in (72, 512, 4096):
                print(f"in the daemon's queue: {memory_in_process(n, sz):.0f} bytes per queued {sz}-byte request")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
