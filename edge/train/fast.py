"""``edge train`` for a user's own intents: minutes on two cores, out of scope
by default, thresholds from cross-validation.

The recipe (the manifest's "training" and "tuning" sections say the same):

1. The user's examples (intents text or JSON, ``## oos`` included) and the
   shipped negatives (``edge/train/negatives/negatives.txt``: other
   assistants' requests, real out-of-scope requests, general sentences; see
   the README in that folder for sources and licences) labelled ``oos``.
2. Negatives that look like one of the user's intents are dropped, judged by
   the frozen MiniLM sentence embedding (all-MiniLM-L6-v2, mean-pooled, unit
   length): a negative section (one CLINC150 intent, say) goes when the median
   of its examples' highest cosine similarity to any of the user's examples is
   >= ``--neg-group-sim`` (0.50) or its closest example's is >=
   ``--neg-group-max`` (0.65), and any single negative whose highest
   similarity is >= ``--neg-item-sim`` (0.60). The user's own ``## oos`` is
   never filtered. The manifest lists what was dropped.
3. The int8 student (a small CNN over sentencepiece pieces, edge/train/student.py)
   is trained on those rows with gold labels, its embeddings initialised from
   MiniLM's word pieces. No fine-tuned teacher: on 70 examples per intent it
   cost 10+ minutes for about one point (issue 14), and the MiniLM embedding
   initialisation gives most of that point for the price of loading it.
4. k-fold cross-validation (``--folds``, default 4) with the same recipe:
   every user example and every negative gets a score from a student that
   never saw it (negatives are held out a whole section at a time, so the
   out-of-scope estimate is for unseen kinds of request). The calibration
   temperature and both thresholds are chosen on those scores by the rules in
   edge/train/tune.py; the final student is trained on everything.

Steps 1-2 (the examples, the negatives and their filter, the rows) are edge/train/fast_data.py's,
steps 3-4's training loop (folds, the cross-validated students, the final one) edge/train/fast_cv.py's;
this module runs the recipe: thresholds, manifest, package, slot tagger, self-test.
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

import numpy as np

from edge.dataset import OOS
# the data (examples, negatives, rows) and the students (folds, the training loop) are modules of their own;
# the negatives' names stay importable from here (edge/train/home_recipe.py, negatives/build.py, bench/)
from edge.train.fast_cv import student_configs, train_students
from edge.train.fast_data import (NEGATIVES, NEGATIVES_CREDIT, NEGATIVES_EMB, Rows, choose_negatives, filter_negatives,
                                  load_negatives, read_examples, rows_of, save_shipped_embeddings, shipped_embeddings,
                                  texts_hash)
from edge.train.package import log as _log
from edge.train.package import warn as _warn

__all__ = ["MAX_ESCALATION", "NEGATIVES", "NEGATIVES_CREDIT", "NEGATIVES_EMB", "Rows", "add_arguments",
           "filter_negatives", "load_negatives", "run", "save_shipped_embeddings", "shipped_embeddings", "texts_hash"]

MAX_ESCALATION = 0.11     # --max-escalation's default for this recipe (the distil one: 0.095)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the custom-intents recipe (edge/train/cli.py adds them)."""
    p.add_argument("--negatives", default="builtin",
                   help="out-of-scope negatives: 'builtin' (shipped with the train extra), 'none', "
                        "or a file in any data format (every example used as out of scope)")
    p.add_argument("--neg-group-sim", type=float, default=0.50,
                   help="drop a negative section whose median similarity to your examples reaches this")
    p.add_argument("--neg-group-max", type=float, default=0.65,
                   help="drop a negative section one of whose examples is this similar to yours")
    p.add_argument("--neg-item-sim", type=float, default=0.60,
                   help="drop a negative whose similarity to one of your examples reaches this")
    p.add_argument("--folds", type=int, default=4,
                   help="cross-validation folds for the thresholds (>= 2; default 4)")


def run(args: argparse.Namespace) -> int:
    t_start = time.time()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edge.train import tune

    quick = bool(args.quick)
    if args.max_escalation is None:
        args.max_escalation = MAX_ESCALATION
    examples, labels, cnt = read_examples(args)

    import sentencepiece as spm
    import tensorflow as tf

    from edge.model import Model, encode_ids
    from edge.train import export as X
    from edge.train.package import manifest_head, train_tokenizer
    from edge.train.teacher import Teacher, piece_embeddings
    from edge.train.student import set_threads, to_int8

    set_threads(args.threads)
    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)

    neg_all, neg_desc = load_negatives(args.negatives)
    user_in = [e for e in examples if e.label != OOS]
    user_oos = [e for e in examples if e.label == OOS]
    use_minilm = not quick and args.init_emb == "minilm"
    keep, neg_report, teacher = choose_negatives(args, neg_all, user_in, use_minilm)
    negs = [e for e, k in zip(neg_all, keep) if k]
    if not negs and not user_oos:
        _warn("NO OUT-OF-SCOPE EXAMPLES: the model cannot learn to say 'oos' and its thresholds "
              "cannot be checked; give a '## oos' section or use the shipped negatives")

    classes = labels + [OOS]
    ci = {c: i for i, c in enumerate(classes)}
    n_lab = len(labels)
    rows = rows_of(ci, user_in, user_oos, negs)
    texts = rows.texts
    _log(f"{len(labels)} intents, {len(user_in)} examples, {len(user_oos)} of your oos examples, "
         f"{len(negs)} shipped negatives; {args.folds}-fold cross-validation + final model")

    with tempfile.TemporaryDirectory(prefix="edge-train-") as tmp:
        tmp = Path(tmp)
        vocab = args.vocab_size or (500 if quick else 2000)
        sp_path = train_tokenizer(texts, vocab, tmp / "tokenizer", args.seed)
        sp = spm.SentencePieceProcessor(model_file=str(sp_path))
        ids = encode_ids(sp, texts, args.max_len)
        scfg, tcfg = student_configs(args, sp.get_piece_size(), len(classes), quick)
        init_emb = None
        if use_minilm:
            if teacher is None:
                teacher = Teacher(2, threads=args.threads)
            init_emb = piece_embeddings(teacher, [sp.id_to_piece(i) for i in range(sp.get_piece_size())],
                                        scfg.dim, args.seed)
        del teacher

        # -- cross-validation (a held-out score for every row), then the final model ----
        k = max(2, int(args.folds))
        cv_logits, student = train_students(ids, rows, len(classes), k, scfg, tcfg, init_emb, args.seed, n_lab)
        tfl, ops = to_int8(student, ids, args.seed)

        # -- calibration and thresholds from the held-out scores ---------------------
        temperature = tune.fit_temperature(cv_logits, rows.y)
        conf, best = tune.confidences(cv_logits, temperature, n_lab)
        conf[(ids == 0).all(axis=1)] = 0.0
        is_user_oos = np.array([s == "user-oos" for s in rows.source])
        sel = tune.select_thresholds(conf, best, rows.y, ci[OOS], budget=args.oos_budget,
                                     oos_share=args.oos_share, target_silent=args.silent_error,
                                     max_escalation_in_scope=args.max_escalation)
        th, esc = sel["oos"], sel["escalation"]
        report = tune.expected_rates(conf, best, rows.y, ci[OOS], th, esc,
                                     subsets={"your oos examples": is_user_oos,
                                              "shipped negatives": ~is_user_oos}
                                     if is_user_oos.any() and negs else None,
                                     oos_share=args.oos_share)
        warnings = list(sel["warnings"]) + tune.data_warnings(cnt, labels, report)
        for w in warnings:
            _warn(w)

        argv = list(getattr(args, "argv", None) or sys.argv[1:])
        if argv[:1] == ["train"]:
            argv = argv[1:]
        out = Path(args.out)
        name = args.name or out.resolve().name
        version = args.version or _dt.date.today().strftime("%Y.%m.%d")
        manifest = {
            **manifest_head(name, version, labels, args.max_len, (th, esc), temperature, scfg, student, ops),
            "training": {
                "recipe": "custom intents (edge/train/fast.py)" + (" --quick smoke test" if quick else ""),
                "data": f"{Path(args.data).name}: {len(user_in)} examples of {len(labels)} intents, "
                        f"{len(user_oos)} out-of-scope examples",
                "source": "user-supplied intents",
                "negatives": {"file": neg_desc, "available": len(neg_all), "used": len(negs),
                              "credit": NEGATIVES_CREDIT if args.negatives in (None, "builtin") else [],
                              "filter": neg_report},
                "teacher": "none (student on gold labels; embeddings initialised from MiniLM word "
                           "pieces)" if use_minilm else "none",
                "init_emb": "minilm" if use_minilm else "random",
                "seed": args.seed,
                "epochs": tcfg.epochs,
                "command": "edge train " + " ".join(shlex.quote(a) for a in argv),
                "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "tuning": {
                "method": f"{k}-fold cross-validation over all {len(texts)} training rows: every "
                          "row scored by a student trained without it (negatives held out a whole "
                          "section at a time); temperature and thresholds chosen on those scores",
                "split": f"cross-validation ({k} folds)",
                "items": {"in_scope": int((rows.y != ci[OOS]).sum()),
                          "oos_yours": int(is_user_oos.sum()),
                          "oos_shipped": int((~is_user_oos & (rows.y == ci[OOS])).sum())},
                "rules": tune.RULES,
                "oos_budget": args.oos_budget, "oos_share": args.oos_share,
                "target_silent_error": args.silent_error,
                "max_escalation_in_scope": args.max_escalation,
                "expected": report,
                "warnings": warnings,
            },
            "license": "as the training data; the shipped negatives are CC BY 3.0 (CLINC150) and "
                       "CC BY-SA 3.0 (Wikipedia sentences), see training.negatives.credit",
            "metrics": {"cross_validation": report},
        }
        X.write_package(out, tfl, sp_path, manifest)
        # slots marked in the examples: F's tagger (edge/train/slots.py) writes slots.json
        # and the manifest's "slots" section; nothing when no example marks a slot
        try:
            from edge.train import slots as S
            # a recipe on top of this one may bound the tagger's cost (home_recipe: fewer runs)
            sec = S.package(out, examples, **getattr(args, "tagger_options", {}))
            if sec:
                _log(f"slot tagger for {sum(len(v) for v in sec['intents'].values())} "
                     f"(intent, slot) pairs")
        except Exception as e:  # the intent model stands without slots
            _warn(f"slot tagger not trained ({type(e).__name__}: {e}); the model answers without "
                  "learned slots")

    # the packaged int8 model, through the runtime, on the in-scope training examples: a
    # sanity check of the export (training data, not an estimate of accuracy)
    model = Model.load(out, threads=1)
    preds = model.classify([e.text for e in user_in])
    fit = float(np.mean([p.top_intent == e.label for p, e in zip(preds, user_in)]))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["training"]["wall_time_s"] = round(time.time() - t_start, 1)
    manifest["training"]["int8_training_top1"] = round(fit, 4)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    # last, on the finished package (slots included): the examples a device runs before it
    # accepts it; the marked spans are the expected slots when the data marks any
    from edge.train import selftest
    marked = any(e.spans for e in examples)
    n = len(selftest.record(out, [(e.text, e.label, e.spans if marked else None) for e in examples])["selftest"])
    _log(f"{n} self-test examples in the manifest")
    _log(f"wrote {out} ({X.package_size(out) / 1024:.0f} KiB) in {time.time() - t_start:.0f}s")
    print(tune.format_expected(report, th, esc, temperature, k))
    return 0
