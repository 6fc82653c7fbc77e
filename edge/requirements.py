"""What the card needs: edge's runtime requirements, with PEP 508 markers evaluated for the card, not this host.

The card's Python version and machine come from its /usr/bin/python3.* (or from
platform wheels given for it); Debian's python3-* packages on the card count as
installed; wheel platform tags say which wheels the card can use. This is what
`edge install` reports as missing and what `edge install --print-requirements` prints.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge import project


class RequirementError(ValueError):
    """A requirement, marker or version this module cannot parse or compare."""


# The variables a marker may name, for a Linux CPython target.
def target_env(machine: str, python: str = "3.11") -> dict[str, str]:
    """Marker variables of a Linux CPython `python` on `machine` (uname -m: x86_64, aarch64, armv7l)."""
    full = python if python.count(".") >= 2 else f"{python}.0"
    return {
        "python_version": ".".join(python.split(".")[:2]), "python_full_version": full,
        "implementation_version": full, "platform_machine": machine, "sys_platform": "linux",
        "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
        "extra": "",
    }


_TOKEN = re.compile(r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b)"""
                    r"""|(?P<bool>and\b|or\b)|(?P<paren>[()])|(?P<var>[A-Za-z_][A-Za-z0-9_.]*))""")
_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:\.\*)?$")


def _version(text: str) -> tuple[int, ...] | None:
    m = _VERSION.match(text.strip())
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def _compare_versions(have: tuple[int, ...], op: str, want_text: str) -> bool:
    want = _version(want_text)
    if want is None:
        raise RequirementError(f"cannot compare with version {want_text!r}")
    width = max(len(have), len(want))
    a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
    if want_text.strip().endswith(".*"):  # prefix match: == 1.2.* / != 1.2.*
        same = have[:len(want)] + (0,) * max(0, len(want) - len(have)) == want
        if op in ("==", "!="):
            return same if op == "==" else not same
        raise RequirementError(f"{op} cannot take a wildcard version ({want_text})")
    if op == "~=":
        if len(want) < 2:
            raise RequirementError(f"~= needs at least two version parts ({want_text})")
        return a >= b and have[:len(want) - 1] + (0,) * max(0, len(want) - 1 - len(have)) == want[:-1]
    return {"==": a == b, "===": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def marker_holds(marker: str, env: dict[str, str]) -> bool:
    """Evaluate a PEP 508 environment marker against `env` (a target's variables, see target_env)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(marker):
        if marker[pos:].strip() == "":
            break
        m = _TOKEN.match(marker, pos)
        if not m:
            raise RequirementError(f"cannot parse the marker {marker!r} at {marker[pos:]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, " ".join(m.group(kind).split())))
        pos = m.end()
    i = 0

    def peek() -> tuple[str, str]:
        return tokens[i] if i < len(tokens) else ("end", "")

    def take(kind: str) -> str:
        nonlocal i
        k, v = peek()
        if k != kind:
            raise RequirementError(f"marker {marker!r}: expected {kind}, found {v or 'the end'}")
        i += 1
        return v

    def value() -> tuple[str, bool]:  # (text, is a variable)
        k, v = peek()
        if k == "str":
            take("str")
            return v[1:-1], False
        if k == "var":
            take("var")
            if v not in env:
                raise RequirementError(f"marker {marker!r}: unknown variable {v}")
            return env[v], True
        raise RequirementError(f"marker {marker!r}: expected a value, found {v or 'the end'}")

    def comparison() -> bool:
        if peek() == ("paren", "("):
            take("paren")
            result = disjunction()
            if take("paren") != ")":
                raise RequirementError(f"marker {marker!r}: unbalanced parentheses")
            return result
        (lhs, _), op, (rhs, _) = value(), take("op"), value()
        if op == "in":
            return lhs in rhs
        if op == "not in":
            return lhs not in rhs
        have = _version(lhs)
        if have is not None and _version(rhs) is not None:
            return _compare_versions(have, op, rhs)
        if op in ("==", "==="):
            return lhs == rhs
        if op == "!=":
            return lhs != rhs
        raise RequirementError(f"marker {marker!r}: {op} needs versions on both sides ({lhs!r}, {rhs!r})")

    def conjunction() -> bool:
        result = comparison()
        while peek() == ("bool", "and"):
            take("bool")
            result = comparison() and result
        return result

    def disjunction() -> bool:
        result = conjunction()
        while peek() == ("bool", "or"):
            take("bool")
            result = conjunction() or result
        return result

    result = disjunction()
    if i != len(tokens):
        raise RequirementError(f"marker {marker!r}: unexpected {tokens[i][1]!r}")
    return result


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(req: str) -> tuple[str, str, str]:
    """'name[extra] >=1,<2; marker' -> (normalized name, specifier, marker)."""
    body, _, marker = req.partition(";")
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$", body)
    if not m:
        raise RequirementError(f"cannot parse the requirement {req!r}")
    return normalize_name(m.group(1)), m.group(2).strip().strip("()").strip(), marker.strip()


def version_satisfies(version: str, specifier: str) -> bool:
    """Does `version` meet a specifier such as '>=1.23,<2'? (Release numbers only; enough for pins.)"""
    have = _version(re.match(r"[\d.]*\d", version.strip()).group(0)) if re.match(r"\d", version.strip()) else None
    if have is None:
        return False
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        m = re.match(r"(===|==|!=|<=|>=|~=|<|>)\s*(.+)$", clause)
        if not m or not _compare_versions(have, m.group(1), m.group(2)):
            return False
    return True


def target_requirements(env: dict[str, str]) -> list[tuple[str, str]]:
    """(name, specifier) of each runtime dependency whose marker holds on the target."""
    out: list[tuple[str, str]] = []
    for req in project.metadata()["dependencies"]:
        name, spec, marker = split_requirement(req)
        if not marker or marker_holds(marker, env):
            out.append((name, spec))
    return out


_ELF_MACHINES = {62: "x86_64", 183: "aarch64", 40: "armv7l", 3: "i686"}
TARGET_MACHINES = ("x86_64", "aarch64", "armv7l")


def _wheel_tags(name: str) -> tuple[str, str, str, str, str] | None:
    """(project, version, python tag, abi tag, platform tag) of a wheel file name."""
    parts = name[:-len(".whl")].split("-") if name.endswith(".whl") else []
    if len(parts) not in (5, 6):
        return None
    return normalize_name(parts[0]), parts[1], parts[-3], parts[-2], parts[-1]


def target_of_root(root: Path, wheels: Path | None = None) -> tuple[dict[str, str] | None, str]:
    """The card's marker variables, read from its Python (version and ELF machine), else from platform wheels."""
    usr_bin = root / "usr" / "bin"
    found: list[tuple[tuple[int, ...], Path]] = []
    for p in usr_bin.glob("python3.*") if usr_bin.is_dir() else []:
        m = re.fullmatch(r"python(3\.\d+)", p.name)
        if m and p.is_file() and not p.is_symlink():
            found.append((_version(m.group(1)) or (), p))
    if found:
        version, binary = max(found)
        try:
            with binary.open("rb") as fh:
                head = fh.read(20)
        except OSError:
            head = b""
        if head[:4] == b"\x7fELF":
            order = "little" if head[5] == 1 else "big"
            machine = _ELF_MACHINES.get(int.from_bytes(head[18:20], order))
            if machine:
                py = ".".join(map(str, version))
                return target_env(machine, py), f"{binary.relative_to(root)} on the card ({machine}, Python {py})"
    machines, pythons = set(), set()
    for whl in sorted(wheels.glob("*.whl")) if wheels is not None and wheels.is_dir() else []:
        tags = _wheel_tags(whl.name)
        if tags:
            machines |= {m for m in TARGET_MACHINES if m in tags[4]}
            pythons |= {f"3.{t[3:]}" for t in tags[2].split(".") if re.fullmatch(r"cp3\d+", t) and tags[3] != "abi3"}
    if len(machines) == 1:
        machine, py = machines.pop(), pythons.pop() if len(pythons) == 1 else "3.11"
        return target_env(machine, py), f"the wheels given ({machine}, Python {py})"
    return None, "unknown (no Python on the card yet, no platform wheels)"


def _wheel_fits(tags: tuple[str, str, str, str, str], env: dict[str, str]) -> bool:
    _, _, py_tags, abi, plat = tags
    machine = env["platform_machine"]
    if plat != "any" and not any(p.endswith(machine) for p in plat.split(".")):
        return False
    minor = int(env["python_version"].split(".")[1])
    for t in py_tags.split("."):
        if t in ("py3", "py2.py3") or t.startswith("py3"):
            return True
        m = re.fullmatch(r"cp3(\d+)", t)
        if m and (int(m.group(1)) == minor or abi == "abi3" and int(m.group(1)) <= minor):
            return True
    return False


def system_packages(root: Path) -> dict[str, str]:
    """Python distributions the card's OS ships (Debian's python3-*: /usr/lib/python3/dist-packages)."""
    found: dict[str, str] = {}
    dist = root / "usr" / "lib" / "python3" / "dist-packages"
    for info in dist.glob("*.*-info") if dist.is_dir() else []:
        m = re.fullmatch(r"([A-Za-z0-9_.]+?)-([0-9][^-]*?)(?:-py\d.*)?\.(?:dist|egg)-info", info.name)
        if m:
            found[normalize_name(m.group(1))] = m.group(2)
    return found


def missing_dependencies(root: Path, wheels: Path, wheel_dir: Path | None = None,
                         extra: list[str] | tuple[str, ...] = ()) -> tuple[list[str], str]:
    """Runtime dependencies the card needs (and `extra` ones, an extra's requirements: cryptography
    when the card takes deployments) and has neither as a fitting wheel nor as an OS package."""
    env, where = target_of_root(root, wheel_dir or wheels)
    envs = [env] if env else [target_env(m) for m in TARGET_MACHINES]
    have: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for whl in wheels.glob("*.whl"):
        tags = _wheel_tags(whl.name)
        if tags:
            have.setdefault(tags[0], []).append(tags)
    system = system_packages(root)
    missing: dict[str, str] = {}  # name -> how it is reported
    for req in [*project.metadata()["dependencies"], *extra]:
        name, spec, marker = split_requirement(req)
        needed_on = [e for e in envs if not marker or marker_holds(marker, e)]
        if not needed_on or name in missing:
            continue
        for e in needed_on:
            ok = any(_wheel_fits(t, e) and version_satisfies(t[1], spec) for t in have.get(name, []))
            if not (ok or name in system and version_satisfies(system[name], spec)):
                only = "" if env or len(needed_on) == len(envs) else \
                    f" ({' or '.join(x['platform_machine'] for x in needed_on)} only)"
                missing[name] = name + only
                break
    return list(missing.values()), where


# Debian's python3-numpy, python3-psutil, python3-sentencepiece (bookworm) meet the pins.
OS_PACKAGES = ("numpy", "psutil", "sentencepiece")


def requirement_lines(machine: str, python: str = "3.11", without_os_packages: bool = False) -> list[str]:
    specs: dict[str, list[str]] = {}  # one line a project: pip -r takes it whatever its resolver
    for name, spec in target_requirements(target_env(machine, python)):
        if not (without_os_packages and name in OS_PACKAGES):
            clauses = specs.setdefault(name, [])
            clauses += [c.strip() for c in spec.split(",") if c.strip() and c.strip() not in clauses]
    return [name + ",".join(clauses) for name, clauses in specs.items()]
