"""Sequential request/response latency and the daemon's CPU time per request, through a real mosquitto.

Run by hand (not by pytest), against any checkout, to compare two versions on the same machine:

    .venv/bin/python tests/measure_latency.py REPO_ROOT N
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import Broker, daemon_config  # noqa: E402
from mqttc import TestClient  # noqa: E402


def main() -> None:
    root, n = Path(sys.argv[1]), int(sys.argv[2])
    tmp = Path(tempfile.mkdtemp())
    broker = Broker(tmp / "b", persistence=False).start()
    cfg = tmp / "c.toml"
    cfg.write_text(daemon_config(broker, tmp / "state", health={"interval_s": 60.0}))
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg)], env=env, cwd=root,
                            stdout=(tmp / "log").open("wb"), stderr=subprocess.STDOUT)
    c = TestClient(broker.port)
    box = c.subscribe("edge/test/result")
    deadline = time.time() + 60
    while True:  # until the daemon answers
        c.publish("edge/test/request", json.dumps({"text": "warm up"}))
        try:
            box.get(1.0)
            break
        except AssertionError:
            assert time.time() < deadline, (tmp / "log").read_text()
    for _ in range(20):
        c.publish("edge/test/request", json.dumps({"text": "turn on the lights"}))
        box.get()

    def cpu() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    c0 = cpu()
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        body = json.dumps({"id": uuid.uuid4().hex, "text": "what is the weather in paris"})
        c.publish("edge/test/request", body, wait=False)
        box.get()
        lat.append((time.perf_counter() - t0) * 1000)
    c1 = cpu()
    lat.sort()
    print(f"{root}: n={n} p50 {lat[n // 2]:.2f} ms p95 {lat[int(n * 0.95)]:.2f} ms,"
          f" daemon CPU {(c1 - c0) * 1000 / n:.2f} ms/request")
    proc.terminate()
    proc.wait(30)
    c.close()
    broker.stop()


if __name__ == "__main__":
    main()
