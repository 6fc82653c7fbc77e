"""`DaemonPool`: a fixed pool of daemon threads, the executor of every blocking job the loop hands off
(the cloud calls, the broker's connect, a deployment's steps)."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future
from typing import Any, Callable


class DaemonPool(Executor):
    """A fixed pool of daemon threads for blocking calls.

    Not ThreadPoolExecutor: Python's exit joins that one's threads, so a call stuck in a
    connect (which no socket shutdown reaches) would hold the process past systemd's
    TimeoutStopSec. The stop answers such calls itself (`Escalations.close`) and leaves their
    threads behind; nothing they do afterwards publishes or writes."""

    def __init__(self, workers: int, name: str = "edge-cloud") -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple, dict] | None] = queue.SimpleQueue()
        self._shut = False
        self._lock = threading.Lock()
        self._workers = workers
        self._name = name
        # Started at the first job: with no cloud configured the daemon runs without them (a thread
        # costs its stack and, once it allocates, a malloc arena).
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:  # type: ignore[override]
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if not self._threads:
                self._threads = [threading.Thread(target=self._work, name=f"{self._name}-{i}", daemon=True)
                                 for i in range(self._workers)]
                for t in self._threads:
                    t.start()
            future: Future = Future()
            self._jobs.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shut = True
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for t in self._threads:
                t.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # the jobs guard themselves; this keeps the thread alive anyway
                future.set_exception(exc)
