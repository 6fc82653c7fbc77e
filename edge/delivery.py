"""At-least-once delivery: publish, or keep on disk while the broker is away; ack a request once its output is safe.

"Safe" means PUBACKed by the broker or committed to the outbox. A request is
acknowledged only then, so a daemon killed in between gets the request
redelivered by the broker (its persistent session) instead of losing it.
Outbox replay runs before any new result is published, so results keep their
order across a broker outage.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from edge.mqtt import Link
from edge.outbox import Outbox

log = logging.getLogger("edge.delivery")

Publication = tuple[str, bytes, int, bool, bytes | None]  # topic, payload, qos, retain, correlation


class Delivery:
    def __init__(self, link: Link, outbox: Outbox, on_backlog: Callable[[], None] = lambda: None) -> None:
        self.link = link
        self.outbox = outbox
        self._on_backlog = on_backlog  # asks the owner to run replay() soon

    def deliver(self, pubs: list[Publication], on_safe: Callable[[], None] | None) -> None:
        """Publish all of `pubs`; `on_safe` (the request's ack) runs once every one is safe."""
        remaining = [len(pubs)]
        lock = threading.Lock()

        def one_done() -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last and on_safe is not None:
                on_safe()

        stored: list[Publication] = pubs if len(self.outbox) else []
        if stored:
            # Older results still wait on disk (a replay is under way, or the link just
            # came back): queue behind them rather than overtake them.
            self._on_backlog()
        else:
            for i, (topic, payload, qos, retain, corr) in enumerate(pubs):
                if not self.link.publish(topic, payload, qos, retain, corr, on_done=one_done):
                    stored = pubs[i:]  # the link is down: the rest waits on disk, in order
                    break
        if stored:
            self.outbox.put(stored)
            for _ in stored:
                one_done()

    def replay(self, chunk_size: int = 100, ack_timeout: float = 10.0) -> bool:
        """Publish what was kept while disconnected, oldest first, chunk by chunk.

        Returns False when it must be retried (the link dropped again, or the
        broker stopped acknowledging); rows are removed only once PUBACKed.
        """
        sent = 0
        try:
            while self.link.connected:
                chunk = self.outbox.peek(chunk_size)
                if not chunk:
                    return True
                acked = threading.Semaphore(0)
                for item in chunk:

                    def done(seq: int = item.seq) -> None:
                        self.outbox.remove([seq])
                        acked.release()

                    if not self.link.publish(item.topic, item.payload, item.qos, item.retain, item.correlation, on_done=done):
                        return False
                for _ in chunk:
                    if not acked.acquire(timeout=ack_timeout):
                        log.warning("outbox replay stalled; retrying on the next connect")
                        return False
                sent += len(chunk)
            return False
        finally:
            if sent:
                log.info("replayed %d publications from the outbox", sent)
