"""What the cloud path for home commands adds to a Wyoming round trip, with a local cloud.

    python bench/wyoming_cloud.py --n 200

One process: the shipped home model and tests/data/home_names.yaml behind a Wyoming server with the
cloud path (edge.home_cloud), tests/cloud_server.py's FakeCloud on loopback as the cloud (it answers
at once, so this is edge's own cost: prompt, HTTP, validation, the hop to the pool and back), and the
real `wyoming` client doing what Home Assistant does, one connection per transcript, one at a time.
Prints the round trip p50/p95 for a transcript the device answers, one the cloud answers with an
intent, one it answers with a question's answer, and the prompt's size. A real cloud adds its own
latency (hundreds of ms) on top.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/wyoming.py would shadow the wyoming package: this folder off the path, tests/ on it
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT / "tests"))

from cloud_server import FakeCloud  # noqa: E402
from wyoming_ha import ha_process  # noqa: E402

from edge import names  # noqa: E402
from edge.cloud import CloudClient  # noqa: E402
from edge.config import CloudSettings  # noqa: E402
from edge.escalation import DaemonPool  # noqa: E402
from edge.home import HomeRecognizer  # noqa: E402
from edge.home_cloud import HomeCloud  # noqa: E402
from edge.model import Model  # noqa: E402
from edge.router import Router  # noqa: E402
from edge.slots import SlotExtractor  # noqa: E402
from edge.wyoming import WyomingServer  # noqa: E402

CASES = {
    "device": ("turn off the desk lamp", None),
    "cloud intent": ("kitchen ceiling needs to be on", {"intent": "HassTurnOn", "slots": {"name": "Kitchen Ceiling"}}),
    "cloud answer": ("who wrote hamlet", {"answer": "William Shakespeare."}),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    model = Model.load(ROOT / "models" / "home")
    slots = SlotExtractor.load(model.path, model.manifest)
    home = names.load(ROOT / "tests" / "data" / "home_names.yaml")
    with FakeCloud() as fake:
        s = CloudSettings(base_url=fake.base_url, model="fake", timeout_s=5, max_per_hour=10**6, max_per_day=10**7)
        client = CloudClient(s, model.labels, "")
        pool = DaemonPool(2)
        rec = HomeCloud(HomeRecognizer(model, slots, home), client, Router(s, 0.5, cloud_configured=True), pool,
                        timeout_s=s.timeout_s)

        async def run() -> dict[str, list[float]]:
            server = WyomingServer(rec, host="127.0.0.1", port=0)
            await server.start()
            out: dict[str, list[float]] = {}
            try:
                for case, (text, reply) in CASES.items():
                    fake.content = json.dumps(reply) if reply is not None else None
                    times = []
                    for i in range(args.n + 10):
                        t0 = time.perf_counter()
                        answer = await ha_process("127.0.0.1", server.port, text)
                        if i >= 10:  # warm-up left out
                            times.append((time.perf_counter() - t0) * 1000)
                    out[case] = times
                    print(f"{case}: {type(answer).__name__}", file=sys.stderr)
            finally:
                await server.close()
            return out

        results = asyncio.run(run())
        prompt = rec.prompt.system("en", CASES["cloud intent"][0])
        client.close()
        pool.shutdown(wait=False)
    for case, times in results.items():
        q = statistics.quantiles(times, n=20)
        print(f"{case:13s} n={len(times)}  p50 {statistics.median(times):6.2f} ms  p95 {q[18]:6.2f} ms")
    print(f"system prompt: {len(prompt.encode())} bytes ({len(rec.prompt.intents)} intents, names of "
          f"{len(home.entities)} things, {len(home.areas)} areas, {len(home.floors)} floors)")
    print(f"calls made: {len(fake.chat_requests)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
