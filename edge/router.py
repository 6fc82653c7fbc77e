"""The cloud policy: which requests go to the cloud, the call budget and the circuit breaker.

Pure and deterministic: no I/O, no threads of its own, clocks injected (a
monotonic `clock` for the breaker, the `wall` clock for the budget, whose
windows must survive restarts). Every method is thread-safe: the inference
worker calls `decide`, the cloud pool calls `admit` and `record_*`.

The life of an escalation, as the service drives it::

    d = router.decide(intent, confidence, allow_cloud)
    d.action == "local"  -> publish the device's answer with d.reason
    d.action == "defer"  -> publish the device's answer with reason "offline", queue the request
    d.action == "cloud"  -> in the pool: if not router.admit(): device answer, reason "budget"
                            else call; CloudError -> record_failure(e.retry_after), device answer,
                            reason "cloud_error"; success -> record_success(), cloud answer, d.reason
    periodically: if router.probe_due(): admit() (when probing with a real classify) and probe,
                  then record_success() / record_failure(); deferred items drain while cloud_up

Breaker: `breaker_failures` consecutive failures open it for
`breaker_cooldown_s` (longer when a Retry-After asks for it; a Retry-After
opens it at once, because the server has told us not to call). While open,
`decide` answers "defer" without any network cost, so a dead cloud adds no
latency. After the cool-down `probe_due` hands out exactly one probe
(half-open); its success closes the breaker, its failure opens it again. A
probe whose outcome is never reported is handed out again after a lease.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from dataclasses import dataclass
from typing import Callable, Iterable

from edge.config import CloudSettings
from edge.contract import OOS

__all__ = ["Decision", "Router", "LOCAL", "CLOUD", "DEFER", "HOUR_S", "DAY_S"]

LOCAL, CLOUD, DEFER = "local", "cloud", "defer"
HOUR_S = 3600.0
DAY_S = 86400.0
RETRY_AFTER_MAX_S = 3600.0  # the same cap as the client's: a bad header must not disable the cloud for days

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # LOCAL, CLOUD or DEFER
    reason: str  # the result's reason if the action completes as planned (contract.REASONS)


class Router:
    """Policy state for one device; see the module docstring for how the service drives it."""

    def __init__(
        self,
        settings: CloudSettings,
        escalation_threshold: float,
        *,
        cloud_configured: bool,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._threshold = float(escalation_threshold)
        # local_only with a base_url set is still "no cloud": nothing may leave the device.
        self._usable = bool(cloud_configured) and settings.mode != "local_only"
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        # Wall times of admitted calls in the last day, sorted. array("d"): 8 bytes a call, which
        # matters on a 512 MB board with a generous max_per_day.
        self._calls = array("d")
        self._state = CLOSED
        self._failures = 0
        self._open_until = 0.0
        self._probe_at = 0.0
        # How long a handed-out probe may stay unanswered before another is handed out.
        self._probe_lease = 2.0 * settings.timeout_s + 1.0

    def set_threshold(self, escalation_threshold: float) -> None:
        """A deployed model brings its own threshold (edge.service.swap_model, on the loop)."""
        self._threshold = float(escalation_threshold)

    # --- policy ---------------------------------------------------------------------------------

    def decide(self, intent: str, confidence: float, allow_cloud: bool | None) -> Decision:
        """What to do with a classified request. Consumes nothing: `admit` takes the budget."""
        confident = intent != OOS and math.isfinite(confidence) and confidence >= self._threshold
        # allow_cloud=True only permits what the policy wants; it cannot override local_only.
        if not self._usable or allow_cloud is False:
            return Decision(LOCAL, "confident" if confident else "disabled")
        if self._settings.mode == "cloud_preferred":
            reason = "cloud_preferred"
        elif confident:
            return Decision(LOCAL, "confident")
        else:
            reason = "low_confidence"
        with self._lock:
            # Budget first: a deferred item would need budget later too, so do not queue what cannot be paid for.
            if not self._has_budget(self._wall()):
                return Decision(LOCAL, "budget")
            if self._state != CLOSED:
                # Open or half-open (a probe is out): no network cost for this request.
                return Decision(DEFER if self._settings.deferred_max > 0 else LOCAL, "offline")
        return Decision(CLOUD, reason)

    # --- budget ---------------------------------------------------------------------------------

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

    def _has_budget(self, now: float) -> bool:
        hour, day = self._counts(now)
        return hour < self._settings.max_per_hour and day < self._settings.max_per_day

    def admit(self) -> bool:
        """Take one call from the budget, right before making it; False when the budget is spent."""
        with self._lock:
            now = self._wall()
            if not self._has_budget(now):
                return False
            bisect.insort(self._calls, now)
            return True

    def restore_calls(self, timestamps: Iterable[float]) -> None:
        """Replay persisted call wall-times (the budget survives restarts); stale and bad values are ignored."""
        with self._lock:
            now = self._wall()
            fresh = [float(t) for t in timestamps if isinstance(t, (int, float)) and math.isfinite(t)]
            fresh = [t for t in fresh if t > now - DAY_S]
            self._calls = array("d", sorted([*self._calls, *fresh]))

    # --- breaker --------------------------------------------------------------------------------

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._state = CLOSED

    def record_failure(self, retry_after: float | None = None) -> None:
        """One failed call or probe. Opens the breaker after `breaker_failures` in a row, when a
        half-open probe fails, or at once when the server asked us to wait (429/503 Retry-After)."""
        with self._lock:
            now = self._clock()
            self._failures += 1
            wait = 0.0
            if self._state == HALF_OPEN or self._failures >= self._settings.breaker_failures:
                wait = self._settings.breaker_cooldown_s
            if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
                wait = max(wait, min(retry_after, RETRY_AFTER_MAX_S))
            if wait > 0:
                until = now + wait
                # A late failure from a call made before the breaker opened may only extend it.
                self._open_until = max(self._open_until, until) if self._state == OPEN else until
                self._state = OPEN

    def probe_due(self) -> bool:
        """True once when the breaker is open and cooled down: the caller now owns the one probe
        (half-open) and must report it with record_success / record_failure."""
        with self._lock:
            now = self._clock()
            if self._state == OPEN and now >= self._open_until:
                self._state = HALF_OPEN
                self._probe_at = now
                return True
            if self._state == HALF_OPEN and now - self._probe_at >= self._probe_lease:
                self._probe_at = now  # the last probe never reported back; hand out another
                return True
            return False

    @property
    def cloud_up(self) -> bool:
        """True when requests may go to the cloud: configured and the breaker closed.

        Half-open counts as down: only the one probe may go out then, so nothing
        (a deferred-queue drain included) should treat the cloud as back yet."""
        with self._lock:
            return self._usable and self._state == CLOSED

    def stats(self) -> dict[str, object]:
        """Counters for the health message."""
        with self._lock:
            hour, day = self._counts(self._wall())
            return {
                "cloud": "none" if not self._usable else "up" if self._state == CLOSED else "down",
                "calls_last_hour": hour,
                "calls_today": day,
                "spend_usd_today": round(day * self._settings.cost_per_call_usd, 6),
                "breaker": self._state,
                "consecutive_failures": self._failures,
            }
