"""Home Assistant MQTT discovery: the device and its sensors appear in Home Assistant without YAML.

One retained config message per entity on
`<discovery_prefix>/<component>/<node_id>/<object>/config`, all attached to one
device. The entities read what the daemon publishes anyway (`<base>/status`,
`<base>/result`, the retained `<base>/health`), so discovery adds no traffic
of its own. Removal is the same topics with empty retained payloads, which is
how Home Assistant is told that a discovered entity is gone.

Naming decisions, kept stable because users build automations on them:
- `node_id` is `edge_<device_id>` ('.' made '_', since discovery topic levels
  allow only [A-Za-z0-9_-]); the prefix keeps it apart from other bridges'
  node ids on a shared broker.
- `unique_id` is `edge_<device_id>_<object>`: it is what the entity registry
  keys on, so renaming a device's entities in Home Assistant survives restarts.
- `default_entity_id` (the Home Assistant 2025.10+ replacement for the
  deprecated `object_id`) is `<component>.<device slug>_<object>`, the same id
  that older versions derive from the device and entity names, so both give
  `sensor.kitchen_last_intent`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from edge.config import Settings

ONLINE = "online"
OFFLINE = "offline"
MANUFACTURER = "edge"


@dataclass(frozen=True, slots=True)
class Entity:
    """One discovered entity: where it lives in the discovery tree and what it reads."""

    component: str  # "sensor" or "binary_sensor"
    object: str  # stable: part of the topic, the unique_id and the default entity id
    name: str
    source: str  # "status", "result" or "health": the <base>/<source> topic it reads
    extra: tuple[tuple[str, Any], ...]  # discovery keys specific to this entity
    attributes: bool = False  # the whole JSON message on `source` becomes the entity's attributes


# Templates tolerate a missing or null field: Home Assistant treats a rendered
# "None" as unknown rather than logging a parse error on a numeric sensor.
# (temperature_c is null on boards without a thermal zone.)
ENTITIES: tuple[Entity, ...] = (
    Entity(
        "binary_sensor",
        "status",
        "Status",
        "status",
        (
            ("device_class", "connectivity"),
            ("payload_on", ONLINE),
            ("payload_off", OFFLINE),
            ("entity_category", "diagnostic"),
        ),
    ),
    Entity(
        "sensor",
        "last_intent",
        "Last intent",
        "result",
        (
            ("value_template", "{{ value_json.intent }}"),
            ("icon", "mdi:message-text"),
        ),
        attributes=True,  # text, source, reason, answer, ... for automations
    ),
    Entity(
        "sensor",
        "last_confidence",
        "Last confidence",
        "result",
        (
            ("value_template", "{{ (value_json.confidence * 100) | round(1) if value_json.confidence is number else None }}"),
            ("unit_of_measurement", "%"),
            ("state_class", "measurement"),
            ("suggested_display_precision", 1),
            ("icon", "mdi:gauge"),
        ),
    ),
    Entity(
        "sensor",
        "escalation_rate",
        "Escalation rate",
        "health",
        (
            # Share of requests sent to the cloud since the daemon started (health counters are per run).
            (
                "value_template",
                "{{ (100 * value_json.escalated / value_json.processed) | round(1) "
                "if value_json.processed else 0 }}",
            ),
            ("unit_of_measurement", "%"),
            ("state_class", "measurement"),
            ("suggested_display_precision", 1),
            ("icon", "mdi:cloud-upload"),
            ("entity_category", "diagnostic"),
        ),
    ),
    Entity(
        "sensor",
        "latency_p50",
        "Latency p50",
        "health",
        (
            ("value_template", "{{ value_json.latency_ms.p50 if value_json.latency_ms is mapping else None }}"),
            ("device_class", "duration"),
            ("unit_of_measurement", "ms"),
            ("state_class", "measurement"),
            ("suggested_display_precision", 1),
            ("entity_category", "diagnostic"),
        ),
    ),
    Entity(
        "sensor",
        "cpu_temperature",
        "CPU temperature",
        "health",
        (
            ("value_template", "{{ value_json.temperature_c if value_json.temperature_c is number else None }}"),
            ("device_class", "temperature"),
            ("unit_of_measurement", "°C"),
            ("state_class", "measurement"),
            ("suggested_display_precision", 1),
            ("entity_category", "diagnostic"),
        ),
    ),
)


def node_id(settings: Settings) -> str:
    """The discovery topic's node level: `edge_<device_id>` restricted to [A-Za-z0-9_-]."""
    return "edge_" + re.sub(r"[^A-Za-z0-9_-]", "_", settings.device_id)


def _slug(text: str) -> str:
    """Home Assistant's entity id alphabet: lower-case letters, digits and single underscores."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", text.lower())).strip("_") or "edge"


def config_topic(settings: Settings, entity: Entity) -> str:
    prefix = settings.integrations.discovery_prefix
    return f"{prefix}/{entity.component}/{node_id(settings)}/{entity.object}/config"


def birth_topic(settings: Settings) -> str:
    """Where Home Assistant announces itself; on `online` there, discovery is sent again."""
    return f"{settings.integrations.discovery_prefix}/status"


def _device(settings: Settings, model_ident: str, sw_version: str) -> dict[str, Any]:
    return {
        "identifiers": [f"edge_{settings.device_id}"],
        "name": settings.device_id,
        "manufacturer": MANUFACTURER,
        "model": settings.board.name,
        # The device's software is the runtime and the model it runs; both show in the device page.
        "sw_version": f"{sw_version} ({model_ident})" if model_ident else sw_version,
    }


def entity_config(settings: Settings, entity: Entity, model_ident: str, sw_version: str) -> dict[str, Any]:
    """The discovery JSON for one entity (full key names, not abbreviations, so it reads as documented)."""
    base = settings.base_topic
    status = f"{base}/status"
    config: dict[str, Any] = {
        "name": entity.name,
        "has_entity_name": True,
        "unique_id": f"edge_{settings.device_id}_{entity.object}",
        "default_entity_id": f"{entity.component}.{_slug(settings.device_id)}_{entity.object}",
        "state_topic": f"{base}/{entity.source}",
        "device": _device(settings, model_ident, sw_version),
        "origin": {"name": "edge", "sw_version": sw_version},
    }
    if entity.object != "status":
        # The connectivity sensor reads the status topic itself: if it were also
        # "unavailable" when offline it could never show "disconnected".
        config["availability"] = [{"topic": status, "payload_available": ONLINE, "payload_not_available": OFFLINE}]
    if entity.attributes:
        config["json_attributes_topic"] = config["state_topic"]
    config.update(entity.extra)
    return config


def discovery_messages(settings: Settings, model_ident: str, sw_version: str) -> list[tuple[str, bytes, bool]]:
    """Retained discovery config messages, one per entity: (topic, payload, retain=True)."""
    return [
        (
            config_topic(settings, entity),
            json.dumps(entity_config(settings, entity, model_ident, sw_version), ensure_ascii=False).encode("utf-8"),
            True,
        )
        for entity in ENTITIES
    ]


def removal_messages(settings: Settings) -> list[tuple[str, bytes, bool]]:
    """Empty retained payloads on the same topics: Home Assistant removes the entities (and then the
    device), and the broker drops the retained configs so they do not come back."""
    return [(config_topic(settings, entity), b"", True) for entity in ENTITIES]
