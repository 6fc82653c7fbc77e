"""Run `edge run` with candidate optimisations applied from outside, to measure them before edge/ changes.

    python bench/variant.py LEVER[,LEVER...] run --config FILE

Each lever is a monkeypatch of the shipped code that stands in for a proposed
edit (docs/performance.md says where the real edit goes); the daemon is
otherwise exactly `python -m edge run`. Levers:

- `xnnpack`   edge/model.py make_interpreter: let the runtime apply its default
              XNNPACK delegate (int8 kernels in ai-edge-litert) instead of
              BUILTIN_WITHOUT_DEFAULT_DELEGATES;
- `tokenize`  edge/model.py encode_ids: `sp.encode(text)` per utterance instead of
              one `sp.encode(list)` (the list form starts a thread pool per call);
- `buckets`   edge/model.py _BUCKETS = (1, 8, 32): three interpreters instead of
              seven (each holds its own arena and, with XNNPACK, packed weights);
- `single`    edge/model.py _BUCKETS = (1,): one interpreter, a batch runs as
              back-to-back single invokes (XNNPACK gains little from batching here);
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
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import edge.model as em  # noqa: E402

LEVERS = {"xnnpack", "tokenize", "buckets", "single", "arena1", "lazycli", "none"}


def encode_ids_per_item(sp, texts: Sequence[str], max_len: int) -> np.ndarray:
    out = np.zeros((len(texts), max_len), dtype=np.int32)
    for i, t in enumerate(texts):
        ids = sp.encode(em.normalize_text(t), out_type=int)[:max_len]
        if ids:
            out[i, : len(ids)] = ids
    return out


def apply(levers: set[str]) -> None:
    unknown = levers - LEVERS
    if unknown:
        raise SystemExit(f"unknown lever(s) {sorted(unknown)}; known: {sorted(LEVERS)}")
    if "xnnpack" in levers:
        em._RESOLVER = em.OpResolverType.AUTO  # noqa: SLF001 - the runtime's default: XNNPACK applied
    if "tokenize" in levers:
        em.encode_ids = encode_ids_per_item
    if "buckets" in levers:
        em._BUCKETS = (1, 8, 32)  # noqa: SLF001
    if "single" in levers:
        em._BUCKETS = (1,)  # noqa: SLF001
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
