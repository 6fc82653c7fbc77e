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
transcripts; the median of --repeat starts.
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
             "switch on the bedside lamp", "turn off the light strip"]


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
        await loop.run_in_executor(None, sys.stdin.readline)  # "rss" -> report, then EOF -> stop
        print(json.dumps({"rss_after_mb": _rss_mb(), "served": server.served}), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
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


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


DAEMONS: list[tuple[str, dict]] = [
    ("clinc150 (today's default)", {}),
    ("models/home", {"model": {"path": str(ROOT / "models" / "home")}}),
    ("models/home + names (YAML)", {"model": {"path": str(ROOT / "models" / "home")},
                                    "home": {"names": str(ROOT / "tests" / "data" / "home_names.yaml")}}),
    ("models/home + names (JSON)", {"model": {"path": str(ROOT / "models" / "home")}, "home": {"names": "JSON"}}),
    ("models/home + names (YAML) + Wyoming", {"model": {"path": str(ROOT / "models" / "home")},
                                              "home": {"names": str(ROOT / "tests" / "data" / "home_names.yaml")},
                                              "wyoming": {"enabled": True, "port": 0}}),
]


def daemon_rss(repeat: int, out_json: str | None) -> int:
    """Each configuration of DAEMONS as a real daemon; RSS serving and after traffic (median of `repeat`)."""
    import tempfile

    from conftest import Broker, Daemon, daemon_config, free_port
    from mqttc import TestClient

    rows = []
    with tempfile.TemporaryDirectory(prefix="edge-rss-") as tmp:
        work = Path(tmp)
        yaml_names = ROOT / "tests" / "data" / "home_names.yaml"
        json_names = work / "names.json"
        from edge import names_file

        json_names.write_text(json.dumps(_names_as_json(names_file, yaml_names)))
        broker = Broker(work / "broker").start()
        try:
            for label, sections in DAEMONS:
                ready, after = [], []
                for i in range(repeat):
                    secs = json.loads(json.dumps(sections))
                    if secs.get("home", {}).get("names") == "JSON":
                        secs["home"]["names"] = str(json_names)
                    port = free_port() if "wyoming" in secs else None
                    if port:
                        secs["wyoming"]["port"] = port
                    d = Daemon(work / f"d{len(rows)}-{i}", daemon_config(broker, work / f"s{len(rows)}-{i}", **secs))
                    d.start()
                    try:
                        assert d.proc is not None
                        ready.append(_proc_rss_mb(d.proc.pid))
                        c = TestClient(broker.port)
                        lang = {"language": "en"} if "model" in secs else {}
                        for k in range(200):
                            c.request("edge/test", {"text": SENTENCES[k % len(SENTENCES)], **lang})
                        c.close()
                        if port:
                            asyncio.run(load(port, 200, 1))
                        after.append(_proc_rss_mb(d.proc.pid))
                    finally:
                        d.stop()
                row = {"daemon": label, "rss_serving_mb": round(statistics.median(ready), 1),
                       "rss_after_traffic_mb": round(statistics.median(after), 1)}
                rows.append(row)
                print(f"{label:40s} serving {row['rss_serving_mb']:6.1f} MB, after traffic "
                      f"{row['rss_after_traffic_mb']:6.1f} MB", flush=True)
        finally:
            broker.stop()
    base = rows[0]["rss_serving_mb"]
    for r in rows[1:]:
        print(f"{r['daemon']:40s} {r['rss_serving_mb'] - base:+5.1f} MB over clinc150 serving")
    if out_json:
        Path(out_json).write_text(json.dumps({"daemons": rows, "repeat": repeat}, indent=1) + "\n")
    return 0


def _names_as_json(names_file, path: Path) -> dict:
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
    p.add_argument("--daemon-rss", action="store_true", help="RSS of real daemons: clinc150, home, +names, +Wyoming")
    p.add_argument("--repeat", type=int, default=3, help="daemon starts per configuration (--daemon-rss)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    if args.daemon_rss:
        return daemon_rss(args.repeat, args.json)
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--model", args.model, "--names", args.names],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdin and proc.stdout
    started = json.loads(proc.stdout.readline())
    out: dict = {"model": args.model, "n": args.n, **{k: round(v, 1) for k, v in started.items() if k != "port"},
                 "levels": []}
    asyncio.run(load(started["port"], 50, 4))  # warm-up
    for c in (int(x) for x in args.concurrency.split(",")):
        rate, times = asyncio.run(load(started["port"], args.n, c))
        row = {"concurrency": c, "transcripts_per_s": round(rate), "p50_ms": round(pct(times, 50), 2),
               "p95_ms": round(pct(times, 95), 2), "p99_ms": round(pct(times, 99), 2)}
        out["levels"].append(row)
        print(f"concurrency {c:3d}: {row['transcripts_per_s']:6d} transcripts/s, round trip p50 "
              f"{row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms", flush=True)
    proc.stdin.write("rss\n")
    proc.stdin.flush()
    after = json.loads(proc.stdout.readline())
    proc.stdin.close()
    proc.wait(10)
    out["rss_after_mb"] = round(after["rss_after_mb"], 1)
    print(f"server RSS: {out['rss_loaded_mb']} MB loaded, {out['rss_serving_mb']} MB serving, "
          f"{out['rss_after_mb']} MB after {after['served']} transcripts")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
