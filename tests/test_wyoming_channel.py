"""The Wyoming server as a channel of the daemon's loop (edge.wyoming_channel.channel), with what ships:
models/home, its slot tagger and a names file, read from settings as `edge run` reads them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import free_port
from wyoming_ha import ha_describe, ha_process

from edge import config as cfg
from edge import wyoming_channel
from edge.model import Model
from edge.names_file import NamesError
from edge.slots import SlotExtractor

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_names.yaml"


def settings(tmp_path: Path, port: int, names: Path | None = NAMES):
    toml = tmp_path / "edge.toml"
    toml.write_text(f'[wyoming]\nenabled = true\nport = {port}\n'
                    + (f'[home]\nnames = "{names}"\n' if names else ""))
    return cfg.load(toml, None, {})


@pytest.fixture(scope="module")
def home():
    model = Model.load(ROOT / "models" / "home")
    return model, SlotExtractor.load(model.path, model.manifest)


def test_the_channel_serves_home_assistant_with_the_shipped_home_model(tmp_path: Path, home) -> None:
    port = free_port()
    ch = wyoming_channel.channel(settings(tmp_path, port), *home)

    async def scenario():
        await ch.start(asyncio.get_running_loop())
        try:
            info = await ha_describe("127.0.0.1", port)
            off = await ha_process("127.0.0.1", port, "turn off the kitchen lights", "en")
            de = await ha_process("127.0.0.1", port, "schalte das licht in der küche aus", "de")
            junk = await ha_process("127.0.0.1", port, "what's the capital of peru", "en")
            return info, off, de, junk
        finally:
            await ch.stop()

    info, off, de, junk = asyncio.run(scenario())
    assert set(info.intent[0].models[0].languages) == {"en", "de", "fr", "es"}
    for answer in (off, de):
        assert answer.name == "HassTurnOff", answer
        assert {e.name: e.value for e in answer.entities} == {"area": "Kitchen", "domain": "light"}
    assert type(junk).__name__ == "NotRecognized"


def test_a_bad_names_file_fails_the_channels_construction(tmp_path: Path, home) -> None:
    bad = tmp_path / "names.json"
    bad.write_text('{"entities": [{"id": "light.x"}]}')
    with pytest.raises(NamesError):
        wyoming_channel.channel(settings(tmp_path, free_port(), bad), *home)


@pytest.mark.slow
def test_the_daemon_serves_assist_over_wyoming_on_its_loop_beside_mqtt(broker, daemon_factory, client_factory,
                                                                      tmp_path: Path) -> None:
    from conftest import daemon_config

    port = free_port()
    d = daemon_factory(daemon_config(broker, tmp_path / "state", model={"path": str(ROOT / "models" / "home")},
                                     wyoming={"enabled": True, "port": port}, home={"names": str(NAMES)}))

    async def scenario():
        return (await ha_describe("127.0.0.1", port),
                await ha_process("127.0.0.1", port, "turn off the kitchen lights", "en"),
                await ha_process("127.0.0.1", port, "apaga la luz de la cocina", "es"))

    info, off, es = asyncio.run(scenario())
    assert info.intent[0].models[0].name == "home"
    assert off.name == "HassTurnOff" and {e.name: e.value for e in off.entities} == {"area": "Kitchen",
                                                                                    "domain": "light"}
    assert type(es).__name__ in ("Intent", "NotRecognized")  # never a wrong name: resolution refuses instead
    # MQTT on the same loop, same model
    c = client_factory(broker)
    result = c.request("edge/test", {"text": "turn off the kitchen lights", "language": "en"})
    assert result["intent"] == "HassTurnOff"
    # the names file's exact name is the slot's value (the words as said stay in `raw`)
    area = [s for s in result["slots"] if s["name"] == "area"]
    assert area and area[0]["value"] == "Kitchen" and area[0]["raw"].lower() == "kitchen", result["slots"]
    de = c.request("edge/test", {"text": "schalte das licht in der küche aus", "language": "de"})
    assert [s["value"] for s in de["slots"] if s["name"] == "area"] == ["Kitchen"], de["slots"]
    unknown = c.request("edge/test", {"text": "turn off the lights in the ballroom", "language": "en"})
    assert all(s["value"] != "Kitchen" for s in unknown["slots"]), unknown["slots"]  # unresolved: as said
    assert d.stop() == 0


@pytest.mark.slow
def test_a_wyoming_port_in_use_fails_the_start_with_exit_2(broker, daemon_factory, tmp_path: Path) -> None:
    import socket

    from conftest import daemon_config

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        d = daemon_factory(daemon_config(broker, tmp_path / "state", model={"path": str(ROOT / "models" / "home")},
                                         wyoming={"enabled": True, "port": taken.getsockname()[1]}),
                           wait_ready=False)
        assert d.proc.wait(60) == 2, d.log_text()
        assert "wyoming channel cannot start" in d.log_text()
    finally:
        taken.close()


def test_with_wyoming_off_nothing_of_it_is_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from edge import config; from edge.model import Model; from edge.service import build; "
            f"s = config.load(None, None, {{'EDGE_STATE_DIR': {str(tmp_path)!r}}}); "
            "build(s, Model.load(None)); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('wyoming', 'zeroconf', 'yaml')"
            " or m in ('edge.wyoming', 'edge.wyoming_channel', 'edge.home', 'edge.names')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
