"""The Wyoming server as one channel of the daemon's event loop: `channel` builds it from the
settings, the loaded model and the home's names (the home recognizer, with the cloud behind it
when `[wyoming] cloud` is on); `serve` runs a bare server until cancelled.

The server itself, its bounded reading and its replies, is edge/wyoming.py; this module is the
wiring from the daemon's parts to it, so the server knows nothing of settings or the cloud.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from edge.home_results import Recognizer
from edge.wyoming import ServerLimits, WyomingServer

__all__ = ["WyomingChannel", "channel", "serve"]


async def serve(settings: Any, recognizer: Recognizer, *, started: asyncio.Event | None = None,
                limits: ServerLimits = ServerLimits()) -> None:
    """Serve `[wyoming]` of `settings` until cancelled (the daemon's loop owns it as one task).
    `started` is set once the port is bound (an OSError, e.g. the port taken, propagates)."""
    w = settings.wyoming
    server = WyomingServer(recognizer, host=w.host, port=w.port, zeroconf=w.zeroconf, limits=limits)
    await server.start()
    try:
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await server.close()


class WyomingChannel:
    """The server as one channel of the daemon's event loop (edge/channel.py's `Channel`): `start`
    binds on the loop that runs it, `stop` closes it within the drain. An address already in use is
    an OSError at start: the daemon fails its start (exit 2) instead of serving without Assist.

    `recognizer_for(model, slots, names)` builds the recognizer; `swap_model` (edge.service's, after a
    deployment) serves the new model from the next transcript on, so `info` and the cloud's prompt
    name the live model's languages and intents; `swap_names` (edge.names_source's, after a refresh
    from Home Assistant) does the same for the home's names. A transcript already being answered
    finishes with the recognizer it started with."""

    name = "wyoming"

    def __init__(self, server: WyomingServer, recognizer_for: Callable[[Any, Any, Any], Recognizer] | None = None,
                 model: Any = None, slots: Any = None, names: Any = None) -> None:
        self.server = server
        self._recognizer_for = recognizer_for
        self._model, self._slots, self.names = model, slots, names

    def swap_model(self, model: Any, slots: Any) -> None:
        self._model, self._slots = model, slots
        if self._recognizer_for is not None:
            self.server.recognizer = self._recognizer_for(model, slots, self.names)

    def swap_names(self, names: Any) -> None:
        """A new Names, whole (never edited): the recognizer and its cloud prompt are made anew for it."""
        self.names = names
        if self._recognizer_for is not None:
            self.server.recognizer = self._recognizer_for(self._model, self._slots, names)

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.close()


def channel(settings: Any, model: Any, slots: Any, names: Any = None, cloud: Any = None) -> WyomingChannel:
    """The Wyoming channel of a daemon: the loaded model and its slot extractor behind the home
    recognizer, with `names` (the daemon's, loaded once) or else those of `[home] names` (none: only
    intents that name no thing can be recognized). `cloud` is the daemon's (client, router, pool,
    health): with a client and `[wyoming] cloud` on, what the home model does not stand behind goes
    to the cloud (edge.home_cloud) under the daemon's budget and breaker; else the device alone
    answers. Raises edge.names_file.NamesError for a bad names file (a start-up error)."""
    from edge import __version__
    from edge.home import HomeRecognizer, threshold as home_threshold

    if names is None and settings.home.names:
        from edge import names as names_mod

        names = names_mod.load(settings.home.names)
    wrap: Callable[[Recognizer], Recognizer] | None = None
    if cloud is not None and cloud[0] is not None and settings.wyoming.cloud:
        from edge.home_cloud import maker

        wrap = maker(*cloud[:3], settings, health=cloud[3] if len(cloud) > 3 else None)

    def recognizer_for(model: Any, slots: Any, names: Any) -> Recognizer:
        home = HomeRecognizer(model, slots, names, threshold=home_threshold(settings, model))
        return wrap(home) if wrap is not None else home

    w = settings.wyoming
    return WyomingChannel(WyomingServer(recognizer_for(model, slots, names), host=w.host, port=w.port,
                                        zeroconf=w.zeroconf, version=__version__),
                          recognizer_for, model, slots, names)
