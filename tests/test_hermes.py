"""Hermes NLU (Rhasspy 2.5 / Snips): query parsing and the answers, field for field."""

from __future__ import annotations

import json

import pytest

from edge import contract
from edge.integrations import hermes
from edge.integrations.hermes import HermesQuery, parse_query, respond

LIMIT = 16384


def q(**kw: object) -> HermesQuery:
    return parse_query(json.dumps({"input": "turn on the lights", **kw}).encode(), LIMIT)


# --- parsing -----------------------------------------------------------------


def test_parse_full_query() -> None:
    got = parse_query(
        json.dumps(
            {
                "input": "what time is it",
                "id": "req-1",
                "siteId": "kitchen",
                "sessionId": "sess-9",
                "intentFilter": ["GetTime", "GetWeather"],
                "wakewordId": "porcupine",
                "lang": "en",
            }
        ).encode(),
        LIMIT,
    )
    assert got == HermesQuery(
        input="what time is it",
        id="req-1",
        site_id="kitchen",
        session_id="sess-9",
        intent_filter=("GetTime", "GetWeather"),
        wakeword_id="porcupine",
        lang="en",
    )


def test_parse_minimal_query_uses_rhasspy_defaults() -> None:
    got = parse_query(b'{"input": "hello"}', LIMIT)
    assert got == HermesQuery(input="hello", id=None, site_id="default", session_id=None, intent_filter=None)


def test_parse_nulls_are_accepted() -> None:
    # rhasspy-hermes serialises unset optionals as null, siteId included on some clients.
    got = parse_query(
        b'{"input": "hi", "id": null, "siteId": null, "sessionId": null, "intentFilter": null, "lang": null}', LIMIT
    )
    assert got.site_id == "default" and got.id is None and got.intent_filter is None


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"id": "x", "siteId": "default"}', contract.MISSING_TEXT),
        (b'{"input": 42}', contract.INVALID_FIELD),
        (b'{"input": null}', contract.INVALID_FIELD),
        (b'{"input": "hi", "id": 7}', contract.INVALID_FIELD),
        (b'{"input": "hi", "siteId": ["a"]}', contract.INVALID_FIELD),
        (b'{"input": "hi", "sessionId": 1.5}', contract.INVALID_FIELD),
        (b'{"input": "hi", "intentFilter": "GetTime"}', contract.INVALID_FIELD),
        (b'{"input": "hi", "intentFilter": ["GetTime", 3]}', contract.INVALID_FIELD),
        (b'{"input": "hi", "wakewordId": false}', contract.INVALID_FIELD),
        (b'{"input": "caf\xc3"}', contract.INVALID_UTF8),
        (b"\xff\xfe{}", contract.INVALID_UTF8),
        (b'{"input": "hi"', contract.INVALID_JSON),
        (b"turn on the lights", contract.INVALID_JSON),
        (b"", contract.INVALID_JSON),
        (b'["input", "hi"]', contract.NOT_AN_OBJECT),
        (b'"hi"', contract.NOT_AN_OBJECT),
    ],
)
def test_parse_bad_queries(payload: bytes, code: str) -> None:
    with pytest.raises(contract.BadRequest) as err:
        parse_query(payload, LIMIT)
    assert err.value.code == code
    assert err.value.message


def test_parse_error_carries_the_request_id() -> None:
    with pytest.raises(contract.BadRequest) as err:
        parse_query(b'{"id": "abc", "input": 1}', LIMIT)
    assert err.value.request_id == "abc"


def test_parse_size_limit_is_checked_before_decoding() -> None:
    big = json.dumps({"input": "x" * 200}).encode()
    with pytest.raises(contract.BadRequest) as err:
        parse_query(big, 100)
    assert err.value.code == contract.PAYLOAD_TOO_LARGE
    assert parse_query(big, len(big)).input == "x" * 200


# --- answers -----------------------------------------------------------------


def test_intent_message_matches_nlu_intent() -> None:
    query = q(id="r1", siteId="livingroom", sessionId="s1", wakewordId="hey", lang="en")
    topic, payload = hermes.intent_message(query, "lights_on", 0.91234567)
    assert topic == "hermes/intent/lights_on"
    body = json.loads(payload)
    assert body["input"] == "turn on the lights"
    assert body["intent"] == {"intentName": "lights_on", "confidenceScore": 0.9123}
    assert body["id"] == "r1" and body["siteId"] == "livingroom" and body["sessionId"] == "s1"
    assert body["slots"] == []
    assert body["rawInput"] == "turn on the lights"
    assert body["wakewordId"] == "hey" and body["lang"] == "en"
    tokens = body["asrTokens"][0]
    assert [t["value"] for t in tokens] == ["turn", "on", "the", "lights"]
    assert all(body["input"][t["rangeStart"] : t["rangeEnd"]] == t["value"] for t in tokens)
    # Every field rhasspy-hermes' NluIntent knows, and no other.
    assert set(body) == {
        "input", "intent", "siteId", "id", "slots", "sessionId", "customData",
        "asrTokens", "asrConfidence", "rawInput", "wakewordId", "lang",
    }  # fmt: skip


def test_intent_topic_is_one_level_even_for_odd_labels() -> None:
    topic, payload = hermes.intent_message(q(), "a/b+c#", 0.9)
    assert topic == "hermes/intent/a_b_c_"
    assert json.loads(payload)["intent"]["intentName"] == "a/b+c#"  # the payload keeps the real name


def test_not_recognized_message_matches_nlu_intent_not_recognized() -> None:
    topic, payload = hermes.not_recognized_message(q(id="r2", siteId="hall", sessionId="s2"))
    assert topic == "hermes/nlu/intentNotRecognized"
    assert json.loads(payload) == {
        "input": "turn on the lights",
        "siteId": "hall",
        "id": "r2",
        "customData": None,
        "sessionId": "s2",
    }


def test_intent_parsed_message() -> None:
    topic, payload = hermes.intent_parsed_message(q(id="r3"), "lights_on", 0.8)
    body = json.loads(payload)
    assert topic == "hermes/nlu/intentParsed"
    assert body["intent"] == {"intentName": "lights_on", "confidenceScore": 0.8} and body["id"] == "r3"


def test_respond_confident_in_scope_gives_the_intent() -> None:
    topic, _ = respond(q(), "lights_on", 0.9, threshold=0.5)
    assert topic == "hermes/intent/lights_on"


@pytest.mark.parametrize(
    ("intent", "confidence", "threshold"),
    [
        ("oos", 0.99, 0.5),  # out of scope, however confident
        ("lights_on", 0.49, 0.5),  # below the threshold
        ("lights_on", float("nan"), 0.5),  # a NaN is no confidence at all
    ],
)
def test_respond_not_recognized(intent: str, confidence: float, threshold: float) -> None:
    topic, payload = respond(q(id="x"), intent, confidence, threshold)
    assert topic == hermes.NOT_RECOGNIZED_TOPIC
    assert json.loads(payload)["id"] == "x"


def test_respond_threshold_is_inclusive() -> None:
    assert respond(q(), "lights_on", 0.5, threshold=0.5)[0] == "hermes/intent/lights_on"


def test_respond_honours_intent_filter() -> None:
    filtered = q(intentFilter=["GetTime"])
    assert respond(filtered, "lights_on", 0.99, 0.5)[0] == hermes.NOT_RECOGNIZED_TOPIC
    assert respond(filtered, "GetTime", 0.99, 0.5)[0] == "hermes/intent/GetTime"
    # An empty filter restricts nothing, as in Rhasspy's own NLU.
    assert respond(q(intentFilter=[]), "lights_on", 0.99, 0.5)[0] == "hermes/intent/lights_on"


def test_blank_input_is_answered_not_recognized() -> None:
    # A satellite that heard nothing still needs an answer to end its session.
    blank = parse_query(b'{"input": "  ", "sessionId": "s"}', LIMIT)
    topic, payload = respond(blank, "lights_on", 0.99, 0.5)
    assert topic == hermes.NOT_RECOGNIZED_TOPIC and json.loads(payload)["sessionId"] == "s"


# --- end to end: the daemon answering a voice satellite over a real mosquitto -------------------


@pytest.mark.slow
def test_daemon_answers_hermes_queries(broker, daemon_factory, client_factory, tmp_path):
    from conftest import daemon_config

    d = daemon_factory(daemon_config(broker, tmp_path / "state", device_id="voice", integrations={"hermes": True}))
    c = client_factory(broker)
    intents = c.subscribe("hermes/intent/#")
    missed = c.subscribe(hermes.NOT_RECOGNIZED_TOPIC)
    errors = c.subscribe("edge/voice/error")

    query = {"input": "set an alarm for 7 am tomorrow", "id": "q1", "siteId": "bedroom", "sessionId": "s1"}
    c.publish(hermes.QUERY_TOPIC, json.dumps(query))
    msg = intents.get()
    body = msg.json()
    assert msg.topic == "hermes/intent/alarm" and body["intent"]["intentName"] == "alarm"
    assert 0 < body["intent"]["confidenceScore"] <= 1
    assert (body["id"], body["siteId"], body["sessionId"], body["input"]) == ("q1", "bedroom", "s1", query["input"])
    assert body["slots"] == []

    # An intentFilter that excludes every label, and a satellite that heard nothing: not recognized.
    c.publish(hermes.QUERY_TOPIC, json.dumps({**query, "id": "q2", "intentFilter": ["NoSuchIntent"]}))
    assert missed.json() == {"input": query["input"], "siteId": "bedroom", "id": "q2", "customData": None, "sessionId": "s1"}
    c.publish(hermes.QUERY_TOPIC, json.dumps({"input": "", "id": "q3"}))
    assert missed.json()["id"] == "q3"

    # A malformed query is reported on the error topic, and the daemon keeps serving.
    c.publish(hermes.QUERY_TOPIC, json.dumps({"id": "q4", "input": 5}))
    err = errors.json()
    assert (err["id"], err["error"]) == ("q4", contract.INVALID_FIELD)
    c.publish(hermes.QUERY_TOPIC, json.dumps({**query, "id": "q5"}))
    assert intents.json()["id"] == "q5"
    assert intents.empty_for(0.3) and missed.empty_for(0.1)  # one answer per query
    assert d.stop() == 0
