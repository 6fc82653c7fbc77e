"""Out-of-scope training data beyond the Wikipedia sentences.

Why: the out-of-scope requests a model of 1.1.0's kind accepts are near
misses, not prose (issue 13): about half ask for a different action on
something an intent covers ("delete my texts" where the intent sends them),
a quarter use an intent's keyword in another sense. Wikipedia sentences are
separated trivially and teach little about those. Two sources help:

- real out-of-scope requests (CLINC150's "OOS+" ``oos_train``, 250 texts):
  :func:`extra_oos` adds those not already in the training data, keeping a
  seeded share of them out of training to choose and check thresholds on;
- near misses made from the training data (:func:`near_misses`): an
  utterance with its action verb swapped for one that never occurs, in any
  intent's training data, with any of the utterance's content words ("send
  a text to mom" -> "delete a text to mom"), and an intent's keywords in
  frames no intent covers ("who invented the alarm"). Both are labelled
  ``oos``; the co-occurrence rule keeps swaps that would turn one intent's
  request into another's (cancel/confirm a reservation) out.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from edge.model import OOS, normalize_text
from edge.train.data import _FRAME, DataError

# action verbs of assistant requests (the first column of most CLINC150 intents)
VERBS = tuple("""add book buy call cancel change check clear compare confirm delete disable
download edit email enable erase find fix freeze lock open order pay play post print read rename
reorder repeat replace report reset schedule sell send share skip sort start stop text transfer
translate turn unlock update upload""".split())

# verbs of one group do much the same to the same things: a swap inside a group
# ("share my location" -> "email my location") would make another request of the
# same intent, so swaps go across groups only
VERB_GROUPS = ("send share text email post upload", "buy order download reorder book",
               "delete erase clear", "cancel stop disable", "start enable turn open play",
               "change update edit replace fix reset rename", "lock freeze", "check find read",
               "pay transfer")
_GROUP = {v: g for g, vs in enumerate(VERB_GROUPS) for v in vs.split()}

# frames that put a keyword in a sense no intent covers
FRAMES = (
    "who invented the {w}",
    "what is the history of the {w}",
    "when was the first {w} made",
    "write a poem about {w}",
    "why do people hate {w}",
    "is {w} bad for the environment",
    "how many {w} are there in the world",
    "what is the best documentary about {w}",
    "draw me a picture of a {w}",
    "who is the most famous {w} in history",
    "tell me a joke about {w}",
    "what does my horoscope say about {w}",
)


def extra_oos(path: str | Path, known: Sequence[str], holdout: int, seed: int
              ) -> tuple[list[str], list[str]]:
    """(extra out-of-scope training texts, held-out ones) from a CLINC-format
    file's ``oos_train`` list: texts not already in ``known`` (normalised),
    ``holdout`` of them (seeded) kept out of training."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
        items = obj["oos_train"]
        texts = [t for t, l in items if l == OOS]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{p}: expected a JSON object with an 'oos_train' list of [text, 'oos'] "
                        f"pairs ({e})") from None
    seen = {normalize_text(t) for t in known}
    new: list[str] = []
    for t in texts:
        k = normalize_text(t)
        if k and k not in seen:
            seen.add(k)
            new.append(t)
    rng = random.Random(seed)
    order = list(range(len(new)))
    rng.shuffle(order)
    held = sorted(order[:holdout])
    use = sorted(order[holdout:])
    return [new[i] for i in use], [new[i] for i in held]


# a verb swap only where the verb is followed by one of these (a verb slot, not a noun:
# "book a flight", not "a book")
_OBJECT_START = frozenset("my me the a an your some all this that it these those our".split())


def _content(words: Sequence[str]) -> list[str]:
    return [w for w in words if w not in _FRAME and w not in VERBS and w.isalpha() and len(w) > 2]


def keywords(train: Sequence[tuple[str, str]], min_count: int = 5, share: float = 0.6
             ) -> dict[str, list[str]]:
    """Per intent, its distinctive content words: at least ``min_count``
    occurrences in the intent, and ``share`` of all their occurrences."""
    per: dict[str, Counter] = defaultdict(Counter)
    tot: Counter = Counter()
    for t, l in train:
        if l == OOS:
            continue
        for w in set(_content(normalize_text(t).split())):
            per[l][w] += 1
            tot[w] += 1
    return {l: sorted(w for w, c in cnt.items() if c >= min_count and c >= share * tot[w])
            for l, cnt in per.items()}


def near_misses(train: Sequence[tuple[str, str]], n: int, seed: int, frame_share: float = 0.3
                ) -> list[str]:
    """``n`` distinct near-miss out-of-scope texts made from the training
    utterances (see the module doc): ``1 - frame_share`` verb swaps,
    ``frame_share`` keyword frames."""
    rng = random.Random(seed)
    utts = [(normalize_text(t).split(), l) for t, l in train if l != OOS]
    utts = [(w, l) for w, l in utts if w]
    known = {" ".join(w) for w, _ in utts}
    cooc: set[tuple[str, str]] = set()
    for w, _ in utts:
        vs = [x for x in w if x in VERBS]
        for v in vs:
            for c in _content(w):
                cooc.add((v, c))
    with_verb = [(w, l) for w, l in utts if any(x in VERBS for x in w)]
    kw = keywords(train)
    kw_all = sorted({w for ws in kw.values() for w in ws if len(w) >= 4})
    out: list[str] = []
    seen: set[str] = set()
    tries = 0
    n_frames = int(round(n * frame_share)) if kw_all else 0
    while len(out) < n - n_frames and tries < 50 * n and with_verb:
        tries += 1
        w, _ = rng.choice(with_verb)
        pos = [i for i, x in enumerate(w[:-1]) if x in VERBS and w[i + 1] in _OBJECT_START
               and (i == 0 or w[i - 1] not in _OBJECT_START)]
        if not pos:
            continue
        i = rng.choice(pos)
        content = _content(w)
        if not content:
            continue
        cands = [v for v in VERBS if v != w[i] and _GROUP.get(v, v) != _GROUP.get(w[i], w[i])
                 and not any((v, c) in cooc for c in content)]
        if not cands:
            continue
        s = w[:]
        s[i] = rng.choice(cands)
        text = " ".join(s)
        if text not in known and text not in seen:
            seen.add(text)
            out.append(text)
    while len(out) < n and kw_all and tries < 100 * n:
        tries += 1
        text = rng.choice(FRAMES).format(w=rng.choice(kw_all))
        if text not in known and text not in seen:
            seen.add(text)
            out.append(text)
    return out
