"""What edge/wyoming.py takes from the `wyoming` package, without the package's heavy imports.

Two of the package's modules cost a home daemon memory for nothing it uses (RSS of a daemon with
the home model loaded, each measured alone after the other, 2026-12-06, 2-core x86_64 VM):

- `wyoming/version.py` runs `importlib.metadata.version("wyoming")` at import, for the one string
  that goes into each event's header: importlib.metadata and the distribution scan cost 0.4-0.8 MB.
  `register_version()` reads that string from the installed distribution's METADATA (the file
  importlib.metadata would read) and registers `wyoming.version` with it before `wyoming` is
  imported; where the distribution is not one plain `wyoming-*.dist-info` beside the package
  (an egg, a second copy, no Version line), it does nothing and the package imports as usual.
- `wyoming/info.py` (the `info` event's dataclasses) imports `wyoming.audio`, and with it `wave`,
  `audioop` and `argparse`: 0.6 MB for an event the server sends when Home Assistant sets it up.
  `info_event()` writes the same event data from plain dicts; tests/test_wyoming.py checks that it
  equals what `wyoming.info.Info(...).event()` makes from the same values, so a change of the
  package's schema shows there.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Sequence

DESCRIBE = "describe"  # wyoming.info.Describe's event type
INFO = "info"


def register_version() -> str | None:
    """Register `wyoming.version` from the installed METADATA, unless `wyoming` is imported already or
    the distribution cannot be read plainly. Returns the version registered (None: nothing done)."""
    if "wyoming" in sys.modules or "wyoming.version" in sys.modules:
        return None
    import importlib.util

    spec = importlib.util.find_spec("wyoming")  # finds the package's folder without importing it
    if spec is None or not spec.origin:
        return None
    found = list(Path(spec.origin).parent.parent.glob("wyoming-*.dist-info"))
    if len(found) != 1:
        return None
    version = None
    try:
        with open(found[0] / "METADATA", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the end of the headers
                if line.startswith("Version:"):
                    version = line.split(":", 1)[1].strip()
                    break
    except (OSError, UnicodeDecodeError):
        return None
    if not version:
        return None
    module = types.ModuleType("wyoming.version", "Version number.")
    module.__version__ = version  # type: ignore[attr-defined]
    module.__all__ = ["__version__"]  # type: ignore[attr-defined]
    sys.modules["wyoming.version"] = module
    return version


def info_event_data(*, name: str, description: str | None, version: str | None, model_name: str,
                    model_description: str | None, model_version: str | None,
                    languages: Sequence[str]) -> dict[str, Any]:
    """The data of the `info` event of one intent program with one model, as wyoming.info.Info.event()
    writes it (every service list present, empty but `intent`; the attribution names edge, with no
    public home page to point to)."""
    attribution = {"name": "edge", "url": ""}
    model = {"name": model_name, "attribution": dict(attribution), "installed": True,
             "description": model_description, "version": model_version, "languages": list(languages)}
    program = {"name": name, "attribution": dict(attribution), "installed": True, "description": description,
               "version": version, "models": [model]}
    return {"asr": [], "tts": [], "handle": [], "intent": [program], "wake": [], "mic": [], "snd": []}
