"""The cloud fallback end to end: the daemon as a real process, a real mosquitto, FakeCloud over real HTTP.

Every test drives the daemon over MQTT as a user would and looks at what
reached the cloud in FakeCloud.requests. Timeouts and cool-downs are kept to
about a second so the whole file runs in well under a minute.

Texts: BALANCE is one the shipped model is confident about (test_daemon.py
relies on it too); SWALLOW is out of scope, so under the model's own
thresholds it is escalated with reason low_confidence.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Daemon, daemon_config
from mqttc import TestClient

from tests.cloud_server import FakeCloud

BASE = "edge/test"
KEY = "sk-e2e-SECRET-0123456789abcdef"
BALANCE = "what is my checking account balance"
SWALLOW = "what is the airspeed of an unladen swallow"
CLOUD_INTENT = "fun_fact"  # what FakeCloud says SWALLOW is: a label of the shipped model, not the device's answer
CLOUD_ANSWER = "about eleven metres a second"


def _labels() -> list[str]:
    manifest = json.loads((ROOT / "models" / "clinc150" / "manifest.json").read_text())
    return list(manifest["labels"])


class Rig:
    """A running daemon and a test client subscribed to every result."""

    def __init__(self, daemon: Daemon, client: TestClient) -> None:
        self.daemon = daemon
        self.client = client
        self.results = client.subscribe(f"{BASE}/result")
        self._early: list[tuple[float, dict[str, Any]]] = []  # results read while waiting for another id

    def send(self, text: str, rid: str, **fields: Any) -> float:
        """Publish one request; returns when it was sent (monotonic)."""
        t0 = time.monotonic()
        self.client.publish(f"{BASE}/request", json.dumps({"text": text, "id": rid, **fields}))
        return t0

    def result(self, rid: str, timeout: float = 10.0) -> tuple[dict[str, Any], float]:
        """The next result for `rid` on <base>/result and when it arrived (monotonic)."""
        for i, (t, r) in enumerate(self._early):
            if r["id"] == rid:
                del self._early[i]
                return r, t
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no result for {rid!r} within {timeout} s")
            r = self.results.json(timeout=left)
            t = time.monotonic()
            if r["id"] == rid:
                return r, t
            self._early.append((t, r))

    def ask(self, text: str, rid: str, timeout: float = 10.0, **fields: Any) -> tuple[dict[str, Any], float]:
        """Send and wait: the result and the seconds it took from publish to arrival."""
        t0 = self.send(text, rid, **fields)
        r, t = self.result(rid, timeout)
        return r, t - t0

    def health(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first health message (published every second here) for which `pred` holds.

        Only live ones: the retained copy the broker hands a new subscriber was made before
        this call, so it cannot serve as a barrier for what happened up to now."""
        box = self.client.subscribe(f"{BASE}/health", qos=0)
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                msg = box.get(timeout=max(0.05, deadline - time.monotonic()))
            except AssertionError:
                break
            last = msg.json()
            if not msg.retain and pred(last):
                return last
        raise AssertionError(f"no matching health message within {timeout} s; last: {last}")


@pytest.fixture
def fake() -> Iterator[FakeCloud]:
    with FakeCloud(intents={"swallow": CLOUD_INTENT, "balance": "balance"}, answer=CLOUD_ANSWER) as f:
        yield f


@pytest.fixture
def rig(broker, daemon_factory, client_factory, tmp_path: Path) -> Callable[..., Rig]:
    """start(fake, env=None, model=None, **cloud) -> Rig: a daemon whose [cloud] points at `fake`."""
    count = [0]

    def start(fake: FakeCloud, env: dict[str, str] | None = None, model: dict | None = None, **cloud: Any) -> Rig:
        count[0] += 1
        section = {"base_url": fake.base_url, "model": "m", "mode": "local_first", "timeout_s": 1.0,
                   "breaker_cooldown_s": 1.0, **cloud}
        cfg = daemon_config(broker, tmp_path / f"state{count[0]}", cloud=section, model=model or {})
        # No key from the environment of whoever runs the tests unless a test passes one.
        env = {"EDGE_CLOUD_API_KEY": "", **(env or {})}
        return Rig(daemon_factory(cfg, env=env), client_factory(broker))

    return start


def _device(r: dict[str, Any], reason: str, escalated: bool) -> None:
    """A result that is the device's own answer."""
    assert r["source"] == "edge" and r["answer"] is None, r
    assert r["reason"] == reason and r["escalated"] is escalated, r


def _cloud(r: dict[str, Any], reason: str) -> None:
    """A result that carries the cloud's answer for SWALLOW."""
    assert r["source"] == "cloud" and r["escalated"] is True and r["reason"] == reason, r
    assert r["intent"] == CLOUD_INTENT and r["answer"] == CLOUD_ANSWER, r
    assert 0.0 <= r["confidence"] <= 1.0, r


# --- modes ------------------------------------------------------------------------------------------


def test_local_first_keeps_confident_and_escalates_the_rest(rig, fake: FakeCloud) -> None:
    fake.api_key = KEY  # the server now refuses calls without the key
    r = rig(fake, env={"EDGE_CLOUD_API_KEY": KEY})
    by_intent = r.client.subscribe(f"{BASE}/intent/{CLOUD_INTENT}")

    confident, _ = r.ask(BALANCE, "c1")
    _device(confident, "confident", False)
    assert confident["intent"] == "balance"
    assert fake.chat_requests == []

    # A requester with a reply topic gets the cloud's answer there too, with its correlation data.
    reply = r.client.request(BASE, {"text": SWALLOW, "id": "s1"})
    _cloud(reply, "low_confidence")
    assert r.result("s1")[0] == reply
    assert by_intent.json()["id"] == "s1"

    [sent] = fake.chat_requests
    assert sent.headers.get("authorization") == f"Bearer {KEY}"
    assert sent.body["model"] == "m"
    system = next(m["content"] for m in sent.body["messages"] if m["role"] == "system")
    user = next(m["content"] for m in sent.body["messages"] if m["role"] == "user")
    missing = [label for label in _labels() if label not in system]
    assert not missing, f"labels not in the cloud request: {missing}"
    assert json.dumps(SWALLOW) in user

    off, _ = r.ask(SWALLOW, "s2", allow_cloud=False)
    _device(off, "disabled", False)
    assert len(fake.chat_requests) == 1
    assert KEY not in r.daemon.log_text()


def test_api_key_from_a_systemd_credential(rig, fake: FakeCloud, tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "cloud_api_key").write_text(KEY + "\n")  # systemd credentials often end in a newline
    fake.api_key = KEY
    r = rig(fake, env={"CREDENTIALS_DIRECTORY": str(creds)})
    _cloud(r.ask(SWALLOW, "k1")[0], "low_confidence")
    assert [q.headers.get("authorization") for q in fake.chat_requests] == [f"Bearer {KEY}"]
    assert KEY not in r.daemon.log_text()


def test_cloud_preferred_uses_the_cloud_while_it_is_up(rig, fake: FakeCloud) -> None:
    r = rig(fake, mode="cloud_preferred", breaker_failures=1, breaker_cooldown_s=30.0)
    res, _ = r.ask(BALANCE, "p1")
    assert res["source"] == "cloud" and res["reason"] == "cloud_preferred" and res["intent"] == "balance", res
    _cloud(r.ask(SWALLOW, "p2")[0], "cloud_preferred")
    assert len(fake.chat_requests) == 2

    fake.down()  # the device answers when the cloud is not there
    res, _ = r.ask(BALANCE, "p3")
    _device(res, "cloud_error", True)
    assert res["intent"] == "balance"
    res, _ = r.ask(BALANCE, "p4")
    _device(res, "offline", False)
    assert res["intent"] == "balance"


def test_local_only_never_calls_the_cloud(rig, fake: FakeCloud) -> None:
    r = rig(fake, mode="local_only")
    _device(r.ask(BALANCE, "l1")[0], "confident", False)
    _device(r.ask(SWALLOW, "l2")[0], "disabled", False)
    _device(r.ask(SWALLOW, "l3", allow_cloud=True)[0], "disabled", False)  # a request cannot override the mode
    r.health(lambda h: h["processed"] >= 3)  # housekeeping has run: it must not have probed either
    assert fake.requests == []


# --- faults -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["garbage", "unknown_label", "http500", "rate_limit"])
def test_a_faulty_cloud_leaves_the_device_answer(rig, fake: FakeCloud, mode: str) -> None:
    fake.retry_after = "60"  # rate_limit: the breaker must honour it over the 1 s cool-down
    r = rig(fake, breaker_failures=5)
    local, _ = r.ask(SWALLOW, "f0", allow_cloud=False)
    fake.mode = mode
    res, _ = r.ask(SWALLOW, "f1")
    _device(res, "cloud_error", True)
    assert (res["intent"], res["confidence"]) == (local["intent"], local["confidence"])
    assert len(fake.chat_requests) == 1
    _device(r.ask(BALANCE, "f2")[0], "confident", False)  # and it keeps serving
    res, took = r.ask(SWALLOW, "f3")
    if mode == "rate_limit":  # Retry-After opened the breaker: no call, no wait
        _device(res, "offline", False)
        assert len(fake.chat_requests) == 1 and took < 0.5
    else:  # one failure of five does not open it
        _device(res, "cloud_error", True)
        assert len(fake.chat_requests) == 2
    assert r.health(lambda h: h["cloud_errors"] >= 1)["errors"] == 0


def test_a_stalled_cloud_costs_at_most_the_timeout(rig, fake: FakeCloud) -> None:
    timeout = 1.0
    r = rig(fake, timeout_s=timeout)
    fake.mode = "stall"
    res, took = r.ask(SWALLOW, "t1")
    print(f"stalled cloud: result after {took:.3f} s (timeout_s {timeout})")
    _device(res, "cloud_error", True)
    assert timeout * 0.9 <= took <= timeout + 0.5, took


def test_cloud_calls_never_block_local_answers(rig, fake: FakeCloud) -> None:
    r = rig(fake, timeout_s=1.0)
    fake.mode = "stall"
    t_slow = r.send(SWALLOW, "slow")
    assert fake.wait_for(1, timeout=5), "the escalation never reached the cloud"
    sent = {f"q{i}": r.send(BALANCE, f"q{i}") for i in range(5)}  # while the cloud call hangs
    arrived = {rid: r.result(rid, timeout=5) for rid in sent}
    slow, t_slow_done = r.result("slow")
    took = {rid: round(t - sent[rid], 3) for rid, (_, t) in arrived.items()}
    print(f"confident answers during a stalled cloud call: {took}; the stalled one: {t_slow_done - t_slow:.3f} s")
    for res, _ in arrived.values():
        _device(res, "confident", False)
    assert max(took.values()) < 0.5, took
    assert all(t < t_slow_done for _, t in arrived.values())
    _device(slow, "cloud_error", True)


def test_a_burst_on_a_slow_cloud_still_answers_within_the_timeout(rig, fake: FakeCloud) -> None:
    # A cloud that answers, but slowly: the breaker never opens, and with two cloud workers a burst
    # queues up. Waiting in that queue must count against timeout_s too.
    timeout = 1.0
    fake.delay_s = 0.7
    r = rig(fake, timeout_s=timeout, workers=2)
    sent = {f"u{i}": r.send(SWALLOW, f"u{i}") for i in range(6)}
    got = {rid: r.result(rid) for rid in sent}
    took = {rid: round(t - sent[rid], 3) for rid, (_, t) in got.items()}
    print(f"a burst of 6 escalations, 2 workers, cloud answering in {fake.delay_s} s: {took}")
    assert max(took.values()) <= timeout + 0.5, took
    sources = [res["source"] for res, _ in got.values()]
    assert sources.count("cloud") >= 2, sources  # the ones that found a free worker got the cloud's answer
    for res, _ in got.values():
        if res["source"] == "edge":
            _device(res, "cloud_error", True)
    # Barrier: health's queue_depth counts escalations queued or in flight; at 0 every one has called
    # the cloud or been skipped. Those already answered locally while they queued are not sent after all.
    r.health(lambda h: h["queue_depth"] == 0)
    assert len(fake.chat_requests) == 4, len(fake.chat_requests)


def test_breaker_defers_while_down_and_replays_when_back(rig, fake: FakeCloud) -> None:
    timeout, cooldown = 1.0, 1.0
    r = rig(fake, timeout_s=timeout, breaker_failures=2, breaker_cooldown_s=cooldown)
    cloud_topic = r.client.subscribe(f"{BASE}/intent/{CLOUD_INTENT}")
    fake.mode = "stall"  # failures that cost the whole timeout, so the breaker's saving shows
    for rid in ("d1", "d2"):
        r.send(SWALLOW, rid)
    for rid in ("d1", "d2"):
        _device(r.result(rid)[0], "cloud_error", True)
    fake.down()
    # The results above can come from the deadline (expire) a moment before the stalled calls
    # themselves fail and count against the breaker: wait until it is open, as the test means.
    r.health(lambda h: h["budget"]["breaker"] in ("open", "half_open"))
    # Open now: answered at once, locally, and queued.
    for rid in ("d3", "d4"):
        res, took = r.ask(SWALLOW, rid)
        _device(res, "offline", False)
        assert took < timeout / 2, took
    assert len(fake.chat_requests) == 2
    h = r.health(lambda h: h["deferred"] == 2 and h["cloud"] == "down")
    assert h["budget"]["breaker"] in ("open", "half_open")
    # While it stays down, the probes (one per cool-down) fail and nothing is published: wait for one
    # to have failed (one more failure in a row) and finished (nothing queued or in flight).
    failures = h["budget"]["consecutive_failures"]
    h = r.health(lambda h: h["budget"]["consecutive_failures"] > failures and h["queue_depth"] == 0,
                 timeout=cooldown * 2 + 5)
    assert h["deferred"] == 2 and cloud_topic.drain() == []

    fake.up()
    t_up = time.monotonic()
    second = {}
    for rid in ("d3", "d4"):
        res, t = r.result(rid, timeout=cooldown * 2 + 5)
        second[rid] = res
        _cloud(res, "offline")
    print(f"deferred results after the cloud came back: {time.monotonic() - t_up:.3f} s")
    assert {cloud_topic.json()["id"] for _ in range(2)} == {"d3", "d4"}
    assert all(res["text"] == SWALLOW for res in second.values())
    h = r.health(lambda h: h["deferred"] == 0 and h["cloud"] == "up")
    assert h["budget"]["breaker"] == "closed"
    # The second result's latency counts from the request (it waited out the outage), and a replay is
    # not a new request: health has processed four, with no near-zero latency samples added.
    assert all(res["latency_ms"] >= (cooldown + 0.5) * 1000 for res in second.values()), second
    assert h["processed"] == 4 and h["counters"].get("deferred_completed") == 2, h


def test_deferred_queue_is_bounded_and_survives_a_restart(rig, fake: FakeCloud) -> None:
    r = rig(fake, breaker_failures=1, breaker_cooldown_s=60.0, deferred_max=2)
    fake.down()
    _device(r.ask(SWALLOW, "y0")[0], "cloud_error", True)  # one failure opens it, for a minute
    for rid in ("y1", "y2", "y3"):
        _device(r.ask(SWALLOW, rid)[0], "offline", False)
    h = r.health(lambda h: h["deferred"] == 2)
    assert h["dropped"]["deferred"] == 1, h  # the oldest went, counted
    assert r.daemon.stop() == 0
    fake.up()
    r.daemon.start()  # same state directory: the queue is on disk; a new process starts with the breaker closed
    replayed = {rid: r.result(rid)[0] for rid in ("y2", "y3")}
    for res in replayed.values():
        _cloud(res, "offline")
    # Barrier: the queue is empty and no replay is in flight (each publishes before it stops counting).
    r.health(lambda h: h["deferred"] == 0 and h["queue_depth"] == 0)
    late = [m.json()["id"] for m in r.results.drain()] + [res["id"] for _, res in r._early]
    assert "y1" not in late, "y1 was dropped from the queue and must not come back"
    assert len(fake.chat_requests) == 2


# --- budget, privacy, shutdown ----------------------------------------------------------------------


def test_budget_caps_calls_per_hour(rig, fake: FakeCloud) -> None:
    r = rig(fake, max_per_hour=2, cost_per_call_usd=0.01)
    _cloud(r.ask(SWALLOW, "b1")[0], "low_confidence")
    _cloud(r.ask(SWALLOW, "b2")[0], "low_confidence")
    res, _ = r.ask(SWALLOW, "b3")
    _device(res, "budget", False)
    assert len(fake.chat_requests) == 2
    h = r.health(lambda h: h["processed"] >= 3)
    assert h["budget"]["calls_last_hour"] == 2 and h["budget"]["calls_today"] == 2
    assert h["budget"]["spend_usd_today"] == pytest.approx(0.02)
    assert h["escalated"] == 2


def test_personal_data_never_reaches_the_cloud(rig, fake: FakeCloud) -> None:
    r = rig(fake)
    text = f"{SWALLOW}? mail jane.doe@example.com or call +44 20 7946 0958, card 4111111111111111"
    res, _ = r.ask(text, "x1")
    _cloud(res, "low_confidence")
    assert res["text"] == text  # the requester gets its own text back; only the cloud sees it redacted
    raw = json.dumps([q.body for q in fake.requests])
    for secret in ("jane.doe", "example.com", "7946", "4111111111111111"):
        assert secret not in raw, secret
    assert "[email]" in raw and "[phone]" in raw and "[number]" in raw


def test_sigterm_during_a_stalled_call_answers_and_exits_fast(rig, fake: FakeCloud) -> None:
    timeout = 8.0
    r = rig(fake, timeout_s=timeout)
    fake.mode = "stall"
    r.send(SWALLOW, "z1")
    assert fake.wait_for(1, timeout=5)
    t0 = time.monotonic()
    assert r.daemon.stop(signal.SIGTERM) == 0
    took = time.monotonic() - t0
    print(f"SIGTERM with a stalled cloud call: exited after {took:.3f} s (timeout_s {timeout})")
    assert took < timeout / 2, took  # the in-flight call was cut, not waited out
    _device(r.result("z1", timeout=2)[0], "cloud_error", True)
