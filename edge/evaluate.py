"""Metrics for ``edge eval`` (runtime only: numpy and edge.model).

Definitions (docs/model-card.md and the interface spec):

- in_scope_accuracy: on in-scope items, predicted intent == gold (predicting
  "oos" counts as wrong); oos_recall: share of "oos" items predicted "oos";
  oos_precision: share of items predicted "oos" that are "oos". All at the
  model's shipped out-of-scope threshold.
- an item is escalated (sent to the cloud by the default policy) when its
  predicted intent is "oos" or its confidence is below the escalation
  threshold. escalation_rate: share of all items escalated;
  escalation_rate_in_scope: share of in-scope items escalated;
  selective_accuracy: accuracy on the items kept on the device;
  silent_error_rate: share of all items kept on the device and wrong.
- auroc: in-scope (positive) versus out-of-scope separability of the
  confidence, rank based with ties averaged.

- slots (when the data mark slots and the model has a slot extractor): slot
  precision, recall and F1 (edge.slot_scores.slot_metrics) on in-scope items,
  slots extracted under the predicted intent.
- beyond the spec's keys: n_in_scope and n_oos (the items each rate rests
  on); oos_kept_rate: share of "oos" items kept on the device (accepted and
  not escalated: answered locally with an intent); ci95: a 95% Wilson score
  interval [low, high] for each rate (null when its denominator is empty).

A ratio whose denominator is empty is reported as null (None).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from edge.dataset import load_examples
from edge.model import OOS, Model, Prediction

__all__ = ["load_pairs", "evaluate", "compute_metrics", "auroc", "wilson", "format_table", "METRIC_KEYS"]

METRIC_KEYS = ("n", "in_scope_accuracy", "oos_recall", "oos_precision", "threshold",
               "escalation_rate", "escalation_rate_in_scope", "selective_accuracy",
               "silent_error_rate", "auroc", "latency_ms", "model")


class Pair(tuple):
    """A (text, label) pair that also carries the slots marked in the text (``.spans``)."""

    spans: tuple = ()

    def __new__(cls, text: str, label: str, spans: tuple = ()):
        p = super().__new__(cls, (text, label))
        p.spans = tuple(spans)
        return p


def load_pairs(path: str | Path, split: str | None = None) -> list[tuple[str, str]]:
    """(text, label) pairs of any format ``edge train`` reads (edge.dataset):
    an intents text file (``## intent`` sections, ``## oos``), an intents JSON
    (``{"intent": [examples]}``) or a JSON of ``[text, label]`` lists. Slot
    markup is stripped. Without ``split`` every list of a pairs JSON is used;
    with a split, the lists ``split`` and ``"oos_" + split`` (e.g. "val" and
    "oos_val"). Raises ValueError (edge.dataset.DataError) naming file and line."""
    return [Pair(e.text, e.label, e.spans) for e in load_examples(path, split)]


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval [low, high] of a proportion k/n (None when n == 0)."""
    if n <= 0:
        return None
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [round(max(0.0, mid - half), 6), round(min(1.0, mid + half), 6)]


def auroc(pos_scores: Iterable[float], neg_scores: Iterable[float]) -> float | None:
    """P(score of a positive > score of a negative), ties counted one half."""
    pos = np.asarray(list(pos_scores), dtype=np.float64)
    neg = np.asarray(list(neg_scores), dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return None
    allv = np.concatenate([pos, neg])
    order = np.argsort(allv, kind="mergesort")
    sorted_v = allv[order]
    ranks = np.empty(allv.size, dtype=np.float64)
    # average ranks (1-based) over runs of ties
    n = allv.size
    bounds = np.flatnonzero(np.diff(sorted_v)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [n]])
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    r_pos = ranks[: pos.size].sum()
    return float((r_pos - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size))


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 6)


def compute_metrics(golds: Sequence[str], preds: Sequence[Prediction], threshold: float,
                    escalation_threshold: float) -> dict:
    """All metrics but latency_ms and model, from gold labels and predictions."""
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold labels but {len(preds)} predictions")
    n = len(golds)
    g_oos = np.array([g == OOS for g in golds], dtype=bool)
    p_oos = np.array([p.intent == OOS for p in preds], dtype=bool)
    correct = np.array([p.intent == g for p, g in zip(preds, golds)], dtype=bool)
    conf = np.array([p.confidence for p in preds], dtype=np.float64)
    escalated = p_oos | (conf < escalation_threshold)
    kept = ~escalated
    ins = ~g_oos
    a = auroc(conf[ins], conf[g_oos])
    n_ins, n_oos = int(ins.sum()), int(g_oos.sum())
    k_acc = int((correct & ins).sum())
    k_rec = int((p_oos & g_oos).sum())
    k_esc_in = int((escalated & ins).sum())
    k_oos_kept = int((kept & g_oos).sum())
    k_silent = int((kept & ~correct).sum())
    k_kept_ok = int((kept & correct).sum())
    return {
        "n": n,
        "in_scope_accuracy": _ratio(int((correct & ins).sum()), int(ins.sum())),
        "oos_recall": _ratio(int((p_oos & g_oos).sum()), int(g_oos.sum())),
        "oos_precision": _ratio(int((p_oos & g_oos).sum()), int(p_oos.sum())),
        "threshold": float(threshold),
        "escalation_rate": _ratio(int(escalated.sum()), n),
        "escalation_rate_in_scope": _ratio(int((escalated & ins).sum()), int(ins.sum())),
        "selective_accuracy": _ratio(int((kept & correct).sum()), int(kept.sum())),
        "silent_error_rate": _ratio(int((kept & ~correct).sum()), n),
        "auroc": None if a is None else round(a, 6),
        # beyond the spec's keys: how many items each rate rests on, the share of
        # out-of-scope items answered on the device (accepted and not escalated),
        # and 95% Wilson intervals
        "n_in_scope": n_ins,
        "n_oos": n_oos,
        "oos_kept_rate": _ratio(k_oos_kept, n_oos),
        "ci95": {
            "in_scope_accuracy": wilson(k_acc, n_ins),
            "oos_recall": wilson(k_rec, n_oos),
            "oos_kept_rate": wilson(k_oos_kept, n_oos),
            "escalation_rate": wilson(int(escalated.sum()), n),
            "escalation_rate_in_scope": wilson(k_esc_in, n_ins),
            "selective_accuracy": wilson(k_kept_ok, int(kept.sum())),
            "silent_error_rate": wilson(k_silent, n),
        },
    }


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 3)


def evaluate(model: Model, pairs: Sequence[tuple[str, str]], escalation_threshold: float | None = None,
             batch_size: int = 32, latency_samples: int = 300) -> dict:
    """Classify ``pairs`` in batches and compute the metrics.

    Latency is measured separately, per utterance with batch 1, on up to
    ``latency_samples`` items spread evenly over ``pairs``.
    """
    esc = model.escalation_threshold if escalation_threshold is None else float(escalation_threshold)
    texts = [t for t, _ in pairs]
    golds = [g for _, g in pairs]
    preds: list[Prediction] = []
    for i in range(0, len(texts), max(1, batch_size)):
        preds.extend(model.classify(texts[i:i + batch_size]))
    metrics = compute_metrics(golds, preds, model.oos_threshold, esc)
    lat: list[float] = []
    if texts and latency_samples > 0:
        step = max(1, len(texts) // latency_samples)
        for t in texts[::step][:latency_samples]:
            t0 = time.perf_counter()
            model.classify([t])
            lat.append((time.perf_counter() - t0) * 1000.0)
    metrics["latency_ms"] = {"p50": _percentile(lat, 50), "p95": _percentile(lat, 95)}
    metrics["model"] = model.ident
    gold_spans = [getattr(p, "spans", ()) for p in pairs]
    if any(gold_spans):
        metrics["slots"] = _slot_metrics(model, texts, golds, preds, gold_spans)
    return metrics


def _slot_metrics(model: Model, texts, golds, preds, gold_spans) -> dict | None:
    """Slot precision/recall/F1 when the data mark slots (edge.slot_scores.slot_metrics: a slot
    counts when name and span both match), end to end: slots extracted under the
    predicted intent, on in-scope items. None when the model has no slot extractor."""
    try:
        from edge.slot_scores import slot_metrics
        from edge.slots import SlotExtractor
        ex = SlotExtractor.load(model.path, model.manifest)
    except Exception:  # no slots module, or a broken section: no slot metrics
        return None
    idx = [i for i, g in enumerate(golds) if g != OOS]
    if ex.empty:
        return {"note": "the model extracts no slots (no slot tagger in its package)",
                "support": sum(len(gold_spans[i]) for i in idx)}
    pred = [ex.extract(texts[i], preds[i].intent) if preds[i].intent != OOS else [] for i in idx]
    return slot_metrics([gold_spans[i] for i in idx], pred, intents=[golds[i] for i in idx])


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _with_ci(metrics: dict, key: str) -> str:
    v = metrics.get(key)
    ci = (metrics.get("ci95") or {}).get(key)
    if v is None or not ci:
        return _fmt(v)
    return f"{_fmt(v)}  (95% CI {ci[0]:.4f}-{ci[1]:.4f})"


def format_table(metrics: dict) -> str:
    rows = [
        ("model", metrics.get("model")),
        ("items (in-scope / out-of-scope)",
         f"{_fmt(metrics.get('n'))} ({_fmt(metrics.get('n_in_scope'))} / {_fmt(metrics.get('n_oos'))})"),
        ("in-scope accuracy", _with_ci(metrics, "in_scope_accuracy")),
        ("out-of-scope recall", _with_ci(metrics, "oos_recall")),
        ("out-of-scope precision", metrics.get("oos_precision")),
        ("out-of-scope threshold", metrics.get("threshold")),
        ("AUROC (in-scope vs oos)", metrics.get("auroc")),
        ("escalation rate", _with_ci(metrics, "escalation_rate")),
        ("escalation rate, in-scope", _with_ci(metrics, "escalation_rate_in_scope")),
        ("selective accuracy", _with_ci(metrics, "selective_accuracy")),
        ("silent error rate", _with_ci(metrics, "silent_error_rate")),
        ("out-of-scope kept on device", _with_ci(metrics, "oos_kept_rate")),
    ]
    sl = metrics.get("slots") or {}
    if sl.get("note"):
        rows.append(("slots", sl["note"]))
    elif sl:
        rows.append(("slots: precision / recall / F1",
                     f"{_fmt(sl.get('precision'))} / {_fmt(sl.get('recall'))} / {_fmt(sl.get('f1'))}"))
    lat = metrics.get("latency_ms") or {}
    rows.append(("latency p50 / p95 (ms)", f"{_fmt(lat.get('p50'))} / {_fmt(lat.get('p95'))}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {_fmt(v)}" for k, v in rows)
