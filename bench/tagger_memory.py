"""What a model package's slot tagger costs in memory, measured as the daemon would hold it.

    .venv/bin/python bench/tagger_memory.py [--runs 3] [--root OTHER_CHECKOUT ...] [--trace]
    .venv/bin/python bench/tagger_memory.py --speed 20 [--root OTHER_CHECKOUT ...]

Each measurement is a fresh interpreter that imports the daemon's modules (edge.service, as
`edge run` does), reads VmRSS/VmHWM from /proc/self/status, then loads a configuration and
answers one request, and reads them again (after a gc.collect()):

- clinc150: models/clinc150 with its slots (built-in rules, no tagger), one classify + extract;
- home: models/home with its slot tagger (slots.json), one classify + extract;
- home+names+wyoming: models/home, its tagger, the names file (tests/data/home_dev_names.yaml),
  `import edge.wyoming`, one answer through edge.home.HomeRecognizer (what Wyoming runs).

The tagger step (load_slots alone) is reported too. Each `--root` is another checkout of the
project (e.g. main exported with `git archive main | tar -x -C /tmp/base`): the same children run
against its code, side by side, so that before and after are measured the same way on the same
machine at the same time. Reported: the median over `--runs` of each delta, in MB (2**20 bytes).
`--speed N` times SlotExtractor.extract instead (every dev sentence under its own intent, the
fastest of N passes, per call). `--trace` also prints what tracemalloc counts as live after the
tagger loads (Python's own allocations, numpy arrays included; no allocator slack).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = ("clinc150", "home", "home+names+wyoming")

# The child: imports from `root`, the models and names file are this checkout's (the same bytes
# for every root).
CHILD = r"""
import gc, json, sys
root, models, names_file, config, trace = sys.argv[1:6]
sys.path.insert(0, root)

def status():
    out = {}
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(('VmRSS:', 'VmHWM:')):
                out[line[:5]] = int(line.split()[1])
    return out

import edge.service  # the daemon's modules, as `edge run` imports them
from edge.model import Model
from edge.service_build import load_slots
gc.collect()
s0 = status()
home = config != 'clinc150'
model = Model.load(models + ('/home' if home else '/clinc150'))
gc.collect()
s1 = status()
try:  # reset VmHWM to the current RSS (Linux >= 4.0), so that the tagger's own peak shows
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    reset = True
except OSError:
    reset = False
if trace == '1':
    import tracemalloc
    tracemalloc.start()
slots = load_slots(model)
assert slots is not None
traced = None
if trace == '1':
    gc.collect()
    traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
gc.collect()
s2 = status()
if config == 'home+names+wyoming':
    from edge import names
    import edge.wyoming  # noqa: F401
    from edge.home import HomeRecognizer
    rec = HomeRecognizer(model, slots, names.load(names_file), languages=['en'])
    answer = rec.recognize('turn on the kitchen light', 'en')
    assert answer is not None
else:
    text = 'turn on the kitchen light' if home else 'set an alarm for 7 am tomorrow'
    pred = model.classify([text])[0]
    slots.extract(text, pred.intent)
gc.collect()
s3 = status()
print(json.dumps({
    'rss_kb': s3['VmRSS'] - s0['VmRSS'], 'hwm_kb': max(s1['VmHWM'], s3['VmHWM']) - s0['VmRSS'],
    'tagger_rss_kb': s2['VmRSS'] - s1['VmRSS'],
    'tagger_hwm_kb': s2['VmHWM'] - s1['VmRSS'] if reset else float('nan'),
    'base_rss_kb': s0['VmRSS'], 'traced': traced}))
"""


# The child of --speed: SlotExtractor.extract on every dev sentence under its own intent (the
# "## Intent" block it is listed in), all of them once per pass; the fastest of the passes, in CPU
# time (the machine is shared).
SPEED = r"""
import json, sys, time
root, models, data, passes = sys.argv[1:5]
sys.path.insert(0, root)
from pathlib import Path
from edge.markup import parse
from edge.slots import SlotExtractor
x = SlotExtractor.load(models + '/home', json.load(open(models + '/home/manifest.json')))
pairs = []
for p in sorted(Path(data).glob('home_dev*.txt')):
    intent = None
    for line in p.read_text(encoding='utf-8').splitlines():
        line = line.strip()
        if line.startswith('## '):
            intent = line[3:].strip()
        elif line and not line.startswith('#') and intent in x._taggers:
            pairs.append((parse(line)[0], intent))
best = {}
for _ in range(int(passes)):
    for name, f in (('extract', lambda t, i: x.extract(t, i)),
                    ('gaz_ids', lambda t, i: x._taggers[i].gaz_ids(t.lower().split()))):
        t0 = time.process_time()
        for text, intent in pairs:
            f(text, intent)
        us = (time.process_time() - t0) / len(pairs) * 1e6
        best[name] = min(best.get(name, us), us)
print(json.dumps({'pairs': len(pairs), **best}))
"""


def speed(root: Path, passes: int) -> dict:
    out = subprocess.run([sys.executable, "-c", SPEED, str(root), str(ROOT / "models"), str(ROOT / "tests" / "data"),
                          str(passes)], capture_output=True, text=True, cwd=str(root))
    if out.returncode != 0:
        raise SystemExit(f"speed child failed ({root}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(root: Path, config: str, trace: bool) -> dict:
    # as installed: from bytecode, not compiled from source at import (this environment may set
    # PYTHONDONTWRITEBYTECODE; compiling costs memory the daemon does not spend): each root gets its
    # own bytecode cache, written by a first run that is not counted
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "edge-tagger-memory-pyc",
                                              hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12])
    cmd = [sys.executable, "-c", CHILD, str(root), str(ROOT / "models"),
           str(ROOT / "tests" / "data" / "home_dev_names.yaml"), config, "1" if trace else "0"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(root))
    if out.returncode != 0:
        raise SystemExit(f"child failed ({root}, {config}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--root", action="append", default=[], help="another checkout to measure side by side")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--trace", action="store_true", help="also tracemalloc's live bytes after the tagger loads")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--speed", type=int, default=0, metavar="PASSES",
                    help="only time extract (and the known-values lookup) per dev sentence, fastest of PASSES")
    args = ap.parse_args()
    roots = [ROOT] + [Path(r) for r in args.root]
    if args.speed:
        for _ in range(2):  # two rounds, interleaved: the machine's load moves
            for r in roots:
                m = speed(r, args.speed)
                print(f"{str(r)[-28:]:28s} {m['pairs']} (sentence, its intent): extract {m['extract']:.1f} us, "
                      f"known-values lookup {m['gaz_ids']:.2f} us (fastest of {args.speed} passes)")
        return 0
    configs = args.configs.split(",")
    for root in roots:  # write each root's bytecode cache
        child(root, configs[0], False)
    runs: dict[tuple[str, str], list[dict]] = {(str(r), c): [] for r in roots for c in configs}
    for _ in range(args.runs):  # interleaved: a burst of load on the shared machine hits every column
        for c in configs:
            for r in roots:
                runs[str(r), c].append(child(r, c, False))
    med = {k: {f: statistics.median(x[f] for x in v) / 1024 for f in ("rss_kb", "hwm_kb", "tagger_rss_kb",
                                                                         "tagger_hwm_kb")}
           for k, v in runs.items()}
    print(f"median of {args.runs} fresh processes, MB over the daemon's imports (VmRSS; VmHWM: the peak)")
    print(f"{'checkout':28s} {'configuration':20s} {'RSS':>7s} {'peak':>7s} {'tagger RSS':>11s} {'tagger peak':>12s}")
    for r in roots:
        for c in configs:
            m = med[str(r), c]
            print(f"{str(r)[-28:]:28s} {c:20s} {m['rss_kb']:+7.1f} {m['hwm_kb']:+7.1f} {m['tagger_rss_kb']:+11.1f} "
                  f"{m['tagger_hwm_kb']:+12.1f}")
    if args.trace:
        for r in roots:
            t = child(r, "home", True)["traced"]
            print(f"{str(r)[-28:]:28s} tracemalloc after loading the home tagger: live {t[0] / 2**20:.2f} MB, "
                  f"peak {t[1] / 2**20:.2f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": {f"{r}|{c}": v for (r, c), v in runs.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
