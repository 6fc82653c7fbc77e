"""The request path's fast paths give what the general paths give, byte for byte.

`contract.parse_request` reads the common request shape by `_common_shape`; a Result's payload is
written by `results.result_bytes` from a template; the timestamp by `contract.iso_of_ns`. Each is
compared here with the general code it stands in for (`parse_request(..., fast_path=False)`,
`encode(result_payload(...))`, `datetime.isoformat`) on the shipped clinc150 model's self-test and
CLINC150 val lines, with the model's real predictions and slots, and on what a careless client or
an attacker sends (the poison strategies of issue 12).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge import contract, results, topics
from edge.contract import BadRequest, Request
from tests.poison_strategies import raw_json_request

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "clinc150"
VAL = ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json"
LIMIT = 16384
FORBIDDEN = ("edge/kitchen", "homeassistant")


def _outcome(payload: bytes, response_topic: str | None, correlation: bytes | None,
             fast_path: bool) -> tuple[object, ...]:
    """What parse_request makes of a payload: the Request's fields (a generated id masked: it is
    random either way), or the refusal's code, message, id and where it goes."""
    try:
        r = contract.parse_request(payload, LIMIT, response_topic, correlation, FORBIDDEN, fast_path=fast_path)
    except BadRequest as exc:
        return ("refused", exc.code, exc.message, exc.request_id, exc.reply_to, exc.correlation)
    rid = "<generated>" if r.generated_id else r.id
    return ("request", rid, r.text, r.reply_to, r.correlation, r.allow_cloud, r.language, r.generated_id)


def _same_parse(payload: bytes, response_topic: str | None = "req/reply", correlation: bytes | None = b"c1") -> None:
    assert _outcome(payload, response_topic, correlation, True) == _outcome(payload, response_topic, correlation, False)


def _lines() -> list[str]:
    manifest = json.loads((MODEL / "manifest.json").read_text())
    texts = [e["text"] for e in manifest["selftest"]]
    if VAL.exists():
        data = json.loads(VAL.read_text())
        texts += [t for t, _ in data["val"]] + [t for t, _ in data.get("oos_val", [])]
    return texts


CARELESS = [
    b'{"id":"a","text":"hi"}', b'{"id":"a","text":"  hi  "}', b'{"id":"a","text":"   "}', b'{"id":"a","text":""}',
    b'{"id":"","text":"hi"}', b'{"id":"' + b"x" * 256 + b'","text":"hi"}', b'{"id":"' + b"x" * 257 + b'","text":"hi"}',
    b'{"id":"a\\u0000","text":"hi"}', b'{"id":"a\\u007f","text":"hi"}', b'{"id":"a\\u0085","text":"hi"}',
    b'{"id":"a\\ud800","text":"hi"}', b'{"id":"a","text":"\\udc80"}', b'{"id":"\xc3\xa9t\xc3\xa9","text":"hi"}',
    b'{"id":"a","text":"\xc3\xa9teins die Lampe"}', b'{"id":"a","text":"\\ud83d\\ude00 lights"}',
    b'{"id":1,"text":"hi"}', b'{"id":null,"text":"hi"}', b'{"id":"a","text":null}', b'{"id":"a","text":["hi"]}',
    b'{"id":"a","text":"hi","reply_to":"x/reply"}', b'{"id":"a","text":"hi","reply_to":"edge/kitchen/x"}',
    b'{"id":"a","text":"hi","language":"de"}', b'{"id":"a","text":"hi","allow_cloud":1}', b'{"id":"a"}',
    b'{"text":"hi","text2":"x"}', b'{"text":"hi"}', b'{"id":"a","id":"b","text":"hi"}', b'{"id":"a","text":"hi"',
    b'{"id":"a","text":"hi"} trailing', b'{"id":"a","text":NaN}', b'{"id":"a","text":"hi","n":1e999}',
    b' {"id":"a","text":"hi"}', b'\xef\xbb\xbf{"id":"a","text":"hi"}', b'{"id":"a","text":"\xff"}', b"\xff\xfe",
    b"[1,2]", b"plain text", b"", b"   ", b"{" * 5000, b'{"id":"a","text":"' + b"y" * (LIMIT + 1) + b'"}',
    b'{"id":"a\tb","text":"hi"}', b'{"id":"a b","text":"\\n hi \\t"}',
]


@pytest.mark.parametrize("payload", CARELESS)
def test_parse_same_on_careless_payloads(payload: bytes) -> None:
    for topic, corr in (("req/reply", b"c1"), (None, None), ("", b""), ("edge/kitchen/reply", b"c"), ("a/+/b", None)):
        _same_parse(payload, topic, corr)


@settings(max_examples=300, deadline=None)
@given(raw_json_request(), st.sampled_from([None, "req/reply", "hermes/x"]))
def test_parse_same_on_poison(payload: bytes, topic: str | None) -> None:
    _same_parse(payload, topic)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=80))
def test_parse_same_on_any_two_strings(rid: str, text: str) -> None:
    payload = json.dumps({"id": rid, "text": text}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    _same_parse(payload)


def test_parse_takes_the_common_shape_fast() -> None:
    """The fast path is taken for what the bench sends (else this file compares the general path with itself)."""
    r = contract._common_shape(b'{"id":"r1","text":" what time is it "}', LIMIT, "req/reply", b"c")
    assert r == Request(id="r1", text="what time is it", reply_to="req/reply", correlation=b"c")
    assert contract._common_shape(b'{"id":"r1","text":"x","language":"en"}', LIMIT, None, None) is None


def _old_payload(res: results.Result, ts: str) -> bytes:
    return contract.encode(results.result_payload(
        res.request, intent=res.intent, confidence=res.confidence, source=res.source, escalated=res.escalated,
        reason=res.reason, answer=res.answer, model=res.model, latency_ms=res.latency_ms, slots=res.slots,
        not_recognized=res.not_recognized, decided=res.decided, ts=ts))


@pytest.fixture
def fixed_ts(monkeypatch: pytest.MonkeyPatch) -> str:
    ts = "2026-12-06T19:00:00.123Z"
    monkeypatch.setattr(results, "now_iso", lambda: ts)
    return ts


def test_result_bytes_same_on_the_shipped_model(fixed_ts: str) -> None:
    from edge.model import Model
    from edge.service_build import load_slots

    model = Model.load(MODEL, threads=1)
    slots = load_slots(model)
    rng = random.Random(24)
    lines = _lines()
    assert len(lines) >= 20
    with_slots = 0
    for k, text in enumerate(lines):
        request = contract.parse_request(json.dumps({"id": f"r{k}", "text": text}).encode(), LIMIT, "req/reply", b"c")
        pred = model.classify([request.text])[0]
        found = slots.extract(request.text, pred.intent) if slots is not None else []
        with_slots += bool(found)
        res = results.Result(request, pred.intent, pred.confidence, "edge", False, "confident", None, model.ident,
                             rng.uniform(0.05, 40.0), list(found))
        assert res.payload == _old_payload(res, fixed_ts), text
        assert json.loads(res.payload)["text"] == request.text
    assert with_slots or slots is None


@pytest.mark.parametrize("kwargs", [
    {}, {"escalated": True, "source": "cloud", "answer": "It is 3 o'clock \u00e9\u20ac\U0001F600"},
    {"answer": ""}, {"confidence": float("nan")}, {"confidence": float("inf")}, {"confidence": 1e-9},
    {"confidence": 0.99995}, {"latency_ms": float("inf")}, {"latency_ms": 1e17}, {"latency_ms": 0},
    {"latency_ms": 3}, {"confidence": 1}, {"intent": "a\"b\\c\n\u2028"}, {"text": "\ud800 lone"},
    {"answer": "\udc80"}, {"slots": [{"name": "x", "value": "\ud800"}]},
    {"slots": [{"name": "area", "value": "K\u00fcche", "start": 3, "end": 8, "score": 0.5}]},
    {"not_recognized": {"reason": "unsure", "detail": "d\u00e9tail"}}, {"not_recognized": {}},
    {"decided": "carrier: turn on {name}"}, {"decided": ""}, {"escalated": 1}, {"model": "m\x00"},
    {"slots": ({"a": 1},)}, {"slots": None}, {"confidence": True},
])
def test_result_bytes_same_on_unusual_values(fixed_ts: str, kwargs: dict) -> None:
    args = {"intent": "weather", "confidence": 0.912345678, "source": "edge", "escalated": False,
            "reason": "confident", "answer": None, "model": "clinc150@2.0.0", "latency_ms": 1.23456789,
            "slots": []}
    text = kwargs.pop("text", "what is the weather")
    args.update(kwargs)
    request = Request(id="r\u00e9\u0085", text=text, reply_to="req/reply")
    res = results.Result(request, **args)
    assert res.payload == _old_payload(res, fixed_ts)


def test_result_bytes_refuses_what_the_encoder_refuses(fixed_ts: str) -> None:
    request = Request(id="r", text="t")
    with pytest.raises(TypeError):
        results.Result(request, "i", 0.5, "edge", False, "confident", None, "m", 1.0, [{"x": object()}])
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError):
        results.Result(request, "i", 0.5, "edge", False, "confident", None, "m", 1.0, loop)


def _iso_floor(ns: int) -> str:
    """What `datetime.now(timezone.utc)` (floored to the microsecond) and `isoformat(timespec="milliseconds")`
    write for the wall-clock time ns."""
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=ns // 1000)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_timestamp_same_as_datetime() -> None:
    rng = random.Random(7)
    base = [0, 1, 999_999, 1_000_000, 999_999_999, 1_000_000_000, 1_796_558_399_999_999_999,
            1_796_558_400_000_000_000, 951_782_400_000_000_000, 4_102_444_799_999_500_000]
    values = base + [rng.randrange(0, 4_102_444_800 * 10**9) for _ in range(20000)]
    values += [v + d for v in values[:200] for d in (-1, 1, 999_999, 1_000_000)]
    for ns in values:
        assert contract.iso_of_ns(ns) == _iso_floor(ns), ns
    for ns in sorted(values[:3000]):  # in order, so the second's cache is used and refreshed
        assert contract.iso_of_ns(ns) == _iso_floor(ns), ns


def test_now_iso_is_the_clock_now() -> None:
    before = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    now = contract.now_iso()
    after = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert before <= now <= after


def test_topic_caches_hold_only_short_topics() -> None:
    """A client's Response Topic may be 64 KiB: 1,024 of them cached would hold 64 MiB."""
    before = (topics._reply_problem_cached.cache_info().currsize, topics._valid_cached.cache_info().currsize)
    for k in range(5):
        topic = f"a{k}/" * 20000 + "reply"
        assert topics.reply_topic_problem(topic) is None
        assert topics.valid_publish_topic(topic)
    topics.reply_topic_problem("x/" * 200 + "new/reply")
    assert (topics._reply_problem_cached.cache_info().currsize,
            topics._valid_cached.cache_info().currsize) == before
    assert topics.reply_topic_problem("x/" * 200 + "new/set") is not None  # refused, uncached
    assert topics.reply_topic_problem("ok/reply") is None
    assert topics.reply_topic_problem("ok/set") is not None  # cached answers stay right
    assert topics.reply_topic_problem("edge/kitchen/x", ("edge/kitchen",)) is not None


@pytest.mark.parametrize("correlation", [None, b"", b"c", b"12345678", bytes(range(256)) * 200])
def test_publish_properties_pack_as_pahos(correlation: bytes | None) -> None:
    """The shared JSON_PROPS (no Correlation Data) and JsonPublishProps pack what paho's Properties packs."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from edge.mqtt.configure import JSON_PROPS, JsonPublishProps

    theirs = Properties(PacketTypes.PUBLISH)
    theirs.PayloadFormatIndicator = 1
    theirs.ContentType = "application/json"
    if correlation is not None:
        theirs.CorrelationData = correlation
    ours = JSON_PROPS if correlation is None else JsonPublishProps(correlation)
    assert ours.pack() == theirs.pack()


def test_intent_topic_cached_or_not_the_same() -> None:
    for intent in ("weather", "a/b+#\x00c", "", "x" * 128, "y/" * 100):
        want = "edge/k/intent/" + ("".join("_" if c in "+#/\x00" else c for c in intent) or "oos")
        assert results.intent_topic("edge/k", intent) == want
        assert results.intent_topic("edge/k", intent) == want  # the cached answer
