"""This edge as a distribution: its name, where its files are, and its metadata (pyproject.toml, or installed)."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import edge

# The distribution's name: "edge" on the package index is somebody else's
# project, so ours is published as edge-intent (the import package and the
# command stay `edge`). First boot installs our wheel by its path, never by name.
DIST_NAME = "edge-intent"
PACKAGE_DIR = Path(edge.__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
# Run from a source checkout (not from site-packages, where a top-level
# "systemd" or "models" directory would belong to some other distribution).
IN_REPO = (REPO_DIR / "pyproject.toml").is_file() and (REPO_DIR / "firmware_configs").is_dir()


def metadata() -> dict:
    """This edge's name, version, requirements and scripts: from pyproject.toml, or the installed metadata."""
    pyproject = REPO_DIR / "pyproject.toml"
    if IN_REPO:
        with pyproject.open("rb") as fh:
            proj = tomllib.load(fh).get("project", {})
        if proj.get("name") == DIST_NAME:
            return {
                "name": proj["name"], "version": proj["version"], "summary": proj.get("description", ""),
                "requires_python": proj.get("requires-python", ""),
                "dependencies": list(proj.get("dependencies", [])), "scripts": dict(proj.get("scripts", {})),
                "extras": {k: list(v) for k, v in proj.get("optional-dependencies", {}).items()},
            }
    dist = importlib.metadata.distribution(DIST_NAME)
    return {
        "name": dist.metadata["Name"], "version": dist.version, "summary": dist.metadata.get("Summary", ""),
        "requires_python": dist.metadata.get("Requires-Python", ""),
        "dependencies": [r for r in dist.requires or [] if "extra ==" not in r],
        "scripts": {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"},
        "extras": _installed_extras(dist),
    }


def _installed_extras(dist: importlib.metadata.Distribution) -> dict[str, list[str]]:
    """{extra: its requirements, markers without the extra clause}, from installed metadata."""
    extras: dict[str, list[str]] = {name: [] for name in dist.metadata.get_all("Provides-Extra") or []}
    for req in dist.requires or []:
        m = re.search(r"""^(.*?);\s*(?:(.*?)\s+and\s+)?extra\s*==\s*['"]([^'"]+)['"]\s*$""", req)
        if m:
            extras.setdefault(m.group(3), []).append(m.group(1).strip() + (f"; {m.group(2)}" if m.group(2) else ""))
    return extras


def dependencies() -> list[str]:
    """The runtime dependencies' distribution names (markers and versions dropped)."""
    names: list[str] = []
    for req in metadata()["dependencies"]:
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
        if m and m.group(0) not in names:
            names.append(m.group(0))
    return names
