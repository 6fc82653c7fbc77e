"""Calibration temperature and thresholds, chosen on the tuning split.

Rules (also written into the manifest under "tuning"):
- temperature: minimises the negative log-likelihood of the tuning split
  (in-scope items -> their label, out-of-scope items -> the "oos" class).
- oos threshold: the smallest threshold whose out-of-scope recall reaches
  ``target_oos_recall`` (it keeps the most in-scope accuracy); if none
  reaches it, the one maximising in-scope accuracy + oos recall.
- escalation threshold: the smallest threshold >= the oos threshold whose
  silent error rate is <= ``target_silent``, unless that escalates more than
  ``max_escalation_in_scope`` of in-scope items; then the largest threshold
  that stays within that limit.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    best_t, best = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(8.0), 121)):
        p = softmax(logits / t)
        nll = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        if nll < best:
            best, best_t = nll, float(t)
    return round(best_t, 4)


def confidences(logits: np.ndarray, temperature: float, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    p = softmax(logits / temperature)
    best = p[:, :n_labels].argmax(axis=1)
    return p[np.arange(len(p)), best], best


def _rates(conf, best, y, oos, th, esc):
    ins = y != oos
    pred_oos = conf < th
    correct = (~pred_oos) & (best == y)
    escal = pred_oos | (conf < esc)
    kept = ~escal
    acc = correct[ins].mean() if ins.any() else 0.0
    rec = pred_oos[~ins].mean() if (~ins).any() else 1.0
    silent = (kept & ~correct).mean()
    esc_in = escal[ins].mean() if ins.any() else 0.0
    return acc, rec, silent, esc_in


def choose_thresholds(conf: np.ndarray, best: np.ndarray, y: np.ndarray, oos: int,
                      target_oos_recall: float = 0.65, target_silent: float = 0.02,
                      max_escalation_in_scope: float = 0.10) -> tuple[float, float]:
    grid = np.round(np.arange(0.0, 1.0, 0.005), 3)
    th = None
    for t in grid:
        _, rec, _, _ = _rates(conf, best, y, oos, t, t)
        if rec >= target_oos_recall:
            th = float(t)
            break
    if th is None:
        scores = [sum(_rates(conf, best, y, oos, t, t)[:2]) for t in grid]
        th = float(grid[int(np.argmax(scores))])
    esc = th
    for t in grid[grid >= th]:
        _, _, silent, esc_in = _rates(conf, best, y, oos, th, t)
        if esc_in > max_escalation_in_scope:
            break
        esc = float(t)
        if silent <= target_silent:
            break
    return th, esc
