"""`edge install` into a temporary root: the whole tree, its contents, idempotence, refusals, first boot."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

from edge import config, install

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / install.DEFAULT_MODEL

EXPECTED = {
    "etc/edge/edge.toml",
    "etc/systemd/system/edge.service",
    "etc/systemd/system/edge-firstboot.service",
    "etc/systemd/system/edge.service.d/10-profile.conf",
    "etc/systemd/system/multi-user.target.wants/edge.service",
    "etc/systemd/system/multi-user.target.wants/edge-firstboot.service",
    "usr/lib/sysusers.d/edge.conf",
    "opt/edge/bin/edge-firstboot",
    "opt/edge/install-pending",
    "opt/edge/edge.toml.installed",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model when there is one; until it is trained, a small stand-in with a valid manifest."""
    if (SHIPPED_MODEL / "manifest.json").is_file():
        return SHIPPED_MODEL
    fake = tmp_path_factory.mktemp("models") / install.DEFAULT_MODEL
    fake.mkdir()
    (fake / "model.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 4)
    (fake / "tokenizer.model").write_bytes(b"\x0a\x0b sentencepiece stand-in")
    files = {n: _sha(fake / n) for n in ("model.tflite", "tokenizer.model")}
    (fake / "manifest.json").write_text(json.dumps({"name": "clinc150", "version": "0.0-test", "files": files}))
    return fake


def _model_arg(model: Path) -> Path | None:
    return None if model == SHIPPED_MODEL else model  # the real one must be found without --model


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _wheel_name() -> str:
    return f"edge-{install._project()['version']}-py3-none-any.whl"


@pytest.fixture
def installed(tmp_path: Path, model: Path) -> tuple[Path, list[Path], list[str]]:
    root = tmp_path / "rootfs"
    root.mkdir()
    logs: list[str] = []
    files = install.install(root, "pi-zero-2w", model=_model_arg(model), log=logs.append)
    return root, files, logs


def test_the_tree_is_complete(installed: tuple[Path, list[Path], list[str]], model: Path) -> None:
    root, files, _ = installed
    manifest = json.loads((model / "manifest.json").read_text())
    model_files = {f"opt/edge/models/{model.name}/{n}" for n in ["manifest.json", *manifest["files"]]}
    expected = EXPECTED | model_files | {f"opt/edge/wheels/{_wheel_name()}"}
    if (ROOT / "docs" / "device.md").is_file():
        expected.add("opt/edge/README.md")
    assert _tree(root) == expected
    assert {p.relative_to(root.resolve()).as_posix() for p in files} == expected
    assert stat.S_IMODE((root / "etc/edge/credentials").stat().st_mode) == 0o700
    assert os.access(root / "opt/edge/bin/edge-firstboot", os.X_OK)
    assert stat.S_IMODE((root / "etc/edge/edge.toml").stat().st_mode) == 0o644


def test_the_model_matches_its_manifest(installed: tuple[Path, list[Path], list[str]], model: Path) -> None:
    root, _, _ = installed
    dest = root / "opt/edge/models" / model.name
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest == json.loads((model / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert _sha(dest / name) == digest


def _rebased(root: Path, tmp_path: Path) -> Path:
    """edge.toml as the device will read it: /opt/edge is the one under root here."""
    text = (root / "etc/edge/edge.toml").read_text()
    assert '"/opt/edge/models/' in text
    path = tmp_path / "edge.toml"
    path.write_text(text.replace('"/opt/edge/', f'"{root}/opt/edge/'))
    return path


def test_the_config_is_the_profile_and_loads(installed: tuple[Path, list[Path], list[str]], tmp_path: Path,
                                              model: Path) -> None:
    root, _, _ = installed
    s = config.load(config=_rebased(root, tmp_path), environ={})
    profile = config.load(profile="pi-zero-2w", environ={})
    assert Path(s.model.path) == root / "opt/edge/models" / model.name
    # Everything else is the profile's, to the value.
    for section in ("board", "cloud", "state", "health", "integrations", "logging"):
        assert getattr(s, section) == getattr(profile, section), section
    assert (s.model.threads, s.model.batch_size) == (profile.model.threads, profile.model.batch_size)
    assert s.device_id == profile.device_id  # left to the host name
    text = (root / "etc/edge/edge.toml").read_text()
    assert "# device_id = " in text and "mqtt_password" in text and "cloud_api_key" in text


def test_units_dropin_and_links(installed: tuple[Path, list[Path], list[str]]) -> None:
    root, _, _ = installed
    system = root / "etc/systemd/system"
    assert (system / "edge.service").read_bytes() == (ROOT / "systemd/edge.service").read_bytes()
    firstboot = (system / "edge-firstboot.service").read_text()
    assert "ConditionPathExists=|!/opt/edge/venv/bin/edge" in firstboot and "Before=edge.service" in firstboot
    dropin = (system / "edge.service.d/10-profile.conf").read_text().splitlines()
    assert "[Service]" in dropin and "MemoryMax=160M" in dropin and "CPUQuota=200%" in dropin
    for unit in ("edge.service", "edge-firstboot.service"):
        link = system / "multi-user.target.wants" / unit
        assert link.is_symlink() and os.readlink(link) == f"/etc/systemd/system/{unit}"
    assert (root / "usr/lib/sysusers.d/edge.conf").read_text().count("\nu edge ") == 1


def test_a_profile_without_limits_lifts_them(tmp_path: Path, model: Path) -> None:
    install.install(tmp_path, "generic", model=_model_arg(model), log=lambda _: None)
    dropin = (tmp_path / "etc/systemd/system/edge.service.d/10-profile.conf").read_text().splitlines()
    assert "MemoryMax=1024M" in dropin and "CPUQuota=" in dropin  # empty: the unit's default quota is reset


def test_the_wheel_is_valid(installed: tuple[Path, list[Path], list[str]], model: Path) -> None:
    root, _, _ = installed
    with zipfile.ZipFile(root / "opt/edge/wheels" / _wheel_name()) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        info = f"edge-{install._project()['version']}.dist-info"
        for needed in ("edge/__init__.py", "edge/config.py", "edge/install.py", "edge/firmware_configs/pi-5.toml",
                       "edge/units/edge.service", f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD"):
            assert needed in names, needed
        if model == SHIPPED_MODEL:
            assert f"edge/models/{model.name}/model.tflite" in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert "[console_scripts]\nedge = edge.__main__:main\n" in zf.read(f"{info}/entry_points.txt").decode()
        metadata = zf.read(f"{info}/METADATA").decode()
        assert "Name: edge\n" in metadata and "Requires-Dist: paho-mqtt" in metadata
        # RECORD lists every other file with its hash, as pip checks it.
        record = {}
        for line in zf.read(f"{info}/RECORD").decode().splitlines():
            path, digest, size = line.rsplit(",", 2)
            record[path] = (digest, size)
        assert set(record) == names
        for name in names - {f"{info}/RECORD"}:
            data = zf.read(name)
            b64 = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert record[name] == (f"sha256={b64}", str(len(data))), name


def test_installing_twice_changes_nothing(installed: tuple[Path, list[Path], list[str]], model: Path) -> None:
    root, files, _ = installed
    before = {p: p.read_bytes() for p in files if not p.is_symlink()}
    logs: list[str] = []
    again = install.install(root, "pi-zero-2w", model=_model_arg(model), log=logs.append)
    assert sorted(again) == sorted(files)
    assert {p: p.read_bytes() for p in again if not p.is_symlink()} == before
    assert not [line for line in logs if line.startswith(("wrote", "linked", "removed"))], logs


def test_an_edited_config_is_kept(installed: tuple[Path, list[Path], list[str]], model: Path) -> None:
    root, _, _ = installed
    cfg = root / "etc/edge/edge.toml"
    edited = cfg.read_text().replace('host = "127.0.0.1"', 'host = "homeassistant.local"')
    cfg.write_text(edited)
    logs: list[str] = []
    install.install(root, "pi-4b", model=_model_arg(model), log=logs.append)
    assert cfg.read_text() == edited
    assert 'name = "pi-4b"' in (root / "etc/edge/edge.toml.new").read_text()
    assert any("kept your edited" in line for line in logs)
    install.install(root, "pi-4b", model=_model_arg(model), log=lambda _: None, force_config=True)
    assert 'name = "pi-4b"' in cfg.read_text()


def test_dependency_wheels_are_carried_and_stale_edge_wheels_removed(tmp_path: Path, model: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "psutil-5.9.8-cp36-abi3-linux_aarch64.whl").write_bytes(b"not checked here")
    root = tmp_path / "root"
    stale = root / "opt/edge/wheels/edge-0.0.1-py3-none-any.whl"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    logs: list[str] = []
    install.install(root, "pi-4b", wheel_dir=wheels, model=_model_arg(model), log=logs.append)
    assert (root / "opt/edge/wheels/psutil-5.9.8-cp36-abi3-linux_aarch64.whl").read_bytes() == b"not checked here"
    assert not stale.exists()
    missing = next(line for line in logs if line.startswith("no wheel on the card"))
    assert "paho-mqtt" in missing and "psutil" not in missing


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="edge install")
    install.add_arguments(parser)
    return install.run(parser.parse_args(list(argv)))


def test_refusals_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli("--root", str(tmp_path), "--profile", "pi-6") == 2
    err = capsys.readouterr().err
    assert "pi-6" in err and all(name in err for name in config.profile_names())
    assert _run_cli("--root", str(tmp_path / "absent"), "--profile", "pi-4b") == 2
    assert "not a directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing was written before refusing


def test_a_model_that_does_not_match_its_manifest_is_refused(tmp_path: Path, model: Path) -> None:
    bad = tmp_path / "badmodel"
    shutil.copytree(model, bad)
    victim = next(iter(json.loads((bad / "manifest.json").read_text())["files"]))
    (bad / victim).write_bytes((bad / victim).read_bytes() + b"\0")
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(install.InstallError, match="sha256 does not match"):
        install.install(root, "pi-4b", model=bad, log=lambda _: None)
    assert list(root.iterdir()) == []


def test_a_link_out_of_the_root_is_refused(tmp_path: Path, model: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "host-etc"
    root.mkdir()
    outside.mkdir()
    (root / "etc").symlink_to(outside)  # as an absolute /etc link in a mounted image would
    with pytest.raises(install.InstallError, match="out of the root"):
        install.install(root, "pi-4b", model=_model_arg(model), log=lambda _: None)
    assert list(outside.iterdir()) == []


@pytest.mark.slow
def test_first_boot_builds_the_venv_and_survives_a_failed_upgrade(
        installed: tuple[Path, list[Path], list[str]], model: Path) -> None:
    """The installed first-boot script, run for real against the tree (offline, edge's own wheel only)."""
    root, _, _ = installed
    prefix = root / "opt/edge"
    env = {**os.environ, "EDGE_PREFIX": str(prefix), "EDGE_PYTHON": sys.executable,
           # Dependencies are this test machine's business, not the card's: install edge alone, offline.
           "PIP_NO_DEPS": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    script = str(prefix / "bin/edge-firstboot")
    proc = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.access(prefix / "venv/bin/edge", os.X_OK) and not (prefix / "install-pending").exists()
    probe = subprocess.run(
        [str(prefix / "venv/bin/python"), "-c",
         "import edge, edge.config as c; print(edge.__file__); print(','.join(c.profile_names()))"],
        cwd=root, capture_output=True, text=True, timeout=60)
    where, profiles = probe.stdout.split()
    assert where.startswith(str(prefix / "venv")) and "pi-zero-2w" in profiles.split(","), probe.stderr
    # The installed package is self-sufficient: its own `edge install` finds units, profiles and docs.
    second = root.parent / "second-root"
    second.mkdir()
    code = ("import sys; from pathlib import Path; from edge import install; "
            "install.install(Path(sys.argv[1]), 'pi-5', model=Path(sys.argv[2]) if sys.argv[2] else None)")
    shipped = root / "etc/systemd/system"
    done = subprocess.run([str(prefix / "venv/bin/python"), "-c", code, str(second), str(_model_arg(model) or "")],
                          cwd=second, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for unit in ("edge.service", "edge-firstboot.service"):
        assert (second / "etc/systemd/system" / unit).read_bytes() == (shipped / unit).read_bytes()
    assert "MemoryMax=512M" in (second / "etc/systemd/system/edge.service.d/10-profile.conf").read_text()
    assert (second / "opt/edge/README.md").is_file() == (root / "opt/edge/README.md").is_file()
    # An upgrade whose wheels are gone fails, and the working venv is put back.
    (prefix / "install-pending").write_text("again\n")
    for whl in (prefix / "wheels").glob("*.whl"):
        whl.unlink()
    proc = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1 and "previous installation is back" in proc.stdout, proc.stdout + proc.stderr
    assert os.access(prefix / "venv/bin/edge", os.X_OK) and not (prefix / "venv.old").exists()
