"""Deferred escalations: the record queued while the cloud was down, its replay once the breaker
closes (a second result, same id, `"source": "cloud"`), and the breaker's half-open probe.

An escalation wanted while the cloud was down was answered locally and queued on disk
(`defer_record`: its device result as published, plus a home request's language). The service's
housekeeping tick calls `DeferredReplays.retry`: with the cloud up it replays up to `workers` queued
items, one wave at a time (keeping their order and the load gentle); with the breaker open it makes
the one half-open probe when one is due, with a queued item when there is one. A replay whose call
fails stays queued; one that fails in any other way is dropped (logged), never raised.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from edge.answers import Answers
from edge.cloud_calls import CloudCalls, is_cloud_error
from edge.contract import Request
from edge.health import Health
from edge.model import Prediction
from edge.outbox import Deferred, EscalationStore

if TYPE_CHECKING:
    from edge.home_cloud_mqtt import HomeAsk

log = logging.getLogger("edge.escalation")

# In a deferred request's queued record (its device result as published, plus this key; never published
# itself): the language a home request was said in, which its replay is checked in.
HOME_LANGUAGE = "home_language"


def defer_record(payload: bytes, home_language: str | None) -> bytes:
    """What the deferred queue keeps of a device result: the payload as published, plus a home
    request's language (HOME_LANGUAGE), which its replay is checked in: polarity words, number
    words and names are per language."""
    if home_language is None:
        return payload
    record = json.loads(payload)
    record[HOME_LANGUAGE] = home_language
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _home_language(item: Deferred) -> str | None:
    """The language a queued home request was said in (defer_record); None for any other request
    (a record that does not parse is left to the replay, which drops it)."""
    try:
        record = json.loads(item.local_result)
    except ValueError:
        return None
    lang = record.get(HOME_LANGUAGE) if isinstance(record, dict) else None
    return lang if isinstance(lang, str) and lang else None


class DeferredReplays:
    """Replays of the deferred queue and the breaker's probes, on `calls`' pool."""

    def __init__(self, calls: CloudCalls, store: EscalationStore, health: Health, answers: Answers,
                 workers: int, clock: Callable[[], float]) -> None:
        self.calls = calls
        self.store = store
        self.health = health
        self.answers = answers
        self.workers = workers
        self.clock = clock

    def retry(self) -> None:
        """Replay deferred escalations when the cloud is up; when it is down, probe once per cool-down."""
        calls, router = self.calls, self.calls.router
        if calls.cloud is None:
            return
        if calls.replaying():
            return  # one wave of replays at a time keeps their order and the load gentle
        pending = self.store.deferred_count()
        if router.cloud_up:
            if not pending:
                return
            items = self.store.deferred(self.workers)
        elif router.probe_due():
            # We now own the breaker's single half-open probe and must report its outcome.
            if not pending:
                self._submit_probe()
                return
            items = self.store.deferred(1)  # the probe is a real deferred request
        else:
            return
        home_now = calls.home_prompt() is not None
        for item in items:
            lang = _home_language(item)
            if (lang is not None) != home_now:
                # Queued by a home model and the model answering now is none, or the other way round (a
                # deployment came between): its reply could not be checked as what it was asked about.
                log.warning("deferred request %s dropped: queued by another kind of model than the one "
                            "answering now, its cloud reply could not be checked", item.request_id)
                self.health.count("deferred_unchecked")
                self._drop(item)
                continue
            home = calls.home(lang)
            if not router.budget.spend():  # admits the call and writes it to the ledger
                if not router.cloud_up:
                    router.record_failure()  # no budget to probe with: stay open, try later
                return
            if not calls.submit(self._replay, item, home, deferred=True):
                return  # the pool is gone (a stop): the item stays queued for the next start

    def _replay(self, item: Deferred, home: HomeAsk | None = None) -> None:
        """Pool thread: the cloud's second opinion on a deferred escalation; the rest on the loop."""
        ans: Any = None
        err: BaseException | None = None
        try:
            ans = self.calls.ask(item.text, home)
        except BaseException as exc:
            err = exc
        self.calls.post(lambda: self._replayed(item, ans, err, home))

    def _replayed(self, item: Deferred, ans: Any, err: BaseException | None, home: HomeAsk | None = None) -> None:
        """On the loop: complete an escalation queued while the cloud was down (a second result, same id)."""
        calls = self.calls
        try:
            if is_cloud_error(err):
                if not calls.closed:
                    calls.failed(err)  # type: ignore[arg-type]
                return  # stays queued for the next attempt
            if calls.closed:
                return  # answered after the stop: it stays queued, replayed after the next start
            if err is not None:
                raise err
            calls.succeeded()
            local = json.loads(item.local_result)
            request = Request(id=item.request_id, text=item.text)
            # latency_ms counts from when the request was answered offline (its arrival, near enough).
            # Not a new request: health already counted it and its latency, so record=False.
            t0 = self.clock() - max(0.0, time.time() - item.created)
            device_intent = str(local.get("intent") or "oos")
            device = Prediction(device_intent, float(local.get("confidence") or 0.0), device_intent)
            if home is not None:
                from edge.home_cloud_mqtt import result

                checked = result(self.answers, self.health, request, device, t0, ans, home, "offline", False)
                if checked is not None:  # refused: the device's result stands, no second one
                    self.health.count("deferred_completed")
                    self.answers.publish_second(checked)
                self._drop(item)
                return
            second = self.answers.cloud(request, device, list(local.get("slots") or []), ans.intent, ans.answer,
                                        "offline", t0, record=False, cloud_slots=getattr(ans, "slots", None))
            self.health.count("deferred_completed")
            self.answers.publish_second(second)
            self._drop(item)
        except Exception:
            log.exception("deferred escalation %s failed unexpectedly; dropping it", item.request_id)
            self.health.record_error()
            self._drop(item)
        finally:
            calls.done(True)

    def _drop(self, item: Deferred) -> None:
        try:
            self.store.remove_deferred(item.seq)
        except Exception as exc:  # replayed again later: a duplicate second result, not a crash
            self.health.storage.failed("deferred queue", exc)

    def _submit_probe(self) -> None:
        calls = self.calls

        def probe() -> None:  # pool thread: the call; its outcome is recorded on the loop
            err: BaseException | None = None
            try:
                calls.cloud.probe()
            except BaseException as exc:
                err = exc
            calls.post(lambda: probed(err))

        def probed(err: BaseException | None) -> None:
            try:
                if is_cloud_error(err):
                    calls.router.record_failure(err.retry_after)  # type: ignore[union-attr]
                elif err is not None:
                    log.error("cloud probe failed unexpectedly", exc_info=err)
                    calls.router.record_failure()
                else:
                    calls.succeeded()
            finally:
                calls.done(True)

        if not calls.submit(probe, deferred=True):
            calls.router.record_failure()  # the probe we own was never made: stay open, try later
