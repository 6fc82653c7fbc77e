"""The request path in-process, with fakes (tests/fakes.py): poison, the guard, storage trouble, races.

Fast (no broker, no model): every case of issue 12 that a fake can stage, each
checking the two promises: every delivery is answered once and acknowledged
(or, when its result cannot be made safe, deliberately not), and nothing
escapes `Pipeline.handle`.
"""

from __future__ import annotations

import json

import pytest
from fakes import BASE, FakeCloud, FakeLink, Rig, msg

from edge import contract
from edge.cloud import CloudError
from edge.pipeline import Work

RESULT, ERROR = f"{BASE}/result", f"{BASE}/error"

# (name, payload, extra message options, expected error code)
POISON = [
    ("lone_low_surrogate_in_id", b'{"id": "x\\udc80", "text": "hello"}', {}, contract.INVALID_FIELD),
    ("lone_high_surrogate_in_text", b'{"text": "hi \\ud800"}', {}, contract.INVALID_FIELD),
    ("surrogate_in_reply_to", b'{"text": "hi", "reply_to": "a/\\udc80"}', {}, contract.INVALID_FIELD),
    ("5000_digit_int", b'{"text": "hi", "n": ' + b"1" * 5000 + b"}", {}, contract.INVALID_JSON),
    ("5000_digit_int_as_id", b'{"id": ' + b"9" * 5000 + b', "text": "hi"}', {}, contract.INVALID_JSON),
    ("1e999999", b'{"text": "hi", "n": 1e999999}', {}, contract.INVALID_JSON),
    ("NaN", b'{"text": "hi", "n": NaN}', {}, contract.INVALID_JSON),
    ("deep_nesting", b"[" * 16000, {}, contract.INVALID_JSON),
    ("deep_object_nesting", b'{"a":' * 2500 + b"1" + b"}" * 2500, {}, contract.INVALID_JSON),
    ("10kb_id", b'{"id": "' + b"i" * 10240 + b'", "text": "hi"}', {}, contract.INVALID_FIELD),
    ("nul_in_id_and_reply_to", b'{"id": "a\\u0000b", "text": "hi", "reply_to": "r/\\u0000"}', {},
     contract.INVALID_FIELD),
    ("reply_to_another_device", b'{"text": "unlock the door", "reply_to": "edge/B/request"}', {},
     contract.INVALID_FIELD),
    ("reply_to_dollar", b'{"text": "hi", "reply_to": "$SYS/x"}', {}, contract.INVALID_FIELD),
    ("reply_to_discovery", b'{"text": "hi", "reply_to": "homeassistant/switch/x/config"}', {},
     contract.INVALID_FIELD),
    ("reply_to_hermes", b'{"text": "hi", "reply_to": "hermes/nlu/query"}', {}, contract.INVALID_FIELD),
    ("response_topic_wildcard", b"hi", {"response_topic": "a/#"}, contract.INVALID_FIELD),
    ("response_topic_request", b"hi", {"response_topic": "edge/B/request"}, contract.INVALID_FIELD),
]


@pytest.mark.parametrize("name,payload,opts,code", POISON, ids=[p[0] for p in POISON])
def test_each_poison_payload_gets_one_error_and_an_ack_and_the_next_request_is_served(name, payload, opts, code):
    rig = Rig()
    [bad] = rig.send(msg(payload, **opts))
    errors = [json.loads(p) for p in rig.link.on(ERROR)]
    assert [e["error"] for e in errors] == [code], errors
    assert rig.acked(bad), "a poison message left unacknowledged is redelivered forever"
    assert not rig.link.on(RESULT)
    # Nothing goes to a refused reply topic: only the error topic was published to.
    assert {t for t, _, _ in rig.link.published} == {ERROR}
    [good] = rig.send(msg(b'{"id": "g", "text": "turn the lights on"}'))
    assert rig.acked(good) and json.loads(rig.link.on(RESULT)[-1])["id"] == "g"


def test_a_poison_text_that_breaks_the_model_fails_alone_in_its_batch():
    rig = Rig()
    batch = rig.send(msg(b'{"id": "a", "text": "weather today"}'), msg(b'{"id": "p", "text": "x \\u0000boom"}'),
                     msg(b'{"id": "b", "text": "book a flight"}'))
    assert all(rig.acked(w) for w in batch)
    assert sorted(json.loads(p)["id"] for p in rig.link.on(RESULT)) == ["a", "b"]
    [err] = [json.loads(p) for p in rig.link.on(ERROR)]
    assert err == {"id": "p", "error": contract.INTERNAL, "message": err["message"]}
    assert rig.health.snapshot(queue_depth=0, outbox=0, cloud="none")["counters"]["internal_errors"] == 1


def test_anything_unexpected_is_an_internal_error_for_that_request_alone_sent_to_the_requester_too():
    rig = Rig()
    real = rig.router.decide

    def decide(intent, confidence, allow_cloud, **kw):
        if allow_cloud is True:
            raise KeyError("a bug")
        return real(intent, confidence, allow_cloud, **kw)

    rig.router.decide = decide  # type: ignore[method-assign]
    batch = rig.send(msg(b'{"id": "bug", "text": "weather", "allow_cloud": true}', response_topic="app/r",
                         correlation=b"c1"),
                     msg(b'{"id": "ok", "text": "weather"}'))
    assert all(rig.acked(w) for w in batch)
    errs = [(t, json.loads(p), c) for t, p, c in rig.link.published if t in (ERROR, "app/r")]
    assert [(t, e["id"], e["error"], c) for t, e, c in errs] == [
        (ERROR, "bug", contract.INTERNAL, None), ("app/r", "bug", contract.INTERNAL, b"c1")]
    assert json.loads(rig.link.on(RESULT)[0])["id"] == "ok"


def test_errors_go_to_the_response_topic_with_correlation_even_for_garbage():
    rig = Rig()
    rig.send(msg(b'{"id": "k7", "text": oops', response_topic="app/reply", correlation=b"\x00corr"))
    [(topic, payload, corr)] = [p for p in rig.link.published if p[0] == "app/reply"]
    body = json.loads(payload)
    assert body["error"] == contract.INVALID_JSON and body["id"] == "k7" and corr == b"\x00corr"


def test_errors_go_to_reply_to_when_the_json_was_readable():
    rig = Rig()
    rig.send(msg(b'{"id": "r1", "text": 5, "reply_to": "app/r1"}'))
    assert json.loads(rig.link.on("app/r1")[0])["error"] == contract.INVALID_FIELD


def test_huge_correlation_data_and_qos_0_and_2_are_served():
    rig = Rig()
    big = b"c" * 60000
    batch = rig.send(msg(b"weather", response_topic="app/r", correlation=big), msg(b"weather", qos=0),
                     msg(b"weather", qos=2))
    assert [c for t, _, c in rig.link.published if t == "app/r"] == [big]
    assert len(rig.link.on(RESULT)) == 3
    assert rig.acked(batch[0]) and rig.acked(batch[2]) and rig.acked(batch[1])


def test_a_retained_request_is_acknowledged_and_never_acted_on():
    rig = Rig()
    [w] = rig.send(msg(b'{"text": "unlock the door"}', retain=True))
    assert rig.acked(w) and rig.link.published == []
    assert rig.health.snapshot(queue_depth=0, outbox=0, cloud="none")["counters"]["retained_dropped"] == 1


def test_only_results_the_daemon_stands_behind_reach_the_intent_topic():
    rig = Rig()  # no cloud: a low-confidence guess is kept with reason "disabled"
    rig.send(msg(b'{"id": "sure", "text": "weather"}'), msg(b'{"id": "guess", "text": "hmm weather"}'))
    results = {json.loads(p)["id"]: json.loads(p) for p in rig.link.on(RESULT)}
    assert results["guess"]["reason"] == "disabled" and results["sure"]["reason"] == "confident"
    assert [json.loads(p)["id"] for p in rig.link.on(f"{BASE}/intent/weather")] == ["sure"]


def test_every_result_carries_slots_and_a_failing_extractor_costs_only_the_slots():
    class Slots:
        def extract(self, text, intent):
            if "boom" in text:
                raise RuntimeError("tagger bug")
            return [{"name": "x", "entity": "number", "raw": "7", "value": 7, "start": 0, "end": 1, "confidence": 1.0}]

    rig = Rig(slots=Slots())
    rig.send(msg(b'{"id": "a", "text": "7 weather"}'), msg(b'{"id": "b", "text": "weather boom"}'))
    got = {json.loads(p)["id"]: json.loads(p)["slots"] for p in rig.link.on(RESULT)}
    assert got == {"a": [{"name": "x", "entity": "number", "raw": "7", "value": 7, "start": 0, "end": 1,
                          "confidence": 1.0}], "b": []}
    plain = Rig()  # no extractor (edge.slots not installed): an empty list, never a missing key
    plain.send(msg(b"weather"))
    assert json.loads(plain.link.on(RESULT)[0])["slots"] == []


def test_a_repeat_is_answered_from_the_cache_and_not_on_the_intent_topic_again():
    rig = Rig()
    rig.send(msg(b'{"id": "d", "text": "weather"}'))
    [w] = rig.send(msg(b'{"id": "d", "text": "weather"}', response_topic="app/r"))
    assert rig.acked(w) and len(rig.model.batches) == 1
    assert len(rig.link.on(RESULT)) == 2 and len(rig.link.on(f"{BASE}/intent/weather")) == 1
    assert rig.link.on("app/r") == rig.link.on(RESULT)[:1]


# -- storage ---------------------------------------------------------------------------------


def test_the_answered_id_cache_is_best_effort():
    rig = Rig()
    rig.store.fail = {"answered", "remember"}
    [w] = rig.send(msg(b'{"id": "s", "text": "weather"}'))
    assert rig.acked(w) and len(rig.link.on(RESULT)) == 1
    assert rig.health.storage.state == "degraded"
    rig.store.fail = set()
    rig.send(msg(b'{"id": "s2", "text": "weather"}'))
    assert rig.health.storage.state == "ok", "storage did not recover by itself"


def test_a_result_that_cannot_be_made_safe_is_not_acknowledged():
    rig = Rig()
    rig.link.connected = False
    rig.store.fail = {"all"}  # a full card: every write fails
    [w] = rig.send(msg(b'{"id": "u", "text": "weather"}'))
    assert not rig.acked(w), "acked a result that is neither PUBACKed nor on disk"
    assert rig.health.snapshot(queue_depth=0, outbox=0, cloud="none")["storage"] == "degraded"
    rig.store.fail = set()
    [w2] = rig.send(msg(b'{"id": "u", "text": "weather"}'))  # the broker redelivers it later
    assert rig.acked(w2) and len(rig.store.rows) == 2 and rig.health.storage.state == "ok"


def test_the_backlog_is_signalled_after_the_outbox_write_and_on_the_link_down_path():
    rig = Rig()
    seen: list[int] = []
    rig.delivery._on_backlog = lambda: seen.append(len(rig.store))
    rig.link.connected = False
    [w] = rig.send(msg(b'{"id": "q", "text": "weather"}'))
    assert rig.acked(w) and seen == [2], "the replay was asked for before the rows it must replay existed"
    rig.link.connected = True
    rig.replay.kick()
    rig.run_timers()
    assert rig.store.rows == [] and len(rig.link.on(RESULT)) == 1 and not rig.replay.busy


def test_the_replay_sends_chunk_by_chunk_and_deletes_rows_only_once_their_pubacks_are_in():
    rig = Rig(link=FakeLink(auto=False))
    rig.link.connected = False
    rig.send(*[msg(f'{{"id": "c{i}", "text": "weather"}}'.encode()) for i in range(3)])  # 6 rows
    rig.link.connected = True
    rig.replay.chunk_size = 4
    rig.replay.kick()
    assert len(rig.link.published) == 4 and len(rig.store.rows) == 6 and rig.replay.busy
    rig.replay.kick()  # a second kick while the chunk is out sends nothing twice
    assert len(rig.link.published) == 4
    rig.link.complete()  # the chunk's PUBACKs: its rows go, the next chunk follows on the next turn
    assert len(rig.store.rows) == 2
    rig.run_timers()
    assert len(rig.link.published) == 6
    rig.link.complete()
    rig.run_timers()
    assert rig.store.rows == [] and not rig.replay.busy
    assert [json.loads(p)["id"] for t, p, _ in rig.link.published if t == RESULT] == ["c0", "c1", "c2"]


def test_a_failing_remove_in_the_puback_callback_does_not_raise_into_the_network_thread():
    rig = Rig()
    rig.link.connected = False
    rig.send(msg(b'{"id": "q", "text": "weather"}'))
    rig.link.connected = True
    rig.store.fail = {"remove"}
    rig.replay.kick()
    assert rig.timers == [] and not rig.replay.busy  # left for the storage probe, not republished in a loop
    assert rig.health.storage.state == "degraded" and len(rig.store.rows) == 2


def test_a_publish_that_raises_keeps_the_result_on_disk():
    rig = Rig()
    rig.link.raise_on = RESULT
    [w] = rig.send(msg(b'{"id": "r", "text": "weather"}'))
    assert rig.acked(w) and [r.topic for r in rig.store.rows] == [RESULT, f"{BASE}/intent/weather"]


# -- escalations -----------------------------------------------------------------------------


def test_a_repeat_while_its_cloud_call_is_in_flight_joins_it_instead_of_calling_again():
    cloud = FakeCloud()
    rig = Rig(cloud=cloud)
    first = rig.send(msg(b'{"id": "e", "text": "hmm weather"}'))
    again = rig.send(msg(b'{"id": "e", "text": "hmm weather"}', response_topic="app/r"))  # a redelivery
    same_batch = rig.send(msg(b'{"id": "f", "text": "hmm weather"}'), msg(b'{"id": "f", "text": "hmm weather"}'))
    assert not rig.acked(first[0]) and not rig.acked(again[0])
    rig.pool.run_all()
    assert cloud.texts == ["hmm weather", "hmm weather"], "one call per id"
    assert all(rig.acked(w) for w in first + again + same_batch)
    assert json.loads(rig.link.on("app/r")[0])["source"] == "cloud"
    assert len(rig.link.on(f"{BASE}/intent/weather")) == 2  # once per id: the repeat did not act again


def test_a_cloud_401_is_logged_with_a_hint(caplog):
    rig = Rig(cloud=FakeCloud(error=CloudError("http", "HTTP 401 unauthorized", status=401)))
    rig.send(msg(b'{"id": "k", "text": "hmm weather"}'))
    rig.pool.run_all()
    assert "HTTP 401" in caplog.text and "EDGE_CLOUD_API_KEY" in caplog.text
    assert json.loads(rig.link.on(RESULT)[0])["reason"] == "cloud_error"


def test_one_expired_escalation_that_fails_does_not_strand_the_others():
    rig = Rig(cloud=FakeCloud())
    batch = rig.send(msg(b'{"id": "x1", "text": "hmm weather"}'), msg(b'{"id": "x2", "text": "hmm weather"}'))
    real = rig.answers.local
    calls = []

    def local(r, reason, escalated=False):
        calls.append(r.request.id)
        if r.request.id == "x1":
            raise RuntimeError("one bad item")
        return real(r, reason, escalated)

    rig.answers.local = local  # type: ignore[method-assign]
    rig.clock_t[0] += 10
    rig.escalations.expire()
    assert calls == ["x1", "x2"] and rig.acked(batch[1])
    rig.pool.run_all()  # the calls find their items expired: no cloud call
    assert rig.cloud.texts == []  # type: ignore[union-attr]


def test_empty_after_normalisation_is_out_of_scope_even_with_an_oos_threshold_of_0():
    from edge.model import Model

    m = Model.load()
    m.oos_threshold = 0.0  # what the service does with [model] oos_threshold = 0
    assert m.classify(["\U0001f600\U0001f600"])[0].intent == contract.OOS


# -- property: whatever the payload, one answer and one ack, in-process (fast: hundreds of examples) --------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from poison_strategies import raw_json_request  # noqa: E402


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(raw_json_request(), st.binary(max_size=300)),
       response_topic=st.none() | st.sampled_from(["app/r", "a/+", "$x", "edge/B/request", "x\udc80"]),
       retain=st.booleans(), qos=st.sampled_from([0, 1, 2]))
def test_any_payload_is_answered_once_and_acked_and_nothing_escapes(payload, response_topic, retain, qos):
    rig = Rig()
    [w] = rig.send(msg(payload, response_topic=response_topic, qos=qos, retain=retain))
    answers = rig.link.on(RESULT) + rig.link.on(ERROR)
    assert rig.acked(w)
    assert len(answers) == (0 if retain else 1), answers
    for body in answers:
        json.loads(body)  # always valid JSON, even when an id or text could not be encoded
    if response_topic not in (None, "app/r"):
        assert {t for t, _, _ in rig.link.published} <= {RESULT, ERROR, f"{BASE}/intent/weather",
                                                          f"{BASE}/intent/lights_on", f"{BASE}/intent/book_flight"}


def test_a_result_that_was_not_made_safe_is_not_cached_so_its_redelivery_is_answered_in_full():
    rig = Rig()
    rig.link.connected = False
    rig.store.fail = {"put"}  # the outbox write fails, the cache write would not
    [w] = rig.send(msg(b'{"id": "v", "text": "weather"}'))
    assert not rig.acked(w) and "v" not in rig.store.cache
    rig.link.connected, rig.store.fail = True, set()
    [w2] = rig.send(msg(b'{"id": "v", "text": "weather"}'))
    assert rig.acked(w2) and len(rig.link.on(f"{BASE}/intent/weather")) == 1


def test_a_hermes_query_with_a_5000_digit_number_is_invalid_json_not_an_internal_error():
    from edge.pipeline import Work

    rig = Rig()
    w = Work("hermes", msg(b'{"input": "lights on", "n": ' + b"7" * 5000 + b"}", topic="hermes/nlu/query"), 100.0, rig.link.ack)
    rig.pipeline.handle([w])
    assert rig.acked(w) and json.loads(rig.link.on(ERROR)[0])["error"] == contract.INVALID_JSON


def test_hermes_queries_get_intent_parsed_then_the_intent_and_parse_errors_reach_hermes_error_nlu():
    from edge.pipeline import Work

    rig = Rig()
    ok = Work("hermes", msg(b'{"input": "weather please", "siteId": "kitchen", "sessionId": "s1"}',
                            topic="hermes/nlu/query"), 100.0, rig.link.ack)
    bad = Work("hermes", msg(b'{"input": 5, "siteId": "kitchen", "sessionId": "s2"}', topic="hermes/nlu/query"),
               100.0, rig.link.ack)
    rig.pipeline.handle([ok, bad])
    assert rig.acked(ok) and rig.acked(bad)
    # Parse errors go out in the first pass, results after the batch is classified.
    assert [t for t, _, _ in rig.link.published] == [ERROR, "hermes/error/nlu", "hermes/nlu/intentParsed",
                                                     "hermes/intent/weather"]
    err = json.loads(rig.link.on("hermes/error/nlu")[0])
    assert err["sessionId"] == "s2" and err["siteId"] == "kitchen" and "invalid_field" in err["error"]


@pytest.mark.parametrize("language,ok", [("en", True), ("en-US", True), ("EN", True), ("de", False),
                                         ("fr-CA", False), ("e", False), ("english please", False),
                                         (42, False), ("", False)])
def test_a_language_the_model_does_not_serve_is_an_invalid_field(language, ok):
    rig = Rig()
    rig.send(msg(json.dumps({"id": "lang", "text": "turn on the lights", "language": language}).encode()))
    if ok:
        assert json.loads(rig.link.on(RESULT)[0])["id"] == "lang" and not rig.link.on(ERROR)
    else:
        err = json.loads(rig.link.on(ERROR)[0])
        assert err["id"] == "lang" and err["error"] == contract.INVALID_FIELD and "language" in err["message"]


def test_the_store_and_its_fake_offer_every_typed_view_the_consumers_name():
    """`store: Any` became named views (outbox.PipelineStore, EscalationStore): the real store and the
    fake both provide each method of each, with the same parameters."""
    import inspect

    from fakes import FakeStore

    from edge.outbox import BudgetLedger, EscalationStore, Outbox, PipelineStore

    for view in (PipelineStore, EscalationStore, BudgetLedger):
        for name, member in inspect.getmembers(view, inspect.isfunction):
            if name.startswith("_"):
                continue
            want = list(inspect.signature(member).parameters)
            assert list(inspect.signature(getattr(Outbox, name)).parameters)[:len(want)] == want, (view, name)
            assert callable(getattr(FakeStore, name, None)) or name == "cloud_calls_since", (view, name)


def test_probation_is_told_a_lone_requests_cpu_cost_not_the_time_it_waited():
    """A busy device (a flood queued behind, another process on the cores) must not look like a slow
    model to probation: the hook gets the loop thread's CPU time for a batch of one request, however
    long it waited; a bigger batch's cost is not comparable (its fixed costs shared out) and is None."""
    rig = Rig()
    cpu = iter([10.0, 10.004, 20.0, 20.003])  # the CPU clock around each batch
    rig.pipeline.cpu_clock = lambda: next(cpu)
    served: list[tuple[float | None, bool, str | None]] = []
    rig.pipeline.on_served = lambda ms, failed, ident: served.append((ms, failed, ident))
    one = [Work("request", msg(b'{"id": "a", "text": "weather"}'), rig.clock_t[0], rig.link.ack)]
    rig.clock_t[0] += 30.0  # it waited 30 s in a queue before its batch ran
    rig.pipeline.handle(one)
    two = [Work("request", m, rig.clock_t[0], rig.link.ack)
           for m in (msg(b'{"id": "b", "text": "weather"}'), msg(b'{"id": "c", "text": "weather"}'))]
    rig.pipeline.handle(two)
    assert [None if ms is None else round(ms, 6) for ms, _, _ in served] == [4.0, None, None], served
    assert not any(failed for _, failed, _ in served), served
