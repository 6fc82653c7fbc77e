"""The learned slot tagger at run time: the per-intent weights of a tagger file (`slots.json`,
written by edge/train/slots.py) and their scores, decoded by edge/tagger_decode.py (Viterbi).
edge.slots.SlotExtractor uses it; the words and features are edge/slot_features.py's.

The tagger is a linear-chain model over words, one per intent: BIO tags, emission weights
(one row per feature) and tag transitions from an averaged structured perceptron, Viterbi
decoding. Pure numpy: no TFLite, a few kilobytes to a few hundred per intent.

Two ways to the same scores: IntentTagger.decode builds the features as strings
(`token_features`, as training does: the reference); at run time the ids come from
`FastFeatures` and IntentTagger.scores sums and decodes them (docs/slots.md, "Cost in the
daemon").

In memory (models/home: 38 intents, bench/tagger_memory.py): each intent's weights as one matrix
over the features it uses, held as the file stores them (float16 in every tagger edge trains: 0.7 MB,
half of float32's) and a row index over the file's features (int16); the known values of all intents
once (KnownValues); each intent made compact as the file is parsed (read_intent). A request's rows
are widened to float32 before they are summed: widening is exact, so the sums, the tags and the slot
confidences are float32 ones, bit for bit as when the whole matrix was widened at load (numpy sums
float16 in float16, which would change them). The widening costs 4-6 us per call on a 2-core x86_64
VM (numpy 1.26 converts float16 in software). tests/test_tagger.py checks the answers against the
plain layout, bit for bit.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from edge.slot_error import SlotError
# decoding (Viterbi, forward-backward) is edge/tagger_decode.py's; re-exported here
from edge.tagger_decode import path_marginals, viterbi

# edge.slot_features (0.3 MB with the tables it builds at import) is imported by the functions that use
# it; this module itself only with a tagger (edge.slots; SlotError lives in the leaf edge.slot_error)

__all__ = ["FORMAT", "SlotError", "FeatureIds", "KnownValues", "IntentData", "IntentTagger", "read_file", "read_intent",
           "is_intent", "viterbi", "path_marginals"]

FORMAT = "edge-slots/1"


class FeatureIds(dict):
    """feature string -> id; an unknown feature is -1 (looked up from C through map(), no insert)."""

    __slots__ = ()

    def __missing__(self, key: str) -> int:
        return -1


_NO_ENTRY: tuple[tuple[int, ...], int, tuple[int, ...], int] = ((), 0, (), 0)


class KnownValues:
    """The known values (the "gazetteer") of every intent of one tagger file, each held once.

    A tagger file lists, per intent, each slot's values as said in training; intents share most of
    them (models/home: 38 intents list 34,171 (slot, value) entries, 5,668 distinct, in 25 distinct
    lists: a slot has the same values in every intent that has it). Held per distinct set of lists
    as dicts of tuples they were 3.3 of the tagger's 6.8 MB of live memory (tracemalloc); now 0.5.
    Here each distinct (slot, values) list is a table number, and two dicts serve every intent:
    `values` (a value's words -> the tables listing it, once per listing) and `index` (a word -> the
    tables with it among their value words, by slot name, and the lengths of the values it starts,
    with bit masks of those tables). An intent holds only which tables are its own
    (IntentTagger.gtab, and their bits in IntentTagger.mask: a word none of its tables knows costs
    one AND).

    `table()` registers an intent's list while a file loads; `loaded()` drops what only loading needs."""

    __slots__ = ("tables", "values", "index", "_table_of", "_same")

    def __init__(self) -> None:
        self.tables: list[tuple[str, tuple[tuple[str, ...], ...]]] = []  # (slot, value words) by table
        self.values: dict[tuple[str, ...], tuple[int, ...]] = {}
        # word -> (tables with it among their value words, by slot name; their bits; lengths of the
        # values it starts, ascending; the bits of their tables): an intent skips a word by its bits
        self.index: dict[str, tuple[tuple[int, ...], int, tuple[int, ...], int]] = {}
        self._table_of: dict[tuple[str, tuple[str, ...]], int] = {}  # (slot, values as read) -> table
        self._same: dict[Any, Any] = {}  # equal strings and tuples -> one object (loading only)

    def _one(self, x: Any) -> Any:
        return self._same.setdefault(x, x)

    def table(self, slot: str, values: Sequence[str]) -> int:
        """The table of `slot`'s `values` (a list of the tagger file), registered if new."""
        key = (slot, tuple(values))
        t = self._table_of.get(key)
        if t is not None:
            return t
        t = self._table_of[key] = len(self.tables)
        one = self._one
        words = tuple(one(tuple(one(w) for w in v.split(" "))) for v in values)
        self.tables.append((one(slot), words))
        bit = 1 << t
        for v in words:
            self.values[v] = one(self.values.get(v, ()) + (t,))  # a value listed twice counts twice
            wtabs, wmask, lengths, smask = self.index.get(v[0], _NO_ENTRY)
            if len(v) not in lengths:
                lengths = one(tuple(sorted(lengths + (len(v),))))
            self.index[v[0]] = (wtabs, wmask, lengths, one(smask | bit))
        from edge.slot_features import value_words

        for w in value_words({"": [(slot, v) for v in words]}):  # the words of its values with "g=w:"
            wtabs, wmask, lengths, smask = self.index.get(w, _NO_ENTRY)
            wtabs = tuple(sorted(wtabs + (t,), key=lambda x: (self.tables[x][0], x)))  # by slot name
            self.index[w] = (one(wtabs), one(wmask | bit), lengths, smask)
        return t

    def loaded(self) -> None:
        """Every list is registered: drop the loading-only tables (and the file's strings they hold)."""
        self._table_of = {}
        self._same = {}


class IntentData(NamedTuple):
    """One intent of a tagger file as read (`read_intent`): its arrays decoded, its known values
    registered. Small: what is left of the file's text for it is freed."""

    tags: list[str]
    gids: np.ndarray  # the global feature id of each row of W
    W: np.ndarray  # [rows + 1, tags]: the last row zeros
    trans: np.ndarray
    start: np.ndarray
    tables: list[tuple[str, int]]  # (slot, its KnownValues table), in the file's order


def read_intent(d: dict, known: KnownValues) -> IntentData:
    """An intent's part of a tagger file ({"tags", "rows", "weights", "transitions", "start",
    "gazetteer"}), read. edge.slots calls it while the file is parsed (json's object_pairs_hook), so
    that each intent's base64 and value strings are freed before the next is read: the file's text
    never lives all at once as Python objects (4.2 MB of RSS for models/home's 2.0 MB file, 3.2 MB
    of it kept by the allocator once freed)."""
    tags = d["tags"]
    if not (isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags)):
        raise SlotError("tags must be a list of tag names")
    gazetteer = d.get("gazetteer", {})
    if not (isinstance(gazetteer, dict) and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                                for v in gazetteer.values())):
        raise SlotError("gazetteer must map slots to lists of values")
    K = len(tags)
    gids = _array(d["rows"])
    return IntentData(tags, gids, _weights(d["weights"], len(gids), K), _array(d["transitions"]).reshape(K, K),
                      _array(d["start"]).reshape(K),
                      [(slot, known.table(slot, values)) for slot, values in gazetteer.items()])


def is_intent(d: dict) -> bool:
    """Whether a JSON object of a tagger file is an intent's part (not a gazetteer or synonyms
    object that happens to have slots named "tags" and "weights": their values are lists or
    objects of strings, never an array object)."""
    return isinstance(d.get("tags"), list) and isinstance(d.get("weights"), dict) and "data" in d["weights"]


class IntentTagger:
    __slots__ = ("tags", "rows", "W", "trans", "start", "slot_of", "known", "gtab", "mask")

    def __init__(self, d: dict | IntentData, feature_ids: dict[str, int], n_features: int,
                 known: KnownValues | None = None) -> None:
        if known is None:
            known = KnownValues()
        self.known = known
        if not isinstance(d, IntentData):
            d = read_intent(d, known)
        self.tags: list[str] = d.tags
        K = len(self.tags)
        gids = d.gids
        if gids.size and (gids.min() < 0 or gids.max() >= n_features):
            raise SlotError("rows: feature id out of range")
        # global feature id -> row of W (-1: the feature means nothing for this intent: W's last row,
        # zeros)
        self.rows = np.full(n_features + 1, -1, dtype=np.int16 if len(gids) < 32767 else np.int32)
        self.rows[gids] = np.arange(len(gids))
        self.W = d.W
        self.trans = d.trans
        self.start = d.start
        # BIO: I-x only after B-x or I-x
        self.slot_of = [t[2:] for t in self.tags]
        for j, t in enumerate(self.tags):
            if t.startswith("I-"):
                self.start[j] = -1e9
                for i, s in enumerate(self.tags):
                    if s[2:] != t[2:]:
                        self.trans[i, j] = -1e9
        # table -> (the slot's place in this intent's list, ids of "g=<slot>:B", "g=<slot>:I", "g=w:<slot>")
        get = feature_ids.get
        self.gtab: dict[int, tuple[int, int, int, int]] = {
            t: (rank, get("g=" + slot + ":B", -1), get("g=" + slot + ":I", -1), get("g=w:" + slot, -1))
            for rank, (slot, t) in enumerate(d.tables)}
        self.mask = sum(1 << t for t in self.gtab)

    def gaz_ids(self, low: Sequence[str]) -> list[list[int]] | None:
        """The ids of this intent's "g=" features per word (token_features' `gaz`, from
        gazetteer_tags), None when no word has any. Each word's: the I ids of the values begun
        before it (in the order found), its "g=w:" ids (slots by name), then the B ids of the values
        it begins (this intent's slots in order); -1 for a feature the file does not have."""
        mine = self.gtab
        if not mine:
            return None
        out: list[list[int]] | None = None
        index = self.known.index
        values = self.known.values
        mask = self.mask
        n = len(low)
        for i, w in enumerate(low):
            entry = index.get(w)
            if entry is None:
                continue
            wtabs, wmask, lengths, smask = entry
            if wmask & mask:
                for t in wtabs:
                    m = mine.get(t)
                    if m is not None:
                        if out is None:
                            out = [[] for _ in range(n)]
                        out[i].append(m[3])
            if not smask & mask:
                continue
            hits: list[tuple[int, int, tuple[int, int, int, int]]] | None = None
            for k in lengths:
                if i + k > n:
                    break  # (ascending)
                ts = values.get(tuple(low[i:i + k]))
                if ts is None:
                    continue
                for t in ts:
                    m = mine.get(t)
                    if m is not None:
                        if hits is None:
                            hits = []
                        hits.append((m[0], k, m))
            if hits is None:
                continue
            if out is None:
                out = [[] for _ in range(n)]
            if len(hits) > 1:
                hits.sort()  # this intent's slot order (a slot's own hits give the same ids in any order)
            for _rank, k, m in hits:
                out[i].append(m[1])
                for j in range(i + 1, i + k):
                    out[j].append(m[2])
        return out

    # The reference path's view of the known values (gazetteer_tags' arguments), made when asked:
    # training's form, not held.
    @property
    def gaz(self) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
        """first word -> [(slot, value words)] of this intent, in its file's order."""
        out: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for t, _ in sorted(self.gtab.items(), key=lambda x: x[1][0]):
            slot, words = self.known.tables[t]
            for v in words:
                out.setdefault(v[0], []).append((slot, v))
        return out

    @property
    def max_gaz(self) -> int:
        return max((len(v) for t in self.gtab for v in self.known.tables[t][1]), default=0)

    @property
    def gaz_words(self) -> dict[str, tuple[str, ...]]:
        from edge.slot_features import value_words

        return value_words(self.gaz)

    def decode(self, words: Sequence[str], feature_ids: dict[str, int],
               ents: Sequence[Sequence[str]] | None = None) -> tuple[list[int], np.ndarray]:
        """Tag path and emission scores [T, K] of `words` (the reference path: token_features'
        strings; FastFeatures gives the same ids without them, and `scores` decodes those)."""
        from edge.slot_features import gazetteer_tags, token_features

        low = [w.lower() for w in words]
        gaz = gazetteer_tags(low, self.gaz, self.max_gaz, (), self.gaz_words) if self.gtab else [()] * len(words)
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
        # float16 rows widened (exactly) before the sum: float32 sums, as the weights were trained
        E = np.add.reduceat(self.W.take(self.rows.take(ids), axis=0).astype(np.float32, copy=False), offsets, axis=0)
        return viterbi(E, self.trans, self.start), E


def read_file(path: Path) -> tuple[FeatureIds, dict[str, IntentTagger], dict[str, Any]]:
    """A tagger file (`slots.json`, FORMAT): (feature ids, intent -> IntentTagger, its synonyms as
    written). SlotError names the problem.

    Each intent is made compact as soon as the JSON parser completes its object (object_pairs_hook ->
    read_intent), so its base64 and value strings are freed before the next intent is read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SlotError(f"{path}: cannot read the slot tagger ({e})") from None
    known = KnownValues()  # the known values of every intent, each held once

    def read(pairs: list[tuple[str, Any]]) -> Any:
        obj = dict(pairs)
        return read_intent(obj, known) if is_intent(obj) else obj

    try:
        try:
            d = json.loads(text, object_pairs_hook=read)
        except json.JSONDecodeError as e:
            raise SlotError(f"{path}: cannot read the slot tagger ({e})") from None
        del text
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise SlotError(f"{path}: format {d.get('format') if isinstance(d, dict) else None!r}, "
                            f"expected {FORMAT!r}")
        # (not sys.intern'ed: run-time strings are never the interned objects, so interning bought
        # no speed, and the interpreter's table of them cost memory)
        features = d.pop("features")
        n_features = len(features)
        fid = FeatureIds((f, i) for i, f in enumerate(features))
        del features
        taggers = {}
        tds = d.pop("intents")
        for intent in list(tds):
            taggers[intent] = IntentTagger(tds.pop(intent), fid, n_features, known)
        known.loaded()
        synonyms = d.get("synonyms", {})
        if not (isinstance(synonyms, dict) and all(isinstance(v, dict) for v in synonyms.values())):
            raise SlotError(f"{path}: synonyms must map slots to {{said: canonical}}")
    except SlotError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SlotError(f"{path}: malformed slot tagger ({type(e).__name__}: {e})") from None
    return fid, taggers, synonyms


def _array(d: Any, convert: bool = True) -> np.ndarray:
    """A weight array of the tagger file: {"dtype": "float16"|"float32", "shape", "data": base64};
    float32 (int64 for ids), or a read-only view of the decoded bytes as stored (`convert=False`)."""
    dtypes = {"float16": ("<f2", np.float32), "float32": ("<f4", np.float32), "int32": ("<i4", np.int64)}
    if not (isinstance(d, dict) and d.get("dtype") in dtypes):
        raise SlotError("arrays must be {dtype: float16|float32|int32, shape, data}")
    raw = base64.b64decode(d["data"], validate=True)
    wire, mem = dtypes[d["dtype"]]
    a = np.frombuffer(raw, dtype=wire)
    return (a.astype(mem) if convert else a).reshape([int(x) for x in d["shape"]])


def _weights(d: Any, n: int, K: int) -> np.ndarray:
    """An intent's emission weights, [n + 1, K] in the file's own precision (float16 or float32), the
    last row zeros (the row of a feature the intent does not use). Written into their final array:
    no intermediate copy to free (such freed blocks stay with the allocator, between the arrays that
    are kept). IntentTagger.scores widens the rows a request takes, so float16 costs half the memory
    of float32 and not one bit of the sums."""
    stored = _array(d, convert=False)
    W = np.zeros((n + 1, K), np.float16 if stored.dtype == np.float16 else np.float32)
    W[:n] = stored.reshape(n, K)
    return W
