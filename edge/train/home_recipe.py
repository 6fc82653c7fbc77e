"""``edge train --recipe home``: the home model package from the pip data, reproducibly.

1. edge/train/home.py samples Home Assistant's templates for each ``--languages``
   language, whole templates held out (``--holdout``), and writes the training file,
   the holdout files and the negatives under ``--home-data`` (a cache, never committed).
2. The custom-intents recipe (edge/train/fast.py) trains the intent model and the slot
   tagger on it, with negatives: ours per language (negatives/home_<lang>.txt) and the
   shipped ones (CLINC150, Wikipedia) less CLINC150's sections that are Home Assistant
   intents (smart_home, timer, shopping_list, ...), which would teach "oos" for them.
3. The manifest gains ``languages``, the data's credit and licence, and the numbers
   of edge/train/home_eval.py on each language's template holdout (and on the
   paraphrase dev sets when given with ``--dev``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edge.train import home, home_paraphrases

# CLINC150 intents that Home Assistant's intents cover: not out of scope for this model
OVERLAP = ("smart_home", "timer", "shopping_list", "shopping_list_update", "todo_list",
           "todo_list_update", "play_music", "next_song", "change_volume", "weather", "time",
           "date", "alarm", "reminder", "what_song", "update_playlist")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the home recipe (edge/train/cli.py adds them)."""
    g = p.add_argument_group("home recipe (--recipe home)")
    g.add_argument("--languages", default=",".join(home.LANGUAGES),
                   help="comma-separated languages of home-assistant-intents (default en,de,fr,es)")
    g.add_argument("--per-intent", type=int, default=250,
                   help="training sentences sampled per intent and language (default 250)")
    g.add_argument("--holdout", type=_share, default=0.15,
                   help="share of each intent's templates held out for validation (default 0.15); "
                        "0: train on every template and every negative of ours (the shipped "
                        "build: validate with the split, ship from everything), no holdout "
                        "files and no holdout numbers")
    g.add_argument("--home-data", default=None,
                   help="where the generated data goes (default: <cache-dir>/home-data)")
    g.add_argument("--wiki-negatives", type=int, default=1500,
                   help="general sentences from --wiki (default: CLINC150's wiki_sents.txt in "
                        "../shared/datasets when present) added as out of scope (default 1500)")
    g.add_argument("--tagger-runs", type=int, default=2,
                   help="perceptron runs the slot tagger averages (default 2)")
    g.add_argument("--tagger-prune", type=float, default=4.0,
                   help="drop the slot tagger's features whose largest weight is below this "
                        "(default 4.0: 8.9 MB of weights become 1.9 MB for four languages, "
                        "within a point of slot-exact on the template holdout)")
    g.add_argument("--paraphrases", type=int, default=12,
                   help="sentences sampled per paraphrase template of edge/train/home_paraphrases.py "
                        "(our own writing: how people really say it), added to the training rows "
                        "after the template split; 0: Home Assistant's templates only, as 1.1.0 "
                        "(default 12)")
    g.add_argument("--dev", action="append", default=[], metavar="LANG=FILE",
                   help="a paraphrase dev set to measure the package on (repeatable)")


def _share(s: str) -> float:
    """--holdout: a share in [0, 1) (1 would leave an intent nothing to train on; a
    negative or NaN share would silently mean 0)."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not 0.0 <= v < 1.0:   # also refuses nan
        raise argparse.ArgumentTypeError(f"a share in [0, 1), not {s}")
    return v


def own_negatives(langs: list[str], holdout: bool = True) -> dict[str, list[str]]:
    """Our negatives per language that are trained on: every third line is held out
    (for the holdout files), or none when ``holdout`` is false (the shipped build).
    They go into the training file's ``## oos``, which fast.py never filters (its
    similarity filter would drop near misses, which are the point of them)."""
    return {lang: [x for i, x in enumerate(home.negatives(lang)) if i % 3 or not holdout]
            for lang in langs}


def _wiki(args: argparse.Namespace, shipped: set[str]) -> list[str]:
    """--wiki-negatives sentences of --wiki (seeded), none that the shipped negatives have."""
    import random
    w = args.wiki
    if w is None:
        cand = Path(__file__).resolve().parents[2].parent / "shared/datasets/clinc150/wiki_sents.txt"
        w = str(cand) if cand.is_file() else None
    if not w or w.lower() == "none" or args.wiki_negatives <= 0:
        return []
    lines = [ln.strip() for ln in Path(w).read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if 3 <= len(ln.split()) <= 30 and ln not in shipped]
    return random.Random(args.seed).sample(lines, min(args.wiki_negatives, len(lines)))


def _negatives(langs: list[str], path: Path, wiki: list[str] = ()) -> dict:
    """Write the shipped negatives file, less OVERLAP (sections = fold units); returns counts."""
    from edge.markup import render
    from edge.train.fast import NEGATIVES
    lines, counts = [], {"shipped": 0}
    # English, but out of scope in any language's package
    keep = True
    for ln in NEGATIVES.read_text(encoding="utf-8").splitlines():
        if ln.startswith("## "):
            keep = ln[3:].strip().rsplit(".", 1)[-1] not in OVERLAP
        if keep and not ln.startswith("# "):
            lines.append(ln)
            if ln.strip() and not ln.startswith("## "):
                counts["shipped"] += 1
    if wiki:   # sections of 100: the fold unit of fast.py's cross-validation
        for i in range(0, len(wiki), 100):
            lines += [f"## wikipedia_more_{i // 100}", *(render(w, []) for w in wiki[i:i + 100]), ""]
        counts["wikipedia_more"] = len(wiki)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def _drop_conflicts(rows: list[tuple[str, str, str]]) -> tuple[list[tuple[str, str, str]], int]:
    """Rows less those whose text (as the model sees it) another intent also has: one
    text, one label (a template of HassMediaUnpause and one of HassTurnOn may both say
    "resume"; two languages may share a sentence)."""
    from edge.markup import parse
    from edge.model import normalize_text

    by: dict[str, set[str]] = {}
    keys = []
    for marked, intent, _ in rows:
        k = normalize_text(parse(marked)[0])
        keys.append(k)
        by.setdefault(k, set()).add(intent)
    keep = [r for r, k in zip(rows, keys) if len(by[k]) == 1]
    return keep, len(rows) - len(keep)


def run(args: argparse.Namespace) -> int:
    from edge.train import fast
    from edge.train.package import cache_dir

    t0 = time.time()
    langs = [x.strip() for x in args.languages.split(",") if x.strip()]
    data_dir = Path(args.home_data) if args.home_data else cache_dir(args) / "home-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    rows, info, by_lang = [], {}, {}
    for lang in langs:
        g = home.generate(lang, args.per_intent, args.seed, args.holdout)
        rows += g["train"]
        by_lang[lang] = g["train"]   # the schema reads Home Assistant's templates only
        # our paraphrases: a separate source added after the split, so the holdout is untouched
        para = home_paraphrases.generate(lang, args.paraphrases, args.seed,
                                         exclude=[m for m, _, _ in g["holdout"]])
        rows += para
        info[lang] = {"train_sentences": len(g["train"]), "holdout_sentences": len(g["holdout"]),
                      "templates": len({t for *_, t in g["train"] + g["holdout"]}),
                      "holdout_templates": len({t for *_, t in g["holdout"]}),
                      "intents": len({i for _, i, _ in g["train"]}),
                      "paraphrase_sentences": len(para),
                      "paraphrase_templates": len({t for *_, t in para})}
        hfile = data_dir / f"holdout_{lang}.txt"
        if args.holdout > 0:
            home.write_intents(hfile, g["holdout"], home.negatives(lang)[::3])
        else:   # a stale file of an earlier run in the same --home-data would be measured
            hfile.unlink(missing_ok=True)
        print(f"[home] {lang}: {info[lang]}", flush=True)
    rows, dropped = _drop_conflicts(rows)
    if dropped:
        print(f"[home] {dropped} sentences dropped: the same words under two intents", flush=True)
    train_file = data_dir / "train.txt"
    own = own_negatives(langs, holdout=args.holdout > 0)
    home.write_intents(train_file, rows, [x for lang in langs for x in own[lang]])
    neg_file = data_dir / "negatives.txt"
    from edge.train.fast import NEGATIVES
    wiki = _wiki(args, set(NEGATIVES.read_text(encoding="utf-8").splitlines()))
    neg_counts = {**_negatives(langs, neg_file, wiki), **{f"home_{k}": len(v) for k, v in own.items()}}
    args.data, args.negatives = str(train_file), str(neg_file)
    # the tagger averages --tagger-runs perceptron runs (8 for custom intents): on tens of
    # thousands of sentences fewer runs cost little accuracy and save minutes
    args.tagger_options = {"runs": args.tagger_runs, "prune": args.tagger_prune}
    # the shipped negatives' similarity filter compares them with a sample of the examples
    # (sentences of one template are near-duplicates; all of them cost minutes of MiniLM)
    args.neg_filter_sample = 3000
    from edge.train.home_schema import schema
    home_schema = schema(by_lang)   # the slot sets and number ranges HA's templates give each intent
    rc = fast.run(args)
    if rc:
        return rc
    out = Path(args.out)
    _annotate(out, langs, info, neg_counts, args, data_dir, time.time() - t0, home_schema)
    return 0


def _annotate(out: Path, langs: list[str], info: dict, neg_counts: dict,
              args: argparse.Namespace, data_dir: Path, wall: float, home_schema: dict | None = None) -> None:
    """Add the home recipe's fields to the manifest and measure the package."""
    from importlib.metadata import version

    from edge.model import MANIFEST, Model
    from edge.service import load_slots
    from edge.train.home_eval import evaluate, load_items

    model = Model.load(out, threads=1)
    slots = load_slots(model)
    metrics: dict[str, dict] = {}
    if args.holdout > 0:
        for lang in langs:
            m = evaluate(model, slots, load_items(data_dir / f"holdout_{lang}.txt"))
            m.pop("errors")
            metrics[lang] = {"template_holdout": m}
    else:
        # every template was trained on: a holdout would measure memory, not generalisation;
        # the validation build (same command, --holdout 0.15) is what carries those numbers
        print("[home] --holdout 0: no template holdout to measure (every template trained on)",
              flush=True)
    for spec in args.dev:
        lang, _, f = spec.partition("=")
        m = evaluate(model, slots, load_items(f))
        m.pop("errors")
        metrics.setdefault(lang, {})["paraphrase_dev"] = {"file": Path(f).name, **m}
    mpath = out / MANIFEST
    man = json.loads(mpath.read_text(encoding="utf-8"))
    man["languages"] = langs
    man["training"]["recipe"] = "home (edge/train/home_recipe.py over edge/train/fast.py)"
    man["training"]["source"] = home.CREDIT + (
        "; and paraphrase templates written for edge (edge/train/home_paraphrases.py, CC0)"
        if args.paraphrases > 0 else "")
    man["training"]["home"] = {
        "packages": {"home-assistant-intents": version("home-assistant-intents"),
                     "hassil": version("hassil")},
        "per_intent": args.per_intent, "paraphrases_per_template": args.paraphrases,
        "holdout": args.holdout, "languages": info,
        "negatives": neg_counts,
        "validation": ("whole templates held out per intent (edge.train.home.split_templates)"
                       if args.holdout > 0 else
                       "none held out: trained on every template and every negative of ours; "
                       "validated by the same command with --holdout 0.15"),
        "wall_time_s": round(wall, 1)}
    from edge.train.fast import NEGATIVES_CREDIT
    man["training"]["negatives"]["credit"] = NEGATIVES_CREDIT + [
        "Wikipedia sentences (via the CLINC150 repository's wiki_sents.txt): "
        f"{neg_counts.get('wikipedia_more', 0)} more; CC BY-SA 3.0",
        "edge/train/negatives/home_<lang>.txt: written for edge, CC0"]
    man["license"] = ("model weights derived from Home Assistant intents (CC BY 4.0, "
                      + home.CREDIT + ") and the shipped negatives (CLINC150 CC BY 3.0, "
                      "Wikipedia sentences CC BY-SA 3.0)")
    if home_schema is not None:  # edge/names_schema.py checks replies against it (edge/home.py)
        man["home_schema"] = home_schema
    man.setdefault("metrics", {})["home"] = metrics
    mpath.write_text(json.dumps(man, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(metrics, indent=1), flush=True)
