"""At-least-once: publish, or keep on disk while the broker is away; ack a request once its output is safe.

"Safe" means PUBACKed by the broker or committed to the outbox. A request is
acknowledged only then, so a daemon killed in between gets the request
redelivered by the broker (its persistent session) instead of losing it. When
neither is possible (the link is down and the outbox write fails: a full
card), the request is deliberately left unacknowledged: the broker redelivers
it on the next connect, when the daemon may be able to make it safe.
Outbox replay runs before any new result is published, so results keep their
order across a broker outage.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol

from edge.health import Storage
from edge.outbox import Pending

log = logging.getLogger("edge.delivery")

Publication = tuple[str, bytes, int, bool, bytes | None]  # topic, payload, qos, retain, correlation


class LinkLike(Protocol):
    """What delivery needs from the broker link (`mqtt.Link`, or a fake in tests)."""

    @property
    def connected(self) -> bool: ...

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                correlation: bytes | None = None, on_done: Callable[[], None] | None = None) -> bool: ...


class StoreLike(Protocol):
    """What delivery needs from the outbox (`outbox.Outbox`, or a fake in tests)."""

    def __len__(self) -> int: ...
    def put(self, items: list[Publication], *, bounded: bool = True) -> None: ...
    def peek(self, limit: int = 100) -> list[Pending]: ...
    def remove(self, seqs: list[int]) -> None: ...


class Delivery:
    def __init__(
        self, link: LinkLike, outbox: StoreLike, storage: Storage, on_backlog: Callable[[], None] = lambda: None,
    ) -> None:
        self.link = link
        self.outbox = outbox
        self.storage = storage
        self._on_backlog = on_backlog  # asks the owner to run replay() soon
        self._local = threading.local()  # `held`: this thread's open batch (see batch())

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Publications stored during the block go to disk in one transaction at its end.

        The network thread answers a read's requests as one batch; in a flood, results beyond
        paho's queue go to the outbox, and one synced write per request (an fsync each) made
        the thread too slow to read the PUBACKs that would drain paho's queue again. Within the
        block `deliver` answers True for what it holds; should the write at the end fail, those
        requests stay unacknowledged (the broker redelivers them) and `on_unsafe` tells the
        caller not to cache their results. Per thread: an escalation's result, published from
        the cloud pool meanwhile, is stored on its own."""
        if getattr(self._local, "held", None) is not None:
            yield  # nested: the outer block writes
            return
        held: list[tuple[list[Publication], Callable[[], None], Callable[[], None] | None]] = []
        self._local.held = held
        try:
            yield
        finally:
            self._local.held = None
            if held:
                self._store_held(held)

    def _store_held(self, held: list[tuple[list[Publication], Callable[[], None], Callable[[], None] | None]]) -> None:
        try:
            self.outbox.put([pub for pubs, _done, _unsafe in held for pub in pubs], bounded=not self.link.connected)
        except Exception as exc:
            self.storage.failed("outbox write", exc)
            log.debug("%d requests' publications neither sent nor stored; they stay unacknowledged", len(held))
            for _pubs, _done, on_unsafe in held:
                if on_unsafe is not None:
                    on_unsafe()
            return
        self.storage.ok()
        self._on_backlog()  # after the write: a replay that starts now finds these rows
        for pubs, one_done, _unsafe in held:
            for _ in pubs:
                one_done()

    def deliver(self, pubs: list[Publication], on_safe: Callable[[], None] | None,
                on_unsafe: Callable[[], None] | None = None) -> bool:
        """Publish all of `pubs`; `on_safe` (the request's ack) runs once every one is safe.

        Returns False when some could be neither published nor stored: `on_safe` then never runs.
        Inside `batch()`, what must be stored is written at the end of the block, and `on_unsafe`
        runs if that write fails."""
        remaining = [len(pubs)]
        lock = threading.Lock()

        def one_done() -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last and on_safe is not None:
                on_safe()

        if not pubs:
            if on_safe is not None:
                on_safe()
            return True
        # Older results still on disk (a replay under way, the link just back): queue behind
        # them rather than overtake them.
        held = getattr(self._local, "held", None)
        stored: list[Publication] = pubs if (held or len(self.outbox)) else []
        if not stored:
            for i, (topic, payload, qos, retain, corr) in enumerate(pubs):
                try:
                    sent = self.link.publish(topic, payload, qos, retain, corr, on_done=one_done)
                except Exception:  # paho refused it in some way we did not foresee: keep it on disk
                    log.exception("publish to %s raised; keeping it in the outbox", topic)
                    sent = False
                if not sent:
                    stored = pubs[i:]  # the link is down: the rest waits on disk, in order
                    break
        if not stored:
            return True
        if held is not None:
            held.append((stored, one_done, on_unsafe))
            return True
        try:
            self.outbox.put(stored, bounded=not self.link.connected)
        except Exception as exc:
            self.storage.failed("outbox write", exc)
            log.debug("%d publications neither sent nor stored; the request stays unacknowledged", len(stored))
            return False
        self.storage.ok()
        self._on_backlog()  # after the write: a replay that starts now finds these rows
        for _ in stored:
            one_done()
        return True

    def replay(self, chunk_size: int = 100, ack_timeout: float = 10.0,
               on_chunk: Callable[[], None] = lambda: None) -> bool:
        """Publish what was kept while disconnected (or beyond paho's queue in a flood), oldest
        first, chunk by chunk; `on_chunk` runs before each chunk (the replayer's heartbeat).

        Returns False when it must be retried (the link dropped again, paho's queue is full, the
        broker stopped acknowledging, the store failed); rows are removed only once PUBACKed.
        """
        sent = 0
        try:
            while self.link.connected:
                on_chunk()
                try:
                    chunk = self.outbox.peek(chunk_size)
                except Exception as exc:
                    self.storage.failed("outbox read", exc)
                    return False
                if not chunk:
                    return True
                acked = threading.Semaphore(0)
                lost: list[int] = []
                handed = 0
                for item in chunk:

                    def done(seq: int = item.seq) -> None:
                        # Runs on paho's network thread: it must not raise there.
                        try:
                            self.outbox.remove([seq])
                        except Exception as exc:
                            self.storage.failed("outbox remove", exc)  # replayed again later: a duplicate
                            lost.append(seq)
                        finally:
                            acked.release()

                    if not self.link.publish(item.topic, item.payload, item.qos, item.retain, item.correlation,
                                             on_done=done):
                        break  # paho's queue is full, or the link dropped: the rest waits for the next round
                    handed += 1
                # Wait for what was handed over even when the chunk was cut short: a row whose PUBACK
                # is still coming must not be peeked and published a second time by the next round.
                # Waited for as long as the link stays up: giving up and peeking the same rows again
                # would publish them twice (51 duplicates in a 30,000-request flood, where PUBACKs
                # queue behind the broker's deliveries). If the link drops, paho resends what it
                # has in flight itself.
                waited = 0.0
                for _ in range(handed):
                    while not acked.acquire(timeout=1.0):
                        on_chunk()
                        if not self.link.connected:
                            return False
                        waited += 1.0
                        if waited == ack_timeout:
                            log.warning("outbox replay: no PUBACK for %.0f s; still waiting", waited)
                sent += handed
                if handed < len(chunk):
                    return False
                if lost:
                    return False  # the same rows would come back from peek(): retry once storage recovers
            return False
        finally:
            if sent:
                log.info("replayed %d publications from the outbox", sent)
