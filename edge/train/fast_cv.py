"""The custom-intents recipe's students (edge/train/fast.py runs the recipe): their sizes, the folds,
and the training loop: k-fold cross-validation that gives every row a score from a student that never
saw it, then the final student on every row (steps 3 and 4 of fast.py's docstring).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge.train.fast_data import Rows
from edge.train.package import log as _log

__all__ = ["folds", "student_configs", "train_one", "oversample", "train_students"]


def folds(rows: Rows, k: int, seed: int) -> np.ndarray:
    """Fold index per row: user examples stratified by label, negatives by section."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(rows.texts), np.int64)
    # user rows: stratified per class, round-robin over a shuffled order
    user = np.array([s == "user" for s in rows.source])
    for c in np.unique(rows.y[user]):
        idx = np.flatnonzero(user & (rows.y == c))
        idx = idx[rng.permutation(len(idx))]
        fold[idx] = (np.arange(len(idx)) + rng.integers(k)) % k
    # everything else by group (a negative section, or one user oos example each)
    other = np.flatnonzero(~user)
    groups = np.unique(rows.group[other])
    groups = groups[rng.permutation(len(groups))]
    # greedy balance by size
    load = np.zeros(k)
    for g in groups:
        m = other[rows.group[other] == g]
        f = int(np.argmin(load))
        fold[m] = f
        load[f] += len(m)
    return fold


def student_configs(args: argparse.Namespace, vocab: int, n_classes: int, quick: bool):
    from edge.train.student import StudentConfig, TrainConfig
    if quick:
        scfg = StudentConfig(vocab=vocab, n_classes=n_classes, max_len=args.max_len, dim=32,
                             filters=32, hidden=64, dropout=0.1, emb_dropout=0.0)
        tcfg = TrainConfig(epochs=args.epochs or 1, batch=32, lr=1e-2, seed=args.seed,
                           word_dropout=0.0, log=False)
    else:
        scfg = StudentConfig(vocab=vocab, n_classes=n_classes, max_len=args.max_len,
                             dim=args.fast_dim, filters=args.fast_filters, hidden=args.fast_hidden)
        tcfg = TrainConfig(epochs=args.epochs or 12, batch=64, lr=3e-3, seed=args.seed, log=False)
    return scfg, tcfg


def train_one(ids, y, scfg, tcfg, init_emb, seed):
    from edge.train.student import Student, train_student
    st = Student(scfg, seed=seed, init_emb=init_emb)
    train_student(st, ids, None, y, tcfg)
    return st


def oversample(idx: np.ndarray, rows: Rows, n_labels: int) -> np.ndarray:
    """Repeat the in-scope rows so they are not outnumbered by the negatives."""
    ins = idx[rows.y[idx] < n_labels]
    n_oos = len(idx) - len(ins)
    r = int(np.clip(round(n_oos / max(1, len(ins))), 1, 4))
    return np.concatenate([idx] + [ins] * (r - 1))


def train_students(ids: np.ndarray, rows: Rows, n_classes: int, k: int, scfg, tcfg, init_emb, seed: int,
                   n_lab: int):
    """(held-out logits of every row, the final student): ``k`` students, each trained without one fold
    (student ``f`` seeded ``seed + f``) and scoring it, then one on every row (seeded ``seed``); the
    in-scope rows oversampled each time."""
    fold = folds(rows, k, seed)
    cv_logits = np.zeros((len(rows.texts), n_classes), np.float32)
    t0 = time.time()
    for f in range(k):
        tr = oversample(np.flatnonzero(fold != f), rows, n_lab)
        st = train_one(ids[tr], rows.y[tr], scfg, tcfg, init_emb, seed + f)
        te = np.flatnonzero(fold == f)
        cv_logits[te] = st.predict(ids[te])
        _log(f"fold {f + 1}/{k}: {len(tr)} training rows, {len(te)} held out "
             f"({time.time() - t0:.0f}s)")
        del st
    allr = oversample(np.arange(len(rows.texts)), rows, n_lab)
    student = train_one(ids[allr], rows.y[allr], scfg, tcfg, init_emb, seed)
    _log(f"final student {student.n_params():,} parameters on {len(allr)} rows "
         f"({time.time() - t0:.0f}s for all students)")
    return cv_logits, student
