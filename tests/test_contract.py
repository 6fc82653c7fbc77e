"""The wire contract as pure functions: every way a request can be good or bad."""

from __future__ import annotations

import json

import pytest

from edge import contract, topics
from edge.contract import BadRequest, parse_request

LIMIT = 16384


def bad(payload: bytes, **kw) -> BadRequest:
    with pytest.raises(BadRequest) as exc:
        parse_request(payload, LIMIT, **kw)
    return exc.value


def test_plain_text_is_a_request_with_a_generated_id():
    r = parse_request(b"  turn on the lights \n", LIMIT)
    assert r.text == "turn on the lights" and len(r.id) == 32 and r.reply_to is None and r.allow_cloud is None
    assert parse_request(b"hello", LIMIT).id != r.id


def test_json_object_with_every_field():
    body = {"text": "book a table", "id": "k-1", "reply_to": "app/reply", "allow_cloud": False, "extra": [1]}
    r = parse_request(json.dumps(body).encode(), LIMIT)
    assert (r.id, r.text, r.reply_to, r.allow_cloud) == ("k-1", "book a table", "app/reply", False)


def test_mqtt5_response_topic_wins_over_reply_to_and_correlation_is_kept():
    r = parse_request(b'{"text": "hi", "reply_to": "json/reply"}', LIMIT, response_topic="v5/reply", correlation=b"\x00\x01")
    assert r.reply_to == "v5/reply" and r.correlation == b"\x00\x01"
    assert parse_request(b"hi", LIMIT, response_topic="v5/reply").reply_to == "v5/reply"


def test_json_detection_uses_the_first_non_blank_character():
    assert bad(b"  \n {oops").code == contract.INVALID_JSON
    assert bad(b" [1]").code == contract.NOT_AN_OBJECT
    assert parse_request(b"what {is} this", LIMIT).text == "what {is} this"


@pytest.mark.parametrize(
    "payload,code,rid",
    [
        (b"\xc3\x28", contract.INVALID_UTF8, None),
        (b"{", contract.INVALID_JSON, None),
        (b'"just a string"', None, None),  # not JSON by the rule: plain text
        (b"[]", contract.NOT_AN_OBJECT, None),
        (b"{}", contract.MISSING_TEXT, None),
        (b'{"id": "a"}', contract.MISSING_TEXT, "a"),
        (b'{"id": "a", "text": ""}', contract.EMPTY_TEXT, "a"),
        (b'{"id": "a", "text": " \\t\\n"}', contract.EMPTY_TEXT, "a"),
        (b'{"id": "a", "text": null}', contract.INVALID_FIELD, "a"),
        (b'{"id": "a", "text": ["x"]}', contract.INVALID_FIELD, "a"),
        (b'{"id": 5, "text": "x"}', contract.INVALID_FIELD, None),
        (b'{"id": "", "text": "x"}', contract.INVALID_FIELD, None),
        (b'{"id": "a", "text": "x", "reply_to": 1}', contract.INVALID_FIELD, "a"),
        (b'{"id": "a", "text": "x", "reply_to": "a/#"}', contract.INVALID_FIELD, "a"),
        (b'{"id": "a", "text": "x", "reply_to": "a\\u0007b"}', contract.INVALID_FIELD, "a"),
        (b'{"id": "a", "text": "x", "allow_cloud": 1}', contract.INVALID_FIELD, "a"),
        (b"   ", contract.EMPTY_TEXT, None),
    ],
)
def test_bad_requests_name_the_problem(payload, code, rid):
    if code is None:
        assert parse_request(payload, LIMIT).text == payload.decode()
        return
    err = bad(payload)
    assert err.code == code and err.request_id == rid and err.message


def test_payload_limit_is_checked_before_decoding():
    err = bad(b"\xff" * (LIMIT + 1))
    assert err.code == contract.PAYLOAD_TOO_LARGE and str(LIMIT) in err.message
    assert parse_request(b"a" * LIMIT, LIMIT).text == "a" * LIMIT


def test_a_response_topic_a_broker_refuses_is_rejected():
    assert bad(b"hi", response_topic="bad\x00topic").code == contract.INVALID_FIELD


def test_deep_json_nesting_is_an_error_not_a_crash():
    assert bad(b"[" * (LIMIT - 1)).code in (contract.INVALID_JSON, contract.NOT_AN_OBJECT)


def test_valid_publish_topic():
    assert topics.valid_publish_topic("edge/kitchen/reply/1")
    for bad_topic in ("", "a/+", "a/#", "a\x00b", "a\nb", "a\ufffeb"):
        assert not topics.valid_publish_topic(bad_topic), repr(bad_topic)


@pytest.mark.parametrize("topic,ok", [
    ("reply/app/1", True), ("app/answers", True), ("my/reply", True),
    ("edge/other/intent/unlock_door", False), ("edge/kitchen/status", False), ("edge/group/hall/result", False),
    ("zigbee2mqtt/front_door/set", False), ("home/lamp/set", False), ("cmnd/plug/POWER", False),
    ("esphome/relay/switch/command", False), ("hermes/intent/x", False), ("homeassistant/lock/x/config", False),
    ("house/kitchen/status", False),  # this device's own custom base topic
    ("house/kitchenette/reply", True),  # level by level: not under house/kitchen
])
def test_reply_topics_never_reach_device_or_command_topics(topic: str, ok: bool) -> None:
    problem = topics.reply_topic_problem(topic, ("house/kitchen", "homeassistant"))
    assert (problem is None) is ok, problem


def test_reply_prefixes_narrow_reply_topics_level_by_level() -> None:
    allowed = ("reply", "app/answers")
    assert topics.reply_topic_problem("reply/x", (), allowed) is None
    assert topics.reply_topic_problem("app/answers/42", (), allowed) is None
    assert "reply_prefixes" in (topics.reply_topic_problem("app/answersX", (), allowed) or "")
    assert "reply_prefixes" in (topics.reply_topic_problem("other/x", (), allowed) or "")
    # the allowlist never opens what the built-in rules close
    assert topics.reply_topic_problem("reply/x/set", (), allowed) is not None
    with pytest.raises(contract.BadRequest) as exc:
        parse_request(b'{"text": "hi", "reply_to": "other/x"}', LIMIT, allowed_reply_prefixes=allowed)
    assert exc.value.code == contract.INVALID_FIELD


# --- issue 21, item 7: a byte-order mark, and control characters in an id ---------------------


@pytest.mark.parametrize("payload", [
    b'\xef\xbb\xbf{"id": "r1", "text": "lights on"}',
    b'\xef\xbb\xbf \n{"id": "r1", "text": "lights on"}',
])
def test_json_after_a_byte_order_mark_is_json(payload):
    req = parse_request(payload, 16384)
    assert (req.id, req.text) == ("r1", "lights on")


def test_a_byte_order_mark_before_plain_text_is_not_part_of_the_text():
    assert parse_request(b"\xef\xbb\xbflights on", 16384).text == "lights on"
    with pytest.raises(BadRequest) as err:
        parse_request(b"\xef\xbb\xbf", 16384)
    assert err.value.code == contract.EMPTY_TEXT


@pytest.mark.parametrize("rid", ["a\u0000b", "\u001b[2Jx", "line\nbreak", "tab\there", "del\u007f", "c1\u0085", "\u009b"])
def test_a_control_character_in_the_id_is_invalid_field(rid):
    with pytest.raises(BadRequest) as err:
        parse_request(json.dumps({"id": rid, "text": "hi", "reply_to": "app/replies"}).encode(), 16384)
    assert err.value.code == contract.INVALID_FIELD and "control character" in err.value.message
    assert err.value.request_id is None and err.value.reply_to == "app/replies"  # the error still finds its way


@pytest.mark.parametrize("rid", ["caf\u00e9-1", "\u202eid", "a b", "x" * 256])
def test_ids_without_control_characters_are_kept(rid):
    assert parse_request(json.dumps({"id": rid, "text": "hi"}).encode(), 16384).id == rid
