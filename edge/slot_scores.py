"""Slot precision, recall and F1 (`slot_metrics`) and their per-slot table (`format_per_slot`), for
`edge eval` and bench/slots.py.

A slot counts when its name and span (start, end) both equal a marked one's. Scoring only: nothing at
run time needs it, so it lives apart from edge/slots.py (which extracts slots; it re-exports these two names
when asked, so `from edge.slots import slot_metrics` keeps working without a daemon importing this).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["slot_metrics", "format_per_slot"]


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def _triples(slots: Iterable[Any]) -> list[tuple[str, int, int]]:
    out = []
    for s in slots:
        if isinstance(s, dict):
            out.append((s["name"], int(s["start"]), int(s["end"])))
        else:  # edge.markup.Span (start, end, name, raw) or (name, start, end)
            out.append((s[2], int(s[0]), int(s[1])) if isinstance(s[0], int) else (s[0], int(s[1]), int(s[2])))
    return out


def slot_metrics(gold: Sequence[Iterable[Any]], pred: Sequence[Iterable[Any]],
                 intents: Sequence[str] | None = None) -> dict[str, Any]:
    """Slot precision, recall and F1: a predicted slot counts when its name and span (start, end)
    both equal a marked one's.

    `gold[i]` and `pred[i]` are the slots of item i: markup Spans, result slot dicts, or
    (name, start, end) triples. Returns overall (micro) precision/recall/F1, `per_slot`
    {name: {precision, recall, f1, support}}, `macro_f1` (the mean F1 over slot names) and,
    with `intents` (each item's gold intent), `macro_f1_intent_slot`: the mean over
    (intent, slot) pairs, as the Snips benchmark averages.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold items but {len(pred)} predictions")
    counts: dict[Any, list[int]] = {}  # key -> [tp, n_pred, n_gold]
    pair_counts: dict[Any, list[int]] = {}
    tp_all = np_all = ng_all = 0
    for k, (g, p) in enumerate(zip(gold, pred)):
        gs, ps = _triples(g), _triples(p)
        gset = set(gs)
        pset = set(ps)
        for name, a, b in ps:
            hit = (name, a, b) in gset
            for key, table in ((name, counts), ((intents[k], name) if intents else None, pair_counts)):
                if key is None:
                    continue
                c = table.setdefault(key, [0, 0, 0])
                c[1] += 1
                c[0] += hit
        for name, a, b in gs:
            for key, table in ((name, counts), ((intents[k], name) if intents else None, pair_counts)):
                if key is None:
                    continue
                table.setdefault(key, [0, 0, 0])[2] += 1
        tp_all += len(pset & gset)
        np_all += len(ps)
        ng_all += len(gs)
    per_slot = {name: {**_prf(*c), "support": c[2]} for name, c in sorted(counts.items())}
    gold_names = [n for n, c in counts.items() if c[2] > 0]
    out: dict[str, Any] = {**_prf(tp_all, np_all, ng_all), "support": ng_all,
                           "macro_f1": round(float(np.mean([per_slot[n]["f1"] for n in gold_names])), 4)
                           if gold_names else 0.0,
                           "per_slot": per_slot}
    if intents:
        pairs = [c for c in pair_counts.values() if c[2] > 0]
        out["macro_f1_intent_slot"] = round(float(np.mean([_prf(*c)["f1"] for c in pairs])), 4) if pairs else 0.0
    return out


def format_per_slot(metrics: dict[str, Any]) -> str:
    """The per-slot table of `slot_metrics` (for `edge eval --per-slot`)."""
    per = metrics.get("per_slot") or {}
    if not per:
        return "no slots marked in the data" if not metrics.get("note") else str(metrics["note"])
    width = max(12, max(len(k) for k in per))
    lines = [f"{'slot':<{width}}  precision  recall      f1  support"]
    for name, m in per.items():
        lines.append(f"{name:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  {m['support']:7d}")
    lines.append(f"{'F1 averaged over slot types':<{width}}  {metrics.get('macro_f1', 0.0):.4f}")
    if "macro_f1_intent_slot" in metrics:
        lines.append(f"{'F1 averaged over (intent, slot) pairs':<{width}}  {metrics['macro_f1_intent_slot']:.4f}")
    return "\n".join(lines)

