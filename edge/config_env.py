"""The environment as a source of settings: `EDGE_<SECTION>_<KEY>` variables read as one layer
(edge/config.py merges it last, over the profile and the file), the EDGE_* variables that are
not settings keys (any other is named in one warning, with the key it was probably meant to be),
and secrets, which are never settings: from the environment or a systemd credential.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

from edge.config_schema import LIST, TYPES, env_name, schema, type_name
from edge.config_values import shown

# EDGE_* variables that are not settings keys, and who reads them; any other
# EDGE_* variable is probably a misspelt key and is named in a warning.
OTHER_VARIABLES = {
    "EDGE_CONFIG": "the config file of edge run / edge homeassistant",
    "EDGE_PROFILE": "the device profile of edge run / edge homeassistant",
    "EDGE_CLOUD_API_KEY": "the cloud's API key (a secret, never in a file)",
    "EDGE_MQTT_PASSWORD": "the broker password (a secret, never in a file)",
    "EDGE_TFLITE_RUNTIME": "which TFLite runtime edge.model loads",
    "EDGE_TRAIN_CACHE": "edge train's cache folder",
    "EDGE_CLINC150": "tests: where CLINC150 is",
    "EDGE_PREFIX": "tests of the first-boot script",
    "EDGE_PYTHON": "tests of the first-boot script",
    "EDGE_DEVICE_TEST_DIR": "scripts/device-test",
    "EDGE_DEBIAN_MIRROR": "scripts/device-test",
    "EDGE_DEMO_PORT": "scripts/demo",
    "EDGE_KEY_PASSWORD": "edge keygen / edge sign: the secret key's password (a secret, never in a file)",
    "EDGE_HOME_HA_TOKEN": "Home Assistant's long-lived token for the names (a secret, never in a file)",
    "EDGE_TEST_HASS": "tests: a Home Assistant `hass` binary to fetch names from",
}
OTHER_PREFIXES = ("EDGE_FAULT_",)  # fault injection for tests


_BOOLS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
_NUMBER = re.compile(r"^[+-]?[A-Za-z0-9_.+-]+$")  # what TOML may read as a number: no spaces, # or newlines


def parse(raw: str, typ: type) -> Any:
    """One EDGE_* variable as a typed value; ValueError when it cannot be one (checks come after)."""
    if typ is str:
        return raw
    if typ is bool:
        if raw.strip().lower() in _BOOLS:
            return _BOOLS[raw.strip().lower()]
        raise ValueError
    if typ is LIST:  # a TOML array, or comma-separated (a topic with a comma needs the array form)
        if raw.lstrip().startswith("["):
            try:
                return tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                raise ValueError from None
        return [item.strip() for item in raw.split(",") if item.strip()]
    if not _NUMBER.match(raw.strip()):
        raise ValueError
    try:  # TOML's number grammar: 1883, 1_000, 0x10, 2.5, 1e3 (and nan, inf: refused by the checks)
        return tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        raise ValueError from None


def layer(environ: Mapping[str, str], errors: list[str]) -> tuple[dict[str, Any], list[str]]:
    """EDGE_<SECTION>_<KEY> variables as a layer, and the EDGE_* variables that are neither keys nor known."""
    layer: dict[str, Any] = {}
    names = {env_name(key): (key, TYPES[str(f.type)]) for key, f in schema()}
    unknown: list[str] = []
    for var in sorted(environ):
        if var not in names:
            if var.startswith("EDGE_") and var not in OTHER_VARIABLES and not var.startswith(OTHER_PREFIXES):
                unknown.append(var)
            continue
        key, typ = names[var]
        raw = environ[var]
        try:
            value = parse(raw, typ)
        except ValueError:
            errors.append(f"environment: {var}: expected {type_name(typ)}, got {shown(raw)}")
            continue
        section, _, name = key.rpartition(".")
        (layer.setdefault(section, {}) if section else layer)[name] = value
    return layer, unknown


def unknown_warning(unknown: list[str]) -> str:
    import difflib  # only when there is something to warn about: 1.5 ms of start-up otherwise

    known = [env_name(key) for key, _ in schema()] + list(OTHER_VARIABLES)
    named = []
    for var in unknown:
        close = difflib.get_close_matches(var, known, n=1, cutoff=0.8)
        named.append(f"{var} (did you mean {close[0]}?)" if close else var)
    return f"environment: unknown EDGE_* variables ignored: {', '.join(named)}"


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
