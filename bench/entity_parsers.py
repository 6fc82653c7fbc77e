"""Measure candidate entity parsers for edge's built-ins (issue 15): import RSS and time per utterance.

Run each candidate in a throwaway venv of its own (not the project's):

    python3 -m venv /tmp/pv-X && /tmp/pv-X/bin/pip install X
    /tmp/pv-X/bin/python bench/entity_parsers.py X

Prints one JSON line: installed size of the venv's site-packages over a bare venv's, RSS
after import and after the first parse, mean and p95 time per utterance over PHRASES.
`edge` (the project's own edge.entities) is measured the same way with the project venv.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import resource
import statistics
import sys
import time

PHRASES = [
    "set an alarm for 7 am tomorrow", "wake me up at half past six", "remind me in 20 minutes",
    "set a timer for two and a half hours", "transfer 250 dollars to savings", "send $1,200.50 to mom",
    "turn the volume to 40 percent", "set the thermostat to 72 degrees", "what is the weather next friday",
    "book a table for four at 8 pm on march 3rd", "play the third song", "roll twenty one dice",
    "how many calories in a banana", "schedule a meeting for the 15th of june at noon",
    "what time is it in tokyo", "add eggs to my shopping list", "in three weeks", "for 90 seconds",
]
NOW = dt.datetime(2026, 11, 28, 9, 30)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def site_size_mb() -> float:
    import sysconfig
    root = sysconfig.get_paths()["purelib"]
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total / 1e6


def candidates(name: str):
    if name == "ovos-date-parser":
        from ovos_date_parser import extract_datetime, extract_duration
        from ovos_number_parser import extract_number

        def f(t):
            return (extract_datetime(t, anchorDate=NOW, lang="en"), extract_duration(t, lang="en"),
                    extract_number(t, lang="en"))
        return f
    if name == "ovos-number-parser":
        from ovos_number_parser import extract_number
        return lambda t: extract_number(t, lang="en")
    if name == "text2num":
        from text_to_num import alpha2digit
        return lambda t: alpha2digit(t, "en")
    if name == "dateparser":
        from dateparser.search import search_dates
        return lambda t: search_dates(t, languages=["en"], settings={"RELATIVE_BASE": NOW})
    if name == "edge":
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from edge.entities import find
        return lambda t: find(t, now=NOW)
    raise SystemExit(f"unknown candidate {name}")


def main() -> None:
    name = sys.argv[1]
    r0 = rss_mb()
    t0 = time.perf_counter()
    f = candidates(name)
    t_import = time.perf_counter() - t0
    r1 = rss_mb()
    f(PHRASES[0])
    r2 = rss_mb()
    times = []
    for _ in range(5):
        for p in PHRASES:
            t = time.perf_counter()
            f(p)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(json.dumps({
        "parser": name, "site_packages_mb": round(site_size_mb(), 1),
        "rss_before_mb": round(r0, 1), "import_rss_mb": round(r1 - r0, 1), "after_first_parse_mb": round(r2 - r0, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "import_s": round(t_import, 3),
        "ms_per_utterance": {"mean": round(statistics.fmean(times), 3), "p50": round(times[len(times) // 2], 3),
                             "p95": round(times[int(len(times) * 0.95)], 3)},
    }))


if __name__ == "__main__":
    main()
