"""The daemon's per-request work, step by step, with its real components (no broker).

    .venv/bin/python bench/hotpath.py [--model DIR]

What edge/pipeline.py does for each request between paho's callback and the
three publishes (and what paho does for them inside the daemon, edge/mqtt/client.py's Client on a
socket pair), timed one step at a time (median µs over many calls), so a
gap between the daemon and the echo floor can be pinned on a line of code. All of it runs on the daemon's
one asyncio loop (edge/service.py), in the turn that read the request; the last row is what one more
turn of that loop costs (a `call_soon` callback), which no request pays today.
Outbox runs on a real SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))


from edge import contract, results  # noqa: E402
from edge.config import CloudSettings  # noqa: E402
from edge.health import Health  # noqa: E402
from edge.model import Model  # noqa: E402
from edge.mqtt.configure import JSON_PROPS, JsonPublishProps  # noqa: E402
from edge.outbox import Outbox  # noqa: E402
from edge.router import Router  # noqa: E402


def _val_texts() -> list[str]:
    p = ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json"
    return [t for t, _ in json.loads(p.read_text())["val"][::90]] if p.exists() else []


def median_us(fn: Callable[[int], object], n: int) -> float:
    for i in range(min(50, n)):
        fn(i)
    t = []
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn(i)
        t.append(clock() - t0)
    t.sort()
    return t[len(t) // 2] / 1000


def loop_turn_us(n: int = 3000) -> float:
    """One extra turn of an asyncio loop: a callback scheduled with call_soon and run (the price of
    handing work to 'later on the loop' instead of doing it in the turn that read the request)."""
    import asyncio

    loop = asyncio.new_event_loop()
    times: list[int] = []
    done = loop.create_future()

    def tick(t0: int, left: int) -> None:
        times.append(time.perf_counter_ns() - t0)
        if left:
            loop.call_soon(tick, time.perf_counter_ns(), left - 1)
        else:
            done.set_result(None)

    loop.call_soon(tick, time.perf_counter_ns(), n)
    loop.run_until_complete(done)
    loop.close()
    times.sort()
    return times[len(times) // 2] / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "clinc150")
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("--levers", default="", help="bench/variant.py levers to apply first (e.g. memcache)")
    args = ap.parse_args()
    if args.levers:
        sys.path.insert(0, str(BENCH))
        import variant

        variant.apply(set(args.levers.split(",")))
    n = args.n
    model = Model.load(args.model, threads=1)
    texts = ["turn on the kitchen lights", "what's the weather like in paris tomorrow", "set a timer for ten minutes",
             "how do i say good morning in german", "transfer fifty dollars from checking to savings"]
    payloads = [json.dumps({"id": f"r{i}", "text": texts[i % len(texts)]}).encode() for i in range(n + 100)]
    reqs = [contract.parse_request(p, 16384, "bench/reply", b"12345678") for p in payloads]
    pred = model.classify([texts[0]])[0]
    health = Health(model.ident)
    router = Router(CloudSettings(), model.escalation_threshold, cloud_configured=False)
    result = contract.encode(results.result_payload(reqs[0], intent=pred.intent, confidence=pred.confidence,
                                                     source="edge", escalated=False, reason="confident", answer=None,
                                                     model=model.ident, latency_ms=1.0))
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ob = Outbox(Path(tmp))
        ob.remember([(f"warm{i}", result) for i in range(5000)])  # a full answered cache, as in steady state
        rows.append(("contract.parse_request (json.loads + checks)", median_us(
            lambda i: contract.parse_request(payloads[i], 16384, "bench/reply", b"12345678"), n)))
        rows.append(("outbox.answered(id)  (SQLite SELECT, a miss)", median_us(lambda i: ob.answered(f"miss{i}"), n)))
        rows.append(("model.classify([text])  (batch of 1)", median_us(lambda i: model.classify([texts[i % 5]]), n)))
        batch32 = (_val_texts() or texts * 7)[:32]
        rows.append(("model.classify(32 texts) / 32", median_us(lambda i: model.classify(batch32), n // 32 + 20) / 32))
        rows.append(("router.decide", median_us(lambda i: router.decide(pred.intent, pred.confidence, None), n)))
        rows.append(("health.record_result", median_us(lambda i: health.record_result(1.0, False), n)))
        rows.append(("results.Result(...): the value and its payload bytes (result_bytes, ts)", median_us(
            lambda i: results.Result(reqs[i], pred.intent, pred.confidence, "edge", False, "confident", None,
                                     model.ident, 1.0 + i / 7, []), n)))
        value = results.Result(reqs[0], pred.intent, pred.confidence, "edge", False, "confident", None,
                                model.ident, 1.0)
        rows.append(("results.result_publications (topics and payloads from the Result value)",
                     median_us(lambda i: results.result_publications("edge/bench", value, 0.5), n)))
        rows.append(("slots: SlotExtractor.extract(text, intent)", median_us(_slots(model, texts, pred.intent), n)))
        rows.append(("PUBLISH properties as Link.publish packs them (edge.mqtt.configure.JsonPublishProps), x3",
                     median_us(lambda i: [(JSON_PROPS if c is None else JsonPublishProps(c)).pack()
                                          for c in (None, None, b"12345678")], n)))
        rows += _paho_rows(result, n)
        rows.append(("outbox.remember([1 result])  (SQLite txn, NORMAL)",
                     median_us(lambda i: ob.remember([(f"a{i}", result)]), n)))
        rows.append(("outbox.remember([32 results]) / 32",
                     median_us(lambda i: ob.remember([(f"b{i}-{k}", result) for k in range(32)]), n // 32 + 20) / 32))
        ob.close()
    rows.append(("one more turn of the asyncio loop (call_soon; not on the request path)", loop_turn_us()))
    import edge.model as em

    print(f"per-request steps of edge/pipeline.py, median µs ({model.ident}, {em.RUNTIME}"
          f"{' + ' + args.levers if args.levers else ''}, {n} calls each)\n")
    for name, us in rows:
        print(f"  {us:8.1f}  {name}")
    per_req = sum(us for name, us in rows if "/ 32" not in name and "turn of the asyncio loop" not in name)
    print(f"\n  {per_req:8.1f}  sum at 1 in flight (batch of 1), excluding the extra loop turn")


def _paho_rows(result: bytes, n: int) -> list[tuple[str, float]]:
    """paho's part, in the daemon's edge.mqtt.client.Client on a socket pair (no broker): the read of
    one request (a MQTT 5 PUBLISH with a Response Topic and Correlation Data) up to on_message, the
    three QoS 1 publications of its result and their one send, the read of their three PUBACKs, and
    the request's PUBACK. The socket calls are in (a loopback send costs more than a socket pair's)."""
    import socket
    import struct

    from edge.mqtt.client import CallbackAPIVersion, Client, paho

    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    c = Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench", protocol=paho.MQTTv5,
               manual_ack=True)
    c.max_inflight_messages_set(200)
    c._sock = ours
    c._state = paho._ConnectionState.MQTT_CS_CONNECTED
    got: list[paho.MQTTMessage] = []
    c.on_message = lambda _c, _u, m: got.append(m)
    reply, corr, topic = b"bench/loadgen/0123456789/reply", b"12345678", b"edge/bench/request"
    props = b"\x08" + struct.pack("!H", len(reply)) + reply + b"\x09" + struct.pack("!H", len(corr)) + corr
    body = b'{"id":"0123456789-17","text":"what is the weather like tomorrow"}'

    def request(mid: int) -> bytes:
        var = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + bytes([len(props)]) + props + body
        assert 128 <= len(var) < 16384
        return bytes([0x32, len(var) & 0x7F | 0x80, len(var) >> 7]) + var  # a two-byte remaining length

    def drain() -> None:
        while True:
            try:
                theirs.recv(65536)
            except BlockingIOError:
                return

    times: dict[str, list[int]] = {k: [] for k in ("read", "publish", "puback", "ack")}
    clock = time.perf_counter_ns
    for i in range(n + 50):
        theirs.send(request(i % 60000 + 1))
        t0 = clock()
        c.loop_read()
        t1 = clock()
        m = got.pop()
        mids = [c.publish(t, result, qos=1, properties=JSON_PROPS if k is None else JsonPublishProps(k)).mid
                for t, k in (("edge/bench/result", None), ("edge/bench/intent/weather", None),
                             (reply.decode(), corr))]
        c.flush()
        t2 = clock()
        drain()
        theirs.send(b"".join(b"\x40\x02" + struct.pack("!H", mid) for mid in mids))
        t3 = clock()
        c.loop_read()
        t4 = clock()
        c.ack(m.mid, 1)
        c.flush()
        t5 = clock()
        drain()
        if i >= 50:
            for k, a, b in (("read", t0, t1), ("publish", t1, t2), ("puback", t3, t4), ("ack", t4, t5)):
                times[k].append(b - a)
    ours.close()
    theirs.close()
    med = {k: sorted(v)[len(v) // 2] / 1000 for k, v in times.items()}
    return [("paho: read one request PUBLISH (recv, decode, on_message)", med["read"]),
            ("paho: its three QoS 1 publications and their one send", med["publish"]),
            ("paho: read their three PUBACKs (recv, on_publish)", med["puback"]),
            ("paho: the request's PUBACK and its send", med["ack"])]


def _slots(model: Model, texts: list[str], intent: str) -> Callable[[int], object]:
    from edge.service import load_slots

    ex = load_slots(model)
    if ex is None:
        return lambda i: None
    return lambda i: ex.extract(texts[i % len(texts)], intent)


if __name__ == "__main__":
    main()
