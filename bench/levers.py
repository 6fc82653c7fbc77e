"""Quick side-by-side of daemon variants against the echo floor: 1 and 50 in flight only.

    .venv/bin/python bench/levers.py --daemon .venv/bin/python::ai_edge_litert \
        --daemon .venv/bin/python:memcache:ai_edge_litert [--rounds 3] [--seconds 3]

The same harness as bench/run.py (one private mosquitto, every responder up at
once, turns alternated, order flipped each round) without the raw-model, sweep,
memory and start-up sections, so levers (bench/variant.py) can be compared in a
few minutes. Prints p50 and throughput with their ratios to echo and each
responder's CPU per request (user + system of its process over its own turns,
per reply): on a shared machine CPU per request is the steadiest of these.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
from load import LoadClient  # noqa: E402
from run import alternate, load_texts, runtime_of, start_daemon, start_echo  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--daemon", action="append", required=True, metavar="PYTHON[:LEVERS[:RUNTIME[:MODEL_DIR]]]",
                    help="as in bench/run.py, and optionally a model package of its own")
    ap.add_argument("--model", type=Path, default=BENCH.parent / "models" / "clinc150")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--broker-max-inflight", type=int, default=0, metavar="N",
                    help="the broker's max_inflight_messages, which it advertises as Receive Maximum "
                         "(0: unlimited, as in bench/run.py; mosquitto's own default is 20)")
    args = ap.parse_args()
    daemons = {}
    for spec in args.daemon:
        py, _, rest = spec.partition(":")
        levers, _, rest = rest.partition(":")
        runtime, _, model = rest.partition(":")
        py = os.path.abspath(py)
        label = f"{runtime_of(py, runtime)}{' + ' + levers if levers else ''}{' @ ' + Path(model).name if model else ''}"
        if label in daemons or py != os.path.abspath(harness.python()):
            label += f" [{py}]"  # another checkout or interpreter, with the same levers
        daemons[label] = ((py, levers, runtime), Path(model) if model else args.model)
    texts = load_texts(None)
    with tempfile.TemporaryDirectory(prefix="edge-levers-") as tmp:
        work = Path(tmp)
        broker = harness.Broker(work, args.broker_max_inflight)
        procs, clients = {}, {}
        try:
            for k, (name, (spec, model)) in enumerate(daemons.items()):
                procs[name] = start_daemon(work, broker.port, f"lever{k}", model, 1, spec)
            procs["echo"] = start_echo(work, broker.port, "bench/echo")
            for p in procs.values():
                p.wait_ready()
            bases = {name: f"edge/lever{k}" for k, name in enumerate(daemons)} | {"echo": "bench/echo"}
            for name in ["echo", *daemons]:
                clients[name] = LoadClient(broker.port, bases[name], texts)
            pids = {n: p.pid for n, p in procs.items()}
            res = {}
            for window in (1, 50):
                res[window] = alternate(clients, args.rounds, lambda c, w=window: c.closed_loop(w, args.seconds, 0.5),
                                        pids, broker.proc.pid)
            mem = {n: harness.memory_detail(p.pid) | {"hwm": p.vm_hwm_mb()} for n, p in procs.items()}
        finally:
            for c in clients.values():
                c.close()
            for p in procs.values():
                p.stop()
            broker.stop()
    e1, e50 = res[1]["echo"], res[50]["echo"]
    print(f"{'responder':52s} {'p50 @1':>14s} {'CPU/req @1':>11s} {'req/s @50':>16s} {'CPU/req @50':>12s} "
          f"{'broker @50':>10s}  {'RSS / USS / PSS, peak RSS (MB)':>30s}")
    for name in ["echo", *daemons]:
        a, b = res[1][name], res[50][name]
        print(f"{name:52s} {a.p(50):6.2f} ({a.p(50) - e1.p(50):+5.2f}) {a.cpu_us_per_request:8.0f} µs "
              f"{b.throughput:7.0f} (x{b.throughput / e50.throughput:.2f}) {b.cpu_us_per_request:9.0f} µs "
              f"{b.broker_us_per_request:7.0f} µs  {mem[name].get('rss', 0):5.1f} / {mem[name].get('uss', 0):5.1f} / "
              f"{mem[name].get('pss', 0):5.1f}, {mem[name].get('hwm') or 0:5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
