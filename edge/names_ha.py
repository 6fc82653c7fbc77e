"""The home's names from a running Home Assistant: its exposed entities, areas, floors and aliases.

Read over Home Assistant's websocket API with a long-lived access token (a
systemd credential, `ha_token`, or EDGE_HOME_HA_TOKEN), by a small RFC 6455
client on the standard library, so the daemon gains no dependency. The result
goes through the same validation as a names file (edge/names_file.py), so a
fetched home and a file are one thing to the resolver.

Only entities exposed to Assist ("conversation" in Home Assistant's expose
settings) are kept: Home Assistant's Wyoming agent does not apply exposure
itself, so a name outside this set must never reach a result. An entity
whose exposure was never decided counts as not exposed. Names are what
Assist matches: the state's friendly_name, else the registry's name. An
entity's area is its own, else its device's. Floors came with Home Assistant
2024.4; an older one (no `config/floor_registry/list`) gives none.

Blocking by design: the daemon calls `fetch` on an executor and swaps the
returned Names in whole (a refresh replaces, never edits).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time
from typing import Any, Mapping
from urllib.parse import urlsplit

from edge.config_env import read_secret
from edge.names import Names
from edge.names_file import MAX_NAME_CHARS, NamesData, NamesError, parse

MAX_MESSAGE_BYTES = 16 << 20  # get_states of a large home is a few MiB; parsed, 16 MiB is ~150 MB: under a Pi's MemoryMax
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HomeAssistantError(Exception):
    """Home Assistant could not be reached, refused the token, or answered something unusable."""


class TokenRefused(HomeAssistantError):
    """Home Assistant answered and refused the access token (auth_invalid): waiting will not help,
    unlike a Home Assistant that is down or still booting."""


class WebSocket:
    """A minimal RFC 6455 client: one text message at a time, masked frames out, pings answered."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise HomeAssistantError(f"not a websocket URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        self.deadline = time.monotonic() + timeout
        try:
            sock = socket.create_connection((parts.hostname, port), timeout=timeout)
            if parts.scheme == "wss":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        except OSError as e:
            raise HomeAssistantError(f"cannot connect to {parts.hostname}:{port}: {e}") from None
        self.sock = sock
        self.buf = b""
        key = base64.b64encode(os.urandom(16))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        self._send_raw(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = self._read_until(b"\r\n\r\n", 16384).decode("latin-1")
        status = head.split("\r\n", 1)[0]
        if " 101 " not in f"{status} ":
            raise HomeAssistantError(f"websocket upgrade refused: {status[:80]!r}")
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()  # noqa: S324 - RFC 6455
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head.split("\r\n")[1:])}
        if headers.get("sec-websocket-accept") != accept:
            raise HomeAssistantError("websocket upgrade: wrong Sec-WebSocket-Accept")

    def close(self) -> None:
        try:
            self._frame(0x8, struct.pack("!H", 1000))
        except (OSError, HomeAssistantError):
            pass
        self.sock.close()

    def _timeout(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise HomeAssistantError("timed out")
        self.sock.settimeout(left)

    def _send_raw(self, data: bytes) -> None:
        self._timeout()
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise HomeAssistantError(f"send failed: {e}") from None

    def _recv(self) -> bytes:
        self._timeout()
        try:
            chunk = self.sock.recv(65536)
        except OSError as e:
            raise HomeAssistantError(f"receive failed: {e}") from None
        if not chunk:
            raise HomeAssistantError("connection closed by Home Assistant")
        return chunk

    def _read_until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise HomeAssistantError("response header too long")
            self.buf += self._recv()
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read(self, n: int) -> bytes:
        parts, have = [self.buf], len(self.buf)
        while have < n:
            chunk = self._recv()
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self.buf = data[n:]
        return data[:n]

    def _frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self._send_raw(head + mask + _mask(payload, mask))

    def send(self, message: Mapping[str, Any]) -> None:
        self._frame(0x1, json.dumps(message).encode())

    def receive(self) -> Any:
        """The next text message, parsed; control frames are handled on the way."""
        parts: list[bytes] = []
        size = 0
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if b1 & 0x80:
                raise HomeAssistantError("server sent a masked frame")
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            if size + n > MAX_MESSAGE_BYTES:
                raise HomeAssistantError(f"message over {MAX_MESSAGE_BYTES} bytes")
            payload = self._read(n)
            if opcode == 0x9:  # ping
                self._frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                raise HomeAssistantError("Home Assistant closed the websocket")
            if opcode not in (0x0, 0x1, 0x2):
                raise HomeAssistantError(f"unknown websocket opcode {opcode}")
            parts.append(payload)
            size += n
            if b0 & 0x80:
                try:
                    return json.loads(b"".join(parts))
                except ValueError as e:
                    raise HomeAssistantError(f"not JSON: {e}") from None


def _mask(payload: bytes, mask: bytes) -> bytes:
    # XOR as one big integer: a per-byte Python loop would cost milliseconds per 100 KiB
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class Session:
    """An authenticated websocket session with Home Assistant: `call(type, **fields)` -> result."""

    def __init__(self, url: str, token: str, timeout: float = 15.0) -> None:
        if not token:
            raise HomeAssistantError("no access token (EDGE_HOME_HA_TOKEN or the ha_token credential)")
        self.ws = WebSocket(url, timeout)
        self.next_id = 1
        try:
            first = self.ws.receive()
            if not isinstance(first, dict) or first.get("type") != "auth_required":
                raise HomeAssistantError(f"not Home Assistant's websocket API (first message {str(first)[:60]!r})")
            self.ws.send({"type": "auth", "access_token": token})
            reply = self.ws.receive()
            if not isinstance(reply, dict) or reply.get("type") != "auth_ok":
                raise TokenRefused("Home Assistant refused the access token")
            self.version = str(reply.get("ha_version", ""))
        except BaseException:
            self.ws.close()
            raise

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.ws.close()

    def call(self, kind: str, **fields: Any) -> Any:
        """Send one command and wait for its result; raises HomeAssistantError on failure."""
        msg_id, self.next_id = self.next_id, self.next_id + 1
        self.ws.send({"id": msg_id, "type": kind, **fields})
        while True:
            reply = self.ws.receive()
            if isinstance(reply, dict) and reply.get("id") == msg_id and reply.get("type") == "result":
                if not reply.get("success"):
                    err = reply.get("error") or {}
                    raise HomeAssistantError(f"{kind}: {err.get('code', '?')}: {str(err.get('message', ''))[:120]}")
                return reply.get("result")

    def try_call(self, kind: str, **fields: Any) -> Any:
        """call(), but None when Home Assistant does not know the command (an older version)."""
        try:
            return self.call(kind, **fields)
        except HomeAssistantError as e:
            if ": unknown_command:" in str(e):
                return None
            raise


def read_token(environ: Mapping[str, str] | None = None) -> str:
    """The long-lived access token: EDGE_HOME_HA_TOKEN, else the systemd credential `ha_token`; "" if neither.
    Never a config file key: a token in a file gets copied around."""
    return read_secret("EDGE_HOME_HA_TOKEN", "ha_token", environ)


def _usable(name: Any) -> bool:
    return (isinstance(name, str) and bool(name.strip()) and len(name) <= MAX_NAME_CHARS
            and name.isprintable())


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def websocket_url(url: str) -> str:
    """Home Assistant's websocket URL from its base (http(s)://host:8123 -> ws(s)://host:8123/api/websocket);
    a ws(s):// URL is taken as it is."""
    ws_url = url.rstrip("/")
    if ws_url.startswith(("http://", "https://")):
        ws_url = "ws" + ws_url[4:] + "/api/websocket"
    return ws_url


def fetch_data(url: str, token: str, timeout: float = 15.0) -> NamesData:
    """Home Assistant's exposed entities, areas, floors and aliases, as validated NamesData.

    `url` is Home Assistant's base (http://homeassistant.local:8123) or its websocket URL."""
    ws_url = websocket_url(url)
    source = urlsplit(ws_url)._replace(query="", fragment="").geturl()
    warnings: list[str] = []
    with Session(ws_url, token, timeout) as ha:
        floors = ha.try_call("config/floor_registry/list") or []
        areas = _list(ha.call("config/area_registry/list"))
        devices = {d.get("id"): d for d in _list(ha.call("config/device_registry/list")) if isinstance(d, dict)}
        registry = {e.get("entity_id"): e for e in _list(ha.call("config/entity_registry/list")) if isinstance(e, dict)}
        exposed_map = (ha.call("homeassistant/expose_entity/list") or {}).get("exposed_entities") or {}
        exposed = sorted(eid for eid, a in exposed_map.items() if isinstance(a, dict) and a.get("conversation") is True)
        extended = ha.try_call("config/entity_registry/get_entries", entity_ids=[e for e in exposed if e in registry])
        states = {s.get("entity_id"): s for s in _list(ha.call("get_states")) if isinstance(s, dict)}
    extended = extended if isinstance(extended, dict) else {}
    doc: dict[str, Any] = {
        "floors": [{"id": f.get("floor_id"), "name": f.get("name"), "aliases": sorted(_list(f.get("aliases")))}
                   for f in _list(floors) if isinstance(f, dict)],
        "areas": [{"id": a.get("area_id"), "name": a.get("name"), "aliases": sorted(_list(a.get("aliases"))),
                   **({"floor": a["floor_id"]} if a.get("floor_id") else {})} for a in areas if isinstance(a, dict)],
        "entities": [],
    }
    for eid in exposed:
        state = states.get(eid)
        entry = registry.get(eid) or {}
        if state is None or entry.get("disabled_by"):
            continue  # no state: nothing Home Assistant could act on
        attrs = state.get("attributes") if isinstance(state.get("attributes"), dict) else {}
        name = attrs.get("friendly_name") or entry.get("name") or entry.get("original_name")
        if not _usable(name):
            warnings.append(f"{source}: {eid}: skipped, its name {str(name)[:40]!r} is unusable")
            continue
        area = entry.get("area_id") or (devices.get(entry.get("device_id")) or {}).get("area_id")
        aliases = [a for a in _list((extended.get(eid) or {}).get("aliases")) if _usable(a)]
        item: dict[str, Any] = {"id": eid, "name": name, "aliases": sorted(aliases), "state": state.get("state")}
        if area:
            item["area"] = area
        if isinstance(attrs.get("device_class"), str):
            item["attributes"] = {"device_class": attrs["device_class"]}
        doc["entities"].append(item)
    try:
        data = parse(doc, source)
    except NamesError as e:
        raise HomeAssistantError(f"Home Assistant's names do not validate: {e}") from None
    return NamesData(data.source, data.floors, data.areas, data.entities, (*data.warnings, *warnings))


def fetch(url: str, token: str, timeout: float = 15.0) -> Names:
    """fetch_data, indexed: a Names to swap in whole."""
    return Names.from_data(fetch_data(url, token, timeout))
