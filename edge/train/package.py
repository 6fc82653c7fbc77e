"""What every training recipe makes the same way: the package's tokenizer and the head
of its manifest (what the runtime needs to load and run the model).

Both recipes (edge/train/cli.py's distil recipe, edge/train/fast.py's custom intents,
and edge/train/home.py through fast.py) import these from here, so no recipe reaches
into another's private helpers (issue 24: fast.py used to import cli.py's).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DECISION", "train_tokenizer", "manifest_head"]

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
