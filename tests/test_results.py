"""What goes out about a request (edge/results.py): the result and error payloads and their topics."""

from __future__ import annotations

import json

from edge import contract, results
from edge.contract import parse_request

LIMIT = 16384


def test_result_payload_has_exactly_the_spec_fields():
    r = parse_request(b'{"text": "x", "id": "r"}', LIMIT)
    p = results.result_payload(r, intent="balance", confidence=0.912345, source="edge", escalated=False,
                               reason="confident", answer=None, model="m@1", latency_ms=0.12345)
    assert set(p) == {"id", "text", "intent", "confidence", "source", "escalated", "reason", "answer", "model",
                      "latency_ms", "ts", "slots"}
    assert p["confidence"] == 0.9123 and p["latency_ms"] == 0.123 and p["ts"].endswith("Z")
    assert json.loads(contract.encode(p)) == p


def test_error_payload_and_intent_topic():
    assert results.error_payload(None, "invalid_json", "m") == {"id": None, "error": "invalid_json", "message": "m"}
    assert results.intent_topic("edge/k", "balance") == "edge/k/intent/balance"
    assert results.intent_topic("edge/k", "a/b+#") == "edge/k/intent/a_b__"
