"""Run `edge run` with candidate optimisations applied from outside, to measure them before edge/ changes.

    python bench/variant.py LEVER[,LEVER...] run --config FILE

Each lever is a monkeypatch of the shipped code that stands in for a proposed
edit (docs/performance.md says where the real edit goes); the daemon is
otherwise exactly `python -m edge run`. Levers (the earlier `xnnpack`,
`buckets` and `single` are what edge/model.py now does: ai-edge-litert with
XNNPACK by default, one interpreter, length buckets; `tokenize` too):

- `arena1`    glibc mallopt(M_ARENA_MAX, 1) before any thread starts (in a unit
              file: Environment=MALLOC_ARENA_MAX=1): one malloc arena instead of
              one per thread that allocates;
- `lazycli`   edge/__main__.py: call cmd_run without building the full argparse
              tree, which imports edge.install and edge.train.cli at every start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LEVERS = {"arena1", "lazycli", "none"}


def apply(levers: set[str]) -> None:
    unknown = levers - LEVERS
    if unknown:
        raise SystemExit(f"unknown lever(s) {sorted(unknown)}; known: {sorted(LEVERS)}")
    if "arena1" in levers:
        import ctypes

        M_ARENA_MAX = -8  # glibc malloc.h
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 1)


def main(argv: list[str]) -> int:
    levers = set(argv[0].split(",")) - {""}
    apply(levers)
    from edge import __main__ as cli

    if "lazycli" in levers and argv[1:2] == ["run"]:
        p = argparse.ArgumentParser(prog="edge run")
        p.add_argument("--config")
        p.add_argument("--profile")
        return cli.cmd_run(p.parse_args(argv[2:]))
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
