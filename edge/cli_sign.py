"""``edge keygen`` and ``edge sign``: the command-line side of model package signing.

The key files' format is edge/minisign.py's; what a signature covers, edge/signing.py's.
Imported only when one of these commands runs (``cryptography`` with it, at first use).
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Any

from edge.minisign import (PASSWORD_ENV, KeyFileError, PackageError, SigningError, generate, load_secret_key,
                           password_from_env_or_prompt, secret_key_text)
from edge.signing import sign_package


def _write_new(path: Path, text: str, mode: int, force: bool) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)  # whatever the umask
    if force:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # fails if it exists: never overwrite a key without --force
        finally:
            os.unlink(tmp)


def run_keygen(args: Any) -> int:
    """``edge keygen``: PREFIX.pub and PREFIX.key (0600). 0, or 2 when a file exists (without
    --force) or cannot be written."""
    prefix = Path(args.out)
    pub_path, key_path = Path(f"{prefix}.pub"), Path(f"{prefix}.key")
    existing = [str(p) for p in (pub_path, key_path) if os.path.lexists(p)]
    if existing and not args.force:
        print(f"edge keygen: {' and '.join(existing)} already there; use --force to replace", file=sys.stderr)
        return 2
    try:
        password = None
        if args.encrypt:
            password = password_from_env_or_prompt("Password for the new key: ")
            if PASSWORD_ENV not in os.environ and getpass.getpass("Again: ").encode() != password:
                print("edge keygen: the passwords differ", file=sys.stderr)
                return 2
        sk = generate()
        pk = sk.public_key
        comment = f"{args.comment} (minisign public key {pk.id})" if args.comment else None
        _write_new(key_path, secret_key_text(sk, password), 0o600, args.force)
        _write_new(pub_path, pk.file_text(comment), 0o644, args.force)
    except (SigningError, OSError) as exc:
        print(f"edge keygen: {exc}", file=sys.stderr)
        return 2
    print(f"secret key: {key_path} ({'encrypted' if password else 'unencrypted'}: keep it secret)\n"
          f"public key: {pub_path} (key id {pk.id})\n"
          f"trust it on devices with [deploy] keys = [\"{pk.base64()}\"]")
    return 0


def run_sign(args: Any) -> int:
    """``edge sign DIR --key FILE``: 0, or 2 on a bad package or key."""
    try:
        sk = load_secret_key(args.key)
        out = sign_package(args.dir, sk, args.trusted_comment)
    except KeyFileError as exc:
        print(f"edge sign: key: {exc}", file=sys.stderr)
        return 2
    except PackageError as exc:
        print(f"edge sign: {args.dir}: {exc}", file=sys.stderr)
        return 2
    except (SigningError, OSError) as exc:
        print(f"edge sign: {exc}", file=sys.stderr)
        return 2
    print(f"signed {out} with key {sk.public_key.id}")
    return 0
