"""Probation of a newly deployed model: the verdict from the requests it serves.

Pure policy, no I/O and no clock of its own (the caller passes ``now``): edge/deploy.py feeds
it and acts on its verdicts. A package on probation is confirmed after ``requests`` requests
or ``seconds`` seconds, whichever comes first, unless before that it made ``max_errors``
errors, or (from ``min_samples`` requests on) more than ``error_share`` of its requests
failed, or its median cost per request exceeds ``latency_factor`` times the median of the model it
replaced (measured on that model's last requests, the baseline). The cost is the loop thread's CPU
time per request (edge/pipeline.py), not wall time: a busy machine must not roll a good model back. `[deploy] probation_*`
sets them (``policy_of``). Without a baseline (no request served before the swap) latency is not judged;
errors still are.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProbationPolicy:
    requests: int = 200          # confirmed after this many requests ...
    seconds: float = 600.0       # ... or this many seconds, whichever comes first
    max_errors: int = 3          # rolled back at this many errors
    latency_factor: float = 3.0  # rolled back when p50 > factor x the old model's p50
    error_share: float = 1.0     # rolled back when errors / requests > this (from min_samples on); 1.0: off
    min_samples: int = 20        # latency is judged from this many requests on
    max_restarts: int = 3        # rolled back when the daemon starts this often with it on probation
    baseline_window: int = 200   # the old model's last requests that make its p50

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0 or self.max_errors < 1 or self.latency_factor <= 1.0 \
                or not 0.0 <= self.error_share <= 1.0 \
                or self.min_samples < 1 or self.max_restarts < 1 or self.baseline_window < 1:
            raise ValueError(f"unusable probation policy: {self}")


def policy_of(deploy: Any) -> ProbationPolicy:
    """The policy `[deploy] probation_*` asks for (edge.config_schema.DeploySettings; validated there)."""
    return ProbationPolicy(requests=deploy.probation_requests, seconds=deploy.probation_seconds,
                           max_errors=deploy.probation_max_errors, error_share=deploy.probation_error_share,
                           latency_factor=deploy.probation_latency_factor,
                           min_samples=deploy.probation_min_samples)


@dataclass(frozen=True)
class Verdict:
    """What probation decided: ``confirm`` or ``rollback``, and why."""
    action: str   # "confirm" | "rollback"
    reason: str


class Baseline:
    """The latencies of the last requests the active model served (what a new one is held to)."""

    def __init__(self, window: int) -> None:
        self._lat: deque[float] = deque(maxlen=window)

    def add(self, latency_ms: float) -> None:
        self._lat.append(float(latency_ms))

    def p50(self, min_samples: int) -> float | None:
        return statistics.median(self._lat) if len(self._lat) >= min_samples else None

    def clear(self) -> None:
        self._lat.clear()


class Probation:
    """One package's probation. ``record`` and ``due`` return the Verdict once, when it is
    reached (so the caller acts on it once), and None before and after."""

    def __init__(self, policy: ProbationPolicy, started: float, baseline_p50_ms: float | None) -> None:
        self.policy, self.started, self.baseline = policy, started, baseline_p50_ms
        self.requests = 0
        self.errors = 0
        self._lat: list[float] = []
        self.verdict: Verdict | None = None

    def record(self, latency_ms: float | None, error: bool, now: float) -> Verdict | None:
        if self.verdict is not None:
            return None
        self.requests += 1
        if error:
            self.errors += 1
        elif latency_ms is not None:  # an error's latency says nothing about the model's speed; None: no cost
            self._lat.append(float(latency_ms))
        p = self.policy
        if self.errors >= p.max_errors:
            return self._decide("rollback", f"{self.errors} errors in {self.requests} requests on probation")
        if self.requests >= p.min_samples and self.errors > p.error_share * self.requests:
            return self._decide("rollback", f"{self.errors} errors in {self.requests} requests on probation, "
                                            f"over the share {p.error_share:g}")
        if self.baseline is not None and len(self._lat) >= p.min_samples:
            p50 = statistics.median(self._lat)
            if p50 > p.latency_factor * self.baseline:
                return self._decide("rollback", f"median CPU time per request {p50:.2f} ms on probation, over "
                                                f"{p.latency_factor:g} x the previous model's {self.baseline:.2f} ms")
        if self.requests >= p.requests:
            return self._decide("confirm", f"confirmed after {self.requests} requests")
        return self.due(now)

    def due(self, now: float) -> Verdict | None:
        """The verdict once the probation's time is up (called by a timer as well)."""
        if self.verdict is None and now - self.started >= self.policy.seconds:
            return self._decide("confirm", f"confirmed after {self.policy.seconds:g} s "
                                           f"({self.requests} requests, {self.errors} errors)")
        return None

    def _decide(self, action: str, reason: str) -> Verdict:
        self.verdict = Verdict(action, reason)
        return self.verdict
