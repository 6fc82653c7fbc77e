"""Test PKI and broker security for end-to-end tests: a CA, server and client certificates made with the
`openssl` command line (EC P-256 keys: milliseconds, not the seconds RSA takes on a small machine), a
mosquitto password file made with `mosquitto_passwd`, and the mosquitto.conf lines for a TLS listener
that requires both a client certificate and a password.

Certificates carry the extensions strict verifiers insist on (basicConstraints and keyUsage on the
CA, subject/authority key identifiers, SANs and extendedKeyUsage on the leaves), so they pass
Python's and mosquitto's checks alike.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"  # enough for one test run; an expired cert would fail loudly


@dataclass(frozen=True)
class Certs:
    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path) -> None:
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args[:2]))} failed: {proc.stderr.strip()}")


def _ec_key(path: Path) -> None:
    # Left at the umask's mode: a broker started as root drops to the `mosquitto` user and must
    # still read its key (the files live in a throwaway test directory).
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


def _leaf(d: Path, name: str, cn: str, extensions: str, ca: Path, ca_key: Path) -> tuple[Path, Path]:
    key, csr, crt, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt", d / f"{name}.ext"
    _ec_key(key)
    _openssl("req", "-new", "-key", key, "-subj", f"/CN={cn}", "-out", csr)
    ext.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n" + extensions
    )
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", DAYS, "-sha256", "-extfile", ext, "-out", crt,
    )  # fmt: skip
    return crt, key


def make_certs(d: Path) -> Certs:
    """A fresh CA and a server (SAN IP:127.0.0.1, DNS:localhost) and client certificate under `d`."""
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key = d / "ca.crt", d / "ca.key"
    _ec_key(ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", ca_key, "-sha256", "-days", DAYS, "-subj", "/CN=edge test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        "-out", ca,
    )  # fmt: skip
    server_cert, server_key = _leaf(
        d, "server", "localhost",
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n", ca, ca_key,
    )  # fmt: skip
    client_cert, client_key = _leaf(d, "client", "edge-test-client", "extendedKeyUsage = clientAuth\n", ca, ca_key)
    return Certs(ca, ca_key, server_cert, server_key, client_cert, client_key)


def make_password_file(path: Path, username: str, password: str) -> Path:
    """A mosquitto password file with one user (hashed by `mosquitto_passwd -b -c`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(path), username, password], capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mosquitto_passwd failed: {(proc.stderr or proc.stdout).strip()}")
    return path


def mosquitto_tls_conf(certs: Certs, port: int, password_file: Path, host: str = "127.0.0.1") -> str:
    """mosquitto.conf lines: a TLS listener that wants a client certificate from our CA *and* a password.

    `password_file` and `allow_anonymous` are global in mosquitto 2 (without
    per_listener_settings), so they cover every listener of that broker.
    """
    return "\n".join(
        [
            f"listener {port} {host}",
            f"cafile {certs.ca}",
            f"certfile {certs.server_cert}",
            f"keyfile {certs.server_key}",
            "require_certificate true",
            "use_identity_as_username false",
            f"password_file {password_file}",
            "allow_anonymous false",
            "set_tcp_nodelay true",
            "",
        ]
    )
