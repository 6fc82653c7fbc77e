"""The names file (edge/names_file.py, read through edge.names.load): YAML or JSON, every validation
error naming the file and the key, all reported at once, hostile files (bombs, huge, not UTF-8)
refused; against a made-up home (tests/data/home_names.yaml)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.names import Names, NamesError, load

HOME = Path(__file__).parent / "data" / "home_names.yaml"


@pytest.fixture(scope="module")
def names() -> Names:
    return load(HOME)


def test_the_home_loads_with_everything_in_it(names: Names) -> None:
    assert len(names.floors) == 3 and len(names.areas) == 11 and len(names.entities) == 44
    assert names.warnings == ()
    e = {e.id: e for e in names.entities}
    assert e["cover.garage_door"].domain == "cover" and e["cover.garage_door"].device_class == "garage"
    assert e["switch.coffee_maker"].state == "off"  # YAML 1.1 read the unquoted off as False
    assert e["cover.bedroom_shutter"].state == "open"  # the fixtures' {in, out} form
    assert names.floor_of(e["light.stairs"]) == "first_floor"  # a floor on the entity itself
    assert names.floor_of(e["light.garage"]) == "ground_floor"  # through its area


def test_json_and_yaml_give_the_same_names(names: Names, tmp_path: Path) -> None:
    doc = yaml.safe_load(HOME.read_text(encoding="utf-8"))
    p = tmp_path / "home.json"
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    j = load(p)
    assert j.entities == names.entities and dict(j.areas) == dict(names.areas) and dict(j.floors) == dict(names.floors)
    assert j.resolve({"name": "the kitchen lights"}, "en") == names.resolve({"name": "the kitchen lights"}, "en")


def test_a_json_names_file_does_not_import_yaml(tmp_path: Path) -> None:
    p = tmp_path / "n.json"
    p.write_text('{"areas": [{"id": "k", "name": "Kitchen"}], "entities": [{"id": "light.a", "name": "Lamp", "area": "k"}]}')
    code = (f"import sys; from edge.names import load; n = load({str(p)!r}); "
            "assert 'yaml' not in sys.modules, 'yaml imported'; print(n.resolve({'name': 'lamp'}, 'en').slots['name'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Lamp"


def _bad(tmp_path: Path, doc: Any, name: str = "bad.json") -> list[str]:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    with pytest.raises(NamesError) as err:
        load(p)
    assert all(line.startswith(str(p)) for line in err.value.errors), err.value.errors
    return err.value.errors


GOOD_AREA = {"id": "kitchen", "name": "Kitchen"}


@pytest.mark.parametrize("doc, where, what", [
    ({"entities": [{"id": "light.a", "name": "A"}, {"id": "light.a", "name": "B"}]}, "entities[1].id", "duplicate id"),
    ({"entities": [{"id": "light.a", "name": "A", "area": "attic"}]}, "entities[0].area", "no area has id 'attic'"),
    ({"entities": [{"id": "light.a", "name": 42}]}, "entities[0].name", "must be a string"),
    ({"entities": [{"id": "light.a"}]}, "entities[0].name", "missing"),
    ({"entities": [{"id": "Light A", "name": "A"}]}, "entities[0].id", "not an entity id"),
    ({"entities": [{"id": "light.a", "name": "A", "aliases": "lamp"}]}, "entities[0].aliases", "must be a list"),
    ({"entities": [{"id": "light.a", "name": "A", "aliases": ["ok", 3]}]}, "entities[0].aliases[1]", "must be a string"),
    ({"entities": [{"id": "light.a", "name": "  "}]}, "entities[0].name", "must not be empty"),
    ({"entities": [{"id": "light.a", "name": "A\x07"}]}, "entities[0].name", "control characters"),
    ({"entities": [{"id": "light.a", "name": "A" * 129}]}, "entities[0].name", "more than 128"),
    ({"entities": [{"id": "light.a", "name": "A", "attributes": []}]}, "entities[0].attributes", "must be a mapping"),
    ({"entities": [{"id": "light.a", "name": "A", "attributes": {"device_class": 1}}]},
     "entities[0].attributes.device_class", "must be a string"),
    ({"entities": [{"id": "light.a", "name": "A", "state": ["on"]}]}, "entities[0].state", "must be a string"),
    ({"entities": ["light.a"]}, "entities[0]", "must be a mapping"),
    ({"entities": {"light.a": "A"}}, "entities", "must be a list"),
    ({"areas": [{"id": "k", "name": "Kitchen", "floor": "up"}]}, "areas[0].floor", "no floor has id 'up'"),
    ({"areas": [GOOD_AREA, {"id": "kitchen", "name": "Other"}]}, "areas[1].id", "duplicate id"),
    ({"areas": [GOOD_AREA, {"id": "k2", "name": " KITCHEN "}]}, "areas[1].name", "also the name of area 'kitchen'"),
    ({"floors": [{"id": "f", "name": None}]}, "floors[0].name", "missing"),
    ({"floors": [{"name": "Up"}]}, "floors[0].id", "missing"),
])
def test_each_validation_error_names_the_file_and_the_key(tmp_path: Path, doc: Any, where: str, what: str) -> None:
    errors = _bad(tmp_path, doc)
    assert any(f": {where}: " in e and what in e for e in errors), errors


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    errors = _bad(tmp_path, {"entities": [{"id": "x", "name": "A"}, {"id": "light.b", "name": 1},
                                          {"id": "light.c", "name": "C", "area": "nowhere"}]})
    assert len(errors) == 3, errors


@pytest.mark.parametrize("text, what", [
    ("[1, 2]", "must be a mapping"),
    ("{not json", "not valid JSON"),
    ('{"entities": [], "entities": []}', "duplicate key 'entities'"),
    ("", "not valid JSON"),
])
def test_unusable_json_files(tmp_path: Path, text: str, what: str) -> None:
    assert any(what in e for e in _bad(tmp_path, text)), what


def test_unusable_yaml_files(tmp_path: Path) -> None:
    assert any("not valid YAML" in e for e in _bad(tmp_path, "entities: [\n", "bad.yaml"))
    # a "billion laughs": a few lines of aliases that would expand to gigabytes are refused unexpanded
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    assert any("aliases are not allowed" in e for e in _bad(tmp_path, bomb, "bomb.yml"))
    p = tmp_path / "latin1.yaml"
    p.write_bytes("areas: [{id: k, name: K\xfcche}]".encode("latin-1"))
    with pytest.raises(NamesError, match="not UTF-8"):
        load(p)


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(NamesError, match="cannot read"):
        load(tmp_path / "absent.yaml")
    p = tmp_path / "huge.json"
    with p.open("wb") as f:
        f.truncate((8 << 20) + 1)
    with pytest.raises(NamesError, match="more than"):
        load(p)


def test_unknown_keys_are_warnings_not_errors(tmp_path: Path) -> None:
    p = tmp_path / "n.json"
    p.write_text(json.dumps({"timers": [], "entities": [{"id": "light.a", "name": "A", "alias": ["x"]}]}))
    n = load(p)
    assert [w.split(": ", 1)[1] for w in n.warnings] == ["timers: unknown key, ignored",
                                                         "entities[0].alias: unknown key, ignored"]


def test_names_are_immutable(names: Names) -> None:
    with pytest.raises(AttributeError):
        names.entities = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        names.areas["attic"] = names.areas["kitchen"]  # type: ignore[index]
