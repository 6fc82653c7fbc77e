"""Which topics the daemon may publish to: what a broker accepts as a topic name, and where a reply may go.

Pure functions, no MQTT: a reply topic comes from the request (the MQTT 5 Response Topic or the
JSON `reply_to`), so it is input from any client, and a reply is the daemon's own publication made
with its credentials. edge/contract.py asks `reply_topic_problem` while it parses a request; the
link asks `valid_publish_topic` before anything goes to paho (a topic the broker refuses would
drop the connection and come back at every reconnect).
"""

from __future__ import annotations

import functools
import re

# What a broker refuses in a topic name (MQTT 5 sections 1.5.4 and 4.7.3), and mosquitto answers
# by dropping the connection: wildcards, U+0000, control characters, non-characters, surrogates.
# Publishing to such a topic is a poison pill: paho resends it after every reconnect.
_BAD_TOPIC = re.compile(
    "[+#\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(p << 16 | 0xFFFE)}{chr(p << 16 | 0xFFFF)}" for p in range(17))
    + "]"
)


# Topic checks are cached for short topics only: a cache of long ones would hold up to 64 KiB each.
_CACHED_TOPIC_CHARS = 256


def _valid_publish_topic(topic: str) -> bool:
    return bool(topic) and len(topic.encode("utf-8", "surrogatepass")) <= 65535 and not _BAD_TOPIC.search(topic)


_valid_cached = functools.lru_cache(maxsize=1024)(_valid_publish_topic)


def valid_publish_topic(topic: str) -> bool:
    """True when a broker accepts `topic` as the topic name of a PUBLISH."""
    return _valid_cached(topic) if len(topic) <= _CACHED_TOPIC_CHARS else _valid_publish_topic(topic)


# Where a reply must never go, whatever the request says: a reply is the daemon's publication, made
# with its credentials, so a reply topic is a way for any client to make the daemon publish. Not on
# any edge device's topics (the default base topics are edge/<id>, fleets edge/group/<name>: a reply
# there would fake another device's intent, status or health), not on the voice satellites' Hermes
# topics, and not on the command namespaces of the integrations people run beside it.
_FORBIDDEN_REPLY_ROOTS = ("edge", "hermes", "zigbee2mqtt", "cmnd", "zwave", "shellies", "homie", "tasmota")
# Last levels that are commands by convention (zigbee2mqtt, homie, Z-Wave JS UI, ESPHome, Shelly).
_COMMAND_LEVELS = ("request", "set", "command", "cmd")


def _under(topic: str, prefix: str) -> bool:
    """`topic` is `prefix` or below it, level by level ("a/b" covers a/b/c, not a/bc)."""
    prefix = prefix.rstrip("/")
    return topic == prefix or topic.startswith(prefix + "/")


def reply_topic_problem(topic: str, forbidden_prefixes: tuple[str, ...] = (),
                        allowed_prefixes: tuple[str, ...] = ()) -> str | None:
    """`_reply_topic_problem`, cached for short topics: asked for every request with a reply topic,
    nearly always the same few (about 3 us a request otherwise, warm)."""
    if len(topic) <= _CACHED_TOPIC_CHARS and type(forbidden_prefixes) is tuple and type(allowed_prefixes) is tuple:
        return _reply_problem_cached(topic, forbidden_prefixes, allowed_prefixes)
    return _reply_topic_problem(topic, forbidden_prefixes, allowed_prefixes)


def _reply_topic_problem(topic: str, forbidden_prefixes: tuple[str, ...] = (),
                         allowed_prefixes: tuple[str, ...] = ()) -> str | None:
    """Why `topic` may not be a reply topic, or None when it may.

    Beyond what a broker refuses: a wildcard filter, a `$` topic (broker internals), a
    topic whose last level is a command (`request`, `set`, `command`, `cmd`), anything under
    `edge/` (every edge device's default base topic) or `hermes/` or an integration's command
    namespace, and under `forbidden_prefixes` (the daemon passes its own base topic and the
    Home Assistant discovery prefix). With `allowed_prefixes` (`[mqtt] reply_prefixes`), a
    reply topic must also be under one of them."""
    if not valid_publish_topic(topic):
        return "has characters a broker refuses in a topic name (wildcards, control characters)"
    if topic.startswith("$"):
        return "starts with '$' (reserved for the broker)"
    last = topic.rsplit("/", 1)[-1]
    if last.lower() in _COMMAND_LEVELS:
        return f"ends in '/{last}' (a command topic: a reply there would command a device)"
    root = topic.split("/", 1)[0]
    if root in _FORBIDDEN_REPLY_ROOTS:
        return f"is under {root}/ (another device's or integration's topics: a reply there would act on the house)"
    for prefix in forbidden_prefixes:
        if prefix and _under(topic, prefix):
            return f"is under {prefix.rstrip('/')}/ (a reply there would act on the house or fake this device's topics)"
    if allowed_prefixes and not any(_under(topic, p) for p in allowed_prefixes):
        return "is not under any of mqtt.reply_prefixes (" + ", ".join(allowed_prefixes) + ")"
    return None


_reply_problem_cached = functools.lru_cache(maxsize=256)(_reply_topic_problem)
