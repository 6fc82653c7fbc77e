"""Value rules for settings: each takes one typed value and says why it is refused, or None.

edge.config applies them to every layer (profile, file, EDGE_* variables) and
to the `edge` command's own options, so a value is judged the same wherever it
comes from. A rule never raises: a refused value becomes one error line that
names its key and source, never a traceback at start-up or, worse, later.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

# C0 controls and DEL: no setting has a use for them, and in a topic, a client
# id or a user name they are refused by brokers or end up in logs unescaped.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Host names and IP literals (an IPv6 zone as in fe80::1%eth0), without brackets.
_HOST = re.compile(r"^[A-Za-z0-9_.:%-]{1,253}$")
MQTT_STRING_BYTES = 65535  # MQTT's limit on a UTF-8 string (topic, client id, user name)


def text(value: str) -> str | None:
    """Every string setting: encodable UTF-8 (an EDGE_* variable holding a byte the locale
    could not decode arrives as a lone surrogate such as '\\udcff'), no control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text (a byte the locale could not decode, or a lone surrogate)"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def finite(value: float) -> str | None:
    """Every float setting: `nan` compares false with every bound, `inf` never elapses."""
    return None if math.isfinite(value) else "must be a finite number"


def host(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if not _HOST.match(value):
        return "is not a host name or IP address (letters, digits, . - _ :, no brackets or spaces)"
    return None


def mqtt_string(value: str) -> str | None:
    if len(value.encode("utf-8")) > MQTT_STRING_BYTES:
        return f"is longer than MQTT's {MQTT_STRING_BYTES} bytes"
    return None


def topic(value: str) -> str | None:
    """A topic (or topic prefix) the daemon publishes under or accepts.

    Refused: wildcards (`+`, `#`: a filter, not a topic), a leading `$` (the
    broker's own namespace, `$SYS/...`, never an application's) and empty levels
    (`a//b`, a leading or trailing `/`: legal MQTT, but nearly always a typo that
    silently makes a second topic tree, and `/edge/x` escapes ACLs written for `edge/#`)."""
    if not value:
        return None  # "" means the default where the key allows it
    if "+" in value or "#" in value:
        return "must not contain the wildcards + or #"
    if value.startswith("$"):
        return "must not start with $ (the broker's own topics, such as $SYS)"
    if "" in value.split("/"):
        return "must not have empty levels (no leading, trailing or double /)"
    return mqtt_string(value)


def topic_list(values: tuple[str, ...]) -> str | None:
    if len(values) > 256:
        return "has more than 256 entries"
    for item in values:
        why = "must not be empty" if not item else topic(item)
        if why:
            return f"entry {item[:60]!r} {why}"
    return None


def ha_url(value: str) -> str | None:
    """home.homeassistant_url: empty (off), or Home Assistant's http(s):// base or its ws(s):// websocket URL."""
    if value.startswith(("ws://", "wss://")):
        value = "http" + value[2:]  # the same rules; only the scheme differs
    why = url(value)
    if why and "credentials" in why:
        return "must not carry credentials (the token comes from EDGE_HOME_HA_TOKEN or the ha_token credential)"
    return why.replace("http:// or https://", "http://, https://, ws:// or wss://") if why else None


def url(value: str) -> str | None:
    """cloud.base_url: empty (no cloud), or http(s)://host[:port][/path][?query]."""
    if not value:
        return None
    if any(c.isspace() for c in value):
        return "must not contain spaces"
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when out of 0-65535 or not a number
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (the key comes from EDGE_CLOUD_API_KEY or a credential)"
    if parts.fragment or value.endswith("#"):
        return "must not have a #fragment"
    return None
