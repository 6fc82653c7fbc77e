"""Start-up recovery of the deployment state: what a crash (or a power cut) interrupted, undone or
finished, and a package that keeps crashing the daemon while on probation rolled back.

Power-loss points: any step before the pointer's rename -> the old package runs, status
``rejected`` "interrupted while <step>"; after it -> the new one runs, ``active``, still on
probation. Every start with a package on probation counts; at ``max_restarts`` it is rolled back
(a model that crashes the daemon). edge/deploy.py's Deployer calls `recover` under its lock,
before the model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edge.deploy_disk import DeployDisk, ident
from edge.deploy_status import Status
from edge.deploy_steps import STEPS

Stamp = Callable[[str | None, str, str | None, str | None], Status]  # model, state, reason, previous


@dataclass(frozen=True)
class Recovery:
    status: Status | None                        # what to publish; None when nothing was interrupted
    probation: tuple[str, float | None] | None   # the package still on probation, and its baseline


def recover(disk: DeployDisk, max_restarts: int, stamp: Stamp, now: Callable[[], str]) -> Recovery:
    """Read the journal (where a deployment stopped), remove what it left, count a start on
    probation (rolling back at ``max_restarts``); ``stamp`` makes a Status, ``now()`` stamps the pointer."""
    journal = disk.journal()
    status = None
    pointer, active, prev = disk.pointer(), disk.active(), disk.previous()
    if journal is not None:
        step = journal.get("step") if journal.get("step") in STEPS else "an unknown step"
        model = journal.get("model") if isinstance(journal.get("model"), str) else None
        running = ident(active)
        if step == "committing" and model is not None and model == running:
            status = stamp(model, "active", f"the daemon stopped while committing; {model} is active, on probation",
                           ident(prev))
        else:
            status = stamp(model, "rejected", f"interrupted while {step} (the daemon stopped); running {running}",
                           running)
    disk.sweep()
    disk.gc()
    disk.clear_journal()
    probation = pointer.get("probation")
    if not isinstance(probation, dict) or active is None:
        return Recovery(status, None)
    starts = int(probation.get("starts", 0)) + 1
    if starts >= max_restarts and prev is not None:
        disk.restore(pointer, prev, now())
        return Recovery(stamp(active.ident, "rolled_back", f"the daemon started {starts} times with {active.ident} "
                              "on probation", prev.ident), None)
    pointer["probation"] = {**probation, "starts": starts}
    disk.write_pointer(pointer, now())
    base = probation.get("baseline_p50_ms")
    return Recovery(status, (active.ident, float(base) if isinstance(base, (int, float)) else None))
