"""`Channel`: what the daemon's loop asks of something else it serves besides the broker's requests
(the Wyoming server, edge/wyoming.py; the deployment channel, edge/deploy_channel.py).

edge/service_build.py builds the channels into `Parts.channels`; edge/service.py starts them after
the link, stops them within the drain, and calls `swap_model` on each when a deployment swaps the
model. A channel declares every method here, even one it has no use for (a no-op says so), so the
service never has to ask what a channel can do.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Channel(Protocol):
    """`start` binds or connects and returns once serving (its tasks run on `loop`); `stop` closes it
    within the drain; `swap_model` makes it serve a newly swapped-in model (and its slot extractor)
    from its next request on. An exception that escapes a channel's callbacks or tasks stops the
    daemon with exit 1 (see `Service._unhandled`)."""

    name: str

    async def start(self, loop: asyncio.AbstractEventLoop) -> None: ...

    async def stop(self) -> None: ...

    def swap_model(self, model: Any, slots: Any) -> None: ...
