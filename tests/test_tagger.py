"""The slot tagger's compact run-time layout (edge/tagger.py) answers exactly as the plain layout it
replaced: the same feature ids in the same order, the same emission scores to the bit, hence the
same tags and the same slot confidences.

`PlainTagger` below is that plain layout, kept here as the reference (it is what edge/tagger.py held
at 9a639a0, in its simplest form): per intent, a dict of feature id -> float32 weight row and the
intent's known values as Python dicts of word tuples, each word's rows summed in the order the
run-time features come and the way numpy's np.add.reduceat sums them (`_pairwise`: float addition
is not associative, so the order and the way of summing are part of the answer). It is checked
against the shipped models/home tagger on every dev sentence under every intent, against a
synthetic tagger file built to hit the corners (a slot whose values differ between intents, slots
in different orders, a value listed twice, hundreds of values sharing a first word), and against
what a careless or hostile sender would type.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.markup import parse
from edge.slot_features import entity_tags, tokenize, value_words
from edge.slots import SlotExtractor
from edge.tagger import FeatureIds, viterbi

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "models" / "home"


def _array(d: dict) -> np.ndarray:
    wire = {"float16": "<f2", "float32": "<f4", "int32": "<i4"}[d["dtype"]]
    return np.frombuffer(base64.b64decode(d["data"]), dtype=wire).reshape(d["shape"])


class PlainTagger:
    """One intent of a tagger file in the plain layout (the reference)."""

    def __init__(self, d: dict, fid: dict[str, int]) -> None:
        self.tags = list(d["tags"])
        K = len(self.tags)
        gids = _array(d["rows"]).tolist()
        W = _array(d["weights"]).astype(np.float32).reshape(len(gids), K)
        self.row = {g: W[r] for r, g in enumerate(gids)}  # feature id -> its weights for this intent
        self.zero = np.zeros(K, np.float32)
        self.trans = _array(d["transitions"]).astype(np.float32).reshape(K, K).copy()
        self.start = _array(d["start"]).astype(np.float32).reshape(K).copy()
        self.slot_of = [t[2:] for t in self.tags]
        for j, t in enumerate(self.tags):  # BIO: I-x only after B-x or I-x
            if t.startswith("I-"):
                self.start[j] = -1e9
                for i, s in enumerate(self.tags):
                    if s[2:] != t[2:]:
                        self.trans[i, j] = -1e9
        # first word -> [(slot, value words)] in the file's order; word -> slots with it in a value
        self.gaz: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for slot, values in d.get("gazetteer", {}).items():
            for v in values:
                words = tuple(v.split(" "))
                self.gaz.setdefault(words[0], []).append((slot, words))
        self.words = value_words(self.gaz)
        self.ids = {slot: (fid.get("g=" + slot + ":B", -1), fid.get("g=" + slot + ":I", -1),
                           fid.get("g=w:" + slot, -1)) for slot in d.get("gazetteer", {})}

    def gaz_ids(self, low: list[str]) -> list[list[int]] | None:
        """Word by word: the I ids of values begun earlier (as they were found), the word's "g=w:"
        ids (slots by name), then the B ids of the values it begins (the file's order)."""
        n = len(low)
        out: list[list[int]] = [[] for _ in range(n)]
        for i, w in enumerate(low):
            out[i] += [self.ids[slot][2] for slot in self.words.get(w, ())]
            for slot, value in self.gaz.get(w, ()):
                k = len(value)
                if i + k <= n and tuple(low[i:i + k]) == value:
                    out[i].append(self.ids[slot][0])
                    for j in range(i + 1, i + k):
                        out[j].append(self.ids[slot][1])
        return out if any(out) else None

    def scores(self, ids: list[int], offsets: list[int]) -> tuple[list[int], np.ndarray]:
        ends = offsets[1:] + [len(ids)]
        E = np.empty((len(offsets), len(self.tags)), np.float32)
        for t, (a, b) in enumerate(zip(offsets, ends)):
            rows = [self.row.get(f, self.zero) for f in ids[a:b]]
            E[t] = rows[0] + _pairwise(rows[1:]) if len(rows) > 1 else rows[0]
        return viterbi(E, self.trans, self.start), E


def _pairwise(rows: list[np.ndarray]) -> np.ndarray:
    """The sum of float32 rows as numpy's add loop makes a reduction (the first row, plus this sum of
    the others): one after another below 8 rows, else 8 running sums combined in a tree, halves above
    128 (numpy/core/src/umath/loops_utils.h, pairwise_sum)."""
    n = len(rows)
    if n < 8:
        res = np.zeros_like(rows[0])
        for r in rows:
            res = res + r
        return res
    if n <= 128:
        acc = [r.copy() for r in rows[:8]]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                acc[j] = acc[j] + rows[i + j]
            i += 8
        res = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        for r in rows[i:]:
            res = res + r
        return res
    half = n // 2
    half -= half % 8
    return _pairwise(rows[:half]) + _pairwise(rows[half:])


def plain_extractor(path: Path, manifest: dict) -> SlotExtractor:
    """A SlotExtractor over PlainTaggers read from the same file (json and base64, nothing shared
    with edge/tagger.py's loading)."""
    d = json.loads(path.read_text(encoding="utf-8"))
    fid = FeatureIds((f, i) for i, f in enumerate(d["features"]))
    taggers = {intent: PlainTagger(td, fid) for intent, td in d["intents"].items()}
    intents = {k: dict(v) for k, v in manifest.get("slots", {}).get("intents", {}).items()}
    for intent, t in taggers.items():
        for slot in {s for s in t.slot_of if s}:
            intents.setdefault(intent, {}).setdefault(slot, slot)
    synonyms = {k: {a.lower(): b for a, b in v.items()} for k, v in d.get("synonyms", {}).items()}
    return SlotExtractor(intents, taggers, fid, synonyms)


HOSTILE = [
    "", " ", "!!!", "x", "THE THE THE", "the the the the the the the the the the", "Ünïcödé façade ² ³ ½",
    "turn on the " + "kitchen " * 200, "set a timer for " + "five " * 300 + "minutes", "1" * 2000,
    "𝔱𝔲𝔯𝔫 𝔬𝔫 the light", "turn\x00on\tthe\nlight", "set the living room living room light to 50 %",
    "what's the temperature in the kitchen, upstairs, downstairs and the garage?", "'' \" ' ‘’ “”",
    "a" * 999, " ".join(str(i) for i in range(400)), "minutes hours seconds " * 50, "- - - 5 5 5 % % %",
]


def _dev_texts() -> list[str]:
    out = []
    for p in sorted((ROOT / "tests" / "data").glob("home_dev*.txt")):
        for line in p.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(parse(line)[0])
    return out


def _same(new: SlotExtractor, ref: SlotExtractor, texts: list[str], now: Any = None) -> int:
    """Compare feature ids, emissions (bit for bit), paths and extracted slots; returns how many
    (text, intent) pairs were compared."""
    assert new._taggers.keys() == ref._taggers.keys()
    assert new.intents == ref.intents
    n = 0
    for intent, tagger in new._taggers.items():
        plain = ref._taggers[intent]
        assert tagger.tags == plain.tags
        assert np.array_equal(tagger.trans, plain.trans) and np.array_equal(tagger.start, plain.start)
        for text in texts:
            spans = tokenize(text[:1000])
            if spans:
                words = [text[a:b] for a, b in spans]
                low = [w.lower() for w in words]
                ents = entity_tags(text[:1000], spans, low)
                got_g, ref_g = tagger.gaz_ids(low), plain.gaz_ids(low)
                assert got_g == ref_g, (intent, text)
                ids, offsets = new._fast.ids(words, low, got_g, ents)
                path, E = tagger.scores(ids, offsets)
                ref_path, ref_E = plain.scores(ids, offsets)
                assert path == ref_path, (intent, text)
                assert E.dtype == ref_E.dtype and np.array_equal(E, ref_E), (intent, text)
            assert new.extract(text, intent, now) == ref.extract(text, intent, now), (intent, text)
            n += 1
    return n


@pytest.fixture(scope="module")
def home() -> tuple[SlotExtractor, SlotExtractor]:
    manifest = json.loads((HOME / "manifest.json").read_text())
    return SlotExtractor.load(HOME, manifest), plain_extractor(HOME / manifest["slots"]["tagger"], manifest)


def test_home_tagger_answers_as_the_plain_layout_on_every_dev_sentence(home):
    new, ref = home
    texts = _dev_texts()
    assert len(texts) > 400
    assert _same(new, ref, texts) == len(texts) * len(new._taggers)


def test_home_tagger_answers_as_the_plain_layout_on_hostile_texts(home):
    new, ref = home
    _same(new, ref, HOSTILE)


def test_home_slot_confidences_are_those_of_the_plain_layout(home):
    """Unrounded: a number's marginal and a word span's softmax from the same scores."""
    from edge.tagger import path_marginals

    new, ref = home
    for text in ["set a timer for 5 minutes", "turn the kitchen light to 40 percent", "set a timer for five minutes"]:
        for intent in ("HassStartTimer", "HassLightSet", "HassTurnOn"):
            spans = tokenize(text)
            words = [text[a:b] for a, b in spans]
            low = [w.lower() for w in words]
            ents = entity_tags(text, spans, low)
            t, p = new._taggers[intent], ref._taggers[intent]
            path, E = t.scores(*new._fast.ids(words, low, t.gaz_ids(low), ents))
            ref_path, ref_E = p.scores(*ref._fast.ids(words, low, p.gaz_ids(low), ents))
            got = path_marginals(E, t.trans, t.start, path)
            want = path_marginals(ref_E, p.trans, p.start, ref_path)
            assert np.allclose(got, want, rtol=0, atol=1e-6), (text, intent)


def _synthetic(tmp_path: Path, seed: int) -> Path:
    """A tagger file made up to reach the layout's corners, in the trainer's format (edge-slots/1)."""
    rng = random.Random(seed)
    words = ["the", "kitchen", "living", "room", "light", "lamp", "five", "minutes", "red", "blue", "on",
             "off", "set", "to", "a", "b", "it's", "x"]
    slots = ["area", "name", "color", "minutes", "zone"]
    feats = ["b"] + [f"{k}={w}" for k in ("w", "p1", "n1", "p2", "n2", "s3", "s2", "p3") for w in words]
    feats += [f"pw={a}|{b}" for a in words[:6] for b in words[:6]] + ["sh=x", "shp=<s>x", "c=num", "e=duration:B"]
    feats += [f"g={s}:{x}" for s in slots for x in ("B", "I")] + [f"g=w:{s}" for s in slots]
    rng.shuffle(feats)

    def arr(a: np.ndarray, dtype: str) -> dict:
        wire = {"float16": "<f2", "int32": "<i4"}[dtype]
        return {"dtype": dtype, "shape": list(a.shape), "data": base64.b64encode(a.astype(wire).tobytes()).decode()}

    def values(n: int) -> list[str]:
        return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(n)]

    many_the = [f"the {w} {i}" for i in range(300) for w in ("lamp",)] + ["the", "the the", "the kitchen"]
    intents = {}
    for k in range(6):
        mine = rng.sample(slots, rng.randint(0, 4))  # a different order in each intent
        tags = ["O"] + [f"{p}-{s}" for s in mine for p in ("B", "I")]
        gaz = {}
        for s in mine:
            v = values(rng.randint(1, 40)) if s != "zone" else many_the
            if s == "area":  # the same values in every intent that has the slot, except one
                v = ["kitchen", "living room", "living room", "the kitchen", "room"] + (["lamp"] if k == 3 else [])
            gaz[s] = v
        rows = np.array(sorted(rng.sample(range(len(feats)), rng.randint(1, len(feats)))), np.int32)
        K = len(tags)
        intents[f"I{k}"] = {
            "tags": tags, "rows": arr(rows, "int32"),
            "weights": arr(np.array([rng.uniform(-3, 3) for _ in range(len(rows) * K)]).reshape(len(rows), K),
                           "float16"),
            "transitions": arr(np.array([rng.uniform(-2, 2) for _ in range(K * K)]).reshape(K, K), "float16"),
            "start": arr(np.array([rng.uniform(-2, 2) for _ in range(K)]), "float16"),
            "gazetteer": gaz}
    d = tmp_path / f"synthetic{seed}"
    d.mkdir()
    (d / "slots.json").write_text(json.dumps({"format": "edge-slots/1", "features": feats, "intents": intents,
                                              "synonyms": {"area": {"Kitchen": "kitchen"}}}))
    manifest = {"name": "synthetic", "slots": {"intents": {}, "tagger": "slots.json"}}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_tagger_answers_as_the_plain_layout(tmp_path, seed):
    d = _synthetic(tmp_path, seed)
    manifest = json.loads((d / "manifest.json").read_text())
    new, ref = SlotExtractor.load(d, manifest), plain_extractor(d / "slots.json", manifest)
    rng = random.Random(seed)
    vocab = ["the", "kitchen", "living", "room", "light", "lamp", "five", "minutes", "Red", "blue", "0", "1", "299",
             "the kitchen", "living room", "it's", "THE", "unknown", "ünï", ",", "5"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 14))) for _ in range(300)]
    texts += ["the lamp 7 the lamp 299 the the kitchen", "living room living room room", *HOSTILE]
    assert _same(new, ref, texts) == len(texts) * len(new._taggers)


def test_slots_named_like_the_files_keys_are_values_not_intents(tmp_path):
    """The loader makes each intent compact while the JSON is parsed, recognising an intent's object by
    its keys: a gazetteer or synonyms object whose slots are called "tags" and "weights" is not one."""
    d = _synthetic(tmp_path, 4)
    f = json.loads((d / "slots.json").read_text())
    intent = f["intents"]["I0"]
    intent["tags"] = ["O", "B-tags", "I-tags", "B-weights", "I-weights"]
    K = len(intent["tags"])
    n = intent["rows"]["shape"][0]
    rng = np.random.default_rng(4)
    intent["weights"] = {"dtype": "float16", "shape": [n, K],
                         "data": base64.b64encode(rng.normal(size=(n, K)).astype("<f2").tobytes()).decode()}
    for key in ("transitions", "start"):
        shape = [K, K] if key == "transitions" else [K]
        intent[key] = {"dtype": "float16", "shape": shape,
                       "data": base64.b64encode(rng.normal(size=shape).astype("<f2").tobytes()).decode()}
    intent["gazetteer"] = {"tags": ["kitchen", "the lamp"], "weights": ["five minutes", "data"]}
    f["synonyms"] = {"weights": {"dtype": "float16", "data": "x"}, "tags": {"Kitchen": "kitchen"}}
    f["features"] += ["g=tags:B", "g=tags:I", "g=weights:B", "g=w:tags"]
    (d / "slots.json").write_text(json.dumps(f))
    manifest = json.loads((d / "manifest.json").read_text())
    new, ref = SlotExtractor.load(d, manifest), plain_extractor(d / "slots.json", manifest)
    assert new._taggers["I0"].gaz["kitchen"] == [("tags", ("kitchen",))]
    assert _same(new, ref, ["the lamp five minutes data", "kitchen the lamp", "Kitchen data data"]) == 3 * 6


@pytest.mark.parametrize("change", [
    lambda f: f["intents"]["I0"].update(tags="O B-x"),  # not a list
    lambda f: f["intents"]["I0"].update(tags=[]),
    lambda f: f["intents"]["I0"].update(tags=["O", 7]),
    lambda f: f["intents"]["I0"].update(gazetteer={"area": ["kitchen", 7]}),
    lambda f: f["intents"]["I0"].update(gazetteer={"area": "kitchen"}),  # a string: its letters
    lambda f: f["intents"]["I0"].update(gazetteer=["kitchen"]),
    lambda f: f["intents"]["I0"]["weights"].update(data="!!not base64!!"),
    lambda f: f["intents"]["I0"]["weights"].update(dtype="float64"),
    lambda f: f["intents"]["I0"]["weights"].update(shape=[3, 3]),
    lambda f: f["intents"].update(I0={"tags": ["O"], "weights": {"data": ""}}),
    lambda f: f.update(intents=[1, 2]),
    lambda f: f.update(synonyms={"area": {"tags": ["O"], "weights": {"data": ""}}}),
])
def test_malformed_tagger_files_are_refused_as_such(tmp_path, change):
    from edge.slots import SlotError

    d = _synthetic(tmp_path, 5)
    f = json.loads((d / "slots.json").read_text())
    f["intents"]["I0"]["gazetteer"] = {"area": ["kitchen"]}
    change(f)
    (d / "slots.json").write_text(json.dumps(f))
    with pytest.raises(SlotError):
        SlotExtractor.load(d, json.loads((d / "manifest.json").read_text()))


def test_a_tagger_file_that_is_not_an_object_is_refused(tmp_path):
    from edge.slots import SlotError

    (tmp_path / "slots.json").write_text("[1, 2, 3]")
    with pytest.raises(SlotError, match="format"):
        SlotExtractor.load(tmp_path, {"name": "m", "slots": {"tagger": "slots.json"}})


def test_home_weights_are_held_as_stored_and_widened_only_per_request(home):
    """The file's float16 weights stay float16 in memory (half of float32's 1.5 MB); the emissions a
    request gets are float32 (the bit-for-bit checks above compare them with float32 sums)."""
    new, _ = home
    assert {t.W.dtype for t in new._taggers.values()} == {np.dtype(np.float16)}
    assert sum(t.W.nbytes for t in new._taggers.values()) < 1 << 20
    tagger = next(iter(new._taggers.values()))
    _, E = tagger.scores([0, 1, -1], [0, 2])
    assert E.dtype == np.float32 and E.shape == (2, len(tagger.tags))
