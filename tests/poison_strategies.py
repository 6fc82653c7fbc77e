"""Hypothesis strategies for the payloads issue 12 found that plain `st.text()` never makes.

`json.dumps` of a Python string can never hold a lone surrogate or a number
Python refuses, so a fuzzer that builds payloads with it never sends what took
the daemon down. These write the JSON text by hand: raw `\\uXXXX` escapes
(lone and paired surrogates, NUL, controls) and numbers with thousands of
digits or exponents that overflow a float.
"""

from __future__ import annotations

from hypothesis import strategies as st

# A \uXXXX escape as JSON text: lone high/low surrogates, a valid pair, NUL and controls, plain letters.
_escape = st.one_of(
    st.integers(0xD800, 0xDBFF).map(lambda c: f"\\u{c:04x}"),
    st.integers(0xDC00, 0xDFFF).map(lambda c: f"\\u{c:04x}"),
    st.tuples(st.integers(0xD800, 0xDBFF), st.integers(0xDC00, 0xDFFF)).map(lambda p: f"\\u{p[0]:04x}\\u{p[1]:04x}"),
    st.integers(0, 0x1F).map(lambda c: f"\\u{c:04x}"),
    st.sampled_from(["a", "b", " ", "lights", "\\n", "\\\\", '\\"']),
)
json_string_with_escapes = st.lists(_escape, min_size=1, max_size=6).map(lambda parts: '"' + "".join(parts) + '"')

# Numbers as JSON text: past the int-digit limit (4300), floats that overflow to inf, tiny ones, plain ones.
huge_number = st.one_of(
    st.integers(4000, 6000).map(lambda n: "9" * n),
    st.integers(309, 999999).map(lambda e: f"1e{e}"),
    st.integers(309, 999999).map(lambda e: f"-2.5E+{e}"),
    st.integers(400, 99999).map(lambda e: f"1e-{e}"),
    st.integers(-(10**6), 10**6).map(str),
)

_value = st.one_of(json_string_with_escapes, huge_number, st.sampled_from(["true", "null", "[]", "{}"]))


@st.composite
def raw_json_request(draw: st.DrawFn) -> bytes:
    """A request object written as JSON text, each known field maybe a raw escape string or a huge number."""
    fields = []
    if draw(st.booleans()):
        fields.append(f'"id": {draw(_value)}')
    fields.append(f'"text": {draw(st.one_of(json_string_with_escapes, _value))}')
    if draw(st.booleans()):
        fields.append(f'"reply_to": {draw(_value)}')
    if draw(st.booleans()):
        fields.append(f'"n": {draw(huge_number)}')
    order = draw(st.permutations(fields))
    return ("{" + ", ".join(order) + "}").encode("utf-8")
