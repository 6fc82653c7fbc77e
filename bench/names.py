"""What resolving a span costs: Names.resolve() per call, on the test home and on a generated large one.

    .venv/bin/python bench/names.py [--reps 2000]

Prints the median and best of 7 runs per case, in microseconds per call, and
the time to build each Names (validation plus the lookups of every language).
The large home is 1,000 entities in 60 areas with generated names (seeded), to
show how the fuzzy path grows with the size of a home.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.names import Names, load  # noqa: E402
from edge.names_file import parse  # noqa: E402

HOME = Path(__file__).resolve().parent.parent / "tests" / "data" / "home_names.yaml"
SMALL = {
    "exact name (en)": ({"name": "the coffee maker"}, "en"),
    "alias (de)": ({"name": "die Kaffeemaschine"}, "de"),
    "area + domain (en)": ({"name": "the kitchen lights"}, "en"),
    "compound (de)": ({"name": "die Küchenlampen"}, "de"),
    "domain de place (fr)": ({"name": "les lumières du salon"}, "fr"),
    "area and domain slots (de)": ({"area": "in der Küche", "domain": "Lampen"}, "de"),
    "slip corrected (en)": ({"name": "cofee maker"}, "en"),
    "unknown, full search (en)": ({"name": "jacuzzi on the patio"}, "en"),
    "16 KiB span (en)": ({"name": "x" * 16384}, "en"),
}


def large_home(seed: int = 7) -> Names:
    r = random.Random(seed)
    words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
             "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()
    kinds = ["light", "switch", "fan", "cover", "sensor", "media_player", "climate", "lock"]
    areas = [{"id": f"a{i}", "name": f"{r.choice(words).title()} Room {i}"} for i in range(60)]
    entities = []
    for i in range(1000):
        kind = r.choice(kinds)
        name = f"{r.choice(words).title()} {r.choice(words).title()} {kind.replace('_', ' ').title()} {i}"
        entities.append({"id": f"{kind}.e{i}", "name": name, "area": f"a{r.randrange(60)}"})
    return Names.from_data(parse({"areas": areas, "entities": entities}, "generated"))


def per_call(names: Names, slots: dict[str, Any], language: str, reps: int) -> tuple[float, float, Any]:
    runs = []
    result = None
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            result = names.resolve(slots, language)
        runs.append((time.perf_counter() - t0) / reps * 1e6)
    return statistics.median(runs), min(runs), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    small = load(HOME)
    print(f"build: test home ({len(small.entities)} entities, {len(small.areas)} areas): "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms")
    t0 = time.perf_counter()
    big = large_home()
    print(f"build: generated home ({len(big.entities)} entities, {len(big.areas)} areas): "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms")
    e = big.entities[500].name
    large = {
        "exact name": ({"name": e}, "en"),
        "slip corrected": ({"name": e[:3] + e[4:]}, "en"),
        "unknown, full search": ({"name": "jacuzzi on the patio"}, "en"),
        "area + domain": ({"name": f"{next(iter(big.areas.values())).name} lights"}, "en"),
    }
    for title, names, cases in (("test home", small, SMALL), ("generated home", big, large)):
        print(f"\n{title}: us per resolve() call, median / best of 7 x {args.reps}")
        for label, (slots, language) in cases.items():
            med, best, result = per_call(names, slots, language, args.reps)
            outcome = getattr(result, "reason", None) or "resolved"
            print(f"  {label:28s} {med:8.1f} {best:8.1f}   ({outcome})")


if __name__ == "__main__":
    main()
