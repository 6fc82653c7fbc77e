"""At-least-once: publish, or keep on disk while the broker is away; ack a request once its output is safe.

"Safe" means PUBACKed by the broker or committed to the outbox. A request is
acknowledged only then, so a daemon killed in between gets the request
redelivered by the broker (its persistent session) instead of losing it. When
neither is possible (the link is down and the outbox write fails: a full
card), the request is deliberately left unacknowledged: the broker redelivers
it on the next connect, when the daemon may be able to make it safe.
Outbox replay runs before any new result is published, so results keep their
order across a broker outage.

Everything here runs on the daemon's event loop (the only thread that
publishes): no locks. `Replay` is the outbox's replay as a state machine on
that loop: send a chunk, delete its rows once every PUBACK is in, next chunk.
"""

from __future__ import annotations

import logging
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
        self._on_backlog = on_backlog  # asks the owner to replay soon (Replay.kick)
        self._held: list[tuple[list[Publication], Callable[[], None], Callable[[], None] | None]] | None = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Publications stored during the block go to disk in one transaction at its end.

        The loop answers a read's requests as one batch; in a flood, results beyond paho's
        queue go to the outbox, and one synced write per request (an fsync each) made the loop
        too slow to read the PUBACKs that would drain paho's queue again. Within the block
        `deliver` answers True for what it holds; should the write at the end fail, those
        requests stay unacknowledged (the broker redelivers them) and `on_unsafe` tells the
        caller not to cache their results."""
        if self._held is not None:
            yield  # nested: the outer block writes
            return
        held: list[tuple[list[Publication], Callable[[], None], Callable[[], None] | None]] = []
        self._held = held
        try:
            yield
        finally:
            self._held = None
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
        for pubs, one_done, _unsafe in held:
            for _ in pubs:
                one_done()
        self._on_backlog()  # after the write: the replay finds these rows

    def deliver(self, pubs: list[Publication], on_safe: Callable[[], None] | None,
                on_unsafe: Callable[[], None] | None = None) -> bool:
        """Publish all of `pubs`; `on_safe` (the request's ack) runs once every one is safe.

        Returns False when some could be neither published nor stored: `on_safe` then never runs.
        Inside `batch()`, what must be stored is written at the end of the block, and `on_unsafe`
        runs if that write fails."""
        if not pubs:
            if on_safe is not None:
                on_safe()
            return True
        remaining = len(pubs)

        def one_done() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0 and on_safe is not None:
                on_safe()

        # Older results still on disk (a replay under way, the link just back): queue behind
        # them rather than overtake them.
        held = self._held
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
        for _ in stored:
            one_done()
        self._on_backlog()  # after the write: the replay finds these rows
        return True


class Replay:
    """The outbox's replay, a state machine on the loop: send a chunk, delete its rows once all of
    its PUBACKs are in, then the next chunk; `kick()` whenever rows were stored or the link is back.

    One chunk at a time, and never the same rows twice: while a chunk's publications are with
    paho (which resends them itself after a reconnect), no new chunk is peeked. Rows go only
    once PUBACKed, in one transaction per chunk; a kill in between replays them again (a
    duplicate, never a loss). When paho has no room (a flood), the chunk is cut short and the
    rest follows once its PUBACKs are in."""

    def __init__(self, link: LinkLike, outbox: StoreLike, storage: Storage,
                 call_later: Callable[[float, Callable[[], None]], object], chunk_size: int = 100,
                 on_drained: Callable[[], None] = lambda: None) -> None:
        self.link = link
        self.outbox = outbox
        self.storage = storage
        self._call_later = call_later  # loop.call_later
        self.chunk_size = chunk_size
        self._on_drained = on_drained
        self._in_flight = 0  # of the current chunk, handed to paho and not yet PUBACKed
        self._acked: list[int] = []  # their seqs, removed together once the chunk is complete
        self._sending = False
        self._due = False  # a retry is scheduled
        self.sent = 0  # publications replayed since the outbox was last empty (logged then)

    @property
    def busy(self) -> bool:
        return self._in_flight > 0 or self._sending

    def kick(self) -> None:
        """Rows were stored, the link came back, or the store recovered: send if idle."""
        if self._in_flight or self._sending or self._due:
            return  # the chunk under way continues by itself once its PUBACKs are in
        self._step()

    def _retry(self, delay: float) -> None:
        if not self._due:
            self._due = True
            self._call_later(delay, self._retry_now)

    def _retry_now(self) -> None:
        self._due = False
        self.kick()

    def _step(self) -> None:
        if not self.link.connected:
            return  # the connect kicks again
        try:
            chunk = self.outbox.peek(self.chunk_size)
        except Exception as exc:
            self.storage.failed("outbox read", exc)
            return  # the storage probe kicks once the store recovers
        if not chunk:
            if self.sent:
                log.info("replayed %d publications from the outbox", self.sent)
                self.sent = 0
                self._on_drained()
            return
        self._sending = True
        try:
            for item in chunk:
                self._in_flight += 1
                try:
                    ok = self.link.publish(item.topic, item.payload, item.qos, item.retain, item.correlation,
                                           on_done=lambda seq=item.seq: self._done(seq))
                except Exception:
                    log.exception("replay of outbox row %d raised; retrying later", item.seq)
                    ok = False
                if not ok:
                    self._in_flight -= 1
                    break  # paho's queue is full, or the link dropped: the rest after this chunk's PUBACKs
        finally:
            self._sending = False
        if self._in_flight == 0:
            self._chunk_done(retry=0.05)  # nothing handed over (paho full): try again shortly

    def _done(self, seq: int) -> None:
        """A PUBACK (on the loop): once the chunk is complete, its rows go and the next chunk comes."""
        self._acked.append(seq)
        self._in_flight -= 1
        if self._in_flight == 0 and not self._sending:
            self._chunk_done()

    def _chunk_done(self, retry: float = 0.0) -> None:
        acked, self._acked = self._acked, []
        self.sent += len(acked)
        if acked:
            try:
                self.outbox.remove(acked)
            except Exception as exc:
                # Left in the outbox: sent again once the store recovers (a duplicate, not a loss).
                self.storage.failed("outbox remove", exc)
                return
        if retry and not acked:
            if self.link.connected:
                self._retry(retry)
            return
        self._retry(0.0)  # the next chunk on the next turn of the loop, not deeper in this call
