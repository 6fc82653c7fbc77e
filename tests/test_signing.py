"""Signed model packages (edge/signing.py): `edge keygen` and `edge sign` as real processes,
Debian's minisign checking what they make and making what verify_package accepts, and what
an attacker would send: unknown keys, flipped bytes, swapped files, traversal, garbage."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge import signing as S

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "clinc150"
MINISIGN = shutil.which("minisign")
needs_minisign = pytest.mark.skipif(MINISIGN is None, reason="minisign not installed (scripts/bootstrap installs it)")


def edge(*argv: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The `edge` command in a child process (as a user runs it)."""
    full_env = {k: v for k, v in os.environ.items() if k != S.PASSWORD_ENV}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "edge", *argv], capture_output=True, text=True, env=full_env,
                          input=stdin if stdin is not None else "", timeout=120, cwd=ROOT)


def minisign(*argv: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    assert MINISIGN is not None
    return subprocess.run([MINISIGN, *argv], capture_output=True, text=True, input=stdin, cwd=cwd, timeout=120)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_package(root: Path, name: str = "pkg", files: dict[str, bytes] | None = None, **extra) -> Path:
    """A small package: files and a manifest listing their sha256 (the runtime's keys are not
    needed to check signatures)."""
    pkg = root / name
    pkg.mkdir()
    files = files if files is not None else {"model.tflite": os.urandom(4096), "tokenizer.model": b"spm" * 100}
    for fname, data in files.items():
        (pkg / fname).write_bytes(data)
    manifest = {"name": name, "version": "1.0.0", "files": {f: sha(pkg / f) for f in files}, **extra}
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return pkg


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[S.SecretKey, S.PublicKey, Path]:
    """A key pair made by `edge keygen` (the real command): (secret, public, prefix)."""
    d = tmp_path_factory.mktemp("keys")
    r = edge("keygen", "--out", str(d / "ops"), "--comment", "ops team")
    assert r.returncode == 0, r.stderr
    return S.load_secret_key(d / "ops.key"), S.load_public_key(d / "ops.pub"), d / "ops"


@pytest.fixture
def signed(tmp_path: Path, keys) -> Path:
    sk, _, _ = keys
    pkg = make_package(tmp_path)
    S.sign_package(pkg, sk)
    return pkg


def rejected(pkg: Path, trusted: list) -> str:
    with pytest.raises(S.PackageError) as exc:
        S.verify_package(pkg, trusted)
    return exc.value.reason


# -- round trips -------------------------------------------------------------------------
def test_keygen_sign_verify_round_trip_on_the_shipped_package(tmp_path: Path) -> None:
    r = edge("keygen", "--out", str(tmp_path / "k"))
    assert r.returncode == 0, r.stderr
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pub_lines = pub.read_text().splitlines()
    assert pub_lines[0].startswith("untrusted comment: ") and len(pub_lines) == 2
    assert base64.b64decode(pub_lines[1])[:2] == b"Ed" and len(base64.b64decode(pub_lines[1])) == 42
    assert pub_lines[1] in r.stdout  # what to put in [deploy] keys
    sk_blob = base64.b64decode(key.read_text().splitlines()[1])
    assert sk_blob[:6] == b"Ed\0\0B2" and len(sk_blob) == 158  # minisign's, unencrypted (as -W)

    pkg = tmp_path / "clinc150"
    shutil.copytree(SHIPPED, pkg)
    r = edge("sign", str(pkg), "--key", str(key))
    assert r.returncode == 0, r.stderr
    manifest = S.verify_package(pkg, [str(pub)])
    assert manifest == json.loads((pkg / "manifest.json").read_text())
    # the base64 line alone, as [deploy] keys holds it, works the same
    assert S.verify_package(pkg, [pub_lines[1]])["name"] == "clinc150"
    # signing again replaces the signature and stays valid
    assert edge("sign", str(pkg), "--key", str(key), "--trusted-comment", "release 7").returncode == 0
    assert S.parse_signature((pkg / S.SIG_FILE).read_bytes()).trusted_comment == "release 7"
    S.verify_package(pkg, [pub_lines[1]])


def test_several_trusted_keys_for_rotation(tmp_path: Path, keys) -> None:
    sk_old, pub_old, _ = keys
    sk_new = S.generate()
    a, b = make_package(tmp_path, "a"), make_package(tmp_path, "b")
    S.sign_package(a, sk_old)
    S.sign_package(b, sk_new)
    both = [pub_old, sk_new.public_key]
    assert S.verify_package(a, both)["name"] == "a"
    assert S.verify_package(b, both)["name"] == "b"
    assert rejected(b, [pub_old]) == f"signed by an unknown key {sk_new.public_key.id}"


@needs_minisign
def test_minisign_verifies_what_edge_sign_makes(signed: Path, keys) -> None:
    _, _, prefix = keys
    r = minisign("-Vm", "manifest.json", "-p", f"{prefix}.pub", cwd=signed)
    assert r.returncode == 0, r.stderr
    assert "Signature and comment signature verified" in r.stdout
    assert "model:pkg@1.0.0" in r.stdout  # the trusted comment, checked by minisign too
    (signed / "manifest.json").write_text((signed / "manifest.json").read_text() + " ")
    assert minisign("-Vm", "manifest.json", "-p", f"{prefix}.pub", cwd=signed).returncode != 0


@needs_minisign
@pytest.mark.parametrize("legacy", [False, True], ids=["prehashed-ED", "legacy-Ed"])
def test_verify_package_accepts_what_minisign_signs(tmp_path: Path, legacy: bool) -> None:
    r = minisign("-G", "-W", "-p", "m.pub", "-s", "m.key", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pkg = make_package(tmp_path)
    r = minisign("-S", *(["-l"] if legacy else []), "-s", str(tmp_path / "m.key"), "-m", "manifest.json", cwd=pkg)
    assert r.returncode == 0, r.stderr
    sig = S.parse_signature((pkg / S.SIG_FILE).read_bytes())
    assert sig.alg == (b"Ed" if legacy else b"ED")
    assert S.verify_package(pkg, [str(tmp_path / "m.pub")])["name"] == "pkg"
    (pkg / "model.tflite").write_bytes(b"swapped")
    assert rejected(pkg, [str(tmp_path / "m.pub")]) == "file model.tflite does not match its sha256"


@needs_minisign
def test_edge_sign_uses_a_minisign_key(tmp_path: Path) -> None:
    assert minisign("-G", "-W", "-p", "m.pub", "-s", "m.key", cwd=tmp_path).returncode == 0
    pkg = make_package(tmp_path)
    r = edge("sign", str(pkg), "--key", str(tmp_path / "m.key"))
    assert r.returncode == 0, r.stderr
    assert minisign("-Vm", "manifest.json", "-p", str(tmp_path / "m.pub"), cwd=pkg).returncode == 0
    assert S.load_public_key(tmp_path / "m.pub").id in r.stdout


@pytest.mark.slow
@needs_minisign
def test_encrypted_keys_both_ways(tmp_path: Path) -> None:
    """minisign's scrypt-encrypted key signs through `edge sign` (password from the
    environment); `edge keygen --encrypt` makes a key minisign can use. 1 GiB scrypt each."""
    r = minisign("-G", "-p", "m.pub", "-s", "m.key", cwd=tmp_path, stdin="correct horse\ncorrect horse\n")
    assert r.returncode == 0, r.stderr
    pkg = make_package(tmp_path)
    r = edge("sign", str(pkg), "--key", str(tmp_path / "m.key"), env={S.PASSWORD_ENV: "wrong"})
    assert r.returncode == 2 and "wrong password" in r.stderr
    r = edge("sign", str(pkg), "--key", str(tmp_path / "m.key"))  # no password, no terminal
    assert r.returncode == 2 and S.PASSWORD_ENV in r.stderr
    assert not (pkg / S.SIG_FILE).exists()
    r = edge("sign", str(pkg), "--key", str(tmp_path / "m.key"), env={S.PASSWORD_ENV: "correct horse"})
    assert r.returncode == 0, r.stderr
    S.verify_package(pkg, [str(tmp_path / "m.pub")])

    r = edge("keygen", "--encrypt", "--out", str(tmp_path / "e"), env={S.PASSWORD_ENV: "battery staple"})
    assert r.returncode == 0, r.stderr
    assert base64.b64decode((tmp_path / "e.key").read_text().splitlines()[1])[2:4] == b"Sc"
    other = make_package(tmp_path, "other")
    r = minisign("-S", "-s", str(tmp_path / "e.key"), "-m", "manifest.json", cwd=other, stdin="battery staple\n")
    assert r.returncode == 0, r.stderr
    S.verify_package(other, [str(tmp_path / "e.pub")])


# -- what an attacker sends ----------------------------------------------------------------
def _flip_sig_byte(pkg: Path, line: int, offset: int) -> None:
    lines = (pkg / S.SIG_FILE).read_text().splitlines()
    blob = bytearray(base64.b64decode(lines[line]))
    blob[offset] ^= 0x01
    lines[line] = base64.b64encode(bytes(blob)).decode()
    (pkg / S.SIG_FILE).write_text("\n".join(lines) + "\n")


def test_unsigned_and_unknown_key(tmp_path: Path, signed: Path, keys) -> None:
    _, pub, _ = keys
    assert S.verify_package(signed, [pub])["name"] == "pkg"
    stranger = S.generate()
    assert rejected(signed, [stranger.public_key]) == f"signed by an unknown key {pub.id}"
    assert rejected(signed, []) == f"signed by an unknown key {pub.id}"
    (signed / S.SIG_FILE).unlink()
    assert rejected(signed, [pub]) == "unsigned"


def test_a_key_that_claims_a_trusted_id_is_not_trusted(signed: Path, keys) -> None:
    sk, pub, _ = keys
    forger = S.generate()
    forged = S.SecretKey(pub.key_id, forger.seed, forger.public)  # the trusted key's id, another key
    S.sign_package(signed, forged)
    assert rejected(signed, [pub]) == "bad signature"


@pytest.mark.parametrize("line,offset", [(1, 12), (1, 73), (3, 0), (3, 63)],
                         ids=["signature-first", "signature-last", "global-first", "global-last"])
def test_a_flipped_byte_in_the_signature(signed: Path, keys, line: int, offset: int) -> None:
    _, pub, _ = keys
    _flip_sig_byte(signed, line, offset)
    reason = rejected(signed, [pub])
    assert reason.startswith("bad signature"), reason


def test_a_flipped_byte_in_the_key_id_is_an_unknown_key(signed: Path, keys) -> None:
    _, pub, _ = keys
    _flip_sig_byte(signed, 1, 2)
    assert rejected(signed, [pub]).startswith("signed by an unknown key ")


def test_a_flipped_byte_in_the_manifest(signed: Path, keys) -> None:
    _, pub, _ = keys
    data = bytearray((signed / "manifest.json").read_bytes())
    i = data.index(b'"1.0.0"') + 1
    data[i] ^= 0x01  # version "0.0.0": still valid JSON, a downgrade if it were accepted
    (signed / "manifest.json").write_bytes(bytes(data))
    assert rejected(signed, [pub]) == "bad signature"


def test_a_changed_trusted_comment(signed: Path, keys) -> None:
    _, pub, _ = keys
    text = (signed / S.SIG_FILE).read_text()
    (signed / S.SIG_FILE).write_text(text.replace("model:pkg@1.0.0", "model:pkg@9.9.9 rollback"))
    assert rejected(signed, [pub]) == "bad signature (the trusted comment or its signature was changed)"


def test_wrong_algorithm_bytes(signed: Path, keys) -> None:
    _, pub, _ = keys
    lines = (signed / S.SIG_FILE).read_text().splitlines()
    blob = base64.b64decode(lines[1])
    for alg, expect in ((b"XX", "unsupported signature algorithm"), (b"Ed", "bad signature")):
        lines[1] = base64.b64encode(alg + blob[2:]).decode()  # "ED" -> legacy "Ed": not what was signed
        (signed / S.SIG_FILE).write_text("\n".join(lines) + "\n")
        assert rejected(signed, [pub]).startswith(expect)


def test_a_signature_of_another_manifest(tmp_path: Path, keys) -> None:
    sk, pub, _ = keys
    good = make_package(tmp_path, "good")
    evil = make_package(tmp_path, "evil")
    S.sign_package(good, sk)
    shutil.copy(good / S.SIG_FILE, evil / S.SIG_FILE)
    assert rejected(evil, [pub]) == "bad signature"


@pytest.mark.parametrize("content,why", [
    (None, "2 lines, expected 4"),  # truncated: the last two lines cut
    (b"", "0 lines"),
    (b"untrusted comment: x\n!!!not base64!!!\ntrusted comment: y\nAAAA\n", "not valid base64"),
    (b"untrusted comment: x\nRUQ=\ntrusted comment: y\nAAAA\n", "signature of 2 bytes"),
    (b"\xff\xfe garbage", "not UTF-8"),
    (b"hello\nworld\nfoo\nbar\n", "untrusted comment"),
], ids=["truncated", "empty", "garbage-base64", "short", "binary", "no-comment"])
def test_a_malformed_signature_file(signed: Path, keys, content: bytes | None, why: str) -> None:
    _, pub, _ = keys
    if content is None:
        content = b"\n".join((signed / S.SIG_FILE).read_bytes().split(b"\n")[:2])
    (signed / S.SIG_FILE).write_bytes(content)
    reason = rejected(signed, [pub])
    assert reason.startswith("malformed signature file") and why in reason, reason


def test_a_signature_file_cut_anywhere(signed: Path, keys) -> None:
    _, pub, _ = keys
    whole = (signed / S.SIG_FILE).read_bytes()
    for n in range(0, len(whole) - 1, 7):
        (signed / S.SIG_FILE).write_bytes(whole[:n])
        reason = rejected(signed, [pub])
        assert reason.startswith(("malformed signature file", "bad signature")), (n, reason)


def test_an_oversized_signature_file_is_not_read(signed: Path, keys) -> None:
    _, pub, _ = keys
    (signed / S.SIG_FILE).write_bytes(b"x" * (1 << 20))
    assert "too large" in rejected(signed, [pub])


def test_a_flipped_byte_in_a_listed_file(signed: Path, keys) -> None:
    _, pub, _ = keys
    data = bytearray((signed / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0x80
    (signed / "model.tflite").write_bytes(bytes(data))
    assert rejected(signed, [pub]) == "file model.tflite does not match its sha256"


def test_an_unlisted_file_or_directory(signed: Path, keys) -> None:
    _, pub, _ = keys
    (signed / "payload.so").write_bytes(b"\x7fELF")
    assert rejected(signed, [pub]) == "unlisted file payload.so"
    (signed / "payload.so").unlink()
    (signed / "sub").mkdir()
    assert rejected(signed, [pub]) == "unlisted directory sub"


def test_a_missing_file(signed: Path, keys) -> None:
    _, pub, _ = keys
    (signed / "tokenizer.model").unlink()
    assert rejected(signed, [pub]) == "missing file tokenizer.model"


def test_a_listed_file_that_is_a_symlink(tmp_path: Path, signed: Path, keys) -> None:
    """A link to a file with the right content is still refused: the device would follow it."""
    _, pub, _ = keys
    outside = tmp_path / "outside.tflite"
    shutil.move(signed / "model.tflite", outside)
    (signed / "model.tflite").symlink_to(outside)
    assert rejected(signed, [pub]) == "file model.tflite is not a regular file"
    (signed / "manifest.json").rename(tmp_path / "m.json")
    (signed / "manifest.json").symlink_to(tmp_path / "m.json")
    assert rejected(signed, [pub]) == "manifest.json is not a regular file"


@pytest.mark.parametrize("name,reason", [
    ("../outside.bin", "path traversal in manifest: ../outside.bin"),
    ("/etc/passwd", "path traversal in manifest: /etc/passwd"),
    ("..\\outside.bin", "path traversal in manifest: ..\\outside.bin"),
    ("sub/inner.bin", "manifest lists sub/inner.bin, which is not a plain file name"),
    ("manifest.json", "manifest lists manifest.json itself"),
])
def test_path_traversal_in_a_validly_signed_manifest(tmp_path: Path, keys, name: str, reason: str) -> None:
    """Even the trusted key cannot make the device read or write outside the package."""
    sk, pub, _ = keys
    pkg = make_package(tmp_path)
    victim = tmp_path / "outside.bin"
    victim.write_bytes(b"secret")
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest["files"][name] = sha(victim)
    data = json.dumps(manifest).encode()
    (pkg / "manifest.json").write_bytes(data)
    (pkg / S.SIG_FILE).write_text(S.sign_bytes(sk, data, "crafted"))
    assert rejected(pkg, [pub]) == reason


@pytest.mark.parametrize("manifest,reason", [
    (b"{not json", "manifest.json is not valid JSON"),
    (b"[1, 2]", "manifest.json is not a JSON object"),
    (b'{"name": "x", "version": "1"}', "manifest has no 'files' mapping of file names to sha256"),
    (b'{"files": {"model.tflite": "ABC"}}', "manifest: the sha256 of model.tflite is not 64 lower-case hex digits"),
    (b"[" * 100000 + b"]" * 100000, "manifest.json is not valid JSON"),
])
def test_a_signed_but_malformed_manifest(tmp_path: Path, keys, manifest: bytes, reason: str) -> None:
    sk, pub, _ = keys
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "manifest.json").write_bytes(manifest)
    (pkg / S.SIG_FILE).write_text(S.sign_bytes(sk, manifest, "crafted"))
    assert rejected(pkg, [pub]) == reason


def test_no_manifest_and_not_a_directory(tmp_path: Path, keys) -> None:
    _, pub, _ = keys
    assert rejected(tmp_path, [pub]) == "no manifest.json"
    assert rejected(tmp_path / "absent", [pub]) == "not a package directory"


# -- keys as config gives them ---------------------------------------------------------------
def test_load_public_key_forms_and_errors(tmp_path: Path, keys) -> None:
    _, pub, prefix = keys
    text = Path(f"{prefix}.pub").read_text()
    line = text.splitlines()[1]
    assert text.startswith("untrusted comment: ops team (minisign public key ")
    for form in (line, text, f"{prefix}.pub", Path(f"{prefix}.pub"), f"  {line}\n"):
        assert S.load_public_key(form) == pub
    assert pub.id == base64.b64decode(line)[2:10][::-1].hex().upper()
    bad = {
        "": "empty",
        "RWQnotakey": "neither a minisign public key",
        str(tmp_path / "absent.pub"): "neither a minisign public key",
        "untrusted comment: x\n!!!": "not valid base64",
        "untrusted comment: x\n" + base64.b64encode(b"Ed" + bytes(30)).decode(): "32 bytes, a minisign public key has 42",
        "untrusted comment: x\n" + base64.b64encode(b"Xy" + bytes(40)).decode(): "algorithm b'Xy'",
        "untrusted comment: x\nRWQ=\nRWQ=": "one base64 line",
    }
    for value, why in bad.items():
        with pytest.raises(S.KeyFileError, match=why):
            S.load_public_key(value)
    # the secret key file, given by mistake where the public key belongs
    with pytest.raises(S.KeyFileError, match="158 bytes"):
        S.load_public_key(f"{prefix}.key")


def test_a_damaged_secret_key_is_refused(tmp_path: Path, keys) -> None:
    _, _, prefix = keys
    lines = Path(f"{prefix}.key").read_text().splitlines()
    blob = bytearray(base64.b64decode(lines[1]))
    blob[54 + 8 + 3] ^= 0x01  # a bit of the seed
    (tmp_path / "bad.key").write_text(f"{lines[0]}\n{base64.b64encode(bytes(blob)).decode()}\n")
    with pytest.raises(S.KeyFileError, match="checksum mismatch"):
        S.load_secret_key(tmp_path / "bad.key")
    blob[2:4] = b"Xx"
    (tmp_path / "bad.key").write_text(f"{lines[0]}\n{base64.b64encode(bytes(blob)).decode()}\n")
    with pytest.raises(S.KeyFileError, match="key derivation"):
        S.load_secret_key(tmp_path / "bad.key")


# -- the commands' refusals ------------------------------------------------------------------
def test_edge_sign_refuses_a_bad_package_with_2(tmp_path: Path, keys) -> None:
    _, _, prefix = keys
    key = f"{prefix}.key"
    pkg = make_package(tmp_path)
    (pkg / "model.tflite").write_bytes(b"changed after the manifest")
    r = edge("sign", str(pkg), "--key", key)
    assert r.returncode == 2 and "file model.tflite does not match its sha256" in r.stderr
    pkg2 = make_package(tmp_path, "pkg2")
    (pkg2 / "notes.txt").write_text("x")
    r = edge("sign", str(pkg2), "--key", key)
    assert r.returncode == 2 and "unlisted file notes.txt" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = edge("sign", str(empty), "--key", key)
    assert r.returncode == 2 and "no manifest.json" in r.stderr
    for d in (pkg, pkg2, empty):
        assert not (d / S.SIG_FILE).exists()


def test_edge_sign_refuses_a_bad_key_with_2(tmp_path: Path, keys) -> None:
    _, _, prefix = keys
    pkg = make_package(tmp_path)
    (tmp_path / "garbage.key").write_text("untrusted comment: x\nnot base64 at all\n")
    for key, why in ((f"{prefix}.pub", "this is the public key"), (str(tmp_path / "absent.key"), "cannot read"),
                     (str(tmp_path / "garbage.key"), "not valid base64")):
        r = edge("sign", str(pkg), "--key", key)
        assert r.returncode == 2 and why in r.stderr, r.stderr
    r = edge("sign", str(pkg), "--key", f"{prefix}.key", "--trusted-comment", "two\nlines")
    assert r.returncode == 2 and "one line" in r.stderr
    assert not (pkg / S.SIG_FILE).exists()
    assert edge("sign", "--key", f"{prefix}.key").returncode == 2  # no DIR: usage


def test_edge_keygen_never_overwrites_without_force(tmp_path: Path) -> None:
    assert edge("keygen", "--out", str(tmp_path / "k")).returncode == 0
    before = (tmp_path / "k.key").read_bytes()
    r = edge("keygen", "--out", str(tmp_path / "k"))
    assert r.returncode == 2 and "--force" in r.stderr
    assert (tmp_path / "k.key").read_bytes() == before
    assert edge("keygen", "--out", str(tmp_path / "k"), "--force").returncode == 0
    assert (tmp_path / "k.key").read_bytes() != before
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key", "k.pub"]  # no temporary left


def test_cryptography_is_imported_only_when_used() -> None:
    """The daemon must not load the deploy extra while deployment is off."""
    code = ("import sys, edge.service, edge.signing; loaded = 'cryptography' in sys.modules; "
            "edge.signing.generate(); print(loaded, 'cryptography' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]


# -- the manifest fields a deployment checks (edge train writes them) ------------------------
def test_the_shipped_manifest_says_what_it_needs_and_passes_its_own_selftest() -> None:
    from edge import __version__
    from edge.model import Model
    from edge.train import selftest

    model = Model.load(SHIPPED)
    m = model.manifest
    assert m["requires_runtime"] == __version__
    entries = m["selftest"]
    intents = [e["intent"] for e in entries]
    assert set(intents) == set(model.labels) | {"oos"}
    assert all(intents.count(label) <= 3 for label in set(intents))
    assert any(e["slots"] for e in entries)  # the slot extractor is tested too
    data = ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json"
    if data.is_file():  # where the data set is: every entry comes from its train split
        splits = json.loads(data.read_text())
        train, oos_train = ({t for t, _ in splits[k]} for k in ("train", "oos_train"))
        assert all(e["text"] in (oos_train if e["intent"] == "oos" else train) for e in entries)
        # and they are what `python -m edge.train.selftest ... --split train` chooses today
        assert selftest.choose(model, selftest.examples_of(data, "train")) == entries
    assert selftest.check(model, entries) == []
    # each in-scope entry is kept on the device, with room for another runtime's int8 step
    preds = model.classify([e["text"] for e in entries])
    for e, p in zip(entries, preds):
        if e["intent"] != "oos":
            assert p.confidence >= model.escalation_threshold + 0.04, (e, p)
    # one line per entry, and the same JSON as a plain dump
    text = (SHIPPED / "manifest.json").read_text()
    assert json.loads(selftest.dumps(m)) == m == json.loads(text)
    assert text.count("\n") < 500 + len(entries)


def test_a_selftest_the_package_fails_is_reported() -> None:
    """What the device runs: a wrong intent or wrong slots in an entry is a failure, named."""
    from edge import selftest  # the runtime side (the daemon may not import edge.train)
    from edge.model import Model

    model = Model.load(SHIPPED)
    good = [e for e in model.manifest["selftest"] if e["slots"]][:1]
    assert selftest.check(model, good) == []
    wrong_intent = [{**good[0], "intent": "weather"}]
    wrong_span = [{**good[0], "slots": [{**good[0]["slots"][0], "start": good[0]["slots"][0]["start"] + 1}]}]
    missing_slots = [{**good[0], "slots": []}]
    out_of_scope = [{"text": "what size wipers does this car take", "intent": "alarm", "slots": []}]
    for entries in (wrong_intent, wrong_span, missing_slots, out_of_scope):
        failures = selftest.check(model, entries)
        assert len(failures) == 1 and entries[0]["text"] in failures[0], failures


def test_selftest_takes_marked_slots_as_the_truth(tmp_path: Path) -> None:
    """With slots marked in the data, an example whose marks the package does not reproduce
    is never chosen (it would fail on the device)."""
    from edge.markup import Span
    from edge.model import Model
    from edge.train import selftest

    model = Model.load(SHIPPED)
    text = "wake me up at noon tomorrow"
    right = (Span(14, 27, "time", "noon tomorrow"),)
    wrong = (Span(14, 18, "time", "noon"),)
    assert selftest.choose(model, [(text, "alarm", wrong)]) == []
    chosen = selftest.choose(model, [(text, "alarm", right), ("set an alarm", "weather", ())])
    assert chosen == [{"text": text, "intent": "alarm",
                       "slots": [{"name": "time", "raw": "noon tomorrow", "start": 14, "end": 27}]}]


def test_without_the_deploy_extra_the_commands_say_what_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['cryptography'] = None\n"  # as if it were not installed
            "from edge.__main__ import main\n"
            f"sys.exit(main(['keygen', '--out', {str(tmp_path / 'k')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "pip install 'edge-intent[deploy]'" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_any_bytes_as_a_signature_file_are_only_ever_a_reason(tmp_path: Path, keys) -> None:
    """Whatever arrives as the signature file, verification answers with a PackageError
    (a reason for the status topic), never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sk, pub, _ = keys
    pkg = make_package(tmp_path)
    S.sign_package(pkg, sk)
    good = (pkg / S.SIG_FILE).read_bytes()
    lines = good.split(b"\n")

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(
        st.binary(max_size=400),
        st.lists(st.sampled_from(lines + [b"", b"trusted comment: x", b"RUQ=", b"\xff"]), max_size=6)
        .map(b"\n".join),
        st.tuples(st.integers(0, len(good) - 1), st.integers(1, 255))
        .map(lambda t: good[:t[0]] + bytes([good[t[0]] ^ t[1]]) + good[t[0] + 1:]),
    ))
    def check(data: bytes) -> None:
        (pkg / S.SIG_FILE).write_bytes(data)
        try:
            S.verify_package(pkg, [pub])
        except S.PackageError as exc:
            assert exc.reason
        else:  # only the signature as made (a flipped byte never passes, unless it was the
            # trailing newline or a "\r" before it, which the format ignores)
            assert S.parse_signature(data) == S.parse_signature(good)

    check()
