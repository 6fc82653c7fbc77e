"""The cloud policy (edge.router): modes, budget and circuit breaker, on injected clocks."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from edge.config import CloudSettings
from edge.router import CLOUD, DEFER, LOCAL, Decision, Router

THRESHOLD = 0.6
CASES = {"confident": ("weather", 0.9), "low": ("weather", 0.3), "oos": ("oos", 0.95)}


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make(
    mode: str = "local_first", *, configured: bool = True, **kw: object
) -> tuple[Router, Clock, Clock]:
    settings = replace(
        CloudSettings(base_url="http://127.0.0.1:9/v1", model="m", breaker_failures=3, breaker_cooldown_s=30.0),
        mode=mode,
        **kw,
    )
    mono, wall = Clock(1000.0), Clock(1_780_000_000.0)
    return Router(settings, THRESHOLD, cloud_configured=configured, clock=mono, wall=wall), mono, wall


# --- modes --------------------------------------------------------------------------------------

# (mode, case, allow_cloud) -> (action, reason), with a cloud configured and reachable, budget left.
EXPECTED: dict[tuple[str, str, bool | None], tuple[str, str]] = {
    ("local_first", "confident", None): (LOCAL, "confident"),
    ("local_first", "confident", True): (LOCAL, "confident"),
    ("local_first", "confident", False): (LOCAL, "confident"),
    ("local_first", "low", None): (CLOUD, "low_confidence"),
    ("local_first", "low", True): (CLOUD, "low_confidence"),
    ("local_first", "low", False): (LOCAL, "disabled"),
    ("local_first", "oos", None): (CLOUD, "low_confidence"),
    ("local_first", "oos", True): (CLOUD, "low_confidence"),
    ("local_first", "oos", False): (LOCAL, "disabled"),
    ("cloud_preferred", "confident", None): (CLOUD, "cloud_preferred"),
    ("cloud_preferred", "confident", True): (CLOUD, "cloud_preferred"),
    ("cloud_preferred", "confident", False): (LOCAL, "confident"),
    ("cloud_preferred", "low", None): (CLOUD, "cloud_preferred"),
    ("cloud_preferred", "low", True): (CLOUD, "cloud_preferred"),
    ("cloud_preferred", "low", False): (LOCAL, "disabled"),
    ("cloud_preferred", "oos", None): (CLOUD, "cloud_preferred"),
    ("cloud_preferred", "oos", True): (CLOUD, "cloud_preferred"),
    ("cloud_preferred", "oos", False): (LOCAL, "disabled"),
    ("local_only", "confident", None): (LOCAL, "confident"),
    ("local_only", "confident", True): (LOCAL, "confident"),
    ("local_only", "confident", False): (LOCAL, "confident"),
    ("local_only", "low", None): (LOCAL, "disabled"),
    ("local_only", "low", True): (LOCAL, "disabled"),
    ("local_only", "low", False): (LOCAL, "disabled"),
    ("local_only", "oos", None): (LOCAL, "disabled"),
    ("local_only", "oos", True): (LOCAL, "disabled"),
    ("local_only", "oos", False): (LOCAL, "disabled"),
}


@pytest.mark.parametrize(("mode", "case", "allow"), list(EXPECTED))
def test_decide_table(mode: str, case: str, allow: bool | None) -> None:
    router, _, _ = make(mode)
    intent, confidence = CASES[case]
    assert router.decide(intent, confidence, allow) == Decision(*EXPECTED[(mode, case, allow)])


@pytest.mark.parametrize("mode", ["local_first", "cloud_preferred", "local_only"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("allow", [None, True, False])
def test_no_cloud_configured_never_calls(mode: str, case: str, allow: bool | None) -> None:
    router, _, _ = make(mode, configured=False)
    intent, confidence = CASES[case]
    want = "confident" if case == "confident" else "disabled"
    assert router.decide(intent, confidence, allow) == Decision(LOCAL, want)
    assert not router.cloud_up
    assert router.stats()["cloud"] == "none"  # as health says: nothing to be down


def test_threshold_boundary_and_nan() -> None:
    router, _, _ = make()
    assert router.decide("weather", THRESHOLD, None) == Decision(LOCAL, "confident")
    assert router.decide("weather", THRESHOLD - 1e-9, None) == Decision(CLOUD, "low_confidence")
    assert router.decide("weather", float("nan"), None) == Decision(CLOUD, "low_confidence")


def test_local_only_with_a_base_url_is_no_cloud() -> None:
    router, _, _ = make("local_only")
    assert not router.cloud_up
    assert router.stats()["cloud"] == "none"


# --- breaker ------------------------------------------------------------------------------------


def test_breaker_opens_after_n_consecutive_failures() -> None:
    router, _, _ = make()
    for _ in range(2):
        router.record_failure()
    assert router.cloud_up
    assert router.decide("oos", 0.9, None) == Decision(CLOUD, "low_confidence")
    router.record_failure()
    assert not router.cloud_up
    assert router.decide("oos", 0.9, None) == Decision(DEFER, "offline")
    assert router.decide("weather", 0.9, None) == Decision(LOCAL, "confident")  # nothing to escalate
    stats = router.stats()
    assert (stats["cloud"], stats["breaker"], stats["consecutive_failures"]) == ("down", "open", 3)


def test_success_resets_the_count() -> None:
    router, _, _ = make()
    router.record_failure()
    router.record_failure()
    router.record_success()
    router.record_failure()
    router.record_failure()
    assert router.cloud_up
    assert router.stats()["consecutive_failures"] == 2


def test_half_open_after_cooldown_allows_one_probe_and_closes_on_success() -> None:
    router, mono, _ = make()
    for _ in range(3):
        router.record_failure()
    mono.advance(29.9)
    assert not router.probe_due()
    mono.advance(0.1)
    assert router.probe_due()
    assert not router.probe_due()  # exactly one probe
    assert router.stats()["breaker"] == "half_open"
    assert not router.cloud_up  # only the probe may go out
    assert router.decide("oos", 0.9, None) == Decision(DEFER, "offline")
    router.record_success()
    assert router.cloud_up
    assert router.stats()["breaker"] == "closed"
    assert router.decide("oos", 0.9, None) == Decision(CLOUD, "low_confidence")


def test_failed_probe_opens_again_for_a_full_cooldown() -> None:
    router, mono, _ = make()
    for _ in range(3):
        router.record_failure()
    mono.advance(30)
    assert router.probe_due()
    router.record_failure()
    assert router.stats()["breaker"] == "open"
    mono.advance(29)
    assert not router.probe_due()
    mono.advance(1)
    assert router.probe_due()


def test_unreported_probe_is_handed_out_again_after_its_lease() -> None:
    router, mono, _ = make(timeout_s=5.0)
    for _ in range(3):
        router.record_failure()
    mono.advance(30)
    assert router.probe_due()
    mono.advance(10.9)  # lease: 2 x timeout + 1 s
    assert not router.probe_due()
    mono.advance(0.1)
    assert router.probe_due()


def test_retry_after_opens_at_once_and_longer_than_the_cooldown() -> None:
    router, mono, _ = make()
    router.record_failure(retry_after=5.0)  # first failure, but the server said "wait"
    assert not router.cloud_up
    mono.advance(4.9)
    assert not router.probe_due()
    mono.advance(0.1)
    assert router.probe_due()
    router.record_success()
    for _ in range(3):
        router.record_failure(retry_after=90.0)  # larger than the 30 s cool-down
    mono.advance(89)
    assert not router.probe_due()
    mono.advance(1)
    assert router.probe_due()


def test_retry_after_is_capped_and_bad_values_ignored() -> None:
    router, mono, _ = make()
    router.record_failure(retry_after=float("nan"))
    router.record_failure(retry_after=-3)
    assert router.cloud_up
    router.record_failure(retry_after=10 * 86400.0)
    mono.advance(3600)
    assert router.probe_due()


def test_late_failure_while_open_does_not_shorten_it() -> None:
    router, mono, _ = make()
    router.record_failure(retry_after=100.0)
    mono.advance(1)
    router.record_failure()  # an in-flight call from before: wait stays at least until t0 + 100
    mono.advance(98.9)
    assert not router.probe_due()
    mono.advance(0.1)
    assert router.probe_due()


def test_cloud_preferred_defers_when_open() -> None:
    router, _, _ = make("cloud_preferred")
    for _ in range(3):
        router.record_failure()
    assert router.decide("weather", 0.99, None) == Decision(DEFER, "offline")
    assert router.decide("weather", 0.99, False) == Decision(LOCAL, "confident")


def test_no_deferred_queue_means_local_offline() -> None:
    router, _, _ = make(deferred_max=0)
    for _ in range(3):
        router.record_failure()
    assert router.decide("oos", 0.9, None) == Decision(LOCAL, "offline")


# --- budget -------------------------------------------------------------------------------------


def test_hourly_budget_sliding_window() -> None:
    router, _, wall = make(max_per_hour=3, max_per_day=100)
    for _ in range(3):
        assert router.decide("oos", 0.9, None) == Decision(CLOUD, "low_confidence")
        assert router.budget.spend()
        wall.advance(60)
    assert not router.budget.spend()
    assert router.decide("oos", 0.9, None) == Decision(LOCAL, "budget")
    assert router.decide("weather", 0.9, None) == Decision(LOCAL, "confident")  # no escalation wanted
    wall.advance(3600 - 180 - 0.001)  # the first call (t0) leaves the window at t0 + 3600
    assert not router.budget.spend()
    wall.advance(0.001)
    assert router.budget.spend()
    assert router.stats()["calls_last_hour"] == 3


def test_daily_budget_sliding_window() -> None:
    router, _, wall = make(max_per_hour=10, max_per_day=4, cost_per_call_usd=0.25)
    for _ in range(4):
        assert router.budget.spend()
        wall.advance(3 * 3600)
    assert not router.budget.spend()
    stats = router.stats()
    assert (stats["calls_last_hour"], stats["calls_today"], stats["spend_usd_today"]) == (0, 4, 1.0)
    wall.advance(86400 - 4 * 3 * 3600 + 0.001)  # the first call leaves the day
    assert router.stats()["calls_today"] == 3
    assert router.budget.spend()


def test_decide_does_not_consume_budget() -> None:
    router, _, _ = make(max_per_hour=2)
    for _ in range(50):
        router.decide("oos", 0.9, None)
    assert router.budget.spend() and router.budget.spend() and not router.budget.spend()


def test_zero_budget_means_no_calls() -> None:
    router, _, _ = make(max_per_hour=0)
    assert router.decide("oos", 0.9, None) == Decision(LOCAL, "budget")
    assert not router.budget.spend()


def test_budget_wins_over_an_open_breaker() -> None:
    router, _, _ = make(max_per_hour=1)
    assert router.budget.spend()
    for _ in range(3):
        router.record_failure()
    assert router.decide("oos", 0.9, None) == Decision(LOCAL, "budget")


def test_spend_is_exact_under_concurrency() -> None:
    router, _, _ = make(max_per_hour=50, max_per_day=1000)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [router.budget.spend() for _ in range(20)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 50 and len(results) == 160


def test_restore_calls_survives_a_restart() -> None:
    # The service persists each admitted call's wall time (Outbox.record_cloud_call) and hands them back here.
    second, _, wall = make(max_per_hour=3, max_per_day=10)
    saved = [wall.t - 120, wall.t - 60]
    second.budget.restore_calls([*saved, wall.t - 2 * 86400, float("nan"), float("inf")])  # stale and bad ones dropped
    assert second.stats()["calls_last_hour"] == 2 and second.stats()["calls_today"] == 2
    assert second.budget.spend()
    assert not second.budget.spend()
    assert second.stats()["calls_last_hour"] == 3


def test_calls_stamped_in_the_future_count() -> None:
    """A Pi without a real-time clock boots with its wall clock behind the saved stamps."""
    router, _, wall = make(max_per_hour=2)
    router.budget.restore_calls([wall.t + 3600 * 24 * 30, wall.t + 10])
    assert router.stats()["calls_last_hour"] == 2
    assert not router.budget.spend()


def test_stats_shape() -> None:
    router, _, _ = make(cost_per_call_usd=0.002)
    assert router.stats() == {
        "cloud": "up",
        "calls_last_hour": 0,
        "calls_today": 0,
        "spend_usd_today": 0.0,
        "breaker": "closed",
        "consecutive_failures": 0,
    }
    router.budget.spend()
    router.record_failure()
    stats = router.stats()
    assert (stats["calls_today"], stats["spend_usd_today"], stats["consecutive_failures"]) == (1, 0.002, 1)
