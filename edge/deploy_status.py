"""The status a device publishes about a deployment (retained on ``<base>/deploy/status``), as a value.

``Status.payload()`` has the keys exactly model/state/reason/previous/ts (edge/rollout.py reads
them); ``state`` is one of STATES. ``loaded`` and ``silent`` are for the loop, never published:
a model to swap in, and a status with nothing to publish (see edge/deploy.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

STATES = ("verifying", "testing", "active", "rolled_back", "rejected")


@dataclass(frozen=True)
class Status:
    model: str | None
    state: str
    reason: str | None
    previous: str | None
    ts: str
    loaded: Any = field(default=None, compare=False, repr=False)  # a model the loop must swap in
    # nothing to publish: the package is a copy of the deployment in progress, whose statuses tell
    silent: bool = field(default=False, compare=False, repr=False)

    def payload(self) -> dict[str, Any]:
        return {"model": self.model, "state": self.state, "reason": self.reason,
                "previous": self.previous, "ts": self.ts}

    def to_json(self) -> bytes:
        return json.dumps(self.payload()).encode()
