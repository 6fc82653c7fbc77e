"""Settings: a device profile plus a TOML file (plus EDGE_* variables) -> frozen, validated settings.

Layering, lowest first: built-in defaults, the profile
`firmware_configs/<name>.toml`, the user's config file, then environment
variables named `EDGE_<SECTION>_<KEY>` (`EDGE_MQTT_HOST`, `EDGE_DEVICE_ID`).
Every layer is checked against one schema: an unknown key, a wrong type or an
out-of-range value is an error that names the key and the file it came from,
and all errors are reported together so a user fixes a config in one pass.

Secrets are not settings: the MQTT password and the cloud API key come from
the environment or systemd credentials (see `read_secret`), never from a file
that might be copied around or committed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

MODES = ("local_first", "cloud_preferred", "local_only")
_TOPIC_OK = re.compile(r"^[^#+\x00-\x1f\x7f]+$")
_ID_OK = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConfigError(Exception):
    """One or more invalid settings; `errors` holds one line each, naming key and file."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Check:
    """Validation attached to a field: numeric bounds, a set of choices, a pattern."""

    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    hint: str = ""


def _f(default: Any, check: Check | None = None) -> Any:
    return field(default=default, metadata={"check": check or Check()})


@dataclass(frozen=True)
class BoardSettings:
    """What the profile says about the hardware; informational plus install-time limits."""

    name: str = _f("generic")
    description: str = _f("")
    memory_max_mb: int = _f(0, Check(min=0, max=1 << 20))  # 0: no MemoryMax in the unit
    cpu_quota_percent: int = _f(0, Check(min=0, max=6400))  # 0: no CPUQuota
    temperature_path: str = _f("/sys/class/thermal/thermal_zone0/temp")


@dataclass(frozen=True)
class MqttSettings:
    host: str = _f("127.0.0.1")
    port: int = _f(1883, Check(min=1, max=65535))
    base_topic: str = _f("", Check(pattern=_TOPIC_OK, hint="a topic without + or #"))
    protocol: int = _f(5, Check(choices=(4, 5)))
    client_id: str = _f("")  # default: edge-<device_id>; must be stable for the session to survive
    username: str = _f("")
    tls: bool = _f(False)
    ca_file: str = _f("")
    cert_file: str = _f("")
    key_file: str = _f("")
    tls_insecure: bool = _f(False)
    keepalive_s: int = _f(30, Check(min=5, max=3600))
    session_expiry_s: int = _f(86400, Check(min=0, max=4294967295))
    max_payload_bytes: int = _f(16384, Check(min=64, max=268435455))
    reconnect_min_s: float = _f(0.5, Check(min=0.05, max=60))
    reconnect_max_s: float = _f(30.0, Check(min=0.1, max=3600))


@dataclass(frozen=True)
class ModelSettings:
    path: str = _f("")  # empty: the model shipped in models/
    threads: int = _f(1, Check(min=1, max=64))
    batch_size: int = _f(32, Check(min=1, max=1024))
    oos_threshold: float = _f(-1.0, Check(min=-1, max=1, hint="0..1, or -1 for the model's own"))
    escalation_threshold: float = _f(-1.0, Check(min=-1, max=1, hint="0..1, or -1 for the model's own"))


@dataclass(frozen=True)
class CloudSettings:
    base_url: str = _f("", Check(pattern=re.compile(r"^$|^https?://\S+$"), hint="an http(s) URL or empty"))
    model: str = _f("")
    mode: str = _f("local_first", Check(choices=MODES))
    timeout_s: float = _f(10.0, Check(min=0.1, max=600))
    max_per_hour: int = _f(120, Check(min=0, max=10**7))
    max_per_day: int = _f(1000, Check(min=0, max=10**8))
    cost_per_call_usd: float = _f(0.0005, Check(min=0, max=100))
    redact: bool = _f(True)
    breaker_failures: int = _f(3, Check(min=1, max=1000))
    breaker_cooldown_s: float = _f(30.0, Check(min=0.1, max=86400))
    deferred_max: int = _f(500, Check(min=0, max=10**6))
    workers: int = _f(2, Check(min=1, max=32))


@dataclass(frozen=True)
class StateSettings:
    dir: str = _f("")  # default: $STATE_DIRECTORY or ~/.local/state/edge
    outbox_max: int = _f(10000, Check(min=1, max=10**8))
    outbox_max_age_s: int = _f(7 * 86400, Check(min=1, max=10**9))
    answered_max: int = _f(5000, Check(min=0, max=10**7))


@dataclass(frozen=True)
class HealthSettings:
    interval_s: float = _f(30.0, Check(min=0.2, max=86400))


@dataclass(frozen=True)
class IntegrationSettings:
    home_assistant: bool = _f(False)
    discovery_prefix: str = _f("homeassistant", Check(pattern=_TOPIC_OK))
    hermes: bool = _f(False)


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _f("info", Check(choices=("debug", "info", "warning", "error")))


@dataclass(frozen=True)
class Settings:
    device_id: str = _f("", Check(pattern=_ID_OK, hint="letters, digits, _ . - (1-64)"))
    group: str = _f("", Check(pattern=re.compile(r"^$|^[A-Za-z0-9_.-]{1,64}$"), hint="letters, digits, _ . -"))
    board: BoardSettings = field(default_factory=BoardSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    cloud: CloudSettings = field(default_factory=CloudSettings)
    state: StateSettings = field(default_factory=StateSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    integrations: IntegrationSettings = field(default_factory=IntegrationSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    sources: tuple[str, ...] = ()  # the files (and "environment") these settings came from

    @property
    def base_topic(self) -> str:
        return self.mqtt.base_topic or f"edge/{self.device_id}"

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"edge-{self.device_id}"

    @property
    def state_dir(self) -> Path:
        if self.state.dir:
            return Path(self.state.dir).expanduser()
        env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return Path(env) if env else Path.home() / ".local" / "state" / "edge"


_SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
    if f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
}
_TOP_KEYS = ("device_id", "group")


def profiles_dir() -> Path:
    """Where the device profiles live: installed beside the package, or at the repository top."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "firmware_configs", here.parent / "firmware_configs"):
        if candidate.is_dir():
            return candidate
    return here.parent / "firmware_configs"


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


def _type_name(t: type) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[t]


def _coerce(value: Any, typ: type, key: str, where: str, errors: list[str]) -> Any:
    """Type-check one TOML value (ints are accepted for floats; bools are never ints)."""
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    errors.append(f"{where}: {key}: expected {_type_name(typ)}, got {value!r}")
    return None


def _check(value: Any, check: Check, key: str, where: str, errors: list[str]) -> bool:
    bad = None
    if check.choices is not None and value not in check.choices:
        bad = f"must be one of {', '.join(map(repr, check.choices))}"
    elif check.min is not None and value < check.min:
        bad = f"must be >= {check.min:g}"
    elif check.max is not None and value > check.max:
        bad = f"must be <= {check.max:g}"
    elif check.pattern is not None and value and not check.pattern.match(value):
        bad = f"is not valid ({check.hint or check.pattern.pattern})"
    if bad:
        errors.append(f"{where}: {key}: {value!r} {bad}")
    return bad is None


def _types(cls: type) -> dict[str, type]:
    names = {"str": str, "int": int, "float": float, "bool": bool}
    return {f.name: names[str(f.type)] for f in dataclasses.fields(cls) if str(f.type) in names}


# Settings that name a file or folder. In a file, a relative one is relative to
# that file's folder (not to the directory the daemon happens to start in); from
# the environment, to the working directory, as a shell user would expect.
PATH_KEYS = frozenset({"model.path", "state.dir", "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file"})


def _resolve_path(value: str, base: Path | None) -> str:
    if base is None or not value or value.startswith("~") or Path(value).is_absolute():
        return value
    return str(base / value)


def _merge_layer(acc: dict[str, dict[str, Any]], data: Mapping[str, Any], where: str, errors: list[str],
                 base: Path | None = None) -> None:
    """Validate one layer (a parsed TOML document) and fold it into `acc`.
    `base`: the folder relative paths (PATH_KEYS) of this layer are resolved against."""
    top_types = _types(Settings)
    top_fields = {f.name: f for f in dataclasses.fields(Settings)}
    for key, value in data.items():
        if key in _TOP_KEYS:
            v = _coerce(value, top_types[key], key, where, errors)
            if v is not None and _check(v, top_fields[key].metadata["check"], key, where, errors):
                acc[""][key] = v
        elif key in _SECTIONS:
            if not isinstance(value, Mapping):
                errors.append(f"{where}: {key}: expected a table [{key}], got {value!r}")
                continue
            cls = _SECTIONS[key]
            types = _types(cls)
            fields = {f.name: f for f in dataclasses.fields(cls)}
            for sub, subval in value.items():
                full = f"{key}.{sub}"
                if sub not in types:
                    errors.append(f"{where}: {full}: unknown key (known: {', '.join(types)})")
                    continue
                v = _coerce(subval, types[sub], full, where, errors)
                if v is not None and _check(v, fields[sub].metadata["check"], full, where, errors):
                    acc[key][sub] = _resolve_path(v, base) if full in PATH_KEYS else v
        else:
            known = ", ".join([*_TOP_KEYS, *_SECTIONS])
            errors.append(f"{where}: {key}: unknown key (known: {known})")


def _read_toml(path: Path, errors: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        errors.append(f"{path}: file not found")
    except tomllib.TOMLDecodeError as exc:
        errors.append(f"{path}: not valid TOML: {exc}")
    except OSError as exc:
        errors.append(f"{path}: cannot read: {exc.strerror}")
    return {}


def _env_layer(environ: Mapping[str, str], errors: list[str]) -> dict[str, Any]:
    """EDGE_<SECTION>_<KEY> variables, parsed as TOML values where they look like one."""
    layer: dict[str, Any] = {}
    candidates: list[tuple[str, str | None, str, type]] = [
        (f"EDGE_{k.upper()}", None, k, t) for k, t in _types(Settings).items()
    ]
    for section, cls in _SECTIONS.items():
        candidates += [(f"EDGE_{section.upper()}_{k.upper()}", section, k, t) for k, t in _types(cls).items()]
    for var, section, key, typ in candidates:
        if var not in environ:
            continue
        raw = environ[var]
        value: Any = raw
        if typ is not str:
            try:
                value = tomllib.loads(f"v = {raw.strip().lower() if typ is bool else raw}")["v"]
            except tomllib.TOMLDecodeError:
                errors.append(f"environment: {var}: expected {_type_name(typ)}, got {raw!r}")
                continue
        if section is None:
            layer[key] = value
        else:
            layer.setdefault(section, {})[key] = value
    return layer


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
    acc: dict[str, dict[str, Any]] = {"": {}, **{s: {} for s in _SECTIONS}}
    sources: list[str] = []
    if profile:
        ppath = resolve_profile(profile)
        if not ppath.is_file():
            names = ", ".join(profile_names()) or "none found"
            raise ConfigError([f"{ppath}: no such profile {profile!r} (available: {names})"])
        _merge_layer(acc, _read_toml(ppath, errors), str(ppath), errors, ppath.resolve().parent)
        sources.append(str(ppath))
    if config:
        cpath = Path(config)
        _merge_layer(acc, _read_toml(cpath, errors), str(cpath), errors, cpath.resolve().parent)
        sources.append(str(cpath))
    env = _env_layer(environ, errors)
    if env:
        _merge_layer(acc, env, "environment", errors)
        sources.append("environment")
    settings = _build(acc, tuple(sources))
    errors += _cross_checks(settings, sources[-1] if sources else "defaults")
    if errors:
        raise ConfigError(errors)
    return settings


def _build(acc: dict[str, dict[str, Any]], sources: tuple[str, ...]) -> Settings:
    sections = {name: cls(**acc[name]) for name, cls in _SECTIONS.items()}
    top = dict(acc[""])
    if not top.get("device_id"):
        top["device_id"] = _default_device_id()
    return Settings(**top, **sections, sources=sources)


def _default_device_id() -> str:
    host = socket.gethostname().split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", host)[:64]
    return cleaned or "edge"


def _cross_checks(s: Settings, where: str) -> list[str]:
    """Rules that span keys; blamed on the last file that could have set them."""
    errs: list[str] = []
    if s.mqtt.reconnect_min_s > s.mqtt.reconnect_max_s:
        errs.append(f"{where}: mqtt.reconnect_min_s: must not exceed mqtt.reconnect_max_s")
    if s.mqtt.tls:
        for key in ("ca_file", "cert_file", "key_file"):
            value = getattr(s.mqtt, key)
            if value and not Path(value).is_file():
                errs.append(f"{where}: mqtt.{key}: file not found: {value}")
        if bool(s.mqtt.cert_file) != bool(s.mqtt.key_file):
            errs.append(f"{where}: mqtt.cert_file: a client certificate needs mqtt.key_file too (and the reverse)")
    if s.group and s.mqtt.protocol != 5:
        errs.append(f"{where}: group: fleets use MQTT 5 shared subscriptions; set mqtt.protocol = 5")
    if s.cloud.mode != "local_only" and s.cloud.base_url and not s.cloud.model:
        errs.append(f"{where}: cloud.model: required when cloud.base_url is set")
    if s.model.path and not Path(s.model.path).expanduser().is_dir():
        errs.append(f"{where}: model.path: not a directory: {s.model.path}")
    return errs


def read_secret(env_var: str, credential: str, environ: Mapping[str, str] | None = None) -> str:
    """A secret from the environment, else from a systemd credential ($CREDENTIALS_DIRECTORY/<credential>)."""
    environ = os.environ if environ is None else environ
    if environ.get(env_var):
        return environ[env_var]
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / credential
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return ""


def as_dict(s: Settings) -> dict[str, Any]:
    """Plain data (for `edge config check --show` and logs); secrets are never in settings."""
    return dataclasses.asdict(s)
