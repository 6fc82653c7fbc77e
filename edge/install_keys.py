"""The trusted keys of a card that takes signed deployments, for `edge install` (edge/install.py).

`[deploy] keys` names each key as its base64 line or as a path on the device. The daemon
refuses to start (exit 2) on a key it cannot load, and under edge.service it runs as a dynamic
user with ProtectHome=yes: a key file must be world-readable, on a path whose directories it
may enter, outside /home and /root. These checks run on the card's files before anything is
written; `--deploy-key FILE` copies a key where the unit reads it.
"""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path
from typing import Sequence

# Trusted public keys copied by --deploy-key: world-readable (they are public), so the unit's
# DynamicUser reads them; /etc/edge/credentials is root's alone.
DEPLOY_KEY_DIR = Path("/etc/edge/deploy-keys")
# ProtectHome=yes in edge.service: the daemon sees these empty, so a key there never loads.
_HIDDEN_FROM_THE_UNIT = (Path("/home"), Path("/root"), Path("/run/user"))


class KeyProblem(ValueError):
    """A trusted key the card cannot use; the message says which and why."""


def given_keys(paths: Sequence[Path]) -> dict[Path, bytes]:
    """--deploy-key files: {their path on the card: contents}, each checked to be a public key."""
    from edge import signing  # stdlib only until a signature is verified (it is not, here)

    out: dict[Path, bytes] = {}
    for path in paths:
        try:
            signing.load_public_key(Path(path))
            data = Path(path).read_bytes()
        except (signing.SigningError, OSError) as exc:
            raise KeyProblem(f"--deploy-key {path}: {exc}") from None
        target = DEPLOY_KEY_DIR / f"{Path(path).stem}.pub"
        if target in out and out[target] != data:
            raise KeyProblem(f"--deploy-key: two different keys would both be {target}; rename one")
        out[target] = data
    return out


def configured_keys(config_text: bytes) -> list[str]:
    """`[deploy] keys` of an edge.toml (empty: the card takes no deployments)."""
    try:
        data = tomllib.loads(config_text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # `edge config check` and the daemon report a broken file; deployment is not ours to judge
    keys = data.get("deploy", {}).get("keys", []) if isinstance(data.get("deploy"), dict) else []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def _unreadable_by_the_unit(root: Path, target: Path) -> str | None:
    """Why edge.service (a dynamic user: neither owner nor group) cannot read `target` on the card."""
    p = root
    parts = target.relative_to("/").parts
    for i, part in enumerate(parts):
        p = p / part
        try:
            st = p.lstat()
        except FileNotFoundError:
            return "it is not on the card"
        if stat.S_ISLNK(st.st_mode):
            return f"{Path('/', *parts[:i + 1])} is a link (put the key file itself there)"
        last = i == len(parts) - 1
        if last and not stat.S_ISREG(st.st_mode):
            return "not a file"
        if not st.st_mode & (0o004 if last else 0o001):
            return f"{Path('/', *parts[:i + 1])} is mode {stat.S_IMODE(st.st_mode):04o}, not readable by the service's user"
    return None


def check_keys_on_card(root: Path, keys: Sequence[str], arriving: dict[Path, bytes]) -> list[str]:
    """What is wrong with each trusted key the card's config names (the daemon would refuse to
    start on it, exit 2): a base64 line must parse; a path must be absolute, outside what
    ProtectHome= hides, readable by the unit's user, and a public key. `arriving`: files this
    install writes."""
    from edge import signing

    problems: list[str] = []
    for i, key in enumerate(keys):
        where = f"[deploy] keys[{i}] ({key[:60]})"
        text = key.strip()
        try:
            if "\n" in text or text.startswith("untrusted comment:") or re.fullmatch(r"RW[A-Za-z0-9+/]{54}", text):
                signing.load_public_key(text)
                continue
            path = Path(text)
            if not path.is_absolute():
                problems.append(f"{where}: give the key file's absolute path on the device")
                continue
            if any(path == h or path.is_relative_to(h) for h in _HIDDEN_FROM_THE_UNIT):
                problems.append(f"{where}: edge.service cannot see {path.parts[1]}/ (ProtectHome=yes); "
                                f"use `edge install --deploy-key FILE` ({DEPLOY_KEY_DIR})")
                continue
            if path in arriving:
                continue
            why = _unreadable_by_the_unit(root, path)
            if why:
                problems.append(f"{where}: {why}; `edge install --deploy-key FILE` puts it in {DEPLOY_KEY_DIR}")
                continue
            signing.parse_public_key((root / path.relative_to("/")).read_text(encoding="utf-8"), str(path))
        except (signing.SigningError, OSError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: {exc}")
    return problems
