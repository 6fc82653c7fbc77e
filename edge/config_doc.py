"""The configuration's documentation, generated from its schema (edge.config's dataclasses).

`schema_toml()` is the README's configuration block (tests/test_config_doc.py
keeps the two equal; `edge config schema` prints it, scripts/config-docs writes
it into the README); `settings_toml()` is `edge config check NAME --show`: the
same annotated TOML with a device's resolved values and where each came from.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from edge import config

COMMENT_COLUMN = 33  # where the comments start (0-based), as in the hand-written block this replaces
WIDTH = 110


def toml_value(value: Any) -> str:
    """A settings value as TOML (JSON's string escapes are TOML's; strings are checked UTF-8)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _line(code: str, comment: str) -> list[str]:
    if not comment:
        return [code]
    pad = max(COMMENT_COLUMN, len(code) + 1)
    lines = textwrap.wrap(comment, WIDTH - pad - 2, break_on_hyphens=False) or [""]
    first = f"{code.ljust(pad)}# {lines[0]}"
    return [first, *(f"{' ' * pad}# {more}" for more in lines[1:])]


def _render(value_of: Any, note_of: Any) -> str:
    out: list[str] = []
    section = ""
    for key, f in config.schema():
        sec, _, name = key.rpartition(".")
        if sec != section:
            section = sec
            doc = next(s.metadata["doc"] for s in config.dataclasses.fields(config.Settings) if s.name == sec)
            out += ["", *_line(f"[{sec}]", doc)]
        doc = " ".join(part for part in (f.metadata["doc"], note_of(key)) if part)
        out += _line(f"{name} = {toml_value(value_of(key, f))}", doc)
    return "\n".join(out) + "\n"


def schema_toml() -> str:
    """Every key with its default and description: the README's configuration block."""
    return _render(lambda _key, f: f.default, lambda _key: "")


def settings_toml(s: config.Settings) -> str:
    """Resolved settings as annotated TOML; a key set by a profile, file or the environment says which."""
    def value_of(key: str, _f: Any) -> Any:
        sec, _, name = key.rpartition(".")
        return getattr(getattr(s, sec) if sec else s, name)

    def note_of(key: str) -> str:
        where = s.origin(key)
        return "" if where == "defaults" else f"[from {where}]"

    head = f"# edge settings from {', '.join(s.sources) or 'defaults'} (edge config schema: every key's default)"
    return head + "\n" + _render(value_of, note_of)


def schema_json() -> list[dict[str, Any]]:
    """The schema for machines: key, type, default, description, environment variable, limits."""
    out = []
    for key, f in config.schema():
        check = f.metadata["check"]
        entry: dict[str, Any] = {
            "key": key, "type": config._type_name(config._TYPES[str(f.type)]).split(" ", 1)[1],
            "default": list(f.default) if isinstance(f.default, tuple) else f.default,
            "description": f.metadata["doc"], "env": config.env_name(key),
        }
        if check.choices is not None:
            entry["choices"] = list(check.choices)
        if check.min is not None:
            entry["min"] = check.min
        if check.max is not None:
            entry["max"] = check.max
        out.append(entry)
    return out
