"""Issue 5 end to end: nothing accepted is lost (docs/guarantees.md is the promise tested here).

Real mosquitto with persistence, the daemon as a real process, the fake cloud as
a real HTTP server, and clients that keep their own MQTT session: each test
injects one fault (the broker restarted, the daemon SIGKILLed, the broker away
while results are made, a request id seen again, a corrupt state database) and
checks that every request id still gets its result. Duplicates are allowed
(at-least-once) but must stay rare; each test prints how many it saw.
"""

from __future__ import annotations

import json
import re
import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as paho
import pytest
from cloud_server import FakeCloud
from conftest import Broker, Daemon, daemon_config
from mqttc import Inbox
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

BASE = "edge/test"
REQUEST = f"{BASE}/request"
RESULT = f"{BASE}/result"
# Reconnect every second (the link's floor) so a 1.5 s outage costs about 2 s, not 30.
FAST = {"keepalive_s": 5, "reconnect_min_s": 1.0, "reconnect_max_s": 1.0}


class DurableClient:
    """A publisher/subscriber that keeps its session, as a client must for end-to-end at-least-once.

    A stable client id, `clean_start=False` and a session expiry: the broker keeps its
    QoS 1 subscriptions and queues what arrives while it is disconnected. paho resends
    its own unacknowledged publications after reconnecting; `settle()` then retries
    any publication still without a PUBACK. Every message received is recorded in order.
    """

    def __init__(self, port: int, topics: list[str], client_id: str | None = None) -> None:
        self.client_id = client_id or f"dur-{uuid.uuid4().hex[:8]}"
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5
        )
        self.client.reconnect_delay_set(1, 1)
        self._cond = threading.Condition()
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.sessions: list[bool] = []  # session_present of each CONNACK
        self._sent: dict[str, tuple[str, bytes, int]] = {}  # id -> (topic, payload, mid)
        self._acked: set[int] = set()  # mids the broker has PUBACKed
        self.retries = 0
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        self.client.connect("127.0.0.1", port, keepalive=5, clean_start=False, properties=props)
        self.client.loop_start()
        with self._cond:
            assert self._cond.wait_for(lambda: self.sessions, 10), "durable client could not connect"
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        if topics:
            self.client.subscribe([(t, 1) for t in topics])
            assert subscribed.wait(10), "subscription not acknowledged"

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            with self._cond:
                self.sessions.append(bool(flags.session_present))
                self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, json.loads(msg.payload)))
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._cond:
            self._acked.add(mid)
            self._cond.notify_all()

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        """QoS 1; while disconnected paho keeps it in the session and sends it after reconnecting."""
        payload = json.dumps(body).encode()
        self._sent[body["id"]] = (topic, payload, self.client.publish(topic, payload, qos=1).mid)

    def settle(self, timeout: float = 20.0) -> None:
        """Wait for every PUBACK; publish again what the broker never acknowledged (a client's own duty)."""
        with self._cond:
            self._cond.wait_for(lambda: {m for _, _, m in self._sent.values()} <= self._acked, timeout)
            unacked = [k for k, (_, _, mid) in self._sent.items() if mid not in self._acked]
        for key in unacked:
            topic, payload, _ = self._sent[key]
            self.retries += 1
            self._sent[key] = (topic, payload, self.client.publish(topic, payload, qos=1).mid)

    def ids_on(self, topic: str) -> list[str]:
        with self._cond:
            return [body["id"] for t, body in self.messages if t == topic]

    def wait_ids(self, topic: str, ids: set[str], timeout: float) -> set[str]:
        """Block until every id has arrived on topic (or the timeout); returns the missing ones."""
        with self._cond:
            self._cond.wait_for(lambda: ids <= {b.get("id") for t, b in self.messages if t == topic}, timeout)
        return ids - set(self.ids_on(topic))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def durable_client() -> Any:
    made: list[DurableClient] = []

    def make(broker: Broker, topics: list[str]) -> DurableClient:
        c = DurableClient(broker.port, topics)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def latest_health(inbox: Inbox, until: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
    """Health messages until one satisfies `until`; the last one seen is in the failure message."""
    deadline = time.monotonic() + timeout
    h: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            h = inbox.json(timeout=max(0.1, deadline - time.monotonic()))
        except AssertionError:
            break
        if until(h):
            return h
    raise AssertionError(f"no matching health message within {timeout} s; last: {h}")


def run_steady_load(
    client: DurableClient, prefix: str, n: int, rate: float, fault_at: int, fault: Callable[[], None]
) -> list[str]:
    """Publish n requests at `rate` per second; at request `fault_at` start `fault` on its own thread,
    so the load keeps its pace through the outage (publications meanwhile wait in the client's session)."""
    ids = [f"{prefix}-{i}" for i in range(n)]
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            fault()
        except BaseException as exc:  # re-raised on the test thread below
            errors.append(exc)

    injector = threading.Thread(target=guarded, name="fault")
    texts = ["what is my checking account balance", "set an alarm for 7 am", "will it rain tomorrow",
             "book a flight to paris", "turn off the lights", "tell me a joke"]
    start = time.monotonic()
    for i, rid in enumerate(ids):
        if i == fault_at:
            injector.start()
        client.publish(REQUEST, {"id": rid, "text": texts[i % len(texts)]})
        time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))  # pacing: a steady `rate` per second
    injector.join(60)
    if errors:
        raise errors[0]
    return ids


def check_every_id_answered(client: DurableClient, ids: list[str], label: str, timeout: float = 30.0) -> int:
    """Assert every id got a result; print and return the number of duplicate results."""
    client.settle()
    missing = client.wait_ids(RESULT, set(ids), timeout)
    counts = Counter(i for i in client.ids_on(RESULT) if i in set(ids))
    dups = sum(c - 1 for c in counts.values())
    print(f"\n{label}: {len(ids)} requests, {len(counts)} answered, {dups} duplicate results, "
          f"{client.retries} client retries, sessions {client.sessions}")
    assert not missing, f"{len(missing)} of {len(ids)} requests never answered: {sorted(missing)[:10]}"
    # At-least-once, not exactly-once: a redelivery after the fault may be answered twice. It must stay rare.
    assert dups <= max(10, len(ids) // 10), f"{dups} duplicates for {len(ids)} requests"
    return dups


@pytest.mark.slow
def test_steady_load_through_a_broker_restart_loses_nothing(broker, daemon_factory, durable_client, tmp_path):
    d = daemon_factory(daemon_config(broker, tmp_path / "state", mqtt=FAST))
    client = durable_client(broker, [RESULT])
    ids = run_steady_load(client, "b", n=150, rate=30, fault_at=40, fault=lambda: broker.restart(down_s=1.5))
    check_every_id_answered(client, ids, "broker restart")
    assert client.sessions[0] is False and all(client.sessions[1:]) and len(client.sessions) >= 2, (
        f"the broker did not keep the client's session across its restart: {client.sessions}")
    assert (broker.dir / "mosquitto.db").exists(), "the broker never saved its persistence file"
    assert d.proc is not None and d.proc.poll() is None, "the daemon exited during the broker restart"
    assert "session resumed" in d.log_text(), "the daemon's session was not resumed after the restart"


@pytest.mark.slow
def test_steady_load_through_a_daemon_sigkill_loses_nothing(broker, daemon_factory, durable_client, tmp_path):
    config = daemon_config(broker, tmp_path / "state", mqtt=FAST)
    first = daemon_factory(config)
    client = durable_client(broker, [RESULT])
    daemons: list[Daemon] = []

    def kill_and_restart() -> None:
        first.kill()  # SIGKILL: no drain, no offline status, whatever was in memory is gone
        daemons.append(daemon_factory(config))  # same config, same state dir, same client id

    ids = run_steady_load(client, "k", n=150, rate=30, fault_at=40, fault=kill_and_restart)
    check_every_id_answered(client, ids, "daemon SIGKILL")
    second = daemons[0]
    assert second.proc is not None and second.proc.poll() is None
    assert "session resumed" in second.log_text(), "the restarted daemon did not resume the broker session"


def _cloud_config(broker: Broker, state: Path, cloud: FakeCloud, **extra: Any) -> str:
    """Every request goes to the (fake) cloud, one call at a time: a slow, ordered producer of results."""
    section = {"base_url": cloud.base_url, "model": "fake", "mode": "cloud_preferred", "workers": 1,
               "timeout_s": 5.0, "max_per_hour": 100000, "max_per_day": 1000000}
    return daemon_config(broker, state, mqtt=FAST, cloud=section, **extra)


@pytest.mark.slow
@pytest.mark.parametrize("daemon_fate", ["keeps_running", "killed_while_away"])
def test_results_made_while_the_broker_is_away_wait_on_disk_and_go_out_first_in_order(
    daemon_fate, broker, daemon_factory, durable_client, tmp_path
):
    delay = 0.4
    with FakeCloud(default_intent="weather", delay_s=delay) as cloud:
        config = _cloud_config(broker, tmp_path / "state", cloud)
        d = daemon_factory(config)
        client = durable_client(broker, [RESULT])
        ids = [f"o{i}" for i in range(6)]
        for rid in ids:
            client.publish(REQUEST, {"id": rid, "text": f"what is the weather like, question {rid}"})
        client.settle()
        assert cloud.wait_for(1, timeout=15), "the daemon never called the cloud"
        broker.stop()  # the first answer is still `delay` away: every result is made with the broker gone
        assert cloud.wait_for(len(ids), timeout=15)
        # ... and the last one is made: health's processed count, which the daemon also sends as its
        # STATUS= line each tick (the broker is gone, so that is the way to read it). The same thread
        # writes the result to the outbox just after counting it, so by the following tick it is stored.
        d.notify_until(f"STATUS=processed {len(ids)},", timeout=15)
        d.notify_until("STATUS=", timeout=5)
        assert d.proc is not None and d.proc.poll() is None
        if daemon_fate == "killed_while_away":
            d.kill()  # the outbox is all that is left of those results
        # Asked while the broker is away, answered locally: must not overtake the stored results.
        late = [f"late{i}" for i in range(3)]
        for rid in late:
            client.publish(REQUEST, {"id": rid, "text": "turn off the lights", "allow_cloud": False})
        broker.start()
        if daemon_fate == "killed_while_away":
            d = daemon_factory(config)
        missing = client.wait_ids(RESULT, set(ids + late), timeout=30)
        assert not missing, f"never answered: {sorted(missing)}"
        # Barrier: the broker hands the daemon its redelivered requests before this one, and with one
        # cloud worker a second call any of them caused is made before this one's.
        client.publish(REQUEST, {"id": "fence", "text": "what is the weather like, fence"})
        assert not client.wait_ids(RESULT, {"fence"}, timeout=30), "the fence was never answered"
        order = client.ids_on(RESULT)
        print(f"\noutbox ({daemon_fate}): result stream {order}")
        print([(b["id"], b["ts"]) for t, b in client.messages])
        assert order[: len(ids)] == ids, f"stored results not replayed first and in order: {order}"
        # The stored results, and whatever was answered behind them before the replay caught up
        # (the redelivered requests' repeats, the late ones): all from disk, in order.
        replayed = [int(n) for n in re.findall(r"replayed (\d+) publications from the outbox", d.log_text())]
        assert sum(replayed) >= 2 * len(ids), d.log_text()
        # Every request was redelivered (its ack was lost with the connection), yet the cloud saw each once.
        calls = len(cloud.chat_requests) - 1  # the fence's
        assert calls == len(ids), f"{calls} cloud calls for {len(ids)} requests"
        results = [b for t, b in client.messages if t == RESULT and b["id"] in ids]
        assert all(r["source"] == "cloud" and r["reason"] == "cloud_preferred" for r in results)


@pytest.mark.slow
def test_requests_in_progress_when_the_daemon_is_sigkilled_are_redelivered_and_answered(
    broker, daemon_factory, durable_client, tmp_path
):
    with FakeCloud(default_intent="weather", delay_s=1.0) as cloud:
        config = _cloud_config(broker, tmp_path / "state", cloud)
        first = daemon_factory(config)
        client = durable_client(broker, [RESULT])
        ids = [f"p{i}" for i in range(4)]
        for rid in ids:
            client.publish(REQUEST, {"id": rid, "text": f"will it snow, question {rid}"})
        client.settle()
        assert cloud.wait_for(1, timeout=15)
        first.kill()  # p0 is half-way through its cloud call, the rest wait in the daemon's queue
        assert client.ids_on(RESULT) == [], "a result came out before the kill; the test proves nothing"
        second = daemon_factory(config)
        check_every_id_answered(client, ids, "SIGKILL mid-request")
        # Not acknowledged before its result was safe, so the broker gave p0 to the new daemon.
        texts = [json.dumps(r.body) for r in cloud.chat_requests]
        assert sum("question p0" in t for t in texts) == 2, "p0 was not redone after the kill"
        assert "session resumed" in second.log_text()


def test_an_answered_id_seen_again_is_answered_from_the_cache_not_recomputed(broker, daemon_factory, client_factory, tmp_path):
    with FakeCloud(default_intent="weather") as cloud:
        daemon_factory(_cloud_config(broker, tmp_path / "state", cloud))
        c = client_factory(broker)
        results = c.subscribe(RESULT)
        body = {"id": "dup-1", "text": "is it going to be sunny this weekend"}
        c.publish(REQUEST, json.dumps(body))
        first = results.get()
        c.publish(REQUEST, json.dumps(body))  # a client retry, or the broker redelivering it
        second = results.get()
        reply = c.request(BASE, body)  # and again, with a reply topic: the cached answer goes there too
        third = results.get()
        assert first.json()["source"] == "cloud" and first.json()["id"] == "dup-1"
        assert second.payload == first.payload, "the second answer was recomputed (its bytes differ)"
        assert reply == first.json() and third.payload == first.payload
        # Barrier: a new id, answered after anything the three could still cause.
        c.publish(REQUEST, json.dumps({"id": "fence", "text": "is it going to be windy tonight"}))
        assert results.json()["id"] == "fence", "more results than requests"
        assert len(cloud.chat_requests) == 2, "a repeated id went to the cloud again"
        health = c.subscribe(f"{BASE}/health")
        h = latest_health(health, lambda h: h["processed"] >= 2)
        assert h["counters"]["duplicates"] == 2 and h["processed"] == 2


def _torn_database(state: Path) -> bytes:
    """A real store with content, then one page overwritten with garbage: a torn write."""
    from edge.outbox import Outbox

    with Outbox(state) as store:
        store.put([(f"{BASE}/result", b"x" * 200, 1, False, None)] * 200)
        store.remember([(f"id{i}", b"{}") for i in range(200)])
    db = state / "edge.db"
    data = bytearray(db.read_bytes())
    rnd = random.Random(5)
    data[100:4096] = bytes(rnd.getrandbits(8) for _ in range(4096 - 100))  # page 1 after the file header
    db.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("damage", ["garbage", "torn_page"])
def test_a_corrupt_state_db_is_moved_aside_and_the_daemon_serves(damage, broker, daemon_factory, client_factory, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    if damage == "garbage":
        original = random.Random(7).randbytes(64 * 1024)
        (state / "edge.db").write_bytes(original)
    else:
        original = _torn_database(state)
    d = daemon_factory(daemon_config(broker, state))
    c = client_factory(broker)
    reply = c.request(BASE, {"id": "after-corruption", "text": "what is my checking account balance"})
    assert reply["id"] == "after-corruption"
    aside = sorted(state.glob("edge.db.corrupt-*"))
    assert [p.name for p in aside if not p.name.endswith(("-wal", "-shm"))] == [aside[0].name]
    assert aside[0].read_bytes() == original, "the damaged file was not kept as it was, for inspection"
    assert "corrupt" in d.log_text() and "moved aside" in d.log_text()
    h = latest_health(c.subscribe(f"{BASE}/health"), lambda h: h["processed"] >= 1)
    assert h["counters"].get("state_recovered") == 1
    # The new store works: a result made now is remembered, so a repeat is answered from the cache.
    c.publish(REQUEST, json.dumps({"id": "after-corruption", "text": "what is my checking account balance"}))
    latest_health(c.subscribe(f"{BASE}/health"), lambda h: h["counters"].get("duplicates", 0) >= 1)
