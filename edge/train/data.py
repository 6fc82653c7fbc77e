"""Training data: CLINC150-format JSON, or the user's own intents file, and
the augmentation / transfer set the teacher labels for the student.

Accepted formats for ``--data``:

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

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edge.model import OOS, normalize_text

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class DataError(ValueError):
    """A training data file is malformed; the message names file and place."""


@dataclass
class Dataset:
    labels: list[str]                  # in-scope labels, sorted
    train: list[tuple[str, str]]       # (text, label or "oos")
    val: list[tuple[str, str]]
    source: str                        # description for the manifest


def _check_name(name: str, path: Path, where: str) -> None:
    if name != OOS and not _NAME.match(name):
        raise DataError(f"{path}: {where}: intent name {name!r} must be 1-64 characters of "
                        "letters, digits, '_', '.', '-'")


def parse_intents_txt(text: str, path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("# ") or line == "#":
            continue
        if line.startswith("##"):
            name = line[2:].strip()
            _check_name(name, path, f"line {n}")
            if name in out:
                raise DataError(f"{path}: line {n}: intent {name!r} appears twice")
            out[name] = []
            current = name
            continue
        if current is None:
            raise DataError(f"{path}: line {n}: example sentence before the first '## intent' header")
        out[current].append(line)
    return out


def _pairs(items: object, path: Path, key: str) -> list[tuple[str, str]]:
    if not isinstance(items, list):
        raise DataError(f"{path}: {key!r} must be a list of [text, label] pairs")
    res = []
    for i, it in enumerate(items):
        if (not isinstance(it, (list, tuple)) or len(it) != 2 or not isinstance(it[0], str)
                or not isinstance(it[1], str)):
            raise DataError(f"{path}: {key}[{i}] is not a [text, label] pair of strings")
        res.append((it[0], it[1]))
    return res


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
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read as UTF-8 text ({e})") from None
    val: list[tuple[str, str]] | None = None
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(obj, dict) or not obj:
            raise DataError(f"{path}: expected a non-empty JSON object")
        first = next(iter(obj.values()))
        clinc = isinstance(first, list) and first and isinstance(first[0], list)
        if clinc:
            if "train" not in obj:
                raise DataError(f"{path}: CLINC-format file without a 'train' list; keys: {', '.join(obj)}")
            train = _pairs(obj["train"], path, "train") + (
                _pairs(obj["oos_train"], path, "oos_train") if "oos_train" in obj else [])
            if val_split and val_split in obj:
                val = _pairs(obj[val_split], path, val_split) + (
                    _pairs(obj[f"oos_{val_split}"], path, f"oos_{val_split}")
                    if f"oos_{val_split}" in obj else [])
            source = f"{path.name} (CLINC150 format: train + oos_train; tuned on {val_split})"
        else:
            intents: dict[str, list[str]] = {}
            for k, v in obj.items():
                _check_name(k, path, "key")
                if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                    raise DataError(f"{path}: intent {k!r} must map to a list of example sentences")
                intents[k] = v
            train = [(s, k) for k, v in intents.items() for s in v]
            source = f"{path.name} (intents JSON)"
    else:
        intents = parse_intents_txt(raw, path)
        train = [(s, k) for k, v in intents.items() for s in v]
        source = f"{path.name} (intents text file)"
    train = [(t, l) for t, l in train if normalize_text(t)]
    for t, l in train:
        _check_name(l, path, f"label of {t!r}")
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
