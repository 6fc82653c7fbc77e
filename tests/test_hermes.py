"""Hermes NLU (Rhasspy 2.5 / Snips): query parsing and the answers, field for field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    parsed = c.subscribe(hermes.INTENT_PARSED_TOPIC)
    nlu_errors = c.subscribe(hermes.ERROR_TOPIC)

    query = {"input": "set an alarm for 7 am tomorrow", "id": "q1", "siteId": "bedroom", "sessionId": "s1"}
    c.publish(hermes.QUERY_TOPIC, json.dumps(query))
    msg = intents.get()
    body = msg.json()
    assert msg.topic == "hermes/intent/alarm" and body["intent"]["intentName"] == "alarm"
    assert 0 < body["intent"]["confidenceScore"] <= 1
    assert (body["id"], body["siteId"], body["sessionId"], body["input"]) == ("q1", "bedroom", "s1", query["input"])
    # the shipped model's built-in slots: alarm -> time (datetime), resolved in the daemon's zone
    (slot,) = body["slots"]
    assert (slot["slotName"], slot["entity"], slot["rawValue"]) == ("time", "datetime", "7 am tomorrow")
    assert slot["value"]["kind"] == "InstantTime" and slot["value"]["value"][11:19] == "07:00:00"
    assert query["input"][slot["range"]["start"] : slot["range"]["end"]] == "7 am tomorrow"
    # intentParsed too, with the same intent and slots
    p = parsed.json()
    assert (p["id"], p["intent"], p["slots"]) == ("q1", body["intent"], body["slots"])

    # An intentFilter that excludes every label, and a satellite that heard nothing: not recognized.
    c.publish(hermes.QUERY_TOPIC, json.dumps({**query, "id": "q2", "intentFilter": ["NoSuchIntent"], "customData": "st"}))
    assert missed.json() == {"input": query["input"], "siteId": "bedroom", "id": "q2", "customData": "st", "sessionId": "s1"}
    c.publish(hermes.QUERY_TOPIC, json.dumps({"input": "", "id": "q3"}))
    assert missed.json()["id"] == "q3"

    # A malformed query is reported on the error topic, and the daemon keeps serving.
    c.publish(hermes.QUERY_TOPIC, json.dumps({"id": "q4", "input": 5, "siteId": "bedroom", "sessionId": "s4"}))
    err = errors.json()
    assert (err["id"], err["error"]) == ("q4", contract.INVALID_FIELD)
    # and on hermes/error/nlu, so the satellite's session ends now instead of at its timeout
    nerr = nlu_errors.json()
    assert (nerr["siteId"], nerr["sessionId"]) == ("bedroom", "s4") and contract.INVALID_FIELD in nerr["error"]
    c.publish(hermes.QUERY_TOPIC, json.dumps({**query, "id": "q5"}))
    c.publish(hermes.QUERY_TOPIC, json.dumps({**query, "id": "q6"}))  # a fence: answered after all of q5's
    # One answer per query: the next intent and intentParsed after q5's are q6's, and nothing was missed.
    assert [intents.json()["id"] for _ in range(2)] == ["q5", "q6"]
    assert [parsed.json()["id"] for _ in range(2)] == ["q5", "q6"]
    assert missed.drain() == []
    assert d.stop() == 0


# --- slots, customData, asrConfidence, intentParsed, errors ------------------------------------

SLOTS = [
    {"name": "time", "entity": "datetime", "raw": "7 am tomorrow", "value": "2026-11-29T07:00:00+01:00",
     "start": 17, "end": 30, "confidence": 1.0},
    {"name": "length", "entity": "duration", "raw": "an hour and a half", "value": 5400, "start": 35, "end": 53,
     "confidence": 1.0},
    {"name": "amount", "entity": "money", "raw": "$5", "value": 5, "unit": "USD", "start": 0, "end": 2,
     "confidence": 0.9},
    {"name": "playlist", "entity": "playlist", "raw": "Blues", "value": "blues", "start": 3, "end": 8,
     "confidence": 0.87654},
    {"name": "count", "entity": "number", "raw": "four", "value": 4, "start": 9, "end": 13, "confidence": 1.0},
    {"name": "heat", "entity": "temperature", "raw": "21 °C", "value": 21, "unit": "celsius",
     "start": 14, "end": 19, "confidence": 1.0},
]


def test_slots_in_rhasspy_form() -> None:
    _, payload = hermes.intent_message(q(), "alarm", 0.9, SLOTS)
    slots = json.loads(payload)["slots"]
    assert slots[0] == {
        "entity": "datetime", "slotName": "time", "rawValue": "7 am tomorrow", "confidence": 1.0,
        "value": {"kind": "InstantTime", "value": "2026-11-29T07:00:00+01:00", "grain": "Hour", "precision": "Exact"},
        "range": {"start": 17, "end": 30, "rawStart": 17, "rawEnd": 30},
    }  # fmt: skip
    assert slots[1]["value"] == {"kind": "Duration", "value": 5400, "years": 0, "quarters": 0, "months": 0, "weeks": 0,
                                 "days": 0, "hours": 1, "minutes": 30, "seconds": 0, "precision": "Exact"}
    assert slots[2]["value"] == {"kind": "AmountOfMoney", "value": 5, "unit": "USD", "precision": "Exact"}
    assert slots[3]["value"] == {"kind": "Unknown", "value": "blues"} and slots[3]["confidence"] == 0.8765
    assert slots[4]["value"] == {"kind": "Number", "value": 4}
    assert slots[5]["value"] == {"kind": "Temperature", "value": 21, "unit": "celsius"}
    _, parsed = hermes.intent_parsed_message(q(), "alarm", 0.9, SLOTS)
    assert json.loads(parsed)["slots"] == slots


def test_custom_data_and_asr_confidence_are_copied() -> None:
    query = q(id="c1", customData='{"step": 2}', asrConfidence=0.75)
    assert (query.custom_data, query.asr_confidence) == ('{"step": 2}', 0.75)
    body = json.loads(hermes.intent_message(query, "alarm", 0.9)[1])
    assert body["customData"] == '{"step": 2}' and body["asrConfidence"] == 0.75
    assert json.loads(hermes.not_recognized_message(query)[1])["customData"] == '{"step": 2}'
    assert q().custom_data is None and q().asr_confidence is None


@pytest.mark.parametrize("bad", [{"customData": 3}, {"asrConfidence": "high"}, {"asrConfidence": True}])
def test_bad_custom_data_or_asr_confidence(bad: dict) -> None:
    with pytest.raises(contract.BadRequest) as err:
        q(**bad)
    assert err.value.code == contract.INVALID_FIELD


def test_responses_send_intent_parsed_before_the_intent() -> None:
    msgs = hermes.responses(q(id="p1"), "alarm", 0.9, 0.5, SLOTS[:1])
    assert [t for t, _ in msgs] == [hermes.INTENT_PARSED_TOPIC, "hermes/intent/alarm"]
    assert json.loads(msgs[0][1])["slots"] == json.loads(msgs[1][1])["slots"]
    assert [t for t, _ in hermes.responses(q(), "oos", 0.9, 0.5)] == [hermes.NOT_RECOGNIZED_TOPIC]
    assert hermes.respond(q(id="p1"), "alarm", 0.9, 0.5, SLOTS[:1]) == msgs[1]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"input": 5, "siteId": "hall", "sessionId": "s9"}', {"siteId": "hall", "sessionId": "s9", "context": None}),
        (b'{"input": "hi", "sessionId": "s9", "intentFilter": 3}', {"siteId": "default", "sessionId": "s9", "context": "hi"}),
        (b'{"siteId": "hall"}', {"siteId": "hall", "sessionId": None, "context": None}),
        (b'{"input": "hi"}', None),  # nobody to tell
        (b"not json", None),
        (b'["siteId", "hall"]', None),
        (b'{"siteId": 5, "sessionId": null}', None),
        (b"\xff\xfe", None),
    ],
)
def test_error_message(payload: bytes, expected: dict | None) -> None:
    got = hermes.error_message(payload, "invalid_field: input must be a string")
    if expected is None:
        assert got is None
        return
    topic, body = got
    assert topic == "hermes/error/nlu"
    assert json.loads(body) == {"error": "invalid_field: input must be a string", **expected}


# --- the same JSON read by rhasspy-hermes' own message classes -------------------------------------

HERMES_VENV = Path(__file__).resolve().parents[1] / ".venv-hermes"
PARSER = r"""
import json, sys
from rhasspyhermes.nlu import NluError, NluIntent, NluIntentNotRecognized, NluIntentParsed, NluQuery
classes = {c.__name__: c for c in (NluError, NluIntent, NluIntentNotRecognized, NluIntentParsed, NluQuery)}
for line in sys.stdin:
    name, topic, payload = json.loads(line)
    msg = classes[name].from_json(payload)
    out = {"topic_ok": classes[name].is_topic(topic) if name == "NluIntent" else classes[name].topic() == topic}
    if name in ("NluIntent", "NluIntentParsed"):
        out["intent"] = [msg.intent.intent_name, msg.intent.confidence_score]
        out["slots"] = [[s.entity, s.slot_name, s.raw_value, s.value, s.confidence, s.start, s.end, s.raw_start,
                         s.raw_end] for s in msg.slots]
    if name in ("NluIntent", "NluIntentNotRecognized"):
        out["custom_data"] = msg.custom_data
    if name == "NluIntent":
        out["asr_confidence"] = msg.asr_confidence
        out["to_rhasspy_dict_slots"] = msg.to_rhasspy_dict()["slots"]
    if name == "NluError":
        out["error"] = [msg.error, msg.site_id, msg.session_id, msg.context]
    out["site_id"] = msg.site_id
    print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def rhasspy_python() -> Path:
    """A venv of its own with rhasspy-hermes (it pins paho-mqtt 1.5.0; the project needs 2)."""
    py = HERMES_VENV / "bin" / "python"
    if not py.exists() or subprocess.run([str(py), "-c", "import rhasspyhermes"], capture_output=True).returncode:
        try:
            subprocess.run([sys.executable, "-m", "venv", str(HERMES_VENV)], check=True, capture_output=True, timeout=120)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "rhasspy-hermes"], check=True, capture_output=True,
                           timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot install rhasspy-hermes into {HERMES_VENV}: {exc}")
    return py


def test_rhasspy_hermes_parses_our_messages(rhasspy_python: Path) -> None:
    query = q(id="r1", siteId="hall", sessionId="s1", customData="state-7", asrConfidence=0.81)
    msgs = hermes.responses(query, "alarm", 0.93, 0.5, SLOTS)
    msgs.append(hermes.not_recognized_message(query))
    msgs.append(hermes.error_message(b'{"input": 5, "siteId": "hall", "sessionId": "s1"}', "invalid_field"))
    names = ["NluIntentParsed", "NluIntent", "NluIntentNotRecognized", "NluError"]
    lines = "".join(json.dumps([n, t, p.decode()]) + "\n" for n, (t, p) in zip(names, msgs))
    out = subprocess.run([str(rhasspy_python), "-c", PARSER], input=lines, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    parsed, intent, missed, error = [json.loads(x) for x in out.stdout.splitlines()]
    assert all(m["topic_ok"] for m in (parsed, intent, missed, error))
    for m in (parsed, intent):
        assert m["intent"] == ["alarm", 0.93] and m["site_id"] == "hall"
        assert m["slots"][0] == ["datetime", "time", "7 am tomorrow",
                                 {"kind": "InstantTime", "value": "2026-11-29T07:00:00+01:00", "grain": "Hour",
                                  "precision": "Exact"}, 1.0, 17, 30, 17, 30]
        assert [s[1] for s in m["slots"]] == [s["name"] for s in SLOTS]
        assert [s[3]["value"] for s in m["slots"]] == [5400 if s["entity"] == "duration" else
                                                       s["value"]["value"] if isinstance(s["value"], dict) else s["value"]
                                                       for s in SLOTS]
    assert intent["custom_data"] == "state-7" and intent["asr_confidence"] == 0.81
    # Rhasspy's own JSON form (what its intent handlers and Home Assistant get): slot name -> value
    assert intent["to_rhasspy_dict_slots"]["time"] == "2026-11-29T07:00:00+01:00"
    assert intent["to_rhasspy_dict_slots"]["playlist"] == "blues"
    assert missed["custom_data"] == "state-7"
    assert error["error"] == ["invalid_field", "hall", "s1", None]


# --- what a careless or hostile satellite sends (issue 21, item 7) ----------------------------


@pytest.mark.parametrize("field", ["input", "siteId", "customData", "id", "sessionId", "wakewordId", "lang"])
def test_a_lone_surrogate_in_any_field_reaches_hermes_error_nlu(field: str) -> None:
    # Through the real pipeline (tests/fakes.py): not internal_error and a silent satellite, but
    # invalid_field on <base>/error and an encodable hermes/error/nlu the satellite can match.
    from fakes import Rig, msg

    from edge.pipeline import Work

    fields = {"input": "turn on the lights", "siteId": "kitchen", "sessionId": "s1", field: "x\ud800y"}
    payload = json.dumps(fields).encode()  # ensure_ascii: the surrogate travels as \ud800
    rig = Rig()
    w = Work("hermes", msg(payload, topic=hermes.QUERY_TOPIC), 100.0, rig.link.ack)
    rig.pipeline.handle([w])
    assert rig.acked(w)
    err = json.loads(rig.link.on("edge/t/error")[0])
    assert err["error"] == contract.INVALID_FIELD and "surrogate" in err["message"]
    (nlu,) = rig.link.on(hermes.ERROR_TOPIC)
    nlu.decode("utf-8")  # encodable
    body = json.loads(nlu)
    assert body["sessionId"] == ("x\ufffdy" if field == "sessionId" else "s1")
    assert body["siteId"] == ("x\ufffdy" if field == "siteId" else "kitchen")
    assert "internal_errors" not in rig.health._counters and not rig.link.on("hermes/intent/weather")


def test_a_surrogate_query_without_site_or_session_gets_only_the_device_error() -> None:
    assert hermes.error_message(b'{"input": "\\ud800"}', "invalid_field: x") is None


@pytest.mark.parametrize("payload", [
    b'\xef\xbb\xbf{"input": "turn on the lights", "siteId": "kitchen"}',
    b'\xef\xbb\xbf  {"input": "turn on the lights", "siteId": "kitchen"}',
])
def test_a_query_that_starts_with_a_byte_order_mark_is_json(payload: bytes) -> None:
    got = parse_query(payload, LIMIT)
    assert (got.input, got.site_id) == ("turn on the lights", "kitchen")
    topic, body = hermes.error_message(b'\xef\xbb\xbf{"input": 5, "siteId": "kitchen"}', "invalid_field")
    assert json.loads(body)["siteId"] == "kitchen"


def test_the_intent_message_stays_bounded_for_a_16_kib_query_of_one_letter_words() -> None:
    words = "a " * (LIMIT // 2 - 20)  # with {"input": "..."} just under the limit
    query = parse_query(json.dumps({"input": words, "siteId": "kitchen"}).encode(), LIMIT)
    topic, body = hermes.intent_message(query, "weather", 0.9)
    msg = json.loads(body)
    tokens = msg["asrTokens"][0]
    assert len(tokens) == hermes.MAX_ASR_TOKENS
    assert tokens[1] == {"value": "a", "confidence": 1.0, "rangeStart": 2, "rangeEnd": 3, "time": None}
    assert msg["input"] == msg["rawInput"] == query.input  # the input itself is never cut
    # was 645 KB: now the input twice (input, rawInput) and a bounded list of tokens
    assert len(body) <= 2 * len(query.input.encode()) + 100 * 100 + 1024


def test_asr_tokens_keep_offsets_across_odd_whitespace() -> None:
    text = "turn\u00a0on\tthe\u3000lights  now"
    (tokens,) = hermes._asr_tokens(text)
    assert [t["value"] for t in tokens] == text.split()
    assert all(text[t["rangeStart"]:t["rangeEnd"]] == t["value"] for t in tokens)


def test_a_query_too_large_to_serve_still_gets_hermes_error_nlu_up_to_a_bound() -> None:
    # Over the payload limit but readable: the satellite is told. Far over it (a broker that allows
    # megabytes): not parsed at all, <base>/error alone (parsing it would cost the daemon a stall).
    big = json.dumps({"input": "x" * 40000, "siteId": "kitchen", "sessionId": "s"}).encode()
    with pytest.raises(contract.BadRequest):
        parse_query(big, LIMIT)
    assert json.loads(hermes.error_message(big, "payload_too_large")[1])["sessionId"] == "s"
    huge = json.dumps({"siteId": "kitchen", "input": "x" * hermes.ERROR_READ_MAX_BYTES}).encode()
    assert hermes.error_message(huge, "payload_too_large") is None
