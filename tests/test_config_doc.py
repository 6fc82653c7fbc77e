"""The configuration's documentation comes from its schema: the README's block, --show, edge config schema."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from edge import config, config_doc

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_block_is_the_generated_schema():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = config_doc.readme_block_span(readme)
    assert readme[start:end] == config_doc.schema_toml(), "run scripts/config-docs to regenerate README.md's block"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "config-docs"), "--check"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_schema_block_is_toml_with_every_default():
    """Parsed back, the documented block is the defaults: written once, in the dataclasses."""
    doc = tomllib.loads(config_doc.schema_toml())
    for key, f in config.schema():
        section, _, name = key.rpartition(".")
        value = (doc[section] if section else doc)[name]
        assert value == (list(f.default) if isinstance(f.default, tuple) else f.default), key
    assert set(doc) == {name for name, _ in config.schema() if "." not in name} | set(config.SECTIONS)


def test_every_key_and_section_carries_a_description_field():
    for cls in (config.Settings, *config.SECTIONS.values()):
        for f in dataclasses.fields(cls):
            if f.name in ("sources", "origins", "warnings", "state_directory"):
                assert "doc" not in f.metadata  # what load() saw, not keys
                continue
            assert isinstance(f.metadata.get("doc"), str), f"{cls.__name__}.{f.name}"
            if "check" in f.metadata:  # a key: described (a section's own line may stay blank)
                assert f.metadata["doc"].strip(), f"{cls.__name__}.{f.name} has no description"
    assert "host name check" in dict(config.schema())["mqtt.tls_insecure"].metadata["doc"]


def test_schema_json_for_machines():
    out = subprocess.run([sys.executable, "-m", "edge", "config", "schema", "--json"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    entries = {e["key"]: e for e in json.loads(out.stdout)}
    assert entries["mqtt.port"] == {"key": "mqtt.port", "type": "integer", "default": 1883,
                                    "description": "8883 is the usual port with tls", "env": "EDGE_MQTT_PORT",
                                    "min": 1, "max": 65535}
    assert entries["mqtt.reply_prefixes"]["type"] == "list of strings" and entries["cloud.mode"]["choices"]
    assert len(entries) == len(config.schema())
    plain = subprocess.run([sys.executable, "-m", "edge", "config", "schema"], capture_output=True, text=True,
                           timeout=60, cwd=ROOT)
    assert plain.stdout == config_doc.schema_toml()


def test_values_are_written_as_toml():
    for value in ['a "quoted" \\ thing', "ünï", 0.0005, -1.0, 10**12, True, (), ("a/b", "c")]:
        assert tomllib.loads(f"v = {config_doc.toml_value(value)}")["v"] == (
            list(value) if isinstance(value, tuple) else value)
