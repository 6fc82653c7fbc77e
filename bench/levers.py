"""Quick side-by-side of daemon variants against the echo floor: 1 and 50 in flight only.

    .venv/bin/python bench/levers.py --daemon .venv/bin/python::ai_edge_litert \
        --daemon .venv/bin/python:memcache:ai_edge_litert [--rounds 3] [--seconds 3]
    .venv/bin/python bench/levers.py --daemon .venv/bin/python --daemon '.venv/bin/python -OO'

A daemon's spec may be followed by interpreter flags (one quoted argument, split as a shell
would): `'.venv/bin/python@TREE -OO -X pycache_prefix=DIR'` runs that daemon as
`python -OO -X pycache_prefix=DIR -m edge run ...`, through a two-line wrapper script.

The same harness as bench/run.py (one private mosquitto, every responder up at
once, turns alternated, order flipped each round) without the raw-model, sweep,
memory and start-up sections, so levers (bench/variant.py) can be compared in a
few minutes. Prints p50 and throughput with their ratios to echo and each
responder's CPU per request (user + system of its process over its own turns,
per reply): on a shared machine CPU per request is the steadiest of these.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
from load import LoadClient  # noqa: E402
from run import alternate, load_texts, parse_spec, runtime_of, start_daemon, start_echo, tree_label  # noqa: E402


def summarize(paths: list[Path]) -> None:
    """The summary of --json files written before, their runs pooled (`bench/levers.py --summary FILE...`)."""
    runs = [run for path in paths for run in json.loads(path.read_text())["runs"]]
    # the daemons every run measured (files from runs with other daemons beside them pool too)
    print_summary(runs, [n for n in runs[0] if n != "echo" and all(n in r for r in runs)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--summary", type=Path, nargs="+", metavar="FILE",
                    help="print the summary of --json files (their runs pooled; the daemons all of them measured) and exit")
    ap.add_argument("--daemon", action="append", metavar="PYTHON[:LEVERS[:RUNTIME]][@TREE][=MODEL_DIR]",
                    help="as in bench/run.py (@TREE: another checkout's edge/), and optionally a model package "
                         "of its own")
    ap.add_argument("--model", type=Path, default=BENCH.parent / "models" / "clinc150")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--broker-max-inflight", type=int, default=0, metavar="N",
                    help="the broker's max_inflight_messages, which it advertises as Receive Maximum "
                         "(0: unlimited, as in bench/run.py; mosquitto's own default is 20)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="N runs, each with fresh processes (idle and peak RSS are per process), then the median "
                         "and range of each figure")
    ap.add_argument("--json", type=Path, help="write every run's figures here")
    args = ap.parse_args()
    if args.summary:
        summarize(args.summary)
        return 0
    if not args.daemon:
        ap.error("--daemon is required")
    daemons = {}
    wrappers = Path(tempfile.mkdtemp(prefix="edge-levers-python-"))
    for k, raw in enumerate(args.daemon):
        spec, *flags = shlex.split(raw)
        spec, _, model = spec.partition("=")
        py, levers, runtime, tree = parse_spec(spec)
        if flags:  # interpreter flags: the daemon's command starts with this wrapper instead of the Python
            wrapper = wrappers / f"python{k}"
            wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(py)} {shlex.join(flags)} \"$@\"\n")
            wrapper.chmod(0o755)
            py = str(wrapper)
        label = (f"{runtime_of(py, runtime)}{' ' + ' '.join(flags) if flags else ''}"
                 f"{' + ' + levers if levers else ''}{tree_label(tree)}{' / ' + Path(model).name if model else ''}")
        if label in daemons or (py != os.path.abspath(harness.python()) and not flags):
            label += f" [{py}]"  # another interpreter, with the same levers
        daemons[label] = ((py, levers, runtime, tree), Path(model) if model else args.model)
    texts = load_texts(None)
    runs = []
    for i in range(args.repeat):
        runs.append(measure(daemons, texts, args))
        print_run(runs[-1], list(daemons), f"run {i + 1}/{args.repeat}")
    if args.repeat > 1:
        print_summary(runs, list(daemons))
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(["bench/levers.py", *sys.argv[1:]]), "runs": runs},
                                        indent=1) + "\n")
    return 0


def measure(daemons: dict, texts: list[str], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """One run with fresh processes: every responder up at once on one broker, 1 then 50 in flight."""
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
            # connected, no request yet
            idle = {n: harness.memory_detail(p.pid).get("rss", 0.0) for n, p in procs.items()}
            res = {}
            for window in (1, 50):
                res[window] = alternate(clients, args.rounds, lambda c, w=window: c.closed_loop(w, args.seconds, 0.5),
                                        pids, broker.proc.pid)
            mem = {n: harness.memory_detail(p.pid) | {"hwm": p.vm_hwm_mb() or 0.0} for n, p in procs.items()}
        finally:
            for c in clients.values():
                c.close()
            for p in procs.values():
                p.stop()
            broker.stop()
    out = {}
    for name in ["echo", *daemons]:
        a, b = res[1][name], res[50][name]
        out[name] = {"p50": a.p(50), "p95": a.p(95), "cpu1": a.cpu_us_per_request, "rps": b.throughput,
                     "cpu50": b.cpu_us_per_request, "broker50": b.broker_us_per_request, "idle": idle[name],
                     "rss": mem[name].get("rss", 0.0), "uss": mem[name].get("uss", 0.0),
                     "pss": mem[name].get("pss", 0.0), "hwm": mem[name]["hwm"]}
    return out


def print_run(r: dict[str, dict[str, float]], daemons: list[str], title: str) -> None:
    e = r["echo"]
    print(f"{title}\n{'responder':44s} {'p50 @1 (vs echo)':>17s} {'p95 @1':>7s} {'CPU/req @1':>11s} "
          f"{'req/s @50 (x echo)':>19s} {'CPU/req @50':>12s} {'broker @50':>10s}  "
          f"{'RSS idle / after, USS, PSS, peak (MB)':>38s}")
    for name in ["echo", *daemons]:
        x = r[name]
        print(f"{name:44s} {x['p50']:7.2f} ({x['p50'] - e['p50']:+6.2f}) {x['p95']:7.2f} {x['cpu1']:8.0f} µs "
              f"{x['rps']:9.0f} (x{x['rps'] / e['rps']:.2f}) {x['cpu50']:9.0f} µs {x['broker50']:7.0f} µs  "
              f"{x['idle']:5.1f} / {x['rss']:5.1f}, {x['uss']:5.1f}, {x['pss']:5.1f}, {x['hwm']:5.1f}", flush=True)


def print_summary(runs: list[dict[str, dict[str, float]]], daemons: list[str]) -> None:
    """Median [min..max] over the runs of each figure, the ratios to the echo taken within each run."""
    def cell(vals: list[float], fmt: str) -> str:
        return f"{statistics.median(vals):{fmt}} [{min(vals):{fmt}}..{max(vals):{fmt}}]"

    print(f"\nmedian [min..max] of {len(runs)} runs")
    rows = [("p50 @1, ms", lambda r, n: r[n]["p50"], ".2f"),
            ("p50 @1 minus echo's, ms", lambda r, n: r[n]["p50"] - r["echo"]["p50"], "+.2f"),
            ("p95 @1, ms", lambda r, n: r[n]["p95"], ".2f"),
            ("CPU/request @1, µs", lambda r, n: r[n]["cpu1"], ".0f"),
            ("req/s @50", lambda r, n: r[n]["rps"], ".0f"),
            ("req/s @50 / echo's", lambda r, n: r[n]["rps"] / r["echo"]["rps"], ".2f"),
            ("CPU/request @50, µs", lambda r, n: r[n]["cpu50"], ".0f"),
            ("RSS idle, MB", lambda r, n: r[n]["idle"], ".1f"),
            ("RSS after load, MB", lambda r, n: r[n]["rss"], ".1f"),
            ("USS after load, MB", lambda r, n: r[n]["uss"], ".1f"),
            ("peak RSS (VmHWM), MB", lambda r, n: r[n]["hwm"], ".1f")]
    names = ["echo", *daemons]
    # the first daemon against each other one, run by run (the same minute, the same load)
    others = daemons[1:]
    head = "".join(f"{n[:30]:>32s}" for n in names)
    diffs = "".join(f"{('first - ' + ('second' if k == 0 else n[-12:]) + ', per run')[:30]:>32s}"
                    for k, n in enumerate(others))
    print(f"{'':26s}" + head + diffs)
    for what, get, fmt in rows:
        diff = "".join(f"{cell([get(r, daemons[0]) - get(r, o) for r in runs], '+' + fmt.lstrip('+')):>32s}"
                       for o in others)
        print(f"{what:26s}" + "".join(f"{cell([get(r, n) for r in runs], fmt):>32s}" for n in names) + diff)
    bar = [sum(r[n]["p50"] - r["echo"]["p50"] <= 0.4 for r in runs) for n in daemons]
    print(f"{'runs at p50 <= echo + 0.4':26s}{'':>32s}" + "".join(f"{f'{b} of {len(runs)}':>32s}" for b in bar))


if __name__ == "__main__":
    sys.exit(main())
