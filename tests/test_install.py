"""`edge install` into a temporary root: the whole tree, its contents, idempotence, refusals, first boot."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

from edge import config, install, install_wheel, project, requirements

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
    "opt/edge/release",
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
    return f"edge_intent-{project.metadata()['version']}-py3-none-any.whl"


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


def test_the_service_runs_optimized_from_the_bytecode_first_boot_compiles(
        installed: tuple[Path, list[Path], list[str]]) -> None:
    """edge.service runs the daemon under -OO (PYTHONOPTIMIZE=2: 3 MB less RSS, docs/performance.md)
    and never writes bytecode; its .opt-2.pyc come from the tree edge-firstboot compiles into, the
    same PYTHONPYCACHEPREFIX (a different one would leave every module compiled at each start)."""
    root, _, _ = installed
    env = {}
    for line in (root / "etc/systemd/system/edge.service").read_text().splitlines():
        if line.startswith("Environment="):
            env.update(item.split("=", 1) for item in line.removeprefix("Environment=").split())
    assert env["PYTHONOPTIMIZE"] == "2" and env["PYTHONDONTWRITEBYTECODE"] == "1", env
    script = (root / "opt/edge/bin/edge-firstboot").read_text()
    prefix = re.search(r'^PREFIX="\$\{EDGE_PREFIX:-(\S+)\}"$', script, re.M).group(1)
    pycache = re.search(r'^PYCACHE="\$PREFIX/(\S+)"$', script, re.M).group(1)
    assert env["PYTHONPYCACHEPREFIX"] == f"{prefix}/{pycache}" == "/opt/edge/pycache"
    assert 'PYTHONPYCACHEPREFIX="$PYCACHE" "$VENV/bin/python" -OO' in script


def test_a_profile_without_limits_lifts_them(tmp_path: Path, model: Path) -> None:
    install.install(tmp_path, "generic", model=_model_arg(model), log=lambda _: None)
    dropin = (tmp_path / "etc/systemd/system/edge.service.d/10-profile.conf").read_text().splitlines()
    assert "MemoryMax=1024M" in dropin and "CPUQuota=" in dropin  # empty: the unit's default quota is reset


def test_the_wheel_is_valid(installed: tuple[Path, list[Path], list[str]], model: Path) -> None:
    root, _, _ = installed
    with zipfile.ZipFile(root / "opt/edge/wheels" / _wheel_name()) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        info = f"edge_intent-{project.metadata()['version']}.dist-info"
        for needed in ("edge/__init__.py", "edge/config.py", "edge/install.py", "edge/firmware_configs/pi-5.toml",
                       "edge/units/edge.service", f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD"):
            assert needed in names, needed
        if model == SHIPPED_MODEL:
            assert f"edge/models/{model.name}/model.tflite" in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert "[console_scripts]\nedge = edge.__main__:main\n" in zf.read(f"{info}/entry_points.txt").decode()
        metadata = zf.read(f"{info}/METADATA").decode()
        assert "Name: edge-intent\n" in metadata and "Requires-Dist: paho-mqtt" in metadata
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


# --- The target's requirements: markers evaluated for the card, not for this host.

_ELF_MACHINE = {"x86_64": 62, "aarch64": 183, "armv7l": 40}


def _fake_root(root: Path, machine: str, python: str = "3.11", os_packages: dict[str, str] | None = None) -> Path:
    """A card's root with just what the installer reads: /usr/bin/python3.X (an ELF header) and dist-packages."""
    binary = root / "usr/bin" / f"python{python}"
    binary.parent.mkdir(parents=True, exist_ok=True)
    head = b"\x7fELF" + bytes([2 if machine != "armv7l" else 1, 1, 1]) + bytes(9) + (2).to_bytes(2, "little")
    binary.write_bytes(head + _ELF_MACHINE[machine].to_bytes(2, "little") + bytes(64))
    (root / "usr/bin/python3").symlink_to(f"python{python}")
    for name, version in (os_packages or {}).items():  # as Debian's python3-* packages lay them out
        (root / "usr/lib/python3/dist-packages" / f"{name}-{version}.egg-info").mkdir(parents=True)
    return root


def _fake_wheels(where: Path, names: list[str], machine: str) -> Path:
    """A wheel file name for each, at the lowest version the project's pins allow (contents unchecked)."""
    where.mkdir(exist_ok=True)
    specs = {name: spec for name, spec in requirements.target_requirements(requirements.target_env("aarch64"))
             + requirements.target_requirements(requirements.target_env("armv7l"))}
    for name in names:
        m = re.search(r"(?:==|>=|~=)\s*([\d.]+)", specs.get(name, ""))
        version = m.group(1) if m else "1.0"
        plat = "any" if name == "paho-mqtt" else f"manylinux_2_34_{machine}"
        tag = "py3-none" if plat == "any" else "cp311-cp311"
        (where / f"{name.replace('-', '_')}-{version}-{tag}-{plat}.whl").write_bytes(b"x")
    return where


@pytest.mark.parametrize("machine", ["x86_64", "aarch64", "armv7l"])
def test_only_what_the_target_needs_is_reported_missing(tmp_path: Path, model: Path, machine: str) -> None:
    """Issue 16: no warning about a runtime whose marker excludes the card (ai-edge-litert on 3.11 ARM/x86)."""
    root = _fake_root(tmp_path / "root", machine)
    needed = list(dict.fromkeys(name for name, _ in requirements.target_requirements(requirements.target_env(machine))))
    logs: list[str] = []
    install.install(root, "generic", model=_model_arg(model), log=logs.append)
    line = next(line for line in logs if line.startswith("no wheel on the card"))
    reported = line.split(": ", 1)[1].split(" (target: ")[0].split(", ")
    assert reported == needed and f"({machine}, Python 3.11)" in line
    # With a wheel for each, nothing is missing and nothing is said.
    wheels = _fake_wheels(tmp_path / "wheels", needed, machine)
    logs.clear()
    install.install(root, "generic", wheel_dir=wheels, model=_model_arg(model), log=logs.append)
    assert not [line for line in logs if line.startswith("no wheel")], logs
    # Wheels for another machine do not count.
    other = _fake_wheels(tmp_path / "other", needed, "riscv64")
    shutil.rmtree(root / "opt/edge/wheels")
    logs.clear()
    install.install(root, "generic", wheel_dir=other, model=_model_arg(model), log=logs.append)
    line = next(line for line in logs if line.startswith("no wheel on the card"))
    assert "paho-mqtt" not in line and all(n in line for n in needed if n != "paho-mqtt")


def test_the_os_python_packages_count(tmp_path: Path, model: Path) -> None:
    """32-bit Raspberry Pi OS: numpy, psutil, sentencepiece from Debian (bookworm's versions meet the pins)."""
    root = _fake_root(tmp_path / "root", "armv7l",
                      os_packages={"numpy": "1.24.2", "psutil": "5.9.4", "sentencepiece": "0.1.97"})
    missing, where = requirements.missing_dependencies(root, root / "absent")
    needed = {name for name, _ in requirements.target_requirements(requirements.target_env("armv7l"))}
    assert set(missing) == needed - {"numpy", "psutil", "sentencepiece"} and "armv7l" in where
    # An OS package too old for a pin does not count.
    shutil.rmtree(root / "usr/lib/python3/dist-packages/psutil-5.9.4.egg-info")
    (root / "usr/lib/python3/dist-packages/psutil-5.4.0.egg-info").mkdir()
    assert "psutil" in requirements.missing_dependencies(root, root / "absent")[0]


def test_an_unknown_target_is_said_so(tmp_path: Path) -> None:
    missing, where = requirements.missing_dependencies(tmp_path, tmp_path)
    assert "unknown" in where and "paho-mqtt" in missing
    env, _ = requirements.target_of_root(tmp_path, _fake_wheels(tmp_path / "w", ["psutil"], "aarch64"))
    assert env is not None and env["platform_machine"] == "aarch64"


MARKERS = [
    "python_version >= '3.12' or (platform_machine != 'x86_64' and platform_machine != 'aarch64')",
    "python_version < '3.12' and (platform_machine == 'x86_64' or platform_machine == 'aarch64' "
    "or platform_machine == 'armv7l')",
    "platform_machine in 'x86_64 aarch64'", "platform_machine not in 'armv7l'", "python_version ~= '3.11'",
    "python_full_version == '3.11.*'", "sys_platform == 'linux' and os_name == 'posix'",
    "'arm' in platform_machine", "python_version != '3.11'", "extra == 'test'",
    "platform_python_implementation == \"CPython\" and implementation_name == 'cpython'",
]


def test_markers_evaluate_as_pip_does() -> None:
    markers = pytest.importorskip("packaging.markers")
    ours = [req.partition(";")[2] for req in project.metadata()["dependencies"] if ";" in req]
    for marker in ours + MARKERS:
        for machine in (*requirements.TARGET_MACHINES, "riscv64"):
            for python in ("3.9", "3.11", "3.12", "3.13"):
                env = requirements.target_env(machine, python)
                assert requirements.marker_holds(marker, env) == markers.Marker(marker).evaluate(env), \
                    (marker, machine, python)
    with pytest.raises(requirements.RequirementError):
        requirements.marker_holds("platform_machine ==", requirements.target_env("x86_64"))
    with pytest.raises(requirements.RequirementError):
        requirements.marker_holds("(python_version > '3'", requirements.target_env("x86_64"))


def test_version_pins() -> None:
    assert requirements.version_satisfies("1.24.2", ">=1.23,<2") and not requirements.version_satisfies("2.0.1", ">=1.23,<2")
    assert requirements.version_satisfies("0.1.97", ">=0.1.97") and not requirements.version_satisfies("0.1.96", ">=0.1.97")
    assert requirements.version_satisfies("2.14.0", "==2.14.0") and requirements.version_satisfies("5.9.4+dfsg", ">=5.9")
    assert requirements.split_requirement("paho-mqtt>=2.0,<3") == ("paho-mqtt", ">=2.0,<3", "")
    assert requirements.split_requirement("Foo_Bar[x] (==1) ; os_name == 'posix'") == ("foo-bar", "==1", "os_name == 'posix'")


def test_the_distribution_name_is_ours() -> None:
    """"edge" on the package index is another project; ours is edge-intent, the command and package stay edge."""
    import tomllib
    with (ROOT / "pyproject.toml").open("rb") as fh:
        pyproject = tomllib.load(fh)["project"]
    assert pyproject["name"] == project.DIST_NAME == "edge-intent"
    assert pyproject["scripts"] == {"edge": "edge.__main__:main"}



@pytest.mark.slow
def test_pip_builds_the_same_wheel_quietly(tmp_path: Path) -> None:
    """`pip install .` (setuptools, pyproject.toml) ships what edge's own wheel ships, without warnings.

    setuptools treats every directory under a package as a package; one left out of
    [tool.setuptools] packages (a new model directory, say) fills each build with warnings
    (`pip install -q -e .` printed 92 lines with two left out, 2026-12-06).
    """
    src = tmp_path / "src"  # a copy: pip builds in the tree and would leave build/ behind
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info",
                                                             "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "w"), str(src)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    absent = re.findall(r"Package '([\w.]+)' is absent from the `packages` configuration", proc.stderr)
    assert not absent, f"add {sorted(set(absent))} to [tool.setuptools] packages in pyproject.toml"
    assert "warning" not in proc.stderr.lower(), proc.stderr
    (wheel,) = (tmp_path / "w").glob("edge_intent-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = {n for n in zf.namelist() if ".dist-info/" not in n}
    ours = {arc for arc, _ in install_wheel.wheel_files()} - {"edge/units/README.md"}  # docs/device.md: edge install's only
    assert names == ours
    for needed in ("edge/models/clinc150/model.tflite", "edge/firmware_configs/pi-4b.toml", "edge/units/edge.service",
                   "edge/train/negatives/negatives.emb.npz"):
        assert needed in names, needed

# --- First boot: exactly the wheel it was given, offline; a failure says why and is not retried.

def test_first_boot_installs_by_path_never_by_name() -> None:
    script = (ROOT / "systemd/edge-firstboot.sh").read_text()
    pip_lines = [line for line in script.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert pip_lines and all("--no-index" in line for line in pip_lines), pip_lines
    # What it installs is a path: the release's wheel (or the pip wheel it bootstraps from), never a bare name.
    assert '"$WHEELS/$WHEEL${EXTRAS:+[$EXTRAS]}"' in script and not any(line.rstrip().endswith((" edge", " edge-intent"))
                                                       for line in pip_lines)
    unit = (ROOT / "systemd/edge-firstboot.service").read_text()
    assert "network-online" not in unit and "NotifyAccess=all" in unit
    service = (ROOT / "systemd/edge.service").read_text()
    assert "ConditionFileIsExecutable=/opt/edge/venv/bin/edge" in service
    assert "StartLimitIntervalSec=10min" in service and "StartLimitBurst=5" in service


def _firstboot_env(prefix: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    # An index that would answer if asked: the script must never ask it.
    return {**env, "EDGE_PREFIX": str(prefix), "EDGE_PYTHON": sys.executable, "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": "", **extra}


@pytest.mark.slow
def test_first_boot_installs_the_released_wheel_and_reports_failures(
        installed: tuple[Path, list[Path], list[str]]) -> None:
    root, _, _ = installed
    prefix = root / "opt/edge"
    release = dict(line.split("=", 1) for line in (prefix / "release").read_text().splitlines())
    assert release["wheel"] == _wheel_name() and release["sha256"] == _sha(prefix / "wheels" / _wheel_name())
    script = str(prefix / "bin/edge-firstboot")
    # Without its dependencies on the card it fails, names them, and leaves the reason in firstboot.log.
    proc = subprocess.run(["sh", script], env=_firstboot_env(prefix), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = next(line for line in proc.stdout.splitlines() if "FAILED" in line)
    assert "no wheel on the card and no OS package for:" in failed and "edge.service cannot start" in failed
    assert "FAILED" in (prefix / "firstboot.log").read_text()
    assert not (prefix / "venv").exists() and (prefix / "install-pending").exists()
    # A decoy with a higher version beside it is not what gets installed: the release names the wheel.
    decoy = prefix / "wheels" / "edge_intent-99.0-py3-none-any.whl"
    shutil.copy(prefix / "wheels" / _wheel_name(), decoy)
    proc = subprocess.run(["sh", script], env=_firstboot_env(prefix, PIP_NO_DEPS="1"),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"installed edge-intent {release['version']}" in proc.stdout
    # The unit's optimized bytecode (PYTHONPYCACHEPREFIX): edge's own, and the standard library's
    # (which the OS's Python ships without .opt-2.pyc), mirrored under the prefix by their paths.
    compiled = {p.name for p in (prefix / "pycache").rglob("*.opt-2.pyc")}
    assert {"service.cpython-%d%d.opt-2.pyc" % sys.version_info[:2],
            "base_events.cpython-%d%d.opt-2.pyc" % sys.version_info[:2]} <= compiled, sorted(compiled)[:20]
    assert not any(p.name.endswith((".opt-1.pyc", f"{sys.implementation.cache_tag}.pyc"))
                   for p in (prefix / "pycache").rglob("*.pyc"))
    # A wheel that does not match its sha256 is refused, and the working venv stays.
    (prefix / "install-pending").write_text("again\n")
    (prefix / "wheels" / _wheel_name()).write_bytes(b"tampered")
    proc = subprocess.run(["sh", script], env=_firstboot_env(prefix, PIP_NO_DEPS="1"),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1 and "does not match its sha256" in proc.stdout, proc.stdout + proc.stderr
    assert "previous installation is back" in proc.stdout and os.access(prefix / "venv/bin/edge", os.X_OK)


def test_a_32_bit_os_on_a_board_with_a_64_bit_kernel_is_flagged(tmp_path: Path, model: Path) -> None:
    logs: list[str] = []
    install.install(_fake_root(tmp_path / "a", "armv7l"), "pi-4b", model=_model_arg(model), log=logs.append)
    assert any("arm_64bit=0" in line for line in logs)
    logs.clear()
    install.install(_fake_root(tmp_path / "b", "armv7l"), "pi-zero-2w", model=_model_arg(model), log=logs.append)
    assert not any("arm_64bit" in line for line in logs)


def test_print_requirements_follows_the_markers(capsys: pytest.CaptureFixture[str]) -> None:
    for machine in requirements.TARGET_MACHINES:
        assert _run_cli("--print-requirements", machine) == 0
        lines = capsys.readouterr().out.split()
        names = [requirements.split_requirement(line)[0] for line in lines]
        wanted = {n for n, _ in requirements.target_requirements(requirements.target_env(machine))}
        assert sorted(names) == sorted(wanted) and len(names) == len(set(names)), lines
    assert _run_cli("--print-requirements", "armv7l", "--without-os-packages") == 0
    left = {requirements.split_requirement(line)[0] for line in capsys.readouterr().out.split()}
    assert not left & set(requirements.OS_PACKAGES) and "paho-mqtt" in left
    assert "cryptography" not in left
    assert _run_cli("--print-requirements", "aarch64", "--with-deploy") == 0
    assert "cryptography>=38" in capsys.readouterr().out.split()
    assert _run_cli("--profile", "pi-4b") == 2 and "--root" in capsys.readouterr().err


# --- A card that takes signed deployments (issue 23): keys, cryptography, the package's signature.

def _pub(tmp_path: Path, name: str = "fleet") -> tuple[Path, str]:
    """A public key file as `edge keygen --out NAME` writes it, and its base64 line."""
    from edge import signing

    pk = signing.generate().public_key
    path = tmp_path / f"{name}.pub"
    path.write_text(pk.file_text())
    return path, pk.base64()


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_deploy_key_is_carried_where_the_service_reads_it(tmp_path: Path, model: Path) -> None:
    """--deploy-key: the key in /etc/edge/deploy-keys (0644 under 0755 directories: the unit's dynamic
    user is neither owner nor group), named in [deploy] keys; the config loads and the daemon's
    deployer trusts it; first boot installs the deploy extra; an upgrade without the option keeps it."""
    pub, b64 = _pub(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    logs: list[str] = []
    assert _run_cli("--root", str(root), "--profile", "pi-4b", "--deploy-key", str(pub),
                    *(["--model", str(model)] if _model_arg(model) else [])) == 0
    card_key = root / "etc/edge/deploy-keys/fleet.pub"
    assert card_key.read_bytes() == pub.read_bytes() and _mode(card_key) == 0o644
    for d in (root / "etc", root / "etc/edge", root / "etc/edge/deploy-keys"):
        assert _mode(d) == 0o755, d
    text = (root / "etc/edge/edge.toml").read_text()
    assert '[deploy]\nkeys = ["/etc/edge/deploy-keys/fleet.pub"]' in text
    s = config.load(config=_rebased(root, tmp_path), environ={})
    assert s.deploy.keys == ("/etc/edge/deploy-keys/fleet.pub",)
    from edge import signing
    assert signing.load_public_key(root / s.deploy.keys[0].lstrip("/")).base64() == b64
    release = dict(line.split("=", 1) for line in (root / "opt/edge/release").read_text().splitlines())
    assert release["extras"] == "deploy"
    with zipfile.ZipFile(root / "opt/edge/wheels" / _wheel_name()) as zf:
        meta = zf.read(f"edge_intent-{project.metadata()['version']}.dist-info/METADATA").decode()
    assert "Provides-Extra: deploy" in meta and 'Requires-Dist: cryptography>=38; extra == "deploy"' in meta
    # The upgrade: the same install without --deploy-key changes nothing.
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    install.install(root, "pi-4b", model=_model_arg(model), log=logs.append)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert not any("kept your edited" in line for line in logs)


def test_no_keys_no_deploy_extra(installed: tuple[Path, list[Path], list[str]]) -> None:
    """Deployment off (no [deploy] keys): first boot installs no cryptography, nothing is asked of the card."""
    root, _, logs = installed
    assert "extras=" not in (root / "opt/edge/release").read_text()
    assert "[deploy]" not in (root / "etc/edge/edge.toml").read_text()
    assert not any("cryptography" in line for line in logs if line.startswith("no wheel"))


def test_cryptography_is_asked_of_the_card_only_when_it_takes_deployments(tmp_path: Path, model: Path) -> None:
    """On a Debian card python3-cryptography counts (as numpy etc. do); without it, and without a
    wheel, install names it, as for any other dependency first boot would not find."""
    pub, _ = _pub(tmp_path)
    debian = {"numpy": "1.24.2", "psutil": "5.9.4", "sentencepiece": "0.1.97"}
    bare = _fake_root(tmp_path / "bare", "armv7l", os_packages=debian)
    logs: list[str] = []
    install.install(bare, "generic", model=_model_arg(model), log=logs.append)
    assert not any("cryptography" in line for line in logs if line.startswith("no wheel")), logs
    install.install(bare, "generic", model=_model_arg(model), log=logs.append, deploy_keys=[pub])
    missing = next(line for line in reversed(logs) if line.startswith("no wheel on the card"))
    assert "cryptography" in missing.split(" (target:")[0], missing
    apt = _fake_root(tmp_path / "apt", "armv7l", os_packages={**debian, "cryptography": "38.0.4"})
    logs.clear()
    install.install(apt, "generic", model=_model_arg(model), log=logs.append, deploy_keys=[pub])
    assert not any("cryptography" in line for line in logs if line.startswith("no wheel")), logs
    old = _fake_root(tmp_path / "old", "armv7l", os_packages={**debian, "cryptography": "3.3.2"})  # bullseye's
    logs.clear()
    install.install(old, "generic", model=_model_arg(model), log=logs.append, deploy_keys=[pub])
    assert any("cryptography" in line for line in logs if line.startswith("no wheel on the card")), logs


def test_keys_of_an_edited_config_are_checked_on_the_card(tmp_path: Path, model: Path) -> None:
    """Keys the user wrote into edge.toml: a path the unit cannot read, a path under /home
    (ProtectHome=yes), a relative path, a file that is not a key, a bad base64 line: the install
    stops (exit 2) naming each, before writing anything; a readable key file and a base64 line pass."""
    root = tmp_path / "root"
    root.mkdir()
    install.install(root, "generic", model=_model_arg(model), log=lambda _: None)
    cfg = root / "etc/edge/edge.toml"
    original = cfg.read_text()
    pub, b64 = _pub(tmp_path)
    (root / "etc/edge/credentials/fleet.pub").write_bytes(pub.read_bytes())  # 0700 directory: root's alone
    (root / "etc/edge/junk.pub").write_text("not a key\n")
    (root / "etc/edge/junk.pub").chmod(0o644)
    (root / "etc/edge/secret.pub").write_bytes(pub.read_bytes())
    (root / "etc/edge/secret.pub").chmod(0o600)
    bad = ["/etc/edge/credentials/fleet.pub", "/home/pi/fleet.pub", "fleet.pub", "/etc/edge/junk.pub",
           "/etc/edge/secret.pub", "/etc/edge/absent.pub", "RW" + "A" * 54]
    cfg.write_text(original + "\n[deploy]\nkeys = " + json.dumps(bad) + "\n")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    with pytest.raises(install.InstallError) as err:
        install.install(root, "generic", model=_model_arg(model), log=lambda _: None)
    msg = str(err.value)
    for i, why in enumerate(["credentials is mode 0700", "ProtectHome=yes", "absolute path", "junk.pub",
                             "secret.pub is mode 0600", "not on the card", "keys[6]"]):
        assert f"keys[{i}]" in msg and why in msg, (i, why, msg)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before  # nothing written
    # Fixed: the key readable, and a base64 line beside it.
    (root / "etc/edge/secret.pub").chmod(0o644)
    cfg.write_text(original + '\n[deploy]\nkeys = ["/etc/edge/secret.pub", "' + b64 + '"]\n')
    logs: list[str] = []
    install.install(root, "generic", model=_model_arg(model), log=logs.append)
    assert "extras=deploy" in (root / "opt/edge/release").read_text()
    assert any("deployments from 2 trusted key(s)" in line for line in logs), logs


def test_a_deploy_key_beside_an_edited_config_says_what_to_add(tmp_path: Path, model: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    install.install(root, "generic", model=_model_arg(model), log=lambda _: None)
    cfg = root / "etc/edge/edge.toml"
    cfg.write_text(cfg.read_text().replace('host = "127.0.0.1"', 'host = "broker.lan"'))
    pub, _ = _pub(tmp_path, "ops")
    logs: list[str] = []
    install.install(root, "generic", model=_model_arg(model), log=logs.append, deploy_keys=[pub])
    assert (root / "etc/edge/deploy-keys/ops.pub").is_file() and "[deploy]" not in cfg.read_text()
    assert any('add to [deploy] keys in /etc/edge/edge.toml: "/etc/edge/deploy-keys/ops.pub"' in line
               for line in logs), logs
    assert 'keys = ["/etc/edge/deploy-keys/ops.pub"]' in (root / "etc/edge/edge.toml.new").read_text()


def test_a_bad_deploy_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pub"
    junk.write_text("untrusted comment: x\nnot base64!\n")
    root = tmp_path / "root"
    root.mkdir()
    assert _run_cli("--root", str(root), "--profile", "generic", "--deploy-key", str(junk)) == 2
    assert "--deploy-key" in capsys.readouterr().err and list(root.iterdir()) == []
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (pa, _), (pb, _) = _pub(a, "k"), _pub(b, "k")
    assert _run_cli("--root", str(root), "--profile", "generic", "--deploy-key", str(pa), "--deploy-key", str(pb)) == 2
    assert "both be /etc/edge/deploy-keys/k.pub" in capsys.readouterr().err and list(root.iterdir()) == []


def test_a_signed_model_ships_with_its_signature(tmp_path: Path, model: Path) -> None:
    """The package's manifest.json.minisig goes with it (the device can check what it runs); a later
    unsigned package leaves no stale signature behind."""
    from edge import signing

    signed = tmp_path / "signed" / model.name
    shutil.copytree(model, signed)
    sk = signing.generate()
    signing.sign_package(signed, sk)
    root = tmp_path / "root"
    root.mkdir()
    install.install(root, "generic", model=signed, log=lambda _: None)
    dest = root / "opt/edge/models" / model.name
    assert (dest / "manifest.json.minisig").read_bytes() == (signed / "manifest.json.minisig").read_bytes()
    assert signing.verify_package(dest, [sk.public_key])["name"] == model.name
    install.install(root, "generic", model=model, log=lambda _: None)
    assert not (dest / "manifest.json.minisig").exists()


def _placeholder_wheel(where: Path, name: str, version: str) -> None:
    """A valid, empty pure wheel: stands for a dependency whose code this test does not run."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(where / f"{dist}-py3-none-any.whl", "w") as zf:
        for n, text in files.items():
            zf.writestr(n, text)


@pytest.mark.slow
def test_first_boot_installs_the_deploy_extra(tmp_path: Path, model: Path) -> None:
    """release's extras=deploy reaches pip as WHEEL[deploy], offline: cryptography is resolved, here
    from the OS's python3-cryptography through the venv's system site packages (as on a Debian card);
    without extras it is not asked for; odd extras are refused before pip runs."""
    if subprocess.run(["/usr/bin/python3", "-c", "import cryptography, venv"], capture_output=True).returncode:
        pytest.skip("needs Debian's python3-cryptography and python3-venv")
    pub, _ = _pub(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    install.install(root, "generic", model=_model_arg(model), log=lambda _: None, deploy_keys=[pub])
    prefix = root / "opt/edge"
    for name, spec in requirements.target_requirements(requirements.target_env("x86_64")):
        _placeholder_wheel(prefix / "wheels", name, re.search(r"[\d.]+", spec or "1.0").group(0))
    script = str(prefix / "bin/edge-firstboot")
    env = _firstboot_env(prefix, EDGE_PYTHON="/usr/bin/python3")
    proc = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (prefix / "firstboot.log").read_text()
    assert re.search(r"Requirement already satisfied: cryptography>=38 in /usr/lib/python3/dist-packages", log), log
    release = prefix / "release"
    release.write_text(release.read_text().replace("extras=deploy\n", ""))
    proc = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and "cryptography" not in (prefix / "firstboot.log").read_text()
    release.write_text(release.read_text() + "extras=deploy];rm -rf /;[\n")
    proc = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1 and "names odd extras" in proc.stdout, proc.stdout + proc.stderr
    assert os.access(prefix / "venv/bin/edge", os.X_OK)  # the previous venv is back


def test_the_config_shows_how_to_serve_assist_and_uncommented_it_loads(
        installed: tuple[Path, list[Path], list[str]], tmp_path: Path) -> None:
    """The written edge.toml carries Home Assistant's voice agent commented out; a user who removes the
    `# ` of its table and key lines gets a config the daemon accepts, and is told where the token goes."""
    root, _, _ = installed
    text = _rebased(root, tmp_path).read_text()
    hint = text[text.index("# Home Assistant Assist"):].splitlines()[1:]
    assert any("/etc/edge/credentials/ha_token" in line for line in hint)
    keys = [line[2:] for line in hint if line.startswith("# [") or (line.startswith("# ") and " = " in line[:40])]
    path = tmp_path / "assist.toml"
    path.write_text(text + "\n".join(keys) + "\n")
    s = config.load(config=path, environ={})
    assert s.wyoming.enabled and s.wyoming.host == "0.0.0.0" and s.wyoming.port == 10700
    assert s.home.homeassistant_url == "http://homeassistant.local:8123" and s.home.names == ""
