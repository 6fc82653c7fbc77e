"""The daemon as edge.service runs it: optimized (`PYTHONOPTIMIZE=2`, python -OO), never writing bytecode.

-OO drops docstrings and `assert` statements (about 3 MB of RSS: docs/performance.md, "Memory"), so
code that read a docstring at run time (argparse's description=__doc__) or relied on an assert to
check its input would break or change only under the unit. A real daemon on a real broker answers
requests, malformed ones and the integrations' (imported lazily) the same way under it, and writes no
bytecode (the unit's /opt is read-only; edge-firstboot compiles the .opt-2.pyc it reads).
"""

from __future__ import annotations

import json

import pytest
from conftest import daemon_config

from edge import contract

UNIT_ENV = {"PYTHONOPTIMIZE": "2", "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.mark.slow
def test_the_daemon_serves_requests_under_python_OO(tmp_path, broker, daemon_factory, client_factory) -> None:
    pycache = tmp_path / "pycache"  # the unit's PYTHONPYCACHEPREFIX, empty here: every module from source
    d = daemon_factory(daemon_config(broker, tmp_path / "state", device_id="oo",
                                     integrations={"hermes": True, "home_assistant": True}),
                       env={**UNIT_ENV, "PYTHONPYCACHEPREFIX": str(pycache)})
    assert "PYTHONOPTIMIZE=2" in (open(f"/proc/{d.proc.pid}/environ", "rb").read().decode(errors="replace")
                                   .split("\0"))
    c = client_factory(broker)
    reply = c.request("edge/oo", {"id": "oo-1", "text": "set an alarm for 7 am tomorrow"})
    assert (reply["id"], reply["intent"]) == ("oo-1", "alarm") and reply["slots"][0]["name"] == "time"
    # what a careless client sends: not JSON, a wrong type, an empty text; each gets its error
    errors = c.subscribe("edge/oo/error")
    c.publish("edge/oo/request", b"{not json")
    assert errors.json()["error"] == contract.INVALID_JSON
    c.publish("edge/oo/request", json.dumps({"id": "oo-2", "text": 5}))
    assert (e := errors.json())["id"] == "oo-2" and e["error"] == contract.INVALID_FIELD
    c.publish("edge/oo/request", json.dumps({"id": "oo-3", "text": "   "}))
    assert errors.json()["id"] == "oo-3"
    # Hermes (edge.integrations.hermes, imported only when on) answers, and a malformed query is reported
    intents = c.subscribe("hermes/intent/#")
    c.publish("hermes/nlu/query", json.dumps({"input": "what time is it", "id": "q1", "siteId": "s"}))
    assert intents.json()["id"] == "q1"
    c.publish("hermes/nlu/query", json.dumps({"input": 5, "id": "q2"}))
    assert errors.json()["id"] == "q2"
    # Home Assistant's birth message (edge.integrations.homeassistant) sends discovery again
    # (the retained copies arrive at once with retain set; the ones sent again arrive live, without)
    discovery = c.subscribe("homeassistant/+/+/+/config")
    assert discovery.get().retain
    c.publish("homeassistant/status", b"online")
    while (m := discovery.get()).retain:
        pass
    assert json.loads(m.payload)["unique_id"]
    # still serving after all of it
    assert c.request("edge/oo", {"id": "oo-4", "text": "what time is it"})["id"] == "oo-4"
    assert d.stop() == 0
    assert not pycache.exists() or not any(pycache.rglob("*.pyc"))
    assert "Traceback" not in d.log_text()


def test_training_refuses_to_run_without_its_docstrings() -> None:
    """edge.train writes its docstring's rules into manifests: under PYTHONOPTIMIZE=2 (the service's
    setting, if a user copies it into a shell) it refuses at import, naming the fix, instead of writing a
    manifest without its rules."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONOPTIMIZE": "2"}
    out = subprocess.run([sys.executable, "-c", "import edge.train"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "unset PYTHONOPTIMIZE" in out.stderr, out.stderr
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONOPTIMIZE"}
    assert subprocess.run([sys.executable, "-c", "import edge.train"], env=plain, timeout=60).returncode == 0
