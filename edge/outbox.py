"""The on-disk store behind "nothing accepted is lost": SQLite in WAL mode, `<state_dir>/edge.db`.

Tables: `outbox` (publications made while the broker was away, replayed in order; bounded by count
and age), `deferred` (requests that should have gone to the cloud while it was down; bounded by
count), `answered` (request id -> result: a redelivered request is answered again, not recomputed),
`cloud_calls` (the budget ledger). Drops by a bound are oldest first, and counted. Each job has its
typed view (`AnsweredIds`, `DeferredQueue`, `BudgetLedger`; the outbox's is `delivery.StoreLike`),
and each consumer names the views it uses (`PipelineStore`, `EscalationStore`), not the whole store.

Durability is chosen per write (`synchronous` applies at commit), so one file serves both needs:
FULL for `put`, which the caller acks to the broker once they return (the WAL is
fsynced: survives SIGKILL and power loss); NORMAL for the rest: `remember` is the hot path, where
an fsync per micro-batch costs milliseconds on an SD card, and a lost removal is only a duplicate.
A NORMAL commit is in the OS when it returns (survives SIGKILL); the WAL is written in order, so
the next FULL commit or checkpoint makes it durable too.

One connection behind one lock: SQLite serialises writers anyway, each call is a few statements,
and the cached counts stay exact. `locking_mode=EXCLUSIVE`: no `-shm` file to go stale, and a second
daemon on the same state directory fails at start-up instead of replaying the same outbox.

Opening the file (schema, migrations, a corrupt file moved aside) is edge/store_file.py's; the
typed views and their records are edge/store_views.py's (re-exported here).

At open a bad header or a failed `PRAGMA quick_check` (not a database, truncated, a torn page) moves
the file aside to `edge.db.corrupt-<UTC timestamp>`, logs at ERROR and starts a fresh store. A file
that was closed cleanly is kept byte for byte; after a crash, SQLite folds the committed WAL into the
file as the checking connection closes, or, when it cannot read the file at all, the `-wal` is moved
along with it: never left behind for the fresh store to replay. A torn *tail* of the WAL is not corruption: SQLite checksums WAL frames and drops only
the incomplete last transaction on recovery, keeping every committed one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from edge.store_file import DB_NAME, open_store
from edge.store_views import (AnsweredIds, BudgetLedger, Deferred, DeferredQueue, EscalationStore, Pending,
                              PipelineStore, StateError)

__all__ = ["Outbox", "DB_NAME", "DAY_S",  # this module's, then the views' names its importers use from here
           "AnsweredIds", "BudgetLedger", "Deferred", "DeferredQueue", "EscalationStore", "Pending",
           "PipelineStore", "StateError"]

log = logging.getLogger(__name__)

DAY_S = 86400.0
# An id seen again gets its new result but keeps its place (seq) in the eviction order.
_REMEMBER = ("INSERT INTO answered (request_id, result) VALUES (?, ?)"
             " ON CONFLICT (request_id) DO UPDATE SET result = excluded.result")
_DROP_LOG_INTERVAL_S = 60.0


class Outbox:
    """Thread-safe persistent store; see the module docstring for the durability choices."""

    def __init__(
        self,
        directory: Path,
        *,
        max_items: int = 10000,
        max_age_s: float = 7 * 86400,
        deferred_max: int = 500,
        answered_max: int = 5000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.max_items = max_items
        self.max_age_s = max_age_s
        self.deferred_max = deferred_max
        self.answered_max = answered_max
        self._clock = clock
        self._lock = threading.Lock()
        # The connection's current synchronous level, to skip redundant PRAGMAs: open_store leaves
        # it at FULL (its migrations' level).
        self._sync = "FULL"
        self._dropped = {"outbox": 0, "deferred": 0}
        # answered ids written since the last eviction (see remember); a small cache is kept exact
        self._unpruned = 0
        self._prune_every = min(64, answered_max // 8)
        self._last_drop_log = float("-inf")
        self._db, self.recovered_from_corruption = open_store(self.directory)
        self._recount()

    def _recount(self) -> None:
        """Read the cached counts from the file (at open, and after a failed write)."""
        self._count = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        self._deferred_count = int(self._db.execute("SELECT count(*) FROM deferred").fetchone()[0])

    @contextmanager
    def _write(self, what: str, sync: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock for one write transaction at the given durability (FULL or NORMAL).

        On failure the transaction is rolled back, the cached counts are re-read from the
        file (the block may have updated them before COMMIT failed) and StateError is raised."""
        with self._lock:
            dropped = dict(self._dropped)
            try:
                self._set_sync(sync)
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._roll_back()
                self._dropped = dropped
                if isinstance(exc, sqlite3.Error):
                    raise StateError(f"{self.path}: {what} failed: {exc}") from exc
                raise

    def _write_one(self, what: str, sync: str, sql: str, params: tuple[object, ...]) -> None:
        """One statement as its own transaction (the connection is in autocommit mode: SQLite
        commits it when it ends, or rolls it back when it fails), at the given durability; what
        `_write` does for a block, without BEGIN and COMMIT as statements of their own."""
        with self._lock:
            try:
                self._set_sync(sync)
                self._db.execute(sql, params)
            except sqlite3.Error as exc:
                self._roll_back()
                raise StateError(f"{self.path}: {what} failed: {exc}") from exc

    def _set_sync(self, sync: str) -> None:
        """The connection's durability for the next write (a PRAGMA is not allowed inside a transaction)."""
        if self._sync != sync:
            self._db.execute(f"PRAGMA synchronous={sync}")
            self._sync = sync

    def _roll_back(self) -> None:
        """After a failed write: undo what is open and re-read the cached counts from the file."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._recount()
        except sqlite3.Error:
            pass  # the original error is the one worth reporting

    def _drop(self, db: sqlite3.Connection, kind: str, n: int) -> None:
        """Count n items dropped by a bound: persisted in the same transaction, logged (rate-limited)."""
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + ?",
            (f"dropped_{kind}", n, n),
        )
        self._dropped[kind] += n
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:  # a week-long outage must not flood the journal
            self._last_drop_log = now
            log.warning("%s full or expired: dropped %d oldest (%d since start)", kind, n, self._dropped[kind])

    def put(self, items: Sequence[tuple[str, bytes, int, bool, bytes | None]], *, bounded: bool = True) -> None:
        """Append (topic, payload, qos, retain, correlation) in order, durably (FULL), in one transaction;
        then drop (counted) what is older than max_age_s and, when `bounded`, the oldest beyond max_items.

        `bounded=False` is for results kept while connected, beyond what paho may hold (a flood): their
        requests are acknowledged once stored, the replay drains them within seconds, and dropping
        them would lose accepted requests. Only free space bounds them (a full disk degrades storage
        and leaves requests unacknowledged, for the broker to redeliver). The count bound is applied
        again by the next bounded write (an outage), oldest first."""
        if not items:
            return
        now = self._clock()
        rows = [(t, bytes(p), int(q), int(bool(r)), None if c is None else bytes(c), now) for t, p, q, r, c in items]
        with self._write("put", "FULL") as db:
            db.executemany(
                "INSERT INTO outbox (topic, payload, qos, retain, correlation, created) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
            self._count += len(rows)
            self._expire(db, now)
            excess = self._count - self.max_items if bounded else 0
            if excess > 0:
                db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,))
                self._count -= excess
                self._drop(db, "outbox", excess)

    def _expire(self, db: sqlite3.Connection, now: float) -> None:
        # A clock stepped backwards (a Pi without an RTC) makes items look younger, never older: kept.
        n = db.execute("DELETE FROM outbox WHERE created < ?", (now - self.max_age_s,)).rowcount
        if n:
            self._count -= n
            self._drop(db, "outbox", n)

    def peek(self, limit: int = 100) -> list[Pending]:
        """The oldest `limit` publications, oldest first; expired ones are dropped (counted) first."""
        if self._count == 0:  # the common case, connected: no transaction at all
            return []
        with self._write("peek", "NORMAL") as db:
            self._expire(db, self._clock())
            sql = "SELECT seq, topic, payload, qos, retain, correlation, created FROM outbox ORDER BY seq LIMIT ?"
            rows = db.execute(sql, (limit,)).fetchall()
        return [Pending(s, t, p, q, bool(r), c, cr) for s, t, p, q, r, c, cr in rows]

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget publications the broker has taken; unknown seqs are ignored."""
        params = [(int(s),) for s in seqs]
        if params:
            with self._write("remove", "NORMAL") as db:
                self._count -= db.executemany("DELETE FROM outbox WHERE seq = ?", params).rowcount

    def __len__(self) -> int:
        return self._count

    def defer(self, request_id: str, text: str, local_result: bytes) -> None:
        """Queue a request for the cloud's second opinion; the oldest beyond deferred_max are dropped, counted.

        NORMAL durability (in the OS when it returns, so it survives a SIGKILL; a power cut may lose
        the last ones): the device's own answer has already gone out, so what a power cut can cost is
        the cloud's second result, and an fsync here stalled the socket's thread for every deferred
        request while the breaker was open (issue 24). The reply topic and correlation data columns
        of schema v1 stay NULL: the second result goes to the result and intent topics only."""
        with self._write("defer", "NORMAL") as db:
            db.execute(
                "INSERT INTO deferred (request_id, text, local_result, created) VALUES (?, ?, ?, ?)",
                (request_id, text, bytes(local_result), self._clock()),
            )
            self._deferred_count += 1
            excess = self._deferred_count - self.deferred_max
            if excess > 0:
                sql = "DELETE FROM deferred WHERE seq IN (SELECT seq FROM deferred ORDER BY seq LIMIT ?)"
                db.execute(sql, (excess,))
                self._deferred_count -= excess
                self._drop(db, "deferred", excess)

    def deferred(self, limit: int = 20) -> list[Deferred]:
        """The oldest `limit` deferred requests, oldest first."""
        with self._lock:
            sql = "SELECT seq, request_id, text, local_result, created FROM deferred"
            rows = self._db.execute(sql + " ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [Deferred(*row) for row in rows]

    def remove_deferred(self, seq: int) -> None:
        with self._write("remove_deferred", "NORMAL") as db:
            self._deferred_count -= db.execute("DELETE FROM deferred WHERE seq = ?", (int(seq),)).rowcount

    def deferred_count(self) -> int:
        return self._deferred_count

    def remember(self, entries: Sequence[tuple[str, bytes]]) -> None:
        """Cache (request_id, result payload) pairs in one NORMAL transaction; the oldest beyond answered_max go.
        An id seen again gets its new result but keeps its place in the eviction order."""
        if not entries or self.answered_max <= 0:
            return
        rows = [(rid, bytes(result)) for rid, result in entries]
        # The eviction runs once every `_prune_every` rows, not in every transaction: the DELETE
        # of the oldest row dirtied two more pages (its table leaf and its index leaf), so each
        # request's commit wrote four pages to the WAL instead of two (bench/hotpath.py: 21 -> 14 us
        # a remember, warm). Between evictions the table holds up to `_prune_every` ids more than
        # answered_max, never fewer: a redelivery is answered from the cache at least as often.
        unpruned = self._unpruned + len(rows)
        if len(rows) == 1 and unpruned <= self._prune_every:
            # One request at a time, the common case: one statement, its own transaction (autocommit),
            # at the same durability; BEGIN and COMMIT as statements of their own, and the context
            # manager around them, cost as much again as the INSERT (bench/hotpath.py).
            self._write_one("remember", "NORMAL", _REMEMBER, rows[0])
            self._unpruned = unpruned
            return
        with self._write("remember", "NORMAL") as db:
            db.executemany(_REMEMBER, rows)
            if unpruned > self._prune_every:
                db.execute("DELETE FROM answered WHERE seq <= (SELECT max(seq) FROM answered) - ?",
                           (self.answered_max,))
        self._unpruned = 0 if unpruned > self._prune_every else unpruned

    def answered(self, request_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT result FROM answered WHERE request_id = ?", (request_id,)).fetchone()
        return None if row is None else row[0]

    def probe(self) -> None:
        """One tiny durable write: does the store take writes again (after a full disk)? StateError if not."""
        with self._write("probe", "FULL") as db:
            db.execute("INSERT INTO counters (name, value) VALUES ('probes', 1)"
                       " ON CONFLICT (name) DO UPDATE SET value = value + 1")

    def record_cloud_call(self, wall_ts: float) -> None:
        """Record one cloud call; entries more than a day older than this one are pruned."""
        with self._write("record_cloud_call", "NORMAL") as db:
            db.execute("INSERT INTO cloud_calls (ts) VALUES (?)", (float(wall_ts),))
            db.execute("DELETE FROM cloud_calls WHERE ts < ?", (wall_ts - DAY_S,))

    def cloud_calls_since(self, wall_ts: float) -> list[float]:
        """Timestamps of recorded calls at or after wall_ts, ascending."""
        with self._lock:
            rows = self._db.execute("SELECT ts FROM cloud_calls WHERE ts >= ? ORDER BY ts", (wall_ts,)).fetchall()
        return [r[0] for r in rows]

    @property
    def dropped(self) -> dict[str, int]:
        """Items dropped by the bounds since this process started: {"outbox": n, "deferred": n}."""
        with self._lock:
            return dict(self._dropped)

    def close(self) -> None:
        """Checkpoint and close; idempotent. SQLite folds the WAL into the file on the last close."""
        with self._lock:
            self._db.close()  # a second close is a no-op; use after close raises sqlite3.ProgrammingError

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
