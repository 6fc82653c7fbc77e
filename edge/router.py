"""The cloud policy: which requests go to the cloud, and the circuit breaker.

Pure and deterministic: no I/O, no threads of its own, a monotonic `clock`
injected for the breaker. The call budget is `edge.budget.Budget` (`router.budget`):
`decide` asks it whether a call could be paid for; whoever is about to call the
cloud takes the call with `budget.spend()`, which also persists it. Every method
is thread-safe.

The life of an escalation, as the service drives it::

    d = router.decide(intent, confidence, allow_cloud)
    d.action == "local"  -> publish the device's answer with d.reason
    d.action == "defer"  -> publish the device's answer with reason "offline", queue the request
    d.action == "cloud"  -> if not router.budget.spend(): device answer, reason "budget"
                            else call; CloudError -> record_failure(e.retry_after), device answer,
                            reason "cloud_error"; success -> record_success(), cloud answer, d.reason
    periodically: if router.probe_due(): budget.spend() (when probing with a real classify) and
                  probe, then record_success() / record_failure(); deferred items drain while cloud_up

Breaker: `breaker_failures` consecutive failures open it for
`breaker_cooldown_s` (longer when a Retry-After asks for it; a Retry-After
opens it at once, because the server has told us not to call). While open,
`decide` answers "defer" without any network cost, so a dead cloud adds no
latency. After the cool-down `probe_due` hands out exactly one probe
(half-open); its success closes the breaker, its failure opens it again. A
probe whose outcome is never reported is handed out again after a lease.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from edge.budget import DAY_S, HOUR_S, Budget
from edge.config import CloudSettings
from edge.contract import OOS

__all__ = ["Decision", "Router", "LOCAL", "CLOUD", "DEFER", "HOUR_S", "DAY_S"]

LOCAL, CLOUD, DEFER = "local", "cloud", "defer"
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
        budget: Budget | None = None,
    ) -> None:
        self._settings = settings
        self._threshold = float(escalation_threshold)
        # local_only with a base_url set is still "no cloud": nothing may leave the device.
        self._usable = bool(cloud_configured) and settings.mode != "local_only"
        self._clock = clock
        # The service passes the budget with its ledger; without one it is in memory only (tests).
        self.budget = budget if budget is not None else Budget.from_settings(settings, wall=wall)
        self._lock = threading.Lock()
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

    def decide(self, intent: str, confidence: float, allow_cloud: bool | None, *, sure: bool = False) -> Decision:
        """What to do with a classified request. Consumes nothing: `budget.spend()` takes the call.
        `sure`: stood behind whatever the confidence (a home intent one of HA's templates decided)."""
        confident = sure or (intent != OOS and math.isfinite(confidence) and confidence >= self._threshold)
        # allow_cloud=True only permits what the policy wants; it cannot override local_only.
        if not self._usable or allow_cloud is False:
            return Decision(LOCAL, "confident" if confident else "disabled")
        if self._settings.mode == "cloud_preferred":
            reason = "cloud_preferred"
        elif confident:
            return Decision(LOCAL, "confident")
        else:
            reason = "low_confidence"
        # Budget first: a deferred item would need budget later too, so do not queue what cannot be paid for.
        if not self.budget.has_room():
            return Decision(LOCAL, "budget")
        with self._lock:
            if self._state != CLOSED:
                # Open or half-open (a probe is out): no network cost for this request.
                return Decision(DEFER if self._settings.deferred_max > 0 else LOCAL, "offline")
        return Decision(CLOUD, reason)

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
        spent = self.budget.stats()
        with self._lock:
            return {
                "cloud": "none" if not self._usable else "up" if self._state == CLOSED else "down",
                "calls_last_hour": spent["calls_last_hour"],
                "calls_today": spent["calls_today"],
                "spend_usd_today": spent["spend_usd_today"],
                "breaker": self._state,
                "consecutive_failures": self._failures,
            }
