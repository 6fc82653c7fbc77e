"""What a cloud call accepts: a chat completion checked strictly, and the errors and answer it yields.

A reply must be a chat completion whose content is one JSON object
`{"intent": <one of the asked labels or "oos">, "answer": str}` (whitespace, ```
fences and a leading <think> block tolerated); anything else is a CloudError
and the device's own answer stands. The answer is cleaned before it can reach a
result. Every scan here is linear in the reply (a reply may be up to
edge.cloud.REPLY_MAX_BYTES): a hostile reply must not hold the daemon.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from edge.cloud_prompt import Prompt

KINDS = ("timeout", "connection", "http", "invalid_reply", "unknown_label", "rate_limited")
ANSWER_MAX_CHARS = 500


class CloudError(Exception):
    """A cloud call that did not produce a valid answer; the device's own answer stands.

    `kind` is one of KINDS; `status` the HTTP status when there was one;
    `retry_after` the seconds a 429/503 asked us to wait (None when not given).
    """

    def __init__(self, kind: str, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"cloud {self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    intent: str  # one of the labels, or "oos"
    answer: str  # the cloud's short reply, at most ANSWER_MAX_CHARS
    latency_ms: float
    slots: Any = None  # the reply's "slots" as sent; edge.slots.SlotExtractor.cloud_slots validates them


# What the cloud's answer may not carry into a result: C0 and C1 control characters (NUL, ESC, DEL...),
# the bidirectional controls that reorder what a screen shows (RLO, the isolates, the marks), the
# byte-order mark, and lone surrogates (published as \ud800, which the daemon itself refuses on
# input). Line breaks and tabs become spaces: the answer is one short line of text.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF)
_ANSWER_TABLE: dict[int, int | None] = {c: None for c in (*range(0x20), *range(0x7F, 0xA0), *_BIDI,
                                                         *range(0xD800, 0xE000))}
_ANSWER_TABLE.update({ord(c): ord(" ") for c in "\t\n\r\x0b\x0c\x85\u2028\u2029"})


def clean_answer(answer: str) -> str:
    """The cloud's answer as the daemon publishes it: control, bidi and lone-surrogate characters
    removed, blanks at the ends stripped, at most ANSWER_MAX_CHARS characters. Linear: the answer is
    cut to a bounded length before anything else looks at it (a reply may be up to edge.cloud.REPLY_MAX_BYTES)."""
    return answer[: 4 * ANSWER_MAX_CHARS].translate(_ANSWER_TABLE).strip()[:ANSWER_MAX_CHARS]


_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"  # reasoning models served by Ollama put this first
_FENCE = "```"


def unwrap(content: str) -> str:
    """The reply's content without surrounding whitespace, a leading <think>...</think> block and
    ``` fences (with an optional language tag: ```json).

    Plain string scanning, linear in the content: the regular expressions this replaces
    (``` [A-Za-z]* \\s* (.*?) \\s* ``` and <think>.*?</think>) backtracked, and a 4 KB reply
    of fences and blanks held the interpreter (and with it every thread) for a minute."""
    text = content.strip()
    if text.startswith(_THINK_OPEN):
        close = text.find(_THINK_CLOSE)  # the first close tag, as the lazy pattern had it
        if close >= 0:
            text = text[close + len(_THINK_CLOSE):].lstrip()
    if len(text) >= 2 * len(_FENCE) and text.startswith(_FENCE) and text.endswith(_FENCE):
        inner = text[len(_FENCE):-len(_FENCE)]
        text = inner.lstrip(string.ascii_letters).strip()  # the language tag, then blanks
    return text


def content_json(content: str) -> Any:
    """The JSON in a reply's content: tolerates surrounding whitespace, ``` fences and a leading <think> block."""
    try:
        return json.loads(unwrap(content))
    except (ValueError, RecursionError):
        raise CloudError("invalid_reply", f"reply content is not JSON: {excerpt(content)}") from None


def excerpt(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "...")


def reply_content(raw: bytes) -> str:
    """choices[0].message.content of a chat completion's body, or CloudError."""
    try:
        reply = json.loads(raw)
        content = reply["choices"][0]["message"]["content"]
    except (ValueError, RecursionError):
        raise CloudError("invalid_reply", "the response body is not JSON") from None
    except (KeyError, IndexError, TypeError):
        raise CloudError("invalid_reply", "no choices[0].message.content in the response") from None
    if not isinstance(content, str):
        raise CloudError("invalid_reply", "choices[0].message.content is not a string")
    return content


def parse_reply(raw: bytes, prompt: Prompt, scrub: Callable[[str], str]) -> tuple[str, str, Any]:
    """Validate a chat completion strictly: anything but {"intent": known label, "answer": str} is an error.
    The reply's "slots" (asked for when the model has slots) come back as sent, for the slot
    extractor to validate against the request (edge.slots.SlotExtractor.cloud_slots). `prompt`:
    the label set the call was made with; `scrub` hides the API key in what an error quotes."""
    text = reply_content(raw)
    obj = content_json(text)
    if not isinstance(obj, dict):
        raise CloudError("invalid_reply", f"reply content is not a JSON object: {excerpt(text)}")
    intent, answer = obj.get("intent"), obj.get("answer")
    if not isinstance(intent, str):
        raise CloudError("invalid_reply", "reply has no string 'intent'")
    if not isinstance(answer, str):
        raise CloudError("invalid_reply", "reply has no string 'answer'")
    label = intent.strip()
    if label not in prompt.known:
        canonical = prompt.folded.get(label.casefold())
        if canonical is None:
            raise CloudError("unknown_label", f"reply intent {scrub(excerpt(intent, 64))} is not a label")
        label = canonical
    return label, clean_answer(answer), obj.get("slots")
