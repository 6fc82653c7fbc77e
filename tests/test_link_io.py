"""edge.mqtt's I/O layer under paho (issue 17): buffered reads, coalesced writes, the read hook, Receive Maximum.

The link is driven by an event loop (issue 24): each test runs one on a thread (`LoopThread`) and
calls into the link there.

`edge.mqtt.client.Client` overrides a few of paho 2's private methods to cut its per-packet
cost; these tests run it against a real mosquitto and check that nothing is
lost, reordered or left unsent, and that the paho it is installed with still
has the methods it overrides (an upgrade that renamed one would otherwise
silently fall back to paho's own, or break).
"""

from __future__ import annotations

import inspect
import signal
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from conftest import Broker, daemon_config
from loopthread import LoopThread

from edge import config as cfg
from edge.mqtt import Link, Message
from edge.mqtt.client import Client

BASE = "edge/test"


def _settings(broker: Broker, tmp_path: Path) -> cfg.Settings:
    path = tmp_path / "link.toml"
    path.write_text(daemon_config(broker, tmp_path / "state"))
    return cfg.load(path)


class Recorder:
    """A link's callbacks: messages in arrival order, and how many each turn of paho's loop brought."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.turns: list[int] = []
        self._since = 0
        self.threads: set[int] = set()
        self.link: Link | None = None
        self.on_each: list = []

    def on_message(self, m: Message) -> None:
        self.threads.add(threading.get_ident())
        self.got.append(m)
        self._since += 1
        for f in self.on_each:
            f(m)

    def on_read_done(self) -> None:
        if self._since:
            self.turns.append(self._since)
            self._since = 0

    def wait(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a count the loop's thread writes
        assert len(self.got) >= n, f"{len(self.got)} of {n} messages arrived"


LT: LoopThread | None = None


def _start(link: Link) -> Link:
    """Start `link` on a fresh loop thread (one per test); `_stop` ends both."""
    global LT
    LT = LoopThread()
    LT.call(link.start, LT.loop)
    assert LT.call(link.wait_first_connect)
    return link


def _stop(link: Link) -> None:
    assert LT is not None
    LT.call(link.stop)
    LT.close()


def _on_loop(fn, *args):
    assert LT is not None
    return LT.call(fn, *args)


def _link(broker: Broker, tmp_path: Path, rec: Recorder) -> Link:
    link = Link(_settings(broker, tmp_path), on_message=rec.on_message, on_connect=lambda _p: None,
                on_read_done=rec.on_read_done)
    rec.link = link
    link.subscribe_on_connect(f"{BASE}/request", 1)
    return _start(link)


def test_the_paho_methods_the_link_overrides_still_exist_with_their_signatures() -> None:
    expected = {
        "_sock_recv": ["self", "bufsize"],
        "_packet_write": ["self"],
        "_handle_pubackcomp": ["self", "cmd"],
        "_update_inflight": ["self"],
        "_handle_publish": ["self"],
        "_handle_on_message": ["self", "message"],
        "_send_puback": ["self", "mid"],
        "_do_on_publish": ["self", "mid", "reason_code", "properties"],
        "loop_read": ["self", "max_packets"],
        "loop_write": ["self"],
        "loop_misc": ["self"],
        "reconnect": ["self"],
    }
    for name, params in expected.items():
        assert list(inspect.signature(getattr(paho.Client, name)).parameters) == params, name
        assert getattr(Client, name) is not getattr(paho.Client, name) or name in {"loop_write", "_do_on_publish",
                                                                                     "loop_misc", "_handle_on_message",
                                                                                     "_send_puback"}
    c = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
    for attr in ("_out_packet", "_in_packet", "_out_messages", "_inflight_messages", "_max_inflight_messages",
                 "_sock", "_out_message_mutex",
                 "_sockpairW", "_manual_ack", "_protocol", "_logger", "on_log"):
        assert hasattr(c, attr), attr
    for name in ("time_func", "mqtt_ms_invalid", "MQTTMessageInfo", "MQTTMessage"):  # what _decode_publish uses
        assert hasattr(paho, name), name
    # what _Sent and _SentInfo (Client.publish's messages) set in place of paho's __init__
    assert set(paho.MQTTMessage.__slots__) == {"_topic", "dup", "info", "mid", "payload", "properties", "qos",
                                               "retain", "state", "timestamp"}
    assert set(paho.MQTTMessageInfo.__slots__) == {"_condition", "_iterpos", "_published", "mid", "rc"}
    assert "notify" in inspect.getsource(paho.MQTTMessageInfo._set_as_published)


def test_a_burst_arrives_whole_in_order_and_is_handed_over_in_turns(broker, client_factory, tmp_path):
    rec = Recorder()
    rec.on_each.append(lambda m: rec.link.ack(m.mid, m.qos))
    link = _link(broker, tmp_path, rec)
    try:
        c = client_factory(broker)
        sizes = [10, 1, 300, 70_000, 5, 200_000, 127, 128, 16_383, 16_384, 2]  # across the 64 KiB read size
        payloads = [f"{i:05d}:".encode() + b"x" * sizes[i % len(sizes)] for i in range(400)]
        for p in payloads:
            c.publish(f"{BASE}/request", p, wait=False)
        rec.wait(len(payloads), timeout=20)
        assert [m.payload for m in rec.got] == payloads
        assert rec.threads == {LT.thread.ident}  # all on the loop's thread
        assert sum(rec.turns) == len(payloads) and max(rec.turns) > 1  # several messages to a turn
    finally:
        _stop(link)


def test_publications_made_on_the_network_thread_all_go_out_and_complete(broker, client_factory, tmp_path):
    """Published from on_message (on the loop, as the service does), with no wake-up byte:
    each is written, PUBACKed and completed, in order, and several go out in one send()."""
    rec = Recorder()
    done: list[str] = []
    link = _link(broker, tmp_path, rec)
    sends: list[int] = []
    orig_send = link._client._sock_send

    def counting_send(buf):
        sends.append(len(buf))
        return orig_send(buf)

    link._client._sock_send = counting_send  # type: ignore[method-assign]

    def answer(m: Message) -> None:
        for k in range(3):
            topic = f"{BASE}/out/{k}"
            link.publish(topic, m.payload, on_done=lambda t=topic, p=m.payload: done.append(f"{t}:{p.decode()}"))
        link.ack(m.mid, m.qos)

    rec.on_each.append(answer)
    try:
        c = client_factory(broker)
        box = c.subscribe(f"{BASE}/out/#")
        n = 60
        for i in range(n):
            c.publish(f"{BASE}/request", f"{i}".encode(), wait=False)
        rec.wait(n)
        got = [box.get(10) for _ in range(3 * n)]
        assert [int(g.payload) for g in got if g.topic.endswith("/0")] == list(range(n))
        deadline = time.monotonic() + 5
        while len(done) < 3 * n and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the completions the loop's thread appends
        assert len(done) == 3 * n and link.in_flight() == 0
        assert len(sends) < 3 * n + n  # coalesced: fewer send() calls than packets (3 PUBLISH + 1 PUBACK each)
        assert link._client._sockpairW is None  # no wake-up socket, so no byte written to one per packet
    finally:
        _stop(link)


def test_a_puback_with_a_reason_code_still_completes(broker, tmp_path):
    """mosquitto answers a publication nobody subscribes to with PUBACK 0x10 (No matching subscribers):
    three bytes, so paho's own decode handles it, and the publication completes all the same."""
    rec = Recorder()
    link = _link(broker, tmp_path, rec)
    try:
        done = threading.Event()
        assert _on_loop(lambda: link.publish(f"{BASE}/nobody/listens", b"{}", on_done=done.set))
        assert done.wait(5)
    finally:
        _stop(link)


def test_the_brokers_receive_maximum_bounds_publications_in_flight(tmp_path, client_factory):
    broker = Broker(tmp_path / "b", extra="max_inflight_messages 5").start()  # advertised as Receive Maximum 5
    try:
        s = _settings(broker, tmp_path)
        link = _start(Link(s, on_message=lambda m: None, on_connect=lambda _p: None))
        assert link._client._max_inflight_messages == 5
        peak = [0]
        done = threading.Semaphore(0)

        def one_done() -> None:
            peak[0] = max(peak[0], link._client._inflight_messages)
            done.release()

        box = client_factory(broker).subscribe(f"{BASE}/rm/#")
        assert all(_on_loop(lambda: [link.publish(f"{BASE}/rm/{i}", str(i).encode(), on_done=one_done)
                                     for i in range(100)]))
        for _ in range(100):
            assert done.acquire(timeout=10)
        assert 1 <= peak[0] <= 5 and link.in_flight() == 0
        assert [int(box.get(5).payload) for _ in range(100)] == list(range(100))  # each once, in order
        assert not link._client._out_messages
        _stop(link)
    finally:
        broker.stop()


def test_a_turn_hook_that_raises_is_counted_and_the_loop_goes_on(broker, client_factory, tmp_path, caplog):
    rec = Recorder()
    raised = [False]

    def hook() -> None:
        if rec.got and not raised[0]:
            raised[0] = True
            raise RuntimeError("boom")

    link = Link(_settings(broker, tmp_path), on_message=rec.on_message, on_connect=lambda _p: None,
                on_read_done=hook)
    link.subscribe_on_connect(f"{BASE}/request", 1)
    _start(link)
    try:
        c = client_factory(broker)
        c.publish(f"{BASE}/request", b"first")
        rec.wait(1)
        c.publish(f"{BASE}/request", b"after")
        rec.wait(2)
        assert raised[0] and link.callback_errors == 1 and link.connected
        assert "failed in the MQTT link" in caplog.text
    finally:
        _stop(link)


def test_packets_split_and_joined_across_reads_are_parsed_exactly(monkeypatch):
    """The read buffer against a real socket pair, no broker: PUBLISH packets cut at every byte
    boundary and several to a read all come out whole; a reconnect empties the buffer."""
    import socket

    c = Client.__new__(Client)  # only the state the read path needs
    paho.Client.__init__(c, callback_api_version=paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    c._rbuf, c._rpos = b"", 0
    got: list[bytes] = []
    c.on_message = lambda _c, _u, m: got.append(m.payload)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    c._sock = ours
    c._state = paho._ConnectionState.MQTT_CS_CONNECTED

    def publish_packet(payload: bytes) -> bytes:
        body = len(b"t/x").to_bytes(2, "big") + b"t/x" + payload  # QoS 0: no packet id
        n, rl = len(body), b""
        while True:
            n, d = n >> 7, n & 0x7F
            rl += bytes([d | (0x80 if n else 0)])
            if not n:
                return b"\x30" + rl + body

    payloads = [b"a", b"", b"x" * 127, b"y" * 128, b"z" * 70_000, b"end"]
    stream = b"".join(publish_packet(p) for p in payloads)
    for cut in (1, 2, 3, 5, 8, 131, 4096, len(stream)):
        got.clear()
        for i in range(0, len(stream), cut):
            theirs.sendall(stream[i:i + cut])
            while c.loop_read() == paho.MQTT_ERR_SUCCESS and ours in __import__("select").select([ours], [], [], 0)[0]:
                pass
        c.loop_read()
        assert got == payloads, cut
    c._rbuf, c._rpos = b"leftover", 0
    monkeypatch.setattr(paho.Client, "reconnect", lambda self: paho.MQTT_ERR_SUCCESS)
    c.reconnect()
    assert c._rbuf == b"" and c._rpos == 0
    ours.close()
    theirs.close()


def test_a_publication_the_broker_refuses_completes_and_is_counted_and_logged(tmp_path, caplog):
    """An ACL refusal (PUBACK 0x87 on MQTT 5) would be refused again: complete it, but say so."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite edge/test/#\n")
    broker = Broker(tmp_path / "b", extra=f"acl_file {acl}").start()
    try:
        link = _start(Link(_settings(broker, tmp_path), on_message=lambda m: None, on_connect=lambda _p: None))
        done = threading.Event()
        ok = threading.Event()
        assert _on_loop(lambda: link.publish("somewhere/else", b"{}", on_done=done.set))
        assert _on_loop(lambda: link.publish(f"{BASE}/fine", b"{}", on_done=ok.set))
        assert done.wait(5) and ok.wait(5)
        assert link.publish_refused == 1 and "refused a publication" in caplog.text
        _stop(link)
    finally:
        broker.stop()


def test_publications_queued_beyond_the_window_survive_a_broker_restart(tmp_path):
    """Queued in paho beyond Receive Maximum 5 when the broker goes away: after the reconnect paho
    requeues them, and every one still completes (the in-flight check must not skip them)."""
    broker = Broker(tmp_path / "b", extra="max_inflight_messages 5").start()
    try:
        fast = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.2}
        path = tmp_path / "link.toml"
        path.write_text(daemon_config(broker, tmp_path / "state", mqtt=fast))
        link = _start(Link(cfg.load(path), on_message=lambda m: None, on_connect=lambda _p: None))
        done = threading.Semaphore(0)
        broker.proc.send_signal(signal.SIGSTOP)  # no PUBACK comes: 5 go out, the rest wait in paho
        try:
            assert all(_on_loop(lambda: [link.publish(f"{BASE}/rs/{i}", b"{}", on_done=done.release)
                                         for i in range(300)]))
            c = link._client
            deadline = time.monotonic() + 10
            while c._inflight_messages < 5 and time.monotonic() < deadline:  # the window fills
                time.sleep(0.01)  # polling paho's window as it fills
            # 5 sent and unacknowledged, the rest (ours, and the status it may still owe) queued for a slot
            assert c._inflight_messages == 5 and len(c._out_messages) - 5 >= 295
        finally:
            broker.proc.kill()  # the connection drops with them still queued
            broker.proc.wait()
        broker.start()
        for i in range(300):
            assert done.acquire(timeout=20), f"{i} of 300 completed"
        assert link.in_flight() == 0 and not link._client._out_messages
        _stop(link)
    finally:
        broker.stop()


def test_the_paho_client_knows_nothing_of_the_link() -> None:
    """No import circle (issue 24): client.py does not import link.py (it used to call
    `self._link._on_read_done`); the link passes what it wants called instead. Of edge it imports
    only edge/mqtt/packets.py (the wire format as bytes), a leaf that imports neither edge nor paho."""
    import ast

    import edge.mqtt.client as client_module
    import edge.mqtt.packets as packets_module

    def imports(module: object) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    assert {m for m in imports(client_module) if m.startswith("edge")} == {"edge.mqtt.packets"}
    assert not {m for m in imports(packets_module) if m.startswith(("edge", "paho"))}


def _publish_packet(topic: bytes, payload: bytes, *, qos: int = 1, mid: int = 7, props: bytes = b"",
                    flags: int = 0) -> tuple[int, bytes]:
    """(fixed header byte, what follows the remaining length) of a MQTT 5 PUBLISH."""
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    n, vbi = len(props), b""
    while True:
        n, d = n >> 7, n & 0x7F
        vbi += bytes([d | (0x80 if n else 0)])
        if not n:
            break
    return 0x30 | (qos << 1) | flags, body + vbi + props + payload


def _utf8(ident: int, text: bytes) -> bytes:
    return bytes([ident]) + len(text).to_bytes(2, "big") + text


def test_the_fast_publish_decode_gives_what_pahos_decode_gives_or_leaves_it_to_paho() -> None:
    """edge.mqtt.client decodes a request's PUBLISH itself (paho's Properties cost ~60 us a request):
    for every packet it takes, the message equals paho's own decode field by field (properties
    included, str() and json() too); every packet it does not take (QoS 2, a property outside its
    five, a duplicate, a value paho refuses, a truncated or malformed packet) is left to paho (None),
    which decodes it or raises as before."""
    from paho.mqtt import _packet
    from paho.mqtt.enums import MQTTProtocolVersion

    from edge.mqtt.client import _received as _decode_publish  # packets.decode_publish, as paho's message

    reply = _utf8(8, "bench/ré/reply".encode())
    corr = b"\x09\x00\x03\x00\xffz"
    taken = [
        _publish_packet(b"edge/x/request", b'{"text": "hi"}', props=reply + corr),
        _publish_packet(b"edge/x/request", b"", qos=0, props=b""),
        _publish_packet(b"t", b"p" * 300, flags=0x09, props=b"\x01\x01" + _utf8(3, b"application/json")
                        + b"\x02\x00\x00\x0e\x10" + corr + reply),  # dup, retain, all five
        _publish_packet(b"t", b"p", props=b"\x09\x00\x00"),  # empty Correlation Data
        _publish_packet("ü/topic".encode(), "é".encode() * 200, props=reply),  # 2-byte property length VBI
    ]
    for header, packet in taken:
        ours = _decode_publish(header, packet)
        theirs = _packet.decode_publish(header, packet, MQTTProtocolVersion.MQTTv5)
        assert ours is not None, packet
        assert (ours.topic, ours.mid, ours.qos, ours.dup, ours.retain, ours.payload) == (
            theirs.topic.decode(), theirs.mid, theirs.qos, theirs.dup, theirs.retain, theirs.payload)
        assert type(ours.payload) is bytes and type(ours._topic) is bytes
        assert ours.properties.json() == theirs.properties.json() and str(ours.properties) == str(theirs.properties)
        assert isinstance(ours.info, paho.MQTTMessageInfo) and ours.info.mid == ours.mid  # made on demand

    left = [
        _publish_packet(b"t", b"p", qos=2, props=reply),
        _publish_packet(b"t", b"p", props=b"\x23\x00\x01"),  # Topic Alias
        _publish_packet(b"t", b"p", props=b"\x26" + b"\x00\x01k\x00\x01v"),  # a User Property
        _publish_packet(b"t", b"p", props=b"\x0b\x05"),  # a Subscription Identifier
        _publish_packet(b"t", b"p", props=reply + reply),  # twice: paho refuses it
        _publish_packet(b"t", b"p", props=b"\x01\x02"),  # Payload Format Indicator 2: paho refuses it
        _publish_packet(b"t", b"p", props=_utf8(8, b"a\x00b")),  # NUL in a string: paho refuses it
        _publish_packet(b"t", b"p", props=_utf8(8, "\ufeff".encode())),
        _publish_packet(b"t", b"p", props=_utf8(8, b"\xed\xa0\x80")),  # an encoded surrogate
        _publish_packet(b"t", b"p", props=_utf8(8, b"\xff")),  # not UTF-8
        _publish_packet(b"", b"p"),  # an empty topic (with a Topic Alias, on MQTT 5)
        _publish_packet(b"t", b"p", props=b"\x08\x00\x09abc"),  # a string running past the properties
        _publish_packet(b"t", b"p", props=b"\x02\x00\x00"),  # a four-byte integer cut short
        _publish_packet(b"t", b"", props=b"\x01"),  # a byte property without its byte
        (0x32, b"\x00"),  # cut inside the topic length
        (0x32, b"\x00\x05ab"),  # a topic longer than the packet
        (0x32, b"\x00\x01t\x00"),  # cut inside the packet id
        (0x32, b"\x00\x01t\x00\x07\xff\xff\xff\xff\x01"),  # a properties length of five bytes
        (0x32, b"\x00\x01t\x00\x07\x7f"),  # a properties length past the packet
    ]
    for header, packet in left:
        assert _decode_publish(header, packet) is None, packet


def test_the_fast_publish_decode_is_what_on_message_gets_from_the_socket(monkeypatch):
    """Through the read path, against a real socket pair: a request's message reaches on_message
    decoded by edge (paho's decode is not called), a Topic Alias one by paho, and a malformed one
    still makes paho drop the connection as before."""
    import socket

    from paho.mqtt import _packet

    c = Client.__new__(Client)
    paho.Client.__init__(c, callback_api_version=paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5,
                         manual_ack=True)
    c._rbuf, c._rpos, c._recv_budget = b"", 0, 1
    c.last_read_error = None
    got: list[paho.MQTTMessage] = []
    c.on_message = lambda _c, _u, m: got.append(m)
    paho_calls: list[bytes] = []
    real = _packet.decode_publish
    monkeypatch.setattr(_packet, "decode_publish", lambda h, p, v: paho_calls.append(p) or real(h, p, v))
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    c._sock = ours
    c._state = paho._ConnectionState.MQTT_CS_CONNECTED

    def send(header: int, packet: bytes) -> None:
        theirs.sendall(bytes([header, len(packet)]) + packet)  # short packets: one-byte length
        c._recv_budget = 1
        c.loop_read()

    send(*_publish_packet(b"edge/x/request", b'{"text":"a"}', mid=9,
                          props=_utf8(8, b"r/1") + b"\x09\x00\x02ab"))
    assert not paho_calls and len(got) == 1
    m = got[0]
    assert (m.topic, m.payload, m.mid, m.qos, m.properties.ResponseTopic, m.properties.CorrelationData) == (
        "edge/x/request", b'{"text":"a"}', 9, 1, "r/1", b"ab")
    assert c._out_packet == type(c._out_packet)()  # manual ack: nothing sent for it yet
    send(*_publish_packet(b"edge/x/request", b"b", props=b"\x23\x00\x01"))
    assert len(paho_calls) == 1 and got[-1].payload == b"b" and got[-1].properties.TopicAlias == 1
    rc = None
    theirs.sendall(b"\x32\x03\x00\x05a")  # a topic longer than the packet
    c._recv_budget = 1
    rc = c.loop_read()
    assert rc != paho.MQTT_ERR_SUCCESS and len(got) == 2  # paho's MalformedPacket: the connection is dropped
    ours.close()
    theirs.close()


def test_the_fast_publish_queues_the_packet_and_state_pahos_publish_would() -> None:
    """edge.mqtt.client.Client.publish builds a QoS 1 packet itself: for each shape (short and long
    payloads across the remaining length's byte boundaries, retain, with and without properties,
    MQTT 5 and 3.1.1) the packet queued and the message state equal what paho's own publish makes;
    when the window is full, or at QoS 0, paho's publish runs (the message then waits in paho's queue)."""
    import socket

    from edge.mqtt.configure import JsonPublishProps

    def client(protocol: int, window: int = 0) -> Client:
        c = Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol)
        c.max_inflight_messages_set(window)
        c.on_socket_register_write = lambda *_a: None  # nothing is written: the queue is compared
        c._sock, _peer = socket.socketpair()
        c._state = paho._ConnectionState.MQTT_CS_CONNECTED
        return c

    def queued(c: Client) -> list[tuple]:
        return [(p["command"], p["mid"], p["qos"], bytes(p["packet"])) for p in c._out_packet]

    def state(c: Client) -> list[tuple]:
        return [(m.mid, m.topic, m.payload, m.qos, m.retain, m.state, m.properties is not None, m.info.rc)
                for m in c._out_messages.values()] + [c._inflight_messages]

    for protocol in (paho.MQTTv5, paho.MQTTv311):
        ours, theirs = client(protocol), client(protocol)
        for payload in (b"", b"x", b"y" * 100, b"z" * 127, b"w" * 16_500, b"v" * 2_100_000):
            for retain in (False, True):
                for props in (None, JsonPublishProps(None), JsonPublishProps(b"corr")):
                    if protocol != paho.MQTTv5 and props is not None:
                        continue
                    topic = "edge/t/résultat"
                    a = ours.publish(topic, payload, qos=1, retain=retain, properties=props)
                    b = paho.Client.publish(theirs, topic, payload, qos=1, retain=retain, properties=props)
                    assert (a.rc, a.mid) == (b.rc, b.mid) == (paho.MQTT_ERR_SUCCESS, b.mid)
        assert queued(ours) == queued(theirs) and state(ours) == state(theirs)

    ours, theirs = client(paho.MQTTv5, window=1), client(paho.MQTTv5, window=1)
    for c, publish in ((ours, ours.publish), (theirs, lambda *a, **k: paho.Client.publish(theirs, *a, **k))):
        publish("t/1", b"a", qos=1)
        publish("t/2", b"b", qos=1)  # beyond the window: queued in paho, not sent
        publish("t/3", b"c", qos=0)
    assert queued(ours) == queued(theirs) and state(ours) == state(theirs)
    assert [m.state for m in ours._out_messages.values()] == [paho.mqtt_ms_wait_for_puback, paho.mqtt_ms_queued]
    with pytest.raises(ValueError):
        client(paho.MQTTv5).publish("a/+/b", b"x", qos=1)  # paho's own check of a topic name


def test_a_fast_publication_has_pahos_info_and_can_still_be_waited_for() -> None:
    """Client.publish's messages share one Condition instead of paho's one per message: their info
    holds what paho's holds, and a thread waiting on one (paho's wait_for_publish) wakes once its
    PUBACK is read, while one waiting on another publication keeps waiting."""
    import socket

    from edge.mqtt.client import _Sent, _SentInfo

    ref = paho.MQTTMessageInfo(7)
    ours = _SentInfo(7)
    for slot in paho.MQTTMessageInfo.__slots__:
        if slot != "_condition":
            assert getattr(ours, slot) == getattr(ref, slot), slot
    assert _Sent.__slots__ == () and _SentInfo.__slots__ == ()  # no per-message dict

    c = Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5)
    c.on_socket_register_write = lambda *_a: None
    c._sock, _peer = socket.socketpair()
    c._state = paho._ConnectionState.MQTT_CS_CONNECTED
    first, second = c.publish("t/1", b"a", qos=1), c.publish("t/2", b"b", qos=1)
    assert isinstance(first, _SentInfo) and not first.is_published()
    woke: list[str] = []
    waiters = [threading.Thread(target=lambda i=info, n=name: (i.wait_for_publish(5), woke.append(n)))
               for info, name in ((first, "first"), (second, "second"))]
    for t in waiters:
        t.start()
    c._in_packet["packet"] = first.mid.to_bytes(2, "big")  # the broker's PUBACK of the first
    assert c._handle_pubackcomp("PUBACK") == paho.MQTT_ERR_SUCCESS
    waiters[0].join(5)
    assert woke == ["first"] and first.is_published() and not second.is_published()
    c._in_packet["packet"] = second.mid.to_bytes(2, "big")
    c._handle_pubackcomp("PUBACK")
    waiters[1].join(5)
    assert woke == ["first", "second"] and second.is_published() and not c._out_messages


def test_whole_packets_in_the_read_buffer_are_cut_out_without_pahos_byte_by_byte_read(monkeypatch):
    """A read holding whole packets (a request, PUBACKs, a PINGRESP) is parsed by edge.mqtt.client
    without paho's _packet_read; a packet the read cut short is finished by paho's, on the next read;
    a length of five bytes is paho's protocol error, as before."""
    import socket

    c = Client.__new__(Client)
    paho.Client.__init__(c, callback_api_version=paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5,
                         manual_ack=True)
    c._rbuf, c._rpos, c._recv_budget, c.last_read_error = b"", 0, 1, None
    got: list[bytes] = []
    c.on_message = lambda _c, _u, m: got.append(m.payload)
    slow: list[int] = []
    real = paho.Client._packet_read
    monkeypatch.setattr(paho.Client, "_packet_read", lambda self: slow.append(1) or real(self))
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    c._sock = ours
    c._state = paho._ConnectionState.MQTT_CS_CONNECTED

    def wire(header: int, packet: bytes) -> bytes:
        n, rl = len(packet), b""
        while True:
            n, d = n >> 7, n & 0x7F
            rl += bytes([d | (0x80 if n else 0)])
            if not n:
                return bytes([header]) + rl + packet

    reqs = [wire(*_publish_packet(b"edge/x/request", b"r" * size, mid=k + 1, props=_utf8(8, b"re/ply")))
            for k, size in enumerate((5, 200, 20_000))]
    stream = reqs[0] + b"\xd0\x00" + reqs[1] + reqs[2]  # with a PINGRESP between them
    theirs.sendall(stream)
    assert c.loop_read() == paho.MQTT_ERR_SUCCESS
    assert got == [b"r" * 5, b"r" * 200, b"r" * 20_000] and not slow
    assert c._in_packet["command"] == 0 and c._rpos == len(c._rbuf)
    got.clear()
    theirs.sendall(reqs[1][:100])  # cut short: paho's path keeps what it has and waits for the rest
    c.loop_read()
    assert not got and slow
    theirs.sendall(reqs[1][100:] + reqs[0])
    c.loop_read()
    assert got == [b"r" * 200, b"r" * 5]
    theirs.sendall(b"\x32\xff\xff\xff\xff\x01")
    assert c.loop_read() == paho.MQTT_ERR_PROTOCOL
    ours.close()
    theirs.close()
