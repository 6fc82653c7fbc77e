"""The configuration's documentation, generated from its schema (edge.config's dataclasses).

`schema_toml()` is the README's configuration block (tests/test_config_doc.py
keeps the two equal; `edge config schema` prints it, scripts/config-docs writes
it into the README); `settings_toml()` is `edge config check NAME --show`: the
same annotated TOML with a device's resolved values and where each came from.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
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


def _line(code: str, comment: str, note: str = "") -> list[str]:
    """`code`, then `comment` wrapped at the comment column; `note` (a source's path) is never split."""
    if not comment and not note:
        return [code]
    pad = max(COMMENT_COLUMN, len(code) + 1)
    room = WIDTH - pad - 2
    lines = textwrap.wrap(comment, room, break_on_hyphens=False)
    if note:
        if lines and len(lines[-1]) + 1 + len(note) <= room:
            lines[-1] += " " + note
        else:
            lines.append(note)
    first = f"{code.ljust(pad)}# {lines[0]}"
    return [first, *(f"{' ' * pad}# {more}" for more in lines[1:])]


def _render(value_of: Any, note_of: Any) -> str:
    out: list[str] = []
    section = ""
    for key, f in config.schema():
        sec, _, name = key.rpartition(".")
        if sec != section:
            section = sec
            doc = next(s.metadata.get("doc", "") for s in config.dataclasses.fields(config.Settings) if s.name == sec)
            out += ["", *_line(f"[{sec}]", doc)]
        out += _line(f"{name} = {toml_value(value_of(key, f))}", f.metadata["doc"], note_of(key))
    return "\n".join(out) + "\n"


def schema_toml() -> str:
    """Every key with its default and description: the README's configuration block."""
    return _render(lambda _key, f: f.default, lambda _key: "")


def settings_toml(s: config.Settings) -> str:
    """Resolved settings as annotated TOML; a key set by a profile, file or the environment says which."""
    def value_of(key: str, _f: Any) -> Any:
        sec, _, name = key.rpartition(".")
        return getattr(getattr(s, sec) if sec else s, name)

    # A key says which source set it by the file's name (the header has the paths), unless two share one.
    names = [Path(src).name if src != "environment" else src for src in s.sources]
    short = {src: name if names.count(name) == 1 else src for src, name in zip(s.sources, names)}

    def note_of(key: str) -> str:
        where = s.origin(key)
        return "" if where == "defaults" else f"[from {short.get(where, where)}]"

    head = [f"# edge settings, from: {', '.join(s.sources) or 'defaults only'}",
            "# (a key without [from ...] has its default; edge config schema lists them all)"]
    return "\n".join(head) + "\n" + _render(value_of, note_of)


def schema_json() -> list[dict[str, Any]]:
    """The schema for machines: key, type, default, description, environment variable, limits."""
    out = []
    for key, f in config.schema():
        check = f.metadata["check"]
        entry: dict[str, Any] = {
            "key": key, "type": config.type_name(config.TYPES[str(f.type)]).split(" ", 1)[1],
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


README_SECTION = "## Configuration"


def readme_block_span(readme: str) -> tuple[int, int]:
    """Where the configuration block's body lies in README.md: the first ```toml fence
    after the "## Configuration" heading, up to its closing fence."""
    section = readme.index(f"\n{README_SECTION}\n")
    start = readme.index("\n```toml\n", section) + len("\n```toml\n")
    return start, readme.index("\n```\n", start - 1) + 1


def readme_with_schema(readme: str) -> str:
    start, end = readme_block_span(readme)
    return readme[:start] + schema_toml() + readme[end:]
