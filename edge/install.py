"""`edge install`: lay out a device's files under a root file system, for flashing.

The root is a mounted SD card (Raspberry Pi OS's second partition) or an image
being built. Nothing is executed for the target: the application goes on the
card as wheels under /opt/edge, and `edge-firstboot.service` builds
/opt/edge/venv from them on the device's first boot (a venv cannot be built
here: the host's Python and CPU are not the Pi's). Beside them: the model
package, /etc/edge/edge.toml from the profile, the units (enabled) with the
profile's limits, the system user. docs/device.md lists every path.
A card that takes signed deployments (`[deploy] keys` in the config it ends up
with, or `--deploy-key FILE`) also gets the trusted public keys where the
service's dynamic user can read them, and the `deploy` extra (cryptography)
in what first boot installs.
Running it again updates the card in place; identical files are left alone.

This module decides what goes where (the model checked, the keys, the units, the
release file) and is the command's front end. Its helpers, one job each: the writes
under the root (edge/install_tree.py), the wheel (edge/install_wheel.py), edge.toml and
the unit drop-in (edge/install_render.py), the trusted keys (edge/install_keys.py),
the dependency wheels a target needs (edge/requirements.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Callable, Sequence

from edge import config, project
from edge.digest import sha256_file
from edge.install_keys import DEPLOY_KEY_DIR, KeyProblem, check_keys_on_card, configured_keys, given_keys
from edge.install_render import CONFIG_PATH, render_config, render_dropin
from edge.install_tree import InstallError, RootTree
from edge.install_wheel import build_wheel, data_dir
from edge.project import DIST_NAME, IN_REPO, PACKAGE_DIR, REPO_DIR
from edge.requirements import (TARGET_MACHINES, RequirementError, marker_holds, missing_dependencies,
                               requirement_lines, target_env, target_of_root)

WHEEL_STEM = DIST_NAME.replace("-", "_")
# Wheels of ours that an older install may have left (the distribution used to be called "edge").
_OUR_WHEELS = (f"{WHEEL_STEM}-", "edge-")
PREFIX = Path("/opt/edge")
UNIT_DIR = Path("/etc/systemd/system")
# edge.model.default_model_path() names the same directory; install may not import edge.model.
DEFAULT_MODEL = "clinc150"
SIGNATURE = "manifest.json.minisig"  # a signed package's signature (edge sign), shipped beside its manifest
DEPLOY_EXTRA = "deploy"


def find_model(model: Path | None) -> Path:
    """The model package to ship: --model, else the default one in models/, else the only one."""
    if model is not None:
        if not (model / "manifest.json").is_file():
            raise InstallError(f"{model}: not a model package (no manifest.json)")
        return model
    models = data_dir("models", "models")
    packages = sorted(p.parent for p in models.glob("*/manifest.json"))
    if not packages:
        raise InstallError(f"no model package in {models}; train one (`edge train`) or pass --model DIR")
    for p in packages:
        if p.name == DEFAULT_MODEL:
            return p
    if len(packages) == 1:
        return packages[0]
    names = ", ".join(p.name for p in packages)
    raise InstallError(f"several model packages in {models} ({names}); choose one with --model DIR")


def verified_model_files(model: Path) -> tuple[dict, list[str]]:
    """The manifest and its file list, after checking each file against its sha256."""
    try:
        manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InstallError(f"{model / 'manifest.json'}: cannot read: {exc}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise InstallError(f"{model / 'manifest.json'}: no 'files' mapping of file names to sha256")
    for name, digest in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise InstallError(f"{model / 'manifest.json'}: files: {name!r} is not a plain file name")
        path = model / name
        if not path.is_file():
            raise InstallError(f"{path}: listed in the manifest but missing")
        if sha256_file(path) != digest:
            raise InstallError(f"{path}: sha256 does not match the manifest; refusing to ship it")
    return manifest, sorted(files)


def install(
    root: Path,
    profile: str,
    *,
    wheel_dir: Path | None = None,
    model: Path | None = None,
    log: Callable[[str], None] = print,
    force_config: bool = False,
    deploy_keys: Sequence[Path] = (),
) -> list[Path]:
    """Lay out everything a device needs under `root`; returns the files laid out (written or already current)."""
    root = Path(root)
    if not root.is_dir():
        raise InstallError(f"{root}: not a directory (mount the card's root partition and name its mount point)")
    try:
        settings = config.load(profile=profile, environ={})  # the host's EDGE_* variables are not the device's
    except config.ConfigError as exc:
        raise InstallError(str(exc)) from None
    profile_path = config.resolve_profile(profile)
    profile_name = profile_path.stem
    if wheel_dir is not None and not wheel_dir.is_dir():
        raise InstallError(f"{wheel_dir}: --wheel-dir is not a directory")
    model_src = find_model(model)
    manifest, model_files = verified_model_files(model_src)
    tree = RootTree(root, log)

    # Which config the card ends up with decides whether it takes deployments; checked before
    # anything is written (a trusted key the daemon cannot load stops its start, exit 2).
    try:
        keys_arriving = given_keys(deploy_keys)
    except KeyProblem as exc:
        raise InstallError(str(exc)) from None
    model_dest = PREFIX / "models" / model_src.name
    cfg, pristine = tree.path(CONFIG_PATH), tree.path(PREFIX / "edge.toml.installed")
    # Without --deploy-key, the keys an earlier install wrote stay trusted (an upgrade keeps them).
    trusted: Sequence[Path | str] = list(keys_arriving) or (
        configured_keys(pristine.read_bytes()) if pristine.is_file() else [])
    with profile_path.open("rb") as fh:
        profile_data = tomllib.load(fh)
    rendered = render_config(profile_name, profile_data, model_dest, trusted).encode()
    ours = not cfg.exists() or cfg.read_bytes() == rendered or (
        pristine.is_file() and cfg.read_bytes() == pristine.read_bytes())
    final_config = rendered if ours or force_config else cfg.read_bytes()
    keys = configured_keys(final_config)
    problems = check_keys_on_card(tree.root, keys, keys_arriving)
    if problems:
        raise InstallError("the card's trusted keys would stop edge from starting:\n  " + "\n  ".join(problems))
    extras = [DEPLOY_EXTRA] if keys else []

    # The application: our wheel, plus dependency wheels for an offline first boot.
    wheels = PREFIX / "wheels"
    wheel_name, wheel_bytes = build_wheel()
    tree.write(wheels / wheel_name, wheel_bytes)
    for stale in tree.path(wheels).glob("*.whl"):
        if stale.name.startswith(_OUR_WHEELS) and stale.name != wheel_name:  # only this version goes on the card
            stale.unlink()
            log(f"removed {wheels / stale.name}")
    if wheel_dir is not None:
        for whl in sorted(wheel_dir.glob("*.whl")):
            if not whl.name.startswith(_OUR_WHEELS):
                tree.copy(whl, wheels / whl.name)
    _report_dependencies(tree.root, tree.path(wheels), wheel_dir, log, extras)
    env, _ = target_of_root(tree.root)
    if env and env["platform_machine"] == "armv7l" and profile_name in _BOARDS_WITH_A_64BIT_KERNEL:
        # pip evaluates markers with the kernel's machine (uname -m), aarch64 there,
        # and would want aarch64-only dependencies in a 32-bit Python.
        log(f"this card has 32-bit Raspberry Pi OS, which boots a 64-bit kernel on the {profile_name}: "
            "use the 64-bit OS (docs/device.md), or add arm_64bit=0 to config.txt on the boot partition")

    # The model, copied and then checked again on the card (SD writes do fail), with its
    # signature when it has one (edge sign): it stays verifiable on the device.
    signed = [SIGNATURE] if (model_src / SIGNATURE).is_file() else []
    for name in ["manifest.json", *signed, *model_files]:
        written = tree.copy(model_src / name, model_dest / name)
        if name in manifest["files"] and sha256_file(written) != manifest["files"][name]:
            raise InstallError(f"{written}: sha256 differs after copying; the card may be failing")
    keep = {"manifest.json", *signed, *model_files}
    for old in tree.path(model_dest).iterdir():
        if old.is_file() and old.name not in keep:
            old.unlink()

    # Configuration. An edited edge.toml is the user's: keep it and put ours beside it.
    for target, data in keys_arriving.items():
        tree.write(target, data, 0o644)
    if ours or force_config:
        tree.write(CONFIG_PATH, rendered)
        tree.write(PREFIX / "edge.toml.installed", rendered)
    else:
        tree.write(CONFIG_PATH.with_name("edge.toml.new"), rendered)
        log(f"kept your edited {CONFIG_PATH}; the {profile_name} profile's version is in edge.toml.new")
        untrusted = [str(k) for k in keys_arriving if str(k) not in keys]
        if untrusted:
            log(f"to trust the --deploy-key key(s), add to [deploy] keys in {CONFIG_PATH}: "
                + ", ".join(json.dumps(k) for k in untrusted))
    tree.mkdir(Path("/etc/edge/credentials"), 0o700)

    # systemd: units, the profile's limits, enablement, user, first boot.
    units = data_dir("systemd", "units")
    tree.copy(units / "edge.service", UNIT_DIR / "edge.service")
    tree.copy(units / "edge-firstboot.service", UNIT_DIR / "edge-firstboot.service")
    tree.write(UNIT_DIR / "edge.service.d" / "10-profile.conf", render_dropin(profile_name, settings.board).encode())
    for unit in ("edge.service", "edge-firstboot.service"):
        tree.link(UNIT_DIR / "multi-user.target.wants" / unit, UNIT_DIR / unit)
    tree.copy(units / "edge.sysusers", Path("/usr/lib/sysusers.d/edge.conf"))
    tree.copy(units / "edge-firstboot.sh", PREFIX / "bin" / "edge-firstboot", 0o755)
    docs = REPO_DIR / "docs" / "device.md" if IN_REPO else PACKAGE_DIR / "units" / "README.md"
    if docs.is_file():
        tree.copy(docs, PREFIX / "README.md")
    # What first boot installs: this wheel, by path, checked against its sha256 and version.
    # extras=deploy: first boot installs the wheel with its deploy extra (cryptography).
    release = (f"wheel={wheel_name}\nversion={project.metadata()['version']}\n"
               f"sha256={hashlib.sha256(wheel_bytes).hexdigest()}\n" + (f"extras={','.join(extras)}\n" if extras else ""))
    tree.write(PREFIX / "release", release.encode())
    # Tells edge-firstboot.service to (re)build the venv from these wheels on the next boot.
    tree.write(PREFIX / "install-pending", f"{wheel_name}\n".encode())
    log(f"installed edge ({wheel_name}, model {manifest.get('name')}@{manifest.get('version')}"
        f"{' signed' if signed else ''}, profile {profile_name}"
        f"{f', deployments from {len(keys)} trusted key(s)' if keys else ''}) under {tree.root}")
    return tree.files


# Boards on which 32-bit Raspberry Pi OS runs a 64-bit kernel by default (uname -m: aarch64).
_BOARDS_WITH_A_64BIT_KERNEL = ("pi-4b", "pi-5", "cm4")


def _report_dependencies(root: Path, wheels: Path, wheel_dir: Path | None, log: Callable[[str], None],
                         extras: Sequence[str] = ()) -> list[str]:
    """Say which runtime dependencies (and those of `extras`) first boot will not find on the card
    (it never uses the index)."""
    wanted = [req for extra in extras for req in project.metadata().get("extras", {}).get(extra, [])]
    try:
        missing, where = missing_dependencies(root, wheels, wheel_dir, wanted)
    except RequirementError as exc:
        raise InstallError(str(exc)) from None
    if missing:
        log(f"no wheel on the card for: {', '.join(missing)} (target: {where}); first boot installs offline "
            "only, so give --wheel-dir wheels for this board or install the OS packages on the device "
            "(docs/device.md, \"Which wheels come from where\")")
    return missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None,
                        help="the target's root file system (e.g. the mounted rootfs partition of the SD card)")
    parser.add_argument("--profile", default=None,
                        help=f"device profile: {', '.join(config.profile_names())}, or a .toml path")
    parser.add_argument("--wheel-dir", type=Path, default=None,
                        help="dependency wheels for the target (pip download --platform ...) for an offline first boot")
    parser.add_argument("--model", type=Path, default=None, help="model package directory (default: the shipped one)")
    parser.add_argument("--deploy-key", action="append", type=Path, default=[], metavar="FILE",
                        help=f"trust this public key (edge keygen's .pub) for signed deployments: copied to "
                             f"{DEPLOY_KEY_DIR}/ and named in [deploy] keys (repeat to trust several)")
    parser.add_argument("--force-config", action="store_true",
                        help="overwrite /etc/edge/edge.toml even if it was edited")
    parser.add_argument("--print-requirements", metavar="MACHINE", choices=TARGET_MACHINES,
                        help="print the runtime requirements of a Python 3.11 MACHINE (x86_64, aarch64, armv7l), "
                             "one a line, for `pip download -r`, and exit (--root and --profile not needed)")
    parser.add_argument("--with-deploy", action="store_true",
                        help="with --print-requirements: add what a card that takes signed deployments needs "
                             "(the deploy extra: cryptography)")
    parser.add_argument("--without-os-packages", action="store_true",
                        help="with --print-requirements: leave out numpy, psutil and sentencepiece (taken from "
                             "Debian's python3-* packages on the device)")


def run(args: argparse.Namespace) -> int:
    if args.print_requirements:
        lines = requirement_lines(args.print_requirements, without_os_packages=args.without_os_packages)
        if args.with_deploy:
            env = target_env(args.print_requirements)
            for req in project.metadata().get("extras", {}).get(DEPLOY_EXTRA, []):
                _, _, marker = req.partition(";")
                if not marker.strip() or marker_holds(marker, env):
                    lines.append(req.partition(";")[0].strip())
        print("\n".join(lines))
        return 0
    if args.root is None or args.profile is None:
        print("edge install: --root and --profile are required", file=sys.stderr)
        return 2
    try:
        install(args.root, args.profile, wheel_dir=args.wheel_dir, model=args.model,
                force_config=args.force_config, deploy_keys=args.deploy_key)
    except InstallError as exc:
        print(f"edge install: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"edge install: {exc}", file=sys.stderr)
        return 1
    return 0

