"""Model package signing: what a signature covers, and the check a device runs.

A model package is trusted through one file: its ``manifest.json`` lists the
sha256 of every other file, so an Ed25519 signature over the manifest covers
the whole package. The signature sits beside it as ``manifest.json.minisig``
in minisign's format (edge/minisign.py), so Debian's ``minisign`` can make and
check it too. ``verify_package`` is what a device calls; ``sign_package`` what
``edge sign`` (edge/cli_sign.py) calls.

The key and signature names of edge/minisign.py are re-exported here, so the
deployment code and its tests see one module for "is this trusted": its
importers (deploy*, rollout, install_keys) need not know the file format's
module.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable

from edge.digest import sha256_file
from edge.minisign import (PASSWORD_ENV, KeyFileError, PackageError, PublicKey, SecretKey, Signature,
                           SigningError, crypto_available, generate, load_public_key, load_secret_key,
                           parse_public_key, parse_signature, safe_name, secret_key_text, sign_bytes,
                           verify_bytes)

__all__ = [  # this module's own, then edge.minisign's that its importers use from here
    "MANIFEST", "SIG_FILE", "check_contents", "sign_package", "verify_package",
    "PASSWORD_ENV", "KeyFileError", "PackageError", "PublicKey", "SecretKey", "Signature", "SigningError",
    "crypto_available", "generate", "load_public_key", "load_secret_key", "parse_public_key",
    "parse_signature", "secret_key_text", "sign_bytes", "verify_bytes",
]

MANIFEST = "manifest.json"
SIG_FILE = "manifest.json.minisig"

# Bounds on what is read: a signature file is four short lines, a manifest some KiB
# (the shipped one 40 KiB); anything far larger is refused before it is parsed.
_MAX_SIG_BYTES = 16 * 1024
_MAX_MANIFEST_BYTES = 8 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _read_regular(path: Path, name: str, limit: int) -> bytes | None:
    """The bytes of a regular file (not a link) of at most ``limit`` bytes; None when absent."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise PackageError(f"{name} is not a regular file")
        if st.st_size > limit:
            raise PackageError(f"{name} is too large ({st.st_size} bytes)")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError:
        raise PackageError(f"cannot read {name}") from None
    if len(data) > limit:  # it grew after lstat
        raise PackageError(f"{name} is too large")
    return data


def _plain_name(name: object) -> str:
    if not isinstance(name, str):
        raise PackageError(f"manifest lists a file name that is not a string: {safe_name(name)}")
    posix, win = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or win.is_absolute() or win.drive or ".." in posix.parts or ".." in win.parts:
        raise PackageError(f"path traversal in manifest: {safe_name(name)}")
    if name in ("", ".") or "/" in name or "\\" in name or not name.isprintable():
        raise PackageError(f"manifest lists {safe_name(name)}, which is not a plain file name")
    if name in (MANIFEST, SIG_FILE):
        raise PackageError(f"manifest lists {name} itself")
    return name


def check_contents(pkg: Path, manifest_bytes: bytes) -> dict[str, Any]:
    """The manifest, once every file it lists is a regular file with its sha256 and nothing
    else is in the package; PackageError with the reason otherwise."""
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PackageError("manifest.json is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise PackageError("manifest.json is not a JSON object")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise PackageError("manifest has no 'files' mapping of file names to sha256")
    for name, digest in files.items():
        _plain_name(name)
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise PackageError(f"manifest: the sha256 of {safe_name(name)} is not 64 lower-case hex digits")
    for name, digest in files.items():
        path = pkg / name
        if not os.path.lexists(path):
            raise PackageError(f"missing file {safe_name(name)}")
        if os.path.islink(path) or not path.is_file():
            raise PackageError(f"file {safe_name(name)} is not a regular file")
        if sha256_file(path) != digest:
            raise PackageError(f"file {safe_name(name)} does not match its sha256")
    for entry in sorted(os.listdir(pkg)):
        if entry not in files and entry not in (MANIFEST, SIG_FILE):
            kind = "directory" if (pkg / entry).is_dir() and not (pkg / entry).is_symlink() else "file"
            raise PackageError(f"unlisted {kind} {safe_name(entry)}")
    return manifest


def _read_manifest(pkg: Path) -> bytes:
    if not pkg.is_dir():
        raise PackageError("not a package directory")
    data = _read_regular(pkg / MANIFEST, MANIFEST, _MAX_MANIFEST_BYTES)
    if data is None:
        raise PackageError("no manifest.json")
    return data


def verify_package(pkg: str | os.PathLike, trusted_public_keys: Iterable[PublicKey | str]) -> dict[str, Any]:
    """The manifest of a package signed by one of ``trusted_public_keys`` (PublicKey values, or
    anything load_public_key takes) whose files all match it; PackageError (its message the
    reason: "unsigned", "signed by an unknown key ID", "bad signature", "file X does not match
    its sha256", "unlisted file X", "path traversal in manifest: X", ...) otherwise."""
    keys = [k if isinstance(k, PublicKey) else load_public_key(k) for k in trusted_public_keys]
    pkg = Path(pkg)
    manifest_bytes = _read_manifest(pkg)
    sig_file = _read_regular(pkg / SIG_FILE, SIG_FILE, _MAX_SIG_BYTES)
    if sig_file is None:
        raise PackageError("unsigned")
    verify_bytes(manifest_bytes, sig_file, keys)  # before the manifest is even parsed
    return check_contents(pkg, manifest_bytes)


def sign_package(pkg: str | os.PathLike, sk: SecretKey, trusted_comment: str | None = None) -> Path:
    """Check the package's contents against its manifest, then write ``manifest.json.minisig``
    (replacing an older one, atomically). Returns the signature file's path."""
    pkg = Path(pkg)
    manifest_bytes = _read_manifest(pkg)
    manifest = check_contents(pkg, manifest_bytes)
    if trusted_comment is None:
        ident = f"{manifest.get('name')}@{manifest.get('version')}"
        trusted_comment = f"timestamp:{int(time.time())}\tfile:{MANIFEST}\thashed\tmodel:{ident}"
    text = sign_bytes(sk, manifest_bytes, trusted_comment)
    out = pkg / SIG_FILE
    tmp = pkg / f".{SIG_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
