"""../shared/spec/interface.md, "Home Assistant Assist (Wyoming)": `handled {text}` — "an answer from the cloud
to something that is no home command (a question), when a cloud is configured and allowed" — through a real
`edge run` with a real OpenAI-compatible HTTP server (tests/cloud_server.py) and the real `wyoming` client.

tests/test_home_cloud_daemon.py checks the same wiring in-process (edge.service.build); this file checks it
from outside, with the cloud reply in the spec's "Cloud call" shape, and what a failing or refused cloud gives.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from cloud_server import FakeCloud
from conftest import ROOT, Broker, Daemon, daemon_config, free_port

pytestmark = pytest.mark.slow

HOME = ROOT / "models" / "home"
NAMES = ROOT / "tests" / "data" / "home_names.yaml"
ANSWER = "William Shakespeare"


def start(tmp: Path, broker: Broker, cloud: FakeCloud, **cloud_keys: Any) -> tuple[Daemon, int]:
    port = free_port()
    cfg = daemon_config(broker, tmp / "s", device_id="wc", model={"path": str(HOME)},
                        wyoming={"enabled": True, "port": port}, home={"names": str(NAMES)},
                        cloud={"base_url": cloud.base_url, "model": "fake", "timeout_s": 3, **cloud_keys})
    return Daemon(tmp / "d", cfg, env={"EDGE_CLOUD_API_KEY": "sk-test"}).start(), port


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeCloud, int, Daemon]]:
    tmp = tmp_path_factory.mktemp("spec-wyoming-cloud")
    broker = Broker(tmp / "b").start()
    with FakeCloud() as cloud:
        d, port = start(tmp, broker, cloud)
        try:
            yield cloud, port, d
            assert d.stop() == 0, d.log_text()
        finally:
            if d.proc and d.proc.poll() is None:
                d.kill()
            broker.stop()


def ask(port: int, text: str, context: dict | None = None) -> list[Event]:
    """Every event of the one exchange Home Assistant makes for `text` (read until the server goes quiet)."""
    async def go() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Transcript(text, language="en", context=context).event())
            got = [await asyncio.wait_for(client.read_event(), 15)]
            while got[-1] is not None:
                try:
                    got.append(await asyncio.wait_for(client.read_event(), 0.5))
                except TimeoutError:
                    break
            return [e for e in got if e is not None]

    return asyncio.run(go())


@pytest.mark.parametrize("reply", [
    {"answer": ANSWER},  # the shape edge.home_cloud's own prompt asks the cloud for
    {"intent": "oos", "answer": ANSWER},  # the spec's Cloud call shape
], ids=["answer-alone", "spec-shape"])
def test_a_question_is_handled_with_the_clouds_answer_and_the_context_echoed(rig, reply: dict) -> None:
    """`handled {text}`: "an answer from the cloud to something that is no home command (a question), when a cloud
    is configured and allowed"; exactly one reply, the context echoed; the call is POST .../chat/completions."""
    cloud, port, _ = rig
    cloud.mode = "good"
    cloud.content = json.dumps(reply)
    before = len(cloud.chat_requests)
    got = ask(port, "who wrote hamlet", {"conversation_id": "q-1"})
    assert [e.type for e in got] == ["handled"], got
    assert got[0].data["text"] == ANSWER and got[0].data["context"] == {"conversation_id": "q-1"}, got[0].data
    assert len(cloud.chat_requests) == before + 1
    call = cloud.chat_requests[-1]
    assert call.path.endswith("/chat/completions") and call.method == "POST", call
    assert "hamlet" in json.dumps(call.body), call.body  # the question itself went to the cloud


def test_a_home_command_the_device_stands_behind_is_an_intent_not_a_cloud_answer(rig) -> None:
    cloud, port, _ = rig
    cloud.mode = "good"
    cloud.content = json.dumps({"intent": "oos", "answer": "the cloud should not have been asked"})
    got = ask(port, "turn off the kitchen lights", {"c": 2})
    assert [e.type for e in got] == ["intent"] and got[0].data["name"] == "HassTurnOff", got
    assert got[0].data["context"] == {"c": 2}


@pytest.mark.parametrize("mode", ["garbage", "http500", "down", "unknown_label"])
def test_a_failing_cloud_gives_one_not_recognized(rig, mode: str) -> None:
    """"anything else is a cloud error, and the device's own answer stands": for a question that is
    not-recognized (never an error event, never silence)."""
    cloud, port, d = rig
    cloud.mode = mode
    try:
        got = ask(port, "who painted the mona lisa", {"c": mode})
    finally:
        cloud.mode = "good"
    assert [e.type for e in got] == ["not-recognized"], (mode, got)
    assert got[0].data["context"] == {"c": mode}
    assert d.proc is not None and d.proc.poll() is None


def test_a_cloud_answer_that_is_a_template_is_not_passed_on_as_one(rig) -> None:
    """Home Assistant renders a reply's text as a template when it looks like one: what the cloud says must not
    let a remote party read the home's states through Assist."""
    cloud, port, _ = rig
    cloud.mode = "good"
    template = "{{ states('lock.front_door') }} {% for s in states %}x{% endfor %}"
    cloud.content = json.dumps({"intent": "oos", "answer": template})
    got = ask(port, "what is the state of things")
    assert len(got) == 1 and got[0].type in ("handled", "not-recognized"), got
    text = got[0].data.get("text") or ""
    assert "{{" not in text and "{%" not in text, text


def test_local_only_never_asks_the_cloud(tmp_path: Path) -> None:
    """"when a cloud is configured and allowed": `mode = "local_only"` configures one and allows none."""
    broker = Broker(tmp_path / "b").start()
    with FakeCloud() as cloud:
        cloud.content = json.dumps({"intent": "oos", "answer": ANSWER})
        d, port = start(tmp_path, broker, cloud, mode="local_only")
        try:
            got = ask(port, "who wrote hamlet")
            assert [e.type for e in got] == ["not-recognized"], got
            assert cloud.chat_requests == []
            assert d.stop() == 0
        finally:
            if d.proc and d.proc.poll() is None:
                d.kill()
            broker.stop()
