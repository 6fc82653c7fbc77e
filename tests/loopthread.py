"""An event loop on a thread of its own: the owner of a `Link` in in-process tests.

The link is the loop's alone (as in the daemon); a test thread calls into it with `call`."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 15.0) -> Any:
        """Run fn(*args) on the loop (awaited when it is a coroutine function); its result."""

        async def go() -> Any:
            out = fn(*args)
            return await out if asyncio.iscoroutine(out) else out

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
