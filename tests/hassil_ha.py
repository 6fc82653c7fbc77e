"""Home Assistant's own answer to a line, for tests that check the recognizer against it: hassil's `recognize_best`
over the home-assistant-intents templates of a language, with a names file's things, areas and floors as slot lists
built as Home Assistant's default agent builds them (bench/home_proxy.py's `home_lists`, the proxy's expected
answers' own), and `best_slot_name="name"` as the agent ranks. Skips the calling test where hassil or the intents
package is not installed (the test extra has neither; CI installs both)."""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def best(text: str, lang: str, names_file: Path | str) -> Any:
    """hassil's best reading of `text` (a RecognizeResult), or None where no template reads it."""
    pytest.importorskip("hassil")
    pytest.importorskip("home_assistant_intents")
    from hassil.recognize import recognize_best

    return recognize_best(text, _intents(lang), slot_lists=_lists(str(names_file)), language=lang,
                          best_slot_name="name")


@lru_cache(maxsize=8)
def _intents(lang: str) -> Any:
    from hassil.intents import Intents
    from home_assistant_intents import get_intents

    return Intents.from_dict(get_intents(lang))


@lru_cache(maxsize=16)
def _lists(names_file: str) -> dict[str, Any]:
    import yaml

    return _home_proxy().home_lists(yaml.safe_load(Path(names_file).read_text(encoding="utf-8")))


def _home_proxy() -> Any:
    if "home_proxy" not in sys.modules:   # bench/ is no package: load it by path, as tests/test_bench_home_proxy.py
        spec = importlib.util.spec_from_file_location("home_proxy", ROOT / "bench" / "home_proxy.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["home_proxy"] = mod
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return sys.modules["home_proxy"]
