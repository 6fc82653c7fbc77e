"""Writing a device's files under a root file system (a mounted card or an image being built).

Every write is atomic, with an explicit mode (the host's umask must not decide what the
device can read), and never goes through a link that leads out of the root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


class InstallError(Exception):
    """A reason the install cannot go ahead; `edge install` prints it and exits 2."""


class RootTree:
    """Writes under the root: atomically, with explicit modes, never through a link out of the root."""

    def __init__(self, root: Path, log: Callable[[str], None]) -> None:
        self.root = root.resolve()
        self.log = log
        self.files: list[Path] = []

    def path(self, target: Path) -> Path:
        return self.root / target.relative_to("/")

    def mkdir(self, target: Path, mode: int = 0o755) -> Path:
        p = self.root
        for part in target.relative_to("/").parts:
            p = p / part
            if p.exists() or p.is_symlink():
                # An absolute link in a mounted image (say etc -> /etc) points
                # into the host: refuse rather than write there.
                if not p.resolve().is_relative_to(self.root):
                    raise InstallError(f"{p} leads out of the root {self.root} (a link?); refusing to write there")
            else:
                p.mkdir()
                p.chmod(0o755)  # explicit: the host's umask must not decide what the device can read
        if mode != 0o755:
            p.chmod(mode)
        return p

    def write(self, target: Path, data: bytes, mode: int = 0o644) -> Path:
        p = self.mkdir(target.parent) / target.name
        if p.is_file() and not p.is_symlink() and p.read_bytes() == data:
            p.chmod(mode)
        else:
            tmp = p.with_name(f".{p.name}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(mode)
            os.replace(tmp, p)
            self.log(f"wrote {target}")
        self.files.append(p)
        return p

    def copy(self, src: Path, target: Path, mode: int = 0o644) -> Path:
        return self.write(target, src.read_bytes(), mode)

    def link(self, target: Path, points_to: Path) -> Path:
        p = self.mkdir(target.parent) / target.name
        if not (p.is_symlink() and os.readlink(p) == str(points_to)):
            if p.is_symlink() or p.exists():
                p.unlink()
            p.symlink_to(points_to)  # absolute, as `systemctl enable` writes it
            self.log(f"linked {target} -> {points_to}")
        self.files.append(p)
        return p
