"""The floor: a bare paho responder that answers like the daemon, without a model or a router.

Per request on `<base>/request` (QoS 1, manual ack) it publishes what the
daemon publishes, in the daemon's order and at QoS 1: `<base>/result`,
`<base>/intent/<intent>`, and the reply to the MQTT 5 Response Topic with the
request's Correlation Data; it acknowledges the request only after the broker
has PUBACKed all three, as the daemon does. Same client settings as
edge/mqtt/link.py: MQTT 5, TCP_NODELAY, 200 in-flight publications, ReceiveMaximum
200, a retained `online` on `<base>/status` with an `offline` last will. It
answers from paho's network thread (no queue, no worker): the cheapest correct
responder, so daemon/echo ratios show what the daemon's own work costs.

    python bench/echo.py --port 1883 --base bench/echo
Prints nothing; sends READY=1 to $NOTIFY_SOCKET once subscribed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import threading
import time
from datetime import datetime, timezone

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def sd_notify(state: str) -> None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect("\0" + path[1:] if path.startswith("@") else path)
        s.send(state.encode())


class Echo:
    def __init__(self, host: str, port: int, base: str) -> None:
        self.base = base
        self.request_topic = f"{base}/request"
        self.status_topic = f"{base}/status"
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.pending: dict[int, list] = {}  # publication mid -> [remaining, request mid]
        self.early: set[int] = set()  # PUBACKs seen before publish() returned the mid
        self.ready = threading.Event()
        c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"bench-echo-{os.getpid()}",
                        protocol=paho.MQTTv5, manual_ack=True)
        c.max_inflight_messages_set(200)
        c.max_queued_messages_set(0)
        c.will_set(self.status_topic, b"offline", qos=1, retain=True)
        c.on_socket_open = lambda _c, _u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.on_connect = self.on_connect
        c.on_subscribe = lambda *_a: self.ready.set()
        c.on_message = self.on_message
        c.on_publish = self.on_publish
        self.client = c

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = 200
        self.client.connect(self.host, self.port, 30, clean_start=True, properties=props)
        self.client.loop_start()

    def on_connect(self, client: paho.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        client.subscribe(self.request_topic, qos=1)
        client.publish(self.status_topic, b"online", qos=1, retain=True)

    def on_message(self, client: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        t0 = time.perf_counter()
        raw = msg.payload
        try:
            req = json.loads(raw) if raw.lstrip()[:1] in (b"{", b"[") else {"text": raw.decode()}
        except ValueError:
            req = {"text": ""}
        intent = "echo"
        result = {
            "id": str(req.get("id") or ""), "text": str(req.get("text", "")), "intent": intent, "confidence": 1.0,
            "source": "edge", "escalated": False, "reason": "confident", "answer": None, "model": "echo@0",
            "latency_ms": (time.perf_counter() - t0) * 1000, "ts": datetime.now(timezone.utc).isoformat(),
        }
        payload = json.dumps(result, separators=(",", ":")).encode()
        props_in = getattr(msg, "properties", None)
        reply_to = getattr(props_in, "ResponseTopic", None) if props_in else None
        corr = getattr(props_in, "CorrelationData", None) if props_in else None
        pubs: list[tuple[str, Properties | None]] = [(f"{self.base}/result", None), (f"{self.base}/intent/{intent}", None)]
        if reply_to:
            p = Properties(PacketTypes.PUBLISH)
            if corr is not None:
                p.CorrelationData = corr
            pubs.append((reply_to, p))
        job = [len(pubs), msg.mid, msg.qos]
        for topic, props in pubs:
            info = client.publish(topic, payload, qos=1, properties=props)
            with self.lock:
                if info.mid in self.early:
                    self.early.discard(info.mid)
                    early = True
                else:
                    self.pending[info.mid] = job
                    early = False
            if early:
                self._one_done(job)

    def on_publish(self, _c: paho.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self.lock:
            job = self.pending.pop(mid, None)
            if job is None:
                self.early.add(mid)
                return
        self._one_done(job)

    def _one_done(self, job: list) -> None:
        with self.lock:
            job[0] -= 1
            last = job[0] == 0
        if last and job[2] > 0:
            self.client.ack(job[1], job[2])  # the request is acked only once all results are safe

    def stop(self) -> None:
        self.client.publish(self.status_topic, b"offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--base", default="bench/echo")
    args = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    echo = Echo(args.host, args.port, args.base)
    echo.start()
    if not echo.ready.wait(30):
        raise SystemExit("echo: no SUBACK within 30 s")
    sd_notify("READY=1")
    stop.wait()
    echo.stop()


if __name__ == "__main__":
    main()
