"""The learned slot tagger at run time: the per-intent weights of a tagger file (`slots.json`,
written by edge/train/slots.py) and Viterbi decoding. edge.slots.SlotExtractor uses it; the
words and features are edge/slot_features.py's.

The tagger is a linear-chain model over words, one per intent: BIO tags, emission weights
(one row per feature) and tag transitions from an averaged structured perceptron, Viterbi
decoding. Pure numpy: no TFLite, a few kilobytes to a few hundred per intent.

Two ways to the same scores: IntentTagger.decode builds the features as strings
(`token_features`, as training does: the reference); at run time the ids come from
`FastFeatures` and IntentTagger.scores sums and decodes them (docs/slots.md, "Cost in the
daemon").
"""

from __future__ import annotations

import base64
from typing import Any, Sequence

import numpy as np

from edge.slot_features import gazetteer_tags, token_features, value_words

__all__ = ["FORMAT", "SlotError", "FeatureIds", "IntentTagger", "viterbi"]

FORMAT = "edge-slots/1"
_FEW_VALUES = 8  # known values starting with one word, below which gaz_ids compares them one by one

class FeatureIds(dict):
    """feature string -> id; an unknown feature is -1 (looked up from C through map(), no insert)."""

    __slots__ = ()

    def __missing__(self, key: str) -> int:
        return -1


class SlotError(ValueError):
    """A manifest's "slots" section or tagger file is malformed."""


class IntentTagger:
    __slots__ = ("tags", "rows", "W", "trans", "start", "slot_of", "gaz", "max_gaz", "gaz_words",
                 "gaz_slot_ids", "gaz_by_len")

    def __init__(self, d: dict, feature_ids: dict[str, int], n_features: int, shared: dict | None = None) -> None:
        self.tags: list[str] = d["tags"]
        K = len(self.tags)
        gids = _array(d["rows"])  # the global feature id of each row of W
        if gids.size and (gids.min() < 0 or gids.max() >= n_features):
            raise SlotError("rows: feature id out of range")
        W = _array(d["weights"]).reshape(len(gids), K)
        # global feature id -> row of W (-1: the feature means nothing for this intent)
        self.rows = np.full(n_features + 1, -1, dtype=np.int16 if len(gids) < 32767 else np.int32)
        self.rows[gids] = np.arange(len(gids))
        # row -1: zeros, for features this intent does not use. float32: numpy sums float16 in
        # software (about twice the time), and W is small (rows x tags: 12-70 KB an intent on Snips)
        self.W = np.vstack([W, np.zeros((1, K), np.float32)])
        self.trans = _array(d["transitions"]).reshape(K, K)
        self.start = _array(d["start"]).reshape(K)
        # BIO: I-x only after B-x or I-x
        self.slot_of = [t[2:] for t in self.tags]
        for j, t in enumerate(self.tags):
            if t.startswith("I-"):
                self.start[j] = -1e9
                for i, s in enumerate(self.tags):
                    if s[2:] != t[2:]:
                        self.trans[i, j] = -1e9
        shared = {} if shared is None else shared
        # Intents with the same known values (models/home: 38 intents, 20 distinct gazetteers, every
        # timer intent the same number lists) share one set of tables: built once, held once.
        gazetteer = d.get("gazetteer", {})
        key = ("gazetteer", tuple((slot, tuple(values)) for slot, values in gazetteer.items()))
        tables = shared.get(key)
        if tables is None:
            tables = shared[key] = _gaz_tables(gazetteer, feature_ids, shared)
        self.gaz, self.max_gaz, self.gaz_words, self.gaz_by_len, self.gaz_slot_ids = tables

    def gaz_ids(self, low: Sequence[str]) -> list[list[int]] | None:
        """The ids of this intent's "g=" features per word (token_features' `gaz`, from
        gazetteer_tags), None when no word has any."""
        if not self.gaz:
            return None
        out: list[list[int]] | None = None
        words = self.gaz_words
        first = self.gaz
        by_len = self.gaz_by_len
        ids = self.gaz_slot_ids
        n = len(low)
        for i, w in enumerate(low):
            t = words.get(w)
            if t is not None:
                if out is None:
                    out = [[] for _ in range(n)]
                out[i] += [ids[slot][2] for slot in t]
            lengths = by_len.get(w)
            if lengths is None:
                for slot, value in first.get(w, ()):
                    k = len(value)
                    if i + k <= n and tuple(low[i:i + k]) == value:
                        if out is None:
                            out = [[] for _ in range(n)]
                        b, inner, _ = ids[slot]
                        out[i].append(b)
                        for j in range(i + 1, i + k):
                            out[j].append(inner)
                continue
            hits: list[tuple[int, str, int]] = []  # (place in gaz[w], slot, length)
            for k, values in lengths:
                if i + k > n:
                    break  # (sorted by length)
                hit = values.get(tuple(low[i:i + k]))
                if hit:
                    hits += [(place, slot, k) for place, slot in hit]
            if not hits:
                continue
            if out is None:
                out = [[] for _ in range(n)]
            hits.sort()  # in the order of gaz[w], as gazetteer_tags gives them
            for _place, slot, k in hits:
                b, inner, _ = ids[slot]
                out[i].append(b)
                for j in range(i + 1, i + k):
                    out[j].append(inner)
        return out

    def decode(self, words: Sequence[str], feature_ids: dict[str, int],
               ents: Sequence[Sequence[str]] | None = None) -> tuple[list[int], np.ndarray]:
        """Tag path and emission scores [T, K] of `words` (the reference path: token_features'
        strings; FastFeatures gives the same ids without them, and `scores` decodes those)."""
        low = [w.lower() for w in words]
        gaz = gazetteer_tags(low, self.gaz, self.max_gaz, (), self.gaz_words) if self.gaz else [()] * len(words)
        feats = token_features(words, gaz, ents)
        ids: list[int] = []
        offsets: list[int] = []
        look = feature_ids.__getitem__  # a FeatureIds: unknown features give -1 (a row of zeros)
        for f in feats:
            offsets.append(len(ids))
            ids += map(look, f)
        return self.scores(ids, offsets)

    def scores(self, ids: Sequence[int], offsets: Sequence[int]) -> tuple[list[int], np.ndarray]:
        """Tag path and emissions [T, K] from the global feature ids of the words, flattened
        (word t's are ids[offsets[t]:offsets[t + 1]]; -1: unknown)."""
        # take() rather than [] indexing: the same rows (-1: the last, zeros), a few us less
        E = np.add.reduceat(self.W.take(self.rows.take(ids), axis=0), offsets, axis=0)
        return viterbi(E, self.trans, self.start), E


def _gaz_tables(gazetteer: dict, feature_ids: dict[str, int], shared: dict) -> tuple:
    """One gazetteer's run-time tables: (gaz, max_gaz, gaz_words, gaz_by_len, gaz_slot_ids)."""
    gaz: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    max_gaz = 0
    words_seen: dict[str, str] = shared.setdefault("words", {})  # each word's string held once
    for slot, values in gazetteer.items():
        for v in values:
            entry = shared.get((slot, v))  # (slot, value) -> one tuple for every intent that knows it
            if entry is None:
                entry = shared[slot, v] = (slot, tuple(words_seen.setdefault(w, w) for w in v.split(" ")))
            words = entry[1]
            gaz.setdefault(words[0], []).append(entry)
            max_gaz = max(max_gaz, len(words))
    # first word -> ((length, {value words: [(entry's place in gaz[first], slot), ...]}), ...) for
    # the words that start many values: such a word is looked up once per length of its values,
    # not compared with each (a text of "the the the ..." against 500 known values starting with
    # "the" cost 100 ms). Words that start a few values keep the plain loop (and no extra memory).
    gaz_by_len: dict[str, tuple[tuple[int, dict[tuple[str, ...], list[tuple[int, str]]]], ...]] = {}
    for first, entries in gaz.items():
        if len(entries) <= _FEW_VALUES:
            continue
        by_len: dict[int, dict[tuple[str, ...], list[tuple[int, str]]]] = {}
        for place, (slot, value) in enumerate(entries):
            by_len.setdefault(len(value), {}).setdefault(value, []).append((place, slot))
        gaz_by_len[first] = tuple(sorted(by_len.items()))
    # slot -> the ids of its "g=<slot>:B", "g=<slot>:I" and "g=w:<slot>" features (gaz_ids)
    get = feature_ids.get
    slot_ids = {slot: (get("g=" + slot + ":B", -1), get("g=" + slot + ":I", -1), get("g=w:" + slot, -1))
                for slot in gazetteer}
    return gaz, max_gaz, value_words(gaz), gaz_by_len, slot_ids


def _array(d: Any) -> np.ndarray:
    """A weight array of the tagger file: {"dtype": "float16"|"float32", "shape", "data": base64}."""
    dtypes = {"float16": ("<f2", np.float32), "float32": ("<f4", np.float32), "int32": ("<i4", np.int64)}
    if not (isinstance(d, dict) and d.get("dtype") in dtypes):
        raise SlotError("arrays must be {dtype: float16|float32|int32, shape, data}")
    raw = base64.b64decode(d["data"], validate=True)
    wire, mem = dtypes[d["dtype"]]
    a = np.frombuffer(raw, dtype=wire).astype(mem)
    return a.reshape([int(x) for x in d["shape"]])


_ARANGE = [np.arange(k) for k in range(64)]  # row indices of a [K, K] step, by K


def viterbi(E: np.ndarray, trans: np.ndarray, start: np.ndarray) -> list[int]:
    """Best tag path for emissions E [T, K], transitions [K, K] (from, to) and start scores [K].

    The scores of every step (transitions plus the step's emissions) are made in one numpy call;
    each word then costs an add, an argmax (the back pointers) and a gather of the maxima:
    numpy's argmax is several times cheaper than its max-reduction on arrays this small."""
    T, K = E.shape
    delta = start + E[0]
    if T == 1:
        return [int(delta.argmax())]
    rows = _ARANGE[K] if K < len(_ARANGE) else np.arange(K)
    backs = []
    for m in trans.T + E[1:, :, None]:  # [to, from] of each step
        s = m + delta
        best = s.argmax(axis=1)
        backs.append(best)
        delta = s[rows, best]
    k = int(delta.argmax())
    path = [k]
    for b in reversed(backs):
        k = int(b[k])
        path.append(k)
    path.reverse()
    return path


def path_marginals(E: np.ndarray, trans: np.ndarray, start: np.ndarray, path: Sequence[int]) -> list[float]:
    """P(word t has tag path[t] | the words) for each t, by forward-backward over the same scores
    Viterbi decodes (emissions E [T, K], transitions [K, K] from -> to, start [K]), as log-potentials.

    A slot's confidence is the mean of its words' marginals. The softmax of a word's emissions alone
    ignores the transitions, which often carry the decision: "set a timer for 5 minutes" had its
    `minutes` span at emission-softmax 0.0 (the word "5" scores as a bare number; the preceding "for"
    and the following "minutes" pick the tag), so every English timer was refused as unsure."""
    T = E.shape[0]
    if T == 0:
        return []
    E = E.astype(np.float64)
    tr = trans.astype(np.float64)
    alpha = np.empty_like(E)
    beta = np.zeros_like(E)
    alpha[0] = start + E[0]
    for t in range(1, T):
        m = alpha[t - 1][:, None] + tr  # [from, to]
        top = m.max(axis=0)
        alpha[t] = top + np.log(np.exp(m - top).sum(axis=0)) + E[t]
    for t in range(T - 2, -1, -1):
        m = tr + (E[t + 1] + beta[t + 1])[None, :]  # [from, to]
        top = m.max(axis=1)
        beta[t] = top + np.log(np.exp(m - top[:, None]).sum(axis=1))
    last = alpha[T - 1]
    top = last.max()
    log_z = top + np.log(np.exp(last - top).sum())
    at = np.arange(T)
    return np.exp(alpha[at, path] + beta[at, path] - log_z).clip(0.0, 1.0).tolist()
