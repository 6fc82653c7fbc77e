"""Calibration temperature and thresholds, chosen on held-out scores.

One set of rules, :data:`RULES`
(:func:`select_thresholds`, used by ``edge train`` for custom intents on
cross-validated scores, and by :mod:`edge.train.operating` for CLINC150's val):

- oos threshold, from an in-scope budget: the largest threshold at which
  in-scope accuracy (gold label predicted and not rejected) is still within
  ``budget`` (default half a point) of arg-max in-scope accuracy. It does not
  depend on a point estimate of out-of-scope recall, which a few hundred
  out-of-scope items cannot pin down and which over-promised by 11-14 points
  on CLINC150 (issue 13).
- escalation threshold, for a stated worst-case out-of-scope share ``s``
  (default 0.25): the smallest threshold >= the oos threshold whose silent
  error rate at that share, ``(1 - s) * P(kept and wrong | in scope) +
  s * P(kept | out of scope)``, is <= ``target_silent``, unless that escalates
  more than ``max_escalation_in_scope`` of in-scope items; then the largest
  threshold within that limit.
- a threshold of zero is never silent: it comes back with a warning.
- :func:`expected_rates` gives the rates those thresholds imply on the same
  items, each with a 95% Wilson interval.
- temperature (:func:`fit_temperature`): minimises the negative log-likelihood of
  the held-out scores (in-scope items -> their label, out-of-scope items -> the
  "oos" class).

``edge train``'s distil recipe (CLINC150) applies the same rules through
:mod:`edge.train.operating` on a tuning split plus held-out real out-of-scope
requests. The rule it used before (the smallest threshold reaching a target
out-of-scope recall on the tuning split, ``--oos-recall``) is gone.
"""

from __future__ import annotations

import numpy as np

from edge.evaluate import wilson

RULES = (
    "temperature: minimises the negative log-likelihood of the held-out scores (in-scope -> "
    "label, out-of-scope -> 'oos'); oos threshold: the largest threshold at which in-scope "
    "accuracy stays within oos_budget of arg-max in-scope accuracy; escalation threshold: the "
    "smallest threshold >= the oos threshold whose silent error rate at the worst-case "
    "out-of-scope share oos_share is <= target_silent_error, unless that escalates more than "
    "max_escalation_in_scope of in-scope items, then the largest within that limit "
    "(edge/train/tune.py)")
# thresholds tried: every 0.005, and 40 steps on a log scale from 1e-4 to 0.05, because a
# model with an "oos" class gives most out-of-scope requests a confidence far below 0.005
# (a threshold of 0.005 rejected 70% of them on the Snips measurement)
GRID = np.unique(np.round(np.concatenate([np.arange(0.0, 1.0, 0.005),
                                          np.geomspace(1e-4, 0.05, 40)]), 6))


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


def select_thresholds(conf: np.ndarray, best: np.ndarray, y: np.ndarray, oos: int,
                      budget: float = 0.005, oos_share: float = 0.25, target_silent: float = 0.02,
                      max_escalation_in_scope: float = 0.10, grid: np.ndarray = GRID) -> dict:
    """{"oos", "escalation", "argmax_accuracy", "warnings"} by the rules of :data:`RULES`.

    ``conf``: calibrated confidence of the best in-scope label per item; ``best``:
    that label's index; ``y``: gold class index (``oos`` for out-of-scope items).
    Scores must be held out (cross-validation or a tuning split)."""
    conf, best, y = np.asarray(conf, float), np.asarray(best), np.asarray(y)
    ins = y != oos
    warnings: list[str] = []
    if not ins.any():
        raise ValueError("select_thresholds: no in-scope items")
    right = (best == y) & ins
    acc0 = float(right[ins].mean())
    # with few items half a point can be less than one item: then the threshold stays
    # below every right answer's confidence (the fine low end of GRID keeps it above 0)
    allowed = budget
    th = 0.0
    for t in grid:
        if (right & (conf >= t))[ins].mean() >= acc0 - allowed - 1e-12:
            th = float(t)
        else:
            break
    n_oos = int((~ins).sum())
    if th == 0.0:
        warnings.append("OOS THRESHOLD IS 0: any confidence is accepted, so the model never "
                        "answers 'oos' by itself (the in-scope budget leaves no room: "
                        "in-scope confidence is too spread); only escalation can catch "
                        "out-of-scope requests")
    esc = th
    if n_oos == 0:
        warnings.append("no out-of-scope items to choose the escalation threshold on: it is set "
                        "to the oos threshold; give '## oos' examples or keep the shipped negatives")
    else:
        for t in grid[grid >= th]:
            kept = conf >= t
            esc_in = float((~kept)[ins].mean())
            if esc_in > max_escalation_in_scope + 1e-12:
                break
            esc = float(t)
            silent = ((1 - oos_share) * float((kept & ~right)[ins].mean())
                      + oos_share * float(kept[~ins].mean()))
            if silent <= target_silent:
                break
    if esc == 0.0:
        warnings.append("ESCALATION THRESHOLD IS 0: nothing is escalated by confidence; every "
                        "request the model does not call 'oos' is answered on the device")
    return {"oos": th, "escalation": esc, "argmax_accuracy": round(acc0, 6), "warnings": warnings}


def _rate(mask: np.ndarray, of: np.ndarray) -> dict:
    n = int(of.sum())
    k = int((mask & of).sum())
    return {"k": k, "n": n, "rate": None if n == 0 else round(k / n, 4), "ci95": wilson(k, n)}


def expected_rates(conf: np.ndarray, best: np.ndarray, y: np.ndarray, oos: int, th: float,
                   esc: float, subsets: dict[str, np.ndarray] | None = None,
                   oos_share: float = 0.25) -> dict:
    """What thresholds ``th``/``esc`` do on held-out scores, with 95% Wilson intervals:
    in-scope accuracy and escalation, and for out-of-scope items (all, and each named
    subset) the share rejected as 'oos', escalated, and kept on the device."""
    conf, best, y = np.asarray(conf, float), np.asarray(best), np.asarray(y)
    ins = y != oos
    rejected = conf < th
    escalated = conf < max(th, esc)
    right = (best == y) & ins & ~rejected
    out = {
        "in_scope": {
            "argmax_accuracy": _rate((best == y), ins),
            "accuracy": _rate(right, ins),
            "escalated": _rate(escalated, ins),
            "kept_and_wrong": _rate(~escalated & ~right, ins),
        },
        "oos": {},
    }
    parts = {"all": ~ins}
    for name, m in (subsets or {}).items():
        m = np.asarray(m, bool) & ~ins
        if m.any():
            parts[name] = m
    for name, m in parts.items():
        out["oos"][name] = {"rejected": _rate(rejected, m), "escalated": _rate(escalated, m),
                            "kept": _rate(~escalated, m)}
    if (~ins).any():
        out["silent_error_at_share"] = {
            "oos_share": oos_share,
            "rate": round((1 - oos_share) * out["in_scope"]["kept_and_wrong"]["rate"]
                          + oos_share * out["oos"]["all"]["kept"]["rate"], 4)}
    return out


def data_warnings(counts: dict[str, int], labels: list[str], rep: dict) -> list[str]:
    """Plain-language warnings when the held-out numbers rest on too few items."""
    w = []
    n_in = rep["in_scope"]["accuracy"]["n"]
    lo, hi = rep["in_scope"]["escalated"]["ci95"] or (0.0, 1.0)
    if n_in < 100 or hi - lo > 0.10:
        w.append(f"only {n_in} in-scope examples: expected in-scope escalation is known only to "
                 f"within {lo:.0%}-{hi:.0%}; add examples for firmer numbers")
    n_oos = rep["oos"].get("all", {}).get("kept", {}).get("n", 0)
    if n_oos < 30:
        w.append(f"only {n_oos} out-of-scope items to check the thresholds on: the out-of-scope "
                 "numbers are too uncertain to trust")
    return w


def _pct(r: dict) -> str:
    if r["rate"] is None:
        return "n/a"
    lo, hi = r["ci95"]
    return f"{r['rate']:.1%} (95% CI {lo:.1%}-{hi:.1%}, {r['k']}/{r['n']})"


def format_expected(rep: dict, th: float, esc: float, temperature: float, folds: int) -> str:
    """The summary ``edge train`` prints."""
    ins = rep["in_scope"]
    lines = [f"thresholds: oos {th}, escalation {esc}, temperature {temperature} "
             f"(from {folds}-fold cross-validation; every item scored by a model that never saw it)",
             f"expected in-scope accuracy:           {_pct(ins['accuracy'])}",
             f"expected in-scope escalated to cloud: {_pct(ins['escalated'])}"]
    for name, r in rep["oos"].items():
        lines.append(f"out-of-scope ({name}): rejected as oos {_pct(r['rejected'])}; "
                     f"escalated {_pct(r['escalated'])}; kept on device {_pct(r['kept'])}")
    if "silent_error_at_share" in rep:
        s = rep["silent_error_at_share"]
        lines.append(f"silent errors at {s['oos_share']:.0%} out-of-scope traffic: {s['rate']:.1%}")
    return "\n".join(lines)
