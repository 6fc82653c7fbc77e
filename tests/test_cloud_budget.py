"""edge.budget.Budget: one spend() that admits a cloud call and persists it, against the real store.

A fake wall clock drives the windows; the ledger is a real `Outbox` in a tmp dir, so what a
restart reads back is what the store actually kept."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from edge.budget import DAY_S, HOUR_S, Budget
from edge.config import CloudSettings
from edge.health import Storage
from edge.outbox import Outbox
from edge.router import CLOUD, LOCAL, Decision, Router

T0 = 1_780_000_000.0


class Wall:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def budget(box: Outbox, wall: Wall, storage: Storage | None = None, *, hour: int = 3, day: int = 10,
           cost: float = 0.0) -> Budget:
    return Budget(hour, day, cost, ledger=box, storage=storage, wall=wall)


def test_spend_admits_and_persists_each_call_at_its_wall_time(tmp_path: Path) -> None:
    wall, storage = Wall(), Storage()
    with Outbox(tmp_path) as box:
        b = budget(box, wall, storage, hour=3)
        for i in range(3):
            assert b.spend()
            wall.t += 60
        assert not b.spend()  # refused: nothing taken, nothing written
        assert box.cloud_calls_since(0) == [T0, T0 + 60, T0 + 120]
        assert b.stats()["calls_last_hour"] == 3 and storage.state == "ok"


def test_has_room_consumes_nothing(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        b = budget(box, Wall(), hour=1)
        assert all(b.has_room() for _ in range(20))
        assert box.cloud_calls_since(0) == []
        assert b.spend() and not b.has_room() and not b.spend()


def test_the_windows_survive_a_restart(tmp_path: Path) -> None:
    wall = Wall()
    with Outbox(tmp_path) as box:
        first = budget(box, wall, hour=3, day=4)
        assert first.spend() and first.spend()
        box.record_cloud_call(T0 - 2 * DAY_S)  # a stale row the restart must not count
    wall.t += 10
    with Outbox(tmp_path) as box:
        second = budget(box, wall, hour=3, day=4)
        assert second.stats()["calls_today"] == 0  # nothing until restored
        second.restore()
        assert (second.stats()["calls_last_hour"], second.stats()["calls_today"]) == (2, 2)
        assert second.spend()
        assert not second.spend()  # the hourly limit counts the calls made before the restart
        wall.t += HOUR_S  # those leave the hour; the day has room for one more
        assert second.spend() and not second.spend()
        assert second.stats()["calls_today"] == 4
        wall.t += DAY_S
        assert second.stats()["calls_today"] == 0 and second.spend()


def test_a_failing_ledger_still_counts_the_call_and_marks_storage_degraded(tmp_path: Path) -> None:
    wall, storage = Wall(), Storage()
    box = Outbox(tmp_path)
    b = budget(box, wall, storage, hour=2)
    assert b.spend() and storage.state == "ok"
    box.close()  # every write now raises StateError, as a failing card's would
    assert b.spend()  # best effort: the call goes out, and it is counted
    assert storage.state == "degraded" and storage.failures == 1
    assert not b.spend()  # the limit holds on the in-memory count; a refused spend writes nothing
    assert storage.failures == 1
    assert b.stats()["calls_last_hour"] == 2
    with Outbox(tmp_path) as box:  # only the first call reached the disk
        assert box.cloud_calls_since(0) == [T0]


def test_a_good_write_after_a_failure_marks_storage_ok_again(tmp_path: Path) -> None:
    storage = Storage()
    storage.failed("cloud call ledger", OSError("disk full"))
    with Outbox(tmp_path) as box:
        assert budget(box, Wall(), storage).spend()
    assert storage.state == "ok"


def test_zero_limits_mean_no_calls_and_no_writes(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        for hour, day in ((0, 10), (10, 0), (-1, -1)):
            b = budget(box, Wall(), hour=hour, day=day)
            assert not b.has_room() and not b.spend()
        assert box.cloud_calls_since(0) == []


def test_stamps_from_the_future_count_until_they_pass(tmp_path: Path) -> None:
    """A Pi without a real-time clock boots with its wall clock behind the ledger's stamps."""
    wall = Wall(T0 + 3 * HOUR_S)
    with Outbox(tmp_path) as box:
        assert budget(box, wall, hour=2).spend() and budget(box, wall, hour=2).spend()
    wall.t = T0  # the clock went back three hours
    with Outbox(tmp_path) as box:
        b = budget(box, wall, hour=2)
        b.restore()
        assert b.stats()["calls_last_hour"] == 2 and not b.spend()  # erring on the side of spending less


def test_spend_is_exact_under_concurrency_and_the_ledger_agrees(tmp_path: Path) -> None:
    with Outbox(tmp_path) as box:
        b = budget(box, Wall(), hour=25, day=1000)
        results: list[bool] = []
        lock = threading.Lock()

        def worker() -> None:
            mine = [b.spend() for _ in range(10)]
            with lock:
                results.extend(mine)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(results) == 25 and len(results) == 60
        assert len(box.cloud_calls_since(0)) == 25


def test_the_router_decides_on_the_budget_it_is_given(tmp_path: Path) -> None:
    settings = replace(CloudSettings(base_url="http://127.0.0.1:9/v1", model="m"), max_per_hour=1,
                       cost_per_call_usd=0.5)
    wall = Wall()
    with Outbox(tmp_path) as box:
        b = Budget.from_settings(settings, ledger=box, wall=wall)
        router = Router(settings, 0.5, cloud_configured=True, budget=b)
        assert router.budget is b
        assert router.decide("oos", 0.9, None) == Decision(CLOUD, "low_confidence")
        assert b.spend()
        assert router.decide("oos", 0.9, None) == Decision(LOCAL, "budget")
        assert router.stats() == {"cloud": "up", "calls_last_hour": 1, "calls_today": 1, "spend_usd_today": 0.5,
                                  "breaker": "closed", "consecutive_failures": 0}
        assert box.cloud_calls_since(0) == [T0]
