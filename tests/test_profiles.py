"""Every shipped device profile loads through edge.config, and its numbers make sense for its board."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge import config

PROFILES = config.profiles_dir()
SHIPPED = sorted(p.stem for p in PROFILES.glob("*.toml"))
# The smallest RAM variant of each board, in MB: a profile must fit it. None: a host of unknown size.
BOARD_RAM_MB = {"pi-zero-2w": 512, "pi-3b-plus": 1024, "pi-4b": 1024, "cm4": 1024, "pi-5": 2048, "generic": None}
# What the daemon needs at least: about 50 MB after imports, plus the model and SQLite.
DAEMON_FLOOR_MB = 128


def test_the_six_boards_are_shipped() -> None:
    assert set(BOARD_RAM_MB) <= set(SHIPPED), SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_loads(name: str) -> None:
    s = config.load(profile=name, environ={})
    assert s.board.name == name  # the file and the board it describes agree
    assert s.sources == (str(PROFILES / f"{name}.toml"),)


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_limits_are_sane(name: str) -> None:
    s = config.load(profile=name, environ={})
    ram = BOARD_RAM_MB.get(name)
    assert s.board.memory_max_mb >= DAEMON_FLOOR_MB
    if ram is not None:
        # The daemon must leave at least half of the smallest variant to the OS (and a broker).
        assert s.board.memory_max_mb <= ram // 2, f"{name}: MemoryMax {s.board.memory_max_mb} MB on a {ram} MB board"
        assert 0 < s.board.cpu_quota_percent <= 400  # four cores on every Pi here
    if s.board.cpu_quota_percent:
        # More interpreter threads than the quota allows only adds CFS throttling stalls.
        assert s.model.threads * 100 <= s.board.cpu_quota_percent
    assert s.model.path == ""  # the shipped model: `edge install` sets the installed path
    assert s.board.temperature_path.startswith("/sys/")


def _broken_copy(tmp_path: Path, edit: tuple[str, str]) -> Path:
    path = tmp_path / "pi-4b.toml"
    shutil.copy(PROFILES / "pi-4b.toml", path)
    old, new = edit
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("edit, key, why", [
    (("threads = 3", "threads = 3\nthreds = 2"), "model.threds", "unknown key"),
    (("batch_size = 32", 'batch_size = "32"'), "model.batch_size", "expected an integer"),
    (("threads = 3", "threads = 0"), "model.threads", "must be >= 1"),
    (("memory_max_mb = 384", "memory_max_mb = -1"), "board.memory_max_mb", "must be >= 0"),
    (("interval_s = 30.0", "interval_s = true"), "health.interval_s", "expected a number"),
    (("[board]", "[boards]"), "boards", "unknown key"),
])
def test_a_broken_profile_names_key_and_file(tmp_path: Path, edit: tuple[str, str], key: str, why: str) -> None:
    path = _broken_copy(tmp_path, edit)
    with pytest.raises(config.ConfigError) as err:
        config.load(profile=str(path), environ={})
    matching = [e for e in err.value.errors if e.startswith(f"{path}: {key}:")]
    assert matching and why in matching[0], err.value.errors


def test_every_error_of_a_profile_is_reported_at_once(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, ("threads = 3", "threads = 0\nthreds = 1"))
    with pytest.raises(config.ConfigError) as err:
        config.load(profile=str(path), environ={})
    assert len(err.value.errors) == 2


def test_an_unknown_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load(profile="pi-6", environ={})
    assert all(name in str(err.value) for name in SHIPPED)
