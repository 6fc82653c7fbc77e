"""The words and features of the slot tagger (edge/tagger.py), shared by training
(edge/train/slots.py) and run time.

Features of a word: the word, its neighbours, affixes, shape, word classes (numbers,
weekdays, months, units...), the built-in lists (edge/gazetteers.py), built-in entities
(datetime and duration spans, edge.entities) and the values each slot had in training.
`token_features` writes them as strings (training builds the tagger's feature list from them);
`FastFeatures` gives the ids of the same features at run time without building the strings,
from tables made once per tagger file (tests/test_slots.py checks that both agree).
"""

from __future__ import annotations

import re
from itertools import accumulate, chain
from typing import Iterable, Mapping, Sequence

from edge import entities, gazetteers

__all__ = ["tokenize", "token_features", "entity_tags", "gazetteer_tags", "value_words", "FastFeatures",
           "ENTITY_FEATURES"]

_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")

# word classes shared by many slot types (numbers, dates, times)
_CLASS: dict[str, str] = {}
for _w in entities._NUMBER_WORDS:
    _CLASS[_w] = "num"
for _w in entities._WEEKDAYS:
    _CLASS[_w] = "wd"
for _w in entities._MONTHS:
    _CLASS[_w] = "mon"
for _w in entities._DURATION_UNITS:
    if len(_w) > 2:
        _CLASS[_w] = "unit"
for _w in ("morning", "afternoon", "evening", "night", "tonight", "noon", "midnight", "today", "tomorrow",
           "yesterday", "now", "am", "pm", "weekend"):
    _CLASS[_w] = "time"
for _w in ("percent", "degrees", "degree", "celsius", "fahrenheit", "dollars", "euros", "pounds"):
    _CLASS[_w] = "measure"
del _w


_BUILTIN_GAZ = gazetteers.index()
_BUILTIN_WORDS = gazetteers.word_index()
# entity features need a reference time only to decide what is an entity, not its value
_FIXED_NOW = __import__("datetime").datetime(2026, 1, 1, 12, 0, tzinfo=__import__("datetime").timezone.utc)


def tokenize(text: str) -> list[tuple[int, int]]:
    """Words and single punctuation marks, as (start, end) character offsets."""
    return [m.span() for m in _WORD.finditer(text)]


def _shape(w: str) -> str:
    if w.isdigit():
        return "d" + ("4" if len(w) == 4 else "")
    if w[:1].isupper():
        return "X" if w.isupper() and len(w) > 1 else "Xx"
    if w[:1].isalpha() or w[:1] == "_":
        return "x"
    if w[:1].isdigit():
        return "dx"
    return "p"


def _word_class(lw: str) -> str:
    c = _CLASS.get(lw)
    if c is not None:
        return c
    if lw[:1].isdigit():
        return "num"
    return ""


ENTITY_FEATURES = ("datetime", "duration")
# words without which a text holds no datetime or duration (edge.entities' grammar)
_TRIGGERS = frozenset(entities._NUMBER_WORDS | set(entities._WEEKDAYS) | set(entities._MONTHS)
                      | set(entities._DURATION_UNITS) | {
                          "today", "tomorrow", "tonight", "yesterday", "noon", "midday", "midnight", "now",
                          "immediately", "half", "quarter", "dozen", "couple", "weekend", "morning", "afternoon",
                          "evening", "night"})


def entity_tags(text: str, spans: Sequence[tuple[int, int]], low: Sequence[str] | None = None) -> list[list[str]]:
    """"e=<kind>:B/I" for the words inside a built-in entity (edge.entities) of ENTITY_FEATURES
    (`low`: the words, lower-cased, when the caller has them)."""
    out: list[list[str]] = [[] for _ in spans]
    if not ENTITY_FEATURES:
        return out
    # no digit and no date, time or number word: no datetime or duration (skips most texts)
    if not any(map(str.isdigit, text)) and _TRIGGERS.isdisjoint(
            low if low is not None else [text[a:b].lower() for a, b in spans]):
        return out
    # one sweep over the words for all the entities (both are in text order, entities without
    # overlaps): a loop over every word for every entity was quadratic in a long text of numbers
    i = 0
    n = len(spans)
    for e in entities.find(text, ENTITY_FEATURES, now=_FIXED_NOW):
        while i < n and spans[i][0] < e.start:
            i += 1
        first = True
        while i < n and spans[i][0] < e.end:
            if spans[i][1] <= e.end:
                out[i].append("e=" + e.kind + (":B" if first else ":I"))
                first = False
            i += 1
    return out


def token_features(words: Sequence[str], gaz: Sequence[Sequence[str]],
                   ents: Sequence[Sequence[str]] | None = None) -> list[list[str]]:
    """Feature strings of each word (original case) given gazetteer tags per word ("slot:B")."""
    low = [w.lower() for w in words]
    cls = [_word_class(w) for w in low]
    shapes = [_shape(w) for w in words]
    builtin = gazetteers.tags(words, low, _BUILTIN_GAZ, _BUILTIN_WORDS)
    n = len(words)
    out = []
    for i in range(n):
        w = low[i]
        p1 = low[i - 1] if i > 0 else "<s>"
        n1 = low[i + 1] if i + 1 < n else "</s>"
        f = ["b", "w=" + w, "p1=" + p1, "n1=" + n1, "pw=" + p1 + "|" + w, "wn=" + w + "|" + n1,
             "p2=" + (low[i - 2] if i > 1 else "<s>"), "n2=" + (low[i + 2] if i + 2 < n else "</s>"),
             "s3=" + w[-3:], "s2=" + w[-2:], "p3=" + w[:3], "sh=" + shapes[i],
             "shp=" + (shapes[i - 1] if i > 0 else "<s>") + shapes[i]]
        if cls[i]:
            f.append("c=" + cls[i])
        if i > 0 and cls[i - 1]:
            f.append("pc=" + cls[i - 1])
        if i + 1 < n and cls[i + 1]:
            f.append("nc=" + cls[i + 1])
        for g in gaz[i]:
            f.append("g=" + g)
        f.extend(builtin[i])
        if ents is not None:
            f.extend(ents[i])
        out.append(f)
    return out


_GAZ_STOP = frozenset("the and for with from this that your our their his her its you are was were has have "
                      "not but all any can".split())


def value_words(gazetteer: Mapping[str, Sequence[tuple[str, tuple[str, ...]]]]) -> dict[str, tuple[str, ...]]:
    """word -> the slots with a known value holding it (words of 3+ letters, common ones aside)."""
    out: dict[str, set[str]] = {}
    for entries in gazetteer.values():
        for slot, value in entries:
            for w in value:
                if len(w) > 2 and w.isalpha() and w not in _GAZ_STOP:
                    out.setdefault(w, set()).add(slot)
    return {w: tuple(sorted(v)) for w, v in out.items()}


def gazetteer_tags(low: Sequence[str], gazetteer: Mapping[str, Sequence[tuple[str, ...]]],
                   max_len: int, skip: Iterable[tuple[str, tuple[str, ...]]] = (),
                   words: Mapping[str, tuple[str, ...]] | None = None,
                   skip_words: Iterable[tuple[str, str]] = ()) -> list[list[str]]:
    """For each word, "slot:B"/"slot:I" of every known value (lower-cased word tuples) covering it,
    and "w:slot" when the word is a word of a known value of that slot (`words`, value_words()).

    `gazetteer` maps a first word to the (slot, value words) entries starting with it; `skip`
    and `skip_words` leave some (slot, value) and (slot, word) pairs out (training leaves out
    what only the sentence itself has)."""
    n = len(low)
    if words:
        skip_words = set(skip_words)
        tags: list[list[str]] = [["w:" + sl for sl in words.get(w, ()) if (sl, w) not in skip_words]
                                 if w in words else [] for w in low]
    else:
        tags = [[] for _ in range(n)]
    skip = set(skip)
    for i in range(n):
        for slot, value in gazetteer.get(low[i], ()):
            k = len(value)
            if i + k <= n and tuple(low[i:i + k]) == value and (slot, value) not in skip:
                tags[i].append(slot + ":B")
                for j in range(i + 1, i + k):
                    tags[j].append(slot + ":I")
    return tags


class FastFeatures:
    """The feature ids of token_features(words, gaz, ents), built without its strings.

    token_features is the reference (training uses it); this gives the same multiset of known
    feature ids per word (plus -1s for unknown ones, which score nothing), from tables made
    once per tagger file: each word of the tagger's vocabulary -> the ids of its own features (w=,
    s3=, s2=, p3=, c=, kw=) and of it as a neighbour (p1=, n1=, p2=, n2=, pc=, nc=); shapes and
    shape pairs -> sh=/shp= ids (pw=/wn= of word pairs are looked up by their strings). A word outside
    the vocabulary gets its ids by lookups of its strings, as token_features would."""

    __slots__ = ("fid", "b", "vocab", "sh", "shp", "start_ids", "end_ids", "bgaz")

    def __init__(self, fid: Mapping[str, int]) -> None:
        self.fid = fid
        get = fid.get
        self.b = get("b", -1)
        words: set[str] = set()
        for f in fid:
            k, _, v = f.partition("=")
            if k in ("w", "p1", "n1", "p2", "n2"):
                words.add(v)
        words.discard("<s>")
        words.discard("</s>")
        self.vocab = {w: self.word(w) for w in words}
        shapes = ("d", "d4", "X", "Xx", "x", "dx", "p")
        self.sh = {x: get("sh=" + x, -1) for x in shapes}
        self.shp = {(a, x): get("shp=" + a + x, -1) for a in shapes + ("<s>",) for x in shapes}
        # a neighbour that is the sentence's start or end: (p1, n1, p2, n2, pc, nc) of "<s>"/"</s>"
        self.start_ids = (get("p1=<s>", -1), -1, get("p2=<s>", -1), -1, -1, -1)
        self.end_ids = (-1, get("n1=</s>", -1), -1, get("n2=</s>", -1), -1, -1)
        self.bgaz = {first: [(name, entry, get("k=" + name + ":B", -1), get("k=" + name + ":I", -1))
                             for name, entry in entries] for first, entries in _BUILTIN_GAZ.items()}

    def word(self, w: str) -> tuple[int, ...]:
        """The ids of a lower-cased word as a neighbour (p1=, n1=, p2=, n2=, pc=, nc=), then those of
        its own features (w=, s3=, s2=, p3=, c=, kw=): one flat tuple (a few hundred KB for a
        vocabulary of a thousand words)."""
        get = self.fid.get
        c = _word_class(w)
        ids = [get("p1=" + w, -1), get("n1=" + w, -1), get("p2=" + w, -1), get("n2=" + w, -1),
               get("pc=" + c, -1) if c else -1, get("nc=" + c, -1) if c else -1,
               get("w=" + w, -1), get("s3=" + w[-3:], -1), get("s2=" + w[-2:], -1), get("p3=" + w[:3], -1)]
        if c:
            ids.append(get("c=" + c, -1))
        ids += [get("kw=" + x, -1) for x in _BUILTIN_WORDS.get(w, ())]
        return tuple(ids[:6]) + tuple(i for i in ids[6:] if i >= 0)

    def unseen(self, w: str) -> tuple[int, ...]:
        """word() of a word outside the vocabulary: its w=, p1=, n1=, p2= and n2= are unknown by
        the vocabulary's definition, so only the affix, class and list features are looked up."""
        get = self.fid.get
        c = _word_class(w)
        ids = [-1, -1, -1, -1, get("pc=" + c, -1) if c else -1, get("nc=" + c, -1) if c else -1,
               get("s3=" + w[-3:], -1), get("s2=" + w[-2:], -1), get("p3=" + w[:3], -1)]
        if c:
            ids.append(get("c=" + c, -1))
        kw = _BUILTIN_WORDS.get(w)
        if kw:
            ids += [get("kw=" + x, -1) for x in kw]
        return tuple(ids)

    def ids(self, words: Sequence[str], low: Sequence[str], gaz: Sequence[Sequence[int]] | None = None,
            ents: Sequence[Sequence[str]] | None = None) -> tuple[list[int], list[int]]:
        """(ids, offsets): the feature ids of every word (-1: unknown), flattened, and where each
        word's start. `gaz`: the intent's "g=" ids per word (IntentTagger.gaz_ids); `ents`: entity_tags."""
        n = len(low)
        vocab = self.vocab
        recs = [vocab.get(w) or self.unseen(w) for w in low]
        nbs = [self.start_ids, self.start_ids] + recs + [self.end_ids, self.end_ids]
        get = self.fid.get
        # the pairs (low[k-1], low[k]), "<s>" before the first word and "</s>" after the last
        bounded = ["<s>", *low, "</s>"]
        pairs = [bounded[k] + "|" + bounded[k + 1] for k in range(n + 1)]
        pw = [get("pw=" + p, -1) for p in pairs[:-1]]
        wn = [get("wn=" + p, -1) for p in pairs[1:]]
        # (a lower-case word of letters is "x" without the call)
        shapes = ["x" if w.isalpha() and w.islower() else _shape(w) for w in words]
        sh, shp, b = self.sh, self.shp, self.b
        feats = [[b, p1[0], n1[1], p2[2], n2[3], x, y, sh[s], shp[ps, s], p1[4], n1[5], *r[6:]]
                 for p1, n1, p2, n2, x, y, s, ps, r in zip(nbs[1:], nbs[3:], nbs, nbs[4:], pw, wn, shapes,
                                                         ["<s>", *shapes], recs)]
        # multi-word entries of the built-in lists ("k=<list>:B/I")
        bgaz = self.bgaz
        for i in range(n):
            for name, entry, kb, ki in bgaz.get(low[i], ()):
                k = len(entry)
                if i + k <= n and tuple(low[i:i + k]) == entry:
                    if k == 1 and len(entry[0]) == 2 and not words[i].isupper():
                        continue
                    feats[i].append(kb)
                    for j in range(i + 1, i + k):
                        feats[j].append(ki)
        if gaz is not None:
            for f, g in zip(feats, gaz):
                f += g
        if ents is not None:
            for f, e in zip(feats, ents):
                if e:
                    f += [get(x, -1) for x in e]
        # -1 (unknown): IntentTagger.rows[-1] is -1, a row of zeros
        offsets = list(accumulate(map(len, feats), initial=0))
        offsets.pop()
        ids = list(chain.from_iterable(feats))
        return ids, offsets
