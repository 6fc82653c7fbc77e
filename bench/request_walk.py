"""Follow one request from socket to ack in a real daemon, and count the files and file boundaries it crosses.

    .venv/bin/python bench/request_walk.py [--text TEXT] [--json] [--pre-loop TREE]

`--pre-loop TREE`: the same walk of the daemon before the one-loop redesign (a checkout of
94a5866: `git archive 94a5866 | tar -x -C TREE`), run with this venv, for a like-for-like count.

A private mosquitto and `edge run` (the shipped model, `cloud.mode = local_only`) are started; a
profiler (sys.setprofile, in the daemon's process only, set before `edge.__main__.main` runs:
nothing in edge/ knows of it) records every Python call from the read that brings the marked
request (`Connection._readable` onward) until that request's `Work.acknowledge` has returned: the
PUBACK of the request to the broker. A warm-up request goes first, so one-time imports and caches
are not counted.

Counted: a *file* is a module of edge/ or of paho that runs code for the request; a *boundary* is a
call whose callee lives in another file than its nearest edge/ or paho caller (the standard library
in between, asyncio's callbacks included, is looked through). Threads: every call recorded names its
thread, so the walk also shows whether anything of the request ran off the loop's thread.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, Broker  # noqa: E402

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

MARK = "walk-request-1"

# Runs in the daemon's process, before `edge run`: the profiler and its dump.
_CHILD = r'''
import json, sys, threading
ROOT, OUT, MARK = sys.argv[1], sys.argv[2], sys.argv[3].encode()
# where a read starts, the call that carries the marked request in, and the one that acks it
START, IN, IN_ARG, ACK, ACK_ARG = sys.argv[5].split(",")

def where(path):
    if path.startswith(ROOT + "/edge/"):
        return path[len(ROOT) + 1:]
    i = path.find("/paho/mqtt/")
    return "paho/" + path[i + len("/paho/mqtt/"):] if i >= 0 else None

st = {"buf": [], "keep": False, "done": False, "depth": 0}

def prof(frame, event, arg):
    if st["done"] or event not in ("call", "return"):
        return
    code = frame.f_code
    if event == "return":
        if f"{code.co_filename}:{code.co_name}".endswith(START) and not st["keep"]:
            st["buf"] = []
        if f"{code.co_filename}:{code.co_name}".endswith(ACK) and st["keep"]:
            w = frame.f_locals.get(ACK_ARG)
            if w is not None and MARK in w.msg.payload:
                st["done"] = True
                with open(OUT, "w") as f:
                    json.dump(st["buf"], f)
        return
    here = where(code.co_filename)
    if here is None:
        return
    if f"{code.co_filename}:{code.co_name}".endswith(START) and not st["keep"]:
        st["buf"] = []
    caller, f = None, frame.f_back
    while f is not None and caller is None:
        caller = where(f.f_code.co_filename)
        f = f.f_back
    st["buf"].append([here, code.co_qualname, caller, threading.current_thread().name])
    if f"{code.co_filename}:{code.co_name}".endswith(IN):
        msg = frame.f_locals.get(IN_ARG)
        if msg is not None and MARK in msg.payload:
            st["keep"] = True

threading.setprofile(prof)
sys.setprofile(prof)
from edge.__main__ import main
sys.exit(main(["run", "--config", sys.argv[4]]))
'''


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling a file / a reply the daemon writes; no event reaches this process


# (read starts, request comes in + its argument, acked + its argument: a Work, whose .msg is the request)
TODAY = "edge/mqtt/connection.py:_readable,edge/service_intake.py:on_message,msg,edge/work.py:acknowledge,self"
PRE_LOOP = "edge/mqtt/client.py:loop_read,edge/service.py:_on_message,msg,edge/answers.py:ack,work"


def walk(text: str, tree: Path = ROOT, points: str = TODAY) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        broker = Broker(d)
        out = d / "walk.json"
        cfg = d / "edge.toml"
        cfg.write_text(f'device_id = "walk"\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
                       f'[state]\ndir = "{d / "state"}"\n[health]\ninterval_s = 60.0\n'
                       '[cloud]\nmode = "local_only"\n')
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(tree), str(out), MARK, str(cfg), points],
                                cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.DEVNULL,
                                stderr=(d / "daemon.log").open("w"))
        got: list[str] = []
        lock = threading.Lock()
        c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)

        def on_message(_c, _u, m) -> None:
            with lock:
                got.append(json.loads(m.payload).get("id"))

        c.on_message = on_message
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        c.subscribe("edge/walk/result", 1)
        try:
            # warm-up requests until the daemon answers (it subscribes once the model is loaded)
            deadline = time.monotonic() + 60
            while "warm" not in got:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the daemon never answered:\n" + (d / "daemon.log").read_text()[-2000:])
                c.publish("edge/walk/request", json.dumps({"id": "warm", "text": text}), qos=1)
                again = time.monotonic() + 2
                while "warm" not in got and time.monotonic() < again:
                    time.sleep(0.02)  # polling the reply list the client's thread appends to
            c.publish("edge/walk/request", json.dumps({"id": MARK, "text": text}), qos=1)
            _wait(lambda: out.exists() and out.stat().st_size > 0, 30, "the traced request's ack")
            return json.loads(out.read_text())
        finally:
            c.loop_stop()
            c.disconnect()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            broker.stop()


def summary(calls: list[list[str]]) -> dict:
    files = sorted({c[0] for c in calls})
    crossings = [(c[2], c[0], c[1]) for c in calls if c[2] is not None and c[2] != c[0]]
    edge_files = [f for f in files if f.startswith("edge/")]
    first_visit: list[str] = []
    for c in calls:
        if c[0] not in first_visit:
            first_visit.append(c[0])
    pairs: list[str] = []
    for a, b, fn in crossings:
        p = f"{a} -> {b}"
        if p not in pairs:
            pairs.append(p)
    return {
        "calls": len(calls),
        "files": len(files), "edge_files": len(edge_files), "paho_files": len(files) - len(edge_files),
        "boundary_crossings": len(crossings),
        "distinct_boundaries": len(pairs),
        "edge_only_distinct_boundaries": sum(1 for p in pairs if not p.startswith("paho") and "-> paho" not in p),
        "threads": sorted({c[3] for c in calls}),
        "files_in_order": first_visit,
        "boundaries_in_order": pairs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default="what time is it")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--pre-loop", type=Path, metavar="TREE", help="walk the pre-loop daemon checked out in TREE")
    a = ap.parse_args()
    s = summary(walk(a.text, a.pre_loop.resolve(), PRE_LOOP) if a.pre_loop else walk(a.text))
    if a.json:
        print(json.dumps(s, indent=1))
        return
    print(f"{s['calls']} calls; {s['files']} files ({s['edge_files']} of edge/, {s['paho_files']} of paho); "
          f"{s['boundary_crossings']} calls across a file boundary, {s['distinct_boundaries']} distinct "
          f"({s['edge_only_distinct_boundaries']} between edge/ files); threads: {', '.join(s['threads'])}")
    print("files, first visit order:\n  " + "\n  ".join(s["files_in_order"]))
    print("boundaries, first crossing order:\n  " + "\n  ".join(s["boundaries_in_order"]))


if __name__ == "__main__":
    main()
