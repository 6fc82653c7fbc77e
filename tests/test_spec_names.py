"""../shared/spec/interface.md, "Names file", through the doors a user uses: `edge run` and `edge config check`.

"What the home calls its things, in the shape of Home Assistant's intent test fixtures (YAML or JSON)" and,
from "Command line", "2 invalid, with each error naming key and file". A careless names file stops the
daemon at start with exit 2 (never a daemon that names the wrong things), and `edge config check` finds the
same errors before a user restarts anything. What is *named* from a good file is checked through Wyoming in
tests/test_spec_wyoming.py and tests/test_spec.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, free_port

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "EDGE_CLOUD_API_KEY": ""}
GOOD = {"floors": [{"name": "Upstairs", "id": "upstairs"}],
        "areas": [{"name": "Kitchen", "id": "kitchen", "floor": "upstairs"}],
        "entities": [{"name": "Overhead Light", "id": "light.overhead", "area": "kitchen"}]}


def edge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, cwd=ROOT)


def config(tmp_path: Path, names: Path) -> Path:
    """A daemon config serving Assist from models/home with `names`; MQTT on a port nobody listens on (a
    names file is read before the broker is dialled)."""
    c = tmp_path / "edge.toml"
    c.write_text(f'device_id = "n"\n[mqtt]\nport = 1\n[state]\ndir = "{tmp_path / "state"}"\n'
                 f'[model]\npath = "{ROOT / "models" / "home"}"\n[wyoming]\nenabled = true\nport = {free_port()}\n'
                 f'[home]\nnames = "{names}"\n')
    return c


def entity(**kw: object) -> dict:
    return {"entities": [{"name": "Lamp", "id": "light.lamp", **kw}]}


# (file name, content, the key path the error must name; "" for an error of the whole file)
CARELESS = {
    "entity without name": ("n.json", {"entities": [{"id": "light.lamp"}]}, "entities[0].name"),
    "entity without id": ("n.json", {"entities": [{"name": "Lamp"}]}, "entities[0].id"),
    "id without a domain": ("n.json", {"entities": [{"name": "Lamp", "id": "lamp"}]}, "entities[0].id"),
    "id in capitals": ("n.json", {"entities": [{"name": "Lamp", "id": "Light.Lamp"}]}, "entities[0].id"),
    "duplicate id": ("n.json", {"entities": [{"name": "A", "id": "light.a"}, {"name": "B", "id": "light.a"}]},
                     "entities[1].id"),
    "area of an unknown floor": ("n.json", {"areas": [{"name": "K", "id": "k", "floor": "nope"}]},
                                 "areas[0].floor"),
    "entity in an unknown area": ("n.json", entity(area="nowhere"), "entities[0].area"),
    "aliases a string": ("n.json", entity(aliases="lamp"), "entities[0].aliases"),
    "name a number": ("n.json", {"entities": [{"name": 5, "id": "light.lamp"}]}, "entities[0].name"),
    "name empty": ("n.json", {"entities": [{"name": "", "id": "light.lamp"}]}, "entities[0].name"),
    "name with a control character": ("n.json", {"entities": [{"name": "La\u0007mp", "id": "light.lamp"}]},
                                      "entities[0].name"),
    "name over 128 characters": ("n.json", {"entities": [{"name": "L" * 129, "id": "light.lamp"}]},
                                 "entities[0].name"),
    "attributes a list": ("n.json", entity(attributes=["light"]), "entities[0].attributes"),
    "entities a mapping": ("n.json", {"entities": {"light.lamp": "Lamp"}}, "entities"),
    "top level a list": ("n.json", [GOOD], ""),
    "json syntax": ("n.json", '{"entities": [', ""),
    "yaml syntax": ("n.yaml", "entities:\n\t- {name: Lamp, id: light.lamp}\n", ""),
    "yaml aliases (a billion laughs)": ("n.yaml", "a: &a [x, x]\nb: [*a, *a]\nentities: []\n", ""),
    "invalid utf-8": ("n.json", b'{"entities": [{"name": "L\xff", "id": "light.lamp"}]}', ""),
}


def _write(tmp_path: Path, name: str, content: object) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_text(content)
    else:
        p.write_text(json.dumps(content))
    return p


@pytest.mark.parametrize("what", sorted(CARELESS))
def test_config_check_refuses_a_careless_names_file_naming_key_and_file(tmp_path: Path, what: str) -> None:
    """`edge config check FILE`: "2 invalid, with each error naming key and file" — a config whose names file
    the daemon would refuse is invalid."""
    name, content, key = CARELESS[what]
    names = _write(tmp_path, name, content)
    out = edge("config", "check", str(config(tmp_path, names)))
    assert out.returncode == 2, (what, out.returncode, out.stdout, out.stderr)
    assert str(names) in out.stderr and "home.names" in out.stderr, out.stderr
    assert key in out.stderr, (key, out.stderr)
    assert "valid" not in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("what", ["entity without name", "entity in an unknown area", "yaml syntax",
                                  "yaml aliases (a billion laughs)", "invalid utf-8", "top level a list"])
def test_run_refuses_a_careless_names_file_with_exit_2_naming_key_and_file(tmp_path: Path, what: str) -> None:
    """`edge run`: "2 on a bad config or model" — a names file it cannot use stops it at start, the log naming
    the file and the key, rather than a daemon that serves Assist with a wrong or empty home."""
    name, content, key = CARELESS[what]
    names = _write(tmp_path, name, content)
    out = edge("run", "--config", str(config(tmp_path, names)), timeout=90)
    assert out.returncode == 2, (what, out.returncode, out.stderr[-3000:])
    assert str(names) in out.stderr and key in out.stderr, out.stderr[-3000:]


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    """"each error": a file with three mistakes gets three lines, not one at a time over three restarts."""
    names = _write(tmp_path, "n.json", {"areas": [{"name": "K", "id": "k", "floor": "nope"}],
                                        "entities": [{"id": "light.a"}, {"name": "B", "id": "b"}]})
    out = edge("config", "check", str(config(tmp_path, names)))
    assert out.returncode == 2
    for key in ("areas[0].floor", "entities[0].name", "entities[1].id"):
        assert key in out.stderr, (key, out.stderr)


@pytest.mark.parametrize("make", ["missing", "directory", "oversized"])
def test_a_names_file_that_cannot_be_read_is_an_error_naming_it(tmp_path: Path, make: str) -> None:
    """A names path that is no readable file of sane size: exit 2, naming the file."""
    names = tmp_path / "names.json"
    if make == "directory":
        names.mkdir()
    elif make == "oversized":  # over edge.names_file.MAX_FILE_BYTES (8 MiB): not read into memory
        with names.open("w") as f:
            f.write('{"entities": [], "pad": "')
            f.write("x" * (9 << 20))
            f.write('"}')
    out = edge("config", "check", str(config(tmp_path, names)))
    assert out.returncode == 2 and str(names) in out.stderr, (out.returncode, out.stderr)


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_a_good_names_file_in_either_format_is_valid(tmp_path: Path, suffix: str) -> None:
    """"(YAML or JSON)"; "`aliases`, `floor`, `area`, `state` and `attributes` are optional"; unknown keys (a
    newer Home Assistant's) are no error."""
    doc = {**GOOD, "entities": GOOD["entities"] + [{"name": "Fan", "id": "fan.ceiling"},
                                                   {"name": "Door", "id": "lock.front", "state": "locked",
                                                    "attributes": {"device_class": "door"}, "icon": "mdi:door"}]}
    names = _write(tmp_path, "names" + suffix, json.dumps(doc))  # JSON is YAML too
    out = edge("config", "check", str(config(tmp_path, names)))
    assert out.returncode == 0, out.stderr
