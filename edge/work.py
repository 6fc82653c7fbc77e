"""What the request path hands between its parts: a delivery (`Work`) and a request on its way (`Routed`).

The intake (edge/service_intake.py) makes a `Work` of each delivery, the pipeline a `Routed` of
each request it parses; the answers, the delivery and the escalations read and mark them. A leaf
module, so each of those imports the records without importing the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from edge.contract import Request
from edge.results import Result
from edge.model import Prediction
from edge.mqtt import Message


@dataclass(slots=True, eq=False)
class Work:
    """One delivery from the broker, acknowledged exactly once: `ack` (the link's) is bound when the
    request is taken, and `acknowledge` is what delivery runs once its answer is safe."""

    kind: str  # "request" | "hermes"
    msg: Message
    received: float  # perf_counter at arrival: result latency is measured from here
    ack: Callable[[int, int], None]  # the link's ack(mid, qos)
    answered: bool = False  # its answer was handed to delivery, which acks once it is safe
    acked: bool = False
    unsafe: bool = False  # its answer could be neither published nor stored: not cached, not acked
    request: Request | None = None  # once parsed: where an internal error must go too
    failed: bool = False  # an internal error answered it (a model that raises: probation counts it)

    def acknowledge(self) -> None:
        """Once (the last PUBACK and a guard may both get here)."""
        if not self.acked:
            self.acked = True
            self.ack(self.msg.mid, self.msg.qos)

    def mark_unsafe(self) -> None:
        self.unsafe = True


@dataclass(slots=True, eq=False)
class Routed:
    """A parsed request on its way: its delivery, the model's prediction, slots, the result once made."""

    work: Work
    request: Request
    pred: Prediction | None = None
    query: Any = None  # the Hermes NLU query, for requests that came that way
    slots: list[dict[str, Any]] = field(default_factory=list)
    result: Result | None = None  # the device's result, once published (the answered-id cache keeps it)
    # A home model's result edge.home.decide refused: {"reason", "detail"}; it is then not stood behind
    not_recognized: dict[str, str] | None = None
    # The served language of a request a home model answered: its escalation takes the home cloud path
    # (edge.home_cloud's prompt and checks), never the generic one
    home_language: str | None = None
