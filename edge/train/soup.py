"""Weight averages ("model soups") of students that share one starting point.

    python -m edge.train.soup --base models/clinc150 --students A.npz B.npz \\
        --data data.json --oos-plus oos_plus_train.json --out DIR --version 2.0.0

Refits of one base package (:mod:`edge.train.refit`) stay in one basin of the
loss, so the plain average of their float weights is a network of the same
size that is usually better than each of them (Wortsman et al., "Model
soups", ICML 2022), at no cost on the device. ``--base-weight`` mixes in the
base package's own (dequantized) weights as one more ingredient.
The average is exported, calibrated and thresholded exactly as a refit is.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def average(students, weights=None):
    weights = np.ones(len(students)) / len(students) if weights is None else np.asarray(weights, float)
    weights = weights / weights.sum()
    out = students[0]
    for i, v in enumerate(out.trainable_variables):
        v.assign(sum(w * s.trainable_variables[i].numpy() for w, s in zip(weights, students)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.train.soup", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True)
    p.add_argument("--students", nargs="+", required=True, help=".npz files of edge.train.refit --save-student")
    p.add_argument("--base-weight", type=float, default=0.0,
                   help="weight of the base package's own weights in the average (the students: 1 each)")
    p.add_argument("--data", required=True)
    p.add_argument("--oos-plus", default=None)
    p.add_argument("--oos-holdout", type=int, default=50)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", default=None, help="write the package here (else only report)")
    p.add_argument("--version", default=None)
    p.add_argument("--save-student", default=None, help="save the averaged float weights (.npz)")
    p.add_argument("--refit-manifest", default=None,
                   help="manifest.json of one of the refits (its training record is kept)")
    a = p.parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    t0 = time.time()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import sentencepiece as spm

    from edge.evaluate import auroc
    from edge.model import MANIFEST, MODEL_FILE, OOS, TOKENIZER_FILE, encode_ids
    from edge.train import data as D
    from edge.train import export as X
    from edge.train import operating, tune
    from edge.train.refit import student_from_int8
    from edge.train.student import Student, set_threads, to_int8

    set_threads(2)
    base = Path(a.base)
    bm = json.loads((base / MANIFEST).read_text(encoding="utf-8"))
    L = int(bm["max_len"])
    studs = [Student.load(f) for f in a.students]
    weights = [1.0] * len(studs)
    if a.base_weight > 0:
        studs.append(student_from_int8((base / MODEL_FILE).read_bytes(), L))
        weights.append(a.base_weight)
    soup = average(studs, weights)
    ds = D.load_dataset(a.data, seed=a.seed)
    ci = {c: i for i, c in enumerate(ds.labels + [OOS])}
    sp = spm.SentencePieceProcessor(model_file=str(base / TOKENIZER_FILE))
    val_ids = encode_ids(sp, [t for t, _ in ds.val], L)
    val_y = np.array([ci[l] for _, l in ds.val], np.int32)
    lg = soup.predict(val_ids)
    conf, best = tune.confidences(lg, 1.0, len(ds.labels))
    ins = val_y != ci[OOS]
    rep = {"float_val_acc_argmax": round(float((best[ins] == val_y[ins]).mean()), 6),
           "float_val_auroc": round(auroc(conf[ins], conf[~ins]), 6)}
    if a.oos_plus:  # the operating rules on the float network (the int8 export moves them a little)
        from edge.train.oos import extra_oos
        raw = json.loads(Path(a.data).read_text(encoding="utf-8"))
        _, held = extra_oos(a.oos_plus, [t for t, _ in raw["train"]] + [t for t, _ in raw["oos_train"]],
                            a.oos_holdout, a.seed)
        T = tune.fit_temperature(lg, val_y)
        conf, best = tune.confidences(lg, T, len(ds.labels))
        hconf, _ = tune.confidences(soup.predict(encode_ids(sp, held, L)), T, len(ds.labels))
        cin, okin, coos = conf[ins], best[ins] == val_y[ins], np.concatenate([conf[~ins], hconf])
        th = operating.oos_threshold(cin, okin)
        esc = operating.escalation_threshold(cin, okin, coos, th)
        rep.update({"float_auroc_150": round(auroc(cin, coos), 6), "float_auroc_held": round(auroc(cin, hconf), 6),
                    **operating.operating_table(cin, okin, coos, th, esc), "held_recall": float((hconf < th).mean()),
                    "th": th, "esc": esc})
        rep.pop("oos_recall_ci95")
    print(json.dumps(rep), flush=True)
    if a.save_student:
        soup.save(a.save_student)
    if not a.out:
        return 0
    rng = np.random.default_rng(a.seed)
    texts = [t for t, _ in ds.train]
    rep = encode_ids(sp, [texts[i] for i in rng.choice(len(texts), size=500, replace=False)], L)
    tfl, ops = to_int8(soup, rep=rep)
    temperature = tune.fit_temperature(X.tflite_logits(tfl, val_ids), val_y)
    rm = json.loads(Path(a.refit_manifest).read_text(encoding="utf-8")) if a.refit_manifest else dict(bm)
    m = dict(rm)
    m["version"] = a.version or rm["version"]
    m["calibration"] = {"temperature": temperature}
    m["architecture"] = {**rm["architecture"], "parameters": soup.n_params(), "ops": sorted(set(ops))}
    tr = dict(rm.get("training", {}))
    tr["soup"] = {"students": [Path(f).name for f in a.students], "base_weight": a.base_weight,
                  "command": "python -m edge.train.soup " + " ".join(shlex.quote(x) for x in argv),
                  "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    m["training"] = tr
    m["metrics"] = {}
    out = Path(a.out)
    X.write_package(out, tfl, base / TOKENIZER_FILE, m)
    op_args = ["--model", str(out), "--data", a.data, "--seed", str(a.seed), "--write"]
    if a.oos_plus:
        op_args += ["--oos-plus", a.oos_plus, "--oos-holdout", str(a.oos_holdout)]
    operating.main(op_args)
    print(f"[soup] wrote {out} in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
