"""One setting's value checked: its type (ints taken for floats, bools never ints), then its
field's `Check` (choices, range, pattern, rule) and the rules every text and number follows
(edge/config_checks.py); each refusal is one error line naming the key, its source and the value.

edge/config.py runs these on every layer it merges and on a value given on the command line
(`check_value`); edge/config_env.py quotes values with `shown`.
"""

from __future__ import annotations

from typing import Any

from edge import config_checks as rules
from edge.config_schema import LIST, Check, type_name


def shown(value: Any, limit: int = 80) -> str:
    """A value as an error line quotes it: repr (escapes controls and surrogates), cut to `limit`."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-2:]}"


def coerce(value: Any, typ: type, key: str, where: str, errors: list[str], note: str = "") -> Any:
    """Type-check one TOML value (ints are accepted for floats; bools are never ints).
    `note` ends an error line (which variable a value from the environment came from)."""
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is LIST:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    errors.append(f"{where}: {key}: expected {type_name(typ)}, got {shown(value)}{note}")
    return None


def why_not(value: Any, check: Check) -> str | None:
    """Why a correctly typed value is refused, or None."""
    texts = value if isinstance(value, tuple) else (value,) if isinstance(value, str) else ()
    for t in texts:
        if why := rules.text(t):
            return why
    if isinstance(value, float) and (why := rules.finite(value)):
        return why
    if check.choices is not None and value not in check.choices:
        return f"must be one of {', '.join(map(repr, check.choices))}"
    if check.min is not None and value < check.min:
        return f"must be >= {check.min:g}"
    if check.max is not None and value > check.max:
        return f"must be <= {check.max:g}"
    if check.pattern is not None and value and not check.pattern.match(value):
        return f"is not valid ({check.hint or check.pattern.pattern})"
    return check.rule(value) if check.rule is not None else None


def check(value: Any, check: Check, key: str, where: str, errors: list[str], note: str = "") -> bool:
    bad = why_not(value, check)
    if bad:
        errors.append(f"{where}: {key}: {shown(value)} {bad}{note}")
    return bad is None
