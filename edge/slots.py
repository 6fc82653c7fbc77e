"""Slots at run time: built-in entities and the slots a model learned from `[value](slot)` examples.

    extractor = SlotExtractor.load(model_dir, manifest)
    extractor.extract("wake me at 7 am tomorrow", "alarm")
    # [{"name": "time", "entity": "datetime", "raw": "7 am tomorrow",
    #   "value": "2026-11-29T07:00:00+01:00", "start": 11, "end": 24, "confidence": 1.0}]

What a model extracts is in its manifest, under `"slots"`:

    "slots": {
      "intents": {"alarm": {"time": "datetime"},             # slot name -> entity type
                  "AddToPlaylist": {"playlist": "playlist", "artist": "artist"}},
      "tagger": "slots.json"                                  # optional: the learned tagger
    }

A slot whose entity type is a built-in (edge.entities.KINDS) and that the
tagger does not know is found by the built-in rules over the whole text; a
slot the tagger knows is found by the tagger, and its value is resolved by the
built-in rules when its entity type is a built-in (else it is the canonical
form of the value: a synonym from training, or the text as said). A manifest
without `"slots"` gets the defaults of its model name (`DEFAULTS`: the shipped
CLINC150 model's), else none.

The tagger (written by edge/train/slots.py) is a linear-chain model over
words, one per intent: BIO tags, hand-made word features (the word, its
neighbours, suffix, shape, word class, and gazetteer matches of the values
seen in training), emission weights and tag transitions from an averaged
structured perceptron, Viterbi decoding. Pure numpy: no TFLite, a few
kilobytes to a few hundred per intent. The confidence of a learned slot is
the mean, over its words, of the softmax of that word's tag scores.

`slot_metrics` scores predicted slots against marked ones (a slot counts when
name and span both match); `edge eval` reports it.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from edge import entities, gazetteers

__all__ = ["SlotExtractor", "SlotError", "DEFAULTS", "CLINC150_SLOTS", "TAGGER_FILE", "tokenize",
           "token_features", "slot_metrics", "validate_section"]

TAGGER_FILE = "slots.json"
MAX_TEXT = 1000  # characters of a request read for slots
FORMAT = "edge-slots/1"

# Built-in slots of the shipped CLINC150 model: intent -> {slot name: entity type}. The model's
# manifest carries them under "slots" (models/clinc150); this is the fallback for a manifest
# written before slots existed.
CLINC150_SLOTS: dict[str, dict[str, str]] = {
    "alarm": {"time": "datetime"},
    "reminder": {"time": "datetime"},
    "reminder_update": {"time": "datetime"},
    "calendar": {"date": "datetime"},
    "calendar_update": {"date": "datetime"},
    "meeting_schedule": {"date": "datetime"},
    "schedule_meeting": {"time": "datetime", "length": "duration"},
    "schedule_maintenance": {"date": "datetime"},
    "book_flight": {"date": "datetime"},
    "book_hotel": {"date": "datetime"},
    "car_rental": {"date": "datetime"},
    "restaurant_reservation": {"time": "datetime", "party_size": "number"},
    "travel_notification": {"date": "datetime"},
    "pto_request": {"date": "datetime"},
    "spending_history": {"date": "datetime"},
    "weather": {"date": "datetime", "temperature": "temperature"},
    "timer": {"duration": "duration"},
    "transfer": {"amount": "money"},
    "pay_bill": {"amount": "money"},
    "credit_limit_change": {"amount": "money"},
    "exchange_rate": {"amount": "money"},
    "calculator": {"number": "number", "percent": "percentage"},
    "measurement_conversion": {"quantity": "number", "temperature": "temperature"},
    "change_volume": {"level": "number", "percent": "percentage"},
    "smart_home": {"level": "percentage", "temperature": "temperature"},
    "roll_dice": {"count": "number"},
    "order": {"quantity": "number"},
    "shopping_list_update": {"quantity": "number"},
}
DEFAULTS: dict[str, dict[str, Any]] = {"clinc150": {"intents": CLINC150_SLOTS}}

_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_SLOT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")

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


class _FeatureIds(dict):
    """feature string -> id; an unknown feature is -1 (looked up from C through map(), no insert)."""

    __slots__ = ()

    def __missing__(self, key: str) -> int:
        return -1


class SlotError(ValueError):
    """A manifest's "slots" section or tagger file is malformed."""


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


def entity_tags(text: str, spans: Sequence[tuple[int, int]]) -> list[list[str]]:
    """"e=<kind>:B/I" for the words inside a built-in entity (edge.entities) of ENTITY_FEATURES."""
    out: list[list[str]] = [[] for _ in spans]
    if not ENTITY_FEATURES:
        return out
    # no digit and no date, time or number word: no datetime or duration (skips most texts)
    if not any(c.isdigit() for c in text) and _TRIGGERS.isdisjoint([text[a:b].lower() for a, b in spans]):
        return out
    for e in entities.find(text, ENTITY_FEATURES, now=_FIXED_NOW):
        first = True
        for i, (a, b) in enumerate(spans):
            if a >= e.start and b <= e.end:
                out[i].append("e=" + e.kind + (":B" if first else ":I"))
                first = False
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


def validate_section(section: object, where: str = "manifest") -> dict[str, Any]:
    """Check a manifest's "slots" section; returns it. SlotError names the problem."""
    if not isinstance(section, dict):
        raise SlotError(f"{where}: 'slots' must be an object")
    intents = section.get("intents", {})
    if not isinstance(intents, dict):
        raise SlotError(f"{where}: 'slots.intents' must map intents to {{slot name: entity type}}")
    for intent, slots in intents.items():
        if not isinstance(slots, dict):
            raise SlotError(f"{where}: 'slots.intents.{intent}' must map slot names to entity types")
        for name, kind in slots.items():
            if not (isinstance(name, str) and _SLOT_NAME.match(name)):
                raise SlotError(f"{where}: 'slots.intents.{intent}': invalid slot name {name!r}")
            if not (isinstance(kind, str) and kind):
                raise SlotError(f"{where}: 'slots.intents.{intent}.{name}' must be an entity type name")
    tagger = section.get("tagger")
    if tagger is not None and not (isinstance(tagger, str) and "/" not in tagger and "\\" not in tagger
                                   and tagger not in ("", ".", "..")):
        raise SlotError(f"{where}: 'slots.tagger' must be a file name in the model package")
    return section


class _IntentTagger:
    __slots__ = ("tags", "rows", "W", "trans", "start", "slot_of", "gaz", "max_gaz", "gaz_words")

    def __init__(self, d: dict, feature_ids: dict[str, int], n_features: int) -> None:
        self.tags: list[str] = d["tags"]
        K = len(self.tags)
        gids = _array(d["rows"])  # the global feature id of each row of W
        if gids.size and (gids.min() < 0 or gids.max() >= n_features):
            raise SlotError("rows: feature id out of range")
        W = _array(d["weights"]).reshape(len(gids), K)
        # global feature id -> row of W (-1: the feature means nothing for this intent)
        self.rows = np.full(n_features + 1, -1, dtype=np.int16 if len(gids) < 32767 else np.int32)
        self.rows[gids] = np.arange(len(gids))
        # float16 as stored (half the memory); row -1: zeros, for features this intent does not use
        self.W = np.vstack([W, np.zeros((1, K), np.float32)]).astype(np.float16)
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
        self.gaz: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        self.max_gaz = 0
        for slot, values in d.get("gazetteer", {}).items():
            for v in values:
                words = tuple(v.split(" "))
                self.gaz.setdefault(words[0], []).append((slot, words))
                self.max_gaz = max(self.max_gaz, len(words))
        self.gaz_words = value_words(self.gaz)

    def decode(self, words: Sequence[str], feature_ids: dict[str, int],
               ents: Sequence[Sequence[str]] | None = None) -> tuple[list[int], np.ndarray]:
        low = [w.lower() for w in words]
        gaz = gazetteer_tags(low, self.gaz, self.max_gaz, (), self.gaz_words) if self.gaz else [()] * len(words)
        feats = token_features(words, gaz, ents)
        ids: list[int] = []
        offsets: list[int] = []
        look = feature_ids.__getitem__  # a _FeatureIds: unknown features give -1 (a row of zeros)
        for f in feats:
            offsets.append(len(ids))
            ids += map(look, f)
        E = np.add.reduceat(self.W[self.rows[ids]], offsets, axis=0, dtype=np.float32)
        return viterbi(E, self.trans, self.start), E


def _array(d: Any) -> np.ndarray:
    """A weight array of the tagger file: {"dtype": "float16"|"float32", "shape", "data": base64}."""
    dtypes = {"float16": ("<f2", np.float32), "float32": ("<f4", np.float32), "int32": ("<i4", np.int64)}
    if not (isinstance(d, dict) and d.get("dtype") in dtypes):
        raise SlotError("arrays must be {dtype: float16|float32|int32, shape, data}")
    raw = base64.b64decode(d["data"], validate=True)
    wire, mem = dtypes[d["dtype"]]
    a = np.frombuffer(raw, dtype=wire).astype(mem)
    return a.reshape([int(x) for x in d["shape"]])


def viterbi(E: np.ndarray, trans: np.ndarray, start: np.ndarray) -> list[int]:
    """Best tag path for emissions E [T, K], transitions [K, K] (from, to) and start scores [K]."""
    T = E.shape[0]
    delta = start + E[0]
    if T == 1:
        return [int(delta.argmax())]
    back = np.empty((T - 1, E.shape[1]), dtype=np.intp)
    for t in range(1, T):
        s = trans + delta[:, None]
        s.argmax(axis=0, out=back[t - 1])
        delta = s.max(axis=0)
        delta += E[t]
    k = int(delta.argmax())
    path = [k]
    for b in back[::-1].tolist():
        k = b[k]
        path.append(k)
    path.reverse()
    return path


class SlotExtractor:
    """Slots of one model: `extract(text, intent)` -> list of the result's slot dicts."""

    def __init__(self, intents: dict[str, dict[str, str]], taggers: dict[str, _IntentTagger] | None = None,
                 feature_ids: dict[str, int] | None = None, synonyms: dict[str, dict[str, str]] | None = None,
                 tz: Any = None) -> None:
        self.intents = intents
        self._taggers = taggers or {}
        self._fid = feature_ids if feature_ids is not None else _FeatureIds()
        self._synonyms = synonyms or {}
        self.tz = tz  # None: the device's local zone
        # per intent: built-in kinds found by rules (slots the tagger does not learn) -> slot name
        self._rules: dict[str, dict[str, str]] = {}
        for intent, slots in intents.items():
            learned = set(self._taggers[intent].slot_of) if intent in self._taggers else set()
            rules = {kind: name for name, kind in slots.items() if kind in entities.KINDS and name not in learned}
            if rules:
                self._rules[intent] = rules

    @property
    def empty(self) -> bool:
        return not self._rules and not self._taggers

    @classmethod
    def load(cls, model_dir: Path | str, manifest: dict) -> "SlotExtractor":
        name = manifest.get("name")
        section = manifest.get("slots")
        if section is None:
            section = DEFAULTS.get(name, {}) if isinstance(name, str) else {}
        section = validate_section(section, f"{Path(model_dir) / 'manifest.json'}")
        intents = {k: dict(v) for k, v in section.get("intents", {}).items()}
        tagger = section.get("tagger")
        if not tagger:
            return cls(intents)
        path = Path(model_dir) / tagger
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SlotError(f"{path}: cannot read the slot tagger ({e})") from None
        try:
            if d.get("format") != FORMAT:
                raise SlotError(f"{path}: format {d.get('format')!r}, expected {FORMAT!r}")
            features = [sys.intern(f) for f in d["features"]]
            fid = _FeatureIds((f, i) for i, f in enumerate(features))
            taggers = {}
            for intent, td in d["intents"].items():
                taggers[intent] = _IntentTagger(td, fid, len(features))
                for slot in {t[2:] for t in td["tags"] if t != "O"}:
                    intents.setdefault(intent, {}).setdefault(slot, slot)
            synonyms = {k: {a.lower(): b for a, b in v.items()} for k, v in d.get("synonyms", {}).items()}
        except SlotError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SlotError(f"{path}: malformed slot tagger ({type(e).__name__}: {e})") from None
        return cls(intents, taggers, fid, synonyms)

    def cloud_prompt(self) -> str:
        """Lines for the cloud's system prompt: which slots each intent has, and how to return them
        (empty when the model has no slots). The reply then carries
        "slots": [{"name": slot name, "text": the exact words of the request}]."""
        lines = [f"{intent}: " + ", ".join(f"{name} ({kind})" for name, kind in sorted(slots.items()))
                 for intent, slots in sorted(self.intents.items()) if slots]
        if not lines:
            return ""
        return ('Also return "slots": a list of {"name": "<slot name>", "text": "<the exact words of the '
                'request that give it>"} for the slots of the chosen intent found in the request (an empty '
                "list when there are none). The intents with slots, and their slots (type):\n" + "\n".join(lines))

    def cloud_slots(self, text: str, intent: str, reply: Any, now: Any = None) -> tuple[list[dict], list[str]]:
        """The cloud's `slots` for `text` under `intent`, validated like its intent: (slots in the
        result's form, problems). A slot whose name the intent does not have, whose text is not in
        the request (case aside) or overlaps an earlier one, or that is not {"name": str, "text": str},
        is left out and named in `problems`. Offsets are found in the request; values are resolved
        here (built-in types, synonyms), never taken from the cloud. Confidence 1.0 (the cloud gives
        none; the result's own confidence says how far the cloud answer is trusted)."""
        known = self.intents.get(intent, {})
        if reply is None:
            return [], []
        if not isinstance(reply, list):
            return [], [f"slots is a {type(reply).__name__}, not a list"]
        out: list[dict] = []
        problems: list[str] = []
        low = text.lower()
        for item in reply[:32]:
            if not (isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("text"), str)):
                problems.append("a slot is not {name: str, text: str}")
                continue
            name, said = item["name"], item["text"].strip()
            if name not in known:
                problems.append(f"{intent!r} has no slot {name[:40]!r}")
                continue
            start = low.find(said.lower()) if said else -1
            while start >= 0 and any(start < s["end"] and s["start"] < start + len(said) for s in out):
                start = low.find(said.lower(), start + 1)
            if start < 0:
                problems.append(f"slot {name!r}: its text is not in the request")
                continue
            end = start + len(said)
            raw = text[start:end]
            kind = known[name]
            value: Any = raw
            if kind in entities.KINDS:
                v = entities.resolve(raw, kind, now=now, tz=self.tz)
                value = v if v is not None else raw
            else:
                value = self._synonyms.get(name, {}).get(raw.lower(), raw)
            out.append({"name": name, "entity": kind, "raw": raw, "value": value, "start": start, "end": end,
                        "confidence": 1.0})
        out.sort(key=lambda s: s["start"])
        return out, problems

    def extract(self, text: str, intent: str, now: Any = None) -> list[dict]:
        """The slots of `text` under `intent` (empty when the intent has none). Only the first
        MAX_TEXT characters are read: an utterance is far shorter, and a 16 KiB payload of number
        words must not hold the worker for a second (offsets stay offsets into `text`)."""
        text = text[:MAX_TEXT]
        out: list[dict] = []
        tagger = self._taggers.get(intent)
        if tagger is not None and text:
            out = self._tag(tagger, text, intent, now)
        rules = self._rules.get(intent)
        if rules:
            taken = [(s["start"], s["end"]) for s in out]
            for e in entities.find(text, rules, now=now, tz=self.tz):
                if any(e.start < b and a < e.end for a, b in taken):
                    continue
                out.append({"name": rules[e.kind], "entity": e.kind, "raw": e.raw, "value": e.value,
                            "start": e.start, "end": e.end, "confidence": 1.0})
            if taken:
                out.sort(key=lambda s: s["start"])
        return out

    def _tag(self, tagger: _IntentTagger, text: str, intent: str, now: Any) -> list[dict]:
        spans = tokenize(text)
        if not spans:
            return []
        words = [text[a:b] for a, b in spans]
        path, E = tagger.decode(words, self._fid, entity_tags(text, spans))
        out = []
        tags = tagger.tags
        kinds = self.intents.get(intent, {})
        i = 0
        n = len(path)
        if all(p == 0 for p in path):  # tag 0 is "O": nothing marked
            return out
        z = np.exp(E - E.max(axis=1, keepdims=True))
        word_conf = (z[np.arange(n), path] / z.sum(axis=1)).tolist()
        while i < n:
            t = tags[path[i]]
            if t == "O":
                i += 1
                continue
            slot = t[2:]
            j = i + 1
            while j < n and tags[path[j]] == "I-" + slot:
                j += 1
            start, end = spans[i][0], spans[j - 1][1]
            raw = text[start:end]
            conf = sum(word_conf[i:j]) / (j - i)
            kind = kinds.get(slot, slot)
            value: Any = raw
            if kind in entities.KINDS:
                v = entities.resolve(raw, kind, now=now, tz=self.tz)
                value = v if v is not None else raw
            else:
                value = self._synonyms.get(slot, {}).get(raw.lower(), raw)
            out.append({"name": slot, "entity": kind, "raw": raw, "value": value, "start": start, "end": end,
                        "confidence": round(conf, 4)})
            i = j
        return out


# -- metrics --------------------------------------------------------------------------------------

def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def _triples(slots: Iterable[Any]) -> list[tuple[str, int, int]]:
    out = []
    for s in slots:
        if isinstance(s, dict):
            out.append((s["name"], int(s["start"]), int(s["end"])))
        else:  # edge.markup.Span (start, end, name, raw) or (name, start, end)
            out.append((s[2], int(s[0]), int(s[1])) if isinstance(s[0], int) else (s[0], int(s[1]), int(s[2])))
    return out


def slot_metrics(gold: Sequence[Iterable[Any]], pred: Sequence[Iterable[Any]],
                 intents: Sequence[str] | None = None) -> dict[str, Any]:
    """Slot precision, recall and F1: a predicted slot counts when its name and span (start, end)
    both equal a marked one's.

    `gold[i]` and `pred[i]` are the slots of item i: markup Spans, result slot dicts, or
    (name, start, end) triples. Returns overall (micro) precision/recall/F1, `per_slot`
    {name: {precision, recall, f1, support}}, `macro_f1` (the mean F1 over slot names) and,
    with `intents` (each item's gold intent), `macro_f1_intent_slot`: the mean over
    (intent, slot) pairs, as the Snips benchmark averages.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold items but {len(pred)} predictions")
    counts: dict[Any, list[int]] = {}  # key -> [tp, n_pred, n_gold]
    pair_counts: dict[Any, list[int]] = {}
    tp_all = np_all = ng_all = 0
    for k, (g, p) in enumerate(zip(gold, pred)):
        gs, ps = _triples(g), _triples(p)
        gset = set(gs)
        pset = set(ps)
        for name, a, b in ps:
            hit = (name, a, b) in gset
            for key, table in ((name, counts), ((intents[k], name) if intents else None, pair_counts)):
                if key is None:
                    continue
                c = table.setdefault(key, [0, 0, 0])
                c[1] += 1
                c[0] += hit
        for name, a, b in gs:
            for key, table in ((name, counts), ((intents[k], name) if intents else None, pair_counts)):
                if key is None:
                    continue
                table.setdefault(key, [0, 0, 0])[2] += 1
        tp_all += len(pset & gset)
        np_all += len(ps)
        ng_all += len(gs)
    per_slot = {name: {**_prf(*c), "support": c[2]} for name, c in sorted(counts.items())}
    gold_names = [n for n, c in counts.items() if c[2] > 0]
    out: dict[str, Any] = {**_prf(tp_all, np_all, ng_all), "support": ng_all,
                           "macro_f1": round(float(np.mean([per_slot[n]["f1"] for n in gold_names])), 4)
                           if gold_names else 0.0,
                           "per_slot": per_slot}
    if intents:
        pairs = [c for c in pair_counts.values() if c[2] > 0]
        out["macro_f1_intent_slot"] = round(float(np.mean([_prf(*c)["f1"] for c in pairs])), 4) if pairs else 0.0
    return out


def format_per_slot(metrics: dict[str, Any]) -> str:
    """The per-slot table of `slot_metrics` (for `edge eval --per-slot`)."""
    per = metrics.get("per_slot") or {}
    if not per:
        return "no slots marked in the data" if not metrics.get("note") else str(metrics["note"])
    width = max(12, max(len(k) for k in per))
    lines = [f"{'slot':<{width}}  precision  recall      f1  support"]
    for name, m in per.items():
        lines.append(f"{name:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}  {m['support']:7d}")
    lines.append(f"{'F1 averaged over slot types':<{width}}  {metrics.get('macro_f1', 0.0):.4f}")
    if "macro_f1_intent_slot" in metrics:
        lines.append(f"{'F1 averaged over (intent, slot) pairs':<{width}}  {metrics['macro_f1_intent_slot']:.4f}")
    return "\n".join(lines)

