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
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import json
from dataclasses import dataclass, field

from edge import contract
from edge.answers import Answers
from edge.contract import BadRequest, Publication, Request, Result
from edge.escalation import Escalations, defer_record
from edge.health import Health
from edge.integrations import hermes
from edge.model import OOS, Prediction
from edge.mqtt import Message
from edge.outbox import PipelineStore
from edge.router import CLOUD, DEFER, Router

log = logging.getLogger("edge.pipeline")



@dataclass(slots=True, eq=False)
class Work:
    """One delivery from the broker, acknowledged exactly once: `ack` (the link's) is bound when the
    request is taken, and `acknowledge` is what delivery runs once its answer is safe."""

    kind: str  # "request" | "hermes"
    msg: Message
    received: float  # perf_counter at arrival: result latency is measured from here
    ack: Callable[[int, int], None]  # the link's ack(mid, qos)
    answered: bool = False  # its answer was handed to delivery, which acks once it is safe
    acked: bool = False
    unsafe: bool = False  # its answer could be neither published nor stored: not cached, not acked
    request: Request | None = None  # once parsed: where an internal error must go too
    failed: bool = False  # an internal error answered it (a model that raises: probation counts it)

    def acknowledge(self) -> None:
        """Once (the last PUBACK and a guard may both get here)."""
        if not self.acked:
            self.acked = True
            self.ack(self.msg.mid, self.msg.qos)

    def mark_unsafe(self) -> None:
        self.unsafe = True


@dataclass(slots=True, eq=False)
class Routed:
    """A parsed request on its way: its delivery, the model's prediction, slots, the result once made."""

    work: Work
    request: Request
    pred: Prediction | None = None
    query: Any = None  # the Hermes NLU query, for requests that came that way
    slots: list[dict[str, Any]] = field(default_factory=list)
    result: Result | None = None  # the device's result, once published (the answered-id cache keeps it)
    # A home model's result edge.home.decide refused: {"reason", "detail"}; it is then not stood behind
    not_recognized: dict[str, str] | None = None
    # The served language of a request a home model answered: its escalation takes the home cloud path
    # (edge.home_cloud's prompt and checks), never the generic one
    home_language: str | None = None


def _decode(payload: bytes) -> dict:
    try:
        obj = json.loads(payload)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


class Classifier(Protocol):
    def classify(self, texts: Sequence[str]) -> list[Prediction]: ...


class SlotSource(Protocol):
    def extract(self, text: str, intent: str) -> list[dict[str, Any]]: ...


_NAMED = ("name", "area", "floor")  # slots whose values are the home's names


def _home_model(pred: Prediction) -> bool:
    """A Home Assistant intent model (models/home): its labels are HA's intents (HassTurnOn, ...), so
    its results take edge.home's decision, the one Wyoming takes. Another model never imports it."""
    return isinstance(pred.top_intent, str) and pred.top_intent.startswith("Hass")


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
        self._home_prompt: tuple[tuple[Any, ...], Any] | None = None  # (model, slots, names), its HomePrompt

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
                q = hermes.parse_query(msg.payload, self.max_payload_bytes)
                request = Request(id=q.id or contract.new_id(), text=q.input, generated_id=q.id is None)
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
                if _home_model(r.pred):
                    r.not_recognized = {"reason": "error", "detail": "slot extraction failed"}
                return []
        if _home_model(r.pred):
            return self._home(r, found)
        if self.names is not None and found:
            self._resolve_names(found, r.request.language)
        return found

    def _home(self, r: Routed, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The home model's result decided as Wyoming decides it (edge.home.decide: the same safety rules
        and names): recognized, its slots are the resolved entities on the words they came from; refused,
        `r.not_recognized` says why and the slots stay as the tagger found them (words as said)."""
        from edge import home  # only for a home model

        assert r.pred is not None
        served = (self.first_language, *sorted(self.languages - {self.first_language}))
        language = r.request.language
        r.home_language = served[0] if language is None else home.base_language(language, served)
        try:
            d = home.decide(r.request.text, r.request.language, r.pred, found, self.names, served=served,
                            threshold=max(self.escalation_threshold, home.MIN_CONFIDENCE),
                            schema=(getattr(self.model, "manifest", None) or {}).get("home_schema"))
        except Exception:  # a names file that trips the resolver: refused, as Wyoming refuses it
            log.exception("the home decision failed for %s; not standing behind it", r.request.id)
            d = home.NotUnderstood("error", "the home decision failed")
        if isinstance(d, home.Recognized):
            return [dict(s) for s in d.slots]
        r.not_recognized = {"reason": d.reason, "detail": d.detail}
        return found

    def _resolve_names(self, found: list[dict[str, Any]], language: str | None) -> None:
        """Name, area and floor slots resolved together against the names file; when they resolve, each
        one's `value` is the exact name (the canonical form of a user-defined value, as the contract
        says). Ambiguous or unknown: the values stay as said, so nothing names the wrong thing."""
        spans = {s["name"]: s.get("raw") for s in found if s.get("name") in _NAMED}
        if not spans or len(spans) != sum(1 for s in found if s.get("name") in _NAMED):
            return  # nothing to resolve, or a slot twice: which one is meant?
        lang = contract.primary_language(language) if language else self.first_language
        try:
            res = self.names.resolve(spans, lang)
        except Exception:
            log.exception("name resolution failed; slots keep the words as said")
            return
        resolved = getattr(res, "slots", None)
        if getattr(res, "reason", None) is not None or not isinstance(resolved, Mapping):
            return
        for s in found:
            if s.get("name") in _NAMED and s["name"] in resolved:
                s["value"] = resolved[s["name"]]

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
        d = self.router.decide(intent, r.pred.confidence, allow_cloud)
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
        """The home cloud prompt (edge.home_cloud_prompt.HomePrompt: the served Hass* intents with their
        slots, the names) of the model, slot extractor and names answering now, made once for each;
        None for a model that is no home model. A home escalation asks the cloud with it
        (edge.escalation, wired by edge.service_build); after a deployment it follows the new model."""
        key = (self.model, self.slots, self.names)
        cached = self._home_prompt
        if cached is not None and all(a is b for a, b in zip(cached[0], key)):
            return cached[1]
        labels = tuple(getattr(self.model, "labels", None) or ())
        prompt = None
        if any(isinstance(label, str) and label.startswith("Hass") for label in labels):
            from edge.home_cloud_prompt import HomePrompt

            prompt = HomePrompt.of(labels, getattr(self.slots, "intents", None), self.names)
        self._home_prompt = (key, prompt)
        return prompt

    def _answer_hermes(self, r: Routed) -> None:
        assert r.pred is not None
        if r.not_recognized is not None:  # what Wyoming would answer not-recognized
            msg = hermes.not_recognized_message(r.query)
            self.health.record_result((self.clock() - r.work.received) * 1000, False)
            self.answers.deliver([(msg[0], msg[1], 1, False, None)], r.work)
            return
        msgs = hermes.responses(r.query, r.pred.intent, r.pred.confidence, self.escalation_threshold, r.slots)
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

    @contextmanager
    def _guard(self, work: Work) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self._internal_error(work, exc)

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
        if req is None and work.msg.response_topic and not contract.reply_topic_problem(
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
