"""The link's vocabulary, shared by its modules and the daemon: an incoming `Message`, the
completion callback `Done`, and `LinkError` (a refusal that retrying cannot fix)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


class LinkError(Exception):
    """The broker refused us for a reason that retrying cannot fix."""


@dataclass(frozen=True, slots=True)
class Message:
    """An incoming publication, reduced to what the service needs."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    response_topic: str | None
    correlation: bytes | None
    retain: bool = False


Done = Callable[[], None]
