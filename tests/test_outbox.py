"""The on-disk store (edge/outbox.py) on real files, with real processes killed by SIGKILL."""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edge import store_file
from edge.outbox import DB_NAME, Outbox, StateError

REPO = Path(__file__).resolve().parent.parent


class Clock:
    """A settable wall clock, for the age bounds."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def item(i: int, qos: int = 1) -> tuple[str, bytes, int, bool, bytes | None]:
    return (f"edge/dev/result/{i}", f"payload {i}".encode(), qos, i % 2 == 0, None if i % 3 else f"c{i}".encode())


def child(state: Path, body: str, **popen: object) -> subprocess.Popen[str]:
    """A separate Python process that opens the store at `state` and runs `body` (with `box`, `item`)."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from edge.outbox import Outbox\n"
        + inspect.getsource(item)
        + f"box = Outbox(Path({str(state)!r}))\n" + body
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", code]
    return subprocess.Popen(argv, cwd=REPO, env=env, text=True, **popen)  # type: ignore[call-overload]


def test_put_peek_remove_keeps_order(tmp_path: Path) -> None:
    with Outbox(tmp_path / "state") as box:
        assert len(box) == 0 and box.peek() == []
        box.put([item(0), item(1)])
        box.put([item(2)])
        box.put([])
        assert len(box) == 3
        first = box.peek(2)
        assert [p.topic for p in first] == ["edge/dev/result/0", "edge/dev/result/1"]
        p0 = first[0]
        assert (p0.payload, p0.qos, p0.retain, p0.correlation) == (b"payload 0", 1, True, b"c0")
        assert first[1].correlation is None and first[1].retain is False
        box.remove([first[0].seq, first[1].seq, 999])  # an unknown seq is ignored
        assert len(box) == 1
        assert [p.topic for p in box.peek()] == ["edge/dev/result/2"]
        box.remove([box.peek()[0].seq])
        assert len(box) == 0
        box.put([item(3)])
        assert box.peek()[0].seq > p0.seq + 2  # sequence numbers are never reused


def test_count_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    with Outbox(tmp_path, max_items=5) as box:
        box.put([item(i) for i in range(3)])
        box.put([item(i) for i in range(3, 7)])
        assert len(box) == 5
        assert [p.topic[-1] for p in box.peek()] == ["2", "3", "4", "5", "6"]
        assert box.dropped == {"outbox": 2, "deferred": 0}
        box.put([item(i) for i in range(7, 15)])  # one put larger than the bound keeps its newest
        assert [p.topic.rsplit("/", 1)[1] for p in box.peek()] == ["10", "11", "12", "13", "14"]
        assert box.dropped["outbox"] == 10


def test_age_bound_drops_expired_on_put_and_on_peek(tmp_path: Path) -> None:
    clock = Clock()
    with Outbox(tmp_path, max_age_s=100, clock=clock) as box:
        box.put([item(0)])
        clock.now += 50
        box.put([item(1)])
        clock.now += 60  # item 0 is 110 s old, item 1 is 60 s old
        box.put([item(2)])
        assert [p.topic[-1] for p in box.peek()] == ["1", "2"]
        assert box.dropped["outbox"] == 1
        clock.now += 45  # item 1 expires with no put in between: the replay must not send it
        assert [p.topic[-1] for p in box.peek()] == ["2"]
        assert len(box) == 1 and box.dropped["outbox"] == 2
        clock.now -= 10_000  # a clock stepped backwards makes items look younger: kept
        box.put([item(3)])
        assert len(box) == 2


def test_deferred_queue_bounded(tmp_path: Path) -> None:
    with Outbox(tmp_path, deferred_max=3) as box:
        for i in range(5):
            box.defer(f"r{i}", f"text {i}", b"local %d" % i)
        assert box.deferred_count() == 3 and box.dropped == {"outbox": 0, "deferred": 2}
        queued = box.deferred()
        assert [d.request_id for d in queued] == ["r2", "r3", "r4"]
        d = queued[0]
        assert (d.text, d.local_result) == ("text 2", b"local 2")
        assert [x.request_id for x in box.deferred(limit=1)] == ["r2"]
        box.remove_deferred(d.seq)
        box.remove_deferred(d.seq)  # twice: no harm, no miscount
        assert box.deferred_count() == 2
    with Outbox(tmp_path / "none", deferred_max=0) as box:
        box.defer("r", "t", b"x")
        assert box.deferred_count() == 0 and box.dropped["deferred"] == 1


def test_answered_cache_evicts_oldest(tmp_path: Path) -> None:
    with Outbox(tmp_path, answered_max=3) as box:
        box.remember([("a", b"A"), ("b", b"B")])
        box.remember([("c", b"C")])
        assert box.answered("a") == b"A" and box.answered("nope") is None
        box.remember([("d", b"D"), ("e", b"E")])
        assert [box.answered(k) for k in "abcde"] == [None, None, b"C", b"D", b"E"]
        box.remember([("c", b"C2")])  # an id answered again: new result, no extra entry
        assert box.answered("c") == b"C2" and box.answered("d") == b"D"
        box.remember([(f"x{i}", b"X") for i in range(10)])  # a batch bigger than the cache
        assert [box.answered(f"x{i}") for i in (6, 7, 8, 9)] == [None, b"X", b"X", b"X"]
    with Outbox(tmp_path / "off", answered_max=0) as box:
        box.remember([("a", b"A")])
        assert box.answered("a") is None


def test_answered_cache_evicts_in_steps_never_below_its_bound(tmp_path: Path) -> None:
    """A big cache evicts every answered_max // 8 ids (at most 64), not in every transaction: it
    holds the newest answered_max ids at every moment, and never more than 1/8 beyond them."""
    import sqlite3

    with Outbox(tmp_path, answered_max=200) as box:
        for i in range(700):
            box.remember([(f"r{i}", b"R")])
            assert all(box.answered(f"r{k}") == b"R" for k in range(max(0, i - 199), i + 1, 37)), i
            assert box.answered(f"r{i - 200 - 25 - 1}") is None if i > 226 else True
    with sqlite3.connect(tmp_path / "edge.db") as db:
        n = db.execute("SELECT count(*) FROM answered").fetchone()[0]
    assert 200 <= n <= 225, n


def test_budget_ledger_prunes_a_day_back(tmp_path: Path) -> None:
    now = 2_000_000.0
    with Outbox(tmp_path) as box:
        box.record_cloud_call(now - 100_000)
        assert box.cloud_calls_since(0) == [now - 100_000]
        for ts in (now - 7200, now - 1800, now - 10):  # each prunes what is more than a day older than itself
            box.record_cloud_call(ts)
        assert box.cloud_calls_since(now - 3600) == [now - 1800, now - 10]
        assert box.cloud_calls_since(0) == [now - 7200, now - 1800, now - 10]
        box.record_cloud_call(now - 5)
        box.record_cloud_call(now - 5)  # two calls in the same instant are two calls
        assert box.cloud_calls_since(now - 60) == [now - 10, now - 5, now - 5]


def test_everything_persists_across_close_and_reopen(tmp_path: Path) -> None:
    with Outbox(tmp_path, max_items=2, deferred_max=1) as box:
        box.put([item(i) for i in range(3)])
        box.defer("r1", "one", b"1")
        box.defer("r2", "two", b"2")
        box.remember([("r0", b"zero")])
        box.record_cloud_call(123.0)
        before = box.peek()
    with Outbox(tmp_path, max_items=2, deferred_max=1) as box:
        assert box.peek() == before and len(box) == 2
        assert [d.request_id for d in box.deferred()] == ["r2"] and box.deferred_count() == 1
        assert box.answered("r0") == b"zero"
        assert box.cloud_calls_since(0) == [123.0]
        assert box.dropped == {"outbox": 0, "deferred": 0}  # since this process (object) started
        assert not box.recovered_from_corruption
    assert os.stat(tmp_path / DB_NAME).st_mode & 0o077 == 0  # results may be private: owner only


def test_new_state_dir_is_private(tmp_path: Path) -> None:
    Outbox(tmp_path / "a" / "b").close()
    assert os.stat(tmp_path / "a" / "b").st_mode & 0o777 == 0o700


def test_sigkill_right_after_put_loses_nothing(tmp_path: Path) -> None:
    body = (
        "box.defer('d1', 'text', b'local')\n"
        "box.remember([('r%d' % i, b'res %d' % i) for i in range(32)])\n"
        "box.record_cloud_call(42.0)\n"
        "for start in range(0, 300, 30):\n"
        "    box.put([item(i) for i in range(start, start + 30)])\n"
        "os.kill(os.getpid(), 9)  # right after the last put returns\n"
    )
    proc = child(tmp_path, body)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert (tmp_path / f"{DB_NAME}-wal").exists()  # killed: nothing was checkpointed
    with Outbox(tmp_path) as box:
        assert len(box) == 300 and not box.recovered_from_corruption
        assert box.peek(1000) and [p.payload for p in box.peek(1000)] == [item(i)[1] for i in range(300)]
        assert [(d.request_id, d.local_result) for d in box.deferred()] == [("d1", b"local")]
        assert all(box.answered(f"r{i}") == b"res %d" % i for i in range(32))
        assert box.cloud_calls_since(0) == [42.0]


def test_sigkill_at_a_random_moment_keeps_every_acknowledged_put(tmp_path: Path) -> None:
    """The child says "ack i" only after put() returns, as the daemon acks the broker; killed mid-stream."""
    body = "for i in range(100000):\n    box.put([item(i)])\n    print(i, flush=True)\n"
    proc = child(tmp_path, body, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 80:
            proc.send_signal(signal.SIGKILL)
            break
    acked = max([acked, *(int(x) for x in proc.stdout.read().split())])
    assert proc.wait(timeout=30) == -signal.SIGKILL
    with Outbox(tmp_path) as box:
        topics = [p.topic for p in box.peek(100000)]
    assert len(topics) in (acked + 1, acked + 2)  # all acked ones; at most one committed but not yet acked
    assert topics == [item(i)[0] for i in range(len(topics))]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to see fsync calls")
def test_put_fsyncs_before_returning_the_hot_path_and_defer_do_not(tmp_path: Path) -> None:
    """The durability choice itself, observed: which calls reach the disk before they return."""
    calls = "remember([('r',b'x')]) put([item(0)]) remove([1]) defer('d','t',b'l') record_cloud_call(1.0)"
    body = "box.remember([('warm-up', b'')])\n"  # the first write to a new WAL syncs its header at any level
    body += "".join(f"os.write(2, b'<{c.split('(')[0]}>')\nbox.{c}\nos.write(2, b'</>')\n" for c in calls.split())
    proc = child(tmp_path / "state", "", stderr=subprocess.PIPE)  # creates the store: not traced
    assert proc.communicate(timeout=60)[1] == ""
    trace = tmp_path / "trace"
    run = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,write", "-o", str(trace), *proc.args[:2],
         proc.args[2] + body],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
    )
    if "ptrace" in run.stderr.lower():
        pytest.skip(f"strace cannot trace here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    synced: dict[str, bool] = {}
    current = None
    for line in trace.read_text().splitlines():
        if 'write(2, "</>"' in line:
            current = None
        elif 'write(2, "<' in line:
            current = line.split('"<', 1)[1].split(">", 1)[0]
            synced[current] = False
        elif current and ("fsync(" in line or "fdatasync(" in line):
            synced[current] = True
    # defer is NORMAL since issue 24: the device's answer is already out; an fsync there stalled the socket thread
    assert synced == {"remember": False, "put": True, "remove": False, "defer": False, "record_cloud_call": False}


def _filled(path: Path, n: int = 400) -> None:
    with Outbox(path) as box:
        box.put([(f"t/{i}", os.urandom(200), 1, False, None) for i in range(n)])


def _assert_moved_aside(path: Path, caplog: pytest.LogCaptureFixture) -> Outbox:
    with caplog.at_level(logging.ERROR, logger="edge.outbox"):
        box = Outbox(path)
    assert box.recovered_from_corruption
    aside = sorted(p.name for p in path.iterdir() if p.name.startswith(f"{DB_NAME}.corrupt-"))
    assert aside and not aside[0].endswith(("-wal", "-shm")), aside
    assert any("corrupt" in r.getMessage() and aside[0] in r.getMessage() for r in caplog.records)
    box.put([item(1)])  # the fresh store works
    assert len(box) == 1 and box.answered("x") is None
    return box


def test_garbage_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / DB_NAME).write_bytes(os.urandom(10_000))
    _assert_moved_aside(tmp_path, caplog).close()


def test_garbage_file_is_moved_aside_with_its_wal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _filled(tmp_path)
    assert child(tmp_path, "box.put([item(1)])\nos.kill(os.getpid(), 9)\n").wait(60) == -9
    with (tmp_path / DB_NAME).open("r+b") as fh:
        fh.write(os.urandom(4096))  # page 1, which the small last transaction did not touch, is garbage
    # The WAL must go with its file: left behind, the fresh store would replay it (and hold 6 items).
    _assert_moved_aside(tmp_path, caplog).close()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(f"{DB_NAME}.corrupt-")]) == 2


def test_truncated_database_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _filled(tmp_path)
    db = tmp_path / DB_NAME
    os.truncate(db, db.stat().st_size // 2)
    _assert_moved_aside(tmp_path, caplog).close()


def test_torn_page_in_database_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _filled(tmp_path)
    assert child(tmp_path, "box.put([item(i) for i in range(5)])\nos.kill(os.getpid(), 9)\n").wait(60) == -9
    assert (tmp_path / f"{DB_NAME}-wal").stat().st_size > 0  # a crash left committed work in the WAL
    with (tmp_path / DB_NAME).open("r+b") as fh:  # the first sectors of a table page never made it: torn
        fh.seek(10 * 4096)
        fh.write(os.urandom(1024))
    _assert_moved_aside(tmp_path, caplog).close()  # and the crash's WAL did not leak into the fresh store


def test_torn_wal_tail_keeps_every_committed_transaction(tmp_path: Path) -> None:
    """Not corruption: SQLite checksums WAL frames and drops only the torn last transaction."""
    body = "box.put([item(i) for i in range(50)])\nbox.put([item(50)])\nos.kill(os.getpid(), 9)\n"
    assert child(tmp_path, body).wait(timeout=60) == -signal.SIGKILL
    wal = tmp_path / f"{DB_NAME}-wal"
    os.truncate(wal, wal.stat().st_size - 1000)  # tear the last frame (the second put's commit)
    with Outbox(tmp_path) as box:
        assert not box.recovered_from_corruption
        assert [p.topic for p in box.peek(100)] == [item(i)[0] for i in range(50)]
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_garbage_after_the_wal_is_ignored(tmp_path: Path) -> None:
    assert child(tmp_path, "box.put([item(i) for i in range(20)])\nos.kill(os.getpid(), 9)\n").wait(60) == -9
    with (tmp_path / f"{DB_NAME}-wal").open("ab") as fh:
        fh.write(os.urandom(5000))
    with Outbox(tmp_path) as box:
        assert len(box) == 20 and not box.recovered_from_corruption


def test_state_dir_under_a_regular_file_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StateError, match=r"state directory .*file/state: cannot create it: Not a directory"):
        Outbox(tmp_path / "file" / "state")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_state_dir_is_a_state_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StateError, match="not writable"):
            Outbox(tmp_path)
    finally:
        tmp_path.chmod(0o700)


def test_second_daemon_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    body = "box.put([item(0)])\nprint('ready', flush=True)\nsys.stdin.read()\n"
    holder = child(tmp_path, body, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
    with pytest.raises(StateError, match="in use by another process"):
        Outbox(tmp_path)
    assert (tmp_path / f"{DB_NAME}-wal").exists()  # the refused opener left the holder's files alone
    holder.kill()
    holder.communicate(timeout=30)
    with Outbox(tmp_path) as box:  # free once the holder is gone, and nothing it wrote was lost
        assert [p.topic for p in box.peek()] == [item(0)[0]]


def test_schema_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    Outbox(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StateError, match="schema version 99 was written by a newer edge"):
        Outbox(tmp_path)


def test_migration_hook_upgrades_an_existing_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Outbox(tmp_path) as box:
        box.put([item(0)])

    def v2(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(store_file, "MIGRATIONS", [*store_file.MIGRATIONS, v2])
    with Outbox(tmp_path) as box:
        assert [p.topic for p in box.peek()] == [item(0)[0]]
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("SELECT priority FROM outbox").fetchall() == [(0,)]
    db.close()


def test_a_failed_write_is_rolled_back_and_the_store_recovers(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        box.put([item(0)])
        # A real SQLITE_FULL: cap the file at its current size (what a full SD card looks like to SQLite).
        pages = box._db.execute("PRAGMA page_count").fetchone()[0]
        box._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StateError, match="put failed: database or disk is full"):
            box.put([(f"t/{i}", os.urandom(4000), 1, False, None) for i in range(50)])
        assert len(box) == 1 and [p.topic for p in box.peek()] == [item(0)[0]]
        box._db.execute("PRAGMA max_page_count = 1073741823")
        box.put([item(1)])
        assert len(box) == 2


def test_three_threads_at_once_lose_nothing(tmp_path: Path) -> None:
    """A producer (the worker), a replayer (paho on reconnect) and a cloud thread, all at once."""
    box = Outbox(tmp_path)
    replayed: list[str] = []
    done = threading.Event()

    def produce() -> None:
        for i in range(0, 600, 3):
            box.put([item(i), item(i + 1), item(i + 2)])
            box.remember([(f"r{i}", b"x")])
        done.set()

    def replay() -> None:
        while not (done.is_set() and len(box) == 0):
            batch = box.peek(25)
            if not batch:
                time.sleep(0.001)  # nothing yet: wait, do not spin
            replayed.extend(p.topic for p in batch)
            box.remove(p.seq for p in batch)

    def cloud() -> None:
        for i in range(300):
            box.defer(f"d{i}", "t", b"l")
            box.record_cloud_call(float(i))
            assert box.answered("r0") in (None, b"x")
            for d in box.deferred(5):
                box.remove_deferred(d.seq)

    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(f) for f in (produce, replay, cloud)]:
            future.result(timeout=120)  # re-raises whatever a thread raised
    assert replayed == [item(i)[0] for i in range(600)]  # each exactly once, in order
    assert len(box) == 0 and box.deferred_count() == len(box.deferred(1000)) == 0
    assert len(box.cloud_calls_since(0)) == 300 and box.answered("r597") == b"x"
    box.close()


def test_a_failed_single_answered_write_is_a_state_error_and_leaves_the_store_working(tmp_path: Path) -> None:
    """remember of one result runs as one statement in autocommit (`_write_one`): a failure is
    StateError as any write's, nothing of it stays, no transaction is left open, and the next
    writes (one row, then a batch) go through; after close it is StateError too."""
    with Outbox(tmp_path) as box:
        box.put([item(0)])
        box.remember([("before", b"B")])
        box._db.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON answered BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        with pytest.raises(StateError, match="remember failed: disk full"):
            box.remember([("lost", b"L")])
        assert not box._db.in_transaction
        assert box.answered("lost") is None and box.answered("before") == b"B" and len(box) == 1
        box._db.execute("DROP TRIGGER refuse")
        box.remember([("after", b"A")])
        box.remember([("b1", b"1"), ("b2", b"2")])
        assert [box.answered(k) for k in ("after", "b1", "b2")] == [b"A", b"1", b"2"]
    with pytest.raises(StateError):
        box.remember([("closed", b"C")])
