"""Train the slot tagger of a model package from `[value](slot)` examples (edge.slots reads it).

One linear-chain tagger per intent that has marked slots: BIO tags over words,
the features of `edge.slot_features.token_features`, weights from an averaged
structured perceptron (Collins 2002) with Viterbi decoding. Gazetteer features
(values seen in training) are computed, for each training sentence, without
the values that only that sentence has, so the tagger learns how far a
gazetteer match can be trusted on values it has not seen.

Each learned slot gets an entity type: a built-in one (datetime, number, ...)
when most of its training values resolve as that built-in
(`edge.entities.resolve`), so its values come out resolved; else the slot's
own name. `entity_types` overrides the guess.

Standard library + numpy: no TensorFlow needed, seconds on a few hundred examples.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

import re

from edge import entities, gazetteers
from edge.markup import Span
from edge.slots import TAGGER_FILE
from edge.slot_features import entity_tags, gazetteer_tags, token_features, tokenize, value_words
from edge.tagger import FORMAT, viterbi

__all__ = ["train_tagger", "package", "infer_entity_types", "BUILTIN_GUESS_ORDER"]

OOS = "oos"
_WORDS = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")  # edge.slot_features.tokenize's words
BUILTIN_GUESS_ORDER = ("datetime", "duration", "money", "percentage", "temperature", "ordinal", "number")


def _align(text: str, spans: Sequence[Any], toks: list[tuple[int, int]]) -> list[str]:
    tags = ["O"] * len(toks)
    for sp in spans:
        a, b, name = sp[0], sp[1], sp[2]
        first = True
        for i, (s, e) in enumerate(toks):
            if s < b and e > a:
                tags[i] = ("B-" if first else "I-") + name
                first = False
    return tags


def infer_entity_types(values: Mapping[str, Iterable[str]], share: float = 0.7, min_values: int = 2) -> dict[str, str]:
    """slot -> a built-in kind when at least `share` of its distinct values resolve as it, else the slot name."""
    out = {}
    for slot, vals in values.items():
        distinct = sorted({v.strip() for v in vals if v.strip()})
        kind = slot
        if len(distinct) >= min_values:
            for k in BUILTIN_GUESS_ORDER:
                ok = sum(entities.resolve(v, k) is not None for v in distinct)
                if ok >= share * len(distinct):
                    kind = k
                    break
        out[slot] = kind
    return out


def _masks(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """BIO constraints: I-x only after B-x or I-x, never first."""
    K = len(tags)
    mask_t = np.zeros((K, K))
    mask_s = np.zeros(K)
    for j, t in enumerate(tags):
        if t.startswith("I-"):
            mask_s[j] = -1e9
            for i, s in enumerate(tags):
                if s[2:] != t[2:]:
                    mask_t[i, j] = -1e9
    return mask_t, mask_s


def _train_all(by_intent: dict[str, list], epochs: int, rng: random.Random, runs: int = 1,
               prune: float = 0.0, balance: int = 0, dropout: float = 0.0,
               extra_gaz: Mapping[str, Iterable[tuple[str, ...]]] | None = None) -> dict[str, dict]:
    """One averaged perceptron over every intent, decoded with each intent's own tags.

    Each feature has a shared weight and a weight of its own per intent ("frustratingly easy
    domain adaptation", Daume 2007), so a slot that several intents share (city, timeRange)
    learns from all of them while each intent keeps its own preferences. At run time the two
    are summed into one matrix per intent: the same cost as separate taggers."""
    slots = sorted({t[2:] for sents in by_intent.values() for _, tags, _, _, _ in sents for t in tags if t != "O"})
    tags = ["O"] + [p + s for s in slots for p in ("B-", "I-")]
    ti = {t: i for i, t in enumerate(tags)}
    K = len(tags)
    intents = sorted(by_intent)
    cols = {}
    for it in intents:
        own = sorted({t[2:] for _, tg, _, _, _ in by_intent[it] for t in tg if t != "O"})
        cols[it] = np.asarray([0] + [ti[p + s] for s in own for p in ("B-", "I-")])
    # gazetteer of the training values (shared by all intents: a slot name means one thing), with
    # the number of sentences holding each, so each sentence can leave out its own values
    value_count: Counter = Counter()
    for sents in by_intent.values():
        for _, _, vals, _, aug in sents:
            if not aug:
                value_count.update(set(vals))
    for slot, entries in (extra_gaz or {}).items():
        for words in entries:
            if slot in slots:
                value_count[(slot, words)] += 2  # a listed value: never left out
    gaz: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for slot, words in sorted(value_count):
        gaz[words[0]].append((slot, words))
    max_gaz = max((len(w) for _, w in value_count), default=0)
    gaz_words = value_words(gaz)
    # sentences whose values hold each (slot, word): a word only this sentence's values have is left out
    word_count: Counter = Counter()
    for (slot, words), k in value_count.items():
        for w in set(words):
            word_count[(slot, w)] += k

    fidx: dict[str, int] = {}
    data = []
    for it in intents:
        c = cols[it]
        local = {int(g): k for k, g in enumerate(c)}
        for words, gold, vals, ents, aug in by_intent[it]:
            low = [w.lower() for w in words]
            # values no other sentence has (a swapped-in value: none of the sentence's own)
            skip = list(set(vals)) if aug else [v for v in set(vals) if value_count[v] <= 1]
            own_words = Counter((sl, w) for sl, v in set(vals) for w in set(v))
            skip_words = [p for p, k in own_words.items() if aug or word_count[p] <= k]
            feats = token_features(words, gazetteer_tags(low, gaz, max_gaz, skip, gaz_words, skip_words), ents)
            ids, offsets = [], []
            for f in feats:
                offsets.append(len(ids))
                for x in f:
                    ids.append(fidx.setdefault(x, len(fidx)))
            data.append((it, np.asarray(ids, np.int64), np.asarray(offsets, np.int64),
                         np.asarray([local[ti[t]] for t in gold])))
    F = len(fidx)
    n_it = len(intents)
    repeats = None
    if balance > 0:
        # sentences with a rare slot go round more often (recall on rare slots: F1 is averaged over types)
        freq: Counter = Counter()
        for sents in by_intent.values():
            for _, tg, _, _, aug in sents:
                if not aug:
                    freq.update({t[2:] for t in tg if t != "O"})
        med = float(np.median(list(freq.values())))
        repeats = []
        for it in intents:
            for _, tg, _, _, _ in by_intent[it]:
                names = {t[2:] for t in tg if t != "O"}
                rare = min((freq[n] for n in names), default=med)
                repeats.append(int(min(balance, max(1, round((med / rare) ** 0.5)))))
    ii = {it: k for k, it in enumerate(intents)}
    # weights: [shared, intent 0, intent 1, ...] x features x tags, and their step-weighted sums
    W = np.zeros((n_it + 1, F + 1, K))  # row F: where dropped features go (never exported)
    U = np.zeros_like(W)
    T = np.zeros((n_it + 1, K, K))
    Ut = np.zeros_like(T)
    S = np.zeros((n_it + 1, K))
    Us = np.zeros_like(S)
    masks = {it: _masks([tags[g] for g in cols[it]]) for it in intents}
    Wsum = np.zeros_like(W)
    Tsum = np.zeros_like(T)
    Ssum = np.zeros_like(S)
    for _run in range(runs):
        W[:] = 0
        U[:] = 0
        T[:] = 0
        Ut[:] = 0
        S[:] = 0
        Us[:] = 0
        _epochs(data, cols, masks, ii, W, U, T, Ut, S, Us, epochs, rng, repeats, dropout)
        step = epochs * (sum(repeats) if repeats else len(data)) + 1
        Wsum += W - U / step
        Tsum += T - Ut / step
        Ssum += S - Us / step
    Wa, Ta, Sa = Wsum / runs, Tsum / runs, Ssum / runs
    return _export(intents, cols, tags, fidx, value_count, Wa, Ta, Sa, prune)


def _epochs(data, cols, masks, ii, W, U, T, Ut, S, Us, epochs: int, rng: random.Random,
            repeats: list[int] | None = None, dropout: float = 0.0) -> None:
    """Averaged-perceptron passes over `data`, updating W/T/S and their step-weighted sums in place."""
    step = 1
    order = list(range(len(data))) if repeats is None else [k for k, r in enumerate(repeats) for _ in range(r)]
    for _ in range(epochs):
        rng.shuffle(order)
        for k in order:
            it, ids, offsets, gold = data[k]
            if dropout > 0:  # feature dropout: the tagger cannot lean on one word alone
                drop = np.asarray([rng.random() < dropout for _ in range(len(ids))])
                drop[offsets] = False  # the bias of each word stays
                ids = np.where(drop, W.shape[1] - 1, ids)
            c = cols[it]
            a = ii[it] + 1
            E = np.add.reduceat(W[0][ids][:, c] + W[a][ids][:, c], offsets, axis=0)
            trans = (T[0] + T[a])[np.ix_(c, c)] + masks[it][0]
            start = (S[0] + S[a])[c] + masks[it][1]
            pred = np.asarray(viterbi(E, trans, start))
            if np.array_equal(pred, gold):
                step += 1
                continue
            bounds = list(offsets) + [len(ids)]
            for t in np.nonzero(pred != gold)[0]:
                rows = ids[bounds[t]:bounds[t + 1]]
                g, p = c[gold[t]], c[pred[t]]
                for layer in (0, a):
                    np.add.at(W[layer], (rows, g), 1.0)
                    np.add.at(W[layer], (rows, p), -1.0)
                    np.add.at(U[layer], (rows, g), step)
                    np.add.at(U[layer], (rows, p), -step)
            for layer in (0, a):
                if pred[0] != gold[0]:
                    S[layer, c[gold[0]]] += 1
                    S[layer, c[pred[0]]] -= 1
                    Us[layer, c[gold[0]]] += step
                    Us[layer, c[pred[0]]] -= step
                for t in range(1, len(gold)):
                    if pred[t - 1] != gold[t - 1] or pred[t] != gold[t]:
                        T[layer, c[gold[t - 1]], c[gold[t]]] += 1
                        T[layer, c[pred[t - 1]], c[pred[t]]] -= 1
                        Ut[layer, c[gold[t - 1]], c[gold[t]]] += step
                        Ut[layer, c[pred[t - 1]], c[pred[t]]] -= step
            step += 1


def _export(intents, cols, tags, fidx, value_count, Wa, Ta, Sa, prune: float) -> dict[str, dict]:
    ii = {it: k for k, it in enumerate(intents)}
    names = [""] * len(fidx)
    for f, i in fidx.items():
        names[i] = f
    gaz_out: dict[str, list[str]] = defaultdict(list)
    for slot, words in sorted(value_count):
        gaz_out[slot].append(" ".join(words))
    out = {}
    for it in intents:
        c = cols[it]
        a = ii[it] + 1
        Wi = (Wa[0] + Wa[a])[:-1, c]  # without the dropout row
        keep = np.nonzero(np.abs(Wi).max(axis=1) > prune)[0]
        own_slots = {tags[g][2:] for g in c[1:]}
        out[it] = {
            "tags": [tags[g] for g in c],
            "features": [names[i] for i in keep],
            "weights": _b64(Wi[keep]),
            "transitions": _b64((Ta[0] + Ta[a])[np.ix_(c, c)]),
            "start": _b64((Sa[0] + Sa[a])[c]),
            "gazetteer": {s: v for s, v in gaz_out.items() if s in own_slots},
        }
    return out


def _b64(a: np.ndarray) -> dict:
    """An array as {"dtype", "shape", "data": base64 of its little-endian bytes} (float16 weights:
    half the size, no measurable change in the tags)."""
    a16 = np.ascontiguousarray(a, dtype="<f2")
    return {"dtype": "float16", "shape": list(a.shape), "data": base64.b64encode(a16.tobytes()).decode("ascii")}


def linked_lists(values: Mapping[str, Iterable[str]], share: float = 0.5, min_values: int = 2) -> dict[str, str]:
    """slot -> the built-in gazetteer (edge.gazetteers) that holds at least `share` of its distinct
    training values: the slot's gazetteer then takes the whole list ("russian" is a cuisine even
    when no example says so)."""
    out = {}
    for slot, vals in values.items():
        distinct = {tuple(w.lower() for w in _WORDS.findall(v)) for v in vals}
        distinct.discard(())
        if len(distinct) < min_values:
            continue
        best = max(gazetteers.GAZETTEERS, key=lambda n: len(distinct & gazetteers.GAZETTEERS[n]))
        if len(distinct & gazetteers.GAZETTEERS[best]) >= share * len(distinct):
            out[slot] = best
            continue
        # values that hold a word of a list's entries ("bouncy techno", "Hardcore Hip Hop": genre)
        words = gazetteers.word_index()
        hits = Counter(n for v in distinct for n in {x for w in v for x in words.get(w, ())})
        if hits:
            name, k = hits.most_common(1)[0]
            if k >= share * len(distinct):
                out[slot] = name
    return out


class _Ex(NamedTuple):
    text: str
    label: str
    spans: tuple


def _swap_values(examples: Sequence[Any], n: int, rng: random.Random) -> list[_Ex]:
    """`n` copies of each example with slots, every slot value swapped for another value of the same
    slot seen in training (any intent): the tagger learns the contexts, not only the values."""
    pool: dict[str, list[str]] = defaultdict(list)
    for ex in examples:
        for sp in ex.spans:
            pool[sp[2]].append(sp[3])
    pool = {k: sorted(set(v)) for k, v in pool.items()}
    out = []
    for ex in examples:
        if not ex.spans:
            continue
        for _ in range(n):
            parts, spans, pos, n_out = [], [], 0, 0
            for sp in sorted(ex.spans, key=lambda s: s[0]):
                before = ex.text[pos:sp[0]]
                value = rng.choice(pool[sp[2]])
                parts += [before, value]
                start = n_out + len(before)
                spans.append(Span(start, start + len(value), sp[2], value))
                n_out = start + len(value)
                pos = sp[1]
            parts.append(ex.text[pos:])
            out.append(_Ex("".join(parts), ex.label, tuple(spans)))
    return out


def train_tagger(examples: Sequence[Any], epochs: int = 5, seed: int = 13, runs: int = 8, prune: float = 1.0,
                 augment: int = 0, balance: int = 3, dropout: float = 0.1,
                 synonyms: Mapping[str, Mapping[str, str]] | None = None,
                 entity_types: Mapping[str, str] | None = None) -> tuple[dict, dict[str, dict[str, str]]] | None:
    """Examples with `.text`, `.label`, `.spans` (edge.dataset.Example) -> (tagger JSON, the
    manifest's {intent: {slot: entity type}}), or None when no example marks a slot.

    `synonyms`: {slot: {"variant": "canonical"}}; a slot's value is its canonical form."""
    by_intent: dict[str, list] = defaultdict(list)
    values: dict[str, list[str]] = defaultdict(list)
    rng = random.Random(seed)
    originals = [ex for ex in examples if ex.label != OOS]
    for ex, aug in [(ex, False) for ex in originals] + [(ex, True) for ex in _swap_values(originals, augment, rng)]:
        toks = tokenize(ex.text)
        if not toks:
            continue
        words = [ex.text[a:b] for a, b in toks]
        tags = _align(ex.text, ex.spans, toks)
        vals = []
        for sp in ex.spans:
            vw = tuple(ex.text[a:b].lower() for a, b in toks if a < sp[1] and b > sp[0])
            if vw:
                vals.append((sp[2], vw))
            if not aug:
                values[sp[2]].append(sp[3])
        by_intent[ex.label].append((words, tags, vals, entity_tags(ex.text, toks), aug))
    by_intent = {k: v for k, v in by_intent.items() if any(t != "O" for _, tags, _, _, _ in v for t in tags)}
    if not by_intent:
        return None
    lists = linked_lists(values)
    intents_out = _train_all(by_intent, epochs, rng, runs, prune, balance, dropout,
                             {slot: gazetteers.GAZETTEERS[name] for slot, name in lists.items()})
    kinds = infer_entity_types(values)
    if entity_types:
        kinds.update(entity_types)
    slot_map: dict[str, dict[str, str]] = {}
    for intent, d in intents_out.items():
        names = sorted({t[2:] for t in d["tags"] if t != "O"})
        slot_map[intent] = {s: kinds.get(s, s) for s in names}
    features = sorted({f for d in intents_out.values() for f in d["features"]})
    gid = {f: i for i, f in enumerate(features)}
    for d in intents_out.values():  # each intent's rows: ids into the one feature list
        ids = np.asarray([gid[f] for f in d.pop("features")], dtype="<i4")
        d["rows"] = {"dtype": "int32", "shape": [len(ids)], "data": base64.b64encode(ids.tobytes()).decode("ascii")}
    doc = {"format": FORMAT, "features": features, "intents": intents_out,
           "synonyms": {k: dict(v) for k, v in (synonyms or {}).items()}}
    return doc, slot_map


def package(out_dir: str | Path, examples: Sequence[Any], **kw: Any) -> dict | None:
    """Train on `examples`, write slots.json into the package and record it in manifest.json
    ("slots" section, and its sha256 under "files"). Returns the "slots" section, or None
    (and the manifest untouched) when no example marks a slot."""
    from edge.model import MANIFEST, sha256_file

    res = train_tagger(examples, **kw)
    if res is None:
        return None
    doc, slot_map = res
    out = Path(out_dir)
    (out / TAGGER_FILE).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    mpath = out / MANIFEST
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    section = {"intents": slot_map, "tagger": TAGGER_FILE,
               "method": "per-intent averaged-perceptron BIO tagger over word features and training-value "
                         "gazetteers (edge/train/slots.py); built-in entity types resolved by edge/entities.py"}
    manifest["slots"] = section
    manifest.setdefault("files", {})[TAGGER_FILE] = sha256_file(out / TAGGER_FILE)
    mpath.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return section
