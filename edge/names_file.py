"""The home's names file (YAML or JSON) -> validated floors, areas and entities.

The shape is Home Assistant's intent test fixtures (interface.md, "Names
file"): `floors`, `areas` and `entities` lists; an area names its floor by id,
an entity its area (and optionally its floor) by id; the domain is the entity
id's prefix. Validation is strict about what resolution relies on (ids, names,
aliases, references, types) and reports every error at once, each naming the
file and the key path (`entities[3].id: ...`). Keys it does not know are kept
out of the result and reported as warnings, not errors: the fixtures carry
keys of their own (`language`, attributes such as `current_temperature`),
and a names file written for a newer Home Assistant must still load.

PyYAML is imported only for a YAML file (the `home` extra); JSON needs nothing
beyond the standard library. YAML anchors and aliases are refused (a few
lines of aliases expand to gigabytes), and so is a file over `MAX_FILE_BYTES`.

A YAML file is read in a child process (the same interpreter running this
module's `read_file`), which sends back the validated NamesData, or the errors,
as JSON: PyYAML's modules and the parse's garbage would otherwise stay in the
daemon's RSS for its whole life (0.9 MB, bench/wyoming.py --daemon-rss, YAML
against JSON names) for a file read once at start. The answer is the same
either way: the same code reads and validates it, and NamesData holds only
strings. Where PyYAML is imported already (a tool, the tests), or the child
cannot run, the file is read in this process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 8 << 20
MAX_NAME_CHARS = 128  # longer than any real name; resolution caps spans from this
MAX_ITEMS = 20000  # entities, areas or floors; Home Assistant homes have hundreds
_ENTITY_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
_KNOWN = {
    "floor": {"id", "name", "aliases", "level", "icon"},
    "area": {"id", "name", "floor", "aliases", "icon"},
    "entity": {"id", "name", "area", "floor", "aliases", "state", "attributes"},
    "top": {"floors", "areas", "entities", "language"},
}


class NamesError(Exception):
    """An unusable names file; `errors` holds one line each, naming file and key path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Floor:
    id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    floor: str | None = None  # a floor id
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    area: str | None = None  # an area id
    floor: str | None = None  # a floor id given on the entity itself (else its area's)
    aliases: tuple[str, ...] = ()
    state: str | None = None
    device_class: str | None = None

    @property
    def domain(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class NamesData:
    """What a file says, validated; edge/names.py builds the lookups from it."""

    source: str
    floors: tuple[Floor, ...]
    areas: tuple[Area, ...]
    entities: tuple[Entity, ...]
    warnings: tuple[str, ...] = ()


def read_file(path: str | Path) -> NamesData:
    """Read and validate a names file; YAML for .yaml/.yml, JSON otherwise. Raises NamesError."""
    p = Path(path)
    if p.suffix.lower() in (".yaml", ".yml") and "yaml" not in sys.modules:
        apart = _read_apart(p)
        if apart is not None:
            return apart
    return _read_here(p)


def _read_here(p: Path) -> NamesData:
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise NamesError([f"{p}: {size} bytes, more than the {MAX_FILE_BYTES} a names file may have"])
        raw = p.read_bytes()
    except OSError as e:
        raise NamesError([f"{p}: cannot read: {e.strerror or e}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NamesError([f"{p}: not UTF-8 (byte {e.start})"]) from None
    if p.suffix.lower() in (".yaml", ".yml"):
        doc = _load_yaml(text, p)
    else:
        doc = _load_json(text, p)
    return parse(doc, str(p))


def _read_apart(p: Path) -> NamesData | None:
    """`_read_here(p)` in a child process (the module docstring says why); None if the child could not
    run or answer (then the caller reads the file itself)."""
    package_root = str(Path(__file__).resolve().parent.parent)  # where this `edge` is imported from
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (package_root, env.get("PYTHONPATH")) if x)
    try:
        out = subprocess.run([sys.executable, "-c", "import sys, edge.names_file as n; n._child(sys.argv[1])",
                              str(p)], capture_output=True, env=env, stdin=subprocess.DEVNULL, check=False)
        answer = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, ValueError):
        return None
    if not isinstance(answer, dict):
        return None
    if "errors" in answer:
        raise NamesError(answer["errors"])
    d = answer["data"]
    return NamesData(d["source"], tuple(Floor(f[0], f[1], tuple(f[2])) for f in d["floors"]),
                     tuple(Area(a[0], a[1], a[2], tuple(a[3])) for a in d["areas"]),
                     tuple(Entity(e[0], e[1], e[2], e[3], tuple(e[4]), e[5], e[6]) for e in d["entities"]),
                     tuple(d["warnings"]))


def _child(path: str) -> None:
    """The child of `_read_apart`: the file read here, its NamesData (strings, None and lists only) or
    its errors written to stdout as JSON."""
    try:
        data = _read_here(Path(path))
    except NamesError as e:
        answer: dict[str, Any] = {"errors": e.errors}
    else:
        answer = {"data": {"source": data.source,
                           "floors": [(f.id, f.name, f.aliases) for f in data.floors],
                           "areas": [(a.id, a.name, a.floor, a.aliases) for a in data.areas],
                           "entities": [(e.id, e.name, e.area, e.floor, e.aliases, e.state, e.device_class)
                                        for e in data.entities],
                           "warnings": data.warnings}}
    sys.stdout.write(json.dumps(answer))


def _load_json(text: str, p: Path) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as e:
        raise NamesError([f"{p}: not valid JSON: {e}"]) from None


def _load_yaml(text: str, p: Path) -> Any:
    try:
        import yaml  # the `home` extra; only a YAML names file needs it
    except ImportError:
        raise NamesError([f"{p}: a YAML names file needs PyYAML (pip install 'edge-intent[home]'), "
                          "or write the file as JSON"]) from None

    class _NoAliases(yaml.SafeLoader):
        """safe_load without anchors/aliases: a few aliases can expand to gigabytes."""

        def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"aliases are not allowed (line {mark.line + 1})")
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError) as e:
        raise NamesError([f"{p}: not valid YAML: {e}"]) from None


class _Checker:
    """Collects errors and warnings, each prefixed with the file and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, path: str, msg: str) -> None:
        self.errors.append(f"{self.source}: {path}: {msg}")

    def text(self, path: str, value: Any, *, required: bool, what: str = "a name") -> str | None:
        """A non-empty, printable string of at most MAX_NAME_CHARS, or None (error recorded if required/wrong)."""
        if value is None:
            if required:
                self.error(path, f"missing (must be {what})")
            return None
        if not isinstance(value, str):
            self.error(path, f"must be a string ({what}), not {type(value).__name__} {_show(value)}")
            return None
        if not value.strip():
            self.error(path, "must not be empty")
            return None
        if len(value) > MAX_NAME_CHARS:
            self.error(path, f"{len(value)} characters, more than {MAX_NAME_CHARS}")
            return None
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
            self.error(path, f"contains control characters: {_show(value)}")
            return None
        return value

    def aliases(self, path: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(path, f"must be a list of names, not {type(value).__name__}")
            return ()
        out = [self.text(f"{path}[{i}]", a, required=True) for i, a in enumerate(value)]
        return tuple(a for a in out if a is not None)

    def unknown(self, path: str, item: dict[str, Any], kind: str) -> None:
        for k in item:
            if k not in _KNOWN[kind]:
                self.warnings.append(f"{self.source}: {path}.{k}: unknown key, ignored")


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _items(c: _Checker, doc: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        c.error(key, f"must be a list, not {type(value).__name__}")
        return []
    if len(value) > MAX_ITEMS:
        c.error(key, f"{len(value)} items, more than {MAX_ITEMS}")
        return []
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            out.append((f"{key}[{i}]", item))
        else:
            c.error(f"{key}[{i}]", f"must be a mapping, not {type(item).__name__}")
    return out


def _state(c: _Checker, path: str, value: Any) -> str | None:
    """A state as a string. YAML 1.1 reads an unquoted on/off as a boolean; {in, out} is the fixtures' form."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict) and isinstance(value.get("out", value.get("in")), (str, bool, int, float)):
        return _state(c, path, value.get("out", value.get("in")))
    if isinstance(value, str):
        return value
    c.error(path, f"must be a string, not {type(value).__name__}")
    return None


def parse(doc: Any, source: str) -> NamesData:
    """Validate a loaded document (dicts and lists) into NamesData; raises NamesError listing every problem."""
    c = _Checker(source)
    if not isinstance(doc, dict):
        raise NamesError([f"{source}: must be a mapping with floors, areas and entities, "
                          f"not {type(doc).__name__}"])
    for k in doc:
        if k not in _KNOWN["top"]:
            c.warnings.append(f"{source}: {k}: unknown key, ignored")
    floors: list[Floor] = []
    areas: list[Area] = []
    entities: list[Entity] = []
    seen: dict[str, dict[str, str]] = {"floors": {}, "areas": {}, "entities": {}}

    def ident(path: str, value: Any, kind: str) -> str | None:
        got = c.text(f"{path}.id", value, required=True, what="an id")
        if got is None:
            return None
        if kind == "entities" and not _ENTITY_ID.match(got):
            c.error(f"{path}.id", f"{got!r} is not an entity id (domain.object_id, lower case)")
            return None
        if got in seen[kind]:
            c.error(f"{path}.id", f"duplicate id {got!r} (also {seen[kind][got]})")
            return None
        seen[kind][got] = path
        return got

    for path, item in _items(c, doc, "floors"):
        c.unknown(path, item, "floor")
        fid, name = ident(path, item.get("id"), "floors"), c.text(f"{path}.name", item.get("name"), required=True)
        aliases = c.aliases(f"{path}.aliases", item.get("aliases"))
        if fid and name:
            floors.append(Floor(fid, name, aliases))
    area_items = _items(c, doc, "areas")
    for path, item in area_items:  # ids first, so that entities can be checked against all of them
        c.unknown(path, item, "area")
        aid, name = ident(path, item.get("id"), "areas"), c.text(f"{path}.name", item.get("name"), required=True)
        floor = c.text(f"{path}.floor", item.get("floor"), required=False, what="a floor id")
        if floor is not None and floor not in seen["floors"]:
            c.error(f"{path}.floor", f"no floor has id {floor!r}")
        aliases = c.aliases(f"{path}.aliases", item.get("aliases"))
        if aid and name:
            areas.append(Area(aid, name, floor, aliases))
    for path, item in _items(c, doc, "entities"):
        c.unknown(path, item, "entity")
        eid, name = ident(path, item.get("id"), "entities"), c.text(f"{path}.name", item.get("name"), required=True)
        area = c.text(f"{path}.area", item.get("area"), required=False, what="an area id")
        if area is not None and area not in seen["areas"]:
            c.error(f"{path}.area", f"no area has id {area!r}")
        floor = c.text(f"{path}.floor", item.get("floor"), required=False, what="a floor id")
        if floor is not None and floor not in seen["floors"]:
            c.error(f"{path}.floor", f"no floor has id {floor!r}")
        aliases = c.aliases(f"{path}.aliases", item.get("aliases"))
        state = _state(c, f"{path}.state", item.get("state"))
        attrs = item.get("attributes")
        device_class = None
        if attrs is not None and not isinstance(attrs, dict):
            c.error(f"{path}.attributes", f"must be a mapping, not {type(attrs).__name__}")
        elif attrs:
            device_class = c.text(f"{path}.attributes.device_class", attrs.get("device_class"), required=False,
                                  what="a device class")
        if eid and name:
            entities.append(Entity(eid, name, area, floor, aliases, state, device_class))
    if c.errors:
        raise NamesError(c.errors)
    return NamesData(source, tuple(floors), tuple(areas), tuple(entities), tuple(c.warnings))
