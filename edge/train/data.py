"""Training data: CLINC150-format JSON, or the user's own intents file, and
the augmentation / transfer set the teacher labels for the student.

Accepted formats for ``--data`` (read by edge.dataset, which edge eval uses too):

1. CLINC150 format: a JSON object whose values are lists of ``[text, label]``
   pairs; ``train`` (+ ``oos_train``) are used for training and ``val``
   (+ ``oos_val``) for tuning (``--val-split``). Label ``oos`` = out of scope.
2. An intents JSON: ``{"intent_name": ["example sentence", ...], ...}``.
3. An intents text file (``.txt``/``.md``): ``## intent_name`` header lines,
   one example sentence per line under each; blank lines and lines starting
   with ``#`` followed by a space (comments) are ignored.

Intent names: 1-64 characters of ``[A-Za-z0-9_.-]``, not ``oos`` (use an
``oos`` section to give out-of-scope examples). At least 2 intents with at
least 2 examples each. Without a tuning split, 10% of each intent (at least
one example) is held out for tuning, with a fixed seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edge.dataset import DataError, load_examples
from edge.model import OOS, normalize_text

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass
class Dataset:
    labels: list[str]                  # in-scope labels, sorted
    train: list[tuple[str, str]]       # (text, label or "oos")
    val: list[tuple[str, str]]
    source: str                        # description for the manifest


def _holdout(pairs: list[tuple[str, str]], seed: int, frac: float = 0.1):
    by: dict[str, list[str]] = {}
    for t, l in pairs:
        by.setdefault(l, []).append(t)
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by):
        texts = by[label][:]
        rng.shuffle(texts)
        k = max(1, round(len(texts) * frac)) if len(texts) >= 2 else 0
        val += [(t, label) for t in texts[:k]]
        train += [(t, label) for t in texts[k:]]
    return train, val


def load_dataset(path: str | Path, val_split: str | None = "val", val_path: str | Path | None = None,
                 seed: int = 13) -> Dataset:
    """Read ``path`` with :func:`edge.dataset.load_examples` (every format, slot
    markup stripped). A [text, label] JSON with a ``train`` list gives train
    (``train`` + ``oos_train``) and, when present, the tuning split
    (``val_split`` + ``oos_<val_split>``)."""
    path = Path(path)
    examples = load_examples(path)
    val: list[tuple[str, str]] | None = None
    splits = {e.split for e in examples}
    if None not in splits:  # a [text, label] JSON
        if "train" not in splits:
            raise DataError(f"{path}: [text, label] file without a 'train' list; keys: "
                            f"{', '.join(sorted(s for s in splits if s))}")
        train = [(e.text, e.label) for e in examples if e.split in ("train", "oos_train")]
        if val_split and val_split in splits:
            val = [(e.text, e.label) for e in examples
                   if e.split in (val_split, f"oos_{val_split}")]
        source = f"{path.name} (CLINC150 format: train + oos_train; tuned on {val_split})"
    else:
        train = [(e.text, e.label) for e in examples]
        source = f"{path.name} ({'intents JSON' if path.suffix.lower() == '.json' else 'intents text file'})"
    train = [(t, l) for t, l in train if normalize_text(t)]
    counts: dict[str, int] = {}
    for _, l in train:
        counts[l] = counts.get(l, 0) + 1
    labels = sorted(k for k in counts if k != OOS)
    if len(labels) < 2:
        raise DataError(f"{path}: need at least 2 intents (found {len(labels)})")
    few = [k for k in labels if counts[k] < 2]
    if few:
        raise DataError(f"{path}: intents with fewer than 2 examples: {', '.join(few)}")
    if val_path is not None:
        val = load_dataset(val_path, val_split=None, seed=seed).train
    if val is None:
        train, val = _holdout(train, seed)
        source += "; 10% of each intent held out for tuning"
    unknown = sorted({l for _, l in val if l != OOS and l not in counts})
    if unknown:
        raise DataError(f"tuning split has labels not in training data: {', '.join(unknown[:10])}")
    return Dataset(labels=labels, train=train, val=val, source=source)


def read_wiki(path: str | Path | None, limit: int | None = None) -> list[str]:
    if path is None:
        return []
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: transfer sentence file not found")
    lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if normalize_text(ln)]
    return lines[:limit] if limit else lines


# -- augmentation (unlabelled: the teacher labels these softly) ---------------

def _words(t: str) -> list[str]:
    return normalize_text(t).split()


def augment(train: Sequence[tuple[str, str]], n: int, seed: int) -> list[str]:
    """``n`` synthetic utterances from the training texts: word dropout, local
    swaps, and crossovers (a prefix of one utterance + a suffix of another,
    same or different intent)."""
    rng = random.Random(seed)
    texts = [_words(t) for t, _ in train]
    texts = [w for w in texts if w]
    out: list[str] = []
    while len(out) < n:
        r = rng.random()
        a = rng.choice(texts)
        if r < 0.3:  # word dropout
            keep = [w for w in a if rng.random() > 0.25] or a[:1]
            s = keep
        elif r < 0.45:  # swap two neighbouring words, maybe drop one
            s = a[:]
            if len(s) > 2:
                i = rng.randrange(len(s) - 1)
                s[i], s[i + 1] = s[i + 1], s[i]
        elif r < 0.85:  # crossover
            b = rng.choice(texts)
            i = rng.randint(1, max(1, len(a) - 1))
            j = rng.randint(0, max(0, len(b) - 1))
            s = a[:i] + b[j:]
        else:  # random window of an utterance
            i = rng.randrange(len(a))
            s = a[i:i + rng.randint(1, 4)]
        if s:
            out.append(" ".join(s))
    return out


def split_wiki(wiki: Sequence[str], seed: int, n_oos: int = 1000) -> tuple[list[str], list[str]]:
    """(sentences the teacher trains on as "oos", the rest for the transfer set)."""
    w = list(wiki)
    random.Random(seed).shuffle(w)
    return w[:n_oos], w[n_oos:]


# Function words stay put when substituting: replacing them breaks the frame
# that carries the intent, which is exactly what the substitution should keep.
_FRAME = frozenset("""a an the my me i you your we our us it its is are was were be been am do does
did can could would will should shall may might must have has had to of in on at for from by with
about into over under and or but not no yes please what whats what's when where who whom which why
how this that these those there here some any all much many more most tell show give get set let
make find want need like just also so if then than too very up down out off""".split())


def substitute(train: Sequence[tuple[str, str]], wiki: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` training utterances with one or two content words replaced by (or
    joined by) words from the unlabelled sentences, and numbers by other numbers.

    Why: real requests name things the training set never saw ("define
    schadenfreude", "reservations at spago"). A student that only saw rare words
    in the wiki sentences the teacher calls out-of-scope learns "unknown word =>
    out of scope" and rejects such requests. The teacher labels these texts, so
    where a substitution does change the meaning, the label follows it."""
    rng = random.Random(seed)
    texts = [_words(t) for t, _ in train]
    texts = [w for w in texts if w]
    tokens = [w for s in wiki for w in _words(s) if len(w) >= 3 and w.isalpha() and w not in _FRAME]
    if not texts or not tokens:
        return []
    types = sorted(set(tokens))
    out: list[str] = []
    while len(out) < n:
        s = rng.choice(texts)[:]
        slots = [i for i, w in enumerate(s) if w not in _FRAME] or list(range(len(s)))
        picks = rng.sample(slots, min(len(slots), 1 if rng.random() < 0.7 else 2))
        for i in sorted(picks, reverse=True):  # right to left: an insertion shifts what follows
            if s[i].isdigit():
                s[i] = str(rng.randint(0, 10 ** rng.randint(1, 4)))
                continue
            # common words half the time, any word (mostly rare ones) otherwise
            w = rng.choice(tokens) if rng.random() < 0.5 else rng.choice(types)
            if rng.random() < 0.2:
                s.insert(i + rng.randint(0, 1), w)   # a new name next to the old word
            else:
                s[i] = w
        out.append(" ".join(s))
    return out
