"""`edge run` with `[home] homeassistant_url`: the daemon as a real process, a real broker, the Wyoming
server, and tests/test_names_source.py's FakeHA (a real websocket server speaking Home Assistant's
auth and commands) or, where its venv exists, a real Home Assistant (tests/test_names_ha.py's fixture).

Every wait is on a condition: the daemon's retained health (`names`), its log, a Wyoming reply.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import daemon_config, free_port
from test_names_source import TOKEN, FakeHA, home
from wyoming_ha import ha_process

ROOT = Path(__file__).resolve().parent.parent
BASE = "edge/test"

pytestmark = pytest.mark.slow


def _config(broker: Any, tmp_path: Path, url: str, wyoming_port: int, **home_keys: Any) -> str:
    return daemon_config(broker, tmp_path / "state", model={"path": str(ROOT / "models" / "home")},
                         wyoming={"enabled": True, "port": wyoming_port},
                         home={"homeassistant_url": url, "refresh_s": 1, **home_keys})


def _say(port: int, text: str, language: str = "en") -> Any:
    return asyncio.run(ha_process("127.0.0.1", port, text, language))


def _slots(answer: Any) -> dict[str, Any]:
    return {e.name: e.value for e in answer.entities}


class Health:
    """The daemon's retained health, read until a condition on its `names` holds."""

    def __init__(self, client: Any) -> None:
        self.inbox = client.subscribe(f"{BASE}/health")

    def until(self, cond: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.inbox.json(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - the inbox's timeout: judged below
                break
            if "names" in last and cond(last["names"]):
                return last["names"]
        raise AssertionError(f"health never met the condition; last names: {last.get('names')}")


FIRST = home(("light.kitchen_ceiling", "Kitchen Ceiling", "kitchen", []),
             ("light.desk", "Desk Lamp", "living_room", ["Schreibtischlampe"]),
             ("switch.hidden_safe", "Secret Safe", "kitchen", []))


def test_home_assistant_down_at_start_then_up_then_renaming_a_thing(broker, daemon_factory, client_factory,
                                                                   tmp_path: Path) -> None:
    ha_port, wy_port = free_port(), free_port()
    d = daemon_factory(_config(broker, tmp_path, f"http://127.0.0.1:{ha_port}", wy_port),
                       env={"EDGE_HOME_HA_TOKEN": TOKEN})
    health = Health(client_factory(broker))
    h = health.until(lambda n: n["failures"] >= 1)
    assert h["source"] == "none" and h["entities"] == 0 and h["fetched_at"] is None
    # no names yet: a named command is not recognized, never a guess
    assert type(_say(wy_port, "turn on the desk lamp")).__name__ == "NotRecognized"
    assert "no names until it answers" in d.log_text()

    server = FakeHA(FIRST, port=ha_port)
    try:
        h = health.until(lambda n: n["source"] == "homeassistant")
        assert h["entities"] == 2 and h["failures"] == 0 and isinstance(h["fetched_at"], float)
        on = _say(wy_port, "turn on the desk lamp")
        assert on.name == "HassTurnOn" and _slots(on) == {"name": "Desk Lamp"}, on
        assert type(_say(wy_port, "turn on the secret safe")).__name__ == "NotRecognized"  # not exposed

        # renamed in Home Assistant: the next refresh answers with the new name, and the old is unknown
        fetches = h["fetches"]
        server.home = home(("light.kitchen_ceiling", "Kitchen Ceiling", "kitchen", []),
                           ("light.desk", "Reading Lamp", "living_room", []))
        health.until(lambda n: n["fetches"] > fetches + 1)  # one whole fetch after the change
        on = _say(wy_port, "turn on the reading lamp")
        assert on.name == "HassTurnOn" and _slots(on) == {"name": "Reading Lamp"}, on
        assert type(_say(wy_port, "turn on the desk lamp")).__name__ == "NotRecognized"

        # a refresh that fails (a hostile frame): the last names stay, one warning for the streak
        server.mode = "huge"
        h = health.until(lambda n: n["failures"] >= 2)
        assert h["source"] == "homeassistant" and "message over" in h["error"]
        on = _say(wy_port, "turn on the reading lamp")
        assert _slots(on) == {"name": "Reading Lamp"}, on
        assert d.log_text().count("fetch failed") == 2  # the streak at start, and this one
    finally:
        server.close()
    assert d.stop() == 0


def test_the_names_file_serves_until_home_assistant_answers(broker, daemon_factory, client_factory,
                                                            tmp_path: Path) -> None:
    ha_port, wy_port = free_port(), free_port()
    d = daemon_factory(_config(broker, tmp_path, f"ws://127.0.0.1:{ha_port}/api/websocket", wy_port,
                               names=str(ROOT / "tests" / "data" / "home_names.yaml")),
                       env={"EDGE_HOME_HA_TOKEN": TOKEN})
    health = Health(client_factory(broker))
    h = health.until(lambda n: n["failures"] >= 1)
    assert h["source"] == "file" and h["entities"] > 40
    off = _say(wy_port, "turn off the kitchen lights")
    assert off.name == "HassTurnOff" and _slots(off) == {"area": "Kitchen", "domain": "light"}
    server = FakeHA(FIRST, port=ha_port)
    try:
        health.until(lambda n: n["source"] == "homeassistant" and n["entities"] == 2)
        on = _say(wy_port, "schalte die schreibtischlampe ein", "de")  # an alias from Home Assistant
        assert on.name == "HassTurnOn" and _slots(on) == {"name": "Desk Lamp"}, on
    finally:
        server.close()
    assert d.stop() == 0


def test_a_refused_token_or_none_at_all_fails_the_start(broker, daemon_factory, tmp_path: Path) -> None:
    server = FakeHA(FIRST)
    try:
        d = daemon_factory(_config(broker, tmp_path, server.url, free_port()), env={"EDGE_HOME_HA_TOKEN": "stolen"},
                           wait_ready=False)
        assert d.proc.wait(60) == 2
        assert "refused the access token" in d.log_text() and "home.homeassistant_url" in d.log_text()
        d = daemon_factory(_config(broker, tmp_path, server.url, free_port()), env={"EDGE_HOME_HA_TOKEN": ""},
                           wait_ready=False)
        assert d.proc.wait(60) == 2
        assert f"{d.config_path}: home.homeassistant_url: set, but there is no token" in d.log_text()
    finally:
        server.close()


def test_mqtt_results_use_the_fetched_names(broker, daemon_factory, client_factory, tmp_path: Path) -> None:
    server = FakeHA(FIRST)
    try:
        daemon_factory(_config(broker, tmp_path, server.url, free_port()), env={"EDGE_HOME_HA_TOKEN": TOKEN})
        result = client_factory(broker).request(BASE, {"text": "turn on the desk lamp", "language": "en"}, 20)
        assert result["intent"] == "HassTurnOn", json.dumps(result)
        assert any(s.get("value") == "Desk Lamp" for s in result["slots"]), json.dumps(result)
    finally:
        server.close()


def test_a_stop_during_the_starts_fetch_does_not_wait_out_its_deadline(broker, daemon_factory, tmp_path: Path) -> None:
    server = FakeHA(FIRST)
    server.mode = "silent"  # authenticates, then never answers: the fetch would wait its whole 15 s
    try:
        d = daemon_factory(_config(broker, tmp_path, server.url, free_port()), env={"EDGE_HOME_HA_TOKEN": TOKEN},
                           wait_ready=False)
        deadline = time.monotonic() + 60
        while server.sessions < 1:  # the daemon is inside its start-up fetch
            assert time.monotonic() < deadline and d.proc.poll() is None, d.log_text()
            time.sleep(0.02)  # polling a counter of the server's thread
        t0 = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - t0 < 10, d.log_text()
    finally:
        server.close()
