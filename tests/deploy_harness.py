"""A deployment in a real process that SIGKILLs itself at a chosen step (tests/test_deploy.py).

    python tests/deploy_harness.py deploy STATE INITIAL PUBKEY PAYLOAD
    python tests/deploy_harness.py recover STATE INITIAL PUBKEY [PAYLOAD]

``deploy`` runs recover(), receive(PAYLOAD), then commit() (the loop's swap happens between
the two), printing each status as a JSON line. ``EDGE_FAULT_DEPLOY_KILL_AT=STEP:WHEN`` (read here,
never by edge/deploy.py) wraps the Deployer's ``_run_step`` and kills the process with SIGKILL
at the ``start`` or ``end`` of step STEP; ``committing:rename`` kills after the new pointer was
written to its temporary file and fsynced, just before the rename.

``recover`` starts again as the daemon would: recover(), then loads active_path() (the
configured INITIAL when None) with edge.model.Model.load and classifies one utterance, and
prints {"recover": status payload or null, "active": path, "ident": loaded model}; with
PAYLOAD it then deploys that package to show the device is not stuck ("deployed": status).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge import deploy  # noqa: E402
from edge.model import Model  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(kill_at: str) -> None:
    step, _, when = kill_at.partition(":")
    if step not in deploy.STEPS:
        raise SystemExit(f"unknown step {step!r}")
    if when == "rename":
        real_replace = os.replace

        def replace(src, dst, *a, **kw):  # noqa: ANN001
            if Path(dst).name == deploy.POINTER:
                die()
            return real_replace(src, dst, *a, **kw)

        deploy.os.replace = replace  # type: ignore[attr-defined]
        return
    run_step = deploy.Deployer._run_step  # every step, committing included, goes through it

    def wrapped(self, name, work, fn, *args):  # noqa: ANN001
        def killing(*a):  # noqa: ANN002
            if when == "start":  # the journal names the step; the step has not begun
                die()
            fn(*a)
            die()

        return run_step(self, name, work, killing if name == step else fn, *args)

    deploy.Deployer._run_step = wrapped  # type: ignore[method-assign]


def show(label: str, status: deploy.Status | None) -> None:
    print(json.dumps({label: status.payload() if status is not None else None}), flush=True)


def main() -> int:
    mode, state, initial, pubkey = sys.argv[1:5]
    payload = Path(sys.argv[5]).read_bytes() if len(sys.argv) > 5 else None
    d = deploy.Deployer(state, [pubkey], "0.1.0", Model.load, initial=initial)
    if mode == "deploy":
        if os.environ.get("EDGE_FAULT_DEPLOY_KILL_AT"):
            arm(os.environ["EDGE_FAULT_DEPLOY_KILL_AT"])
        show("recover", d.recover())
        status = d.receive(payload)  # type: ignore[arg-type]
        show("received", status)
        if status.loaded is not None:
            show("committed", d.commit())
        return 0
    status = d.recover()
    path = d.active_path() or Path(initial)
    model = Model.load(path)
    model.classify(["what is the weather like"])
    print(json.dumps({"recover": status.payload() if status else None, "active": str(path),
                      "ident": model.ident}), flush=True)
    if payload is not None:
        got = d.receive(payload)
        if got.loaded is not None:
            got = d.commit()
        show("deployed", got)
    return 0


if __name__ == "__main__":
    sys.exit(main())
