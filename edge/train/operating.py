"""Operating points of a shipped package: the thresholds, chosen so that they
hold on traffic the tuning split does not resemble (issue 13).

What went wrong with 1.1.0's rules: the out-of-scope threshold was the
smallest reaching 65% recall on val's 100 out-of-scope items, whose recall
has a 95% interval of about 55-74% and which were easier than the held-out
test's (median confidence 0.03 against 0.09): every rule picking the
threshold from val OOS recall over-promised by 11-14 points. And the
escalation threshold aimed at 2% silent errors at val's composition (3% out
of scope); real traffic (the test split) is 18% out of scope.

Rules (written into the manifest under ``tuning``):

- **oos threshold from an in-scope budget**: the largest threshold (grid
  0.005) whose in-scope accuracy on the tuning split is at most ``budget``
  (0.5 point) below the arg-max accuracy. The in-scope side rests on 3,000
  items, so the cost is known to a few tenths of a point; the recall that
  comes with it is reported, with a 95% Wilson interval, on every real
  out-of-scope item not trained on (val's and the held-out OOS+ ones), not
  used to choose.
- **escalation threshold for a stated out-of-scope share**: the smallest
  threshold >= the oos threshold whose silent error rate at ``oos_share``
  (default 25%, the top of a 20-25% worst case) is <= ``silent``:
  ``(1 - share) * P(kept and wrong | in scope) + share * P(kept | out of scope)``,
  the first term from the tuning split's in-scope items, the second from all
  held-out real out-of-scope items; if that escalates more than
  ``max_escalation`` (9.5%, half a point under the 10% target) of in-scope
  items, the largest threshold within it.

``python -m edge.train.operating --model DIR --data data.json --oos-plus
oos_plus_train.json`` applies the rules to a package through the runtime
(``edge.model.Model``, exactly what the daemon computes) and rewrites its
manifest's thresholds, tuning record and metrics. ``edge train``'s distil
recipe (edge/train/distil.py) applies the same rules, through :func:`apply`, to the
package it builds: its tuning split, plus the --oos-holdout texts of --oos-plus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

GRID = np.round(np.arange(0.0, 1.0, 0.005), 3)


def _select(conf_in, correct_in, conf_oos, budget, share, silent, max_escalation) -> dict:
    """edge.train.tune.select_thresholds (one implementation of the rules) on
    in-scope confidences + correctness and out-of-scope confidences."""
    from edge.train.tune import select_thresholds

    conf_oos = np.asarray(conf_oos, float)
    conf = np.concatenate([np.asarray(conf_in, float), conf_oos])
    y = np.concatenate([np.zeros(len(conf_in), int), np.ones(len(conf_oos), int)])  # 1 = oos
    best = np.concatenate([np.where(np.asarray(correct_in, bool), 0, 2), np.zeros(len(conf_oos), int)])
    return select_thresholds(conf, best, y, 1, budget=budget, oos_share=share, target_silent=silent,
                             max_escalation_in_scope=max_escalation, grid=GRID)


def oos_threshold(conf_in: np.ndarray, correct_in: np.ndarray, budget: float = 0.005) -> float:
    """Largest grid threshold keeping in-scope accuracy >= arg-max accuracy - budget.
    ``correct_in``: the arg-max label is right (before any threshold)."""
    return _select(conf_in, correct_in, [], budget, 0.25, 0.02, 0.095)["oos"]


def silent_at_share(conf_in: np.ndarray, correct_in: np.ndarray, conf_oos: np.ndarray,
                    esc: float, share: float) -> float:
    kept_wrong = float(((conf_in >= esc) & ~correct_in).mean())
    kept_oos = float((conf_oos >= esc).mean())
    return (1.0 - share) * kept_wrong + share * kept_oos


def escalation_threshold(conf_in: np.ndarray, correct_in: np.ndarray, conf_oos: np.ndarray,
                         th: float, share: float = 0.25, silent: float = 0.02,
                         max_escalation: float = 0.095) -> float:
    """The smallest grid threshold >= ``th`` with silent errors <= ``silent`` at
    ``share``, within ``max_escalation`` of in-scope items escalated (else the
    largest within it). ``th`` must be the oos threshold the rules chose."""
    budget_th = oos_threshold(conf_in, correct_in)
    if th != budget_th:  # select_thresholds starts from its own oos threshold
        esc = th
        for t in GRID[GRID >= th]:
            if float((conf_in < t).mean()) > max_escalation + 1e-12:
                break
            esc = float(t)
            if silent_at_share(conf_in, correct_in, conf_oos, esc, share) <= silent:
                break
        return esc
    return _select(conf_in, correct_in, conf_oos, 0.005, share, silent, max_escalation)["escalation"]


def _classify(model, texts: Sequence[str]):
    preds = []
    for i in range(0, len(texts), 32):
        preds += model.classify(list(texts[i:i + 32]))
    return preds


def operating_table(conf_in, correct_in, conf_oos, th, esc, shares=(0.03, 0.18, 0.25)) -> dict:
    from edge.evaluate import wilson

    k, n = int((conf_oos < th).sum()), len(conf_oos)
    return {  # with no out-of-scope items (a tuning split without any): None where they count
        "in_scope_accuracy_argmax": round(float(correct_in.mean()), 6),
        "in_scope_accuracy": round(float(((conf_in >= th) & correct_in).mean()), 6),
        "oos_items": n,
        "oos_recall": round(k / n, 6) if n else None,
        "oos_recall_ci95": wilson(k, n) if n else None,
        "escalation_rate_in_scope": round(float((conf_in < esc).mean()), 6),
        "silent_error_rate_at_share": {str(s): round(silent_at_share(conf_in, correct_in, conf_oos, esc, s), 6)
                                       if n else None for s in shares},
    }


BUDGET, OOS_SHARE, SILENT, MAX_ESCALATION = 0.005, 0.25, 0.02, 0.095


def add_threshold_arguments(p: argparse.ArgumentParser) -> None:
    """The rules' options, for this module's command and ``edge train`` (both recipes).
    ``--max-escalation`` defaults to None: each command fills in its own default."""
    p.add_argument("--oos-budget", "--budget", dest="oos_budget", type=float, default=BUDGET,
                   help="in-scope accuracy the out-of-scope threshold may give up against arg-max "
                        "(default 0.005 = half a point)")
    p.add_argument("--oos-share", type=float, default=OOS_SHARE,
                   help="worst-case share of out-of-scope traffic the escalation threshold is "
                        "chosen for (default 0.25)")
    p.add_argument("--silent-error", "--silent", dest="silent_error", type=float, default=SILENT,
                   help="silent error rate the escalation threshold aims for at --oos-share "
                        "out-of-scope traffic (default 0.02)")
    p.add_argument("--max-escalation", type=float, default=None,
                   help="most in-scope items the escalation threshold may escalate (default 0.095; "
                        "0.11 for the custom-intents recipe of edge train)")


def choose(conf_in, correct_in, conf_val_oos, conf_held, split: str = "val",
           budget: float = BUDGET, share: float = OOS_SHARE, silent: float = SILENT,
           max_escalation: float = MAX_ESCALATION) -> tuple[dict, dict]:
    """(thresholds, report) by the rules above: in-scope confidences and correctness
    from the tuning split; out-of-scope confidences of its oos items and of the
    held-out real ones (``conf_held``, may be empty). ``report`` has the operating
    points on all held-out out-of-scope items and on the held-out ones alone, and
    ``warnings`` (a threshold of 0)."""
    conf_in, correct_in = np.asarray(conf_in, float), np.asarray(correct_in, bool)
    conf_held = np.asarray(conf_held, float)
    conf_oos = np.concatenate([np.asarray(conf_val_oos, float), conf_held])
    sel = _select(conf_in, correct_in, conf_oos, budget, share, silent, max_escalation)
    th, esc = sel["oos"], sel["escalation"]
    report = {
        f"{split}+held_out_oos": operating_table(conf_in, correct_in, conf_oos, th, esc),
        "held_out_oos_only": operating_table(conf_in, correct_in, conf_held, th, esc) if len(conf_held) else None,
    }
    return {"oos": th, "escalation": esc, "warnings": sel["warnings"]}, report


def tuning_record(split: str, held_out_oos: dict | None, budget: float, share: float, silent: float,
                  max_escalation: float, command: str, report: dict) -> dict:
    """The manifest's ``tuning`` section: the rules, their parameters and what they gave."""
    return {
        "split": split,
        "held_out_oos": held_out_oos,
        "in_scope_budget": budget, "oos_share": share, "target_silent_error": silent,
        "max_escalation_in_scope": max_escalation,
        "command": command,
        "rules": __doc__.split("Rules (written into the manifest under ``tuning``):")[1]
        .split("``python -m")[0].strip(),
        "operating_points": report,
    }


def held_out_info(oos_plus: str | Path, n: int, seed: int) -> dict:
    return {"file": Path(oos_plus).name, "n": n, "seed": seed,
            "how": "edge.train.oos.extra_oos: texts not in the data's train/oos_train, "
                   "n of them drawn by seed, not trained on"}


def apply(model_dir: Path, pairs: list, held: list[str], *, split: str = "val", name: str | None = None,
          held_out_oos: dict | None = None, budget: float = BUDGET, share: float = OOS_SHARE,
          silent: float = SILENT, max_escalation: float = MAX_ESCALATION, command: str = "",
          write: bool = True) -> tuple[dict, dict, dict | None]:
    """Chooses a package's thresholds through the runtime (``edge.model.Model``,
    what the daemon computes) on ``pairs`` (the tuning split, (text, label)) and
    ``held`` (held-out real out-of-scope texts), and with ``write`` rewrites its
    manifest's thresholds, ``tuning`` record and ``metrics`` (``{name: evaluate}``).
    Used by ``python -m edge.train.operating`` and ``edge train``'s distil recipe.
    Returns (thresholds + warnings, report, metrics or None)."""
    from edge.evaluate import evaluate
    from edge.model import MANIFEST, OOS, Model

    model_dir = Path(model_dir)
    model = Model.load(model_dir, threads=1)
    preds = _classify(model, [t for t, _ in pairs])
    gold = np.array([g for _, g in pairs])
    ins = gold != OOS
    conf = np.array([x.confidence for x in preds])
    correct = np.array([x.top_intent == g for x, g in zip(preds, gold)])
    conf_held = np.array([x.confidence for x in _classify(model, held)]) if held else np.zeros(0)
    sel, report = choose(conf[ins], correct[ins], conf[~ins], conf_held, name or split,
                         budget, share, silent, max_escalation)
    if not write:
        return sel, report, None
    mpath = model_dir / MANIFEST
    m = json.loads(mpath.read_text(encoding="utf-8"))
    m["thresholds"] = {"oos": sel["oos"], "escalation": sel["escalation"]}
    m["tuning"] = tuning_record(split, held_out_oos, budget, share, silent, max_escalation, command, report)
    mpath.write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    metrics = evaluate(Model.load(model_dir, threads=1), pairs)
    m["metrics"] = {name or split: metrics}
    mpath.write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    return sel, report, metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.train.operating", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="CLINC-format JSON (train, val, oos_val, ...)")
    p.add_argument("--split", default="val")
    p.add_argument("--oos-plus", default=None, help="the --oos-plus file the model was trained with")
    p.add_argument("--oos-holdout", type=int, default=50)
    p.add_argument("--seed", type=int, default=13)
    add_threshold_arguments(p)
    p.add_argument("--write", action="store_true", help="rewrite the package's manifest")
    a = p.parse_args(argv)
    max_esc = MAX_ESCALATION if a.max_escalation is None else a.max_escalation

    from edge.evaluate import load_pairs
    from edge.train.oos import extra_oos

    data = json.loads(Path(a.data).read_text(encoding="utf-8"))
    held: list[str] = []
    if a.oos_plus:
        known = [t for t, _ in data.get("train", [])] + [t for t, _ in data.get("oos_train", [])]
        _, held = extra_oos(a.oos_plus, known, a.oos_holdout, a.seed)
    command = "python -m edge.train.operating " + " ".join(argv if argv is not None else sys.argv[1:])
    sel, report, metrics = apply(
        Path(a.model), load_pairs(a.data, a.split), held, split=a.split,
        held_out_oos=held_out_info(a.oos_plus, len(held), a.seed) if held else None,
        budget=a.oos_budget, share=a.oos_share, silent=a.silent_error, max_escalation=max_esc,
        command=command, write=a.write)
    print(json.dumps({"thresholds": {"oos": sel["oos"], "escalation": sel["escalation"]}, **report}, indent=2))
    if metrics is not None:
        print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
