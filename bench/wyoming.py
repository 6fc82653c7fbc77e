"""Transcripts through Wyoming as Home Assistant sends them: throughput, round trip, RSS.

The server runs in a child process (its own event loop, as in the daemon); this
process is Home Assistant: one new TCP connection per utterance, a `transcript`,
read until the answer (tests/wyoming_ha.py, the real `wyoming` client). Round
trip = connect + write + recognize + answer + close, measured here.

    python bench/wyoming.py --model models/home --names tests/data/home_names.yaml
    python bench/wyoming.py --model DIR --n 2000 --concurrency 1,8 --json out.json

RSS (the server process's, psutil) is read three times: model + slots + names
loaded; then `edge.wyoming` imported and the server listening; then after the run.

    python bench/wyoming.py --daemon-rss [--repeat 3]

is the issue-22 RSS budget instead: real `edge run` daemons on a private mosquitto, one
configuration at a time (clinc150; models/home; + the names file; + Wyoming), RSS read from
/proc once the daemon is serving and again after 200 MQTT requests and (Wyoming on) 200
transcripts; the median of --repeat starts. `--root A --root B` measures two checkouts side by
side in one run, their daemons taking turns (each root's own models and names file; the JSON copy is
this checkout's).

The daemons run a fresh copy of the checkout's `edge` package (--root: another checkout's, e.g.
main's in a `git worktree add --detach /tmp/base main`, for a side-by-side in one session), and by
default that copy is byte-compiled first, as `pip install` does on the device: a module compiled
from source at import leaves its parser's garbage in the heap (names_values_data.py alone: ~2 MB
more RSS), and whether a checkout has __pycache__ (PYTHONDONTWRITEBYTECODE, which the unit sets)
would otherwise decide the result. --source measures the copy without bytecode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# this file is named like the `wyoming` package: its folder must not shadow it
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SENTENCES = ["turn off the desk lamp", "turn on the lights in the kitchen", "set a timer for 7 minutes",
             "set the desk lamp to 30%", "turn on the toaster", "what is my checking account balance",
             "switch on the bedside lamp", "turn off the light strip",
             # free-text wildcards: their carrier patterns (edge/home_wildcards.py) are compiled on first use
             "add oat milk to my shopping list", "broadcast that dinner is ready", "cancel the pasta timer",
             # the model unsure, HA's template sure (edge/home_rescue.py): every carrier intent's patterns compiled
             "play the evening news on the TV"]


def burst_lines(n: int) -> list[str]:
    """`n` home-like lines, each a new text (a frame of Home Assistant's templates around a name of
    tests/data/home_names.yaml): many the model is unsure of, so decide reads Home Assistant's templates
    (edge/home_templates.py) and compiles the patterns their words could fit: the cache's worst case."""
    things = ["Kitchen Ceiling", "Counter Lights", "Floor Lamp", "Light Strip", "Reading Lamp", "Kitchen",
              "Living Room", "Bedroom", "Office", "Garage", "Hallway", "Basement"]
    frames = ["mute {}", "pause {}", "{} next track", "skip to the previous track on {}", "set {} to 35 percent",
              "is {} open", "what is the {} temperature", "vacuum {}", "{} to the max", "unmute the {} please now",
              "{} quieter", "resume {} music"]
    return [frames[i % len(frames)].format(things[(i // len(frames)) % len(things)]) + (" " + str(i) if i >= 144 else "")
            for i in range(n)]


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def child(args: argparse.Namespace) -> None:
    """The server: load, report RSS, start, report the port, serve until stdin closes."""
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(args.model)
    rec = HomeRecognizer(model, SlotExtractor.load(model.path, model.manifest),
                         names.load(args.names) if args.names else None, languages=["en"])
    rec.recognize("turn on the desk lamp", "en")  # first call's lazy work outside the measure
    loaded = _rss_mb()

    async def main() -> None:
        from edge.wyoming import ServerLimits, WyomingServer

        server = WyomingServer(rec, host="127.0.0.1", port=0, limits=ServerLimits(max_connections=512,
                                                                                   max_per_peer=512))
        await server.start()
        print(json.dumps({"port": server.port, "rss_loaded_mb": loaded, "rss_serving_mb": _rss_mb()}), flush=True)
        loop = asyncio.get_running_loop()
        import psutil

        me = psutil.Process()
        while True:  # "cpu" -> this process's CPU seconds so far; "rss" -> RSS; EOF -> stop
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "cpu":
                t = me.cpu_times()
                print(json.dumps({"cpu_s": t.user + t.system, "served": server.served}), flush=True)
            elif line == "rss":
                print(json.dumps({"rss_after_mb": _rss_mb(), "served": server.served}), flush=True)
            else:
                break
        await server.close()

    asyncio.run(main())


async def load(port: int, n: int, concurrency: int) -> tuple[float, list[float]]:
    from wyoming_ha import ha_process

    times: list[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            await ha_process("127.0.0.1", port, SENTENCES[i % len(SENTENCES)], "en", {"conversation_id": str(i)})
            times.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0), times


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 1 else xs[0]


# --- the Pi Zero 2 W estimate ------------------------------------------------------------------------
# Not a measurement. This machine's single-core speed is measured with a small fixed workload that has a
# published result on the Zero 2 W's core: sysbench 1.0.20 `sysbench cpu --threads=1 --time=60 run`
# (primes up to 10,000), 687.45 events/s on one core of a Raspberry Pi 3 B+ (4 x Cortex-A53, 1.4 GHz),
# https://leoncode.co.uk/articles/raspberry-pi-benchmarks (Sysbench table, "Raspberry Pi 3+", single
# core). The Zero 2 W has the same cores at 1.0 GHz and the same 512 KB L2, so 687.45 x 1.0 / 1.4 =
# 491 events/s is taken for it (clock-scaled: an assumption, not a published figure). The result is
# from a 64-bit OS (the 32-bit Pi 2 row, 39.5/s, is what 64-bit division in software gives): it holds
# for 64-bit Raspberry Pi OS, which docs/device.md recommends on the Zero 2 W.
PI3BPLUS_SYSBENCH_EPS = 687.45
A53_CLOCK_SCALE = 1.0 / 1.4
ZERO2W_SYSBENCH_EPS = PI3BPLUS_SYSBENCH_EPS * A53_CLOCK_SCALE
# Python's interpreter loop suffers more than a division loop on an in-order core: docs/performance.md
# puts single-thread Python on an A53 at 1.0 GHz at 15-25x this machine (itself an estimate). The
# estimate below uses the measured sysbench ratio, and shows what that factor would give beside it.
PYTHON_FACTOR_RANGE = (15.0, 25.0)


def sysbench_eps(seconds: int = 10) -> float | None:
    """This machine's `sysbench cpu --threads=1` events per second *of CPU time* (primes up to 10,000,
    sysbench's default), or None without sysbench (apt-get install sysbench). Per CPU second, not per
    wall second: on a shared machine sysbench may get a fraction of a core, and the published board
    figure is from an otherwise idle board, where the two are the same."""
    import re
    import resource
    import shutil

    exe = shutil.which("sysbench")
    if exe is None:
        return None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([exe, "cpu", "--threads=1", f"--time={seconds}", "run"], capture_output=True,
                         text=True, timeout=seconds + 30).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = re.search(r"total number of events:\s*([0-9]+)", out)
    return int(m.group(1)) / cpu if m and cpu > 0 else None


def pi_estimate(levels: list[dict]) -> dict:
    """The single-client level's numbers scaled to a Pi Zero 2 W (an estimate: see above). The server's
    CPU per transcript is scaled by the speed ratio (it all runs on one core: the event loop); the round
    trip too, which over-counts a little (here the client, Home Assistant's side, shares the machine)."""
    eps = sysbench_eps()
    one = next((lv for lv in levels if lv["concurrency"] == 1), levels[0])
    est: dict = {"label": "ESTIMATE, not measured", "this_machine_sysbench_eps": eps,
                 "zero2w_sysbench_eps": round(ZERO2W_SYSBENCH_EPS, 1),
                 "source": "sysbench 1.0.20 cpu --threads=1, Raspberry Pi 3 B+ 687.45 events/s "
                           "(leoncode.co.uk/articles/raspberry-pi-benchmarks), scaled 1.0/1.4 GHz"}
    if eps is None:
        est["note"] = "sysbench not installed: no ratio measured"
        return est
    factor = eps / ZERO2W_SYSBENCH_EPS
    est["factor"] = round(factor, 2)
    est["server_cpu_ms"] = round(one["server_cpu_ms"] * factor, 2)
    est["transcripts_per_s_one_core"] = round(1000 / est["server_cpu_ms"]) if est["server_cpu_ms"] else None
    est["p50_ms"] = round(one["p50_ms"] * factor, 1)
    est["p95_ms"] = round(one["p95_ms"] * factor, 1)
    lo, hi = PYTHON_FACTOR_RANGE
    cpu_py = [round(one["server_cpu_ms"] * lo, 1), round(one["server_cpu_ms"] * hi, 1)]
    est["with_python_factor_15_25"] = {"server_cpu_ms": cpu_py,
                                       "transcripts_per_s_one_core": [round(1000 / cpu_py[1]), round(1000 / cpu_py[0])]}
    print(f"Pi Zero 2 W ESTIMATE (not measured): this machine sysbench {eps:.0f} events per CPU second vs "
          f"{ZERO2W_SYSBENCH_EPS:.0f} (Pi 3 B+ published, clock-scaled) = {factor:.1f}x slower: server CPU "
          f"{est['server_cpu_ms']} ms/transcript (~{est['transcripts_per_s_one_core']}/s on one core), round "
          f"trip (this machine's, scaled: its queueing included) p50 {est['p50_ms']} ms, p95 {est['p95_ms']} ms; "
          f"with Python's 15-25x instead: server CPU {cpu_py[0]}-{cpu_py[1]} ms/transcript")
    return est


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def daemons(root: Path) -> list[tuple[str, dict]]:
    """The configurations measured, with `root`'s models and names file."""
    home, names = str(root / "models" / "home"), str(root / "tests" / "data" / "home_names.yaml")
    return [
        ("clinc150 (today's default)", {}),
        ("models/home", {"model": {"path": home}}),
        ("models/home + names (YAML)", {"model": {"path": home}, "home": {"names": names}}),
        ("models/home + names (JSON)", {"model": {"path": home}, "home": {"names": "JSON"}}),
        ("models/home + names (YAML) + Wyoming", {"model": {"path": home}, "home": {"names": names},
                                                  "wyoming": {"enabled": True, "port": 0}}),
    ]


def install_copy(root: Path, dest: Path, bytecode: bool) -> Path:
    """`root`'s edge package copied under `dest` (no __pycache__), its models beside it (a link), and
    byte-compiled when `bytecode` (as pip does at install). Returns the folder for PYTHONPATH."""
    import compileall
    import shutil

    shutil.copytree(root / "edge", dest / "edge", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "models").symlink_to(root / "models")  # where edge.model finds the default model (clinc150)
    if bytecode and not compileall.compile_dir(str(dest / "edge"), quiet=1):
        raise SystemExit(f"compileall failed in {dest / 'edge'}")
    return dest


def daemon_rss(repeat: int, out_json: str | None, roots: list[Path] | None = None, bytecode: bool = True,
               burst: int = 0) -> int:
    """Each configuration of `daemons(root)` as a real daemon running a copy of each root's edge package
    (byte-compiled unless not `bytecode`); RSS serving and after traffic (median of `repeat`). With
    several roots, their daemons take turns (configuration by configuration, start by start), so that
    the shared machine's load falls on each alike: a side-by-side in one run."""
    import tempfile

    from conftest import Broker, Daemon, daemon_config, free_port
    from mqttc import TestClient

    roots = roots or [ROOT]
    rows: dict[Path, list[dict]] = {r: [] for r in roots}
    for r in roots:
        print(f"edge from {r} ({'byte-compiled, as installed' if bytecode else 'no bytecode: compiled at import'})",
              flush=True)
    with tempfile.TemporaryDirectory(prefix="edge-rss-") as tmp:
        work = Path(tmp)
        envs = {r: {"PYTHONPATH": str(install_copy(r, work / f"src{k}", bytecode)), "PYTHONDONTWRITEBYTECODE": "1"}
                for k, r in enumerate(roots)}
        yaml_names = ROOT / "tests" / "data" / "home_names.yaml"
        json_names = work / "names.json"
        json_names.write_text(json.dumps(_names_as_json(yaml_names)))
        broker = Broker(work / "broker").start()
        try:
            for c, (label, _) in enumerate(daemons(ROOT)):
                ready: dict[Path, list[float]] = {r: [] for r in roots}
                after: dict[Path, list[float]] = {r: [] for r in roots}
                for i in range(repeat):
                    for k, r in enumerate(roots):
                        secs = json.loads(json.dumps(daemons(r)[c][1]))
                        if secs.get("home", {}).get("names") == "JSON":
                            secs["home"]["names"] = str(json_names)
                        port = free_port() if "wyoming" in secs else None
                        if port:
                            secs["wyoming"]["port"] = port
                        d = Daemon(work / f"d{c}-{i}-{k}", daemon_config(broker, work / f"s{c}-{i}-{k}", **secs),
                                   env=envs[r])
                        d.start()
                        try:
                            assert d.proc is not None
                            ready[r].append(_proc_rss_mb(d.proc.pid))
                            client = TestClient(broker.port)
                            lang = {"language": "en"} if "model" in secs else {}
                            for n in range(200):
                                client.request("edge/test", {"text": SENTENCES[n % len(SENTENCES)], **lang})
                            for line in burst_lines(burst if "model" in secs else 0):   # --burst
                                client.request("edge/test", {"text": line, **lang})
                            client.close()
                            if port:
                                asyncio.run(load(port, 200, 1))
                            after[r].append(_proc_rss_mb(d.proc.pid))
                        finally:
                            d.stop()
                for r in roots:
                    row = {"daemon": label, "rss_serving_mb": round(statistics.median(ready[r]), 1),
                           "rss_after_traffic_mb": round(statistics.median(after[r]), 1),
                           "serving_runs": [round(x, 1) for x in ready[r]], "after_runs": [round(x, 1) for x in after[r]]}
                    rows[r].append(row)
                    print(f"{str(r)[-24:]:24s} {label:38s} serving {row['rss_serving_mb']:6.1f} MB, after traffic "
                          f"{row['rss_after_traffic_mb']:6.1f} MB", flush=True)
        finally:
            broker.stop()
    for r in roots:
        base = rows[r][0]
        for row in rows[r][1:]:
            print(f"{str(r)[-24:]:24s} {row['daemon']:38s} {row['rss_serving_mb'] - base['rss_serving_mb']:+5.1f} MB "
                  f"serving, {row['rss_after_traffic_mb'] - base['rss_after_traffic_mb']:+5.1f} MB after traffic, "
                  "over its clinc150")
    if len(roots) > 1:
        first = rows[roots[0]]
        for r in roots[1:]:
            for a, b in zip(first, rows[r]):
                print(f"{a['daemon']:38s} {str(roots[0])[-20:]} minus {str(r)[-20:]}: "
                      f"{a['rss_serving_mb'] - b['rss_serving_mb']:+5.1f} MB serving, "
                      f"{a['rss_after_traffic_mb'] - b['rss_after_traffic_mb']:+5.1f} MB after traffic")
    if out_json:
        Path(out_json).write_text(json.dumps({"daemons": {str(r): rows[r] for r in roots}, "repeat": repeat,
                                              "bytecode": bytecode}, indent=1) + "\n")
    return 0


def rss_parts(model_dir: str, names_path: str) -> int:
    """Where a home daemon's memory goes, step by step in one fresh process (RSS after a gc.collect):
    the daemon's imports, the model, its slot tagger, the names file, edge.home, edge.wyoming.
    The same steps for clinc150 are the comparison: run it twice."""
    import gc

    def rss() -> float:
        gc.collect()
        return _rss_mb()

    rows = [("python, psutil", rss())]
    from edge.model import Model
    from edge.service import load_slots

    rows.append(("import edge.service (the daemon)", rss()))
    model = Model.load(model_dir)
    model.classify(["turn on the light"])
    rows.append((f"Model.load({Path(model_dir).name}) + one classify", rss()))
    slots = load_slots(model)
    if slots is not None:
        slots.extract("turn on the kitchen light", model.labels[0])
    rows.append(("slot tagger (load_slots) + one extract", rss()))
    if names_path:
        from edge import names

        rows.append(("import edge.names", rss()))
        names.load(names_path)
        rows.append((f"names.load({Path(names_path).name})", rss()))
    import edge.home  # noqa: F401

    rows.append(("import edge.home", rss()))
    import edge.wyoming  # noqa: F401

    rows.append(("import edge.wyoming (the wyoming package)", rss()))
    prev = rows[0][1]
    for label, v in rows:
        print(f"{label:44s} {v:6.1f} MB  {v - prev:+5.1f}")
        prev = v
    return 0


def _names_as_json(path: Path) -> dict:
    """The YAML names file as plain JSON (the same home), so both readers can be compared."""
    import yaml

    return yaml.safe_load(path.read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "models" / "home"))
    p.add_argument("--names", default=str(ROOT / "tests" / "data" / "home_names.yaml"))
    p.add_argument("--n", type=int, default=1000, help="transcripts per concurrency level")
    p.add_argument("--concurrency", default="1,8", help="clients at once, comma-separated levels")
    p.add_argument("--json", help="also write the numbers here")
    p.add_argument("--rss-parts", action="store_true", help="where RSS goes, step by step (--model, --names)")
    p.add_argument("--no-pi", action="store_true", help="skip the Pi Zero 2 W estimate (it runs sysbench 10 s)")
    p.add_argument("--daemon-rss", action="store_true", help="RSS of real daemons: clinc150, home, +names, +Wyoming")
    p.add_argument("--burst", type=int, default=0,
                   help="--daemon-rss: this many more home-like lines, each new, many refused as unsure (burst_lines)")
    p.add_argument("--repeat", type=int, default=3, help="daemon starts per configuration (--daemon-rss)")
    p.add_argument("--root", type=Path, action="append", default=[],
                   help="--daemon-rss: a checkout whose edge is measured (repeat it: side by side, taking turns; "
                        "default this one)")
    p.add_argument("--source", action="store_true", help="--daemon-rss: no bytecode (modules compiled at import)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    if args.daemon_rss:
        return daemon_rss(args.repeat, args.json, [r.resolve() for r in args.root] or [ROOT],
                          bytecode=not args.source, burst=args.burst)
    if args.rss_parts:
        return rss_parts(args.model, args.names)
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--model", args.model, "--names", args.names],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdin and proc.stdout
    started = json.loads(proc.stdout.readline())
    out: dict = {"model": args.model, "n": args.n, **{k: round(v, 1) for k, v in started.items() if k != "port"},
                 "levels": []}
    asyncio.run(load(started["port"], 50, 4))  # warm-up

    def ask(cmd: str) -> dict:
        assert proc.stdin and proc.stdout
        proc.stdin.write(cmd + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    for c in (int(x) for x in args.concurrency.split(",")):
        cpu0 = ask("cpu")["cpu_s"]
        rate, times = asyncio.run(load(started["port"], args.n, c))
        cpu_ms = (ask("cpu")["cpu_s"] - cpu0) * 1000 / args.n  # the server's CPU per transcript
        row = {"concurrency": c, "transcripts_per_s": round(rate), "p50_ms": round(pct(times, 50), 2),
               "p95_ms": round(pct(times, 95), 2), "p99_ms": round(pct(times, 99), 2),
               "server_cpu_ms": round(cpu_ms, 3)}
        out["levels"].append(row)
        print(f"concurrency {c:3d}: {row['transcripts_per_s']:6d} transcripts/s, round trip p50 "
              f"{row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms", flush=True)
    after = ask("rss")
    proc.stdin.close()
    proc.wait(10)
    out["rss_after_mb"] = round(after["rss_after_mb"], 1)
    print(f"server RSS: {out['rss_loaded_mb']} MB loaded, {out['rss_serving_mb']} MB serving, "
          f"{out['rss_after_mb']} MB after {after['served']} transcripts")
    if not args.no_pi:
        out["pi_zero_2w_estimate"] = pi_estimate(out["levels"])
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
