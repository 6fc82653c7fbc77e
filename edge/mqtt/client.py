"""paho's client with its per-packet I/O made cheaper, driven by the event loop (`link`).

The one module of edge that imports paho: `link` and `tools` take the paho names they use
from here, so pinning or replacing the broker library touches this file's imports only."""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.mqtt.packets import DISCONNECT, PUBACK, PUBLISH, decode_publish, publish_packet, whole_packet

# paho's names for the rest of the package (see the module docstring)
__all__ = ["CallbackAPIVersion", "Client", "MAX_INFLIGHT", "MAX_QUEUED", "PacketTypes", "Properties", "ReasonCode",
           "SubscribeOptions", "VariableByteIntegers", "paho"]

MAX_INFLIGHT = 200  # publications in flight, lowered to the broker's Receive Maximum on connect
# Publications paho may hold, in flight and queued behind the window. The link refuses more (its
# caller keeps them in the outbox on disk): a flood then costs disk, not memory, and paho's 65,535
# message ids cannot run out. paho's own limit sits a little higher, so the retained online/offline
# status still finds room when the link's share is full.
MAX_QUEUED = 1000
_PAHO_QUEUE_LIMIT = MAX_QUEUED + 64
_READ_SIZE = 65536
# Shared, read-only: our on_publish reads only the mid.
_PUBACK_REASONS = {code: ReasonCode(PacketTypes.PUBACK, identifier=code) for code in (0x00, 0x10)}
_PUBACK_PROPS = Properties(PacketTypes.PUBACK)
_PUBLISH_TABLES = Properties(PacketTypes.PUBLISH)  # paho's name and type tables, shared by _ReceivedProps


class _ReceivedProps(Properties):
    """A received PUBLISH's properties, as paho's `Properties` holds them (same attribute names, same
    str() and json()), without paho's per-object set-up: its __init__ builds three tables, and its
    unpack() walks all 27 property names for each property (about 60 us of a request's read on
    this VM, bench/hotpath.py); the tables are shared here, read-only."""

    types = _PUBLISH_TABLES.types
    names = _PUBLISH_TABLES.names
    properties = _PUBLISH_TABLES.properties

    def __init__(self) -> None:  # paho's __init__ is the cost avoided
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)


class _Received(paho.MQTTMessage):
    """A received PUBLISH as paho hands it to on_message, without the `MQTTMessageInfo` (and its
    threading.Condition) that paho builds for every message and only outgoing ones use; `info`
    is made if anyone asks for it."""

    def __init__(self, mid: int, topic: bytes) -> None:  # paho's __init__ is the cost avoided
        self.timestamp = 0.0
        self.state = paho.mqtt_ms_invalid
        self.dup = False
        self.mid = mid
        self._topic = topic
        self.payload: bytes | bytearray = b""
        self.qos = 0
        self.retain = False
        self.properties: Properties | None = None

    def __getattr__(self, name: str) -> object:
        if name == "info":
            self.info = paho.MQTTMessageInfo(self.mid)
            return self.info
        raise AttributeError(name)


# One Condition for every publication `Client.publish` makes itself. paho builds one (and its lock) per
# message, only for `MQTTMessageInfo.wait_for_publish`, which the daemon never calls (everything runs
# on its loop); a thread that does wait still wakes, at each completion, and checks its own message.
_PUBLISHED = threading.Condition()


class _SentInfo(paho.MQTTMessageInfo):
    """paho's MQTTMessageInfo of an outgoing message, sharing `_PUBLISHED` instead of its own Condition."""

    __slots__ = ()

    def __init__(self, mid: int) -> None:  # paho's __init__ is the cost avoided
        self.mid = mid
        self._published = False
        self._condition = _PUBLISHED
        self.rc = paho.MQTT_ERR_SUCCESS
        self._iterpos = 0

    def _set_as_published(self) -> None:
        with self._condition:
            self._published = True
            self._condition.notify_all()  # shared: every waiter re-checks its own message


class _Sent(paho.MQTTMessage):
    """An outgoing QoS 1 message with the fields paho's publish gives it, in one step."""

    __slots__ = ()

    def __init__(self, mid: int, topic: bytes, payload: bytes, retain: bool, properties: Properties | None) -> None:
        self.timestamp = paho.time_func()
        self.state = paho.mqtt_ms_invalid
        self.dup = False
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = 1
        self.retain = retain
        self.info = _SentInfo(mid)
        self.properties = properties


def _received(header: int, packet: bytes | bytearray) -> _Received | None:
    """paho's message for a PUBLISH that `packets.decode_publish` takes, else None (paho decodes it)."""
    pub = decode_publish(header, packet)
    if pub is None:
        return None
    props = _ReceivedProps()
    for name, value in pub.properties:
        object.__setattr__(props, name, value)
    msg = _Received(pub.mid, pub.topic)
    msg.dup = pub.dup
    msg.qos = pub.qos
    msg.retain = pub.retain
    msg.properties = props
    msg.payload = pub.payload
    return msg


class Client(paho.Client):
    """paho's client, with its per-packet I/O made cheaper; the link's event loop drives it.

    paho spends more CPU per request than the daemon's model does (py-spy, bench/profile.py):
    three recv() calls for every packet it reads, a send() for every packet it writes, a decode
    into ReasonCode and Properties objects for every PUBACK, and a walk over every unacknowledged
    publication on every PUBACK. The overrides below keep paho's protocol handling and state
    exactly as they are and only change how bytes come and go; each was measured with
    bench/levers.py (docs/performance.md):

    - `_sock_recv`: one recv() of up to 64 KiB, then packets are served from that buffer
      (`loop_read` goes on until the buffer is empty, since the selector cannot see it);
    - `_packet_read`: a packet that lies whole in that buffer is cut out of it at once and handed
      to paho's `_packet_handle` (paho reads each packet in three or more calls, byte by byte for
      its length); a packet split across reads takes paho's own path, which reads the buffer;
    - `_packet_write`: packets that need nothing done once written (QoS 1 PUBLISH, PUBACK,
      SUBSCRIBE...) go out in one send(); a QoS 0 PUBLISH or a DISCONNECT still goes alone,
      so paho's bookkeeping for them runs as before;
    - `_handle_pubackcomp`: a PUBACK of success (0x00, or 0x10 "no matching subscribers")
      without properties, how brokers send nearly all of them, skips the decode;
    - `_update_inflight`: skipped when no publication waits for an in-flight slot (paho
      otherwise walks every unacknowledged one on every PUBACK);
    - `publish`: a QoS 1 publication that goes out at once (connected, a slot in the window, room
      in the queue) has its packet built in one expression and queued by paho's own
      `_packet_queue`, with paho's message state set as paho's `publish` sets it; anything else
      (QoS 0 or 2, no socket, the window full, paho logging) is paho's `publish`;
    - `_handle_publish`: a MQTT 5 PUBLISH at QoS 0 or 1 with only the properties a request carries
      (Response Topic, Correlation Data, Payload Format Indicator, Content Type, Message Expiry
      Interval) is decoded directly (`packets.decode_publish`), into the same message paho would hand
      on; anything else, and everything while paho logs, takes paho's own decode.

    (paho's threaded loop also wrote a byte to a wake-up socket for every packet queued; driven
    by an external loop it creates no such socket, so that saving comes for free.)

    All of them rely on paho 2's private methods (pinned in pyproject.toml);
    tests/test_link_io.py checks them against the installed paho."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rbuf = b""  # bytes read from the socket that paho has not asked for yet
        self._rpos = 0
        self._recv_budget = 1  # real recv() calls left in this turn (see loop_read)
        self.last_read_error: OSError | None = None  # why the socket last failed (a TLS alert, a reset)
        self.max_queued_messages_set(_PAHO_QUEUE_LIMIT)

    # -- reading ---------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            if self._recv_budget <= 0:
                raise BlockingIOError  # this turn has read its share: answer it first (paho: EAGAIN)
            self._recv_budget -= 1
            try:
                buf = super()._sock_recv(_READ_SIZE)  # raises BlockingIOError when nothing is there
            except BlockingIOError:
                raise
            except OSError as exc:  # paho turns it into "connection lost"; the link says why (TLS)
                self.last_read_error = exc
                raise
            if len(buf) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return buf
            pos = 0
        end = pos + bufsize
        self._rbuf, self._rpos = buf, end
        return buf[pos:end]

    def _packet_read(self) -> paho.MQTTErrorCode:
        if self._in_packet["command"] != 0:
            return super()._packet_read()  # a packet begun in an earlier read: paho goes on with it
        if self._rpos >= len(self._rbuf):  # refill, as paho's first recv of a packet would
            if self._recv_budget <= 0:
                return paho.MQTT_ERR_AGAIN
            self._recv_budget -= 1
            try:
                data = paho.Client._sock_recv(self, _READ_SIZE)
            except BlockingIOError:
                return paho.MQTT_ERR_AGAIN
            except OSError as exc:  # what paho answers for a failed first recv of a packet
                self.last_read_error = exc
                self._easy_log(paho.MQTT_LOG_ERR, "failed to receive on socket: %s", exc)
                return paho.MQTT_ERR_CONN_LOST
            if not data:
                return paho.MQTT_ERR_CONN_LOST
            self._rbuf, self._rpos = data, 0
        buf, pos = self._rbuf, self._rpos
        where = whole_packet(buf, pos)
        if where is None:
            return super()._packet_read()  # cut short by the read, or malformed: paho's path decides
        i, length, mult = where
        self._rpos = i + length
        self._in_packet = {"command": buf[pos], "have_remaining": 1, "remaining_count": list(buf[pos + 1:i]),
                           "remaining_mult": mult, "remaining_length": length, "packet": buf[i:i + length],
                           "to_process": 0, "pos": 0}
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(paho.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = paho.MQTT_ERR_PROTOCOL
        self._in_packet = {"command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
                           "remaining_length": 0, "packet": bytearray(b""), "to_process": 0, "pos": 0}
        with self._msgtime_mutex:
            self._last_bytes_received = paho.time_func()
        return rc

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        # One recv() of at most 64 KiB per turn. paho itself would read up to as many packets as it
        # has publications outstanding, each pulling more from the socket: in a flood one turn read
        # 13,714 requests before any was answered. Bounded, a turn's batch is what one read holds,
        # and what the kernel still has waits in the socket (the selector sees it at once next turn).
        self._recv_budget = 1
        rc = super().loop_read(max_packets)
        while rc == paho.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf) and self._sock is not None:
            rc = super().loop_read(max_packets)
        return rc

    def reconnect(self) -> paho.MQTTErrorCode:
        self._rbuf, self._rpos = b"", 0  # what the old socket held belongs to the old session
        self._recv_budget = 1
        self.last_read_error = None
        return super().reconnect()

    def _handle_pubackcomp(self, cmd: str) -> paho.MQTTErrorCode:  # type: ignore[override]
        packet = self._in_packet["packet"]
        n = len(packet)
        # MQTT 5 PUBACK: mid, then optionally a reason code, then optionally properties. The
        # fast path takes success codes (< 0x80: 0x00, or 0x10 "no matching subscribers") with no
        # properties; anything else (a refusal, properties, 3.1.1's PUBCOMP) gets paho's decode.
        if cmd != "PUBACK" or n > 4 or n < 2 or (n == 4 and packet[3]) or (n >= 3 and packet[2] >= 0x80):
            return super()._handle_pubackcomp(cmd)  # type: ignore[arg-type]
        mid = (packet[0] << 8) | packet[1]
        reason = _PUBACK_REASONS.get(packet[2] if n >= 3 else 0)
        if reason is None:
            return super()._handle_pubackcomp(cmd)  # type: ignore[arg-type]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, reason, _PUBACK_PROPS)
        return paho.MQTT_ERR_SUCCESS

    def _handle_publish(self) -> paho.MQTTErrorCode:
        msg = None
        if self._protocol == paho.MQTTv5 and self.on_log is None and self._logger is None:
            msg = _received(self._in_packet["command"], self._in_packet["packet"])
        if msg is None:
            return super()._handle_publish()
        msg.timestamp = paho.time_func()
        self._handle_on_message(msg)  # what paho does next for QoS 0 and 1
        if msg.qos == 0 or self._manual_ack:
            return paho.MQTT_ERR_SUCCESS
        return self._send_puback(msg.mid)

    def _update_inflight(self) -> paho.MQTTErrorCode:
        if len(self._out_messages) <= self._inflight_messages:
            return paho.MQTT_ERR_SUCCESS  # every publication is in flight: none is queued for a slot
        return super()._update_inflight()

    # -- writing ---------------------------------------------------------------------

    def publish(self, topic: str, payload: paho.PayloadType = None, qos: int = 0, retain: bool = False,
                properties: Properties | None = None) -> paho.MQTTMessageInfo:
        # The daemon's three publications a request cost about 20 us each in paho's publish (a
        # bytearray grown field by field, the payload re-checked, a log call per packet); here
        # the same packet and the same state in about a third of that (bench/hotpath.py).
        if (qos != 1 or type(payload) is not bytes or self._sock is None or self.on_log is not None
                or self._logger is not None or len(payload) > 268_435_000
                or (self._max_inflight_messages and self._inflight_messages >= self._max_inflight_messages)
                or (self._max_queued_messages and len(self._out_messages) >= self._max_queued_messages)):
            return super().publish(topic, payload, qos, retain, properties)
        topic_bytes = topic.encode("utf-8")
        self._raise_for_invalid_topic(topic_bytes)  # as paho: ValueError for a wildcard or a long topic
        mid = self._mid_generate()
        message = _Sent(mid, topic_bytes, payload, retain, properties)
        if self._protocol == paho.MQTTv5:
            props = b"\x00" if properties is None else properties.pack()
        else:
            props = b""
        packet = publish_packet(topic_bytes, mid, props, payload, retain)
        with self._out_message_mutex:
            if mid in self._out_messages:  # 65,535 publications unacknowledged: paho's answer
                message.info.rc = paho.MQTT_ERR_QUEUE_SIZE
                return message.info
            self._out_messages[mid] = message
            self._inflight_messages += 1
            message.state = paho.mqtt_ms_wait_for_puback
            message.info.rc = self._packet_queue(PUBLISH, packet, mid, 1, message.info)
        return message.info

    def _packet_write(self) -> paho.MQTTErrorCode:
        queue = self._out_packet
        if len(queue) > 1:
            parts: list[bytes | bytearray] = []
            while queue and len(parts) < 256:
                head = queue[0]
                kind = head["command"] & 0xF0
                if kind == DISCONNECT or (kind == PUBLISH and head["qos"] == 0):
                    break
                queue.popleft()
                parts.append(head["packet"][head["pos"]:] if head["pos"] else head["packet"])
            if parts:
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                # a PUBACK-typed entry: paho does nothing for it once written
                queue.appendleft({"command": PUBACK, "mid": 0, "qos": 1, "pos": 0, "to_process": len(data),
                                  "packet": data, "info": None})
        return super()._packet_write()

    def backlog(self) -> int:
        """Publications paho holds (in flight and queued behind the window)."""
        return len(self._out_messages)

    def flush(self) -> None:
        """Write what is queued now (the loop's writer would do it on its next turn)."""
        if self._out_packet and self._sock is not None:
            self.loop_write()
