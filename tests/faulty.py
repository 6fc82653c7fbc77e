"""`edge run` with one fault injected by passing a collaborator in (the production modules have no
fault hooks). Started by the watchdog and supervision tests as the daemon's command:

    python tests/faulty.py stall TEXT run --config PATH
        the model blocks forever on a batch holding TEXT: the loop stalls (the watchdog test);
    python tests/faulty.py die PORT run --config PATH
        one more channel, an asyncio server on 127.0.0.1:PORT (as the Wyoming server will be),
        whose connection handler raises when a client sends "die": a dying channel.
    python tests/faulty.py deploy VERSION:FAULT:SECONDS run --config PATH
        the deployment channel with a probation of SECONDS seconds (or 5 requests), and a package of
        VERSION loaded with FAULT: "none", "raise" (its classify raises on any text holding "explode": it
        passes its self-test and fails probation) or "slow" (its load takes 4 s: time to kill it).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any, Sequence

import edge.service as service
from edge.__main__ import main

log = logging.getLogger("edge.faulty")


class StallingModel:
    """The real model, except that a batch holding `text` never returns (a stuck inference)."""

    def __init__(self, model: Any, text: str) -> None:
        self._model = model
        self._text = text

    def classify(self, texts: Sequence[str]) -> Any:
        if self._text in texts:
            log.warning("fault injection: stalling the loop in classify")
            threading.Event().wait()
        return self._model.classify(texts)


class DyingChannel:
    """A channel on the daemon's loop whose connection handler raises on "die"."""

    name = "dying"

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: asyncio.base_events.Server | None = None

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        log.info("fault injection: dying channel listening on %d", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if line.strip() == b"die":
            raise RuntimeError("fault injection: the channel dies")
        writer.write(b"ok\n")
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def swap_model(self, model: Any, slots: Any) -> None:
        """It serves no model."""


def _deploy_fault(arg: str) -> None:
    """Pass a model loader with a fault and a short probation into edge.deploy_channel.deployer."""
    import time
    from functools import partial

    import edge.deploy_channel as dc
    from edge.model import Model
    from edge.probation import ProbationPolicy

    version, fault, seconds = arg.split(":")
    real = dc.deployer

    def load(path: Any) -> Any:
        model = Model.load(path)
        if model.ident.endswith(f"@{version}"):
            if fault == "slow":
                log.warning("fault injection: loading %s slowly", model.ident)
                time.sleep(4)  # the fault itself: a load this slow
            elif fault == "raise":
                inner = model.classify

                def classify(texts: Sequence[str]) -> Any:
                    if any("explode" in t for t in texts):
                        raise RuntimeError("fault injection: the new model raises")
                    return inner(texts)

                model.classify = classify  # type: ignore[method-assign]
        return model

    policy = ProbationPolicy(requests=5, seconds=float(seconds), max_errors=3, min_samples=50)
    dc.deployer = partial(real, load_model=load, policy=policy)  # type: ignore[assignment]


def _inject(fault: str, arg: str) -> None:
    if fault == "deploy":
        _deploy_fault(arg)
        return
    real_build = service.build

    def build(settings: Any, model: Any, environ: Any = None) -> service.Parts:
        parts = real_build(settings, model, environ)
        if fault == "stall":
            parts.pipeline.model = StallingModel(parts.pipeline.model, arg)
        elif fault == "die":
            parts.channels.append(DyingChannel(int(arg)))
        else:
            raise SystemExit(f"unknown fault {fault!r}")
        return parts

    service.build = build  # edge.__main__ looks it up at `edge run`


if __name__ == "__main__":
    _inject(sys.argv[1], sys.argv[2])
    sys.exit(main(sys.argv[3:]))
