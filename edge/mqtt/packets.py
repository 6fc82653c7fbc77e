"""MQTT packets as bytes: the few the daemon reads and writes on every request, without paho.

edge/mqtt/client.py's `Client` hands paho's per-packet work for the common cases to these pure
functions (bytes in, plain values out) and wraps what they return in paho's own message objects;
anything they do not take (they answer None) goes to paho's code, as before. Kept apart so the
wire format can be read, and tested against paho's, without paho's client around it; this module
imports nothing of paho (edge/mqtt/client.py is the only one that does).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

PUBLISH, PUBACK, DISCONNECT = 0x30, 0x40, 0xE0
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
# The PUBLISH properties the fast decode takes (id: paho's attribute name, kind); any other (a Topic
# Alias, User Properties, Subscription Identifiers), or anything odd, goes to paho's own decode.
FAST_PROPS = {1: ("PayloadFormatIndicator", "byte"), 2: ("MessageExpiryInterval", "u32"),
              3: ("ContentType", "utf8"), 8: ("ResponseTopic", "utf8"), 9: ("CorrelationData", "bin")}


class Publish(NamedTuple):
    """A received PUBLISH, decoded: what paho's MQTTMessage and Properties are then given."""

    topic: bytes
    mid: int
    qos: int
    dup: bool
    retain: bool
    properties: list[tuple[str, object]]  # (paho's attribute name, value), in the packet's order
    payload: bytes


def decode_publish(header: int, packet: bytes | bytearray) -> Publish | None:
    """paho's decode of a MQTT 5 PUBLISH at QoS 0 or 1 whose properties are all in FAST_PROPS, or
    None for anything else (QoS 2, another property, a duplicate, a value paho would refuse, a
    malformed packet): paho then decodes it, and refuses what it refuses, as before."""
    qos = (header & 0x06) >> 1
    if qos > 1:
        return None
    try:
        (n,) = _U16.unpack_from(packet, 0)
        topic = bytes(packet[2:2 + n])
        pos = 2 + n
        if not n or len(topic) != n:
            return None  # an empty topic (a Topic Alias): paho's
        mid = 0
        if qos:
            (mid,) = _U16.unpack_from(packet, pos)
            pos += 2
        # the properties' length, a Variable Byte Integer
        plen = shift = 0
        for k in range(4):
            b = packet[pos + k]
            plen |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                pos += k + 1
                break
        else:
            return None
        end = pos + plen
        if end > len(packet):
            return None
        props: list[tuple[str, object]] = []
        seen: set[int] = set()
        while pos < end:
            ident = packet[pos]
            pos += 1
            spec = FAST_PROPS.get(ident)
            if spec is None or ident in seen:
                return None
            seen.add(ident)
            name, kind = spec
            value: object
            if kind == "byte":
                value = packet[pos]
                if value not in (0, 1) or pos + 1 > end:
                    return None
                pos += 1
            elif kind == "u32":
                if pos + 4 > end:
                    return None
                (value,) = _U32.unpack_from(packet, pos)
                pos += 4
            else:
                (n,) = _U16.unpack_from(packet, pos)
                if pos + 2 + n > end:
                    return None
                raw = bytes(packet[pos + 2:pos + 2 + n])
                pos += 2 + n
                if kind == "utf8":
                    value = raw.decode("utf-8")  # strict: an encoded surrogate raises, as in paho
                    if "\x00" in value or "\ufeff" in value:
                        return None  # paho refuses these ([MQTT-1.5.4-2], [MQTT-1.5.4-3])
                else:
                    value = raw
            props.append((name, value))
        if pos != end:
            return None
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return Publish(topic, mid, qos, bool(header & 0x08), bool(header & 0x01), props, bytes(packet[end:]))


def publish_packet(topic: bytes, mid: int, properties: bytes, payload: bytes, retain: bool) -> bytes:
    """A QoS 1 PUBLISH, whole: fixed header, topic, packet id, the packed properties (b"" for MQTT
    3.1.1), payload; byte for byte what paho's publish queues (tests/test_link_io.py)."""
    n = 4 + len(topic) + len(properties) + len(payload)  # topic length, topic, packet id, ...
    if n < 128:
        head: bytes | bytearray = bytes((0x32 | bool(retain), n))
    else:
        head = bytearray((0x32 | bool(retain),))
        while n:
            n, d = n >> 7, n & 0x7F
            head.append(d | 0x80 if n else d)
    return b"".join((head, len(topic).to_bytes(2, "big"), topic, mid.to_bytes(2, "big"), properties, payload))


def whole_packet(buf: bytes, pos: int) -> tuple[int, int, int] | None:
    """Where the packet at `pos` lies when it is whole in `buf`: (start of its variable part, its
    remaining length, the length field's multiplier as paho keeps it); None when the read cut it
    short, its length is malformed (over four bytes), or its first byte is 0: paho's path decides."""
    end = len(buf)
    i, length, shift = pos + 1, 0, 0
    while i < end and i - pos <= 4:  # the remaining length, at most four bytes
        b = buf[i]
        i += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    else:
        return None
    if i + length > end or not buf[pos]:
        return None
    return i, length, 1 << shift
