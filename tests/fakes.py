"""In-process fakes for the pipeline's collaborators: a link, a store, a model, a cloud, an executor.

Each does what the real one promises and records what it was asked, and each
can fail on demand, so the pipeline, delivery and escalation tests can stage
the races and failures the real parts only show under load (a PUBACK before
publish returns, a full disk, a link that drops mid-request).
"""

from __future__ import annotations

import itertools
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Callable

from edge.answers import Answers
from edge.cloud import CloudAnswer, CloudError
from edge.config import CloudSettings
from edge.delivery import Delivery, Replay
from edge.escalation import Escalations
from edge.health import Health
from edge.model import Prediction
from edge.mqtt import Message
from edge.outbox import Deferred, Pending, StateError
from edge.pipeline import Pipeline, Work
from edge.budget import Budget
from edge.router import Router

BASE = "edge/t"
_mids = itertools.count(1)


def msg(payload: bytes | str, *, topic: str = f"{BASE}/request", qos: int = 1, retain: bool = False,
        response_topic: str | None = None, correlation: bytes | None = None) -> Message:
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    return Message(topic, data, next(_mids), qos, False, response_topic, correlation, retain)


class FakeLink:
    """Publications complete at once (auto) or when `complete()` is called; acks are recorded."""

    def __init__(self, auto: bool = True) -> None:
        self.connected = True
        self.auto = auto
        self.published: list[tuple[str, bytes, bytes | None]] = []
        self.waiting: list[Callable[[], None]] = []
        self.acks: list[tuple[int, int]] = []
        self.raise_on: str | None = None  # a topic whose publish raises

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                correlation: bytes | None = None, on_done: Callable[[], None] | None = None) -> bool:
        if not self.connected:
            return False
        if self.raise_on and topic == self.raise_on:
            raise RuntimeError("paho said no")
        self.published.append((topic, payload, correlation))
        if on_done is not None:
            (on_done() if self.auto else self.waiting.append(on_done))
        return True

    def complete(self) -> None:
        waiting, self.waiting = self.waiting, []
        for cb in waiting:
            cb()

    def ack(self, mid: int, qos: int) -> None:
        self.acks.append((mid, qos))

    def on(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.published if t == topic]


class FakeStore:
    """The outbox's interface in memory; `fail` names the operations that raise StateError."""

    def __init__(self) -> None:
        self.rows: list[Pending] = []
        self.cache: dict[str, bytes] = {}
        self.deferred_items: list[Any] = []
        self.calls: list[float] = []
        self.fail: set[str] = set()
        self.writes = 0  # successful writes of any kind: nothing may write after the store's owner stopped
        self._seq = itertools.count(1)

    def _check(self, op: str) -> None:
        if op in self.fail or "all" in self.fail:
            raise StateError(f"{op} failed: database or disk is full")
        if op not in ("peek", "answered"):
            self.writes += 1

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, items: list, *, bounded: bool = True) -> None:
        self._check("put")
        self.rows += [Pending(next(self._seq), t, p, q, r, c, 0.0) for t, p, q, r, c in items]

    def peek(self, limit: int = 100) -> list[Pending]:
        self._check("peek")
        return self.rows[:limit]

    def remove(self, seqs: list[int]) -> None:
        self._check("remove")
        self.rows = [r for r in self.rows if r.seq not in set(seqs)]

    def answered(self, rid: str) -> bytes | None:
        self._check("answered")
        return self.cache.get(rid)

    def remember(self, entries: list[tuple[str, bytes]]) -> None:
        self._check("remember")
        self.cache.update(entries)

    def defer(self, rid: str, text: str, local: bytes) -> None:
        self._check("defer")
        self.deferred_items.append(Deferred(next(self._seq), rid, text, local, 0.0))

    def deferred_count(self) -> int:
        return len(self.deferred_items)

    def deferred(self, limit: int = 20) -> list[Deferred]:
        return self.deferred_items[:limit]

    def remove_deferred(self, seq: int) -> None:
        self._check("remove_deferred")
        self.deferred_items = [d for d in self.deferred_items if d.seq != seq]

    def record_cloud_call(self, ts: float) -> None:
        self._check("record_cloud_call")
        self.calls.append(ts)

    def probe(self) -> None:
        self._check("probe")


class FakeModel:
    """Confident `intent` for texts naming a known label; `poison` texts make classify raise."""

    labels = ("lights_on", "weather", "book_flight")
    ident = "fake@1"

    def __init__(self, low: tuple[str, ...] = ("hmm",), poison: tuple[str, ...] = ("\x00boom",)) -> None:
        self.low = low
        self.poison = poison
        self.batches: list[list[str]] = []

    def classify(self, texts: list[str]) -> list[Prediction]:
        self.batches.append(list(texts))
        out = []
        for t in texts:
            if any(p in t for p in self.poison):
                raise ValueError("the tokenizer choked")
            label = next((lb for lb in self.labels if lb.split("_")[0] in t), "weather")
            conf = 0.3 if any(w in t for w in self.low) else 0.95
            out.append(Prediction(label if conf >= 0.2 else "oos", conf, label))
        return out


class FakeCloud:
    def __init__(self, intent: str = "weather", error: CloudError | None = None) -> None:
        self.intent = intent
        self.error = error
        self.texts: list[str] = []

    def classify(self, text: str) -> CloudAnswer:
        self.texts.append(text)
        if self.error:
            raise self.error
        return CloudAnswer(self.intent, "sure", 1.0)

    def probe(self) -> None:
        pass


class HeldPool(Executor):
    """Runs nothing until `run_all()`: a cloud call that is in flight for as long as the test likes."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[..., Any], tuple]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kw: Any) -> Future:  # type: ignore[override]
        self.jobs.append((fn, args))
        return Future()

    def run_all(self) -> None:
        jobs, self.jobs = self.jobs, []
        for fn, args in jobs:
            fn(*args)


@dataclass
class Rig:
    """A pipeline wired to fakes; `send` pushes deliveries through it as the worker would."""

    link: FakeLink = field(default_factory=FakeLink)
    store: FakeStore = field(default_factory=FakeStore)
    model: FakeModel = field(default_factory=FakeModel)
    cloud: FakeCloud | None = None
    slots: Any = None
    clock_t: list[float] = field(default_factory=lambda: [100.0])

    def __post_init__(self) -> None:
        self.health = Health("fake@1", temperature_path="")
        self.backlog = 0
        self.delivery = Delivery(self.link, self.store, self.health.storage, on_backlog=self._backlog)
        self.timers: list[Callable[[], None]] = []  # what the replay asked the loop to run later
        self.replay = Replay(self.link, self.store, self.health.storage,
                             call_later=lambda _delay, fn: self.timers.append(fn))
        clock = lambda: self.clock_t[0]  # noqa: E731
        self.answers = Answers(BASE, "fake@1", self.health, self.delivery, 0.5, clock=clock)
        settings = CloudSettings(base_url="http://cloud.invalid" if self.cloud else "", timeout_s=5.0)
        # The budget writes its ledger to the fake store, as the service wires it to the Outbox.
        budget = Budget.from_settings(settings, ledger=self.store, storage=self.health.storage)
        self.router = Router(settings, 0.5, cloud_configured=self.cloud is not None, budget=budget)
        self.pool = HeldPool()
        self.escalations = Escalations(self.cloud, self.router, self.store, self.health, self.answers, self.pool,
                                       5.0, 2, clock=clock)
        self.pipeline = Pipeline(model=self.model, router=self.router, store=self.store, health=self.health,
                                 answers=self.answers, escalations=self.escalations, slots=self.slots,
                                 max_payload_bytes=16384, forbidden_reply_prefixes=("homeassistant/",),
                                 escalation_threshold=0.5, clock=clock)

    def _backlog(self) -> None:
        self.backlog += 1

    def run_timers(self, limit: int = 100) -> None:
        """Run what was scheduled (and what that schedules), as the loop would; at most `limit` turns."""
        for _ in range(limit):
            if not self.timers:
                return
            timers, self.timers = self.timers, []
            for fn in timers:
                fn()
        raise AssertionError("the timers keep rescheduling themselves")

    def send(self, *messages: Message) -> list[Work]:
        batch = [Work("request", m, self.clock_t[0], self.link.ack) for m in messages]
        self.pipeline.handle(batch)
        return batch

    def acked(self, work: Work) -> bool:
        return (work.msg.mid, work.msg.qos) in self.link.acks
