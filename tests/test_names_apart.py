"""A YAML names file is read in a child process (edge/names_file.py, `_read_apart`), so that PyYAML
never stays in the daemon's memory: the child must give exactly what reading it here gives, the
same NamesData for a good file and the same errors, word for word, for a bad one, whatever a
careless user writes into it; and a daemon-like process must load names without importing yaml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge import names_file
from edge.names_file import NamesError

DATA = Path(__file__).parent / "data"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _both(p: Path) -> tuple[object, object]:
    """(what the child answers, what reading here gives): a NamesData or the NamesError's lines."""
    def run(f):
        try:
            return f(p)
        except NamesError as e:
            return e.errors
    apart = run(names_file._read_apart)
    assert apart is not None, "the child did not answer"
    return apart, run(names_file._read_here)


@pytest.mark.parametrize("name", ["home_names.yaml", "home_dev_names.yaml"])
def test_the_shipped_names_files_read_apart_are_the_same_names(name: str) -> None:
    apart, here = _both(DATA / name)
    assert isinstance(apart, names_file.NamesData) and apart == here
    assert apart.entities and apart.areas


@pytest.mark.parametrize("text", [
    "entities: [\n",  # not YAML
    BOMB,  # aliases: refused unexpanded
    "[1, 2]\n",  # not a mapping
    "entities:\n  - {id: light.a, name: 2024-01-01}\n",  # a date, not a string
    "entities:\n  - {id: light.a, name: !!binary aGVsbG8=}\n",  # bytes
    "entities:\n  - {id: light.a, name: A, state: on, aliases: [x, 3]}\n",  # YAML 1.1 on; a number alias
    "entities:\n  - {id: light.a, name: \"\\ud800\"}\n",  # a lone surrogate, escaped
    "entities:\n  - {id: light.a, name: A, colour: red}\nlanguage: en\nextra: 1\n",  # unknown keys: warnings
    "areas: [{id: k, name: Küche, aliases: [Kochbereich]}]\nfloors: [{id: f, name: \"\\u00c9tage\"}]\n",
    "entities: " + "[" * 5000 + "]" * 5000 + "\n",  # nested past the stack
    "",  # empty
])
def test_what_a_careless_user_writes_reads_the_same_apart(tmp_path: Path, text: str) -> None:
    p = tmp_path / "names.yaml"
    p.write_text(text, encoding="utf-8")
    apart, here = _both(p)
    assert apart == here


def test_unreadable_files_read_the_same_apart(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yml"
    latin.write_bytes("areas: [{id: k, name: K\xfcche}]".encode("latin-1"))
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate((8 << 20) + 1)
    for p in (latin, huge, tmp_path / "absent.yaml"):
        apart, here = _both(p)
        assert isinstance(apart, list) and apart == here


def test_a_child_that_cannot_run_leaves_the_reading_to_this_process(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    assert names_file._read_apart(DATA / "home_names.yaml") is None
    monkeypatch.delitem(sys.modules, "yaml", raising=False)  # so that read_file tries the child first
    assert names_file.read_file(DATA / "home_names.yaml") == names_file._read_here(DATA / "home_names.yaml")


def test_a_process_loading_yaml_names_never_imports_yaml() -> None:
    code = ("import sys; from edge import names; n = names.load(sys.argv[1]); "
            "assert 'yaml' not in sys.modules, 'yaml imported'; "
            "print(n.resolve({'name': 'the kitchen lights'}, 'en').slots)")
    out = subprocess.run([sys.executable, "-c", code, str(DATA / "home_names.yaml")], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    assert "Kitchen" in out.stdout
