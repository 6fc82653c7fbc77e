"""The device side of a deployment (edge/deploy.py): real packages (the shipped clinc150,
version bumped, signed by a key made here), real tar archives, the real model loader and
self-test; what an attacker sends is rejected with a reason and leaves the state directory
byte-identical; real SIGKILLs at every step (tests/deploy_harness.py); probation on a fake
clock."""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from edge import signing as S
from edge.admission import version_key
from edge.deploy import DeployError, Deployer, Status
from edge.model import Model
from edge.probation import ProbationPolicy
from edge.slots import CLINC150_SLOTS

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "clinc150"
HARNESS = ROOT / "tests" / "deploy_harness.py"
POLICY = ProbationPolicy(requests=50, seconds=600, max_errors=3, latency_factor=3.0, min_samples=10, max_restarts=3)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_pkg(root: Path, version: str, key: S.SecretKey, edit: Callable[[dict, Path], None] | None = None,
             rollback: bool = False) -> Path:
    """The shipped package at ``version``, edited, its hashes recomputed, signed with ``key``."""
    pkg = root / f"pkg-{version}-{len(list(root.iterdir()))}"
    shutil.copytree(SHIPPED, pkg)
    m = json.loads((pkg / "manifest.json").read_text())
    m["version"] = version
    if rollback:
        m["deploy"] = {"rollback": True}
    if edit is not None:
        edit(m, pkg)
    m["files"] = {f: sha(pkg / f) for f in m["files"]}
    (pkg / "manifest.json").write_text(json.dumps(m, indent=1))
    S.sign_package(pkg, key)
    return pkg


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as t:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def files_of(pkg: Path, prefix: str = "") -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [(tarfile.TarInfo(prefix + f.name), f.read_bytes()) for f in sorted(pkg.iterdir())]


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its contents' sha256 (what "nothing changed" compares)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in files:
            p = Path(dirpath) / f
            out[os.path.relpath(p, root)] = "link" if p.is_symlink() else sha(p)
    return out


@pytest.fixture(scope="module")
def keys() -> tuple[S.SecretKey, S.SecretKey]:
    return S.generate(), S.generate()


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory: pytest.TempPathFactory, keys) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pkgs")
    key = keys[0]
    return {"2.1.0": make_pkg(root, "2.1.0", key), "2.2.0": make_pkg(root, "2.2.0", key),
            "2.0.0": make_pkg(root, "2.0.0", key), "2.0.0-rollback": make_pkg(root, "2.0.0", key, rollback=True)}


@pytest.fixture(scope="module")
def payloads(pkgs) -> dict[str, bytes]:
    return {v: tar_of(files_of(p)) for v, p in pkgs.items()}


def deployer(state: Path, keys, clock: Clock | None = None, **kw: Any) -> Deployer:
    kw.setdefault("policy", POLICY)
    return Deployer(state, [keys[0].public_key], "0.1.0", Model.load, clock or Clock(), initial=SHIPPED, **kw)


def deploy_ok(d: Deployer, payload: bytes) -> Status:
    st = d.receive(payload)
    assert st.state == "testing" and st.loaded is not None, st
    return d.commit()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, keys, payloads) -> Path:
    """A state directory where clinc150@2.1.0 was deployed and confirmed (previous: the shipped 2.0.0)."""
    state = tmp_path_factory.mktemp("template") / "state"
    d = deployer(state, keys)
    assert d.recover() is None and d.active_path() == SHIPPED
    st = deploy_ok(d, payloads["2.1.0"])
    assert st.payload()["state"] == "active" and st.previous == "clinc150@2.0.0"
    assert d.confirm().reason is None
    return state


@pytest.fixture
def state(tmp_path: Path, template: Path) -> Path:
    shutil.copytree(template, tmp_path / "state")
    return tmp_path / "state"


# -- the path that works ---------------------------------------------------------------
def test_a_deployment_goes_through_every_state(tmp_path: Path, keys, payloads) -> None:
    seen: list[Status] = []
    d = deployer(tmp_path / "state", keys, on_status=seen.append)
    assert d.recover() is None
    st = d.receive(payloads["2.1.0"])
    assert [s.state for s in seen] == ["verifying", "testing"]
    assert seen[0].model is None and seen[1].model == "clinc150@2.1.0"
    assert st.state == "testing" and st.loaded.ident == "clinc150@2.1.0"
    assert d.active_path() == SHIPPED  # not active before the commit
    st = d.commit()
    assert st.payload().keys() == {"model", "state", "reason", "previous", "ts"}
    assert (st.model, st.state, st.previous) == ("clinc150@2.1.0", "active", "clinc150@2.0.0")
    assert st.reason.startswith("on probation") and st.ts.endswith("Z")
    assert d.active_path() == tmp_path / "state" / "models" / "clinc150@2.1.0"
    assert Model.load(d.active_path()).ident == "clinc150@2.1.0"
    assert sorted(os.listdir(tmp_path / "state" / "deploy")) == ["active.json"]  # no journal, no incoming


def test_plain_tar_and_dot_slash_members_are_accepted(tmp_path: Path, keys, pkgs) -> None:
    d = deployer(tmp_path / "state", keys)
    dot = tarfile.TarInfo(".")
    dot.type = tarfile.DIRTYPE
    st = d.receive(tar_of([(dot, None)] + files_of(pkgs["2.1.0"], "./"), gz=False))
    assert st.state == "testing", st


def test_garbage_collection_keeps_the_active_and_the_previous(state: Path, keys, payloads) -> None:
    d = deployer(state, keys)
    st = deploy_ok(d, payloads["2.2.0"])
    assert st.previous == "clinc150@2.1.0"
    assert sorted(os.listdir(state / "models")) == ["clinc150@2.1.0", "clinc150@2.2.0"]
    assert SHIPPED.is_dir() and (SHIPPED / "model.tflite").is_file()  # never touched: outside the state dir


# -- what an attacker or a careless user sends ------------------------------------------------
def _swap_file(pkg: Path) -> bytes:
    members = files_of(pkg)
    return tar_of([(i, (b"x" * len(d) if i.name == "tokenizer.model" else d)) for i, d in members])


def _link(kind: bytes, name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    i = tarfile.TarInfo(name)
    i.type, i.linkname = kind, target
    return i, None


def _bad_payloads(pkgs: dict[str, Path], keys, tmp: Path) -> dict[str, tuple[bytes, str]]:
    good = files_of(pkgs["2.2.0"])
    half = tar_of(good, gz=False)
    other = make_pkg(tmp, "2.2.0", keys[1])
    unsigned = [(i, d) for i, d in good if i.name != "manifest.json.minisig"]
    dev = tarfile.TarInfo("model.tflite")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    sub = tarfile.TarInfo("sub")
    sub.type = tarfile.DIRTYPE
    huge = tarfile.TarInfo("model.tflite")
    huge_tar = bytearray(tar_of([(huge, b"")], gz=False))
    huge_tar[124:136] = b"%011o\0" % (4 << 30)  # a header that declares 4 GiB
    huge_tar[148:156] = b"        "
    huge_tar[148:156] = b"%06o\0 " % sum(huge_tar[:512])

    def pkg(version: str, edit: Callable[[dict, Path], None]) -> bytes:
        return tar_of(files_of(make_pkg(tmp, version, keys[0], edit)))

    def drop_tokenizer(m: dict, p: Path) -> None:
        del m["files"]["tokenizer.model"]
        (p / "tokenizer.model").unlink()

    def wrong_intent(m: dict, p: Path) -> None:
        m["selftest"][0] = {**m["selftest"][0], "intent": "weather" if m["selftest"][0]["intent"] != "weather" else "time"}

    return {
        "garbage": (os.urandom(8192), "not a tar archive"),
        "text": (b"hello, please install me", "not a tar archive"),
        "truncated gzip": (tar_of(good)[: len(tar_of(good)) // 2], "truncated archive"),
        "truncated tar": (half[: len(half) // 2], "truncated archive"),
        "dot-dot": (tar_of(good + [(tarfile.TarInfo("../../etc/cron.d/x"), b"* * * * * root sh\n")]),
                    "path traversal ../../etc/cron.d/x in the archive"),
        "dot-dot inside": (tar_of([(tarfile.TarInfo("a/../../x"), b"x")] + good), "path traversal"),
        "absolute": (tar_of([(tarfile.TarInfo("/etc/passwd"), b"root::0:0::/:/bin/sh\n")] + good),
                     "absolute path /etc/passwd"),
        "symlink": (tar_of([_link(tarfile.SYMTYPE, "model.tflite", "/etc/shadow")] + good[1:]),
                    "symlink model.tflite in the archive"),
        "hard link": (tar_of(good + [_link(tarfile.LNKTYPE, "x", "/etc/shadow")]), "hard link x in the archive"),
        "device": (tar_of([(dev, None)] + good), "device or fifo model.tflite"),
        "directory": (tar_of([(sub, None)] + good), "directory sub in the archive"),
        "nested file": (tar_of([(tarfile.TarInfo("sub/model.tflite"), b"x")] + good), "not a plain file name"),
        "duplicate": (tar_of(good + good[:1]), "appears twice"),
        "declared 4 GiB": (bytes(huge_tar), "declare more than"),
        "unknown key": (tar_of(files_of(other)), f"signed by an unknown key {keys[1].public_key.id}"),
        "unsigned": (tar_of(unsigned), "unsigned"),
        "file swapped": (_swap_file(pkgs["2.2.0"]), "file tokenizer.model does not match its sha256"),
        "unlisted file": (tar_of(good + [(tarfile.TarInfo("run.sh"), b"#!/bin/sh\n")]), "unlisted file run.sh"),
        "the active version, other contents": (pkg("2.1.0", lambda m, p: m.update(note="changed")),
                                               "clinc150@2.1.0 is already active"),
        "replay of an older one": (tar_of(files_of(pkgs["2.0.0"])), "clinc150@2.0.0 is not newer than"),
        "newer runtime": (pkg("2.3.0", lambda m, p: m.update(requires_runtime="9.0.0")),
                          "needs edge 9.0.0 or newer; this device runs 0.1.0"),
        "no runtime field": (pkg("2.3.0", lambda m, p: m.pop("requires_runtime")), "no requires_runtime"),
        "bad version": (pkg("2.3.0-beta", lambda m, p: None), "dot-separated numbers"),
        "bad name": (pkg("2.3.0", lambda m, p: m.update(name="../../x")), "package name"),
        "empty self-test": (pkg("2.3.0", lambda m, p: m.update(selftest=[])), "no self-test examples"),
        "malformed self-test": (pkg("2.3.0", lambda m, p: m.update(selftest=[{"text": 1}])), "malformed"),
        "missing model file": (pkg("2.3.0", drop_tokenizer), "has no tokenizer.model"),
        "model that does not load": (pkg("2.3.0", lambda m, p: (p / "model.tflite").write_bytes(os.urandom(5000))),
                                     "clinc150@2.3.0 does not load"),
        "failing self-test": (pkg("2.3.0", wrong_intent), "failed its self-test: 1 of 453 examples"),
        "rollback field of the wrong type": (pkg("2.3.0", lambda m, p: m.update(deploy={"rollback": "yes"})),
                                             "boolean 'rollback'"),
    }


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, pkgs, keys) -> dict[str, tuple[bytes, str]]:
    return _bad_payloads(pkgs, keys, tmp_path_factory.mktemp("bad"))


BAD = ["garbage", "text", "truncated gzip", "truncated tar", "dot-dot", "dot-dot inside", "absolute", "symlink",
       "hard link", "device", "directory", "nested file", "duplicate", "declared 4 GiB", "unknown key", "unsigned",
       "file swapped", "unlisted file", "the active version, other contents", "replay of an older one", "newer runtime",
       "no runtime field", "bad version", "bad name", "empty self-test", "malformed self-test", "missing model file",
       "model that does not load", "failing self-test", "rollback field of the wrong type"]


# refused in memory, before the journal or the payload is written: the directory is not touched
BEFORE_DISK = {"garbage", "text", "truncated gzip", "truncated tar", "dot-dot", "dot-dot inside", "absolute",
               "symlink", "hard link", "device", "directory", "nested file", "duplicate", "declared 4 GiB",
               "unknown key", "unsigned"}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_rejected_and_changes_nothing(case: str, state: Path, keys, bad, payloads,
                                                   tmp_path: Path) -> None:
    payload, reason = bad[case]
    d = deployer(state, keys)
    assert d.recover() is None
    before, mtime = tree(state), os.stat(state / "deploy").st_mtime_ns
    st = d.receive(payload)
    assert st.state == "rejected" and reason in st.reason, (case, st)
    assert st.previous == "clinc150@2.1.0" and st.loaded is None
    if case in BEFORE_DISK:
        assert os.stat(state / "deploy").st_mtime_ns == mtime, "written to disk before the signature was checked"
    assert "/" + str(tmp_path).strip("/") not in st.reason  # no host paths in a status
    assert tree(state) == before
    assert d.active_path() == state / "models" / "clinc150@2.1.0" and not d.busy
    # and the device still takes a good package afterwards: nothing is stuck
    assert d.receive(payloads["2.2.0"]).state == "testing"


def test_a_200_mb_payload_is_refused_before_a_byte_is_written(state: Path, keys, tmp_path: Path) -> None:
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(200 * 1000 * 1000)  # a hole: no 200 MB of memory or disk
    d = deployer(state, keys)
    before = tree(state)
    with open(sparse, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        st = d.receive(memoryview(mm))
    assert st.state == "rejected" and st.reason == f"package too large (200000000 bytes; the limit is {64 << 20})"
    assert tree(state) == before


def test_a_gzip_bomb_stops_at_the_limit(state: Path, keys, pkgs) -> None:
    d = deployer(state, keys, max_bytes=4 << 20)
    before = tree(state)
    bomb = tar_of(files_of(pkgs["2.2.0"]) + [(tarfile.TarInfo("zeros"), bytes(3 << 20))])
    assert len(bomb) < 4 << 20
    st = d.receive(bomb)
    assert st.state == "rejected" and "more than 4194304 bytes" in st.reason, st
    assert tree(state) == before


def test_a_pax_header_bomb_stops_at_the_limit(state: Path, keys, pkgs) -> None:
    """A header that is megabytes of zeros: the bound is on the decompressed stream itself."""
    d = deployer(state, keys, max_bytes=4 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("manifest.json")
        info.pax_headers = {"comment": "0" * (6 << 20)}
        t.addfile(info, io.BytesIO(b""))
    assert len(buf.getvalue()) < 64 << 10
    before = tree(state)
    st = d.receive(buf.getvalue())
    assert st.state == "rejected" and st.reason == "the archive unpacks to more than 4194304 bytes", st
    assert tree(state) == before


def test_racing_deployments_one_at_a_time(state: Path, keys, payloads) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_load(path: Path) -> Model:
        entered.set()
        assert release.wait(60)
        return Model.load(path)

    d = Deployer(state, [keys[0].public_key], "0.1.0", slow_load, Clock(), initial=SHIPPED, policy=POLICY)
    first: list[Status] = []
    t = threading.Thread(target=lambda: first.append(d.receive(payloads["2.2.0"])))
    t.start()
    assert entered.wait(60)
    second = d.receive(payloads["2.0.0"])
    assert second.state == "rejected" and second.reason == "another deployment is in progress"
    assert not second.silent
    # a copy of the package in progress (redelivered after a reconnect): nothing to publish, no verdict
    copy = d.receive(payloads["2.2.0"])
    assert copy.silent and copy.state == "testing" and copy.loaded is None, copy
    assert d.receive(b"junk").reason == "another deployment is in progress"  # junk learns nothing more
    with pytest.raises(DeployError):
        d.rollback()
    release.set()
    t.join(60)
    assert first[0].state == "testing"
    assert d.commit().state == "active"
    third = d.receive(payloads["2.1.0"])  # another package while 2.2.0 is on probation
    assert third.state == "rejected" and third.reason == \
        "another deployment is in progress (clinc150@2.2.0 is on probation)", third


def test_the_active_package_again_is_the_current_truth_and_writes_nothing(state: Path, keys, payloads,
                                                                        pkgs) -> None:
    """Issue 23, redelivery: the broker delivers a package again when the connection was lost between
    the commit and the outcome's PUBACK. The same signed manifest (same sha256) is answered with what is
    true, `active` with the same previous, on probation or not; nothing is written, nothing is loaded."""
    seen: list[Status] = []
    loads: list[Path] = []

    def load(path: Path) -> Model:
        loads.append(path)
        return Model.load(path)

    d = Deployer(state, [keys[0].public_key], "0.1.0", load, Clock(), initial=SHIPPED, policy=POLICY,
                 on_status=seen.append)
    assert d.recover() is None
    before = tree(state)
    st = d.receive(payloads["2.1.0"])  # confirmed in the template: active, no reason
    assert (st.model, st.state, st.reason, st.previous, st.loaded) == \
        ("clinc150@2.1.0", "active", None, "clinc150@2.0.0", None), st
    st = d.receive(tar_of(files_of(pkgs["2.1.0"]), gz=False))  # packed otherwise: the same manifest
    assert (st.model, st.state, st.previous) == ("clinc150@2.1.0", "active", "clinc150@2.0.0"), st
    assert tree(state) == before and loads == [] and seen == [] and not d.busy
    deploy_ok(d, payloads["2.2.0"])  # on probation now
    seen.clear()
    st = d.receive(payloads["2.2.0"])
    assert (st.model, st.state, st.previous) == ("clinc150@2.2.0", "active", "clinc150@2.1.0"), st
    assert st.reason == "on probation: confirmed after 50 requests or 600 s" and seen == []
    assert d.on_probation == "clinc150@2.2.0"  # the redelivery did not restart or end probation
    # signed by a key the device does not trust: a copy of the manifest alone is no proof
    stranger = tar_of([(i, b) for i, b in files_of(pkgs["2.2.0"]) if i.name != "manifest.json.minisig"]
                      + [(tarfile.TarInfo("manifest.json.minisig"),
                          S.sign_bytes(keys[1], (pkgs["2.2.0"] / "manifest.json").read_bytes(), "x").encode())])
    st = d.receive(stranger)
    assert st.state == "rejected" and "unknown key" in st.reason, st


# -- probation, rollback -------------------------------------------------------------------
def test_probation_ignores_costs_that_are_not_comparable(state: Path, keys, payloads) -> None:
    """None (a request answered in a bigger batch) is neither baseline nor probation latency: a burst's
    shared-out cost made a good model look 5x dearer than its predecessor in the booted device test."""
    clock = Clock()
    d = deployer(state, keys, clock)
    for _ in range(30):
        assert d.record(None, False) is None  # a redelivered backlog, batched: no baseline from it
    deploy_ok(d, payloads["2.2.0"])
    verdict = None
    for _ in range(POLICY.min_samples):
        verdict = d.record(3.5, False, model="clinc150@2.2.0")
    assert verdict is None  # no baseline: latency is not judged (errors still are)


def test_probation_rolls_back_on_latency(state: Path, keys, payloads) -> None:
    clock = Clock()
    d = deployer(state, keys, clock)
    for _ in range(30):
        assert d.record(1.0, False) is None  # the old model's requests: the baseline
    st = deploy_ok(d, payloads["2.2.0"])
    assert d.on_probation == "clinc150@2.2.0"
    assert d.record(50.0, False, model="clinc150@2.1.0") is None  # finished on the old model
    verdict = None
    for _ in range(POLICY.min_samples):
        verdict = d.record(3.5, False, model="clinc150@2.2.0")
    assert verdict is not None and verdict.action == "rollback" and "median CPU time per request 3.50 ms" in verdict.reason
    st = d.settle(verdict)
    assert (st.model, st.state, st.previous) == ("clinc150@2.2.0", "rolled_back", "clinc150@2.1.0")
    assert st.loaded.ident == "clinc150@2.1.0"
    assert d.active_path() == state / "models" / "clinc150@2.1.0"
    assert os.listdir(state / "models") == ["clinc150@2.1.0"]
    replay = d.receive(payloads["2.2.0"])  # a package that failed does not come back by replay
    assert replay.state == "rejected" and "not newer" in replay.reason


def test_probation_rolls_back_on_errors_and_confirms_on_count_or_time(tmp_path: Path, keys, payloads) -> None:
    clock = Clock()
    d = deployer(tmp_path / "a", keys, clock)
    deploy_ok(d, payloads["2.1.0"])
    assert d.record(1.0, True) is None and d.record(1.0, True) is None
    v = d.record(1.0, True)
    assert v.action == "rollback" and v.reason == "3 errors in 3 requests on probation"
    assert d.settle(v).previous == "clinc150@2.0.0" and d.active_path() == SHIPPED

    d = deployer(tmp_path / "b", keys, clock)
    deploy_ok(d, payloads["2.1.0"])
    verdicts = [d.record(1.0, False) for _ in range(POLICY.requests)]
    assert verdicts[:-1] == [None] * (POLICY.requests - 1) and verdicts[-1].action == "confirm"
    assert d.record(1.0, False) is None and d.tick() is None  # a verdict is given once
    st = d.settle(verdicts[-1])
    assert (st.state, st.reason, d.on_probation) == ("active", None, None)
    with pytest.raises(DeployError, match="nothing is on probation"):
        d.settle(verdicts[-1])

    d = deployer(tmp_path / "c", keys, clock)
    deploy_ok(d, payloads["2.1.0"])
    clock.t += POLICY.seconds - 1
    assert d.tick() is None
    clock.t += 1
    assert d.tick().action == "confirm"


def test_a_verdict_that_lost_the_race_with_a_rollback_order_changes_nothing(state: Path, keys, payloads) -> None:
    """Probation's confirm is due while a signed rollback order runs on the other worker (seen with three
    daemons under load): the order wins the lock, so the verdict is void; it must not publish `active`
    for the package that was just rolled back, nor touch the pointer."""
    d = deployer(state, keys)
    deploy_ok(d, payloads["2.2.0"])
    verdict = None
    while verdict is None:
        verdict = d.record(1.0, False)
    assert verdict.action == "confirm"
    st = d.rollback("rolled back on a signed command")  # the order, first to the lock
    assert (st.model, st.state, st.previous) == ("clinc150@2.2.0", "rolled_back", "clinc150@2.1.0")
    pointer = (state / "deploy" / "active.json").read_bytes()
    with pytest.raises(DeployError, match="nothing is on probation"):
        d.settle(verdict)
    with pytest.raises(DeployError, match="clinc150@2.2.0 is no longer on probation"):
        d.confirm("clinc150@2.2.0")  # the check settle's confirm makes under the lock
    assert (state / "deploy" / "active.json").read_bytes() == pointer
    assert d.active_path() == state / "models" / "clinc150@2.1.0"


def test_rollback_on_command_then_none_left(state: Path, keys) -> None:
    d = deployer(state, keys)
    st = d.rollback()
    assert (st.model, st.state, st.reason, st.previous) == ("clinc150@2.1.0", "rolled_back",
                                                             "rolled back on command", "clinc150@2.0.0")
    assert d.active_path() == SHIPPED and os.listdir(state / "models") == []
    with pytest.raises(DeployError, match="no previous package"):
        d.rollback()


def test_a_signed_rollback_order_installs_an_older_version(state: Path, keys, payloads) -> None:
    d = deployer(state, keys)
    st = deploy_ok(d, payloads["2.0.0-rollback"])
    assert (st.model, st.previous) == ("clinc150@2.0.0", "clinc150@2.1.0")
    assert Model.load(d.active_path()).ident == "clinc150@2.0.0"


def test_restarts_on_probation_roll_back(state: Path, keys, payloads) -> None:
    deploy_ok(deployer(state, keys), payloads["2.2.0"])
    for _ in range(POLICY.max_restarts - 1):
        d = deployer(state, keys)
        assert d.recover() is None and d.on_probation == "clinc150@2.2.0"
    st = deployer(state, keys).recover()
    assert (st.model, st.state, st.previous) == ("clinc150@2.2.0", "rolled_back", "clinc150@2.1.0")
    assert "started 3 times" in st.reason
    assert deployer(state, keys).active_path() == state / "models" / "clinc150@2.1.0"


def test_versions() -> None:
    assert version_key("2.10") > version_key("2.9.9") and version_key("2026.12.06") > version_key("2.0.0")
    for bad in ("", "1..2", "v1", "1.2.3.4.5", "1e3", None, 2):
        with pytest.raises(ValueError):
            version_key(bad)


# -- power loss -------------------------------------------------------------------------------
KILLS = ["receiving:start", "receiving:end", "verifying:end", "unpacking:end", "testing:end", "swapping:end",
         "committing:start", "committing:rename", "committing:end"]


@pytest.mark.parametrize("kill_at", KILLS)
def test_killed_at_every_step_starts_on_the_last_active_package(kill_at: str, state: Path, keys, payloads,
                                                                tmp_path: Path) -> None:
    payload = tmp_path / "pkg.tar.gz"
    payload.write_bytes(payloads["2.2.0"])
    argv = [str(state), str(SHIPPED), keys[0].public_key.base64(), str(payload)]
    env = {**os.environ, "EDGE_FAULT_DEPLOY_KILL_AT": kill_at}
    r = subprocess.run([sys.executable, str(HARNESS), "deploy", *argv], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == -9, (r.returncode, r.stdout, r.stderr)
    r = subprocess.run([sys.executable, str(HARNESS), "recover", *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    step = kill_at.split(":")[0]
    got = lines[0]["recover"]
    if kill_at == "committing:end":  # the pointer was renamed: the new package became active
        assert lines[0]["ident"] == "clinc150@2.2.0"
        assert (got["model"], got["state"]) == ("clinc150@2.2.0", "active")
        assert "stopped while committing" in got["reason"]
        # the broker's redelivery of the committed package (its outcome was never acknowledged): the
        # current truth again, not "rejected" over the retained active
        redelivered = lines[1]["deployed"]
        assert (redelivered["model"], redelivered["state"], redelivered["previous"]) == \
            ("clinc150@2.2.0", "active", "clinc150@2.1.0"), redelivered
        assert redelivered["reason"].startswith("on probation"), redelivered
    else:
        assert lines[0]["ident"] == "clinc150@2.1.0" and lines[0]["active"] == str(state / "models/clinc150@2.1.0")
        assert got["state"] == "rejected"
        assert got["reason"] == f"interrupted while {step} (the daemon stopped); running clinc150@2.1.0"
        assert got["model"] == (None if step in ("receiving", "verifying") else "clinc150@2.2.0")
        assert (lines[1]["deployed"]["state"], lines[1]["deployed"]["model"]) == ("active", "clinc150@2.2.0")
    assert not any(n.startswith("incoming-") or n.startswith(".") or n == "journal.json"
                   for n in os.listdir(state / "deploy"))
    assert sorted(os.listdir(state / "models")) == ["clinc150@2.1.0", "clinc150@2.2.0"]


def test_another_package_name_is_not_a_downgrade(state: Path, keys, tmp_path: Path) -> None:
    d = deployer(state, keys)
    # (the shipped manifest predates its "slots" section: a renamed copy must carry them, or it
    # fails its self-test, as it should)
    home = make_pkg(tmp_path, "1.0.0", keys[0],
                    lambda m, p: m.update(name="home", slots=m.get("slots") or {"intents": CLINC150_SLOTS}))
    st = deploy_ok(d, tar_of(files_of(home)))
    assert (st.model, st.previous) == ("home@1.0.0", "clinc150@2.1.0")
    d.confirm()
    old = tar_of(files_of(make_pkg(tmp_path, "2.1.0", keys[0])))  # the replaced name, replayed
    assert "not newer than clinc150@2.1.0" in d.receive(old).reason


def test_an_unreadable_pointer_removes_nothing(state: Path, keys) -> None:
    (state / "deploy" / "active.json").write_bytes(b"\x00" * 100)  # a damaged disk, not a crash
    d = deployer(state, keys)
    d.recover()
    assert sorted(os.listdir(state / "models")) == ["clinc150@2.1.0"]


# -- what the loop relies on ---------------------------------------------------------------
def test_importing_deploy_loads_no_runtime_crypto_or_broker() -> None:
    code = ("import sys, edge.deploy; heavy = [m for m in ('cryptography', 'ai_edge_litert', 'tflite_runtime', "
            "'paho', 'edge.model') if m in sys.modules]; print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr)


def test_an_event_loop_keeps_answering_while_a_deployment_runs_on_an_executor(state: Path, keys,
                                                                               payloads) -> None:
    """The calling pattern of the module's note: receive and commit on an executor, the swap
    between two requests on the loop; every request is answered, by the old model until the
    swap and by the new one after it."""
    import asyncio

    d = deployer(state, keys)
    answered: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        model = Model.load(d.active_path())
        stop = asyncio.Event()

        async def serve() -> None:
            while not stop.is_set():
                model.classify(["set an alarm for 7 am"])
                answered.append(model.ident)
                assert d.record(0.5, False, model.ident) is None
                await asyncio.sleep(0)  # yield the loop (a request per turn), not a wait

        task = asyncio.create_task(serve())
        st = await loop.run_in_executor(None, d.receive, payloads["2.2.0"])
        during = len(answered)
        model = st.loaded  # the swap: between two requests
        st = await loop.run_in_executor(None, d.commit)
        while answered[-1] != "clinc150@2.2.0":
            await asyncio.sleep(0)  # yield until the serving task has answered on the new model
        stop.set()
        await task
        assert st.state == "active" and during > 0

    asyncio.run(main())
    first_new = answered.index("clinc150@2.2.0")
    assert set(answered[:first_new]) == {"clinc150@2.1.0"} and set(answered[first_new:]) == {"clinc150@2.2.0"}


def test_archive_fuzz_never_raises_anything_but_a_reason(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from edge import archive

    small = tar_of([(tarfile.TarInfo("manifest.json"), b'{"files": {}}'), (tarfile.TarInfo("a"), b"x" * 700)],
                   gz=False)
    path = tmp_path / "fuzz"

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.integers(0, len(small) - 1), st.integers(0, 255)), max_size=8),
           st.integers(0, len(small)), st.booleans())
    def check(flips: list[tuple[int, int]], cut: int, gz: bool) -> None:
        data = bytearray(small)
        for i, b in flips:
            data[i] = b
        data = data[:cut]
        if gz:
            import gzip
            data = bytearray(gzip.compress(bytes(data)))
        path.write_bytes(bytes(data))
        try:
            names = archive.check(path, 1 << 20)
        except archive.ArchiveError as exc:
            assert str(exc)
        else:
            assert all("/" not in n and n not in ("", ".", "..") for n in names)

    check()
