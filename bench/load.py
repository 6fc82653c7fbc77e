"""The load generator: QoS 1 requests with an MQTT 5 Response Topic, timed until the reply arrives.

One paho client per responder. Each request carries a fresh id (the daemon
keeps answered ids, and a repeated id would take its duplicate path) and an
8-byte sequence number as Correlation Data, so matching a reply costs no JSON
parsing here. Latency is measured from just before `publish()` to the reply's
arrival in `on_message`: the reply is the last of the responder's three
publications, so it covers parse, model, routing and all three QoS 1 sends.

Two shapes of load:
- closed loop, `window` requests in flight (a new one leaves as each reply
  lands): throughput at a fixed concurrency, and with window=1 the latency of
  an idle system;
- open loop at a fixed offered rate from a pacer thread: latency against load.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


@dataclass
class Stats:
    sent: int = 0
    done: int = 0
    elapsed_s: float = 0.0
    lat_ms: list[float] = field(default_factory=list)
    # CPU (user + system) the responder process used over whole runs, warm-ups and drains included, and
    # the replies those runs received: cpu_ms / replies is its CPU per request (bench/run.py fills these).
    cpu_ms: float = 0.0
    replies: int = 0
    broker_cpu_ms: float = 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return 1000 * self.cpu_ms / self.replies if self.replies else float("nan")

    @property
    def broker_us_per_request(self) -> float:
        return 1000 * self.broker_cpu_ms / self.replies if self.replies else float("nan")

    @property
    def throughput(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def p(self, q: float) -> float:
        return percentile(self.lat_ms, q)

    @property
    def lost(self) -> int:
        return self.sent - self.done


class LoadClient:
    def __init__(self, port: int, base: str, texts: list[str]) -> None:
        self.base = base
        self.request_topic = f"{base}/request"
        token = uuid.uuid4().hex[:10]
        self.reply_topic = f"bench/loadgen/{token}/reply"
        self.id_prefix = f"{token}-"
        self.texts = texts
        self.seq = 0
        self.lock = threading.Lock()
        self.sent_at: dict[int, float] = {}
        self.on_reply: Callable[[], None] | None = None  # closed loop: send the next request
        self.record: list[float] | None = None  # where latencies go while a measurement runs
        self.record_from = 0  # ...counting only requests with at least this sequence number
        self.last_reply = 0.0  # perf_counter of the latest recorded reply
        self.done = 0
        subscribed = threading.Event()
        c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"bench-load-{token}",
                        protocol=paho.MQTTv5)
        c.max_inflight_messages_set(0)  # unlimited: the generator must never be the window that limits
        c.max_queued_messages_set(0)
        c.on_socket_open = lambda _c, _u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.on_connect = lambda cl, *_a: cl.subscribe(self.reply_topic, qos=1)
        c.on_subscribe = lambda *_a: subscribed.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port, 30, clean_start=True)
        c.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("load generator: no SUBACK from the broker")
        self.client = c
        # Payloads are prepared up front: the generator's own JSON encoding stays out of the timing.
        self._bodies = [json.dumps({"text": t}) for t in texts]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def send(self) -> None:
        with self.lock:
            self.seq += 1
            seq = self.seq
        body = self._bodies[seq % len(self._bodies)]
        payload = ('{"id":"%s%d",' % (self.id_prefix, seq) + body[1:]).encode()
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = struct.pack(">Q", seq)
        t = time.perf_counter()
        with self.lock:
            self.sent_at[seq] = t
        self.client.publish(self.request_topic, payload, qos=1, properties=props)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        corr = getattr(msg.properties, "CorrelationData", None)
        if corr is None or len(corr) != 8:
            return
        seq = struct.unpack(">Q", corr)[0]
        with self.lock:
            t = self.sent_at.pop(seq, None)
            if t is None:
                return  # a duplicate (QoS 1 is at-least-once) or a reply from an earlier phase
            self.done += 1
            if self.record is not None and seq >= self.record_from:
                self.record.append((now - t) * 1000)
                self.last_reply = now
        cb = self.on_reply
        if cb is not None:
            cb()

    def outstanding(self) -> int:
        with self.lock:
            return len(self.sent_at)

    def drain(self, timeout: float) -> int:
        """Wait for outstanding replies; returns how many never came (then forgets them)."""
        deadline = time.monotonic() + timeout
        while self.outstanding() and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            lost = len(self.sent_at)
            self.sent_at.clear()
        return lost

    # -- shapes of load ------------------------------------------------------------------

    def closed_loop(self, window: int, duration_s: float, warmup_s: float) -> Stats:
        """Keep `window` requests in flight for warmup + duration; measure only after the warm-up."""
        running = threading.Event()
        running.set()
        lat: list[float] = []

        def next_one() -> None:
            if running.is_set():
                self.send()

        self.on_reply = next_one
        start_done = 0
        for _ in range(window):
            self.send()
        time.sleep(warmup_s)
        with self.lock:
            self.record_from = 0
            self.record = lat
            start_done = self.done
        t0 = time.perf_counter()
        time.sleep(duration_s)
        with self.lock:
            elapsed = time.perf_counter() - t0
            done = self.done - start_done
            self.record = None
        running.clear()
        self.on_reply = None
        self.drain(10)
        return Stats(sent=done, done=done, elapsed_s=elapsed, lat_ms=lat)

    def open_loop(self, rate: float, duration_s: float, warmup_s: float, drain_s: float = 15.0) -> Stats:
        """Offer `rate` requests/s; every request after the warm-up is timed.

        paho's background thread is paused and this thread runs the network loop itself between sends:
        publishing from a second thread would cost a socket-pair wake-up and a GIL hand-off per request,
        and the generator, not the responder, would saturate first (it did, at about 900/s here)."""
        self.on_reply = None
        lat: list[float] = []
        interval = 1.0 / rate
        n_warm = int(warmup_s * rate)
        n_total = n_warm + int(duration_s * rate)
        k = 0
        measured_from = None
        self.client.loop_stop()
        try:
            t_start = time.perf_counter()
            while k < n_total:
                now = time.perf_counter()
                due = t_start + k * interval
                if now < due:
                    self.client.loop(timeout=min(due - now, 0.002))  # read replies while waiting
                    continue
                if k == n_warm:
                    with self.lock:
                        self.record_from = self.seq + 1
                        self.record = lat
                    measured_from = now
                self.send()  # overdue requests go out back to back
                k += 1
            deadline = time.monotonic() + drain_s
            while self.outstanding() and time.monotonic() < deadline:
                self.client.loop(timeout=0.01)
        finally:
            self.client.loop_start()
        self.drain(1.0)
        with self.lock:
            self.record = None
            # Achieved = replies per second from the first timed send to the last timed reply: a responder
            # that falls behind stretches this window, so it reads below the offered rate.
            window = self.last_reply - (measured_from or t_start)
        n_meas = n_total - n_warm
        return Stats(sent=n_meas, done=len(lat), elapsed_s=window, lat_ms=lat)
