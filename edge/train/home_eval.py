"""The home model's numbers: what the model card reports, per language.

For a list of (marked text, gold intent) items (``oos`` = out of scope) and a
packaged model, through the runtime (edge.model + edge.slots, as the daemon runs it):

- ``intent_accuracy``: in-scope items whose intent (at the out-of-scope threshold) is
  the gold one.
- ``exact``: ... and whose slots, as (name, words), are exactly the gold ones.
- ``acted``: items the daemon stands behind (an intent, confidence >= the escalation
  threshold); everything else is "not recognized", which is safe.
- ``wrong_action``: in-scope items acted on with a wrong intent or any wrong slot,
  over all in-scope items (refusing would have been safe).
- ``correct_action``: in-scope items acted on with intent and slots right.
- ``polarity_flips``: items of an intent with an opposite (edge.train.home.POLARITY)
  acted on as that opposite, over all items of such intents.
- ``oos_kept``: out-of-scope items not acted on; ``oos_acted`` = 1 - that.

Runtime only (no TensorFlow): ``python -m edge.train.home_eval MODEL FILE...``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Iterable

from edge.dataset import OOS, load_examples
from edge.markup import parse

__all__ = ["evaluate", "slot_set"]


def slot_set(slots: Iterable) -> set[tuple[str, str]]:
    """(slot name, its words in lower case): how two slot lists are compared."""
    out = set()
    for s in slots:
        if isinstance(s, dict):
            out.add((s["name"], " ".join(str(s["raw"]).lower().split())))
        else:
            out.add((s.name, " ".join(s.raw.lower().split())))
    return out


def _opposite() -> dict[str, str]:
    from edge.train.home import POLARITY
    opp = {}
    for a, b in POLARITY:
        opp[a], opp[b] = b, a
    return opp


def evaluate(model, slots, items: list[tuple[str, str]]) -> dict:
    """Metrics (see the module doc) of ``model`` (edge.model.Model) with ``slots``
    (edge.slots.SlotExtractor or None) on ``items``: (marked text, gold intent)."""
    opp = _opposite()
    esc = float(model.manifest["thresholds"]["escalation"])
    golds = [(*parse(m), label) for m, label in items]
    preds = model.classify([t for t, _, _ in golds])
    n_in = sum(1 for *_, g in golds if g != OOS)
    n_oos = len(golds) - n_in
    c = dict(intent=0, exact=0, acted=0, wrong=0, right=0, oos_acted=0, pol_n=0, pol_flip=0)
    errors = []
    for (text, spans, gold), p in zip(golds, preds):
        acted = p.intent != OOS and p.confidence >= esc
        found = slots.extract(text, p.intent) if slots is not None and p.intent != OOS else []
        same_slots = slot_set(found) == slot_set(spans)
        if gold == OOS:
            c["oos_acted"] += acted
            if acted:
                errors.append({"text": text, "gold": gold, "pred": p.intent, "acted": True})
            continue
        ok = p.intent == gold
        c["intent"] += ok
        c["exact"] += ok and same_slots
        c["acted"] += acted
        c["right"] += acted and ok and same_slots
        c["wrong"] += acted and not (ok and same_slots)
        if gold in opp:
            c["pol_n"] += 1
            c["pol_flip"] += acted and p.intent == opp[gold]
        if not (ok and same_slots):
            errors.append({"text": text, "gold": gold, "pred": p.intent, "acted": acted,
                           "gold_slots": sorted(slot_set(spans)), "slots": sorted(slot_set(found))})

    def r(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {"n_in_scope": n_in, "n_oos": n_oos,
            "intent_accuracy": r(c["intent"], n_in), "exact": r(c["exact"], n_in),
            "acted": r(c["acted"], n_in), "correct_action": r(c["right"], n_in),
            "wrong_action": r(c["wrong"], n_in),
            "polarity_items": c["pol_n"], "polarity_flips": r(c["pol_flip"], c["pol_n"]),
            "oos_kept": r(n_oos - c["oos_acted"], n_oos), "oos_acted": r(c["oos_acted"], n_oos),
            "errors": errors}


def latency(model, slots, texts: list[str], passes: int = 3) -> dict:
    """p50/p95 ms of one text at a time: classify, then its slots."""
    import statistics

    def one(t: str) -> None:
        p = model.classify([t])[0]
        if slots is not None and p.intent != OOS:
            slots.extract(t, p.intent)

    for t in texts[:50]:
        one(t)
    ms = []
    for _ in range(passes):
        for t in texts:
            t0 = time.perf_counter()
            one(t)
            ms.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(ms, n=20)
    return {"p50": round(statistics.median(ms), 3), "p95": round(q[18], 3), "n": len(ms)}


def load_items(path: str | Path) -> list[tuple[str, str]]:
    """(marked text, intent) from any format edge train reads (slots marked inline)."""
    from edge.markup import render
    return [(render(e.text, list(e.spans)), e.label) for e in load_examples(path)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.train.home_eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model package directory")
    p.add_argument("files", nargs="+", help="labelled files (intents text or JSON, slots marked)")
    p.add_argument("--errors", type=int, default=0, help="print this many errors per file")
    p.add_argument("--latency", action="store_true",
                   help="also time each text alone (classify + slots, as edge infer --json and "
                        "the daemon do): p50/p95 in ms over 3 passes after a warm-up")
    a = p.parse_args(argv)
    from edge.model import Model
    from edge.service import load_slots
    model = Model.load(a.model, threads=1)
    slots = load_slots(model)
    for f in a.files:
        t0 = time.perf_counter()
        m = evaluate(model, slots, load_items(f))
        errs = m.pop("errors")
        m["seconds"] = round(time.perf_counter() - t0, 2)
        if a.latency:
            m["latency_ms"] = latency(model, slots, [parse(t)[0] for t, _ in load_items(f)])
        print(json.dumps({"file": str(f), **m}))
        for e in errs[: a.errors]:
            print("   ", json.dumps(e, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
