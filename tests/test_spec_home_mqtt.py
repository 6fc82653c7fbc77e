"""../shared/spec/interface.md, "MQTT" -> "Result" and "Names file", for the home model over MQTT: a real
`edge run` serving models/home with a three-entity names file (the spec's example shape), asked over a real
mosquitto as an automation would listen.

"Only these entities may be named in a result"; the intent topic carries "only results the daemon stands
behind"; a slot's `value` "is the resolved value (a number, ...)".
"""

from __future__ import annotations

import json
import uuid
from typing import Iterator

import pytest

from conftest import ROOT, Broker, Daemon, daemon_config
from mqttc import TestClient

pytestmark = pytest.mark.slow

BASE = "edge/hm"
NAMES = {"floors": [{"name": "Upstairs", "id": "upstairs"}],
         "areas": [{"name": "Kitchen", "id": "kitchen", "floor": "upstairs"}, {"name": "Office", "id": "office"}],
         "entities": [{"name": "Overhead Light", "id": "light.overhead", "area": "kitchen"},
                      {"name": "Desk Lamp", "id": "light.desk_lamp", "area": "office"}]}
EXACT = {"Overhead Light", "Desk Lamp", "Kitchen", "Office", "Upstairs"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    tmp = tmp_path_factory.mktemp("spec-home-mqtt")
    names = tmp / "names.json"
    names.write_text(json.dumps(NAMES))
    broker = Broker(tmp / "b").start()
    cfg = daemon_config(broker, tmp / "s", device_id="hm", model={"path": str(ROOT / "models" / "home")},
                        home={"names": str(names)})
    d = Daemon(tmp / "d", cfg, env={"EDGE_CLOUD_API_KEY": ""}).start()
    yield broker
    try:
        assert d.stop() == 0, d.log_text()
    finally:
        if d.proc and d.proc.poll() is None:
            d.kill()
        broker.stop()


@pytest.fixture
def client(served: Broker) -> Iterator[TestClient]:
    c = TestClient(served.port)
    yield c
    c.close()


def _ask(c: TestClient, text: str) -> tuple[dict, list[dict]]:
    """The result on the reply topic, and what reached the intent topics for it (fenced by a second request
    the daemon stands behind, answered after it)."""
    intents = c.subscribe(f"{BASE}/intent/#")
    rid = uuid.uuid4().hex
    result = c.request(BASE, {"id": rid, "text": text})
    fence = c.request(BASE, {"text": "turn on the desk lamp"})
    seen = []
    while True:
        m = intents.json()
        if m["id"] == fence["id"]:
            return result, seen
        seen.append(m)


@pytest.mark.parametrize("text", ["turn on the desk lamp", "turn off the kitchen lights", "turn on the bedroom light",
                                  "turn off the lights in the basement", "turn on the reading lamp",
                                  "lock the back door", "set the bathroom light to 40%"])
def test_only_names_from_the_file_reach_an_automation(client: TestClient, text: str) -> None:
    """A result on `<base>/intent/<intent>` names only the file's things (by their exact names); a request naming
    anything else is not stood behind and reaches the result and reply topics alone."""
    result, on_intent_topic = _ask(client, text)
    named = {s["value"] for s in result["slots"] if s["name"] in ("name", "area", "floor")}
    if named <= EXACT and named:
        assert [m["id"] for m in on_intent_topic] in ([result["id"]], []), on_intent_topic
    else:
        assert on_intent_topic == [], (text, on_intent_topic)
        assert result["reason"] != "confident", result
    for m in on_intent_topic:
        assert {s["value"] for s in m["slots"] if s["name"] in ("name", "area", "floor")} <= EXACT, m


def test_a_resolved_number_is_a_number(client: TestClient) -> None:
    result, _ = _ask(client, "set the desk lamp to 40%")
    assert [s["value"] for s in result["slots"] if s["name"] == "brightness"] == [40], result["slots"]


@pytest.mark.parametrize("text,slot,value", [("set the bathroom light to 40%", "brightness", 40),
                                             ("set the temperature in the bedroom to 21 degrees", "temperature", 21)])
def test_a_number_is_a_number_in_a_refused_result_too(client: TestClient, text: str, slot: str,
                                                                value: int) -> None:
    """Result slots: "`value` is the resolved value (a number, ...)" — in every result, not only in results the
    daemon stands behind."""
    result, _ = _ask(client, text)
    got = [s["value"] for s in result["slots"] if s["name"] == slot]
    assert got == [value] and all(type(v) is int for v in got), result["slots"]
