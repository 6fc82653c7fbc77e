"""The state store's file: schema and migrations, opening it checked, a corrupt one moved aside.

`open_store(directory)` is how edge/outbox.py gets its one connection: the directory created
0700 and checked, the file created 0600, checked before SQLite sees it (a bad header) and by
`PRAGMA quick_check`, migrated to the latest schema, in WAL mode with `locking_mode=EXCLUSIVE`.
A bad file is renamed to `edge.db.corrupt-<UTC timestamp>` (with its -wal: never left behind
for the fresh store to replay), logged at ERROR, and a fresh store starts. edge/outbox.py's
docstring gives the durability choices this serves.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from edge.store_views import StateError

log = logging.getLogger("edge.outbox")  # the store's one logger name, as before the split

DB_NAME = "edge.db"
_BUSY_TIMEOUT_MS = 1000  # rides out a stopping predecessor; a live second daemon still fails fast
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


_SCHEMA_V1 = """
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
    qos INTEGER NOT NULL, retain INTEGER NOT NULL, correlation BLOB, created REAL NOT NULL);
CREATE INDEX outbox_created ON outbox (created);
CREATE TABLE deferred (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, text TEXT NOT NULL,
    reply_to TEXT, correlation BLOB, local_result BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE answered (seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, result BLOB NOT NULL);
CREATE TABLE cloud_calls (ts REAL NOT NULL);
CREATE INDEX cloud_calls_ts ON cloud_calls (ts);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID
"""


def _v1(db: sqlite3.Connection) -> None:
    """Initial schema. outbox and deferred use AUTOINCREMENT: a seq is never reused, even after the table
    empties, so a seq held between peek() and remove() cannot come to mean another row. answered does
    not: new rows get max(seq)+1 and eviction deletes only from the bottom, so "seq <= max - answered_max"
    is exactly "older than the newest answered_max"."""
    for statement in _SCHEMA_V1.split(";"):
        db.execute(statement)


# The migration hook: MIGRATIONS[i] takes a store from schema version i to i+1, inside the
# transaction that also bumps PRAGMA user_version. Append; never edit a released step.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1]
_TABLES = {"outbox", "deferred", "answered", "cloud_calls", "counters"}


class _Corrupt(Exception):
    """Internal: the file at hand is not a sound database; move it aside and start fresh."""


def open_store(directory: Path) -> tuple[sqlite3.Connection, bool]:
    """The store's connection, at synchronous=FULL, and whether a corrupt file was moved aside
    first; StateError when the directory or file is unusable."""
    path = directory / DB_NAME
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(
            f"state directory {directory}: cannot create it: {exc.strerror or exc}"
            " (set [state] dir, or STATE_DIRECTORY, to a writable directory)"
        ) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StateError(f"state directory {directory}: not writable by uid {os.getuid()}")
    try:
        return _open(path), False
    except _Corrupt as exc:
        _move_aside(path, str(exc))
    try:
        return _open(path), True
    except _Corrupt as again:  # a fresh file that is corrupt: the disk itself is failing
        raise StateError(f"{path}: a new database is unusable too: {again}") from again


def _open(path: Path) -> sqlite3.Connection:
    """Open, check and migrate; _Corrupt for a bad file, StateError for anything else."""
    created = not path.exists()
    if created:  # create it 0600 ourselves: SQLite would use 0644, and its -wal copies the mode
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise StateError(f"{path}: cannot create: {exc.strerror or exc}") from exc
    if not os.access(path, os.R_OK | os.W_OK):  # SQLite would only say "disk I/O error"
        raise StateError(f"{path}: not readable and writable by uid {os.getuid()}")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
        # Checked before SQLite sees the file: told to use WAL on a file it cannot recognise, SQLite
        # deletes the -wal on close, and with it the last committed transactions.
        if head and head != b"SQLite format 3\x00":
            raise _Corrupt("not an SQLite database (bad header)")
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except OSError as exc:
        raise StateError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except sqlite3.Error as exc:
        raise StateError(f"{path}: cannot open: {exc}") from exc
    try:
        db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA locking_mode=EXCLUSIVE")  # before WAL: keeps the WAL index in heap memory
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise StateError(f"{path}: the file system refused WAL mode (got {mode!r})")
        db.execute("PRAGMA journal_size_limit=4194304")  # the WAL file shrinks back after a burst
        db.execute("PRAGMA cell_size_check=ON")  # cheap extra detection of corrupt pages at run time
        db.execute("PRAGMA secure_delete=OFF")
        # 256 KiB of page cache instead of SQLite's 2 MiB: the file of answered_max 5000 results is
        # ~1.1 MiB, rows written once and read only on a repeat, and a page not cached is read from
        # the OS's cache. SQLite's own memory after 8000 requests: 719 kB at 512 KiB, 457 kB at 256,
        # CPU per request the same (11 us); the daemon's peak -0.1 MB (docs/performance.md, mem6).
        db.execute("PRAGMA cache_size=-256")
        problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise _Corrupt("quick_check: " + "; ".join(problems))
        _migrate(db, path)
    except BaseException as exc:
        db.close()
        if not isinstance(exc, sqlite3.Error):
            raise
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in _CORRUPT_CODES:
            raise _Corrupt(f"{exc} ({getattr(exc, 'sqlite_errorname', '?')})") from exc
        if code == sqlite3.SQLITE_BUSY:
            raise StateError(f"{path}: in use by another process (is another edge daemon running?)") from exc
        raise StateError(f"{path}: cannot open: {exc}") from exc
    if created:
        fsync_dir(path.parent)  # the new directory entry itself must survive a power cut
    return db


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Run the migration steps the file lacks, each in its own transaction; check the tables."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    latest = len(MIGRATIONS)
    if version > latest:
        raise StateError(
            f"{path}: schema version {version} was written by a newer edge (this one knows {latest});"
            " move the file aside to start with an empty store"
        )
    db.execute("PRAGMA synchronous=FULL")
    while version < latest:
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](db)
            version += 1
            db.execute(f"PRAGMA user_version={version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("state store %s: schema migrated to version %d", path, version)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not _TABLES <= tables:
        raise _Corrupt(f"schema version {version} but tables missing: {', '.join(sorted(_TABLES - tables))}")


def _move_aside(path: Path, reason: str) -> None:
    """Rename the file set (db, -wal, -shm) to edge.db.corrupt-<UTC>[.n]*, kept for inspection."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{DB_NAME}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{DB_NAME}.corrupt-{stamp}.{n}")
        n += 1
    try:
        for suffix in ("", "-wal", "-shm", "-journal"):
            src = Path(f"{path}{suffix}")
            if src.exists():
                os.replace(src, f"{target}{suffix}")
        fsync_dir(path.parent)
    except OSError as exc:
        raise StateError(f"{path} is corrupt ({reason}) and cannot be moved aside: {exc}") from exc
    log.error("state store %s is corrupt (%s); moved aside to %s, starting empty", path, reason, target)


def fsync_dir(directory: Path) -> None:
    """Make a created or renamed directory entry durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # some file systems refuse to open or fsync a directory; nothing more can be done there

