"""Home Assistant MQTT discovery: the config messages, their removal, and (end to end) the daemon sending them."""

from __future__ import annotations

import json
import re

import pytest

from edge import contract, results, topics
from edge.config import BoardSettings, IntegrationSettings, MqttSettings, Settings
from edge.integrations import homeassistant as ha

# Keys Home Assistant's MQTT sensor / binary_sensor discovery schema knows (full names); a typo
# would be dropped silently by Home Assistant, so the test catches it here instead.
KNOWN_KEYS = {
    "name", "has_entity_name", "unique_id", "default_entity_id", "state_topic", "device", "origin",
    "availability", "availability_mode", "value_template", "unit_of_measurement", "device_class",
    "state_class", "suggested_display_precision", "icon", "entity_category", "json_attributes_topic",
    "json_attributes_template", "payload_on", "payload_off", "expire_after", "force_update", "qos",
}  # fmt: skip
DEVICE_KEYS = {"identifiers", "name", "manufacturer", "model", "sw_version", "hw_version", "connections"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
# What the entities may read: the result (built by the contract) and the health payload (interface.md).
HEALTH_FIELDS = {
    "ts", "uptime_s", "model", "processed", "escalated", "cloud_errors", "errors", "latency_ms",
    "queue_depth", "outbox", "cpu_percent", "rss_mb", "temperature_c", "cloud",
}  # fmt: skip


def settings(device_id: str = "kitchen", **mqtt: object) -> Settings:
    return Settings(
        device_id=device_id,
        board=BoardSettings(name="pi-zero-2w"),
        mqtt=MqttSettings(**mqtt),  # type: ignore[arg-type]
        integrations=IntegrationSettings(home_assistant=True),
    )


def configs(s: Settings) -> dict[str, dict[str, object]]:
    msgs = ha.discovery_messages(s, "clinc-intents@1.2.0", "0.1.0")
    assert all(retain is True for _, _, retain in msgs)
    return {topic: json.loads(payload) for topic, payload, _ in msgs}


def by_object(s: Settings) -> dict[str, dict[str, object]]:
    return {topic.split("/")[-2]: cfg for topic, cfg in configs(s).items()}


def test_every_entity_is_announced_on_its_topic() -> None:
    got = configs(settings())
    assert set(got) == {
        "homeassistant/binary_sensor/edge_kitchen/status/config",
        "homeassistant/sensor/edge_kitchen/last_intent/config",
        "homeassistant/sensor/edge_kitchen/last_confidence/config",
        "homeassistant/sensor/edge_kitchen/escalation_rate/config",
        "homeassistant/sensor/edge_kitchen/latency_p50/config",
        "homeassistant/sensor/edge_kitchen/cpu_temperature/config",
    }


def test_configs_are_valid_discovery_json() -> None:
    for topic, cfg in configs(settings()).items():
        assert set(cfg) <= KNOWN_KEYS, (topic, set(cfg) - KNOWN_KEYS)
        assert set(cfg["device"]) <= DEVICE_KEYS  # type: ignore[arg-type]
        assert set(cfg["origin"]) <= ORIGIN_KEYS  # type: ignore[arg-type]
        component = topic.split("/")[1]
        assert re.fullmatch(rf"{component}\.[a-z0-9_]+", cfg["default_entity_id"])  # type: ignore[arg-type]
        assert all(re.fullmatch(r"[A-Za-z0-9_-]+", level) for level in topic.split("/")[1:-1])


def test_one_device_for_all_entities() -> None:
    devices = [cfg["device"] for cfg in configs(settings()).values()]
    assert all(d == devices[0] for d in devices)
    assert devices[0] == {
        "identifiers": ["edge_kitchen"],
        "name": "kitchen",
        "manufacturer": "edge",
        "model": "pi-zero-2w",
        "sw_version": "0.1.0 (clinc-intents@1.2.0)",
    }


def test_unique_ids_are_unique_and_stable() -> None:
    ids = [cfg["unique_id"] for cfg in configs(settings()).values()]
    assert len(ids) == len(set(ids))
    assert "edge_kitchen_last_intent" in ids
    # Another device on the same broker gets its own ids and topics.
    other = configs(settings("hall"))
    assert not set(ids) & {cfg["unique_id"] for cfg in other.values()}
    assert not set(configs(settings())) & set(other)


def test_availability_is_the_status_topic() -> None:
    objs = by_object(settings(base_topic="home/edge1"))
    for obj, cfg in objs.items():
        if obj == "status":
            # The connectivity sensor *is* the status topic: it shows "disconnected", never "unavailable".
            assert "availability" not in cfg
            assert cfg["state_topic"] == "home/edge1/status"
            assert (cfg["payload_on"], cfg["payload_off"]) == ("online", "offline")
            assert cfg["device_class"] == "connectivity"
        else:
            assert cfg["availability"] == [
                {"topic": "home/edge1/status", "payload_available": "online", "payload_not_available": "offline"}
            ]


def test_sensors_read_the_right_topics_and_fields() -> None:
    objs = by_object(settings())
    assert objs["last_intent"]["state_topic"] == "edge/kitchen/result"
    assert objs["last_intent"]["json_attributes_topic"] == "edge/kitchen/result"
    assert objs["last_confidence"]["state_topic"] == "edge/kitchen/result"
    assert objs["last_confidence"]["unit_of_measurement"] == "%"
    for obj in ("escalation_rate", "latency_p50", "cpu_temperature"):
        assert objs[obj]["state_topic"] == "edge/kitchen/health"
    assert objs["latency_p50"]["unit_of_measurement"] == "ms"
    assert (objs["cpu_temperature"]["device_class"], objs["cpu_temperature"]["unit_of_measurement"]) == (
        "temperature",
        "°C",
    )
    result = results.result_payload(
        contract.Request(id="1", text="hi"),
        intent="greeting", confidence=0.9, source="edge", escalated=False, reason="confident",
        answer=None, model="m@1", latency_ms=3.0,
    )  # fmt: skip
    fields = {"result": set(result), "health": HEALTH_FIELDS}
    for obj, cfg in objs.items():
        source = str(cfg["state_topic"]).rsplit("/", 1)[1]
        used = set(re.findall(r"value_json\.(\w+)", str(cfg.get("value_template", ""))))
        assert used <= fields.get(source, set()), (obj, used)
        assert used or obj == "status"


def test_dotted_device_id_and_custom_prefix() -> None:
    s = Settings(device_id="Pi.Zero-1", integrations=IntegrationSettings(discovery_prefix="ha"))
    got = configs(s)
    assert "ha/sensor/edge_Pi_Zero-1/last_intent/config" in got
    assert got["ha/sensor/edge_Pi_Zero-1/last_intent/config"]["default_entity_id"] == "sensor.pi_zero_1_last_intent"
    assert ha.birth_topic(s) == "ha/status"
    assert ha.birth_topic(settings()) == "homeassistant/status"


def test_removal_clears_the_same_topics() -> None:
    s = settings()
    removal = ha.removal_messages(s)
    assert {t for t, _, _ in removal} == set(configs(s))
    assert all(payload == b"" and retain is True for _, payload, retain in removal)


@pytest.mark.parametrize("device_id", ["a", "x" * 64, "edge-01_b.c"])
def test_topics_have_no_wildcards(device_id: str) -> None:
    for topic, _, _ in ha.discovery_messages(settings(device_id), "m@1", "0.1.0"):
        assert topics.valid_publish_topic(topic)


# --- end to end: the daemon, a real mosquitto ---------------------------------------------------


def _expected_topics(device_id: str) -> set[str]:
    return {t for t, _, _ in ha.removal_messages(Settings(device_id=device_id))}


@pytest.mark.slow
def test_daemon_announces_at_start_and_again_on_birth(broker, daemon_factory, client_factory, tmp_path):
    from conftest import daemon_config

    d = daemon_factory(daemon_config(broker, tmp_path / "state", device_id="hatest", integrations={"home_assistant": True}))
    c = client_factory(broker)
    configs = c.subscribe("homeassistant/+/edge_hatest/+/config")
    expected = _expected_topics("hatest")
    first = [configs.get() for _ in expected]
    assert {m.topic for m in first} == expected and all(m.retain for m in first)  # retained, so HA finds them later
    for m in first:
        cfg = m.json()
        assert cfg["device"]["identifiers"] == ["edge_hatest"]
        assert cfg["device"]["sw_version"].count("@") == 1  # "<edge version> (<model>@<version>)"
        if m.topic.split("/")[1] == "sensor":
            assert cfg["availability"][0]["topic"] == "edge/hatest/status"

    # Home Assistant restarted: its birth message makes the daemon announce again, live.
    c.publish("homeassistant/status", "online")
    again = [configs.get() for _ in expected]
    assert {m.topic for m in again} == expected
    c.publish("homeassistant/status", "offline")  # HA going away asks for nothing
    # Barrier: the daemon reads its messages in order and answers a birth message as it reads it, so
    # anything the "offline" caused is out before the answer to a request published after it.
    assert c.request("edge/hatest", {"text": "what time is it", "id": "after-offline"})["id"] == "after-offline"
    assert configs.drain() == []

    # What the sensors read is there and has the fields their templates use.
    health = c.subscribe("edge/hatest/health").json()
    assert isinstance(health["processed"], int) and isinstance(health["escalated"], int)
    assert isinstance(health["latency_ms"]["p50"], (int, float))
    assert health["temperature_c"] is None or isinstance(health["temperature_c"], (int, float))
    status = c.subscribe("edge/hatest/status").get()
    assert status.payload == b"online" and status.retain
    assert d.stop() == 0


@pytest.mark.slow
def test_remove_command_clears_discovery(broker, daemon_factory, client_factory, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT, daemon_config

    config = daemon_config(broker, tmp_path / "state", device_id="gone", integrations={"home_assistant": True})
    d = daemon_factory(config)
    c = client_factory(broker)
    expected = _expected_topics("gone")
    box = c.subscribe("homeassistant/+/edge_gone/+/config")
    assert {box.get().topic for _ in expected} == expected
    assert d.stop() == 0  # as documented: stop the service first, or it announces itself again

    out = subprocess.run(
        [sys.executable, "-m", "edge", "homeassistant", "remove", "--config", str(d.config_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**d.env},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    removals = [box.get() for _ in expected]
    assert {m.topic for m in removals} == expected and all(m.payload == b"" for m in removals)
    # A newcomer (Home Assistant starting up) finds nothing retained any more.
    newcomer = client_factory(broker)
    fresh = newcomer.subscribe("homeassistant/#")
    # The broker sends what is retained at subscription, before anything published after it.
    newcomer.publish("homeassistant/edge_test/marker", b"live")
    leftovers = []
    while (m := fresh.get()).topic != "homeassistant/edge_test/marker":
        leftovers.append(m.topic)
    assert leftovers == []
