"""One request's life, top to bottom: parse, cache, classify, slots, decide, publish, acknowledge.

`Pipeline.handle(batch)` is the whole request path. It has no threads of its
own (the service's event loop calls it with each read's micro-batch) and every
collaborator is passed in: the model, the router, the store (outbox), the
escalations (cloud pool), the answers (publications and acks), the slot
extractor and the clock, so it runs in-process in tests with fakes.

The guard: each request is handled under `_guard`, which turns anything
unexpected into an `internal_error` for that request alone, sent where its
result would have gone, and acknowledges it. A poison message is therefore
answered once and never redelivered forever, and the requests batched with it
are unaffected. Expected trouble is not an error: storage failures degrade
(the answered-id cache is best-effort; a result that cannot be made safe is
not acknowledged, see `delivery`), a failing slot extractor gives no slots.

What it hands along is edge/work.py's (`Work`, `Routed`, re-exported here); a home model's
part of the path (edge.home's decision, names, the home cloud prompt) is edge/pipeline_home.py.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Protocol, Sequence

from edge import contract, pipeline_home
from edge.answers import Answers
from edge.contract import BadRequest, Publication, Request
from edge.escalation import Escalations, defer_record
from edge.health import Health
from edge.model import OOS, Prediction
from edge.outbox import PipelineStore
from edge.router import CLOUD, DEFER, Router
from edge.topics import reply_topic_problem
from edge.work import Routed, Work

__all__ = ["Pipeline", "Classifier", "SlotSource", "Routed", "Work"]  # the records re-exported: edge.work's

log = logging.getLogger("edge.pipeline")


def _decode(payload: bytes) -> dict:
    try:
        obj = json.loads(payload)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


class _Guard:
    """`with pipeline._guard(work):` anything the block raises (an Exception, not a BaseException) is
    that request's `internal_error`, and the block ends there. A class rather than a @contextmanager:
    a generator made, started and finished twice for every request cost more than the guarding."""

    __slots__ = ("pipeline", "work")

    def __init__(self, pipeline: Pipeline, work: Work) -> None:
        self.pipeline, self.work = pipeline, work

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        self.pipeline._internal_error(self.work, exc)
        return True


class Classifier(Protocol):
    def classify(self, texts: Sequence[str]) -> list[Prediction]: ...


class SlotSource(Protocol):
    def extract(self, text: str, intent: str) -> list[dict[str, Any]]: ...


class Pipeline:
    def __init__(
        self,
        *,
        model: Classifier,
        router: Router,
        store: PipelineStore,  # the answered-id cache and the deferred queue (outbox.Outbox, or a fake)
        health: Health,
        answers: Answers,
        escalations: Escalations,
        slots: SlotSource | None = None,
        max_payload_bytes: int = 16384,
        forbidden_reply_prefixes: tuple[str, ...] = (),
        allowed_reply_prefixes: tuple[str, ...] = (),
        languages: tuple[str, ...] = ("en",),
        escalation_threshold: float = 1.0,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
        flush: Callable[[], None] = lambda: None,
        on_served: Callable[[float | None, bool, str | None], None] | None = None,
        names: Any = None,
    ) -> None:
        self.model = model
        # The home's names (edge.names.Names, `[home] names`): a name/area/floor slot's value becomes the
        # exact name it resolves to, so MQTT and Hermes results carry what Home Assistant matches on.
        self.names = names
        self.router = router
        self.store = store
        self.health = health
        self.answers = answers
        self.escalations = escalations
        self.slots = slots
        self.max_payload_bytes = max_payload_bytes
        self.forbidden = forbidden_reply_prefixes
        self.allowed = allowed_reply_prefixes  # [mqtt] reply_prefixes: empty = any topic the rules allow
        self.languages = frozenset(languages)  # the model's (primary tags): another one is invalid_field
        self.first_language = languages[0] if languages else "en"  # a request without "language" is in it
        self.escalation_threshold = escalation_threshold
        self.clock, self.cpu_clock = clock, cpu_clock
        self.flush = flush  # send what the batch published now, before the cache write (mqtt.Link.flush)
        # (latency ms, error, model ident) for each request the model classified: a deployment's
        # probation (edge/deploy_channel.py) judges the new model by them.
        self.on_served = on_served
        self._home_prompts = pipeline_home.HomePrompts()

    # -- the request path ------------------------------------------------------------------

    def handle(self, batch: list[Work]) -> None:
        """Answer every delivery in `batch` exactly once; never raises."""
        todo: list[Routed] = []
        ident = getattr(self.model, "ident", None)  # the whole batch runs on one model (swaps come between)
        with self.answers.batch():  # what must wait on disk is written once, at the end of the batch
            for work in batch:
                with self._guard(work):
                    if self._drop_retained(work):
                        continue
                    r = self._parse(work)  # 1. parse (a bad request is answered with its error here)
                    if r is None or self._from_cache(r) or self._in_flight(r):  # 2. cache, or a cloud call
                        continue
                    todo.append(r)
            cpu0 = self.cpu_clock() if self.on_served is not None else 0.0  # the cost, for probation
            for r, pred in self._classify(todo):  # 3. classify, in one batch
                with self._guard(r.work):
                    r.pred = pred
                    r.slots = self._slots(r)  # 4. slots
                    if r.work.kind == "hermes":
                        self._answer_hermes(r)
                        continue
                    self._decide_and_publish(r)  # 5-7. decide, publish, acknowledge once safe
            # a batch of one only: a batch's fixed costs shared out would make a burst look cheap
            # and single requests dear (a baseline from a redelivered backlog, 0.23 ms, rolled back a
            # good model answering one request at a time, 1.2 ms, in the booted device test)
            cpu_ms = (self.cpu_clock() - cpu0) * 1000 if len(todo) == 1 and self.on_served is not None else None
        if todo:
            self.flush()  # the results leave now; the cache write below is not on their way out
        self._remember([r for r in todo if r.result is not None and not r.work.unsafe])
        if todo and self.on_served is not None:
            self._served(todo, ident, cpu_ms)

    def _served(self, todo: list[Routed], ident: str | None, cpu_ms: float | None) -> None:
        """Tell the probation hook how each classified request went; it never breaks the batch.

        The cost given is the loop thread's CPU time for classifying, tagging and deciding a batch of
        one request (None for a bigger batch: not comparable), not the wall time since it arrived: probation asks whether
        the new model is slower, and wall time on a busy device (a flood queued behind, another
        process on the cores) would roll back a good model for the machine's load. Not the whole
        process's CPU time either: right after a swap other threads work (the deployment's own
        writes and clean-up) and a good model measured 1.03 ms against its predecessor's 0.26 ms
        in the booted device test, and was rolled back."""
        try:
            for r in todo:
                assert self.on_served is not None
                self.on_served(cpu_ms, r.work.failed or r.pred is None, ident)
        except Exception:
            log.exception("the on_served hook failed")

    def _drop_retained(self, work: Work) -> bool:
        """A retained request would re-run at every subscribe (reconnect, restart): acknowledge, never act."""
        if not work.msg.retain:
            return False
        self.health.count("retained_dropped")
        log.info("dropped a retained request on %s (a retained request would re-run at every reconnect;"
                 " clear it with an empty retained message)", work.msg.topic)
        work.acknowledge()
        return True

    def _parse(self, work: Work) -> Routed | None:
        """A request to classify, or None when it was malformed (its error is on its way)."""
        msg = work.msg
        try:
            if work.kind == "hermes":
                from edge.integrations import hermes  # only with [integrations] hermes on

                q = hermes.parse_query(msg.payload, self.max_payload_bytes)
                # Rhasspy's `lang` picks a served language ("de", "de-DE"); another, or none: the first served
                lang = q.lang if q.lang and contract.primary_language(q.lang) in self.languages else None
                request = Request(id=q.id or contract.new_id(), text=q.input, generated_id=q.id is None,
                                  language=lang)
                work.request = request
                return Routed(work, request, query=q)
            request = contract.parse_request(
                msg.payload, self.max_payload_bytes, msg.response_topic, msg.correlation, self.forbidden,
                self.allowed,
            )
            if request.language is not None and contract.primary_language(request.language) not in self.languages:
                raise BadRequest(contract.INVALID_FIELD,
                                 f"language {request.language!r} is not served by this model (it serves "
                                 f"{', '.join(sorted(self.languages))})", request.id,
                                 request.reply_to, request.correlation)
        except BadRequest as exc:
            extra = self._hermes_error(work, exc) if work.kind == "hermes" else []
            self.answers.error(work, exc.request_id, exc.code, exc.message, exc.reply_to, exc.correlation, extra)
            return None
        work.request = request
        return Routed(work, request)

    @staticmethod
    def _hermes_error(work: Work, exc: BadRequest) -> list[Publication]:
        """`hermes/error/nlu` for a query that could not be parsed, so the satellite is not left waiting."""
        from edge.integrations import hermes  # only with [integrations] hermes on

        try:
            msg = hermes.error_message(work.msg.payload, f"{exc.code}: {exc.message}")
        except Exception:  # a siteId it cannot encode: <base>/error still tells the story
            log.debug("no hermes/error/nlu for this query", exc_info=True)
            return []
        return [] if msg is None else [(msg[0], msg[1], 1, False, None)]

    def _from_cache(self, r: Routed) -> bool:
        """Same id and same text as a request already answered: a redelivery or a client retry.

        Answered again from the cache, never recomputed (never into the cloud). A client that
        reuses ids for new text gets a fresh answer instead of a stale one. Best-effort: a
        store that cannot be read means a miss, not a failure."""
        if r.request.generated_id or r.work.kind == "hermes":
            return False  # a generated id is new by construction
        try:
            cached = self.store.answered(r.request.id)
        except Exception as exc:
            self.health.storage.failed("answered-id lookup", exc)
            return False
        if cached is None or _decode(cached).get("text") != r.request.text:
            return False
        self.health.count("duplicates")
        self.answers.repeat(r, cached)
        return True

    def _in_flight(self, r: Routed) -> bool:
        """A repeat of an id whose cloud call is still running joins that call (one call per id)."""
        return r.work.kind == "request" and not r.request.generated_id and self.escalations.join(r)

    def _classify(self, todo: list[Routed]) -> list[tuple[Routed, Prediction]]:
        """Predictions for the batch; if the batch fails, one by one, so a poison text fails alone."""
        if not todo:
            return []
        try:
            preds = self.model.classify([r.request.text for r in todo])
            if len(preds) != len(todo):
                raise RuntimeError(f"the model gave {len(preds)} predictions for {len(todo)} texts")
            return list(zip(todo, preds))
        except Exception:
            log.warning("classification failed for a batch of %d; retrying one by one", len(todo), exc_info=True)
        out: list[tuple[Routed, Prediction]] = []
        for r in todo:
            with self._guard(r.work):
                out.append((r, self.model.classify([r.request.text])[0]))
        return out

    def _slots(self, r: Routed) -> list[dict[str, Any]]:
        """The slot extractor's spans; a failing extractor gives none (the intent still stands, except a
        home model's: a home command without its slots is not stood behind, as over Wyoming)."""
        if r.pred is None:
            return []
        found: list[dict[str, Any]] = []
        if self.slots is not None:
            try:
                found = list(self.slots.extract(r.request.text, r.pred.intent))
            except Exception:
                self.health.count("slot_errors")
                log.exception("slot extraction failed for %s; answering without slots", r.request.id)
                if pipeline_home.is_home_model(r.pred):
                    r.not_recognized = {"reason": "error", "detail": "slot extraction failed"}
                return []
        if pipeline_home.is_home_model(r.pred):
            return pipeline_home.decide(r, found, model=self.model, names=self.names,
                                        first_language=self.first_language, languages=self.languages,
                                        threshold=self.escalation_threshold)
        if self.names is not None and found:
            pipeline_home.resolve_names(found, r.request.language, self.names, self.first_language)
        return found

    def _decide_and_publish(self, r: Routed) -> None:
        """Local, cloud or deferred; the device's answer is published now unless the cloud is asked."""
        assert r.pred is not None
        intent, allow_cloud = r.pred.intent, r.request.allow_cloud
        if r.not_recognized is not None:
            # Not stood behind, whatever the confidence. It may go to the cloud like any low confidence
            # when the cloud could overturn the refusal, through the home checks (_home_escalates);
            # otherwise it stays on the device (reason "disabled").
            intent = OOS
            allow_cloud = allow_cloud if self._home_escalates(r) else False
        d = self.router.decide(intent, r.pred.confidence, allow_cloud, sure=r.decided is not None)
        reason = d.reason
        if d.action == CLOUD:
            if self.escalations.join(r):  # the same id earlier in this very batch
                return
            if self.router.budget.spend():  # admits the call and writes it to the ledger
                self.escalations.submit(r, d.reason)
                return
            reason = "budget"
        result = r.result = self.answers.local(r, reason)
        if d.action == DEFER:
            try:
                self.store.defer(r.request.id, r.request.text, defer_record(result.payload, r.home_language))
                self.health.storage.ok()
            except Exception as exc:  # the cloud's second opinion is lost; the device's answer stands
                self.health.storage.failed("deferred queue", exc)
        if not self.answers.publish(r, result):
            r.result = None  # not safe, so not acked: its redelivery must be answered in full, not as a repeat

    def _home_escalates(self, r: Routed) -> bool:
        """May a home model's refusal go to the cloud? Only where the cloud could overturn it (the
        model unsure, a slot or name it could not resolve: edge.home_cloud.ESCALATE, as over Wyoming;
        not a refused language or text), and only on the home path, whose reply is checked against
        the served intents and the names file before anything reaches the intent topic."""
        if r.home_language is None or r.not_recognized is None or self.escalations.cloud is None:
            return False  # no cloud: nothing of the cloud path is imported
        from edge.home_cloud import ESCALATE

        return r.not_recognized.get("reason") in ESCALATE and self.home_prompt() is not None

    def home_prompt(self) -> Any:
        """The home cloud prompt of the model, slot extractor and names answering now
        (edge.pipeline_home.HomePrompts); None for a model that is no home model. A home escalation
        asks the cloud with it (edge.escalation, wired by edge.service_build); after a deployment it
        follows the new model."""
        return self._home_prompts.of(self.model, self.slots, self.names)

    def _answer_hermes(self, r: Routed) -> None:
        from edge.integrations import hermes  # only with [integrations] hermes on

        assert r.pred is not None
        if r.not_recognized is not None:  # what Wyoming would answer not-recognized
            msg = hermes.not_recognized_message(r.query)
            self.health.record_result((self.clock() - r.work.received) * 1000, False)
            self.answers.deliver([(msg[0], msg[1], 1, False, None)], r.work)
            return
        # a home intent HA's template decided (r.decided) is stood behind whatever the model's confidence
        threshold = 0.0 if r.decided else self.escalation_threshold
        msgs = hermes.responses(r.query, r.pred.intent, r.pred.confidence, threshold, r.slots)
        self.health.record_result((self.clock() - r.work.received) * 1000, False)
        self.answers.deliver([(topic, payload, 1, False, None) for topic, payload in msgs], r.work)

    def _remember(self, done: list[Routed]) -> None:
        """Cache the batch's local results by id, in one transaction; best-effort."""
        entries = [(r.request.id, r.result.payload) for r in done if r.result is not None and not r.request.generated_id]
        if not entries:
            return
        try:
            self.store.remember(entries)
            self.health.storage.ok()
        except Exception as exc:
            self.health.storage.failed("answered-id cache", exc)

    # -- the guard ------------------------------------------------------------------------

    def _guard(self, work: Work) -> _Guard:
        return _Guard(self, work)

    def _internal_error(self, work: Work, exc: Exception) -> None:
        """Anything unexpected: `internal_error` for this request alone, then acknowledge it."""
        self.health.count("internal_errors")
        work.failed = True
        log.error("internal error on a request from %s: %s: %s", work.msg.topic, type(exc).__name__, exc,
                  exc_info=exc)
        if work.answered:
            return  # its answer is already with delivery, which acknowledges it once safe
        req = work.request
        reply_to, correlation = (req.reply_to, req.correlation) if req else (None, None)
        if req is None and work.msg.response_topic and not reply_topic_problem(
                work.msg.response_topic, self.forbidden, self.allowed):
            reply_to, correlation = work.msg.response_topic, work.msg.correlation
        try:
            self.answers.error(work, req.id if req else None, contract.INTERNAL,
                               f"internal error ({type(exc).__name__}); the request was dropped", reply_to, correlation)
        except Exception:
            log.exception("could not publish the internal error")
        finally:
            try:
                work.acknowledge()  # never redelivered forever, even if the error could not be sent
            except Exception:
                log.exception("could not acknowledge the request")
