"""An idle daemon with the default settings imports nothing of the features that are off.

Every module a daemon imports stays in its RSS for its whole life (docs/performance.md,
"Memory"). The optional features and the command-line tools therefore import their modules
only when used; this test runs a real `python -m edge run` against a real broker, lets it
answer a request, and reads what it imported from Python's own import log
(PYTHONPROFILEIMPORTTIME, the `-X importtime` of the environment), so a top-level import
added to the daemon's path later shows up here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import daemon_config

from edge.__main__ import build_parser, run_args

ROOT = Path(__file__).resolve().parent.parent

# What the defaults leave off, and what imports it when it is on.
LAZY = {
    "edge.cloud": "[cloud] base_url (edge/service_build.py build)",
    "edge.cloud_prompt": "[cloud] base_url",
    "edge.cloud_reply": "[cloud] base_url",
    "edge.mqtt.tools": "edge send / edge homeassistant remove (edge/mqtt/__init__.py)",
    "edge.mqtt.fleet": "edge rollout",
    "edge.wyoming": "[wyoming] enabled",
    "edge.wyoming_events": "[wyoming] enabled",
    "edge.wyoming_channel": "[wyoming] enabled",
    "edge.names": "[home] names",
    "edge.home": "[home] names / the Wyoming channel",
    "edge.home_results": "[home] names / the Wyoming channel",
    "edge.home_words": "[home] names / the Wyoming channel",
    "edge.home_guard": "[home] names / the Wyoming channel",
    "edge.home_cloud": "[wyoming] cloud / a home model with [cloud] base_url",
    "edge.home_cloud_mqtt": "a home model with [cloud] base_url",
    "edge.home_cloud_prompt": "[wyoming] cloud / a home model with [cloud] base_url",
    # edge run recognises its NamesError by the module once loaded (edge/cli_run.py)
    "edge.names_file": "[home] names",
    "edge.names_ha": "[home] names from Home Assistant",
    # the slot tagger's words and features (models/clinc150's slots are rules: edge/slots.py)
    "edge.slot_features": "a model with a slot tagger (models/home)",
    "edge.gazetteers": "a model with a slot tagger (models/home)",
    # the learned slot tagger (edge/slots.py imports it with a tagger; SlotError is in edge.slot_error)
    "edge.tagger": "a model with a slot tagger (models/home)",
    "edge.tagger_decode": "a model with a slot tagger (models/home)",
    # the integrations (edge/service_build.py, service_intake.py, pipeline.py import them when on)
    "edge.integrations": "[integrations] hermes / home_assistant, edge homeassistant remove",
    "edge.names_index": "[home] names",
    "edge.names_lang": "[home] names",
    "edge.names_schema": "[home] names",
    "edge.names_text": "[home] names",
    "edge.names_values": "[home] names",
    "edge.names_values_data": "[home] names",
    "edge.names_words": "[home] names",
    "edge.signing": "[deploy] keys, edge keygen / sign",
    "edge.minisign": "[deploy] keys, edge keygen / sign",
    "edge.cli_sign": "edge keygen / sign",
    "edge.deploy": "[deploy] keys",
    "edge.deploy_disk": "[deploy] keys",
    "edge.deploy_recover": "[deploy] keys",
    "edge.deploy_repeat": "[deploy] keys",
    "edge.deploy_status": "[deploy] keys",
    "edge.deploy_steps": "[deploy] keys",
    "edge.deploy_channel": "[deploy] keys",
    "edge.rollout": "edge rollout",
    "edge.train": "edge train",
    "edge.install": "edge install",
    "edge.install_tree": "edge install",
    "edge.install_wheel": "edge install",
    "edge.install_render": "edge install",
    "edge.cli_broker": "edge send / deploy / homeassistant",
    "edge.cli_local": "edge infer / eval / config / train",
    "edge.evaluate": "edge eval",
    "edge.slot_scores": "edge eval",
    "edge.config_doc": "edge config check --show",
    "cryptography": "[deploy] keys",
    "yaml": "a YAML names file",
    "wyoming": "[wyoming] enabled",
    "zeroconf": "[wyoming] zeroconf",
    # edge/health.py reads CPU and RSS from /proc itself; psutil only where there is no /proc
    "psutil": "a system without /proc (edge/health.py ProcessReadings)",
    # `edge run --config F` is read by edge/__main__.py's run_args; argparse (with gettext) only
    # for anything else (--help, a typo), and for the other commands
    "argparse": "edge COMMAND other than a plain `edge run [--config F] [--profile P]`",
    "gettext": "argparse",
    # The daemon's threads are its own DaemonPool's; a ThreadPoolExecutor would also be
    # joined at exit (a hung connect would then hold the stop).
    "concurrent.futures.thread": "a ThreadPoolExecutor",
}


def imported(log: str) -> set[str]:
    """Module names from the `import time: self | cumulative | name` lines of the log."""
    return {m.group(1) for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", log, re.M)}


def test_an_idle_daemon_with_defaults_imports_no_optional_feature(tmp_path, broker, daemon_factory,
                                                                    client_factory) -> None:
    d = daemon_factory(daemon_config(broker, tmp_path / "state"), env={"PYTHONPROFILEIMPORTTIME": "1"})
    c = client_factory(broker)
    reply = c.request("edge/test", {"id": "idle-1", "text": "what time is it"})
    assert reply["id"] == "idle-1" and reply["intent"]  # the request path ran, not just the start
    assert d.stop() == 0
    mods = imported(d.log_text())
    # the log is read right: what the daemon surely imports is there
    assert {"edge.service", "edge.pipeline", "edge.mqtt.link", "asyncio", "sqlite3"} <= mods, sorted(mods)[:20]
    loaded = sorted(m for m in mods if any(m == k or m.startswith(k + ".") for k in LAZY))
    assert not loaded, {m: LAZY[next(k for k in LAZY if m == k or m.startswith(k + "."))] for m in loaded}


# What a home daemon serving Assist (models/home, a YAML names file, Wyoming on) keeps out, and why
# it could have been imported: each is memory for its whole life (docs/performance.md, "Memory").
HOME_LAZY = {
    "yaml": "the YAML names file is read in a child process (edge/names_file.py)",
    "importlib.metadata": "wyoming/version.py's version() (edge/wyoming_events.py registers the version)",
    "wyoming.info": "the info event is written without it (edge/wyoming_events.py)",
    "wyoming.audio": "imported by wyoming.info",
    "wave": "imported by wyoming.audio",
    "audioop": "imported by wyoming.audio",
    "zeroconf": "[wyoming] zeroconf",
    "edge.cloud": "[cloud] base_url",
    "edge.home_cloud": "[wyoming] cloud",
    "edge.names_ha": "[home] names from Home Assistant",
    "edge.deploy": "[deploy] keys",
    "concurrent.futures.thread": "a ThreadPoolExecutor",
}


def test_a_home_daemon_serving_assist_imports_no_yaml_nor_what_wyoming_would_pull_in(
        tmp_path, broker, daemon_factory, client_factory) -> None:
    import asyncio
    from pathlib import Path

    from conftest import free_port
    from wyoming_ha import ha_describe, ha_process

    root = Path(__file__).resolve().parent.parent
    port = free_port()
    d = daemon_factory(daemon_config(broker, tmp_path / "state", model={"path": str(root / "models" / "home")},
                                     home={"names": str(root / "tests" / "data" / "home_names.yaml")},
                                     wyoming={"enabled": True, "port": port}),
                       env={"PYTHONPROFILEIMPORTTIME": "1"})

    async def assist():
        return (await ha_describe("127.0.0.1", port),
                await ha_process("127.0.0.1", port, "turn off the kitchen lights", "en"))

    info, off = asyncio.run(assist())
    assert off.name == "HassTurnOff" and {e.name: e.value for e in off.entities} == {"area": "Kitchen",
                                                                                      "domain": "light"}
    assert info.intent[0].name == "edge"
    reply = client_factory(broker).request("edge/test", {"id": "h-1", "text": "turn on the desk lamp",
                                                         "language": "en"})
    assert reply["id"] == "h-1" and reply["intent"] == "HassTurnOn"
    assert d.stop() == 0
    mods = imported(d.log_text())
    assert {"edge.wyoming", "wyoming.event", "edge.names", "edge.home"} <= mods, sorted(mods)[:20]
    loaded = sorted(m for m in mods if any(m == k or m.startswith(k + ".") for k in HOME_LAZY))
    assert not loaded, {m: HOME_LAZY[next(k for k in HOME_LAZY if m == k or m.startswith(k + "."))] for m in loaded}


def test_the_lazy_names_of_edge_mqtt_still_resolve() -> None:
    import edge.mqtt

    assert edge.mqtt.request_once.__module__ == "edge.mqtt.tools"
    assert edge.mqtt.publish_once.__module__ == "edge.mqtt.tools"
    try:
        edge.mqtt.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")


def test_imported_reads_the_import_log() -> None:
    log = "\n".join(["import time: self [us] | cumulative | imported package",
                     "import time:       120 |        120 |     edge.cloud",
                     "INFO: something else", json.dumps({"x": 1})])
    assert imported(log) == {"edge.cloud"}


# `edge run`'s options without argparse (edge/__main__.py run_args): whatever it takes, argparse reads
# the same; whatever it does not take plainly (a careless or hostile command line) goes to argparse.
TAKEN = [["run"], ["run", "--config", "a.toml"], ["run", "--config=a.toml"], ["run", "--profile", "pi4"],
         ["run", "--config", "a b.toml", "--profile=x"], ["run", "--profile", "p", "--config", "c"],
         ["run", "--config="], ["run", "--config", ""], ["run", "--config", "run"], ["run", "--config", "a=b"],
         ["run", "--config", "ü.toml"]]
LEFT = [["--version"], ["run", "--help"], ["run", "-h"], ["run", "--conf", "a"], ["run", "--config"],
        ["run", "--config", "--profile", "p"], ["run", "--config", "-x"], ["run", "--config", "a", "--config", "b"],
        ["run", "--config", "a", "extra"], ["run", "--", "--config", "a"], ["run", "--nope"], ["run", "-c", "a"],
        ["send", "--config", "a"], ["runs"], [], ["run", "--profile=-1"], ["run", "--CONFIG", "a"]]


@pytest.mark.parametrize("argv", TAKEN, ids=[" ".join(a) for a in TAKEN])
def test_run_args_reads_what_argparse_reads(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ({}, {"EDGE_CONFIG": "env.toml", "EDGE_PROFILE": "env-profile"}):
        monkeypatch.delenv("EDGE_CONFIG", raising=False)
        monkeypatch.delenv("EDGE_PROFILE", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        fast = run_args(argv)
        full = build_parser("run").parse_args(argv)
        assert fast is not None
        assert (fast.command, fast.config, fast.profile) == (full.command, full.config, full.profile), env


@pytest.mark.parametrize("argv", LEFT, ids=[" ".join(a) or "(none)" for a in LEFT])
def test_run_args_leaves_everything_else_to_argparse(argv: list[str]) -> None:
    assert run_args(argv) is None


def test_edge_run_answers_help_and_a_typo_as_argparse_does() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    help_ = subprocess.run([sys.executable, "-m", "edge", "run", "--help"], capture_output=True, text=True, env=env,
                           timeout=60)
    assert help_.returncode == 0 and "--config" in help_.stdout and "--profile" in help_.stdout
    typo = subprocess.run([sys.executable, "-m", "edge", "run", "--confg", "x.toml"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert typo.returncode == 2 and "unrecognized arguments" in typo.stderr and "usage: edge" in typo.stderr


def test_a_bad_names_file_still_stops_the_start_with_2(tmp_path, broker) -> None:
    """edge run no longer imports edge.names_file for its error class: a names file that is not one
    is still a configuration error (exit 2, the file's problem logged), not a crash (1)."""
    names = tmp_path / "names.json"
    names.write_text('{"entities": 5}')
    cfg = tmp_path / "edge.toml"
    cfg.write_text(daemon_config(broker, tmp_path / "state", home={"names": str(names)}))
    out = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(cfg)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "names.json" in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]


def test_health_readings_agree_with_psutil() -> None:
    """edge.health reads the two figures it took from psutil (CPU percent since the last reading,
    RSS) from os.times() and /proc/self/statm: the same figures as psutil's, over the same span."""
    import psutil

    from edge.health import ProcessReadings, _psutil_process

    began = os.times()
    ours, theirs, fallback = ProcessReadings(), psutil.Process(), ProcessReadings()
    theirs.cpu_percent(interval=None)
    fallback._psutil = _psutil_process()  # the path taken where there is no /proc
    fallback.cpu_percent()
    start = os.times()
    blob = []
    while os.times().user - start.user < 0.3:  # busy: CPU time the readings must see
        blob.append(sum(range(1000)))
    a, b, c = ours.cpu_percent(), theirs.cpu_percent(interval=None), fallback.cpu_percent()
    ended = os.times()
    # The share of one CPU this process really had (a loaded machine gives it less than 100%): the
    # readings must see most of it, not a fixed percentage the machine's load decides.
    had = 100 * (ended.user + ended.system - began.user - began.system) / (ended.elapsed - began.elapsed)
    assert a is not None and c is not None
    assert a > had / 2 and abs(a - b) < 15 and abs(c - b) < 15, (a, b, c, had)
    rss = ours.rss_bytes()
    assert rss is not None and abs(rss - theirs.memory_info().rss) < 4 << 20
    assert fallback.rss_bytes() is not None
