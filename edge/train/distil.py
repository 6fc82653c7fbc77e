"""The distil recipe of ``edge train`` (CLINC150's [text, label] JSON): fine-tuned MiniLM
teachers, one per seed, label a transfer set (the training utterances, wiki sentences as
out of scope, augmented and word-substituted utterances) with the mean of their logits; the
int8 student (edge/train/student.py) learns from it; the thresholds come from the rules of
edge/train/operating.py on the tuning split (`threshold_step`).

edge/train/cli.py parses the command and picks the recipe; this module is the recipe alone.
Heavy imports (tensorflow, torch) happen inside the functions.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from edge.train.package import cache_dir
from edge.train.package import log as _log

__all__ = ["CLINC_CREDIT", "SUBSTITUTE_BLOCK", "run", "threshold_step"]

CLINC_CREDIT = ("CLINC150: Larson et al., \"An Evaluation Dataset for Intent Classification and "
                "Out-of-Scope Prediction\", EMNLP-IJCNLP 2019 "
                "(https://github.com/clinc/oos-eval), licensed CC BY 3.0")
SUBSTITUTE_BLOCK = 40000


def _labelled_set(ds, wiki: list[str], seed: int, ci: dict[str, int], n_oos: int,
                  extra_oos: list[str] = ()):
    """(texts, labels, unused wiki sentences): the training utterances plus ``n_oos``
    wiki sentences (drawn by ``seed``) and ``extra_oos`` labelled "oos"."""
    import numpy as np

    from edge.model import OOS
    from edge.train import data as D

    w_oos, w_rest = D.split_wiki(wiki, seed, n_oos=n_oos)
    w_oos = w_oos + list(extra_oos)
    texts = [t for t, _ in ds.train] + w_oos
    labels = np.array([ci[l] for _, l in ds.train] + [ci[OOS]] * len(w_oos), dtype=np.int32)
    return texts, labels, w_rest


def _teacher_seeds(args: argparse.Namespace) -> list[int]:
    if not args.teacher_seeds:
        return [args.seed]
    try:
        seeds = [int(x) for x in str(args.teacher_seeds).split(",") if x.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        from edge.train.data import DataError
        raise DataError(f"--teacher-seeds {args.teacher_seeds!r}: expected distinct integers, "
                        "comma-separated")
    return seeds


def _distillation_set(args: argparse.Namespace, ds, wiki: list[str], classes: list[str], sp):
    """(texts, hard labels (-1 = none), teacher logits, initial embeddings).

    One teacher per seed, each fine-tuned on the training set plus that seed's
    share of wiki sentences as "oos"; each seed also contributes its own
    augmented utterances, remaining wiki sentences and word substitutions
    (see :func:`edge.train.data.substitute`). Every text of the union
    is labelled by the mean of all teachers' logits: the ensemble is a better
    teacher than any member (higher accuracy and AUROC on val), and the union
    gives the student more varied transfer data. Teachers and logits are cached
    by their exact inputs, so a rerun only trains the student."""
    import numpy as np

    from edge.model import OOS
    from edge.train import data as D
    from edge.train import tune
    from edge.train.teacher import cached_logits, piece_embeddings, train_or_load

    cache = cache_dir(args)
    ci = {c: i for i, c in enumerate(classes)}
    oos_i = ci[OOS]
    seeds = _teacher_seeds(args)
    parts = []  # (labelled texts, their labels): each seed's teacher trains on its own
    sets: list[list[str]] = []  # what every teacher labels: per seed, transfer + substitutions
    hards = []  # hard labels of each set: the labelled texts head their seed's transfer set
    for s in seeds:
        from edge.train.oos import near_misses
        extra = [t for t, l in ds.train if l == OOS] * max(0, args.oos_repeat - 1)
        extra += near_misses(ds.train, args.near_miss, s) if args.near_miss > 0 else []
        lab_texts, lab_y, w_rest = _labelled_set(ds, wiki, s, ci, min(1000, len(wiki) // 2), extra)
        parts.append((lab_texts, lab_y))
        sets.append(lab_texts + D.augment(ds.train, args.augment, s) + w_rest)
        hards.append(np.concatenate([lab_y, -np.ones(len(sets[-1]) - len(lab_y), np.int32)]))
        # substitutions in blocks of 40,000, each its own set (and cache entry): adding
        # blocks keeps the cached teacher logits of the others
        for k, start in enumerate(range(0, max(0, args.substitute), SUBSTITUTE_BLOCK)):
            n = min(SUBSTITUTE_BLOCK, args.substitute - start)
            sets.append(D.substitute(ds.train, wiki, n, s + 1000 * k))
            hards.append(-np.ones(len(sets[-1]), np.int32))
    val_texts = [t for t, _ in ds.val]
    vy = np.array([ci[l] for _, l in ds.val])
    soft_parts = [np.zeros((len(t), len(classes)), np.float32) for t in sets]
    val_sum = np.zeros((len(val_texts), len(classes)), np.float32)
    init_emb = None
    for s, (lab_texts, lab_y) in zip(seeds, parts):
        teacher = train_or_load(cache, lab_texts, lab_y, len(classes), args.teacher,
                                args.teacher_epochs, s, args.threads)
        for k, t in enumerate(sets):
            soft_parts[k] += cached_logits(cache, teacher, t, "transfer")
        tv = cached_logits(cache, teacher, val_texts, "val")
        val_sum += tv
        _, best = tune.confidences(tv, 1.0, len(ds.labels))
        _log(f"teacher seed {s} on tuning split: in-scope argmax accuracy "
             f"{(best[vy != oos_i] == vy[vy != oos_i]).mean():.4f}")
        if init_emb is None and args.init_emb == "minilm":
            init_emb = piece_embeddings(teacher, [sp.id_to_piece(i) for i in range(sp.get_piece_size())],
                                        args.dim, args.seed)
        del teacher
    if len(seeds) > 1:
        _, best = tune.confidences(val_sum / len(seeds), 1.0, len(ds.labels))
        _log(f"teacher ensemble on tuning split: in-scope argmax accuracy "
             f"{(best[vy != oos_i] == vy[vy != oos_i]).mean():.4f}")
    texts = [t for ts in sets for t in ts]
    soft = np.concatenate(soft_parts) / len(seeds)
    return texts, np.concatenate(hards), soft, init_emb


def threshold_step(out: Path, tuning: list, held: list[str], args: argparse.Namespace,
                      split: str, command: str) -> dict:
    """The distil recipe's threshold step: the rules of edge/train/operating.py (the
    ones the shipped CLINC150 package was tuned with), applied through the runtime to
    the package in ``out``: the out-of-scope threshold from an in-scope budget
    (--oos-budget) on the tuning split, the escalation threshold for a stated
    out-of-scope share (--oos-share, --silent-error, --max-escalation) on the tuning
    split's in-scope items and every real out-of-scope item not trained on (the
    tuning split's oos items and the --oos-holdout ones of --oos-plus). Rewrites the
    manifest's thresholds, ``tuning`` and ``metrics`` (on the tuning split, under
    "val"); returns the metrics."""
    from edge.train import operating

    max_esc = operating.MAX_ESCALATION if args.max_escalation is None else args.max_escalation
    sel, report, metrics = operating.apply(
        out, tuning, held, split=split, name="val",
        held_out_oos=operating.held_out_info(args.oos_plus, len(held), args.seed) if held else None,
        budget=args.oos_budget, share=args.oos_share, silent=args.silent_error,
        max_escalation=max_esc, command=command)
    _log(f"oos threshold {sel['oos']}, escalation threshold {sel['escalation']} "
         f"(in-scope budget {args.oos_budget}, {args.oos_share:.0%} out-of-scope share)")
    for w in sel["warnings"]:
        print(f"edge train: WARNING: {w}", file=sys.stderr, flush=True)
    return metrics


def run(args: argparse.Namespace) -> int:
    t_start = time.time()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import sentencepiece as spm
    import tensorflow as tf

    from edge.model import OOS, encode_ids
    from edge.train import data as D
    from edge.train import export as X
    from edge.train import tune
    from edge.train.package import manifest_head, train_tokenizer
    from edge.train.student import Student, StudentConfig, TrainConfig, set_threads, to_int8, train_student

    set_threads(args.threads)
    quick = args.quick
    teacher_mode = "none" if quick else args.teacher
    epochs = args.epochs or (1 if quick else 16)
    vocab = args.vocab_size or (500 if quick else 4000)
    out = Path(args.out)
    name = args.name or out.resolve().name
    version = args.version or _dt.date.today().strftime("%Y.%m.%d")

    ds = D.load_dataset(args.data, val_split=args.val_split, val_path=args.val, seed=args.seed)
    wiki_path = args.wiki
    if wiki_path is None:
        cand = Path(args.data).parent / "wiki_sents.txt"
        wiki_path = cand if cand.is_file() else None
    elif str(wiki_path).lower() == "none":
        wiki_path = None
    wiki = D.read_wiki(wiki_path, limit=2000 if quick else None)
    oos_held: list[str] = []
    if args.oos_plus:
        from edge.train.oos import extra_oos
        more, oos_held = extra_oos(args.oos_plus, [t for t, _ in ds.train], args.oos_holdout, args.seed)
        ds.train = ds.train + [(t, OOS) for t in more]
    classes = ds.labels + [OOS]
    ci = {c: i for i, c in enumerate(classes)}
    oos_i = ci[OOS]
    _log(f"{len(ds.labels)} intents, {len(ds.train)} training and {len(ds.val)} tuning items, "
         f"{len(wiki)} transfer sentences; teacher {teacher_mode}")

    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="edge-train-") as tmp:
        tmp = Path(tmp)
        sp_path = train_tokenizer([t for t, _ in ds.train], vocab, tmp / "tokenizer", args.seed)
        sp = spm.SentencePieceProcessor(model_file=str(sp_path))
        L = args.max_len

        soft = None
        init_emb = None
        if teacher_mode != "none":
            texts, hard, soft, init_emb = _distillation_set(args, ds, wiki, classes, sp)
        else:  # the labelled set alone, gold labels only
            texts, hard, _ = _labelled_set(ds, wiki, args.seed, ci,
                                           min(1000, len(wiki) // 2 if quick else 1000))
        ids = encode_ids(sp, texts, L)
        keep = (ids != 0).any(axis=1)
        ids, hard = ids[keep], hard[keep]
        soft = soft[keep] if soft is not None else None
        val_ids = encode_ids(sp, [t for t, _ in ds.val], L)
        val_y = np.array([ci[l] for _, l in ds.val], dtype=np.int32)

        if quick:
            scfg = StudentConfig(vocab=sp.get_piece_size(), n_classes=len(classes), max_len=L,
                                 dim=32, filters=32, hidden=64, dropout=0.1, emb_dropout=0.0)
            tcfg = TrainConfig(epochs=epochs, batch=32, lr=1e-2, seed=args.seed, word_dropout=0.0,
                               ema=args.ema)
        else:
            scfg = StudentConfig(vocab=sp.get_piece_size(), n_classes=len(classes), max_len=L,
                                 dim=args.dim, filters=args.filters, hidden=args.hidden)
            tcfg = TrainConfig(epochs=epochs, seed=args.seed, ema=args.ema)
        student = Student(scfg, seed=args.seed, init_emb=None if quick else init_emb)
        _log(f"student {student.n_params():,} parameters, {len(ids)} training rows, {epochs} epochs")
        history = train_student(student, ids, soft, hard, tcfg, val_ids, val_y, oos_i)
        if args.save_student:
            student.save(args.save_student)

        tfl, ops = to_int8(student, ids, args.seed)
        q_val = X.tflite_logits(tfl, val_ids)
        temperature = tune.fit_temperature(q_val, val_y)
        _log(f"temperature {temperature}")

        argv = list(getattr(args, "argv", None) or sys.argv[1:])
        if argv[:1] == ["train"]:  # invoked as `edge train ...`
            argv = argv[1:]
        is_clinc = "CLINC150" in ds.source
        # thresholds: chosen below, on the package
        manifest = {
            **manifest_head(name, version, ds.labels, L, (0.0, 0.0), temperature, scfg, student, ops),
            "training": {
                "data": ds.source,
                "source": CLINC_CREDIT if is_clinc else "user-supplied intents",
                "transfer": (f"{Path(wiki_path).name}: {len(wiki)} sentences" if wiki_path else "none"),
                "teacher": teacher_mode,
                "teacher_seeds": _teacher_seeds(args) if teacher_mode != "none" else [],
                "init_emb": args.init_emb if init_emb is not None else "random",
                "seed": args.seed,
                "epochs": epochs,
                "command": "edge train " + " ".join(shlex.quote(a) for a in argv),
                "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "history": history[-3:],
                "oos_plus": ({"file": Path(args.oos_plus).name, "held_out": len(oos_held),
                              "repeat": args.oos_repeat} if args.oos_plus else None),
                "near_miss": args.near_miss,
            },
            "license": ("model weights: CC BY 3.0 (derived from CLINC150, " + CLINC_CREDIT + ")")
            if is_clinc else "as the training data",
            "metrics": {},
        }
        X.write_package(out, tfl, sp_path, manifest)

    split = ((args.val or args.val_split) if "held out" not in ds.source else
             f"a seeded 10% holdout of the training data ({len(ds.val)} items)")
    metrics = threshold_step(out, ds.val, oos_held, args, split,
                                "edge train " + " ".join(shlex.quote(a) for a in argv))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["training"]["wall_time_s"] = round(time.time() - t_start, 1)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    # last, on the finished package: the examples a device runs before it accepts it
    from edge.train import selftest
    n = len(selftest.record(out, [(t, l, None) for t, l in ds.train])["selftest"])
    _log(f"{n} self-test examples in the manifest")
    _log(f"wrote {out} ({X.package_size(out) / 1024:.0f} KiB) in {time.time() - t_start:.0f}s")
    print(json.dumps(metrics, indent=2))
    return 0
