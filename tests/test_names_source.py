"""edge/names_source.py: the names fetched from Home Assistant at start and refreshed on a real event loop,
against a small real websocket server (FakeHA, below) that speaks Home Assistant's auth and the few
commands edge/names_ha.py sends, and that can be down, refuse the token, change the home, or turn hostile.

The daemon with it (MQTT, Wyoming, health, exit codes) is tests/test_names_source_daemon.py; the fetch
against a real Home Assistant is tests/test_names_ha.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port
from edge import config as cfg
from edge import names_source
from edge.names_ha import TokenRefused, websocket_url
from edge.names_source import NamesSource, NamesSourceError

TOKEN = "good-token"
ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_names.yaml"


def home(*entities: tuple[str, str, str | None, list[str]], areas: tuple[tuple[str, str], ...] = (
        ("kitchen", "Kitchen"), ("living_room", "Living Room"))) -> dict[str, Any]:
    """A home for FakeHA: entities as (entity_id, name, area_id, aliases), all exposed unless named `hidden`."""
    return {"areas": [{"area_id": a, "name": n, "aliases": [], "floor_id": None} for a, n in areas],
            "entities": [{"id": e, "name": n, "area": a, "aliases": al, "exposed": "hidden" not in e}
                         for e, n, a, al in entities]}


HOME = home(("light.kitchen_ceiling", "Kitchen Ceiling", "kitchen", []),
            ("light.floor_lamp", "Stehlampe", "living_room", ["Floor Lamp"]),
            ("switch.hidden_safe", "Secret Safe", "kitchen", []))


class FakeHA:
    """A loopback websocket server that answers like Home Assistant's /api/websocket: auth, then the
    registries, exposure and states of `self.home`. `mode` turns it hostile for the next connections:
    "huge" (a frame announcing 1 TiB), "garbage" (not JSON), "silent" (says nothing after auth)."""

    def __init__(self, home: dict[str, Any], port: int | None = None, token: str = TOKEN) -> None:
        self.home, self.token, self.mode = home, token, "ok"
        self.sessions = 0  # authenticated sessions: a fetch each
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port or 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(20)
                self._session(conn)
            except (OSError, ConnectionError, ValueError):
                pass

    def _session(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        key = [ln.split(b":", 1)[1].strip() for ln in data.split(b"\r\n")
               if ln.lower().startswith(b"sec-websocket-key")][0]
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        reader = _Reader(conn)
        _send(conn, {"type": "auth_required", "ha_version": "2024.1.6"})
        auth = reader.message()
        if auth.get("access_token") != self.token:
            _send(conn, {"type": "auth_invalid", "message": "Invalid access token or password"})
            return
        _send(conn, {"type": "auth_ok", "ha_version": "2024.1.6"})
        self.sessions += 1
        mode, h = self.mode, self.home
        while True:
            msg = reader.message()
            if mode == "huge":
                conn.sendall(bytes([0x81, 127]) + struct.pack("!Q", 1 << 40))
                return
            if mode == "garbage":
                conn.sendall(_frame(b"{not json"))
                return
            if mode == "silent":
                reader.message()  # never comes: the client gives up at its deadline
                return
            _send(conn, {"id": msg["id"], "type": "result", "success": True, "result": _result(h, msg)})


def _result(h: dict[str, Any], msg: dict[str, Any]) -> Any:
    kind = msg["type"]
    ents = h["entities"]
    if kind == "config/floor_registry/list":
        return h.get("floors", [])
    if kind == "config/area_registry/list":
        return h["areas"]
    if kind == "config/device_registry/list":
        return []
    if kind == "config/entity_registry/list":
        return [{"entity_id": e["id"], "name": None, "original_name": e["name"], "area_id": e["area"],
                 "device_id": None, "disabled_by": None} for e in ents]
    if kind == "homeassistant/expose_entity/list":
        return {"exposed_entities": {e["id"]: {"conversation": e["exposed"]} for e in ents}}
    if kind == "config/entity_registry/get_entries":
        return {e["id"]: {"aliases": e["aliases"]} for e in ents if e["id"] in msg["entity_ids"]}
    if kind == "get_states":
        return [{"entity_id": e["id"], "state": e.get("state", "off"), "attributes": {"friendly_name": e["name"]}} for e in ents]
    raise ValueError(kind)


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 1 << 16:
        return bytes([0x81, 126]) + struct.pack("!H", n) + payload
    return bytes([0x81, 127]) + struct.pack("!Q", n) + payload


def _send(conn: socket.socket, message: Any) -> None:
    conn.sendall(_frame(json.dumps(message).encode()))


class _Reader:
    """The client's frames (masked, as RFC 6455 wants), one text message at a time."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buf = conn, b""

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def message(self) -> Any:
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(n)))
        if b0 & 0x0F == 0x8:
            raise ConnectionError("client closed")
        return json.loads(payload)


@pytest.fixture
def ha():
    servers: list[FakeHA] = []

    def make(h: dict[str, Any] = HOME, port: int | None = None) -> FakeHA:
        servers.append(FakeHA(h, port))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _entities(source: NamesSource) -> set[str]:
    return {e.id for e in source.names.entities} if source.names is not None else set()


async def _until(cond: Any, timeout: float = 20.0) -> None:
    """Wait on a condition of the source (a counter, the names), polled on the loop that runs it."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


def test_the_first_fetch_brings_exposed_names_and_a_refresh_swaps_in_a_new_home(ha) -> None:
    server = ha()
    source = NamesSource(None, server.url, TOKEN, refresh_s=1)
    seen: list[Any] = []
    source.subscribe(seen.append)

    async def scenario() -> tuple[set[str], Any, set[str]]:
        await source.first()
        first, first_names = _entities(source), source.names
        server.home = home(("light.kitchen_ceiling", "Kitchen Ceiling", "kitchen", ["Deckenlicht"]),
                           ("light.desk", "Desk Lamp", "living_room", []))
        task = asyncio.create_task(source.run())
        await _until(lambda: "light.desk" in _entities(source))
        swapped, fetches = source.names, source.fetches
        server.home["entities"][0]["state"] = "on"  # a state changed, nothing that names resolve on
        await _until(lambda: source.fetches >= fetches + 2)
        assert source.names is swapped and seen[-1] is swapped and len(seen) == 2  # no rebuild, no swap
        task.cancel()
        return first, first_names, _entities(source)

    first, first_names, after = asyncio.run(scenario())
    source.close()
    assert first == {"light.kitchen_ceiling", "light.floor_lamp"}  # the hidden safe is never named
    assert after == {"light.kitchen_ceiling", "light.desk"}
    assert seen[-1] is source.names and seen[0] is first_names and first_names is not source.names  # whole, new
    # the old Names is untouched: a request that started on it finishes on it
    assert {e.id for e in first_names.entities} == first
    assert source.names.resolve({"name": "Deckenlicht"}, "de").slots == {"name": "Kitchen Ceiling"}
    h = source.health()
    assert h["source"] == "homeassistant" and h["entities"] == 2 and h["failures"] == 0 and h["fetches"] >= 2
    assert isinstance(h["fetched_at"], float)


def test_a_refused_token_at_start_is_an_error_the_caller_sees(ha) -> None:
    server = ha()
    source = NamesSource(None, server.url, "stolen", refresh_s=1)
    with pytest.raises(TokenRefused, match="refused the access token"):
        asyncio.run(source.first())
    source.close()
    assert source.names is None and source.health()["failures"] == 1


def test_a_token_revoked_while_running_keeps_the_names_and_the_refreshes_going(ha) -> None:
    server = ha()
    source = NamesSource(None, server.url, TOKEN, refresh_s=1)

    async def scenario() -> Any:
        await source.first()
        good = source.names
        server.token = "another"  # the user revoked ours
        task = asyncio.create_task(source.run())
        await _until(lambda: source.failures >= 2)
        server.token = TOKEN
        server.home = home(("light.desk", "Desk Lamp", "kitchen", []))
        await _until(lambda: source.failures == 0)
        assert not task.done()  # the refresh loop never ended
        task.cancel()
        return good

    good = asyncio.run(scenario())
    source.close()
    assert good is not source.names and _entities(source) == {"light.desk"} and source.failed_total >= 2


def test_home_assistant_down_at_start_keeps_the_file_then_picks_names_up_when_it_comes(ha, caplog) -> None:
    from edge import names as names_mod

    port = free_port()  # nothing listens yet
    file_names = names_mod.load(NAMES)
    source = NamesSource(file_names, f"ws://127.0.0.1:{port}/api/websocket", TOKEN, refresh_s=1)
    caplog.set_level(logging.INFO, logger="edge.names")

    async def scenario() -> tuple[Any, int]:
        await source.first()  # not fatal
        kept = source.names
        task = asyncio.create_task(source.run())
        await _until(lambda: source.failures >= 3, timeout=30)  # 1 s apart: refresh_s caps the backoff
        failures = source.failures
        ha(port=port)
        await _until(lambda: source.origin == "homeassistant", timeout=30)
        task.cancel()
        return kept, failures

    kept, failures = asyncio.run(scenario())
    source.close()
    assert kept is file_names and failures >= 3
    assert _entities(source) == {"light.kitchen_ceiling", "light.floor_lamp"}
    warnings = [r for r in caplog.records if "fetch failed" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once per streak, not once per retry
    assert "keeping the file names" in warnings[0].getMessage()
    assert any("fetched again after" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode, error", [("huge", "message over"), ("garbage", "not JSON"), ("silent", "timed out")])
def test_a_hostile_or_broken_refresh_keeps_the_last_good_names(ha, mode: str, error: str, monkeypatch) -> None:
    monkeypatch.setattr(names_source, "FETCH_TIMEOUT_S", 2.0)  # the silent server: the deadline, sooner
    server = ha()
    source = NamesSource(None, server.url, TOKEN, refresh_s=1)

    async def scenario() -> Any:
        await source.first()
        good = source.names
        server.mode = mode
        task = asyncio.create_task(source.run())
        await _until(lambda: source.failed_total >= 2, timeout=30)
        task.cancel()
        return good

    good = asyncio.run(scenario())
    source.close()
    assert source.names is good and source.origin == "homeassistant"
    assert error in source.health()["error"] and source.health()["failures"] >= 2


def test_a_home_over_the_item_limit_is_refused_whole(ha) -> None:
    big = home(*[(f"light.l{i}", f"Lamp {i}", "kitchen", []) for i in range(20001)])
    server = ha()
    source = NamesSource(None, server.url, TOKEN, refresh_s=1)

    async def scenario() -> Any:
        await source.first()
        good = source.names
        server.home = big
        task = asyncio.create_task(source.run())
        await _until(lambda: source.failed_total >= 1, timeout=60)
        task.cancel()
        return good

    good = asyncio.run(scenario())
    source.close()
    assert source.names is good and len(good.entities) == 2 and "20000" in source.health()["error"]


def test_the_backoff_doubles_from_five_seconds_up_to_refresh_s() -> None:
    source = NamesSource(None, "http://127.0.0.1:1", TOKEN, refresh_s=60)
    delays = []
    for failures in range(6):
        source.failures = failures
        delays.append(source.next_delay())
    assert delays == [60, 5, 10, 20, 40, 60]
    source.close()


def _settings(tmp_path: Path, body: str) -> Any:
    toml = tmp_path / "edge.toml"
    toml.write_text(body)
    return cfg.load(toml, None, {})


def test_config_the_url_needs_a_token_and_a_sane_url(tmp_path: Path) -> None:
    s = _settings(tmp_path, '[home]\nhomeassistant_url = "http://homeassistant.local:8123"\n')
    assert s.home.refresh_s == 300
    with pytest.raises(NamesSourceError, match=r"edge\.toml: home\.homeassistant_url: set, but there is no token"):
        names_source.build(s.home, dict(s.origins), {})
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ha_token").write_text("t0ken\n")
    built = names_source.build(s.home, dict(s.origins), {"CREDENTIALS_DIRECTORY": str(creds)})
    assert built is not None and built.fetching and built.names is None and built.origin == "none"
    built.close()
    assert names_source.build(_settings(tmp_path, "").home, {}, {}) is None  # neither: no source at all
    for bad, why in [('"ftp://ha.local"', "must start with http://, https://, ws:// or wss://"),
                     ('"http://user:pw@ha.local"', "must not carry credentials"),
                     ('"http://ha.local:99999"', "not a valid URL"), ('"ws://"', "has no host")]:
        with pytest.raises(cfg.ConfigError, match="home.homeassistant_url") as e:
            _settings(tmp_path, f"[home]\nhomeassistant_url = {bad}\n")
        assert why in str(e.value) and "edge.toml" in str(e.value)
    for bad in ("0", "100000", "nan"):
        with pytest.raises(cfg.ConfigError, match="home.refresh_s"):
            _settings(tmp_path, f"[home]\nrefresh_s = {bad}\n")


def test_the_websocket_url_is_derived_from_home_assistants_base() -> None:
    assert websocket_url("http://homeassistant.local:8123") == "ws://homeassistant.local:8123/api/websocket"
    assert websocket_url("https://ha.example/") == "wss://ha.example/api/websocket"
    assert websocket_url("wss://ha.example/api/websocket") == "wss://ha.example/api/websocket"
