"""`edge install`: lay out a device's files under a root file system, for flashing.

The root is a mounted SD card (Raspberry Pi OS's second partition) or an image
being built. Nothing is executed for the target: the application goes on the
card as wheels under /opt/edge, and `edge-firstboot.service` builds
/opt/edge/venv from them on the device's first boot (a venv cannot be built
here: the host's Python and CPU are not the Pi's). Beside them: the model
package, /etc/edge/edge.toml from the profile, the units (enabled) with the
profile's limits, the system user. docs/device.md lists every path.
Running it again updates the card in place; identical files are left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import json
import os
import re
import sys
import tomllib
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path
from typing import Callable

import edge
from edge import config

# The distribution's name: "edge" on the package index is somebody else's
# project, so ours is published as edge-intent (the import package and the
# command stay `edge`). First boot installs our wheel by its path, never by name.
DIST_NAME = "edge-intent"
WHEEL_STEM = DIST_NAME.replace("-", "_")
# Wheels of ours that an older install may have left (the distribution used to be called "edge").
_OUR_WHEELS = (f"{WHEEL_STEM}-", "edge-")
PREFIX = Path("/opt/edge")
CONFIG_PATH = Path("/etc/edge/edge.toml")
UNIT_DIR = Path("/etc/systemd/system")
# edge.model.default_model_path() names the same directory; install may not import edge.model.
DEFAULT_MODEL = "clinc150"
_PACKAGE = Path(edge.__file__).resolve().parent
_REPO = _PACKAGE.parent
# Run from a source checkout (not from site-packages, where a top-level
# "systemd" or "models" directory would belong to some other distribution).
_IN_REPO = (_REPO / "pyproject.toml").is_file() and (_REPO / "firmware_configs").is_dir()


class InstallError(Exception):
    """A reason the install cannot go ahead; `edge install` prints it and exits 2."""


def _data_dir(repo_name: str, packaged_name: str) -> Path:
    """A data directory of this source tree, or its copy inside an installed package."""
    for candidate in (_REPO / repo_name if _IN_REPO else None, _PACKAGE / packaged_name):
        if candidate is not None and candidate.is_dir():
            return candidate
    raise InstallError(f"cannot find {repo_name}/ beside the edge package ({_REPO})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Tree:
    """Writes under the root: atomically, with explicit modes, never through a link out of the root."""

    def __init__(self, root: Path, log: Callable[[str], None]) -> None:
        self.root = root.resolve()
        self.log = log
        self.files: list[Path] = []

    def path(self, target: Path) -> Path:
        return self.root / target.relative_to("/")

    def mkdir(self, target: Path, mode: int = 0o755) -> Path:
        p = self.root
        for part in target.relative_to("/").parts:
            p = p / part
            if p.exists() or p.is_symlink():
                # An absolute link in a mounted image (say etc -> /etc) points
                # into the host: refuse rather than write there.
                if not p.resolve().is_relative_to(self.root):
                    raise InstallError(f"{p} leads out of the root {self.root} (a link?); refusing to write there")
            else:
                p.mkdir()
                p.chmod(0o755)  # explicit: the host's umask must not decide what the device can read
        if mode != 0o755:
            p.chmod(mode)
        return p

    def write(self, target: Path, data: bytes, mode: int = 0o644) -> Path:
        p = self.mkdir(target.parent) / target.name
        if p.is_file() and not p.is_symlink() and p.read_bytes() == data:
            p.chmod(mode)
        else:
            tmp = p.with_name(f".{p.name}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(mode)
            os.replace(tmp, p)
            self.log(f"wrote {target}")
        self.files.append(p)
        return p

    def copy(self, src: Path, target: Path, mode: int = 0o644) -> Path:
        return self.write(target, src.read_bytes(), mode)

    def link(self, target: Path, points_to: Path) -> Path:
        p = self.mkdir(target.parent) / target.name
        if not (p.is_symlink() and os.readlink(p) == str(points_to)):
            if p.is_symlink() or p.exists():
                p.unlink()
            p.symlink_to(points_to)  # absolute, as `systemctl enable` writes it
            self.log(f"linked {target} -> {points_to}")
        self.files.append(p)
        return p


def _project() -> dict:
    """This edge's name, version, requirements and scripts: from pyproject.toml, or the installed metadata."""
    pyproject = _REPO / "pyproject.toml"
    if _IN_REPO:
        with pyproject.open("rb") as fh:
            proj = tomllib.load(fh).get("project", {})
        if proj.get("name") == DIST_NAME:
            return {
                "name": proj["name"], "version": proj["version"], "summary": proj.get("description", ""),
                "requires_python": proj.get("requires-python", ""),
                "dependencies": list(proj.get("dependencies", [])), "scripts": dict(proj.get("scripts", {})),
            }
    dist = importlib.metadata.distribution(DIST_NAME)
    return {
        "name": dist.metadata["Name"], "version": dist.version, "summary": dist.metadata.get("Summary", ""),
        "requires_python": dist.metadata.get("Requires-Python", ""),
        "dependencies": [r for r in dist.requires or [] if "extra ==" not in r],
        "scripts": {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"},
    }


def project_dependencies() -> list[str]:
    """The runtime dependencies' distribution names (markers and versions dropped)."""
    names: list[str] = []
    for req in _project()["dependencies"]:
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
        if m and m.group(0) not in names:
            names.append(m.group(0))
    return names


def _wheel_files() -> list[tuple[str, Path]]:
    """(archive name, file) for the package, with models/, firmware_configs/ and systemd/ inside it.

    The repository keeps those three at the top where people look for them;
    in the wheel they become edge/models (where edge.model looks for the
    default model), edge/firmware_configs (where edge.config looks for
    profiles) and edge/units (so an installed `edge install` finds the units).
    """
    files: list[tuple[str, Path]] = []
    for p in sorted(_PACKAGE.rglob("*")):
        rel = p.relative_to(_PACKAGE)
        if p.is_file() and "__pycache__" not in rel.parts and p.suffix != ".pyc" \
                and rel.parts[0] not in ("models", "firmware_configs", "units"):
            files.append((f"edge/{rel.as_posix()}", p))
    models = _PACKAGE / "models" if not _IN_REPO else _REPO / "models"
    for p in sorted(models.rglob("*")):  # nothing when no model was shipped: --model brings one
        rel = p.relative_to(models)
        # The same files pyproject.toml's package-data ships, and no training leftovers.
        if p.is_file() and (len(rel.parts) == 2 and p.suffix in (".tflite", ".model", ".json")
                            or len(rel.parts) == 1 and p.suffix == ".py"):
            files.append((f"edge/models/{rel.as_posix()}", p))
    files += [(f"edge/firmware_configs/{p.name}", p) for p in sorted(config.profiles_dir().glob("*.toml"))]
    units = _data_dir("systemd", "units")
    files += [(f"edge/units/{p.name}", p) for p in sorted(units.iterdir()) if p.is_file()]
    if _IN_REPO and (_REPO / "docs" / "device.md").is_file():
        files.append(("edge/units/README.md", _REPO / "docs" / "device.md"))  # becomes /opt/edge/README.md
    return files


def build_wheel() -> tuple[str, bytes]:
    """A pure-Python wheel of this edge, zipped here: no build backend, no network, same bytes every time."""
    proj = _project()
    dist = f"{proj['name'].replace('-', '_')}-{proj['version']}"
    info = f"{dist}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {proj['name']}", f"Version: {proj['version']}"]
    if proj["summary"]:
        meta.append(f"Summary: {' '.join(proj['summary'].split())}")
    if proj["requires_python"]:
        meta.append(f"Requires-Python: {proj['requires_python']}")
    meta += [f"Requires-Dist: {d}" for d in proj["dependencies"]]
    entries = [(arc, p.read_bytes()) for arc, p in _wheel_files()]
    entries.append((f"{info}/METADATA", ("\n".join(meta) + "\n").encode()))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: edge.install\nRoot-Is-Purelib: true\n"
                                     b"Tag: py3-none-any\n"))
    if proj["scripts"]:
        eps = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in proj["scripts"].items())
        entries.append((f"{info}/entry_points.txt", eps.encode()))
    entries.append((f"{info}/top_level.txt", b"edge\n"))
    record = "".join(
        f"{arc},sha256={urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for arc, data in entries
    ) + f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arc, data in entries:
            zinfo = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: reruns give the same bytes
            zinfo.external_attr = 0o644 << 16
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zinfo, data)
    return f"{dist}-py3-none-any.whl", buf.getvalue()


def find_model(model: Path | None) -> Path:
    """The model package to ship: --model, else the default one in models/, else the only one."""
    if model is not None:
        if not (model / "manifest.json").is_file():
            raise InstallError(f"{model}: not a model package (no manifest.json)")
        return model
    models = _data_dir("models", "models")
    packages = sorted(p.parent for p in models.glob("*/manifest.json"))
    if not packages:
        raise InstallError(f"no model package in {models}; train one (`edge train`) or pass --model DIR")
    for p in packages:
        if p.name == DEFAULT_MODEL:
            return p
    if len(packages) == 1:
        return packages[0]
    names = ", ".join(p.name for p in packages)
    raise InstallError(f"several model packages in {models} ({names}); choose one with --model DIR")


def verified_model_files(model: Path) -> tuple[dict, list[str]]:
    """The manifest and its file list, after checking each file against its sha256."""
    try:
        manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InstallError(f"{model / 'manifest.json'}: cannot read: {exc}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise InstallError(f"{model / 'manifest.json'}: no 'files' mapping of file names to sha256")
    for name, digest in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise InstallError(f"{model / 'manifest.json'}: files: {name!r} is not a plain file name")
        path = model / name
        if not path.is_file():
            raise InstallError(f"{path}: listed in the manifest but missing")
        if _sha256(path) != digest:
            raise InstallError(f"{path}: sha256 does not match the manifest; refusing to ship it")
    return manifest, sorted(files)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
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


def render_config(profile_name: str, profile_data: dict, model_dir: Path) -> str:
    """edge.toml: the profile's settings (re-rendered: hints go inside their tables) plus the model path."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in profile_data.items()}
    data.setdefault("model", {})["path"] = str(model_dir)
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
    return "\n".join(lines) + "\n"


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


def install(
    root: Path,
    profile: str,
    *,
    wheel_dir: Path | None = None,
    model: Path | None = None,
    log: Callable[[str], None] = print,
    force_config: bool = False,
) -> list[Path]:
    """Lay out everything a device needs under `root`; returns the files laid out (written or already current)."""
    root = Path(root)
    if not root.is_dir():
        raise InstallError(f"{root}: not a directory (mount the card's root partition and name its mount point)")
    try:
        settings = config.load(profile=profile, environ={})  # the host's EDGE_* variables are not the device's
    except config.ConfigError as exc:
        raise InstallError(str(exc)) from None
    profile_path = config.resolve_profile(profile)
    profile_name = profile_path.stem
    if wheel_dir is not None and not wheel_dir.is_dir():
        raise InstallError(f"{wheel_dir}: --wheel-dir is not a directory")
    model_src = find_model(model)
    manifest, model_files = verified_model_files(model_src)
    tree = _Tree(root, log)

    # The application: our wheel, plus dependency wheels for an offline first boot.
    wheels = PREFIX / "wheels"
    wheel_name, wheel_bytes = build_wheel()
    tree.write(wheels / wheel_name, wheel_bytes)
    for stale in tree.path(wheels).glob("*.whl"):
        if stale.name.startswith(_OUR_WHEELS) and stale.name != wheel_name:  # only this version goes on the card
            stale.unlink()
            log(f"removed {wheels / stale.name}")
    if wheel_dir is not None:
        for whl in sorted(wheel_dir.glob("*.whl")):
            if not whl.name.startswith(_OUR_WHEELS):
                tree.copy(whl, wheels / whl.name)
    _report_dependencies(tree.root, tree.path(wheels), wheel_dir, log)
    env, _ = target_of_root(tree.root)
    if env and env["platform_machine"] == "armv7l" and profile_name in _BOARDS_WITH_A_64BIT_KERNEL:
        # pip evaluates markers with the kernel's machine (uname -m), aarch64 there,
        # and would want aarch64-only dependencies in a 32-bit Python.
        log(f"this card has 32-bit Raspberry Pi OS, which boots a 64-bit kernel on the {profile_name}: "
            "use the 64-bit OS (docs/device.md), or add arm_64bit=0 to config.txt on the boot partition")

    # The model, copied and then checked again on the card (SD writes do fail).
    model_dest = PREFIX / "models" / model_src.name
    for name in ["manifest.json", *model_files]:
        written = tree.copy(model_src / name, model_dest / name)
        if name != "manifest.json" and _sha256(written) != manifest["files"][name]:
            raise InstallError(f"{written}: sha256 differs after copying; the card may be failing")
    keep = {"manifest.json", *model_files}
    for old in tree.path(model_dest).iterdir():
        if old.is_file() and old.name not in keep:
            old.unlink()

    # Configuration. An edited edge.toml is the user's: keep it and put ours beside it.
    with profile_path.open("rb") as fh:
        profile_data = tomllib.load(fh)
    rendered = render_config(profile_name, profile_data, model_dest).encode()
    cfg, pristine = tree.path(CONFIG_PATH), tree.path(PREFIX / "edge.toml.installed")
    ours = not cfg.exists() or cfg.read_bytes() == rendered or (
        pristine.is_file() and cfg.read_bytes() == pristine.read_bytes())
    if ours or force_config:
        tree.write(CONFIG_PATH, rendered)
        tree.write(PREFIX / "edge.toml.installed", rendered)
    else:
        tree.write(CONFIG_PATH.with_name("edge.toml.new"), rendered)
        log(f"kept your edited {CONFIG_PATH}; the {profile_name} profile's version is in edge.toml.new")
    tree.mkdir(Path("/etc/edge/credentials"), 0o700)

    # systemd: units, the profile's limits, enablement, user, first boot.
    units = _data_dir("systemd", "units")
    tree.copy(units / "edge.service", UNIT_DIR / "edge.service")
    tree.copy(units / "edge-firstboot.service", UNIT_DIR / "edge-firstboot.service")
    tree.write(UNIT_DIR / "edge.service.d" / "10-profile.conf", render_dropin(profile_name, settings.board).encode())
    for unit in ("edge.service", "edge-firstboot.service"):
        tree.link(UNIT_DIR / "multi-user.target.wants" / unit, UNIT_DIR / unit)
    tree.copy(units / "edge.sysusers", Path("/usr/lib/sysusers.d/edge.conf"))
    tree.copy(units / "edge-firstboot.sh", PREFIX / "bin" / "edge-firstboot", 0o755)
    docs = _REPO / "docs" / "device.md" if _IN_REPO else _PACKAGE / "units" / "README.md"
    if docs.is_file():
        tree.copy(docs, PREFIX / "README.md")
    # What first boot installs: this wheel, by path, checked against its sha256 and version.
    release = (f"wheel={wheel_name}\nversion={_project()['version']}\n"
               f"sha256={hashlib.sha256(wheel_bytes).hexdigest()}\n")
    tree.write(PREFIX / "release", release.encode())
    # Tells edge-firstboot.service to (re)build the venv from these wheels on the next boot.
    tree.write(PREFIX / "install-pending", f"{wheel_name}\n".encode())
    log(f"installed edge ({wheel_name}, model {manifest.get('name')}@{manifest.get('version')}, "
        f"profile {profile_name}) under {tree.root}")
    return tree.files


# --- What the target needs: requirements and PEP 508 markers evaluated for the card, not this host.

# The variables a marker may name, for a Linux CPython target.
def target_env(machine: str, python: str = "3.11") -> dict[str, str]:
    """Marker variables of a Linux CPython `python` on `machine` (uname -m: x86_64, aarch64, armv7l)."""
    full = python if python.count(".") >= 2 else f"{python}.0"
    return {
        "python_version": ".".join(python.split(".")[:2]), "python_full_version": full,
        "implementation_version": full, "platform_machine": machine, "sys_platform": "linux",
        "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
        "extra": "",
    }


_TOKEN = re.compile(r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b)"""
                    r"""|(?P<bool>and\b|or\b)|(?P<paren>[()])|(?P<var>[A-Za-z_][A-Za-z0-9_.]*))""")
_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:\.\*)?$")


def _version(text: str) -> tuple[int, ...] | None:
    m = _VERSION.match(text.strip())
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def _compare_versions(have: tuple[int, ...], op: str, want_text: str) -> bool:
    want = _version(want_text)
    if want is None:
        raise InstallError(f"cannot compare with version {want_text!r}")
    width = max(len(have), len(want))
    a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
    if want_text.strip().endswith(".*"):  # prefix match: == 1.2.* / != 1.2.*
        same = have[:len(want)] + (0,) * max(0, len(want) - len(have)) == want
        if op in ("==", "!="):
            return same if op == "==" else not same
        raise InstallError(f"{op} cannot take a wildcard version ({want_text})")
    if op == "~=":
        if len(want) < 2:
            raise InstallError(f"~= needs at least two version parts ({want_text})")
        return a >= b and have[:len(want) - 1] + (0,) * max(0, len(want) - 1 - len(have)) == want[:-1]
    return {"==": a == b, "===": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def marker_holds(marker: str, env: dict[str, str]) -> bool:
    """Evaluate a PEP 508 environment marker against `env` (a target's variables, see target_env)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(marker):
        if marker[pos:].strip() == "":
            break
        m = _TOKEN.match(marker, pos)
        if not m:
            raise InstallError(f"cannot parse the marker {marker!r} at {marker[pos:]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, " ".join(m.group(kind).split())))
        pos = m.end()
    i = 0

    def peek() -> tuple[str, str]:
        return tokens[i] if i < len(tokens) else ("end", "")

    def take(kind: str) -> str:
        nonlocal i
        k, v = peek()
        if k != kind:
            raise InstallError(f"marker {marker!r}: expected {kind}, found {v or 'the end'}")
        i += 1
        return v

    def value() -> tuple[str, bool]:  # (text, is a variable)
        k, v = peek()
        if k == "str":
            take("str")
            return v[1:-1], False
        if k == "var":
            take("var")
            if v not in env:
                raise InstallError(f"marker {marker!r}: unknown variable {v}")
            return env[v], True
        raise InstallError(f"marker {marker!r}: expected a value, found {v or 'the end'}")

    def comparison() -> bool:
        if peek() == ("paren", "("):
            take("paren")
            result = disjunction()
            if take("paren") != ")":
                raise InstallError(f"marker {marker!r}: unbalanced parentheses")
            return result
        (lhs, _), op, (rhs, _) = value(), take("op"), value()
        if op == "in":
            return lhs in rhs
        if op == "not in":
            return lhs not in rhs
        have = _version(lhs)
        if have is not None and _version(rhs) is not None:
            return _compare_versions(have, op, rhs)
        if op in ("==", "==="):
            return lhs == rhs
        if op == "!=":
            return lhs != rhs
        raise InstallError(f"marker {marker!r}: {op} needs versions on both sides ({lhs!r}, {rhs!r})")

    def conjunction() -> bool:
        result = comparison()
        while peek() == ("bool", "and"):
            take("bool")
            result = comparison() and result
        return result

    def disjunction() -> bool:
        result = conjunction()
        while peek() == ("bool", "or"):
            take("bool")
            result = conjunction() or result
        return result

    result = disjunction()
    if i != len(tokens):
        raise InstallError(f"marker {marker!r}: unexpected {tokens[i][1]!r}")
    return result


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(req: str) -> tuple[str, str, str]:
    """'name[extra] >=1,<2; marker' -> (normalized name, specifier, marker)."""
    body, _, marker = req.partition(";")
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$", body)
    if not m:
        raise InstallError(f"cannot parse the requirement {req!r}")
    return normalize_name(m.group(1)), m.group(2).strip().strip("()").strip(), marker.strip()


def version_satisfies(version: str, specifier: str) -> bool:
    """Does `version` meet a specifier such as '>=1.23,<2'? (Release numbers only; enough for pins.)"""
    have = _version(re.match(r"[\d.]*\d", version.strip()).group(0)) if re.match(r"\d", version.strip()) else None
    if have is None:
        return False
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        m = re.match(r"(===|==|!=|<=|>=|~=|<|>)\s*(.+)$", clause)
        if not m or not _compare_versions(have, m.group(1), m.group(2)):
            return False
    return True


def target_requirements(env: dict[str, str]) -> list[tuple[str, str]]:
    """(name, specifier) of each runtime dependency whose marker holds on the target."""
    out: list[tuple[str, str]] = []
    for req in _project()["dependencies"]:
        name, spec, marker = split_requirement(req)
        if not marker or marker_holds(marker, env):
            out.append((name, spec))
    return out


# Boards on which 32-bit Raspberry Pi OS runs a 64-bit kernel by default (uname -m: aarch64).
_BOARDS_WITH_A_64BIT_KERNEL = ("pi-4b", "pi-5", "cm4")
_ELF_MACHINES = {62: "x86_64", 183: "aarch64", 40: "armv7l", 3: "i686"}
TARGET_MACHINES = ("x86_64", "aarch64", "armv7l")


def _wheel_tags(name: str) -> tuple[str, str, str, str, str] | None:
    """(project, version, python tag, abi tag, platform tag) of a wheel file name."""
    parts = name[:-len(".whl")].split("-") if name.endswith(".whl") else []
    if len(parts) not in (5, 6):
        return None
    return normalize_name(parts[0]), parts[1], parts[-3], parts[-2], parts[-1]


def target_of_root(root: Path, wheels: Path | None = None) -> tuple[dict[str, str] | None, str]:
    """The card's marker variables, read from its Python (version and ELF machine), else from platform wheels."""
    usr_bin = root / "usr" / "bin"
    found: list[tuple[tuple[int, ...], Path]] = []
    for p in usr_bin.glob("python3.*") if usr_bin.is_dir() else []:
        m = re.fullmatch(r"python(3\.\d+)", p.name)
        if m and p.is_file() and not p.is_symlink():
            found.append((_version(m.group(1)) or (), p))
    if found:
        version, binary = max(found)
        try:
            with binary.open("rb") as fh:
                head = fh.read(20)
        except OSError:
            head = b""
        if head[:4] == b"\x7fELF":
            order = "little" if head[5] == 1 else "big"
            machine = _ELF_MACHINES.get(int.from_bytes(head[18:20], order))
            if machine:
                py = ".".join(map(str, version))
                return target_env(machine, py), f"{binary.relative_to(root)} on the card ({machine}, Python {py})"
    machines, pythons = set(), set()
    for whl in sorted(wheels.glob("*.whl")) if wheels is not None and wheels.is_dir() else []:
        tags = _wheel_tags(whl.name)
        if tags:
            machines |= {m for m in TARGET_MACHINES if m in tags[4]}
            pythons |= {f"3.{t[3:]}" for t in tags[2].split(".") if re.fullmatch(r"cp3\d+", t) and tags[3] != "abi3"}
    if len(machines) == 1:
        machine, py = machines.pop(), pythons.pop() if len(pythons) == 1 else "3.11"
        return target_env(machine, py), f"the wheels given ({machine}, Python {py})"
    return None, "unknown (no Python on the card yet, no platform wheels)"


def _wheel_fits(tags: tuple[str, str, str, str, str], env: dict[str, str]) -> bool:
    _, _, py_tags, abi, plat = tags
    machine = env["platform_machine"]
    if plat != "any" and not any(p.endswith(machine) for p in plat.split(".")):
        return False
    minor = int(env["python_version"].split(".")[1])
    for t in py_tags.split("."):
        if t in ("py3", "py2.py3") or t.startswith("py3"):
            return True
        m = re.fullmatch(r"cp3(\d+)", t)
        if m and (int(m.group(1)) == minor or abi == "abi3" and int(m.group(1)) <= minor):
            return True
    return False


def system_packages(root: Path) -> dict[str, str]:
    """Python distributions the card's OS ships (Debian's python3-*: /usr/lib/python3/dist-packages)."""
    found: dict[str, str] = {}
    dist = root / "usr" / "lib" / "python3" / "dist-packages"
    for info in dist.glob("*.*-info") if dist.is_dir() else []:
        m = re.fullmatch(r"([A-Za-z0-9_.]+?)-([0-9][^-]*?)(?:-py\d.*)?\.(?:dist|egg)-info", info.name)
        if m:
            found[normalize_name(m.group(1))] = m.group(2)
    return found


def missing_dependencies(root: Path, wheels: Path, wheel_dir: Path | None = None) -> tuple[list[str], str]:
    """Runtime dependencies the card needs and has neither as a fitting wheel nor as an OS package."""
    env, where = target_of_root(root, wheel_dir or wheels)
    envs = [env] if env else [target_env(m) for m in TARGET_MACHINES]
    have: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for whl in wheels.glob("*.whl"):
        tags = _wheel_tags(whl.name)
        if tags:
            have.setdefault(tags[0], []).append(tags)
    system = system_packages(root)
    missing: dict[str, str] = {}  # name -> how it is reported
    for req in _project()["dependencies"]:
        name, spec, marker = split_requirement(req)
        needed_on = [e for e in envs if not marker or marker_holds(marker, e)]
        if not needed_on or name in missing:
            continue
        for e in needed_on:
            ok = any(_wheel_fits(t, e) and version_satisfies(t[1], spec) for t in have.get(name, []))
            if not (ok or name in system and version_satisfies(system[name], spec)):
                only = "" if env or len(needed_on) == len(envs) else \
                    f" ({' or '.join(x['platform_machine'] for x in needed_on)} only)"
                missing[name] = name + only
                break
    return list(missing.values()), where


def _report_dependencies(root: Path, wheels: Path, wheel_dir: Path | None, log: Callable[[str], None]) -> list[str]:
    """Say which runtime dependencies first boot will not find on the card (it never uses the index)."""
    missing, where = missing_dependencies(root, wheels, wheel_dir)
    if missing:
        log(f"no wheel on the card for: {', '.join(missing)} (target: {where}); first boot installs offline "
            "only, so give --wheel-dir wheels for this board or install the OS packages on the device "
            "(docs/device.md, \"Which wheels come from where\")")
    return missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None,
                        help="the target's root file system (e.g. the mounted rootfs partition of the SD card)")
    parser.add_argument("--profile", default=None,
                        help=f"device profile: {', '.join(config.profile_names())}, or a .toml path")
    parser.add_argument("--wheel-dir", type=Path, default=None,
                        help="dependency wheels for the target (pip download --platform ...) for an offline first boot")
    parser.add_argument("--model", type=Path, default=None, help="model package directory (default: the shipped one)")
    parser.add_argument("--force-config", action="store_true",
                        help="overwrite /etc/edge/edge.toml even if it was edited")
    parser.add_argument("--print-requirements", metavar="MACHINE", choices=TARGET_MACHINES,
                        help="print the runtime requirements of a Python 3.11 MACHINE (x86_64, aarch64, armv7l), "
                             "one a line, for `pip download -r`, and exit (--root and --profile not needed)")
    parser.add_argument("--without-os-packages", action="store_true",
                        help="with --print-requirements: leave out numpy, psutil and sentencepiece (taken from "
                             "Debian's python3-* packages on the device)")


# Debian's python3-numpy, python3-psutil, python3-sentencepiece (bookworm) meet the pins.
OS_PACKAGES = ("numpy", "psutil", "sentencepiece")


def requirement_lines(machine: str, python: str = "3.11", without_os_packages: bool = False) -> list[str]:
    specs: dict[str, list[str]] = {}  # one line a project: pip -r takes it whatever its resolver
    for name, spec in target_requirements(target_env(machine, python)):
        if not (without_os_packages and name in OS_PACKAGES):
            clauses = specs.setdefault(name, [])
            clauses += [c.strip() for c in spec.split(",") if c.strip() and c.strip() not in clauses]
    return [name + ",".join(clauses) for name, clauses in specs.items()]


def run(args: argparse.Namespace) -> int:
    if args.print_requirements:
        print("\n".join(requirement_lines(args.print_requirements, without_os_packages=args.without_os_packages)))
        return 0
    if args.root is None or args.profile is None:
        print("edge install: --root and --profile are required", file=sys.stderr)
        return 2
    try:
        install(args.root, args.profile, wheel_dir=args.wheel_dir, model=args.model,
                force_config=args.force_config)
    except InstallError as exc:
        print(f"edge install: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"edge install: {exc}", file=sys.stderr)
        return 1
    return 0
