"""`CloudCalls`: the bookkeeping every cloud call shares, whoever makes it (an escalation, a deferred
replay, a breaker probe): the job handed to the pool and counted busy until its outcome is back on the
loop, the stop that refuses new jobs, the blocking call itself (generic or home), and the breaker told
of each outcome, with one warning per run of failures.

A pool thread only waits for the cloud: its outcome goes back to the loop through `post` (the loop's
call_soon_threadsafe), which publishes and writes. Every `busy += 1` here has its `-= 1` in `done`,
called by the job's own outcome handler or here when the pool refuses the job, so the drain never
waits on a job that does not exist.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Callable

from edge.health import Health
from edge.router import Router

if TYPE_CHECKING:
    from edge.cloud import CloudError
    from edge.home_cloud_mqtt import HomeAsk

log = logging.getLogger("edge.escalation")

_AUTH_HINT = {401: " (check EDGE_CLOUD_API_KEY / the cloud_api_key credential)", 403: " (the key may not use this model)"}


class CloudCalls:
    """The cloud client, the pool its calls run on, and the counters and flags around them."""

    def __init__(self, cloud: Any, router: Router, health: Health, pool: Executor,
                 post: Callable[[Callable[[], None]], None] = lambda fn: fn(), redact: bool = True) -> None:
        self.cloud = cloud  # CloudClient or a fake: classify(text) -> CloudAnswer, probe(); None: no cloud
        self.router = router
        self.health = health
        self.pool = pool
        self.post = post  # hands a pool thread's outcome to the loop (in-process tests: run it now)
        self.redact = redact  # [cloud] redact, for the home calls (classify redacts by itself)
        # The home cloud prompt (edge.home_cloud_prompt.HomePrompt) of the model answering now, or None
        # when it is no home model: edge.service_build wires the pipeline's `home_prompt` here.
        self.home_prompt: Callable[[], Any] = lambda: None
        self._lock = threading.Lock()
        self.busy = 0  # cloud calls in flight (health's queue_depth counts them)
        self.deferred_busy = 0  # of which replays of deferred escalations and probes
        self._closed = False  # stopped: late calls publish and write nothing
        self._failing = False  # the last call failed: warned once, until one succeeds

    # -- jobs on the pool ------------------------------------------------------------------

    def submit(self, fn: Callable[..., None], *args: Any, deferred: bool) -> bool:
        """Count a job as busy and hand it to the pool; False (counters unwound) when the pool
        refuses it (shut down by a stop) or the calls are closed."""
        with self._lock:
            if self._closed:
                return False
            self.busy += 1
            if deferred:
                self.deferred_busy += 1
        try:
            self.pool.submit(fn, *args)
        except RuntimeError:
            self.done(deferred)
            return False
        return True

    def done(self, deferred: bool) -> None:
        """A job's outcome has been handled on the loop (or the job never ran)."""
        with self._lock:
            self.busy -= 1
            if deferred:
                self.deferred_busy -= 1

    def replaying(self) -> bool:
        """True while a wave of deferred replays (or a probe) is out, or after the stop."""
        with self._lock:
            return bool(self.deferred_busy) or self._closed

    def close(self) -> None:
        """From here on take no job; outcomes that come back later are ignored by their handlers."""
        with self._lock:
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the call ------------------------------------------------------------------------------

    def home(self, lang: str | None) -> HomeAsk | None:
        """On the loop: the home call for a request in `lang` (a served language) with the prompt of
        the model answering now; None for a request that is no home one, or without a home prompt."""
        if lang is None:
            return None
        prompt = self.home_prompt()
        if prompt is None:
            return None
        from edge.home_cloud_mqtt import HomeAsk

        return HomeAsk(prompt, lang)

    def ask(self, text: str, home: HomeAsk | None) -> Any:
        """Pool thread: the blocking call, generic (a CloudAnswer) or home (the reply's JSON value)."""
        if home is None:
            return self.cloud.classify(text)
        from edge.home_cloud_mqtt import ask

        return ask(self.cloud, home, text, self.redact)

    # -- outcomes, for the breaker and the log -------------------------------------------------

    def failed(self, exc: CloudError) -> None:
        self.router.record_failure(exc.retry_after)
        self.health.record_cloud_error()
        hint = _AUTH_HINT.get(exc.status or 0, "")
        if not self._failing:
            self._failing = True
            log.warning("cloud call failed (%s: %s)%s; the device's answer stands", exc.kind, exc.message, hint)
        else:
            log.debug("cloud call failed again (%s: %s)", exc.kind, exc.message)

    def succeeded(self) -> None:
        self.router.record_success()
        if self._failing:
            self._failing = False
            log.info("cloud calls succeed again")


def is_cloud_error(exc: BaseException | None) -> bool:
    """A CloudError (the cloud said no, or could not be reached). edge.cloud is imported only when a
    cloud is configured (http.client and email cost 3 MB of RSS, measured): an outcome of a cloud
    call means it is loaded already, so this import is a dictionary look-up."""
    if exc is None:
        return False
    from edge.cloud import CloudError

    return isinstance(exc, CloudError)
