"""Keys and signatures in minisign's format: the files, and Ed25519 over bytes.

Debian's ``minisign`` reads and writes the same files, so a key or signature made by
either tool works with the other:

- public key file: ``untrusted comment: ...`` then
  base64("Ed" + key id (8 bytes) + public key (32)).
- secret key file: ``untrusted comment: ...`` then base64("Ed" + kdf ("Sc" or
  two zero bytes) + "B2" + salt (32) + opslimit (8, LE) + memlimit (8, LE) +
  [key id (8) + seed (32) + public key (32) + BLAKE2b-256 checksum (32)]),
  the bracket XORed with scrypt(password) when kdf is "Sc".
- signature file: ``untrusted comment: ...``, base64(alg + key id + signature),
  ``trusted comment: ...``, base64(global signature). alg "ED" signs
  BLAKE2b-512(data) (minisign 0.11's default), legacy "Ed" the data itself;
  the global signature covers signature + trusted comment, so the trusted
  comment cannot be changed either.

All cryptography is the ``cryptography`` package's Ed25519 and hashlib's BLAKE2b and
scrypt; ``cryptography`` (the ``deploy`` extra) is imported only when a key is made, data
signed or a signature checked. What a signature covers in a model package is
edge/signing.py's job; the ``edge keygen`` / ``edge sign`` commands are edge/cli_sign.py's.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

PASSWORD_ENV = "EDGE_KEY_PASSWORD"

# minisign's constants (src/minisign.h, 0.11)
_PK_ALG = b"Ed"
_SIG_PREHASHED, _SIG_LEGACY = b"ED", b"Ed"
_KDF_SCRYPT, _KDF_NONE, _CHK_BLAKE2B = b"Sc", b"\0\0", b"B2"
_OPSLIMIT, _MEMLIMIT = 1048576 * 32, 1073741824  # minisign's scrypt cost: 1 GiB, about 2.5 s here
_PK_LEN = 2 + 8 + 32
_SK_LEN = 2 + 2 + 2 + 32 + 8 + 8 + 104
_SIG_LEN = 2 + 8 + 64

# Bounds on what is read: a signature file is four short lines, a key file two.
_MAX_KEY_BYTES = 64 * 1024
_MAX_TRUSTED_COMMENT = 1024


class SigningError(Exception):
    """Something about keys or signatures is wrong; the message says what."""


class KeyFileError(SigningError):
    """A key (file or text) is unreadable, malformed, or its password is wrong."""


class PackageError(SigningError):
    """A package is refused. ``str(exc)`` (also ``exc.reason``) is a reason fit for a
    status topic: short, no host paths, attacker-supplied names quoted. Raised here by a
    signature check (a bad signature refuses what it signs), by edge/signing.py for the rest."""

    @property
    def reason(self) -> str:
        return str(self)


def _ed25519():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SigningError("signing needs the 'cryptography' package: pip install 'edge-intent[deploy]'") from None
    return ed25519


def crypto_available() -> bool:
    """Is the `cryptography` package installed? Looked up, not imported (its import costs memory a
    device that only waits for deployments should not pay at start-up)."""
    import importlib.util

    try:
        return importlib.util.find_spec("cryptography") is not None
    except (ImportError, ValueError):
        return False


def safe_name(name: object) -> str:
    """A name from a package, safe to put in a status message (quoted when odd, cut when long)."""
    s = str(name)
    if s.isprintable() and " " not in s and len(s) <= 80:
        return s
    return repr(s[:80]) + ("..." if len(s) > 80 else "")


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes   # 8 bytes, as stored (little-endian)
    raw: bytes      # the 32-byte Ed25519 public key

    @property
    def id(self) -> str:
        """The key id as minisign prints it (the stored bytes read as a little-endian number, hex)."""
        return self.key_id[::-1].hex().upper()

    def base64(self) -> str:
        return base64.b64encode(_PK_ALG + self.key_id + self.raw).decode()

    def file_text(self, comment: str | None = None) -> str:
        return f"untrusted comment: {comment or f'minisign public key {self.id}'}\n{self.base64()}\n"


@dataclass(frozen=True)
class SecretKey:
    key_id: bytes
    seed: bytes     # the 32-byte Ed25519 private key
    public: bytes

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.key_id, self.public)


# -- keys ----------------------------------------------------------------------------------
def generate() -> SecretKey:
    ed = _ed25519()
    from cryptography.hazmat.primitives import serialization as ser

    priv = ed.Ed25519PrivateKey.generate()
    seed = priv.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
    pub = priv.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return SecretKey(secrets.token_bytes(8), seed, pub)


def _scrypt_params(opslimit: int, memlimit: int) -> tuple[int, int, int]:
    """(log2 N, r, p) from libsodium's opslimit/memlimit, as crypto_pwhash_scryptsalsa208sha256
    picks them (libsodium's pickparams)."""
    opslimit = max(opslimit, 32768)
    r = 8
    if opslimit < memlimit // 32:
        p, max_n = 1, opslimit // (r * 4)
    else:
        max_n = memlimit // (r * 128)
    n_log2 = 1
    while n_log2 < 63 and (1 << n_log2) <= max_n // 2:
        n_log2 += 1
    if not opslimit < memlimit // 32:
        p = min((opslimit // 4) // (1 << n_log2), 0x3FFFFFFF) // r
    return n_log2, r, max(p, 1)


def _key_stream(password: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    n_log2, r, p = _scrypt_params(opslimit, memlimit)
    need = 128 * r * ((1 << n_log2) + 2) + 128 * r * p
    if need > 8 << 30:
        raise KeyFileError(f"secret key asks for {need >> 20} MiB of scrypt memory; refusing more than 8 GiB")
    return hashlib.scrypt(password, salt=salt, n=1 << n_log2, r=r, p=p, maxmem=need + (1 << 20), dklen=104)


def _checksum(key_id: bytes, seed: bytes, public: bytes) -> bytes:
    return hashlib.blake2b(_PK_ALG + key_id + seed + public, digest_size=32).digest()


def secret_key_text(sk: SecretKey, password: bytes | None = None) -> str:
    """minisign's secret key file; unencrypted (kdf bytes zero, as ``minisign -G -W``) without
    a password, else scrypt-encrypted with minisign's own cost."""
    body = sk.key_id + sk.seed + sk.public + _checksum(sk.key_id, sk.seed, sk.public)
    if password is None:
        head = _PK_ALG + _KDF_NONE + _CHK_BLAKE2B + bytes(32 + 16)
        comment = "minisign secret key (unencrypted)"
    else:
        salt = secrets.token_bytes(32)
        stream = _key_stream(password, salt, _OPSLIMIT, _MEMLIMIT)
        body = bytes(a ^ b for a, b in zip(body, stream))
        head = (_PK_ALG + _KDF_SCRYPT + _CHK_BLAKE2B + salt
                + _OPSLIMIT.to_bytes(8, "little") + _MEMLIMIT.to_bytes(8, "little"))
        comment = "minisign encrypted secret key"
    return f"untrusted comment: {comment}\n{base64.b64encode(head + body).decode()}\n"


def _b64(line: str, what: str, err: type[SigningError]) -> bytes:
    try:
        return base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise err(f"{what}: not valid base64") from None


def _key_line(text: str, where: str) -> str:
    """The base64 line of a key file's text (after its 'untrusted comment:' line, if any)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].startswith("untrusted comment:"):
        lines = lines[1:]
    if len(lines) != 1:
        raise KeyFileError(f"{where}: expected an 'untrusted comment:' line and one base64 line")
    return lines[0]


def parse_public_key(text: str, where: str = "public key") -> PublicKey:
    """A public key from a key file's text or its base64 line alone."""
    blob = _b64(_key_line(text, where), where, KeyFileError)
    if len(blob) != _PK_LEN:
        raise KeyFileError(f"{where}: {len(blob)} bytes, a minisign public key has {_PK_LEN}")
    if blob[:2] != _PK_ALG:
        raise KeyFileError(f"{where}: algorithm {blob[:2]!r}, expected {_PK_ALG!r} (Ed25519)")
    return PublicKey(blob[2:10], blob[10:])


def load_public_key(text_or_path: str | os.PathLike) -> PublicKey:
    """A trusted key as config gives it: the public key file's base64 line (``RWQ...``), the
    file's whole text, or a path to the file. KeyFileError names what was wrong."""
    s = str(text_or_path).strip()
    if not s:
        raise KeyFileError("public key: empty")
    if "\n" in s or s.startswith("untrusted comment:"):
        return parse_public_key(s)
    if re.fullmatch(r"[A-Za-z0-9+/]{56}", s) and s.startswith("RW"):
        return parse_public_key(s, f"public key {s[:12]}...")
    path = Path(s).expanduser()
    if not path.is_file():
        raise KeyFileError(f"public key {safe_name(s)}: neither a minisign public key (base64 'RW...', "
                           "56 characters) nor an existing file")
    return parse_public_key(_read_key_file(path), str(path))


def _read_key_file(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_KEY_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read ({exc})") from None
    if len(data) > _MAX_KEY_BYTES:
        raise KeyFileError(f"{path}: too large for a key file")
    return text


def password_from_env_or_prompt(prompt: str = "Password: ") -> bytes:
    pw = os.environ.get(PASSWORD_ENV)
    if pw is not None:
        return pw.encode()
    if not sys.stdin.isatty():
        raise KeyFileError(f"the secret key is encrypted: set {PASSWORD_ENV} or run on a terminal")
    return getpass.getpass(prompt).encode()


def load_secret_key(path: str | os.PathLike,
                    password: Callable[[], bytes] = password_from_env_or_prompt) -> SecretKey:
    """A minisign secret key file, unencrypted or scrypt-encrypted (``password`` is asked only then)."""
    path = Path(path)
    blob = _b64(_key_line(_read_key_file(path), str(path)), str(path), KeyFileError)
    if len(blob) != _SK_LEN:
        raise KeyFileError(f"{path}: {len(blob)} bytes, a minisign secret key has {_SK_LEN}"
                           + (" (this is the public key)" if len(blob) == _PK_LEN else ""))
    alg, kdf, chk = blob[0:2], blob[2:4], blob[4:6]
    if alg != _PK_ALG or chk != _CHK_BLAKE2B:
        raise KeyFileError(f"{path}: algorithms {alg!r}/{chk!r}, expected {_PK_ALG!r}/{_CHK_BLAKE2B!r}")
    body = blob[54:]
    if kdf == _KDF_SCRYPT:
        salt = blob[6:38]
        ops, mem = int.from_bytes(blob[38:46], "little"), int.from_bytes(blob[46:54], "little")
        body = bytes(a ^ b for a, b in zip(body, _key_stream(password(), salt, ops, mem)))
    elif kdf != _KDF_NONE:
        raise KeyFileError(f"{path}: key derivation {kdf!r} unsupported (minisign's are 'Sc' and none)")
    key_id, seed, public, check = body[:8], body[8:40], body[40:72], body[72:]
    # minisign 0.11 writes an all-zero checksum for unencrypted (-W) keys: accept that there,
    # the seed-to-public check below still catches a damaged key.
    if check != _checksum(key_id, seed, public) and not (kdf == _KDF_NONE and check == bytes(32)):
        raise KeyFileError(f"{path}: wrong password for this key" if kdf == _KDF_SCRYPT
                           else f"{path}: checksum mismatch (damaged key)")
    ed = _ed25519()
    from cryptography.hazmat.primitives import serialization as ser

    derived = ed.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        ser.Encoding.Raw, ser.PublicFormat.Raw)
    if derived != public:
        raise KeyFileError(f"{path}: damaged key (its public half does not match the private one)")
    return SecretKey(key_id, seed, public)


# -- signatures ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Signature:
    alg: bytes
    key_id: bytes
    sig: bytes
    trusted_comment: str
    global_sig: bytes

    @property
    def key_hex(self) -> str:
        return self.key_id[::-1].hex().upper()


def sign_bytes(sk: SecretKey, data: bytes, trusted_comment: str,
               untrusted_comment: str = "signature from minisign secret key") -> str:
    """A minisign signature file (prehashed "ED") for ``data``."""
    if "\n" in trusted_comment or "\r" in trusted_comment or len(trusted_comment.encode()) > _MAX_TRUSTED_COMMENT:
        raise SigningError(f"trusted comment: one line of at most {_MAX_TRUSTED_COMMENT} bytes")
    priv = _ed25519().Ed25519PrivateKey.from_private_bytes(sk.seed)
    sig = priv.sign(hashlib.blake2b(data, digest_size=64).digest())
    global_sig = priv.sign(sig + trusted_comment.encode())
    return (f"untrusted comment: {untrusted_comment}\n"
            f"{base64.b64encode(_SIG_PREHASHED + sk.key_id + sig).decode()}\n"
            f"trusted comment: {trusted_comment}\n"
            f"{base64.b64encode(global_sig).decode()}\n")


def parse_signature(data: bytes) -> Signature:
    """Parse a signature file; PackageError('malformed signature file: ...') when it is not one."""
    def bad(why: str) -> PackageError:
        return PackageError(f"malformed signature file: {why}")

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 4:
        raise bad(f"{len(lines)} lines, expected 4")
    if not lines[0].startswith("untrusted comment:"):
        raise bad("no 'untrusted comment:' line")
    if not lines[2].startswith("trusted comment: "):
        raise bad("no 'trusted comment:' line")
    blob = _b64(lines[1], "malformed signature file: signature", PackageError)
    if len(blob) != _SIG_LEN:
        raise bad(f"signature of {len(blob)} bytes, expected {_SIG_LEN}")
    global_sig = _b64(lines[3], "malformed signature file: comment signature", PackageError)
    if len(global_sig) != 64:
        raise bad(f"comment signature of {len(global_sig)} bytes, expected 64")
    if blob[:2] not in (_SIG_PREHASHED, _SIG_LEGACY):
        raise PackageError(f"unsupported signature algorithm {safe_name(blob[:2])}")
    return Signature(blob[:2], blob[2:10], blob[10:], lines[2][len("trusted comment: "):], global_sig)


def verify_bytes(data: bytes, sig_file: bytes, trusted: Iterable[PublicKey]) -> tuple[PublicKey, Signature]:
    """Check ``sig_file`` over ``data`` against the trusted keys: the key that signed and the
    parsed signature, else PackageError with the reason."""
    sig = parse_signature(sig_file)
    candidates = [k for k in trusted if k.key_id == sig.key_id]
    if not candidates:
        raise PackageError(f"signed by an unknown key {sig.key_hex}")
    ed = _ed25519()
    from cryptography.exceptions import InvalidSignature  # after _ed25519(): the extra is there

    message = hashlib.blake2b(data, digest_size=64).digest() if sig.alg == _SIG_PREHASHED else data
    for key in candidates:  # ids are 8 random bytes: one candidate, unless someone forged an id
        pub = ed.Ed25519PublicKey.from_public_bytes(key.raw)
        try:
            pub.verify(sig.sig, message)
        except InvalidSignature:
            continue
        try:
            pub.verify(sig.global_sig, sig.sig + sig.trusted_comment.encode())
        except InvalidSignature:
            raise PackageError("bad signature (the trusted comment or its signature was changed)") from None
        return key, sig
    raise PackageError("bad signature")
