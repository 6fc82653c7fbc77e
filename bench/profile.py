"""Where the daemon's time and memory go: py-spy under load, -X importtime at start, RSS step by step.

    .venv/bin/python bench/profile.py [--model DIR] [--seconds 15] [--out bench/profile]

Needs py-spy (`.venv/bin/pip install py-spy`) and permission to ptrace the
daemon (root, or kernel.yama.ptrace_scope=0). Writes, under --out:
- `load_w50_top.txt`, `load_w1_top.txt`: py-spy samples of the daemon with 50 and
  with 1 request in flight, aggregated per function: self and inclusive share, per thread;
- `importtime.txt`: the slowest top-level imports of `python -X importtime -m edge run`;
- `memory.txt`: RSS after each import and each step of loading the model.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
from load import LoadClient  # noqa: E402
from run import cpu_ms, load_texts, parse_spec, start_daemon  # noqa: E402

# py-spy next to this Python, else the project venv's, else on PATH
PY_SPY = next((p for p in (Path(sys.executable).with_name("py-spy"), ROOT / ".venv" / "bin" / "py-spy") if p.exists()),
              Path(shutil.which("py-spy") or "py-spy"))


def aggregate(raw: Path, top: int = 25) -> str:
    """Collapsed stacks ('thread;frame;frame N') -> self and inclusive sample shares per function."""
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = stack.split(";")
        threads[frames[0]] += k
        for f in set(frames[1:]):
            incl[_short(f)] += k
        if len(frames) > 1:
            self_c[_short(frames[-1])] += k
    out = [f"{total} samples while on CPU (py-spy without --idle), all threads", "", "by thread:"]
    out += [f"  {100 * v / total:5.1f}%  {t}" for t, v in threads.most_common()]
    out += ["", f"top {top} by self time:"]
    out += [f"  {100 * v / total:5.1f}%  {f}" for f, v in self_c.most_common(top)]
    out += ["", f"top {top} by inclusive time:"]
    out += [f"  {100 * v / total:5.1f}%  {f}" for f, v in incl.most_common(top)]
    return "\n".join(out) + "\n"


def _short(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file.py:123)", keeping edge/ paths readable
    m = re.match(r"(.*) \((.*?):(\d+)\)$", frame)
    if not m:
        return frame
    fn, path, line = m.groups()
    p = Path(path)
    where = "/".join(p.parts[-2:]) if "edge" in p.parts else p.name
    return f"{fn} ({where}:{line})"


def profile_load(work: Path, port: int, model: Path, texts: list[str], seconds: float, out: Path,
                 window: int, spec: tuple[str, ...] | None) -> str:
    daemon = start_daemon(work, port, "prof", model, 1, spec)
    daemon.wait_ready()
    client = LoadClient(port, "edge/prof", texts)
    raw = work / f"load_w{window}.raw"  # collapsed stacks: ~150 KB, kept out of the repository
    try:
        spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(daemon.pid), "--rate", "250", "--duration",
                                str(int(seconds)), "--format", "raw", "--threads", "--nonblocking",
                                "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        cpu0, done0 = cpu_ms(daemon.pid), client.done
        stats = client.closed_loop(window, seconds - 1, 0.5)
        cpu_per = 1000 * (cpu_ms(daemon.pid) - cpu0) / max(1, client.done - done0)
        err = spy.communicate(timeout=60)[1].decode(errors="replace")
        if spy.returncode:
            raise RuntimeError(f"py-spy failed: {err}")
    finally:
        client.close()
        daemon.stop()
    head = (f"daemon under load: {window} in flight, {stats.throughput:.0f} req/s, p50 {stats.p(50):.2f} ms, "
            f"p95 {stats.p(95):.2f} ms, {cpu_per:.0f} µs of the daemon's CPU per request "
            f"(py-spy --nonblocking at 250 Hz)\n\n")
    return head + aggregate(raw)


def importtime(work: Path, port: int, model: Path, top: int = 30, runtime: str = "", tree: str = "") -> str:
    d = start_daemon(work, port, "imp", model, 1, (sys.executable, "", runtime, tree))
    d.wait_ready()
    d.stop()
    cfg = work / "imp" / "edge.toml"
    env = ({"EDGE_TFLITE_RUNTIME": runtime} if runtime else {}) | ({"PYTHONPATH": tree} if tree else {})
    r = harness.Responder("imp2", [sys.executable, "-X", "importtime", "-m", "edge", "run", "--config", str(cfg)],
                          work / "imp2", env=env or None)
    ready = r.wait_ready()
    r.stop()
    rows = []
    for line in r.log.read_text(errors="replace").splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), (len(m.group(3)) - 1) // 2, m.group(4)))
    top_level = sorted((r for r in rows if r[2] == 0), reverse=True)
    total = sum(r[0] for r in top_level)
    out = [f"spawn -> READY=1 with -X importtime: {ready:.3f} s; all imports: {total / 1e6:.3f} s", "",
           "top-level imports by cumulative time (ms):"]
    out += [f"  {c / 1000:8.1f}  {name}" for c, _s, _d, name in top_level[:top]]
    heavy = sorted(((c, n) for c, _s, _d, n in rows if n.split(".")[0] in
                    {"numpy", "sentencepiece", "tflite_runtime", "ai_edge_litert", "paho", "psutil", "sqlite3", "ssl", "json",
                     "concurrent", "edge", "email", "http", "urllib", "uuid", "logging", "asyncio"}
                    and "." not in n), reverse=True)
    out += ["", "selected packages, cumulative (ms, wherever first imported):"]
    out += [f"  {c / 1000:8.1f}  {n}" for c, n in heavy]
    return "\n".join(out) + "\n"


MEM_SCRIPT = r"""
import os, sys, time, resource
def rss():
    for l in open('/proc/self/status'):
        if l.startswith('VmRSS'): return int(l.split()[1]) / 1024
prev = rss(); print(f"{'python start':40s} {prev:6.1f} MB")
def step(name):
    global prev
    now = rss(); print(f"{name:40s} {now:6.1f} MB  (+{now - prev:.1f})"); prev = now
import json, logging, sqlite3, threading, queue, concurrent.futures; step("stdlib (json, sqlite3, threads)")
import numpy; step("numpy")
import sentencepiece; step("sentencepiece")
import edge.model; step(f"edge.model with {edge.model.runtime_version()}")
import paho.mqtt.client; step("paho.mqtt")
import psutil; step("psutil")
import edge.service; step("edge.service (the rest of edge)")
from edge.model import Model
m = Model.load(sys.argv[1], threads=1); step("Model.load (one interpreter, warm-up)")
for n in (2, 8, 32):
    m.classify(["turn on the kitchen lights"] * n); step(f"classify batch {n} (the interpreter resized)")
m.classify(["what is the weather"] * 64); step("classify 64 (in chunks, edge.model._MAX_BATCH)")
"""


# edge's own modules one by one, in the order the daemon's imports reach them, after what they all
# need (numpy, the runtime, paho, psutil): how much RSS each adds; asyncio first, since the one-loop
# daemon imports it and the threaded one (before 4513f48's round) did not.
PROFILED_MODULES = ["asyncio", "edge.config", "edge.contract", "edge.mqtt.client", "edge.mqtt", "edge.outbox",
                "edge.health", "edge.delivery", "edge.answers", "edge.router", "edge.escalation",
                "edge.integrations.hermes", "edge.integrations.homeassistant", "edge.pipeline", "edge.systemd",
                "edge.service", "edge.slots"]
STEP_SCRIPT = r"""
import importlib, sys
def rss():
    for l in open('/proc/self/status'):
        if l.startswith('VmRSS'): return int(l.split()[1])
import json, logging, sqlite3, threading, queue, concurrent.futures
import numpy, sentencepiece, edge.model, paho.mqtt.client, psutil
prev = first = rss()
for m in sys.argv[1:]:
    importlib.import_module(m)
    now = rss(); print(f"  {m:34s} +{now - prev:5d} kB"); prev = now
print(f"  {'all of them':34s} +{prev - first:5d} kB")
"""


def memory(model: Path, runtime: str = "", tree: str = "") -> str:
    env = dict(os.environ, **({"EDGE_TFLITE_RUNTIME": runtime} if runtime else {}),
               **({"PYTHONPATH": tree} if tree else {}))
    r = subprocess.run([sys.executable, "-c", MEM_SCRIPT, str(model)], capture_output=True, text=True,
                       cwd=tree or ROOT, timeout=120, env=env)
    if r.returncode:
        raise RuntimeError(r.stderr)
    steps = subprocess.run([sys.executable, "-c", STEP_SCRIPT, *PROFILED_MODULES], capture_output=True, text=True,
                           cwd=tree or ROOT, timeout=120, env=env)
    if steps.returncode:
        raise RuntimeError(steps.stderr)
    return ("RSS step by step (VmRSS of a fresh interpreter importing what the daemon imports)\n\n" + r.stdout
            + "\nedge's modules one by one (a second interpreter, after numpy, the runtime, paho, psutil)\n\n"
            + steps.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "clinc150")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--out", type=Path, default=BENCH / "profile")
    ap.add_argument("--daemon", metavar="PYTHON[:LEVERS[:RUNTIME]][@TREE]",
                    help="as in bench/run.py (default: this Python, as shipped; @TREE: another checkout's edge/)")
    ap.add_argument("--only-load", action="store_true", help="skip the memory and import-time sections")
    ap.add_argument("--only-memory", action="store_true", help="the memory section alone (no broker, no load)")
    ap.add_argument("--tag", default="", help="suffix for the output file names (e.g. the variant measured)")
    args = ap.parse_args()
    spec = None
    runtime = tree = ""
    if args.daemon:
        spec = parse_spec(args.daemon)
        runtime, tree = spec[2], spec[3]
    args.out.mkdir(parents=True, exist_ok=True)
    texts = load_texts(None)
    if not args.only_load:
        (args.out / f"memory{args.tag}.txt").write_text(memory(args.model, runtime, tree))
        print((args.out / f"memory{args.tag}.txt").read_text())
        if args.only_memory:
            return
    with tempfile.TemporaryDirectory(prefix="edge-prof-") as tmp:
        work = Path(tmp)
        broker = harness.Broker(work)
        try:
            if not args.only_load:
                (args.out / f"importtime{args.tag}.txt").write_text(importtime(work, broker.port, args.model,
                                                                               runtime=runtime, tree=tree))
                print((args.out / f"importtime{args.tag}.txt").read_text())
            for window in (50, 1):
                text = profile_load(work, broker.port, args.model, texts, args.seconds, args.out, window, spec)
                (args.out / f"load_w{window}_top{args.tag}.txt").write_text(text)
                print(text)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
