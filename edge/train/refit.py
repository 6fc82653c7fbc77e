"""Refit a shipped student on new out-of-scope data: warm start from its own
weights, its own tokenizer, self-distillation for what it already knows.

    python -m edge.train.refit --base models/clinc150 --data data.json \\
        --oos-plus oos_plus_train.json --out DIR --version 2.0.0

Why this exists (issue 13, 2026-11-28): a full ``edge train`` (teacher
fine-tuning, teacher labelling, student from scratch) is 45 minutes on two
quiet cores and was running 8-9 times slower on the shared machine of that
session. The knowledge that was missing is about out-of-scope requests, and it
comes from data: real out-of-scope requests (OOS+) and near misses
(:mod:`edge.train.oos`). So the shipped student is trained further:

- weights: the base package's int8 weights, dequantized (the same network,
  arg-max agreement 1.000 with the int8 file), trained on in float;
- tokenizer: the base package's, unchanged (the ids keep their meaning);
- rows and targets: the training utterances with their gold labels; real
  out-of-scope texts (``--oos-plus`` minus ``--oos-holdout``, repeated
  ``--oos-repeat`` times), ``--near-miss`` near misses and 1,000 Wikipedia
  sentences, all labelled ``oos``; a transfer set (augmentations,
  substitutions, the other Wikipedia sentences) without a gold label. The
  soft targets are the base student's own float logits (self-distillation:
  the in-scope knowledge it got from the MiniLM teachers stays), except on
  the rows labelled ``oos``, whose soft target is the ``oos`` class;
- loss, schedule and regularisation: :func:`edge.train.student.train_student`
  (0.3 x cross-entropy with gold labels + 0.7 x T^2 x KL at T = 2), a lower
  peak learning rate (``--lr``, 1e-3) for a few epochs.

Then the int8 export of :mod:`edge.train.export`, the calibration temperature
on the tuning split, and the thresholds of :mod:`edge.train.operating`.
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


def _log(msg: str) -> None:
    print(f"[refit {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def student_from_int8(model_bytes: bytes, max_len: int):
    """The float Student whose weights are the int8 file's, dequantized."""
    import tensorflow as tf

    from edge.train.export import dequantize
    from edge.train.student import Student, StudentConfig

    it = tf.lite.Interpreter(model_content=model_bytes, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    td = {t["index"]: t for t in it.get_tensor_details()}
    ids_index = it.get_input_details()[0]["index"]
    emb, convs, fcs = None, [], []
    for op in it._get_ops_details():  # noqa: SLF001 - the only way to walk the graph from Python
        ins = list(op["inputs"])
        if (op["op_name"] == "GATHER" and ins[1] == ids_index and len(td[ins[0]]["shape"]) == 2
                and td[ins[0]]["shape"][1] > 1):
            emb = dequantize(it, td[ins[0]])
        elif op["op_name"] == "CONV_2D":
            w = dequantize(it, td[ins[1]])  # [filters, 1, k, dim]
            b = dequantize(it, td[ins[2]])
            convs.append((np.transpose(w[:, 0], (1, 2, 0)), b))
        elif op["op_name"] == "FULLY_CONNECTED":
            w = dequantize(it, td[ins[1]])
            b = dequantize(it, td[ins[2]])
            fcs.append((w.T, b))
    if emb is None or not convs or len(fcs) != 2:
        raise ValueError("the int8 model is not the Student network")
    cfg = StudentConfig(vocab=emb.shape[0], n_classes=fcs[1][0].shape[1], max_len=max_len,
                        dim=emb.shape[1], filters=convs[0][0].shape[2],
                        kernels=tuple(int(w.shape[0]) for w, _ in convs), hidden=fcs[0][0].shape[1])
    s = Student(cfg)
    s.emb.assign(emb)
    for (wv, bv), (kw, kb) in zip(s.convs, convs):
        wv.assign(kw)
        bv.assign(kb)
    (w1, b1), (w2, b2) = fcs
    s.w1.assign(w1)
    s.b1.assign(b1)
    s.w2.assign(w2)
    s.b2.assign(b2)
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.train.refit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the package to start from")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--version", required=True)
    p.add_argument("--oos-plus", default=None)
    p.add_argument("--oos-holdout", type=int, default=50)
    p.add_argument("--oos-repeat", type=int, default=4)
    p.add_argument("--near-miss", type=int, default=2000)
    p.add_argument("--augment", type=int, default=30000)
    p.add_argument("--substitute", type=int, default=30000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--holdout-seed", type=int, default=13,
                   help="draws the held-out --oos-plus texts: keep it fixed across refits that are "
                        "compared or averaged, so none of them trains on another's held-out texts")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save-student", default=None)
    a = p.parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    t0 = time.time()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import sentencepiece as spm
    import tensorflow as tf

    from edge.model import MANIFEST, MODEL_FILE, OOS, TOKENIZER_FILE, encode_ids
    from edge.train import data as D
    from edge.train import export as X
    from edge.train import operating, tune
    from edge.train.oos import extra_oos, near_misses
    from edge.train.student import TrainConfig, set_threads, to_int8, train_student

    set_threads(a.threads)
    np.random.seed(a.seed)
    tf.random.set_seed(a.seed)
    base = Path(a.base)
    bm = json.loads((base / MANIFEST).read_text(encoding="utf-8"))
    L = int(bm["max_len"])
    ds = D.load_dataset(a.data, seed=a.seed)
    if ds.labels != bm["labels"]:
        raise SystemExit("the data's intents are not the base package's")
    held: list[str] = []
    if a.oos_plus:
        more, held = extra_oos(a.oos_plus, [t for t, _ in ds.train], a.oos_holdout, a.holdout_seed)
        ds.train = ds.train + [(t, OOS) for t in more]
    wiki = D.read_wiki(Path(a.data).parent / "wiki_sents.txt")
    classes = ds.labels + [OOS]
    ci = {c: i for i, c in enumerate(classes)}
    oos_i = ci[OOS]

    w_oos, w_rest = D.split_wiki(wiki, a.seed, n_oos=1000)
    real_oos = [t for t, l in ds.train if l == OOS]
    gold_texts = [t for t, _ in ds.train]
    gold_y = [ci[l] for _, l in ds.train]
    nm = near_misses(ds.train, a.near_miss, a.seed) if a.near_miss > 0 else []
    oos_texts = real_oos * max(0, a.oos_repeat - 1) + nm + w_oos
    transfer = D.augment(ds.train, a.augment, a.seed) + (
        D.substitute(ds.train, wiki, a.substitute, a.seed) if a.substitute > 0 else []) + w_rest
    texts = gold_texts + oos_texts + transfer
    hard = np.array(gold_y + [oos_i] * len(oos_texts) + [-1] * len(transfer), np.int32)
    _log(f"{len(gold_texts)} gold ({len(real_oos)} real oos, {len(held)} held out), "
         f"{len(oos_texts)} more oos ({len(nm)} near misses), {len(transfer)} transfer")

    sp = spm.SentencePieceProcessor(model_file=str(base / TOKENIZER_FILE))
    ids = encode_ids(sp, texts, L)
    keep = (ids != 0).any(axis=1)
    ids, hard = ids[keep], hard[keep]
    student = student_from_int8((base / MODEL_FILE).read_bytes(), L)
    soft = student.predict(ids).astype(np.float32)
    oos_row = np.zeros(len(classes), np.float32)
    oos_row[oos_i] = 20.0  # p(oos) 0.99 at the distillation temperature 2
    soft[hard == oos_i] = oos_row
    val_ids = encode_ids(sp, [t for t, _ in ds.val], L)
    val_y = np.array([ci[l] for _, l in ds.val], np.int32)
    _log(f"base student rebuilt ({student.n_params():,} parameters); {len(ids)} rows, {a.epochs} epochs")

    tc = TrainConfig(epochs=a.epochs, lr=a.lr, seed=a.seed)
    history = train_student(student, ids, soft, hard, tc, val_ids, val_y, oos_i)
    if a.save_student:
        student.save(a.save_student)

    tfl, ops = to_int8(student, ids, a.seed)
    temperature = tune.fit_temperature(X.tflite_logits(tfl, val_ids), val_y)
    out = Path(a.out)
    m = dict(bm)
    m.pop("metrics", None)
    m["name"] = a.name or bm["name"]
    m["version"] = a.version
    m["calibration"] = {"temperature": temperature}
    m["architecture"] = {**bm["architecture"], "parameters": student.n_params(), "ops": sorted(set(ops))}
    m["training"] = {
        **{k: bm["training"][k] for k in ("data", "source", "transfer") if k in bm["training"]},
        "method": "refit of the base package (edge.train.refit): warm start, its tokenizer, "
                  "self-distillation + real and near-miss out-of-scope data",
        "base": f"{bm['name']}@{bm['version']}",
        "base_training": {k: bm["training"].get(k) for k in ("teacher", "teacher_seeds", "init_emb",
                                                             "epochs", "command")},
        "oos_plus": ({"file": Path(a.oos_plus).name, "trained_on": len(real_oos), "held_out": len(held),
                      "holdout_seed": a.holdout_seed, "repeat": a.oos_repeat} if a.oos_plus else None),
        "near_miss": len(nm), "wiki_oos": len(w_oos), "transfer_rows": len(transfer),
        "seed": a.seed, "epochs": a.epochs, "lr": a.lr,
        "command": "python -m edge.train.refit " + " ".join(shlex.quote(x) for x in argv),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "history": history,
    }
    m["metrics"] = {}
    X.write_package(out, tfl, base / TOKENIZER_FILE, m)
    _log(f"exported, temperature {temperature}; choosing thresholds")
    op_args = ["--model", str(out), "--data", a.data, "--seed", str(a.holdout_seed), "--write"]
    if a.oos_plus:
        op_args += ["--oos-plus", a.oos_plus, "--oos-holdout", str(a.oos_holdout)]
    operating.main(op_args)
    mpath = out / MANIFEST
    m = json.loads(mpath.read_text(encoding="utf-8"))
    m["training"]["wall_time_s"] = round(time.time() - t0, 1)
    mpath.write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
    _log(f"wrote {out} ({X.package_size(out) / 1024:.0f} KiB) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
