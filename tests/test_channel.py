"""Every channel declares what edge/channel.py's `Channel` says a channel does (issue 24): the service
calls `start`, `stop` and `swap_model` on each without asking whether it can, so a channel that lacks
one would fail only at a deployment's swap, on a device. The real channels and the tests' own."""

from __future__ import annotations

import inspect

import pytest
from faulty import DyingChannel
from test_supervision import _Channel

from edge.channel import Channel
from edge.deploy_channel import DeployChannel
from edge.wyoming_channel import WyomingChannel

MEMBERS = {"name": False, "start": True, "stop": True, "swap_model": False}  # member -> a coroutine?


def test_the_protocol_declares_what_the_service_calls() -> None:
    declared = {m for m in vars(Channel) if not m.startswith("_")} | set(Channel.__annotations__)
    assert declared == set(MEMBERS)


@pytest.mark.parametrize("cls", [WyomingChannel, DeployChannel, DyingChannel, _Channel])
def test_each_channel_has_every_member(cls: type) -> None:
    for member, coroutine in MEMBERS.items():
        assert hasattr(cls, member), f"{cls.__name__} lacks {member}"
        if member == "name":
            assert isinstance(cls.name, str) and cls.name
            continue
        fn = getattr(cls, member)
        assert inspect.iscoroutinefunction(fn) == coroutine, f"{cls.__name__}.{member}"
        want = list(inspect.signature(getattr(Channel, member)).parameters)
        assert list(inspect.signature(fn).parameters) == want, f"{cls.__name__}.{member}"


def test_a_channel_without_swap_model_is_caught() -> None:
    """The check above can fail: a class as the channels were before the protocol declared swap_model."""

    class Old:
        name = "old"

        async def start(self, loop): ...  # noqa: ANN001

        async def stop(self): ...

    with pytest.raises(AssertionError, match="lacks swap_model"):
        test_each_channel_has_every_member(Old)
