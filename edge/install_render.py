"""The files `edge install` writes from a profile: /etc/edge/edge.toml and the unit's drop-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from edge import config

CONFIG_PATH = Path("/etc/edge/edge.toml")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # A JSON string without ASCII escaping is a valid TOML basic string.
    return json.dumps(str(value), ensure_ascii=False)


# What every user has to decide, written into edge.toml: (before the table's keys, after them).
_HINTS = {
    "mqtt": ([
        "# Your MQTT broker: the machine running Mosquitto (for Home Assistant, the",
        "# host running its Mosquitto add-on, e.g. \"homeassistant.local\").",
    ], [
        '# username = ""             # the password goes in /etc/edge/credentials/mqtt_password',
        "# tls = false",
    ]),
    "cloud": ([
        "# Optional cloud fallback (any OpenAI-compatible endpoint); no base_url: device only.",
        "# The API key goes in /etc/edge/credentials/cloud_api_key, never here.",
    ], [
        '# base_url = "https://api.openai.com/v1"',
        '# model = "gpt-4o-mini"',
        '# mode = "local_first"      # local_first | cloud_preferred | local_only',
    ]),
}


def render_config(profile_name: str, profile_data: dict, model_dir: Path,
                  deploy_keys: Sequence[Path | str] = ()) -> str:
    """edge.toml: the profile's settings (re-rendered: hints go inside their tables), the model
    path, and the trusted keys' paths on the card when --deploy-key gave some."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in profile_data.items()}
    data.setdefault("model", {})["path"] = str(model_dir)
    if deploy_keys:
        data.setdefault("deploy", {})["keys"] = [str(k) for k in deploy_keys]
    tables = {"mqtt": {"host": "127.0.0.1"}, "cloud": {}}  # the tables users edit first go first
    for section, table in data.items():
        if isinstance(table, dict):
            tables.setdefault(section, {}).update(table)
    lines = [
        f"# {CONFIG_PATH}: this device's settings, written by `edge install --profile {profile_name}`.",
        f"# They start as the {profile_name} profile (firmware_configs/{profile_name}.toml explains",
        "# its numbers). Edit, then check with:  edge config check /etc/edge/edge.toml",
        "# and apply with:  sudo systemctl restart edge",
        "# A later `edge install` keeps this file once you have edited it.",
        "#",
        "# device_id defaults to the host name (set it in Raspberry Pi Imager); the",
        "# MQTT topics are edge/<device_id>/... Uncomment to choose another:",
        '# device_id = "kitchen"',
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, table in tables.items():
        before, after = _HINTS.get(section, ([], []))
        lines += ["", f"[{section}]", *before, *(f"{k} = {_toml_value(v)}" for k, v in table.items()), *after]
    if "wyoming" not in tables and "home" not in tables:
        lines += ["", *_ASSIST_HINT]
    return "\n".join(lines) + "\n"


# Home Assistant's voice agent, commented out: the tables a user uncomments (with the home model:
# `edge install --model models/home`), and where the token goes, so nobody pastes it in here.
_ASSIST_HINT = [
    "# Home Assistant Assist's voice agent (needs the home model and the `home` extra):",
    "# [wyoming]",
    "# enabled = true",
    '# host = "0.0.0.0"            # Home Assistant on another machine: add Wyoming, this host, port 10700',
    "# [home]",
    '# homeassistant_url = "http://homeassistant.local:8123"',
    "#                             # its long-lived token goes in /etc/edge/credentials/ha_token, never here",
    '# names = ""                  # or a names file of your own instead (docs/names.md)',
]


def render_dropin(profile_name: str, board: config.BoardSettings) -> str:
    """The unit drop-in carrying the profile's resource limits (0 in the profile: no limit)."""
    memory = f"{board.memory_max_mb}M" if board.memory_max_mb else "infinity"
    cpu = f"{board.cpu_quota_percent}%" if board.cpu_quota_percent else ""  # empty resets the quota
    return (
        f"# Written by `edge install --profile {profile_name}`: the board's limits from its profile.\n"
        "[Service]\n"
        f"MemoryMax={memory}\n"
        f"CPUQuota={cpu}\n"
    )
