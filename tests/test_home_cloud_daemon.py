"""The cloud path for home commands as the daemon wires it (edge.service.build): the Wyoming channel
shares the daemon's cloud client, router, budget and pool, follows a deployed model
(edge.service.swap_model), and `[wyoming] cloud = false` keeps Assist on the device."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("wyoming")

from cloud_server import FakeCloud  # noqa: E402
from conftest import free_port  # noqa: E402
from wyoming.handle import Handled  # noqa: E402
from wyoming.intent import NotRecognized  # noqa: E402
from wyoming_ha import ha_describe, ha_process  # noqa: E402

from edge import config as cfg  # noqa: E402
from edge.cloud import CloudError  # noqa: E402
from edge.model import Model  # noqa: E402
from edge.service import Parts, build, swap_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_names.yaml"
HOME = ROOT / "models" / "home"


def parts_for(tmp_path: Path, fake: FakeCloud, model: Model, **wyoming: Any) -> Parts:
    tmp_path.mkdir(parents=True, exist_ok=True)
    toml = tmp_path / "edge.toml"
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in wyoming.items())
    toml.write_text(f'[wyoming]\nenabled = true\nport = {free_port()}\n{extra}'
                    f'[home]\nnames = "{NAMES}"\n'
                    f'[cloud]\nbase_url = "{fake.base_url}"\nmodel = "fake"\ntimeout_s = 3\n'
                    f'[state]\ndir = "{tmp_path / "state"}"\n')
    return build(cfg.load(toml, None, {}), model, environ={})


def close(parts: Parts) -> None:
    if parts.cloud is not None:
        parts.cloud.close()
    parts.pool.shutdown(wait=False)
    parts.connector.shutdown(wait=False)
    parts.outbox.close()
    parts.loop.close()


def serve(parts: Parts, *said: str) -> tuple[Any, list[Any]]:
    ch = parts.channels[0]

    async def go() -> tuple[Any, list[Any]]:
        await ch.start(asyncio.get_running_loop())
        try:
            port = ch.server.port
            return await ha_describe("127.0.0.1", port), [await ha_process("127.0.0.1", port, t) for t in said]
        finally:
            await ch.stop()
    return asyncio.run(go())


def test_a_deployed_models_labels_are_what_the_cloud_prompt_and_wyoming_info_use(tmp_path: Path) -> None:
    started, home = Model.load(None), Model.load(HOME)  # the shipped CLINC150 model, then the home model
    assert not set(started.labels) & set(home.labels)
    with FakeCloud(answer="x") as cloud:
        parts = parts_for(tmp_path, cloud, started)
        try:
            assert parts.cloud is not None and set(parts.cloud.labels) == set(started.labels) - {"oos"}
            info, _ = serve(parts)
            assert info.intent[0].models[0].name == started.name
            old = swap_model(parts, home)
            assert old is started
            # the MQTT escalations' client asks with the deployed model's labels, and takes only them
            assert parts.cloud.labels == tuple(x for x in home.labels if x != "oos")
            cloud.content = json.dumps({"intent": "HassTurnOn", "answer": "ok"})
            assert parts.cloud.classify("kitchen ceiling needs to be on").intent == "HassTurnOn"
            assert "HassTurnOn" in cloud.chat_requests[-1].body["messages"][0]["content"]
            cloud.content = json.dumps({"intent": started.labels[0], "answer": "ok"})
            with pytest.raises(CloudError) as err:
                parts.cloud.classify("what is my balance")
            assert err.value.kind == "unknown_label"
            cloud.content = json.dumps({"answer": "William Shakespeare"})
            info, (answer,) = serve(parts, "who wrote hamlet")
            # Wyoming's info names the deployed model and its languages
            assert info.intent[0].models[0].name == "home"
            assert set(info.intent[0].models[0].languages) == {"en", "de", "fr", "es"}
            assert isinstance(answer, Handled) and answer.text == "William Shakespeare"
            system = cloud.chat_requests[-1].body["messages"][0]["content"]
            assert "HassTurnOn:" in system and "HassShoppingListAddItem: item" in system
            assert not any(f"\n{label}:" in system for label in started.labels)
            # the Wyoming call came out of the daemon's one budget (classify above is not budgeted itself)
            assert parts.router.budget.stats()["calls_last_hour"] == 1
        finally:
            close(parts)


def test_wyoming_cloud_false_keeps_assist_on_the_device(tmp_path: Path) -> None:
    with FakeCloud(content=json.dumps({"answer": "William Shakespeare"})) as cloud:
        parts = parts_for(tmp_path, cloud, Model.load(HOME), cloud=False)
        try:
            _, (answer,) = serve(parts, "who wrote hamlet")
            assert isinstance(answer, NotRecognized)
            assert cloud.chat_requests == []
        finally:
            close(parts)
        parts = parts_for(tmp_path / "on", cloud, Model.load(HOME))
        try:
            _, (answer,) = serve(parts, "who wrote hamlet")
            assert isinstance(answer, Handled) and len(cloud.chat_requests) == 1
        finally:
            close(parts)


def test_with_the_cloud_off_nothing_of_the_cloud_path_is_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    toml = tmp_path / "edge.toml"
    toml.write_text(f'[wyoming]\nenabled = true\n[model]\npath = "{HOME}"\n[state]\ndir = "{tmp_path}"\n')
    code = ("import sys; from edge import config; from edge.model import Model; from edge.service import build; "
            f"s = config.load({str(toml)!r}, None, {{}}); build(s, Model.load(s.model.path)); "
            "print(sorted(m for m in sys.modules if m in ('edge.home_cloud', 'edge.cloud')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_the_daemon_answers_assist_from_the_cloud_and_counts_it_in_its_one_budget(broker, daemon_factory,
                                                                                client_factory, tmp_path: Path) -> None:
    from conftest import daemon_config

    port = free_port()
    with FakeCloud(content=json.dumps({"answer": "William Shakespeare"})) as fake:
        d = daemon_factory(daemon_config(
            broker, tmp_path / "state", model={"path": str(HOME)}, wyoming={"enabled": True, "port": port},
            home={"names": str(NAMES)}, cloud={"base_url": fake.base_url, "model": "fake", "timeout_s": 3,
                                                "max_per_hour": 1}))

        async def scenario() -> list[Any]:
            return [await ha_process("127.0.0.1", port, "who wrote hamlet"),
                    await ha_process("127.0.0.1", port, "who wrote hamlet")]

        first, second = asyncio.run(scenario())
        assert isinstance(first, Handled) and first.text == "William Shakespeare"
        assert isinstance(second, NotRecognized)  # the hour's one call is spent
        assert len(fake.chat_requests) == 1
        # MQTT escalations draw on the same budget: none left for this unsure request
        c = client_factory(broker)
        result = c.request("edge/test", {"text": "who wrote hamlet", "language": "en"})
        assert result["reason"] == "budget" and len(fake.chat_requests) == 1, result
        assert d.stop() == 0
