"""A flood from many clients at once: every request answered once, memory bounded and given back.

Used by tests/test_flood.py (issue 21, item 3) and by hand:

    .venv/bin/python tests/flood.py [CLIENTS] [PER_CLIENT]

`CLIENTS` publishers each fire `PER_CLIENT` QoS 1 requests with unique ids as fast as paho
lets them (no waiting for results), against a broker that ignores the daemon's Receive
Maximum and has no in-flight limit of its own (the worst case: mosquitto 2.0.11 with
`max_inflight_messages 0`). A collector counts each id's results on `<base>/result`, the
daemon's RSS is sampled from /proc during the flood and again once it has settled.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MiB (0.0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class FloodResult:
    sent: int
    results: collections.Counter = field(default_factory=collections.Counter)
    errors: int = 0
    peak_rss_mb: float = 0.0
    before_rss_mb: float = 0.0
    after_rss_mb: float = 0.0
    seconds: float = 0.0
    settled: bool = False  # the daemon's barrier came (empty outbox and queue, a fence answered after it)

    @property
    def lost(self) -> int:
        return self.sent - len(self.results)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.results.values() if n > 1)

    def summary(self) -> dict[str, Any]:
        return {"sent": self.sent, "answered": len(self.results), "lost": self.lost,
                "duplicates": self.duplicates, "errors": self.errors, "seconds": round(self.seconds, 1),
                "rss_before_mb": round(self.before_rss_mb, 1), "rss_peak_mb": round(self.peak_rss_mb, 1),
                "rss_after_mb": round(self.after_rss_mb, 1),
                "settled": self.settled}


def _client(port: int, cid: str) -> paho.Client:
    c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=cid, protocol=paho.MQTTv5)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def flood(port: int, base: str, pid: int, clients: int = 20, per_client: int = 1500,
          settle_timeout: float = 300.0) -> FloodResult:
    """Run the flood against a daemon (process `pid`) serving `base` on a broker at `port`."""
    out = FloodResult(sent=clients * per_client, before_rss_mb=rss_mb(pid))
    lock = threading.Condition()
    subscribed = threading.Event()
    healths: list[dict[str, Any]] = []  # live health messages (not the retained copy), in order
    fence = f"fence-{uuid.uuid4().hex}"
    fenced = threading.Event()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            rid = body.get("id")
        except (ValueError, AttributeError):
            return
        with lock:
            if msg.topic.endswith("/health"):
                if not msg.retain:
                    healths.append(body)
                    lock.notify_all()
            elif rid == fence:
                fenced.set()
            elif msg.topic.endswith("/error"):
                out.errors += 1
            elif isinstance(rid, str) and rid.startswith("flood-"):
                out.results[rid] += 1
                lock.notify_all()

    collector = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="flood-collector",
                            protocol=paho.MQTTv5)
    collector.on_message = on_message
    collector.on_subscribe = lambda *_a: subscribed.set()
    collector.connect("127.0.0.1", port)
    collector.loop_start()
    collector.subscribe([(f"{base}/result", 1), (f"{base}/error", 1), (f"{base}/health", 0)])
    assert subscribed.wait(10), "collector could not subscribe"

    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            out.peak_rss_mb = max(out.peak_rss_mb, rss_mb(pid))
            stop_sampling.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    pubs = [_client(port, f"flood-pub-{i}") for i in range(clients)]
    t0 = time.monotonic()

    def fire(i: int, c: paho.Client) -> None:
        for n in range(per_client):
            body = json.dumps({"id": f"flood-{i}-{n}", "text": "what is the weather like in paris tomorrow"})
            c.publish(f"{base}/request", body, qos=1)

    threads = [threading.Thread(target=fire, args=(i, c)) for i, c in enumerate(pubs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with lock:
        lock.wait_for(lambda: len(out.results) >= out.sent, settle_timeout)
    out.seconds = time.monotonic() - t0
    out.settled = _settle(collector, base, lock, healths, fence, fenced)
    stop_sampling.set()
    sampler.join()
    out.after_rss_mb = rss_mb(pid)
    for c in pubs:
        c.disconnect()
        c.loop_stop()
    collector.disconnect()
    collector.loop_stop()
    return out


def _settle(collector: paho.Client, base: str, lock: threading.Condition, healths: list[dict[str, Any]],
            fence: str, fenced: threading.Event, timeout: float = 60.0) -> bool:
    """The daemon's own barrier before counting duplicates and reading RSS, instead of a quiet spell:
    - a live health with nothing in the outbox or the queue: no replay is left to publish a row twice
      (a result still in paho's queue is covered by the fence below);
    - the next live health: the backlog's memory is given back right after the health publication
      that follows the drain (Service._housekeeping), so this one comes after it;
    - a fence request sent now is answered: the daemon publishes in order on one connection, so any
      result it queued before (a duplicate too) has reached the collector before the fence's."""
    deadline = time.monotonic() + timeout
    left = lambda: max(0.0, deadline - time.monotonic())  # noqa: E731
    idle = lambda h: h.get("outbox") == 0 and h.get("queue_depth") == 0  # noqa: E731
    with lock:
        n = len(healths)  # only what the daemon says from now on: earlier ones predate the results
        if not lock.wait_for(lambda: any(idle(h) for h in healths[n:]), left()):
            return False
        first = next(i for i in range(n, len(healths)) if idle(healths[i]))
        if not lock.wait_for(lambda: len(healths) > first + 1, left()):
            return False
    body = json.dumps({"id": fence, "text": "what is the weather like in paris tomorrow"})
    collector.publish(f"{base}/request", body, qos=1)
    return fenced.wait(max(0.0, deadline - time.monotonic()))


def main() -> int:
    import tempfile

    from conftest import Broker, Daemon, daemon_config

    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_client = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = Broker(root / "broker", persistence=False).start()
        try:
            d = Daemon(root / "d", daemon_config(broker, root / "state", health={"interval_s": 5.0}))
            d.start()
            try:
                res = flood(broker.port, "edge/test", d.proc.pid, clients, per_client)  # type: ignore[union-attr]
                print(json.dumps(res.summary()))
            finally:
                d.stop()
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
