"""``edge train``: the command's options, the training stack checked, and the recipe run:
'distil' (edge/train/distil.py: CLINC150 with fine-tuned teachers), 'custom' (edge/train/fast.py:
your own intents) or 'home' (edge/train/home_recipe.py: Home Assistant's intents).

Heavy imports (tensorflow, torch) happen inside the recipes, so ``edge --help``
works without the ``train`` extra.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

OOS_RECALL_DEPRECATED = (
    "edge train: WARNING: --oos-recall is deprecated and ignored: a threshold chosen to reach an "
    "out-of-scope recall on the tuning split over-promised by 11-14 points on held-out data "
    "(issue 13). Both recipes now take the out-of-scope threshold from an in-scope budget "
    "(--oos-budget) and the escalation threshold for a stated out-of-scope share (--oos-share, "
    "--silent-error, --max-escalation); see edge/train/operating.py")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None,
                   help="(required but with --recipe home) CLINC150-format JSON ({split: [[text, label], ...]}), an intents JSON "
                        "({intent: [sentence, ...]}) or an intents text file (## intent headers)")
    p.add_argument("--out", required=True, help="output package directory (model.tflite, "
                                                "tokenizer.model, manifest.json)")
    p.add_argument("--val-split", default="val",
                   help="tuning split of a CLINC-format file (with oos_<split>); default: val")
    p.add_argument("--val", default=None, help="a separate tuning file (any accepted format)")
    p.add_argument("--wiki", default=None,
                   help="unlabelled sentences, one a line, for out-of-scope augmentation and the "
                        "transfer set (default: wiki_sents.txt next to --data if present; 'none' "
                        "to disable)")
    p.add_argument("--teacher", choices=["minilm-finetune", "minilm-frozen", "none"],
                   default="minilm-finetune")
    p.add_argument("--teacher-epochs", type=float, default=2.0)
    p.add_argument("--teacher-seeds", default=None,
                   help="comma-separated seeds, one teacher each (default: --seed). Each seed also "
                        "draws its own augmentation and wiki split; the student learns from the "
                        "union of those transfer sets, every text labelled by the mean of all "
                        "teachers' logits")
    p.add_argument("--epochs", type=int, default=None, help="student epochs (default: 16 for the distil recipe, 12 for custom intents; 1 with the --quick smoke test)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--ema", type=float, default=0.0,
                   help="export an exponential moving average of the student's weights with this "
                        "decay per step (e.g. 0.999; default 0 = the last weights)")
    p.add_argument("--vocab-size", type=int, default=None, help="sentencepiece vocabulary (default 4000)")
    p.add_argument("--max-len", type=int, default=32)
    p.add_argument("--dim", type=int, default=192, help="student embedding width")
    p.add_argument("--filters", type=int, default=384, help="student filters per kernel width")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--init-emb", choices=["minilm", "random"], default="minilm",
                   help="initialise the student's embeddings from MiniLM's (with a teacher)")
    p.add_argument("--augment", type=int, default=60000,
                   help="synthetic utterances labelled by the teacher (default 60000)")
    p.add_argument("--substitute", type=int, default=40000,
                   help="training utterances with content words swapped for words of the "
                        "unlabelled sentences, labelled by the teacher, per teacher seed "
                        "(default 40000; 0 = none)")
    p.add_argument("--oos-plus", default=None, metavar="FILE",
                   help="more real out-of-scope training texts: a CLINC-format JSON's 'oos_train' "
                        "list (e.g. oos_plus_train.json); those not in --data are added, but "
                        "--oos-holdout of them (seeded) are kept out for checking thresholds")
    p.add_argument("--oos-holdout", type=int, default=50)
    p.add_argument("--oos-repeat", type=int, default=1,
                   help="real out-of-scope training texts appear this many times in the labelled set")
    p.add_argument("--near-miss", type=int, default=0,
                   help="near-miss out-of-scope texts made from the training data per teacher seed "
                        "(edge.train.oos.near_misses), labelled oos; default 0")
    p.add_argument("--save-student", default=None, metavar="FILE",
                   help="also save the float student's weights (.npz) for a later re-export")
    p.add_argument("--oos-recall", type=float, default=None, help=argparse.SUPPRESS)  # deprecated no-op
    from edge.train import operating
    operating.add_threshold_arguments(p)
    p.add_argument("--name", default=None, help="package name (default: the --out folder name)")
    p.add_argument("--version", default=None, help="package version (default: the date, YYYY.MM.DD)")
    p.add_argument("--cache-dir", default=None,
                   help="teacher checkpoints and logits (default $EDGE_TRAIN_CACHE or ~/.cache/edge-train)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true",
                   help="SMOKE TEST ONLY, not a usable model: 1 epoch, vocab 500, no teacher, a tiny "
                        "student (checks that the pipeline runs; accuracy is poor)")
    p.add_argument("--recipe", choices=["auto", "custom", "distil", "home"], default="auto",
                   help="'custom': your own intents (minutes; shipped out-of-scope negatives, "
                        "thresholds by cross-validation; edge/train/fast.py); 'distil': the "
                        "CLINC150 recipe (a fine-tuned teacher, long); 'home': the home model from Home "
                        "Assistant's intents (edge/train/home_recipe.py; no --data). 'auto' (default): distil for "
                        "a [text, label] JSON with a 'train' list, custom otherwise")
    p.add_argument("--fast-dim", type=int, default=96, help="custom recipe: student embedding width")
    p.add_argument("--fast-filters", type=int, default=192,
                   help="custom recipe: student filters per kernel width")
    p.add_argument("--fast-hidden", type=int, default=256, help="custom recipe: student hidden width")
    from edge.train import fast
    fast.add_arguments(p)
    from edge.train import home_recipe
    home_recipe.add_arguments(p)


def recipe_of(args: argparse.Namespace) -> str:
    """'custom' or 'distil' (see --recipe)."""
    if getattr(args, "recipe", "auto") != "auto":
        return args.recipe
    if not args.data:
        return "custom"
    try:
        with open(args.data, "rb") as f:
            head = f.read(1 << 16).lstrip()
    except OSError:
        return "custom"  # the loader reports the missing file
    if head.startswith(b"{"):
        try:
            obj = json.loads(Path(args.data).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "custom"
        if isinstance(obj, dict) and isinstance(obj.get("train"), list) and obj["train"] \
                and isinstance(obj["train"][0], list):
            return "distil"
    return "custom"


def run(args: argparse.Namespace) -> int:
    from edge.train.data import DataError

    if getattr(args, "oos_recall", None) is not None:
        print(OOS_RECALL_DEPRECATED, file=sys.stderr)
    recipe = recipe_of(args)
    if recipe != "home" and not args.data:
        print("edge train: --data is required (but with --recipe home)", file=sys.stderr)
        return 2
    needs_teacher = (not args.quick) and (recipe == "custom" or args.teacher != "none")
    missing = [m for m in ("tensorflow", "sentencepiece", "numpy")
               + (("torch", "transformers") if needs_teacher else ())
               + (("hassil", "home_assistant_intents") if recipe == "home" else ())
               if importlib.util.find_spec(m) is None]
    if missing:
        print(f"edge train: needs the train extra (pip install '.[train]'); missing: "
              f"{', '.join(missing)}", file=sys.stderr)
        return 2
    if args.quick:
        print("edge train: --quick is a SMOKE TEST: the model it writes is not meant for use",
              file=sys.stderr)
    try:
        if recipe == "custom":
            from edge.train import fast
            return fast.run(args)
        if recipe == "home":
            from edge.train import home_recipe
            return home_recipe.run(args)
        from edge.train import distil
        return distil.run(args)
    except DataError as e:
        print(f"edge train: {e}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:  # python -m edge.train.cli
    p = argparse.ArgumentParser(prog="edge train", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
