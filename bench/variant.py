"""Run `edge run` with candidate changes applied from outside, to measure them before edge/ changes.

    python bench/variant.py LEVER[,LEVER...] run --config FILE

Each lever is a monkeypatch of the shipped code that stands in for a proposed
edit, or a diagnosis (what the daemon costs without a part); the daemon is
otherwise exactly `python -m edge run`, one asyncio loop owning every socket
(edge/service.py). `bench/levers.py` and `bench/run.py` run it as
`--daemon PYTHON:LEVERS`. Levers:

- `memcache`  edge/outbox.py answered/remember: the answered-id cache in memory (a set of
              id hashes, so a new id costs no SQLite read) and written to SQLite once a
              second by a thread of its own, instead of one write transaction per
              micro-batch on the loop (after the batch's results are flushed). A SIGKILL
              loses the last second of cached ids. Measured, not adopted (docs/guarantees.md);
- `gcfreeze`  gc.freeze() once the daemon is built: the ~300,000 objects of the imports and
              the model leave the collector's generations, so a full collection does not
              walk them (a pause on the loop) and fewer pages are touched by it;
- `arena1`    glibc mallopt(M_ARENA_MAX, 1) before any thread starts (in a unit file:
              Environment=MALLOC_ARENA_MAX=1): one malloc arena for the loop and the
              connect/cloud threads instead of one per thread that allocates;
- `nomodel`   diagnosis: Model.classify answers at once (no tokenizer, no interpreter);
- `noslots`   diagnosis: no slot extractor (results without slots);
- `none`      nothing (the same process tree as the other levers, for a like-for-like run).

The threaded design's levers (`inline`, `reactor`, `pipelined`: the worker/inline switch;
`nolog`, `props`, `sqlcache`: adopted into edge/ long ago) were removed with that design
(issue 24); they are in this file's git history before the one-loop round. So were `lazycli` and
`nopsutil` once adopted (edge/__main__.py's run_args, edge/health.py's ProcessReadings).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Last, not first: a PYTHONPATH naming another checkout (`--daemon PY:LEVERS@TREE`) keeps its edge/.
sys.path.append(str(Path(__file__).resolve().parent.parent))

LEVERS = {"memcache", "gcfreeze", "arena1", "nomodel", "noslots", "none"}


def apply(levers: set[str]) -> None:
    unknown = levers - LEVERS
    if unknown:
        raise SystemExit(f"unknown lever(s) {sorted(unknown)}; known: {sorted(LEVERS)}")
    if "arena1" in levers:  # first: before anything below can start a thread
        import ctypes

        M_ARENA_MAX = -8  # glibc malloc.h
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 1)
    if "memcache" in levers:
        _memcache()
    if "nomodel" in levers:
        _nomodel()
    if "noslots" in levers:
        import edge.service_build as sv  # build() and swap_model() look load_slots up there

        sv.load_slots = lambda model: None
    if "gcfreeze" in levers:
        _gcfreeze()


def _gcfreeze() -> None:
    import gc

    import edge.service as sv

    init = sv.Service.__init__

    def new_init(self, *a, **k):
        init(self, *a, **k)
        gc.collect()
        gc.freeze()  # everything alive now (imports, model, parts) is never scanned again

    sv.Service.__init__ = new_init


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

    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
