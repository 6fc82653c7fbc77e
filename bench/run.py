"""edge benchmark: raw model, end-to-end through a real mosquitto against a bare echo floor, memory and start-up.

    .venv/bin/python bench/run.py            # full run (about 3 minutes); writes bench/results.{md,json},
                                             # bench/latency_vs_load.png
    .venv/bin/python bench/run.py --quick    # a smoke run (about 1 minute); writes under /tmp unless --out

Everything is measured in one run on this machine, side by side: the daemon
(`python -m edge run`) and bench/echo.py (no model, no routing, the same three
QoS 1 publications and the same ack-after-PUBACK) answer on the same private
broker, alternately, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

import harness  # noqa: E402
import rawmodel  # noqa: E402
import report  # noqa: E402
from load import LoadClient, Stats  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json"
FALLBACK_TEXTS = [
    "set an alarm for 7am", "what's the weather like tomorrow", "play some jazz", "how do i say thank you in french",
    "transfer 100 dollars to my savings", "what is my credit score", "turn off the kitchen lights",
    "book a table for two at 8", "who wrote war and peace", "remind me to call mom", "what time is it in tokyo",
    "add milk to my shopping list", "how many calories in an apple", "tell me a joke", "is my flight on time",
    "cancel my reservation",
]


def load_texts(path: Path | None) -> list[str]:
    """CLINC150 validation utterances when available (real lengths), else a small built-in set."""
    p = path or DATA
    if p.exists():
        d = json.loads(p.read_text())
        texts = [t for split in ("val", "oos_val") for t, _ in d.get(split, [])]
        if texts:
            return texts
    return FALLBACK_TEXTS


def daemon_config(port: int, device: str, model: Path, state: Path, threads: int) -> str:
    return (f'device_id = "{device}"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
            f'[model]\npath = "{model}"\nthreads = {threads}\n[state]\ndir = "{state}"\n'
            "[health]\ninterval_s = 30\n")


Spec = tuple[str, ...]  # (python, levers, runtime[, tree]): see parse_spec


def parse_spec(spec: str) -> tuple[str, str, str, str]:
    """`PYTHON[:LEVERS[:RUNTIME]][@TREE]` -> (python, levers, runtime, tree).

    TREE is another checkout of edge (e.g. a `git worktree` of an older commit): its edge/ goes first
    on the daemon's PYTHONPATH, so two versions of the daemon run side by side under one Python and one
    harness. abspath, not resolve(): a venv's python is a symlink, and following it would leave the venv."""
    spec, _, tree = spec.partition("@")
    py, _, rest = spec.partition(":")
    levers, _, runtime = rest.partition(":")
    return os.path.abspath(py), levers, runtime, os.path.abspath(tree) if tree else ""


def tree_label(tree: str) -> str:
    """' @ <short commit>' of a checkout (or its folder's name when git cannot tell); '' for this one."""
    if not tree:
        return ""
    import subprocess

    out = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f" @ {out.stdout.strip() or Path(tree).name}"


def start_daemon(work: Path, port: int, device: str, model: Path, threads: int,
                 spec: Spec | None = None) -> harness.Responder:
    """`python -m edge run`, or bench/variant.py with levers applied when the spec names some; spec is
    (python, levers, TFLite runtime or "" for the one edge.model picks[, tree: another checkout to run])."""
    python, levers, runtime, tree = (tuple(spec) + ("",))[:4] if spec else (harness.python(), "", "", "")
    d = work / device
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "edge.toml"
    cfg.write_text(daemon_config(port, device, model, d / "state", threads))
    head = [python, str(BENCH / "variant.py"), levers] if levers else [python, "-m", "edge"]
    env = {"EDGE_TFLITE_RUNTIME": runtime} if runtime else {}
    if tree:
        env["PYTHONPATH"] = tree
    return harness.Responder(device, head + ["run", "--config", str(cfg)], d, env=env or None)


def runtime_of(python: str, runtime: str = "") -> str:
    """Which TFLite runtime edge.model picks under this Python (and EDGE_TFLITE_RUNTIME=runtime):
    'ai_edge_litert 2.3.0' and the like."""
    import subprocess

    code = "import edge.model as m; print(m.runtime_version())"
    env = dict(os.environ, EDGE_TFLITE_RUNTIME=runtime) if runtime else None
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    if out.returncode:
        raise SystemExit(f"{python} cannot import edge.model:\n{out.stderr[-1500:]}")
    return out.stdout.strip()


def default_daemons() -> list[str]:
    """This Python under each TFLite runtime it can import, edge.model's default first."""
    import importlib.util

    import edge.model as em

    py = harness.python()
    names = [em.RUNTIME] + [r for r in em.RUNTIMES if r != em.RUNTIME and importlib.util.find_spec(r)]
    return [f"{py}::{name}" for name in names]


def start_echo(work: Path, port: int, base: str) -> harness.Responder:
    return harness.Responder("echo", [harness.python(), str(BENCH / "echo.py"), "--port", str(port), "--base", base],
                             work / "echo")


class StatusWatch:
    """Records when a live (not retained) `online` arrives on each `.../status` topic."""

    def __init__(self, port: int) -> None:
        self.seen: dict[str, float] = {}
        self.cond = threading.Condition()
        ok = threading.Event()
        c = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        c.on_connect = lambda cl, *_a: cl.subscribe([("edge/+/status", 1), ("bench/+/status", 1)])
        c.on_subscribe = lambda *_a: ok.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port, 30)
        c.loop_start()
        ok.wait(10)
        self.client = c

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.payload == b"online" and not msg.retain:
            with self.cond:
                self.seen.setdefault(msg.topic, time.perf_counter())
                self.cond.notify_all()

    def wait(self, topic: str, timeout: float = 30) -> float:
        with self.cond:
            self.cond.wait_for(lambda: topic in self.seen, timeout)
            if topic not in self.seen:
                raise RuntimeError(f"no `online` on {topic} within {timeout} s")
            return self.seen[topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def startup_runs(work: Path, port: int, model: Path, watch: StatusWatch, n: int,
                 daemons: dict[str, tuple[str, ...]],
                 log) -> dict:
    """Cold starts: spawn -> READY=1 and spawn -> `online`, each daemon variant and echo; fresh device ids."""
    out: dict[str, dict[str, list[float]]] = {name: {"ready": [], "online": []} for name in ["echo", *daemons]}
    for i in range(n):
        for k, (name, spec) in enumerate(daemons.items()):
            dev = f"bench-start{i}-{k}"
            d = start_daemon(work, port, dev, model, 1, spec)
            try:
                out[name]["ready"].append(d.wait_ready())
                out[name]["online"].append(watch.wait(f"edge/{dev}/status") - d.t_spawn)
            finally:
                d.stop()
        e = start_echo(work / f"echo-start{i}", port, f"bench/echostart{i}")
        try:
            out["echo"]["ready"].append(e.wait_ready())
            out["echo"]["online"].append(watch.wait(f"bench/echostart{i}/status") - e.t_spawn)
        finally:
            e.stop()
        log(f"  start {i + 1}/{n}: " + ", ".join(f"{k} READY {v['ready'][-1]:.3f} s" for k, v in out.items()))
    return out


def cpu_ms(pid: int) -> float:
    """User + system CPU a process has used so far, in ms (from /proc/PID/stat: cheap, no psutil objects)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def alternate(clients: dict[str, LoadClient], rounds: int, fn, pids: dict[str, int] | None = None,
              broker_pid: int | None = None) -> dict[str, Stats]:
    """Run fn(client) for echo and daemon in turn, `rounds` times (order flipped each round); pool the samples.

    With `pids`, also the CPU each responder (and the broker) used during its own turns, per reply received:
    the others are idle meanwhile, so the broker's CPU is charged to the responder under load."""
    pooled = {name: Stats() for name in clients}
    order = list(clients)
    for r in range(rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            c = clients[name]
            done0 = c.done
            cpu0 = cpu_ms(pids[name]) if pids else 0.0
            b0 = cpu_ms(broker_pid) if broker_pid else 0.0
            s: Stats = fn(c)
            p = pooled[name]
            if pids:
                p.cpu_ms += cpu_ms(pids[name]) - cpu0
                p.replies += c.done - done0
            if broker_pid:
                p.broker_cpu_ms += cpu_ms(broker_pid) - b0
            p.sent += s.sent
            p.done += s.done
            p.elapsed_s += s.elapsed_s
            p.lat_ms += s.lat_ms
    return pooled


def end_to_end(work: Path, port: int, model: Path, texts: list[str], quick: bool, threads: int,
               daemons: dict[str, tuple[str, ...]], log, broker_pid: int | None = None) -> dict:
    procs: dict[str, harness.Responder] = {}
    rss: dict[str, harness.RssSampler] = {}
    clients: dict[str, LoadClient] = {}
    res: dict = {"mem": {}}
    try:  # whatever happens, every process started here is stopped before returning
        for k, (name, spec) in enumerate(daemons.items()):
            procs[name] = start_daemon(work, port, f"bench{k}", model, threads, spec)
            rss[name] = harness.RssSampler(procs[name].pid)
        procs["echo"] = start_echo(work, port, "bench/echo")
        rss["echo"] = harness.RssSampler(procs["echo"].pid)
        res["ready_s"] = {name: p.wait_ready() for name, p in procs.items()}
        bases = {name: f"edge/bench{k}" for k, name in enumerate(daemons)} | {"echo": "bench/echo"}
        for name in ["echo", *daemons]:
            clients[name] = LoadClient(port, bases[name], texts)
        res["responders"] = list(clients)
        _measure(clients, procs, res, quick, log, broker_pid)
    finally:
        for c in clients.values():
            c.close()
        for name, sampler in rss.items():
            res["mem"].setdefault(name, {})["peak_sampled"] = sampler.stop()
            res["mem"][name]["samples"] = sampler.samples
        res["exit"] = {name: p.stop() for name, p in procs.items()}
    return res


def _measure(clients: dict[str, LoadClient], procs: dict[str, harness.Responder], res: dict, quick: bool,
             log, broker_pid: int | None = None) -> None:
    """1 in flight, 50 in flight, then the open-loop sweep; RSS of every process after each phase."""
    dur, warm, rounds = (1.5, 0.3, 1) if quick else (4.0, 1.0, 2)
    phases: dict[str, list[tuple[str, float]]] = {name: [] for name in procs}

    def snap(phase: str) -> None:
        for name, p in procs.items():
            phases[name].append((phase, harness.memory_detail(p.pid).get("rss", float("nan"))))

    res["rss_phases"] = phases
    snap("start (idle)")
    log("  low load: 1 request in flight...")
    pids = {name: p.pid for name, p in procs.items()}
    res["w1"] = alternate(clients, rounds, lambda c: c.closed_loop(1, dur, warm), pids, broker_pid)
    snap("1 in flight")
    log("  throughput: 50 requests in flight...")
    res["w50"] = alternate(clients, rounds, lambda c: c.closed_loop(50, dur, warm), pids, broker_pid)
    snap("50 in flight")
    rates = [200, 600, 1000, 1500] if quick else [100, 200, 400, 600, 800, 1000, 1200, 1500, 2000, 2500]
    sweep: dict[str, list[dict]] = {name: [] for name in clients}
    saturated: set[str] = set()
    for rate in rates:
        for name, client in clients.items():
            if name in saturated:
                continue
            s = client.open_loop(rate, 1.0 if quick else 2.5, 0.3 if quick else 0.5)
            sweep[name].append({"offered": rate, "achieved": s.throughput, "p50": s.p(50), "p95": s.p(95),
                                "p99": s.p(99), "lost": s.lost})
            log(f"  {name:28s} offered {rate:5d}/s: achieved {s.throughput:7.0f}/s p50 {s.p(50):7.2f} ms "
                f"p95 {s.p(95):7.2f} ms lost {s.lost}")
            if s.lost or s.p(50) > 100 or s.throughput < 0.8 * rate:
                saturated.add(name)  # past the knee: higher rates only queue in the broker
    res["sweep"] = sweep
    snap("the load sweep")
    for name, p in procs.items():
        res["mem"].setdefault(name, {}).update({**harness.memory_detail(p.pid), "vmhwm": p.vm_hwm_mb()})


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(), "machine": platform.machine(),
            "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def main() -> int:
    ap = argparse.ArgumentParser(description="edge benchmark (see bench/README section in docs/performance.md)")
    ap.add_argument("--quick", action="store_true", help="short smoke run; results go under /tmp unless --out")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "clinc150", help="int8 model package directory")
    ap.add_argument("--assets", type=Path, default=BENCH / "assets", help="where make_float.py put the float model")
    ap.add_argument("--data", type=Path, help="CLINC150-format JSON for realistic utterances")
    ap.add_argument("--threads", type=int, default=1, help="model.threads for the daemon (default 1)")
    ap.add_argument("--daemon", action="append", default=[], metavar="PYTHON[:LEVERS[:RUNTIME]][@TREE]",
                    help="a daemon to measure (repeatable): the Python to run it with (e.g. another venv), "
                         "optionally levers from bench/variant.py (e.g. memcache) and a TFLite runtime "
                         "(ai_edge_litert or tflite_runtime, set as EDGE_TFLITE_RUNTIME), and @TREE: another "
                         "checkout whose "
                         "edge/ runs it (side by side with an older commit); the first is the one "
                         "the targets are judged on (default: this Python as shipped, under each TFLite runtime "
                         "it has, the default one first)")
    ap.add_argument("--starts", type=int, help="cold starts to time (default 5, quick 2)")
    ap.add_argument("--out", type=Path, help="where results.md/.json and the plot go")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed (for CI)")
    ap.add_argument("--note", default="", help="a line for results.md about the conditions (e.g. a shared CPU)")
    args = ap.parse_args()
    out = args.out or (Path(tempfile.mkdtemp(prefix="edge-bench-")) if args.quick else BENCH)
    out.mkdir(parents=True, exist_ok=True)
    if not (args.model / "manifest.json").exists():
        print(f"no model package at {args.model}: train one (edge train) or pass --model DIR", file=sys.stderr)
        return 2
    texts = load_texts(args.data)
    mach = machine()
    print(f"edge benchmark on {mach['cpu']} x{mach['cores']} (Python {mach['python']}), {mach['when']}"
          f"{'  [quick]' if args.quick else ''}", flush=True)

    def log(msg: str) -> None:
        print(msg, flush=True)

    daemons: dict[str, tuple[str, str, str, str]] = {}
    for spec in args.daemon or default_daemons():
        py, levers, runtime, tree = parse_spec(spec)
        label = f"daemon ({runtime_of(py, runtime)}{' + ' + levers if levers else ''}{tree_label(tree)})"
        if label in daemons:  # the same runtime from another interpreter
            label = f"{label[:-1]}, {py})"
        daemons[label] = (py, levers, runtime, tree)
    default_runtime = runtime_of(harness.python())
    # raw-model runs in other processes: each other (Python, runtime) once, then each lever set
    others = list(dict.fromkeys((py, rt) for py, lv, rt, _tree in daemons.values()
                                if not lv and runtime_of(py, rt) != default_runtime))
    lever_specs = list(dict.fromkeys((py, lv, rt) for py, lv, rt, _tree in daemons.values() if lv))
    results: dict = {"machine": mach, "quick": args.quick, "model_dir": str(args.model), "n_texts": len(texts),
                     "note": args.note,
                     "daemons": daemons}
    log("1/3 raw model")
    results["raw"] = [rawmodel.run(args.model, args.assets, texts, args.quick, log)]
    for py, rt in others:
        log(f"  ...and under {runtime_of(py, rt)} ({py})")
        results["raw"].append(rawmodel.run_elsewhere(py, args.model, args.assets, texts, args.quick, runtime=rt))
    for py, levers, rt in lever_specs:
        log(f"  Model.classify under {py} with {levers}")
        results["raw"].append(rawmodel.run_elsewhere(py, args.model, args.assets, texts, args.quick, levers, rt))
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        work = Path(tmp)
        broker = harness.Broker(work)
        try:
            log("2/3 end to end through mosquitto (daemon vs echo floor)")
            results["e2e"] = end_to_end(work, broker.port, args.model, texts, args.quick, args.threads, daemons, log,
                                        broker.proc.pid)
            log("3/3 start-up")
            # A broker of its own: the one above may still hold the overload sweep's backlog for the
            # responders' kept sessions (a start at 2.05 s once, right after a sweep, against 0.22-0.35 s).
            broker.stop()
            (work / "startup").mkdir()
            broker = harness.Broker(work / "startup")
            watch = StatusWatch(broker.port)
            try:
                results["startup"] = startup_runs(work, broker.port, args.model, watch,
                                                  args.starts or (2 if args.quick else 5), daemons, log)
            finally:
                watch.close()
        finally:
            broker.stop()
    text = report.render(results, command=" ".join(["bench/run.py", *sys.argv[1:]]))
    print()
    print(text)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(report.jsonable(results), indent=2) + "\n")
    report.plot(results, out / "latency_vs_load.png")
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'latency_vs_load.png'}")
    return 1 if args.check and not report.targets_met(results) else 0


if __name__ == "__main__":
    sys.exit(main())
