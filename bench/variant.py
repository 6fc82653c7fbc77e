"""Run `edge run` with candidate optimisations applied from outside, to measure them before edge/ changes.

    python bench/variant.py LEVER[,LEVER...] run --config FILE

Each lever is a monkeypatch of the shipped code that stands in for a proposed
edit (docs/performance.md says where the real edit goes); the daemon is
otherwise exactly `python -m edge run`. Levers (the earlier `xnnpack`,
`buckets` and `single` are what edge/model.py now does: ai-edge-litert with
XNNPACK by default, one interpreter, length buckets; `tokenize` too):

- `nolog`     edge/mqtt/link.py Link: no `client.on_log` unless DEBUG logging is on. With
              on_log set, paho formats every line it would log (each PUBLISH sent,
              each PUBACK and PUBLISH received, Properties rendered with str())
              before edge.mqtt's handler drops it at DEBUG;
- `props`     edge/mqtt/link.py Link.publish: PUBLISH properties whose pack() is
              computed once per set of values (paho's Properties.__setattr__
              validates and pack() walks all 27 property names on every call);
              the Correlation Data is appended per message;
- `memcache`  edge/outbox.py answered/remember: the answered-id cache in memory (a
              set of id hashes, so a new id costs no SQLite read) and written to
              SQLite by a background thread once a second instead of one write
              transaction per micro-batch on the worker. A SIGKILL loses the last
              second of cached ids: a redelivery of one of those is answered afresh
              (its intent topic again) instead of from the cache;
- `inline`    edge/service.py: a request that arrives while the daemon is idle (queue
              empty, worker free, no publication awaiting its PUBACK) is answered in
              paho's network thread at once (no hand-off to the worker and back);
              otherwise queued as now;
- `arena1`    glibc mallopt(M_ARENA_MAX, 1) before any thread starts (in a unit
              file: Environment=MALLOC_ARENA_MAX=1): one malloc arena instead of
              one per thread that allocates;
- `lazycli`   edge/__main__.py: call cmd_run without building the full argparse
              tree.

The levers are written against the edge/ of commit 0a680a0 (pipeline.py) and
later; one that no longer fits the code stops the daemon with an error.
`nolog` and `props` are in edge/mqtt.py (now edge/mqtt/link.py) since df40c0a and 6588b2d (the levers
are then no-ops for the daemon; kept to measure older checkouts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LEVERS = {"nolog", "props", "memcache", "inline", "arena1", "lazycli", "reactor", "nomodel", "noslots", "sqlcache", "pipelined", "none"}


def apply(levers: set[str]) -> None:
    unknown = levers - LEVERS
    if unknown:
        raise SystemExit(f"unknown lever(s) {sorted(unknown)}; known: {sorted(LEVERS)}")
    if "nolog" in levers:
        _nolog()
    if "props" in levers:
        _props()
    if "memcache" in levers:
        _memcache()
    if "inline" in levers:
        _inline()
    if "reactor" in levers:
        _reactor()
    if "sqlcache" in levers:
        import edge.outbox as ob

        open_ = ob.Outbox._open

        def small_cache(self):
            db = open_(self)
            db.execute("PRAGMA cache_size=-256")  # KiB: the default is 2 MiB per connection
            return db

        ob.Outbox._open = small_cache
    if "nomodel" in levers:
        _nomodel()
    if "pipelined" in levers:
        _pipelined()
    if "noslots" in levers:
        import edge.service_build as sv  # build() and swap_model() look load_slots up there

        sv.load_slots = lambda model: None
    if "arena1" in levers:
        import ctypes

        M_ARENA_MAX = -8  # glibc malloc.h
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 1)


def _nolog() -> None:
    import logging

    import edge.mqtt.link as mq

    orig = mq.Link.__init__

    def init(self, *a, **k):
        orig(self, *a, **k)
        if not mq.log.isEnabledFor(logging.DEBUG):
            self._client.on_log = None

    mq.Link.__init__ = init


def _props() -> None:
    import struct

    import edge.mqtt.link as mq
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties, VariableByteIntegers

    cache: dict[tuple, bytes] = {}

    class PackedProps(Properties):
        """PUBLISH properties with a cached pack(); any other packet type gets paho's own class."""

        def __new__(cls, packet_type):
            if packet_type != PacketTypes.PUBLISH:
                return Properties(packet_type)
            return object.__new__(cls)

        def __init__(self, packet_type):  # noqa: D107 - paho's __init__ and __setattr__ are the cost
            object.__setattr__(self, "packetType", packet_type)
            object.__setattr__(self, "_vals", {})

        def __setattr__(self, name, value):
            self._vals[name] = value

        def __getattr__(self, name):
            try:
                return self.__dict__["_vals"][name]
            except KeyError:
                raise AttributeError(name) from None

        def __str__(self):
            return str(self._vals)

        __repr__ = __str__

        def pack(self):
            corr = self._vals.get("CorrelationData")
            key = tuple(sorted((k, v) for k, v in self._vals.items() if k != "CorrelationData"))
            base = cache.get(key)
            if base is None:
                real = Properties(PacketTypes.PUBLISH)
                for k, v in key:
                    setattr(real, k, v)
                packed = real.pack()
                _, n = VariableByteIntegers.decode(packed)
                base = cache[key] = packed[n:]
            body = base if corr is None else base + b"\x09" + struct.pack(">H", len(corr)) + bytes(corr)
            return VariableByteIntegers.encode(len(body)) + body

    # the same bytes as paho's, checked once here
    a, b = PackedProps(PacketTypes.PUBLISH), Properties(PacketTypes.PUBLISH)
    for p in (a, b):
        p.PayloadFormatIndicator = 1
        p.ContentType = "application/json"
        p.CorrelationData = b"\x00\x01corr"
    got, want = Properties(PacketTypes.PUBLISH), Properties(PacketTypes.PUBLISH)
    got.unpack(a.pack())
    want.unpack(b.pack())
    assert got.json() == want.json(), (got, want)
    mq.Properties = PackedProps


def _memcache() -> None:
    import collections
    import threading

    import edge.outbox as ob

    init, answered, remember, close = ob.Outbox.__init__, ob.Outbox.answered, ob.Outbox.remember, ob.Outbox.close

    def new_init(self, *a, **k):
        init(self, *a, **k)
        with self._lock:
            rows = self._db.execute("SELECT request_id FROM answered ORDER BY seq").fetchall()
        self._m_order = collections.deque(hash(r[0]) for r in rows)
        self._m_ids = collections.Counter(self._m_order)
        self._m_pending: dict[str, bytes] = {}
        self._m_lock = threading.Lock()
        self._m_stop = threading.Event()

        def flusher():
            while not self._m_stop.wait(1.0):
                flush(self)

        self._m_thread = threading.Thread(target=flusher, name="edge-answered", daemon=True)
        self._m_thread.start()

    def flush(self):
        with self._m_lock:
            batch = list(self._m_pending.items())
        if batch:
            try:
                remember(self, batch)
            except Exception:  # the store degraded: kept in memory, tried again next second
                return
            with self._m_lock:
                for rid, res in batch:
                    if self._m_pending.get(rid) is res:
                        del self._m_pending[rid]

    def new_answered(self, request_id):
        if hash(request_id) not in self._m_ids:
            return None  # the common case: a new id, no SQLite read
        with self._m_lock:
            v = self._m_pending.get(request_id)
        return v if v is not None else answered(self, request_id)

    def new_remember(self, entries):
        if not entries or self.answered_max <= 0:
            return
        with self._m_lock:
            for rid, res in entries:
                self._m_pending[rid] = bytes(res)
                h = hash(rid)
                self._m_ids[h] += 1
                self._m_order.append(h)
            while len(self._m_order) > self.answered_max:
                h = self._m_order.popleft()
                self._m_ids[h] -= 1
                if self._m_ids[h] <= 0:
                    del self._m_ids[h]

    def new_close(self):
        self._m_stop.set()
        flush(self)
        close(self)

    ob.Outbox.__init__, ob.Outbox.answered, ob.Outbox.remember, ob.Outbox.close = (
        new_init, new_answered, new_remember, new_close)


def _inline() -> None:
    import threading
    import time

    import edge.service as sv
    from edge.answers import Work

    init, on_message = sv.Service.__init__, sv.Service._on_message  # noqa: SLF001

    def new_init(self, *a, **k):
        init(self, *a, **k)
        self._inline_lock = threading.Lock()
        handle = self.pipeline.handle

        def locked(batch):
            with self._inline_lock:
                handle(batch)

        self._inline_handle = handle
        self.pipeline.handle = locked

    def new_on_message(self, msg):
        # idle: nothing queued, the worker free, and none of our publications awaiting a PUBACK
        # (under load there always are, and answering in paho's thread would serialise the model
        # behind the network work: -40% throughput when done always)
        if (self._accepting and msg.topic in self.request_topics and self.queue.empty()
                and not self._flush.is_set() and self.link.in_flight() == 0
                and self._inline_lock.acquire(blocking=False)):
            try:
                self._inline_handle([Work("request", msg, time.perf_counter())])
            finally:
                self._inline_lock.release()
            return
        on_message(self, msg)

    sv.Service.__init__, sv.Service._on_message = new_init, new_on_message  # noqa: SLF001


def _reactor() -> None:
    import time

    import edge.mqtt.link as mq
    import edge.service as sv
    from edge.answers import Work

    make = mq.Link._make_client

    def make_client(self, password):
        client = make(self, password)
        link = self

        class Client(type(client)):
            def loop_misc(self):
                rc = super().loop_misc()
                hook = getattr(link, "_after_read", None)
                if hook is not None:
                    hook()
                return rc

        client.__class__ = Client
        return client

    mq.Link._make_client = make_client
    init, on_message = sv.Service.__init__, sv.Service._on_message

    def new_init(self, *a, **k):
        init(self, *a, **k)
        self._inbox = []
        self.link._after_read = self._drain_inbox

    def new_on_message(self, msg):
        if self._accepting and msg.topic in self.request_topics and not self._flush.is_set():
            self._inbox.append(Work("request", msg, time.perf_counter()))
            return
        on_message(self, msg)

    def drain(self):
        batch = self._inbox
        if not batch:
            return
        self._inbox = []
        if self.queue.empty() and not self._flush.is_set() and self._busy.acquire(blocking=False):
            try:
                limit = self.s.model.batch_size
                for i in range(0, len(batch), limit):
                    self.pipeline.handle(batch[i:i + limit])
            finally:
                self._busy.release()
        else:
            for w in batch:
                self.queue.put(w)

    sv.Service.__init__, sv.Service._on_message, sv.Service._drain_inbox = new_init, new_on_message, drain


def _pipelined() -> None:
    """The model on a thread of its own, overlapping paho's network work (its invoke releases the GIL);
    everything else stays on paho's thread. Inline as now when the link is idle."""
    import collections
    import queue as q
    import threading

    import edge.service as sv

    init = sv.Service.__init__

    def new_init(self, *a, **k):
        init(self, *a, **k)
        self._mq = q.SimpleQueue()
        self._done = collections.deque()
        self._waiting = []
        self._model_busy = False

        def model_loop():
            while True:
                todo = self._mq.get()
                if todo is None:
                    return
                try:
                    pairs = self.pipeline._classify(todo)
                except Exception:
                    pairs = []
                self._done.append(pairs)
                try:
                    self.link._client._sockpairW.send(b"\0")
                except Exception:
                    pass

        threading.Thread(target=model_loop, daemon=True, name="edge-model").start()

    def finish(self, pairs):
        p = self.pipeline
        for r, pred in pairs:
            with p._guard(r.work):
                r.pred = pred
                r.slots = p._slots(r)
                if r.work.kind == "hermes":
                    p._answer_hermes(r)
                    continue
                p._decide_and_publish(r)
        p.flush()
        p._remember([r for r, _ in pairs if r.result is not None])

    def answer(self):
        while self._done:
            finish(self, self._done.popleft())
            self._model_busy = False
        batch = self._inbox
        self._inbox = []
        if batch:
            if self._flush.is_set() or not self.queue.empty():
                for w in batch:
                    self.queue.put(w)
                batch = []
        if batch:
            p = self.pipeline
            todo = []
            for work in batch:
                with p._guard(work):
                    if p._drop_retained(work):
                        continue
                    r = p._parse(work)
                    if r is None or p._from_cache(r) or p._in_flight(r):
                        continue
                    todo.append(r)
            if todo and not self._model_busy and not self._waiting and self.link.in_flight() == 0:
                finish(self, p._classify(todo))
                todo = []
            self._waiting += todo
        if self._waiting and not self._model_busy:
            self._model_busy = True
            self._mq.put(self._waiting)
            self._waiting = []

    sv.Service.__init__, sv.Service._answer_batch = new_init, answer


def _nomodel() -> None:
    """Diagnosis, not a proposal: Model.classify answers at once with the first label (no tokenizer,
    no interpreter), so the daemon's own plumbing is measured without the model's cost."""
    import edge.model as md

    def classify(self, texts):
        return [md.Prediction(self.labels[0], 0.99, self.labels[0]) for _ in texts]

    md.Model.classify = classify


def main(argv: list[str]) -> int:
    levers = set(argv[0].split(",")) - {""}
    apply(levers)
    from edge import __main__ as cli

    if "lazycli" in levers and argv[1:2] == ["run"]:
        p = argparse.ArgumentParser(prog="edge run")
        p.add_argument("--config")
        p.add_argument("--profile")
        return cli.cmd_run(p.parse_args(argv[2:]))
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
