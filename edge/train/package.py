"""What every training recipe makes the same way: the package's tokenizer and the head
of its manifest (what the runtime needs to load and run the model), the cache folder of
teachers, logits and embeddings, and the progress and warning lines.

The recipes (edge/train/distil.py, edge/train/fast.py's custom intents, and
edge/train/home_recipe.py through fast.py) import these from here, so no recipe reaches
into another's private helpers (issue 24: fast.py used to import cli.py's, and
home_recipe.py fast.py's cache folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["DECISION", "train_tokenizer", "manifest_head", "cache_dir", "log", "warn"]

DECISION = ("logits over labels + a trailing 'oos' class; confidence = softmax(logits / "
            "temperature) of the best in-scope label (over all classes); intent = 'oos' when "
            "confidence < thresholds.oos, else the best in-scope label; the router escalates when "
            "intent == 'oos' or confidence < thresholds.escalation")


def train_tokenizer(texts: list[str], vocab: int, prefix: Path, seed: int) -> Path:
    """A sentencepiece unigram model over ``texts`` (normalised as the runtime does),
    written as ``prefix``.model; returns its path."""
    import sentencepiece as spm

    from edge.model import normalize_text

    src = prefix.with_suffix(".txt")
    src.write_text("\n".join(normalize_text(t) for t in texts) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(src), model_prefix=str(prefix), vocab_size=vocab, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, hard_vocab_limit=False, character_coverage=1.0,
        num_threads=1, minloglevel=2, input_sentence_size=0, shuffle_input_sentence=False)
    return prefix.with_suffix(".model")


def manifest_head(name: str, version: str, labels: list[str], max_len: int,
                  thresholds: tuple[float, float], temperature: float, scfg, student, ops) -> dict:
    """The first part of a package's manifest, the same for both recipes: what the
    runtime needs to load and run the model (the rest says how it was made)."""
    return {
        "name": name,
        "version": version,
        "labels": labels,
        "max_len": max_len,
        "thresholds": {"oos": thresholds[0], "escalation": thresholds[1]},
        "calibration": {"temperature": temperature},
        "decision": DECISION,
        "input": {"name": "ids", "dtype": "int32", "shape": [-1, max_len], "pad_id": 0,
                  "tokenizer": "sentencepiece unigram, edge.model.normalize_text first"},
        "output": {"dtype": "int8", "n_classes": len(labels) + 1,
                   "classes": "labels in order, then 'oos'"},
        "architecture": {"type": "cnn", **scfg.to_dict(), "parameters": student.n_params(),
                         "ops": sorted(set(ops))},
    }


def cache_dir(args: argparse.Namespace) -> Path:
    """The cache of teacher checkpoints, logits and embeddings (made if missing): --cache-dir, else
    $EDGE_TRAIN_CACHE, else ~/.cache/edge-train."""
    d = Path(args.cache_dir or os.environ.get("EDGE_TRAIN_CACHE", "~/.cache/edge-train")).expanduser()
    d.mkdir(parents=True, exist_ok=True)
    return d


def log(msg: str) -> None:
    """A progress line on stdout, with the time."""
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def warn(msg: str) -> None:
    """A warning on stderr: the model is written, but something about it needs the user's eye."""
    print(f"edge train: WARNING: {msg}", file=sys.stderr, flush=True)
