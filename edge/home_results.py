"""What the home recognizer answers, as plain values: `Recognized` (a Home Assistant intent with exact
names), `NotUnderstood` (a refusal and its reason), `Answered` (the cloud's spoken answer to something that
is no home command), their union `Result`, the `Recognizer` protocol the Wyoming server and the MQTT path
call, and `base_language` (which served language a request's language tag names).

A leaf: the standard library only. edge/home.py decides (`decide`, `HomeRecognizer`) and re-exports these
names, so `from edge.home import Recognized` keeps working; the modules that only carry or convert results
(edge/wyoming.py, edge/wyoming_channel.py, edge/home_cloud.py, edge/home_cloud_mqtt.py) import them from
here. Plain dataclasses, not wyoming events, so the MQTT path needs no `wyoming` package (edge/wyoming.py
converts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Protocol, Sequence, Union

__all__ = ["Answered", "NotUnderstood", "Recognized", "Recognizer", "Result", "base_language"]

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")


@dataclass(frozen=True)
class Recognized:
    """A Home Assistant intent and its slots (HA's slot names; exact names; numbers as numbers)."""

    name: str
    entities: tuple[tuple[str, Any], ...]
    confidence: float = 1.0
    # The same entities as MQTT result slots (edge.contract: name, entity, raw, value, start, end,
    # confidence), each on the words it came from; filled by `decide`, not part of equality.
    slots: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)
    # what decided the intent where the model was unsure ("carrier: add to my list", edge/home_rescue.py);
    # "" where the model's confidence did. The confidence stays the model's either way.
    decided: str = field(default="", compare=False)


@dataclass(frozen=True)
class NotUnderstood:
    """Nothing to act on. `reason`: language, invalid, empty, too_long, unsure, not_home, slot,
    number, no_names, polarity, dropped (a thing said but not in the intent: edge.home_guard), or a
    names refusal's reason (unknown, ambiguous, conflict, ...)."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Answered:
    """An answer to something that is no home command (from the cloud), spoken as it is."""

    text: str


Result = Union[Recognized, NotUnderstood, Answered]


class Recognizer(Protocol):
    """What the Wyoming server (and the MQTT path) needs: the languages served and one call.
    `recognize` may return the result or an awaitable of it."""

    languages: Sequence[str]

    def recognize(self, text: str, language: str | None) -> Result | Awaitable[Result]: ...


def base_language(language: Any, served: Sequence[str]) -> str | None:
    """"en", "en-US", "de_DE" -> the served language it is ("en", "de"); None when not served
    or not a language tag. A served "pt-BR" is matched whole before its base."""
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        return None
    tag = language.replace("_", "-")
    lowered = {s.lower(): s for s in served}
    return lowered.get(tag.lower()) or lowered.get(tag.split("-")[0].lower())
