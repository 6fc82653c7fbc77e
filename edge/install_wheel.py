"""The wheel `edge install` puts on a card: this source tree zipped as a pure-Python wheel, here.

No build backend and no network, and the same bytes every time (fixed dates and modes), so
a rerun of `edge install` leaves an identical wheel alone.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

from edge import config, project
from edge.install_tree import InstallError
from edge.project import IN_REPO, PACKAGE_DIR, REPO_DIR


def data_dir(repo_name: str, packaged_name: str) -> Path:
    """A data directory of this source tree, or its copy inside an installed package."""
    for candidate in (REPO_DIR / repo_name if IN_REPO else None, PACKAGE_DIR / packaged_name):
        if candidate is not None and candidate.is_dir():
            return candidate
    raise InstallError(f"cannot find {repo_name}/ beside the edge package ({REPO_DIR})")


def wheel_files() -> list[tuple[str, Path]]:
    """(archive name, file) for the package, with models/, firmware_configs/ and systemd/ inside it.

    The repository keeps those three at the top where people look for them;
    in the wheel they become edge/models (where edge.model looks for the
    default model), edge/firmware_configs (where edge.config looks for
    profiles) and edge/units (so an installed `edge install` finds the units).
    """
    files: list[tuple[str, Path]] = []
    for p in sorted(PACKAGE_DIR.rglob("*")):
        rel = p.relative_to(PACKAGE_DIR)
        if p.is_file() and "__pycache__" not in rel.parts and p.suffix != ".pyc" \
                and rel.parts[0] not in ("models", "firmware_configs", "units"):
            files.append((f"edge/{rel.as_posix()}", p))
    models = PACKAGE_DIR / "models" if not IN_REPO else REPO_DIR / "models"
    for p in sorted(models.rglob("*")):  # nothing when no model was shipped: --model brings one
        rel = p.relative_to(models)
        # The same files pyproject.toml's package-data ships, and no training leftovers.
        if p.is_file() and (len(rel.parts) == 2 and p.suffix in (".tflite", ".model", ".json")
                            or len(rel.parts) == 1 and p.suffix == ".py"):
            files.append((f"edge/models/{rel.as_posix()}", p))
    files += [(f"edge/firmware_configs/{p.name}", p) for p in sorted(config.profiles_dir().glob("*.toml"))]
    units = data_dir("systemd", "units")
    files += [(f"edge/units/{p.name}", p) for p in sorted(units.iterdir()) if p.is_file()]
    if IN_REPO and (REPO_DIR / "docs" / "device.md").is_file():
        files.append(("edge/units/README.md", REPO_DIR / "docs" / "device.md"))  # becomes /opt/edge/README.md
    return files


def build_wheel() -> tuple[str, bytes]:
    """A pure-Python wheel of this edge, zipped here: no build backend, no network, same bytes every time."""
    proj = project.metadata()
    dist = f"{proj['name'].replace('-', '_')}-{proj['version']}"
    info = f"{dist}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {proj['name']}", f"Version: {proj['version']}"]
    if proj["summary"]:
        meta.append(f"Summary: {' '.join(proj['summary'].split())}")
    if proj["requires_python"]:
        meta.append(f"Requires-Python: {proj['requires_python']}")
    meta += [f"Requires-Dist: {d}" for d in proj["dependencies"]]
    for extra, reqs in proj.get("extras", {}).items():  # as pip's wheel has them: first boot may ask for one
        meta.append(f"Provides-Extra: {extra}")
        for req in reqs:
            body, _, marker = req.partition(";")
            clause = f'({marker.strip()}) and extra == "{extra}"' if marker.strip() else f'extra == "{extra}"'
            meta.append(f"Requires-Dist: {body.strip()}; {clause}")
    entries = [(arc, p.read_bytes()) for arc, p in wheel_files()]
    entries.append((f"{info}/METADATA", ("\n".join(meta) + "\n").encode()))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: edge.install\nRoot-Is-Purelib: true\n"
                                     b"Tag: py3-none-any\n"))
    if proj["scripts"]:
        eps = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in proj["scripts"].items())
        entries.append((f"{info}/entry_points.txt", eps.encode()))
    entries.append((f"{info}/top_level.txt", b"edge\n"))
    record = "".join(
        f"{arc},sha256={urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for arc, data in entries
    ) + f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arc, data in entries:
            zinfo = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: reruns give the same bytes
            zinfo.external_attr = 0o644 << 16
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zinfo, data)
    return f"{dist}-py3-none-any.whl", buf.getvalue()
