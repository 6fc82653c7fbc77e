"""edge/names_ha.py against a real Home Assistant (2024.1.6, its own venv) and against servers that misbehave.

Home Assistant runs as a real process on a loopback port with a template-only
configuration; the test creates the owner through the onboarding API, a
long-lived token through the websocket API, areas and aliases through the
registries, and decides exposure per entity. The venv is found through
EDGE_TEST_HASS (the `hass` executable) or at .venv-ha/bin/hass, which
`scripts/ha-venv` makes (CI runs it); without one the Home Assistant tests
skip. The venv is its own: Home Assistant pins versions the daemon's venv must
not get; it runs with --skip-pip, so the requirements of onboarding's
dependencies are installed up front.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import free_port, wait_port
from edge.names import Names, Resolution
from edge.names_ha import HomeAssistantError, Session, fetch, read_token

HASS = os.environ.get("EDGE_TEST_HASS") or str(Path(__file__).resolve().parent.parent / ".venv-ha" / "bin" / "hass")

CONFIG = """
homeassistant:
  name: Edge Test Home
  latitude: 52.5
  longitude: 13.4
  elevation: 30
  unit_system: metric
  time_zone: UTC
  country: DE
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
websocket_api:
config:
onboarding:
auth:
light:
  - platform: template
    lights:
{lights}
cover:
  - platform: template
    covers:
      garage_door:
        unique_id: edge_garage_door
        friendly_name: Garage Door
        device_class: garage
        open_cover: []
        close_cover: []
switch:
  - platform: template
    switches:
      coffee_maker:
        unique_id: edge_coffee_maker
        friendly_name: Coffee Maker
        turn_on: []
        turn_off: []
      secret_safe:
        unique_id: edge_secret_safe
        friendly_name: Secret Safe
        turn_on: []
        turn_off: []
"""
LIGHTS = {"kitchen_ceiling": "Kitchen Ceiling", "counter": "Counter Lights", "stehlampe": "Stehlampe",
          "cellar": "Cellar Light"}


def _post(url: str, data: dict[str, Any], form: bool = False) -> Any:
    body = urllib.parse.urlencode(data).encode() if form else json.dumps(data).encode()
    ctype = "application/x-www-form-urlencoded" if form else "application/json"
    req = urllib.request.Request(url, body, {"Content-Type": ctype}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _wait_onboarding(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        text = log.read_text(errors="replace")
        assert "Setup failed for 'onboarding'" not in text and "Setup failed for 'config'" not in text, text[-3000:]
        try:
            with urllib.request.urlopen(f"{base}/api/onboarding", timeout=5) as r:
                steps = json.loads(r.read())
                if any(s.get("step") == "user" for s in steps):
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling a condition (Home Assistant up), not waiting a fixed time
    raise AssertionError("Home Assistant did not come up:\n" + log.read_text()[-3000:])


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not (Path(HASS).exists() or shutil.which(HASS)):
        pytest.skip(f"no Home Assistant at {HASS} (EDGE_TEST_HASS; pip install homeassistant==2024.1.6 in a venv)")
    cfg = tmp_path_factory.mktemp("ha")
    port = free_port()
    lights = "".join(f"      {k}:\n        unique_id: edge_{k}\n        friendly_name: {v}\n"
                     f"        turn_on: []\n        turn_off: []\n" for k, v in LIGHTS.items())
    (cfg / "configuration.yaml").write_text(CONFIG.format(port=port, lights=lights))
    log = cfg / "hass.log"
    proc = subprocess.Popen([HASS, "-c", str(cfg), "--skip-pip"], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_port(port, timeout=240)
        _wait_onboarding(base, proc, log)
        client_id = f"{base}/"
        code = _post(f"{base}/api/onboarding/users", {"client_id": client_id, "name": "Owner", "username": "owner",
                                                     "password": "correct horse battery", "language": "en"})
        tokens = _post(f"{base}/auth/token", {"grant_type": "authorization_code", "code": code["auth_code"],
                                              "client_id": client_id}, form=True)
        with Session(f"ws://127.0.0.1:{port}/api/websocket", tokens["access_token"]) as ha:
            token = ha.call("auth/long_lived_access_token", client_name="edge names test", lifespan=30)
            # onboarding made Living Room, Kitchen and Bedroom already: those get aliases, the rest is created
            existing = {a["name"]: a["area_id"] for a in ha.call("config/area_registry/list")}
            areas = {}
            for name, aliases in [("Kitchen", ["Küche", "cuisine"]), ("Living Room", ["Wohnzimmer"]),
                                  ("Basement", [])]:
                if name in existing:
                    areas[name] = ha.call("config/area_registry/update", area_id=existing[name],
                                          aliases=aliases)["area_id"]
                else:
                    areas[name] = ha.call("config/area_registry/create", name=name, aliases=aliases)["area_id"]
            place = {"light.kitchen_ceiling": ("Kitchen", ["Deckenlicht"]), "light.counter": ("Kitchen", []),
                     "light.stehlampe": ("Living Room", ["Floor Lamp"]), "switch.coffee_maker": ("Kitchen",
                     ["Kaffeemaschine"]), "cover.garage_door": (None, []), "light.cellar": ("Basement", []),
                     "switch.secret_safe": ("Basement", ["safe"])}
            for eid, (area, aliases) in place.items():
                ha.call("config/entity_registry/update", entity_id=eid, area_id=areas[area] if area else None,
                        aliases=aliases)
            exposed = ["light.kitchen_ceiling", "light.counter", "light.stehlampe", "switch.coffee_maker",
                       "cover.garage_door"]
            ha.call("homeassistant/expose_entity", assistants=["conversation"], entity_ids=exposed,
                    should_expose=True)
            # the safe is explicitly hidden from Assist; the cellar light was never decided: neither may be named
            ha.call("homeassistant/expose_entity", assistants=["conversation"], entity_ids=["switch.secret_safe"],
                    should_expose=False)
        yield {"url": base, "token": token, "port": port, "exposed": exposed, "areas": areas}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_names_from_home_assistant(home_assistant: dict[str, Any]) -> None:
    names = fetch(home_assistant["url"], home_assistant["token"])
    assert sorted(e.id for e in names.entities) == sorted(home_assistant["exposed"])
    by_id = {e.id: e for e in names.entities}
    kitchen = home_assistant["areas"]["Kitchen"]
    assert by_id["light.kitchen_ceiling"].name == "Kitchen Ceiling"
    assert by_id["light.kitchen_ceiling"].area == kitchen and by_id["light.kitchen_ceiling"].aliases == ("Deckenlicht",)
    assert by_id["cover.garage_door"].device_class == "garage" and by_id["cover.garage_door"].area is None
    assert names.areas[kitchen].aliases == ("Küche", "cuisine")
    assert dict(names.floors) == {}  # 2024.1 has no floors
    assert names.warnings == ()

    r = names.resolve({"name": "die Küchenlampen"}, "de")
    assert isinstance(r, Resolution) and r.slots == {"area": "Kitchen", "domain": "light"}
    assert set(r.entity_ids) == {"light.kitchen_ceiling", "light.counter"}
    assert names.resolve({"name": "the floor lamp"}, "en").slots == {"name": "Stehlampe"}  # type: ignore[union-attr]
    # not exposed (explicitly, or never decided): as unknown as a thing that does not exist
    for hidden in ("secret safe", "safe", "cellar light"):
        assert names.resolve({"name": hidden}, "en").reason == "unknown"  # type: ignore[union-attr]
    # the area is known (areas are not exposed or hidden), but nothing exposed is in it
    assert names.resolve({"area": "basement", "domain": "lights"}, "en").reason == "nothing_matches"  # type: ignore


@pytest.mark.slow
def test_a_refresh_sees_changes_and_builds_a_new_names(home_assistant: dict[str, Any]) -> None:
    before = fetch(home_assistant["url"], home_assistant["token"])
    with Session(f"ws://127.0.0.1:{home_assistant['port']}/api/websocket", home_assistant["token"]) as ha:
        ha.call("config/entity_registry/update", entity_id="light.counter", aliases=["Tresenlicht"])
        ha.call("homeassistant/expose_entity", assistants=["conversation"], entity_ids=["light.stehlampe"],
                should_expose=False)
    try:
        after = fetch(home_assistant["url"], home_assistant["token"])
        assert after is not before and isinstance(after, Names)
        assert after.resolve({"name": "Tresenlicht"}, "de").slots == {"name": "Counter Lights"}  # type: ignore
        assert after.resolve({"name": "Stehlampe"}, "de").reason == "unknown"  # type: ignore[union-attr]
        assert before.resolve({"name": "Stehlampe"}, "de").slots == {"name": "Stehlampe"}  # type: ignore
    finally:
        with Session(f"ws://127.0.0.1:{home_assistant['port']}/api/websocket", home_assistant["token"]) as ha:
            ha.call("homeassistant/expose_entity", assistants=["conversation"], entity_ids=["light.stehlampe"],
                    should_expose=True)


@pytest.mark.slow
def test_a_wrong_or_missing_token_is_refused(home_assistant: dict[str, Any]) -> None:
    with pytest.raises(HomeAssistantError, match="refused the access token"):
        fetch(home_assistant["url"], home_assistant["token"][:-4] + "AAAA")
    with pytest.raises(HomeAssistantError, match="no access token"):
        fetch(home_assistant["url"], "")
    with pytest.raises(HomeAssistantError, match="upgrade refused"):  # not the websocket path
        Session(f"ws://127.0.0.1:{home_assistant['port']}/api/", home_assistant["token"])


# --- servers that misbehave --------------------------------------------------------------------------------

class FakeServer:
    """A loopback TCP server that answers each connection with `script(conn)`: a real socket, no mocks."""

    def __init__(self, script: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                self.script(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def _upgrade(conn: socket.socket) -> None:
    import base64
    import hashlib
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    key = [ln.split(b":", 1)[1].strip() for ln in data.split(b"\r\n") if ln.lower().startswith(b"sec-websocket-key")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")


def _text(payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


@pytest.mark.parametrize("script, match", [
    (lambda c: c.sendall(b"HTTP/1.1 200 OK\r\n\r\nhello"), "upgrade refused"),
    (lambda c: (c.recv(4096), c.sendall(b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n")), "Accept"),
    (lambda c: (_upgrade(c), c.sendall(bytes([0x81, 127]) + (1 << 62).to_bytes(8, "big"))), "message over"),
    (lambda c: (_upgrade(c), c.sendall(_text(b"not json"))), "not JSON"),
    (lambda c: (_upgrade(c), c.sendall(_text(b'{"type": "hello"}'))), "not Home Assistant"),
    (lambda c: (_upgrade(c), c.sendall(bytes([0x88, 0]))), "closed the websocket"),
    (lambda c: (_upgrade(c), c.sendall(bytes([0x81, 0x85]) + b"\0\0\0\0hello")), "masked frame"),
    (lambda c: c.sendall(b"x" * 40000), "header too long"),
    (lambda c: (c.recv(4096), c.close()), "closed by Home Assistant"),
    (lambda c: (_upgrade(c), c.recv(4096)), "timed out"),  # says nothing until the client gives up
])
def test_a_misbehaving_server_gives_a_clear_error(script: Any, match: str) -> None:
    server = FakeServer(script)
    try:
        t0 = time.monotonic()
        with pytest.raises(HomeAssistantError, match=match):
            Session(f"ws://127.0.0.1:{server.port}/api/websocket", "token", timeout=1.0)
        assert time.monotonic() - t0 < 2.5  # the deadline holds even against a silent server
    finally:
        server.close()


def test_nothing_listening() -> None:
    with pytest.raises(HomeAssistantError, match="cannot connect"):
        fetch(f"http://127.0.0.1:{free_port()}", "token", timeout=2.0)
    with pytest.raises(HomeAssistantError, match="not a websocket URL"):
        Session("ftp://example.invalid/", "token")


def test_the_token_comes_from_the_environment_or_a_credential(tmp_path: Path) -> None:
    (tmp_path / "ha_token").write_text("from-credential\n")
    assert read_token({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-credential"
    assert read_token({"CREDENTIALS_DIRECTORY": str(tmp_path), "EDGE_HOME_HA_TOKEN": "from-env"}) == "from-env"
    assert read_token({}) == ""


@pytest.mark.slow
def test_the_daemon_fetches_from_home_assistant_and_answers_a_rename_after_its_refresh(
        home_assistant: dict[str, Any], broker: Any, daemon_factory: Any, client_factory: Any, tmp_path: Path) -> None:
    """`edge run` with `[home] homeassistant_url` and the token in EDGE_HOME_HA_TOKEN: the exposed things are
    named over Wyoming; an alias added in Home Assistant is answered once the daemon's refresh has run."""
    import asyncio

    from conftest import daemon_config
    from wyoming_ha import ha_process

    root = Path(__file__).resolve().parent.parent
    wy_port = free_port()
    d = daemon_factory(daemon_config(broker, tmp_path / "state", model={"path": str(root / "models" / "home")},
                                     wyoming={"enabled": True, "port": wy_port},
                                     home={"homeassistant_url": home_assistant["url"], "refresh_s": 1}),
                       env={"EDGE_HOME_HA_TOKEN": home_assistant["token"]})
    health = client_factory(broker).subscribe("edge/test/health")

    def names_health(cond: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            h = health.json(timeout=10)
            if cond(h.get("names") or {}):
                return h["names"]
        raise AssertionError(f"health's names never met the condition: {h.get('names')}")

    def say(text: str) -> Any:
        return asyncio.run(ha_process("127.0.0.1", wy_port, text, "en"))

    h = names_health(lambda n: n.get("source") == "homeassistant")
    assert h["entities"] == len(home_assistant["exposed"])
    on = say("turn on the coffee maker")
    assert on.name == "HassTurnOn" and {e.name: e.value for e in on.entities} == {"name": "Coffee Maker"}, on
    assert type(say("turn on the secret safe")).__name__ == "NotRecognized"  # hidden from Assist in HA
    assert type(say("turn on the espresso machine")).__name__ == "NotRecognized"
    with Session(f"ws://127.0.0.1:{home_assistant['port']}/api/websocket", home_assistant["token"]) as ha:
        ha.call("config/entity_registry/update", entity_id="switch.coffee_maker",
                aliases=["Kaffeemaschine", "Espresso Machine"])
    try:
        fetches = h["fetches"]
        names_health(lambda n: n.get("fetches", 0) > fetches + 1)  # a whole fetch after the change
        on = say("turn on the espresso machine")
        assert on.name == "HassTurnOn" and {e.name: e.value for e in on.entities} == {"name": "Coffee Maker"}, on
    finally:
        with Session(f"ws://127.0.0.1:{home_assistant['port']}/api/websocket", home_assistant["token"]) as ha:
            ha.call("config/entity_registry/update", entity_id="switch.coffee_maker", aliases=["Kaffeemaschine"])
    assert d.stop() == 0
