"""../shared/spec/interface.md, "Command line": the rows no other test checks through the `edge` command itself.

tests/test_install.py checks `edge install`'s tree through edge.install; tests/test_spec.py `edge eval` without
`--split`. Here: `edge install --root DIR --profile NAME` as a user runs it, `edge eval --split`, `edge infer
--model DIR` on the home model, and the exit status of careless invocations. Real processes only.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "EDGE_CLOUD_API_KEY": ""}


def edge(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, cwd=ROOT)


# --- edge install --root DIR --profile NAME ----------------------------------------------------------

@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("card")
    out = edge("install", "--root", str(root), "--profile", "pi-zero-2w")
    assert out.returncode == 0, out.stderr[-3000:]
    return root


def test_install_lays_out_code_model_config_and_unit(card: Path) -> None:
    """`edge install --root DIR --profile NAME`: "lay out a device's files (code, model, config, unit) under a root
    file system, for flashing" — 0."""
    assert list((card / "opt" / "edge" / "wheels").glob("edge_intent-*.whl")), "no code"
    model = card / "opt" / "edge" / "models" / "clinc150"
    manifest = json.loads((model / "manifest.json").read_text())
    for name, sha in manifest["files"].items():  # the model as shipped: every file matches its manifest
        assert hashlib.sha256((model / name).read_bytes()).hexdigest() == sha, name
    # the laid-out config is valid, as the device will read it: its paths are the device's, so its model
    # path is read under the card's root
    import tomllib

    config = (card / "etc" / "edge" / "edge.toml").read_text()
    device_path = tomllib.loads(config)["model"]["path"]
    assert (card / device_path.lstrip("/")).resolve() == model.resolve(), device_path
    here = card.parent / "edge-here.toml"
    here.write_text(config.replace(f'"{device_path}"', f'"{model}"'))
    check = edge("config", "check", str(here))
    assert check.returncode == 0, check.stderr
    unit = (card / "etc" / "systemd" / "system" / "edge.service").read_text()
    assert "edge" in unit and " run" in unit, unit
    assert (card / "etc" / "systemd" / "system" / "multi-user.target.wants" / "edge.service").is_symlink()


@pytest.mark.parametrize("args,why", [
    (["--profile", "pi-zero-2w"], "no --root"),
    (["--root", "/nonexistent/card", "--profile", "pi-zero-2w"], "a root that is not there"),
    (["--root", "{tmp}", "--profile", "no-such-board"], "an unknown profile"),
    (["--root", "{tmp}", "--profile", "../../etc/passwd"], "a profile that is a path"),
])
def test_install_refuses_careless_arguments_with_2(tmp_path: Path, args: list[str], why: str) -> None:
    """Bad arguments are the commands' common "2 on bad arguments", and nothing is written."""
    out = edge("install", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert out.returncode == 2, (why, out.returncode, out.stderr)
    assert not list(tmp_path.iterdir()), why


# --- edge eval --data FILE --split -----------------------------------------------------------------

DATA = {
    "train": [["what is my checking account balance", "balance"], ["tell me a joke", "tell_joke"]],
    "oos_train": [["blorp fizzle wump", "oos"]],
    "val": [["what is the weather like today", "weather"]],
    "oos_val": [["how do i grow a beard in space", "oos"]],
    "test": [["set an alarm for 7 am", "alarm"], ["what's my balance", "balance"], ["tell me a joke", "tell_joke"]],
}


@pytest.mark.parametrize("split,n", [(None, 8), ("val", 2), ("train", 3), ("test", 3)])
def test_eval_split_uses_that_split_and_its_oos_list(tmp_path: Path, split: str | None, n: int) -> None:
    """`edge eval` input "as in CLINC150's data_full.json ... Without --split, every list in the file is used";
    with it, that split (and its `oos_` list, as CLINC150 pairs them)."""
    f = tmp_path / "data.json"
    f.write_text(json.dumps(DATA))
    out = edge("eval", "--data", str(f), "--json", *(["--split", split] if split else []))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n"] == n


def test_eval_names_a_split_that_is_not_there(tmp_path: Path) -> None:
    f = tmp_path / "data.json"
    f.write_text(json.dumps(DATA))
    out = edge("eval", "--data", str(f), "--split", "nosuch", "--json")
    assert out.returncode == 2 and "nosuch" in out.stderr, (out.returncode, out.stderr)


@pytest.mark.parametrize("content,why", [("", "empty"), ("{", "not JSON"), ('{"val": [["only text"]]}', "not pairs"),
                                         ('{"val": [[1, "weather"]]}', "text not a string")])
def test_eval_refuses_careless_data_with_2_naming_the_file(tmp_path: Path, content: str, why: str) -> None:
    f = tmp_path / "data.json"
    f.write_text(content)
    out = edge("eval", "--data", str(f), "--json")
    assert out.returncode == 2 and str(f) in out.stderr, (why, out.returncode, out.stderr)


# --- edge infer TEXT... --model DIR --json -----------------------------------------------------------

def test_infer_with_another_model_dir() -> None:
    """`edge infer TEXT... [--model DIR] [--json]`: the home model's labels and slots, "as in a result"."""
    out = edge("infer", "--model", str(ROOT / "models" / "home"), "turn off the kitchen lights", "--json")
    assert out.returncode == 0, out.stderr
    (line,) = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
    assert line["intent"] == "HassTurnOff" and line["text"] == "turn off the kitchen lights"
    area = [s for s in line["slots"] if s["name"] == "area"]
    assert area and line["text"][area[0]["start"]:area[0]["end"]] == area[0]["raw"], line


def test_infer_refuses_a_directory_that_is_no_model(tmp_path: Path) -> None:
    out = edge("infer", "--model", str(tmp_path), "hello", "--json")
    assert out.returncode == 2 and out.stdout == "", (out.returncode, out.stdout, out.stderr)


# --- edge config check FILE_OR_PROFILE -------------------------------------------------------------

@pytest.mark.parametrize("target,says", [("/nowhere/edge.toml", "file not found"),
                                          ("edge-missing.toml", "file not found"),
                                          ("no-such-board", "no such profile")])
def test_config_check_tells_a_missing_file_from_an_unknown_profile(target: str, says: str) -> None:
    """`edge config check FILE_OR_PROFILE`: 2 invalid, naming the file; a missing path is a missing file (was
    "no such profile '/nowhere/edge.toml'"), a bare word an unknown profile."""
    out = edge("config", "check", target)
    assert out.returncode == 2 and says in out.stderr and target in out.stderr, out.stderr
