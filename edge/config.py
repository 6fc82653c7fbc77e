"""Settings: a device profile plus a TOML file (plus EDGE_* variables) -> frozen, validated settings.

Layering, lowest first: built-in defaults, the profile
`firmware_configs/<name>.toml`, the user's config file, then environment
variables named `EDGE_<SECTION>_<KEY>` (`EDGE_MQTT_HOST`, `EDGE_DEVICE_ID`).
Every layer is checked against one schema: an unknown key, a wrong type or an
out-of-range value is an error that names the key and the source it came from,
and all errors are reported together so a user fixes a config in one pass.

The schema is the dataclasses of edge/config_schema.py: each key's default is written once, as
its field's default, and its description is the field's `doc` metadata. The
README's configuration block and `edge config check --show` are generated from
them (edge/config_doc.py), so the documentation cannot drift from the code.

Here: the sources (profile, file, environment) merged layer by layer, each value blamed on its
source, and the rules that span keys. One value's checks are edge/config_values.py; the
environment's layer, its other EDGE_* variables and the secrets are edge/config_env.py.

Secrets are not settings: the MQTT password and the cloud API key come from
the environment or systemd credentials (edge/config_env.py's `read_secret`), never
from a file that might be copied around or committed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Any, Mapping

# The schema's names are edge.config's too: modules read `from edge.config import Settings`.
from edge.config_schema import (  # noqa: F401
    LIST, MODES, SECTIONS, TOP_KEYS, TYPES, BoardSettings, Check, CloudSettings, HealthSettings,
    IntegrationSettings, LoggingSettings, ModelSettings, MqttSettings, Settings, StateSettings, env_name,
    key_fields, schema, type_name, types_of,
)
from edge import config_env as env_source
from edge.config_values import check, coerce, shown


class ConfigError(Exception):
    """One or more invalid settings; `errors` holds one line each, naming key and source."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def profiles_dir() -> Path:
    """Where the device profiles live: installed beside the package, or at the repository top."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "firmware_configs", here.parent / "firmware_configs"):
        if candidate.is_dir():
            return candidate
    return here.parent / "firmware_configs"


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


# Settings that name a file or folder. In a file, a relative one is relative to
# that file's folder (not to the directory the daemon happens to start in); from
# the environment, to the working directory, as a shell user would expect.
PATH_KEYS = frozenset({"model.path", "state.dir", "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file", "home.names"})


def _resolve_path(value: str, base: Path | None) -> str:
    if base is None or not value or value.startswith("~") or Path(value).is_absolute():
        return value
    return str(base / value)


class _Layers:
    """The values set so far, and which source set each key (errors are blamed on it)."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {"": {}, **{s: {} for s in SECTIONS}}
        self.origin: dict[str, str] = {}
        self.failed: set[str] = set()  # keys with a refused value: no cross-key rule about them
        self.order: list[str] = []  # the sources, lowest first

    def set(self, key: str, value: Any, where: str) -> None:
        section, _, name = key.rpartition(".")
        self.values[section][name] = value
        self.origin[key] = where

    def rank(self, key: str) -> int:
        where = self.origin.get(key)
        return self.order.index(where) if where in self.order else -1


def _merge_layer(layers: _Layers, data: Mapping[str, Any], where: str, errors: list[str],
                 base: Path | None = None, from_env: bool = False) -> None:
    """Validate one layer (a parsed TOML document) and fold it into `layers`.
    `base`: the folder relative paths (PATH_KEYS) of this layer are resolved against.
    `from_env`: errors also name the variable (the user set EDGE_MQTT_PORT, not mqtt.port)."""
    layers.order.append(where)
    tables: list[tuple[str, Mapping[str, Any]]] = [("", {k: v for k, v in data.items() if k not in SECTIONS})]
    for key, value in data.items():
        if key in SECTIONS:
            if isinstance(value, Mapping):
                tables.append((key, value))
            else:
                errors.append(f"{where}: {key}: expected a table [{key}], got {shown(value)}")
    for section, table in tables:
        cls = SECTIONS.get(section, Settings)
        fields, types = key_fields(cls), types_of(cls)
        for sub, subval in table.items():
            full = f"{section}.{sub}" if section else sub
            if sub not in types:
                known = ", ".join(types) if section else ", ".join([*TOP_KEYS, *SECTIONS])
                errors.append(f"{where}: {full}: unknown key (known: {known})")
                continue
            note = f" (from {env_name(full)})" if from_env else ""
            v = coerce(subval, types[sub], full, where, errors, note)
            if v is not None and check(v, fields[sub].metadata["check"], full, where, errors, note):
                layers.set(full, _resolve_path(v, base) if full in PATH_KEYS else v, where)
            else:
                layers.failed.add(full)


def _read_toml(path: Path, errors: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        errors.append(f"{path}: file not found")
    except tomllib.TOMLDecodeError as exc:
        errors.append(f"{path}: not valid TOML: {exc}")
    except UnicodeDecodeError as exc:
        errors.append(f"{path}: not valid TOML: not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start})")
    except OSError as exc:
        errors.append(f"{path}: cannot read: {exc.strerror}")
    return {}


def resolve_profile(name_or_path: str) -> Path:
    """A profile by name (`pi-zero-2w`) or by path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or os.sep in name_or_path:
        return p
    return profiles_dir() / f"{name_or_path}.toml"


def load(
    config: str | Path | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from profile + file + environment; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    errors: list[str] = []
    layers = _Layers()
    if profile:
        ppath = resolve_profile(profile)
        if not ppath.is_file():
            names = ", ".join(profile_names()) or "none found"
            raise ConfigError([f"{ppath}: no such profile {profile!r} (available: {names})"])
        _merge_layer(layers, _read_toml(ppath, errors), str(ppath), errors, ppath.resolve().parent)
    if config:
        cpath = Path(config)
        _merge_layer(layers, _read_toml(cpath, errors), str(cpath), errors, cpath.resolve().parent)
    env, unknown = env_source.layer(environ, errors)
    if env:
        _merge_layer(layers, env, "environment", errors, from_env=True)
    settings = _build(layers, [env_source.unknown_warning(unknown)] if unknown else [],
                      environ.get("STATE_DIRECTORY", ""))
    errors += _cross_checks(settings, layers)
    if errors:
        raise ConfigError(errors)
    return settings


def _build(layers: _Layers, warnings: list[str], state_directory: str) -> Settings:
    sections = {name: cls(**layers.values[name]) for name, cls in SECTIONS.items()}
    top = dict(layers.values[""])
    if not top.get("device_id"):
        top["device_id"] = _default_device_id()
    return Settings(**top, **sections, sources=tuple(layers.order), origins=tuple(layers.origin.items()),
                    warnings=tuple(warnings), state_directory=state_directory)


def _default_device_id() -> str:
    host = socket.gethostname().split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", host)[:64]
    return cleaned or "edge"


def _cross_checks(s: Settings, layers: _Layers) -> list[str]:
    """Rules that span keys. Each is blamed on the source that set the last of its keys
    (the layer that made the combination wrong), and skipped when one of them was refused."""
    errs: list[str] = []

    def fail(keys: tuple[str, ...], message: str) -> None:
        if not layers.failed.intersection(keys):
            where = layers.origin.get(max(keys, key=layers.rank), "defaults")
            errs.append(f"{where}: {message}")

    if s.mqtt.reconnect_min_s > s.mqtt.reconnect_max_s:
        fail(("mqtt.reconnect_min_s", "mqtt.reconnect_max_s"),
             f"mqtt.reconnect_min_s: {s.mqtt.reconnect_min_s:g} must not exceed mqtt.reconnect_max_s "
             f"({s.mqtt.reconnect_max_s:g})")
    if s.mqtt.tls:
        for key in ("ca_file", "cert_file", "key_file"):
            value = getattr(s.mqtt, key)
            if value and not Path(value).is_file():
                fail((f"mqtt.{key}", "mqtt.tls"), f"mqtt.{key}: file not found: {value}")
        if bool(s.mqtt.cert_file) != bool(s.mqtt.key_file):
            fail(("mqtt.cert_file", "mqtt.key_file", "mqtt.tls"),
                 "mqtt.cert_file: a client certificate needs mqtt.key_file too (and the reverse)")
    if s.group and s.mqtt.protocol != 5:
        fail(("group", "mqtt.protocol"), "group: fleets use MQTT 5 shared subscriptions; set mqtt.protocol = 5")
    if s.cloud.mode != "local_only" and s.cloud.base_url and not s.cloud.model:
        fail(("cloud.base_url", "cloud.model", "cloud.mode"), "cloud.model: required when cloud.base_url is set")
    if s.model.path and not Path(s.model.path).expanduser().is_dir():
        fail(("model.path",), f"model.path: not a directory: {s.model.path}")
    if s.home.names and not Path(s.home.names).expanduser().is_file():
        fail(("home.names",), f"home.names: file not found: {s.home.names}")
    if s.deploy.probation_min_samples > s.deploy.probation_requests:  # else latency would never be judged
        fail(("deploy.probation_min_samples", "deploy.probation_requests"),
             f"deploy.probation_min_samples: {s.deploy.probation_min_samples} must not exceed "
             f"deploy.probation_requests ({s.deploy.probation_requests})")
    return errs


def default(key: str) -> Any:
    """A key's default, from the schema (the one place defaults are written)."""
    return dict(schema())[key].default


def check_value(key: str, value: Any, where: str) -> Any:
    """A value for `key` from elsewhere (a command-line option), checked as a layer's would be;
    raises ConfigError (one line naming `where`)."""
    f = dict(schema())[key]
    errors: list[str] = []
    v = coerce(value, TYPES[str(f.type)], key, where, errors)
    if v is not None:
        check(v, f.metadata["check"], key, where, errors)
    if errors:
        raise ConfigError(errors)
    return v


def env_value(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """`key` from its EDGE_* variable, parsed and checked as load() would; None when unset.
    For the `edge` command's own defaults, which must never crash on a bad environment."""
    environ = os.environ if environ is None else environ
    var = env_name(key)
    if var not in environ:
        return None
    try:
        value = env_source.parse(environ[var], TYPES[str(dict(schema())[key].type)])
    except ValueError:
        raise ConfigError([f"environment: {var}: expected {type_name(TYPES[str(dict(schema())[key].type)])}, "
                           f"got {shown(environ[var])}"]) from None
    return check_value(key, value, f"environment: {var}")


def as_dict(s: Settings) -> dict[str, Any]:
    """Plain data (for `edge config check --json` and logs); secrets are never in settings."""
    data = {name: getattr(s, name) for name in TOP_KEYS}
    for section in SECTIONS:
        data[section] = dataclasses.asdict(getattr(s, section))
    data["sources"] = list(s.sources)
    return data
