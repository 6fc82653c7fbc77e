"""The cloud call budget: one `spend()` that admits a call and persists it (issue 24, "Typed state").

Before this module the budget was checked in the router, taken in the pipeline and recorded in
the ledger by the escalations: three places that had to agree. Now the router asks `has_room()`
(policy: do not plan a call that cannot be paid for), and whoever is about to call the cloud asks
`spend()`, which takes the call from the hourly and daily windows and writes it to the ledger
(`outbox.BudgetLedger`) in one step. The windows survive restarts: `restore()` reads the last
day back from the ledger at start-up.

The ledger is best effort: a failing write still counts the call in memory (spending less is the
safe side) and marks storage degraded; the next good write marks it ok again.

Thread-safe; the wall clock is injected (the budget's windows are wall time, so that they
survive a restart).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from typing import Callable, Iterable, Protocol

from edge.config import CloudSettings
from edge.outbox import BudgetLedger

__all__ = ["Budget", "HOUR_S", "DAY_S"]

HOUR_S = 3600.0
DAY_S = 86400.0


class StorageState(Protocol):
    """Where a failing ledger write is reported (`health.Storage`)."""

    def ok(self) -> None: ...
    def failed(self, what: str, exc: BaseException) -> None: ...


class Budget:
    """The hourly and daily call limits, their counts, and the ledger that makes them durable."""

    def __init__(
        self,
        max_per_hour: int,
        max_per_day: int,
        cost_per_call_usd: float = 0.0,
        *,
        ledger: BudgetLedger | None = None,
        storage: StorageState | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._max_hour = int(max_per_hour)
        self._max_day = int(max_per_day)
        self._cost = float(cost_per_call_usd)
        self._ledger = ledger  # None: in memory only (tests, and a router built without a store)
        self._storage = storage
        self._wall = wall
        self._lock = threading.Lock()
        # Wall times of admitted calls in the last day, sorted. array("d"): 8 bytes a call, which
        # matters on a 512 MB board with a generous max_per_day.
        self._calls = array("d")

    @classmethod
    def from_settings(
        cls,
        settings: CloudSettings,
        *,
        ledger: BudgetLedger | None = None,
        storage: StorageState | None = None,
        wall: Callable[[], float] = time.time,
    ) -> Budget:
        return cls(settings.max_per_hour, settings.max_per_day, settings.cost_per_call_usd,
                   ledger=ledger, storage=storage, wall=wall)

    # --- the two questions ----------------------------------------------------------------------

    def has_room(self) -> bool:
        """Could one more call be paid for now? Consumes nothing (the router's `decide` asks this)."""
        with self._lock:
            return self._has_room(self._wall())

    def spend(self) -> bool:
        """Take one call, right before making it, and persist it; False (nothing taken) when spent.

        The ledger write happens outside the lock: a slow SD-card fsync must not hold up another
        thread's `has_room`. The call is counted in memory first, so a failing write loses
        nothing but durability."""
        with self._lock:
            now = self._wall()
            if not self._has_room(now):
                return False
            bisect.insort(self._calls, now)
        if self._ledger is not None:
            try:
                self._ledger.record_cloud_call(now)
            except Exception as exc:  # best effort: the call stays counted in memory
                if self._storage is not None:
                    self._storage.failed("cloud call ledger", exc)
            else:
                if self._storage is not None:
                    self._storage.ok()
        return True

    # --- restart --------------------------------------------------------------------------------

    def restore(self) -> None:
        """Read the last day's calls back from the ledger (start-up). A failing read raises: the
        store was just opened, so this is the start-up's StateError, not a run-time degradation."""
        if self._ledger is not None:
            self.restore_calls(self._ledger.cloud_calls_since(self._wall() - DAY_S))

    def restore_calls(self, timestamps: Iterable[float]) -> None:
        """Replay persisted call wall-times; stale and bad values are ignored."""
        with self._lock:
            now = self._wall()
            fresh = [float(t) for t in timestamps if isinstance(t, (int, float)) and math.isfinite(t)]
            fresh = [t for t in fresh if t > now - DAY_S]
            self._calls = array("d", sorted([*self._calls, *fresh]))

    # --- counts ---------------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """The budget's part of health's `budget` block."""
        with self._lock:
            hour, day = self._counts(self._wall())
        return {
            "calls_last_hour": hour,
            "calls_today": day,
            "spend_usd_today": round(day * self._cost, 6),
        }

    def _prune(self, now: float) -> None:
        cut = bisect.bisect_right(self._calls, now - DAY_S)
        if cut:
            del self._calls[:cut]

    def _counts(self, now: float) -> tuple[int, int]:
        """Calls in the last hour and the last day. Calls stamped in the future (the wall clock
        went back, as it does on a Pi without a real-time clock before NTP) count in both:
        erring on the side of spending less."""
        self._prune(now)
        hour = len(self._calls) - bisect.bisect_right(self._calls, now - HOUR_S)
        return hour, len(self._calls)

    def _has_room(self, now: float) -> bool:
        hour, day = self._counts(now)
        return hour < self._max_hour and day < self._max_day
