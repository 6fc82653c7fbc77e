"""The sha256 of a file, read in 1 MiB chunks: what a model package's manifest lists for each file.

Its own leaf so that the model loader, the installer and the signature check use one function
without importing each other (the model loader imports the TFLite runtime)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
