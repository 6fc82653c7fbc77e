"""What a package must prove on a device before it takes requests: the manifest's
``selftest`` examples, and the ``requires_runtime`` it needs.

``edge train`` calls :func:`record` once the package is complete (model, thresholds,
slots): it runs the packaged model through the runtime over the training examples and
keeps, per intent, up to ``per_intent`` examples that it answers with the right intent
and a confidence clear of the escalation threshold (by MARGIN, so that another TFLite
runtime, which may differ by one int8 step, agrees), preferring examples with slots.
Each entry holds the text, the expected intent and the expected slots (name and span):
the marked spans when the data marks slots (and then only examples the extractor gets
exactly right), else what the package's extractor finds. A few out-of-scope training
examples the model rejects with a margin are kept too, under the intent "oos".

:func:`check` (from edge/selftest.py, which the daemon may import) is the comparison the
device runs. For the shipped package:
``python -m edge.train.selftest --model models/clinc150 --data data.json --split train --write``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from edge.selftest import check, extractor, slot_spans  # the device's side: runtime only

__all__ = ["check", "choose", "record", "dumps", "examples_of", "requires_runtime"]

PER_INTENT = 3
PER_OOS = 3
MARGIN = 0.05  # of confidence, beyond the threshold an example must clear


def requires_runtime() -> str:
    """The edge version this code is: the oldest runtime a package made now is known to run on."""
    from edge import __version__

    return __version__


def choose(model, examples: Sequence[tuple[str, str, Sequence | None]], per_intent: int = PER_INTENT,
           per_oos: int = PER_OOS, margin: float = MARGIN) -> list[dict]:
    """Self-test entries from ``examples``: (text, label, marked spans or None when the data
    marks no slots). In label order, then data order (examples with slots first)."""
    from edge.model import OOS, normalize_text

    slots = extractor(model)
    esc, oos_th = model.escalation_threshold, model.oos_threshold
    keep_at = min(esc + margin, (1.0 + esc) / 2)   # in scope: kept on the device, with room
    reject_below = max(oos_th - margin, oos_th / 2)  # out of scope: rejected, with room
    seen: set[str] = set()
    cands = []
    for text, label, spans in examples:
        key = normalize_text(text)
        if key and key not in seen and len(text) <= 200:
            seen.add(key)
            cands.append((text, label, spans))
    preds = model.classify([t for t, _, _ in cands])
    chosen: dict[str, list[dict]] = {}
    for (text, label, spans), pred in zip(cands, preds):
        if pred.intent != label:
            continue
        if label == OOS:
            if pred.confidence < reject_below:
                chosen.setdefault(OOS, []).append({"text": text, "intent": OOS, "slots": []})
            continue
        if pred.confidence < keep_at:
            continue
        found = slot_spans(slots.extract(text, label)) if slots is not None else []
        if spans is not None:  # the data marks slots: the extractor must find exactly those
            marked = slot_spans({"name": s.name, "raw": s.raw, "start": s.start, "end": s.end} for s in spans)
            if found != marked:
                continue
        chosen.setdefault(label, []).append({"text": text, "intent": label, "slots": found})
    out = []
    for label in [*model.labels, OOS]:
        group = chosen.get(label, [])
        group.sort(key=lambda e: not e["slots"])  # stable: data order, those with slots first
        out.extend(group[:per_oos if label == OOS else per_intent])
    return out


def record(pkg: Path, examples: Sequence[tuple[str, str, Sequence | None]], per_intent: int = PER_INTENT) -> dict:
    """Write ``requires_runtime`` and ``selftest`` into the package's manifest (the files'
    sha256 list does not change: the manifest is not in it). Returns the manifest."""
    from edge.model import Model

    model = Model.load(pkg, threads=1)
    entries = choose(model, examples, per_intent)
    bad = check(model, entries)
    if bad:  # cannot happen unless choose() and check() disagree; never ship a failing test
        raise RuntimeError(f"self-test entries fail on their own package: {bad[:3]}")
    path = Path(pkg) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["requires_runtime"] = requires_runtime()
    manifest["selftest"] = entries
    path.write_text(dumps(manifest), encoding="utf-8")
    return manifest


def dumps(manifest: dict) -> str:
    """The manifest as ``json.dumps(indent=2)`` writes it, but one self-test entry a line
    (450 entries of six lines each would be most of the file)."""
    entries = manifest.get("selftest")
    if not entries:
        return json.dumps(manifest, indent=2) + "\n"
    mark = "\0selftest\0"
    text = json.dumps({**manifest, "selftest": mark}, indent=2)
    lines = ",\n    ".join(json.dumps(e, ensure_ascii=False) for e in entries)
    return text.replace(json.dumps(mark), "[\n    " + lines + "\n  ]", 1) + "\n"


def examples_of(data: str | Path, split: str | None = None) -> list[tuple[str, str, Sequence | None]]:
    """(text, label, spans) from any file edge train reads; spans None when nothing is marked."""
    from edge.dataset import load_examples

    ex = load_examples(data, split)
    marked = any(e.spans for e in ex)
    return [(e.text, e.label, e.spans if marked else None) for e in ex]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.train.selftest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="package directory")
    p.add_argument("--data", required=True, help="its training data (any format edge train reads)")
    p.add_argument("--split", default=None, help="e.g. train: the 'train' and 'oos_train' lists of a CLINC file")
    p.add_argument("--per-intent", type=int, default=PER_INTENT)
    p.add_argument("--write", action="store_true", help="write them into the manifest (else print)")
    args = p.parse_args(argv)
    examples = examples_of(args.data, args.split)
    if args.write:
        m = record(Path(args.model), examples, args.per_intent)
        print(f"{len(m['selftest'])} self-test examples written, requires_runtime {m['requires_runtime']}")
    else:
        from edge.model import Model

        print(json.dumps(choose(Model.load(args.model), examples, args.per_intent), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
