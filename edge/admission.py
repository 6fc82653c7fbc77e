"""Whether a device installs a verified package: the rules after the signature.

A manifest that edge.signing has verified is admitted when its name is a plain name, its
version is newer than every version of that name the device has run (a replayed old package
is refused; ``"deploy": {"rollback": true}`` in the signed manifest is the one way back), the
edge it ``requires_runtime`` is not newer than the one running, it has the files the runtime
loads, and it carries self-test examples (a package must prove itself before it serves).
Pure functions; edge/deploy.py keeps the record of versions run.
"""

from __future__ import annotations

import re
from typing import Mapping

REQUIRED_FILES = ("model.tflite", "tokenizer.model")  # edge.model's MODEL_FILE, TOKENIZER_FILE
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_VERSION = re.compile(r"\d{1,9}(?:\.\d{1,9}){0,3}")


class Rejected(Exception):
    """A deployment is refused; the message is the status reason."""


def version_key(v: object) -> tuple[int, ...]:
    """``"2.1.0"`` -> (2, 1, 0, 0); ValueError unless one to four dot-separated numbers
    (``edge train`` writes 2.0.0 or the date, 2026.12.06)."""
    if not isinstance(v, str) or not _VERSION.fullmatch(v):
        raise ValueError(v)
    nums = tuple(int(x) for x in v.split("."))
    return nums + (0,) * (4 - len(nums))


def runtime_key(v: str) -> tuple[int, ...]:
    """A running version such as ``0.1.0`` or ``0.2.0.dev1``: its leading numbers."""
    m = re.match(r"\d+(?:\.\d+){0,3}", v.strip())
    return version_key(m.group(0)) if m else (0, 0, 0, 0)


def newest(stored: object, *idents: str | None) -> dict[str, str]:
    """The newest version of each name: a stored record (anything malformed in it ignored)
    merged with ``idents`` (name@version)."""
    out = {k: v for k, v in (stored.items() if isinstance(stored, dict) else ())
           if isinstance(k, str) and isinstance(v, str) and _VERSION.fullmatch(v)}
    for ident in idents:
        name, _, version = (ident or "").partition("@")
        if _VERSION.fullmatch(version) and (name not in out or version_key(version) > version_key(out[name])):
            out[name] = version
    return out


def ident_of(m: Mapping) -> str:
    """name@version of a verified manifest; Rejected when either is unusable."""
    name, version = m.get("name"), m.get("version")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise Rejected("manifest: the package name must be letters, digits, '.', '_' or '-'")
    try:
        version_key(version)
    except ValueError:
        raise Rejected("manifest: the version must be one to four dot-separated numbers") from None
    return f"{name}@{version}"


def admit(m: Mapping, active: str | None, versions_run: Mapping[str, str], runtime_version: str) -> str:
    """name@version of a verified manifest this device will install; Rejected otherwise.
    ``active``: the running package's ident; ``versions_run``: ``newest()`` of the device."""
    ident = ident_of(m)
    name, version = ident.split("@", 1)
    order = m.get("deploy", {})
    if not isinstance(order, dict) or not isinstance(order.get("rollback", False), bool):
        raise Rejected("manifest: 'deploy' must be an object with a boolean 'rollback'")
    if ident == active:
        raise Rejected(f"{ident} is already active")
    seen = versions_run.get(name)
    if seen is not None and version_key(version) <= version_key(seen) and not order.get("rollback", False):
        raise Rejected(f"{ident} is not newer than {name}@{seen}, which this device has run "
                       "(a downgrade needs a signed rollback order)")
    needs = m.get("requires_runtime")
    try:
        needs_key = version_key(needs)
    except ValueError:
        raise Rejected("manifest: no requires_runtime version (which edge runs this package?)") from None
    if needs_key > runtime_key(runtime_version):
        raise Rejected(f"{ident} needs edge {needs} or newer; this device runs {runtime_version}")
    missing = [f for f in REQUIRED_FILES if f not in m.get("files", {})]
    if missing:
        raise Rejected(f"{ident} has no {', '.join(missing)}")
    tests = m.get("selftest")
    if not isinstance(tests, list) or not tests:
        raise Rejected(f"{ident} has no self-test examples; a package must prove itself")
    for i, e in enumerate(tests):
        if not (isinstance(e, dict) and isinstance(e.get("text"), str) and isinstance(e.get("intent"), str)
                and isinstance(e.get("slots", []), list)):
            raise Rejected(f"{ident}: self-test example {i} is malformed")
    return ident
