"""What the worst requests and cloud replies cost (issue 21, items 1 and 2): CPU of one call.

    .venv/bin/python bench/budget.py [--size 16384] [--skip-slow]

Times (time.thread_time, best of 3) the reproductions of issue 21 and the end-to-end request
path (tests/fakes.py's Rig with the real shipped model and slots) on the adversarial texts of
tests/test_budget.py, at `--size` characters. Runs on an older tree too (for a before/after:
`git worktree add /tmp/old <commit>` and run this file from there); --skip-slow leaves out the
reproductions that take minutes on a tree without the fixes.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def cpu(fn: Callable[[Any], Any], arg: Any, reps: int = 3) -> float:
    best = float("inf")
    gc.disable()
    try:
        for _ in range(reps):
            t0 = time.thread_time()
            try:
                fn(arg)
            except Exception:  # CloudError, BadRequest: an answer like any other
                pass
            spent = time.thread_time() - t0
            best = min(best, spent)
            if spent > 5.0:
                break
    finally:
        gc.enable()
    return best


def fill(unit: str, n: int, prefix: str = "") -> str:
    body = n - len(prefix)
    return prefix + (unit * (body // len(unit) + 1))[:body]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=16384)
    ap.add_argument("--skip-slow", action="store_true")
    args = ap.parse_args()
    n = args.size

    from edge import entities
    from edge.cloud import content_json
    from edge.model import Model
    from edge.slots import SlotExtractor
    from fakes import Rig, msg

    def show(name: str, seconds: float) -> None:
        print(f"{name:58s} {seconds * 1000:10.2f} ms", flush=True)

    if not args.skip_slow:
        show("content_json('```\\n' + '\\n '*N + 'x```y')", cpu(content_json, fill("\n ", n - 5, "```\n") + "x```y"))
        show("content_json('```json' + ' '*N + 'x')", cpu(content_json, fill(" ", n - 1, "```json") + "x"))
        show("entities.find('1h'*N, ['datetime'])", cpu(lambda t: entities.find(t, ["datetime"]), fill("1h", n)))
    show("entities.find('1h'*N)", cpu(entities.find, fill("1h", n)))
    manifest = json.loads((ROOT / "models" / "clinc150" / "manifest.json").read_text())
    model = Model.load()
    shipped = SlotExtractor.load(ROOT / "models" / "clinc150", manifest)
    every = SlotExtractor({label: {k: k for k in entities.KINDS} for label in manifest["labels"]})
    cases = {"weather_1s": ("what's the weather ", "1s"), "timer_durations": ("set a timer for ", "1 hour "),
             "alarm_number_words": ("wake me up at ", "one two three "), "dates": ("book a flight for ", "the 3rd of march "),
             "money": ("transfer ", "$1 "), "calculator_digits": ("what is ", "1,"), "plain_words": ("remind me ", "to buy milk ")}
    for xname, x in (("shipped slots", shipped), ("every built-in on every intent", every)):
        for name, (prefix, unit) in cases.items():
            rig = Rig(model=model, slots=x)
            text = fill(unit, n - 40, prefix)
            rig.send(msg(text))
            spent = cpu(lambda p: rig.send(msg(p)), text.encode())
            got = json.loads(rig.link.on("edge/t/result")[-1])
            show(f"request {name} ({xname}; {got['intent']}, {len(got['slots'])} slots)", spent)
    whole = fill("1s", n, "what's the weather ")
    show("cloud slot whose text is the whole request",
         cpu(lambda t: every.cloud_slots(t, "weather", [{"name": "datetime", "text": t}]), whole))


if __name__ == "__main__":
    main()
