"""The settings schema: every key's type, one default, description and check, as frozen dataclasses.

This is the one place a default is written. edge.config loads the layers
(profile, file, EDGE_* variables) against it; edge.config_doc turns it into
the README's configuration block and `edge config check --show`. A key is a
field made with `_f` (its `doc` metadata is its description); other fields of
`Settings` record what loading saw and are not keys.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edge import config_checks as rules

MODES = ("local_first", "cloud_preferred", "local_only")
_ID_OK = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Check:
    """Validation attached to a field: numeric bounds, a set of choices, a pattern, a rule."""

    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    hint: str = ""
    rule: Callable[[Any], str | None] | None = None  # from edge.config_checks: why a value is refused


def _f(default: Any, check: Check | None = None, *, doc: str = "") -> Any:
    """A settings key: its one default, its check, and its description (the docs are generated from it;
    tests/test_config_doc.py refuses a key without one)."""
    return field(default=default, metadata={"doc": doc, "check": check or Check()})


def _section(cls: type, doc: str) -> Any:
    return field(default_factory=cls, metadata={"doc": doc})


_TOPIC = Check(rule=rules.topic, hint="a topic")
_THRESHOLD = Check(min=-1, max=1, hint="0..1, or -1 for the model's own")


@dataclass(frozen=True)
class BoardSettings:
    """What the profile says about the hardware; informational plus install-time limits."""

    name: str = _f("generic", doc="the board this profile describes")
    description: str = _f("", doc="shown by edge install")
    memory_max_mb: int = _f(0, Check(min=0, max=1 << 20), doc="MemoryMax= for the unit (0: none)")
    cpu_quota_percent: int = _f(0, Check(min=0, max=6400), doc="CPUQuota= for the unit (0: none)")
    temperature_path: str = _f("/sys/class/thermal/thermal_zone0/temp", doc="the CPU temperature in health")


@dataclass(frozen=True)
class MqttSettings:
    host: str = _f("127.0.0.1", Check(rule=rules.host), doc="a host name or IP address")
    port: int = _f(1883, Check(min=1, max=65535), doc="8883 is the usual port with tls")
    base_topic: str = _f("", _TOPIC, doc="default: edge/<device_id>; no + or #, no empty levels, not starting with $")
    protocol: int = _f(5, Check(choices=(4, 5)), doc="or 4 (3.1.1)")
    client_id: str = _f("", Check(rule=rules.mqtt_string),
                        doc="default: edge-<device_id>; keep it stable (the session is kept under it)")
    username: str = _f("", Check(rule=rules.mqtt_string),
                       doc="password: EDGE_MQTT_PASSWORD or the systemd credential mqtt_password")
    tls: bool = _f(False, doc="TLS to the broker")
    ca_file: str = _f("", doc="CA certificate(s) to trust; empty: the system's; relative = to this file's folder")
    cert_file: str = _f("", doc="client certificate (with key_file)")
    key_file: str = _f("", doc="the client certificate's private key")
    tls_insecure: bool = _f(False, doc="skip the broker's host name check (the certificate chain is still "
                                       "verified); only for a broker reached by an address its certificate lacks")
    keepalive_s: int = _f(30, Check(min=5, max=3600), doc="MQTT keep-alive: a ping when idle this long")
    session_expiry_s: int = _f(86400, Check(min=0, max=4294967295),
                               doc="how long the broker keeps our session and queued requests")
    max_payload_bytes: int = _f(16384, Check(min=64, max=268435455), doc="larger requests get payload_too_large")
    reconnect_min_s: float = _f(0.5, Check(min=0.05, max=60),
                                doc="the first wait before reconnecting, doubling up to reconnect_max_s")
    reconnect_max_s: float = _f(30.0, Check(min=0.1, max=3600), doc="the longest wait between reconnects")
    reply_prefixes: tuple[str, ...] = _f(
        (), Check(rule=rules.topic_list),
        doc="allowlist for reply topics: empty, any topic the built-in rules allow; else a reply topic must "
            "be one of these or below one, level by level (\"app/replies\" allows app/replies/x, not "
            "app/repliesx). From the environment: a TOML array or comma-separated")


@dataclass(frozen=True)
class ModelSettings:
    path: str = _f("", doc="default: the model shipped in models/; relative = to this file's folder")
    threads: int = _f(1, Check(min=1, max=64), doc="interpreter threads; capped at the CPUs the process may use")
    batch_size: int = _f(32, Check(min=1, max=1024), doc="largest micro-batch of queued requests")
    oos_threshold: float = _f(-1.0, _THRESHOLD, doc="-1: the model's own (from its manifest)")
    escalation_threshold: float = _f(-1.0, _THRESHOLD, doc="-1: the model's own")


@dataclass(frozen=True)
class CloudSettings:
    base_url: str = _f("", Check(rule=rules.url),
                       doc="empty: no cloud. e.g. https://api.openai.com/v1, http://ollama.lan:11434/v1; "
                           "key: EDGE_CLOUD_API_KEY or the systemd credential cloud_api_key")
    model: str = _f("", doc="e.g. gpt-4o-mini, llama3.2")
    mode: str = _f("local_first", Check(choices=MODES), doc="local_first | cloud_preferred | local_only")
    timeout_s: float = _f(10.0, Check(min=0.1, max=600), doc="a result never waits longer than this for the cloud")
    max_per_hour: int = _f(120, Check(min=0, max=10**7), doc="budget; over it: reason \"budget\"")
    max_per_day: int = _f(1000, Check(min=0, max=10**8), doc="budget per day")
    cost_per_call_usd: float = _f(0.0005, Check(min=0, max=100), doc="for the spend estimate in health")
    redact: bool = _f(True, doc="e-mail addresses, phone numbers, long digit runs never leave the device")
    breaker_failures: int = _f(3, Check(min=1, max=1000), doc="consecutive failures that open the circuit breaker")
    breaker_cooldown_s: float = _f(30.0, Check(min=0.1, max=86400),
                                   doc="how long it stays open before one probe (longer if the cloud's "
                                       "Retry-After says so)")
    deferred_max: int = _f(500, Check(min=0, max=10**6),
                           doc="deferred escalations kept while offline (oldest dropped, counted)")
    workers: int = _f(2, Check(min=1, max=32), doc="concurrent cloud calls")


@dataclass(frozen=True)
class StateSettings:
    dir: str = _f("", doc="outbox and queues; default: $STATE_DIRECTORY or ~/.local/state/edge")
    outbox_max: int = _f(10000, Check(min=1, max=10**8), doc="results kept on disk while the broker is away")
    outbox_max_age_s: int = _f(7 * 86400, Check(min=1, max=10**9), doc="older results are dropped (counted)")
    answered_max: int = _f(5000, Check(min=0, max=10**7), doc="answered ids remembered for redeliveries")


@dataclass(frozen=True)
class HealthSettings:
    interval_s: float = _f(30.0, Check(min=0.2, max=86400), doc="how often <base>/health is published")


@dataclass(frozen=True)
class IntegrationSettings:
    home_assistant: bool = _f(False, doc="MQTT discovery")
    discovery_prefix: str = _f("homeassistant", _TOPIC, doc="Home Assistant's discovery prefix")
    hermes: bool = _f(False, doc="Rhasspy/Snips NLU topics")


@dataclass(frozen=True)
class WyomingSettings:
    """Home Assistant Assist: a Wyoming intent server (edge/wyoming.py); nothing of it is imported while off."""

    enabled: bool = _f(False, doc="serve Home Assistant's Wyoming conversation agent")
    host: str = _f("127.0.0.1", Check(rule=rules.host),
                   doc="\"0.0.0.0\" to serve Home Assistant on another machine")
    port: int = _f(10700, Check(min=1, max=65535), doc="the TCP port Home Assistant's Wyoming integration is given")
    zeroconf: bool = _f(False, doc="advertise _wyoming._tcp so Home Assistant discovers it (the zeroconf package)")
    cloud: bool = _f(True, doc="ask the [cloud] (its budget, breaker and timeout_s) about a transcript the home "
                               "model does not stand behind; false: Assist never leaves the device")


@dataclass(frozen=True)
class DeploySettings:
    """Signed model deployments over MQTT (edge/deploy_channel.py); off, and nothing of it imported,
    while `keys` is empty."""

    keys: tuple[str, ...] = _f(
        (), doc="trusted public keys (edge keygen's .pub: its base64 line \"RW...\" or a path to the file); "
                "several at once so a key can be rotated; empty: the device takes no deployments")
    max_bytes: int = _f(64 << 20, Check(min=4096, max=1 << 31),
                        doc="the largest package taken, on the wire and unpacked (a larger one is rejected); "
                            "cap the broker too (docs/guarantees.md: mosquitto max_packet_size)")
    # Probation (edge/probation.py): the defaults are ProbationPolicy's; deploy_channel builds it from these.
    probation_requests: int = _f(200, Check(min=1, max=10_000_000),
                                 doc="a new model is confirmed after this many requests ...")
    probation_seconds: float = _f(600.0, Check(min=1, max=30 * 86400),
                                  doc="... or after this many seconds on probation, whichever comes first")
    probation_max_errors: int = _f(3, Check(min=1, max=10_000_000),
                                   doc="rolled back at this many failed requests on probation")
    probation_error_share: float = _f(1.0, Check(min=0, max=1),
                                      doc="rolled back when more than this share of its requests failed "
                                          "(judged from probation_min_samples on); 1.0: off")
    probation_latency_factor: float = _f(3.0, Check(min=1, max=1000, rule=lambda v: None if v > 1 else "must be > 1"),
                                         doc="rolled back when its median CPU time per request exceeds this many "
                                             "times the previous model's (judged from probation_min_samples on)")
    probation_min_samples: int = _f(20, Check(min=1, max=100_000),
                                    doc="requests on probation before CPU time and error share are judged "
                                        "(at most probation_requests)")


@dataclass(frozen=True)
class HomeSettings:
    names: str = _f("", doc="a names file (YAML or JSON: floors, areas, entities); empty: none, so no "
                            "thing can be named; relative = to this file's folder")
    homeassistant_url: str = _f("", Check(rule=rules.ha_url),
                                doc="fetch the names from Home Assistant (its exposed entities, areas, floors, "
                                    "aliases), e.g. \"http://homeassistant.local:8123\" or its ws(s):// "
                                    "/api/websocket URL; empty: off. Token: EDGE_HOME_HA_TOKEN or the systemd "
                                    "credential ha_token. Unreachable: `names` (if set) until it answers")
    refresh_s: float = _f(300.0, Check(min=1, max=86400),
                          doc="fetch the names from Home Assistant again this often (a failure retries "
                              "sooner, from 5 s doubling up to this)")


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _f("info", Check(choices=("debug", "info", "warning", "error")), doc="debug | info | warning | error")


@dataclass(frozen=True)
class Settings:
    device_id: str = _f("", Check(pattern=_ID_OK, hint="letters, digits, _ . - (1-64)"),
                        doc="default: the host name (letters, digits, _ . -, 1-64)")
    group: str = _f("", Check(pattern=re.compile(r"^$|^[A-Za-z0-9_.-]{1,64}$"), hint="letters, digits, _ . -"),
                    doc="join a fleet: edge/group/<name>/request (MQTT 5 shared subscription)")
    board: BoardSettings = _section(BoardSettings, "set by the device profiles")
    mqtt: MqttSettings = _section(MqttSettings, "the broker")
    model: ModelSettings = _section(ModelSettings, "the local model")
    cloud: CloudSettings = _section(CloudSettings, "the fallback LLM (any OpenAI-compatible endpoint)")
    state: StateSettings = _section(StateSettings, "what survives a restart")
    health: HealthSettings = _section(HealthSettings, "")
    integrations: IntegrationSettings = _section(IntegrationSettings, "")
    wyoming: WyomingSettings = _section(WyomingSettings, "Home Assistant Assist over Wyoming")
    deploy: DeploySettings = _section(DeploySettings, "signed model deployments (edge deploy)")
    home: HomeSettings = _section(HomeSettings, "the home's names, for the home model")
    logging: LoggingSettings = _section(LoggingSettings, "")
    # Not keys: what load() saw while building these settings.
    sources: tuple[str, ...] = ()  # the files (and "environment") these settings came from
    origins: tuple[tuple[str, str], ...] = ()  # (key, source) for every key a layer set
    warnings: tuple[str, ...] = ()  # one line each, for the log at start-up (unknown EDGE_* variables)
    state_directory: str = ""  # $STATE_DIRECTORY (systemd's StateDirectory=) in the environ load() was given

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
        env = self.state_directory.split(":")[0]
        return Path(env) if env else Path.home() / ".local" / "state" / "edge"

    def origin(self, key: str) -> str:
        """Where a key's value came from: a file, "environment", or "defaults"."""
        return dict(self.origins).get(key, "defaults")


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
    if f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
}
LIST = tuple  # the Python type of a list-of-strings key (a TOML array of strings)
TYPES = {"str": str, "int": int, "float": float, "bool": bool, "tuple[str, ...]": LIST}


def key_fields(cls: type) -> dict[str, dataclasses.Field]:
    """The settings keys of one table (fields with a description), in order."""
    return {f.name: f for f in dataclasses.fields(cls) if "check" in f.metadata}


def types_of(cls: type) -> dict[str, type]:
    """Each key of one table and its Python type."""
    return {name: TYPES[str(f.type)] for name, f in key_fields(cls).items()}


TOP_KEYS = tuple(key_fields(Settings))


def schema() -> list[tuple[str, dataclasses.Field]]:
    """Every key as (dotted name, field), in the order the docs show them."""
    keys = [(name, f) for name, f in key_fields(Settings).items()]
    for section, cls in SECTIONS.items():
        keys += [(f"{section}.{name}", f) for name, f in key_fields(cls).items()]
    return keys


def env_name(key: str) -> str:
    """`mqtt.port` -> `EDGE_MQTT_PORT`."""
    return "EDGE_" + key.replace(".", "_").upper()


def type_name(t: type) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            LIST: "a list of strings"}[t]
