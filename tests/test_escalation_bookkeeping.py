"""Escalation bookkeeping when the pool refuses work (issue 21, item 8; issue 24's escalation defects).

A stop shuts the cloud pool down while requests and the housekeeper may still
submit: each escalated request must still get exactly one result, and the
busy counters that the drain waits on must come back to zero, or the drain
spins to its deadline and deferred replays never run again.
"""

from __future__ import annotations

import json
from concurrent.futures import Executor, Future
from typing import Any, Callable

from fakes import BASE, FakeCloud, Rig, msg

RESULT = f"{BASE}/result"


class ShutPool(Executor):
    """A pool after shutdown(): every submit raises, as ThreadPoolExecutor's does."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kw: Any) -> Future:  # type: ignore[override]
        raise RuntimeError("cannot schedule new futures after shutdown")


def results_for(rig: Rig, rid: str) -> list[dict]:
    return [p for p in map(json.loads, rig.link.on(RESULT)) if p.get("id") == rid]


def test_a_refused_submit_answers_locally_once_and_a_later_expire_publishes_nothing_more():
    rig = Rig(cloud=FakeCloud())
    rig.escalations.calls.pool = ShutPool()
    work = rig.send(msg(b'{"id": "s1", "text": "hmm weather"}'))
    assert [r["reason"] for r in results_for(rig, "s1")] == ["cloud_error"]
    assert rig.acked(work[0])
    assert rig.escalations.busy == 0
    rig.clock_t[0] += 60  # far past cloud.timeout_s
    rig.escalations.expire()
    assert len(results_for(rig, "s1")) == 1, "the deadline sweep must not answer a request twice"


def test_retry_deferred_on_a_shut_pool_leaves_no_busy_counter_behind():
    rig = Rig(cloud=FakeCloud())
    rig.store.defer("d1", "hmm weather", b'{"id": "d1", "intent": "oos", "confidence": 0.1}')
    rig.escalations.calls.pool = ShutPool()
    rig.escalations.retry_deferred()  # must not raise
    assert rig.escalations.busy == 0
    assert rig.escalations.calls.deferred_busy == 0
    assert rig.store.deferred_count() == 1, "the item stays queued for the next attempt"
    # and once the pool works again, deferred replays run
    rig.escalations.calls.pool = rig.pool
    rig.escalations.retry_deferred()
    rig.pool.run_all()
    assert rig.store.deferred_count() == 0
    assert [p["source"] for p in results_for(rig, "d1")] == ["cloud"]


def test_a_probe_on_a_shut_pool_leaves_no_busy_counter_behind():
    rig = Rig(cloud=FakeCloud())
    for _ in range(5):
        rig.router.record_failure()
    rig.router._open_until = 0.0  # cooled down: a probe is due
    rig.escalations.calls.pool = ShutPool()
    rig.escalations.retry_deferred()
    assert rig.escalations.busy == 0 and rig.escalations.calls.deferred_busy == 0


def test_after_close_a_late_cloud_answer_publishes_and_writes_nothing():
    """The stop answers owed escalations locally, closes; a call that returns later is ignored."""
    rig = Rig(cloud=FakeCloud())
    work = rig.send(msg(b'{"id": "late", "text": "hmm weather"}'))
    rig.escalations.close()  # the drain: every owed escalation answered by the device now
    assert [r["reason"] for r in results_for(rig, "late")] == ["cloud_error"]
    assert rig.acked(work[0])
    writes = rig.store.writes
    rig.pool.run_all()  # the cloud call finishes after the stop
    assert len(results_for(rig, "late")) == 1
    assert rig.store.writes == writes, "nothing may write to the store after close"
    assert rig.escalations.busy == 0
