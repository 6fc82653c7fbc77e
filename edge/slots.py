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

The tagger (written by edge/train/slots.py, run by edge/tagger.py with the
features of edge/slot_features.py) is a linear-chain model over words, one
per intent, decoded with Viterbi. The confidence of a learned slot is the
mean, over its words, of the marginal probability of that word's tag (forward-backward over the
tagger's scores, transitions included).

`slot_metrics` (edge/slot_scores.py, re-exported here) scores predicted slots
against marked ones (a slot counts when name and span both match); `edge eval`
reports it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge import entities
from edge.slot_error import SlotError

# The tagger lives in edge.tagger, its words and features in edge.slot_features. Those modules (and
# edge.gazetteers, whose tables slot_features builds at import: 0.4 MB of RSS in all) are imported only
# with a slot tagger: a model without one (models/clinc150: its slots are rules) never needs them.
# `tokenize` and `token_features` stay importable from here (module __getattr__ below).
if TYPE_CHECKING:
    from edge.tagger import IntentTagger as _IntentTagger

__all__ = ["SlotExtractor", "SlotError", "DEFAULTS", "CLINC150_SLOTS", "TAGGER_FILE", "tokenize",
           "token_features", "slot_metrics", "validate_section"]


def __getattr__(name: str) -> Any:
    if name in ("tokenize", "token_features"):
        from edge import slot_features

        return getattr(slot_features, name)
    if name in ("slot_metrics", "format_per_slot"):  # scoring (edge eval), not run time: edge/slot_scores.py
        from edge import slot_scores

        return getattr(slot_scores, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


TAGGER_FILE = "slots.json"
MAX_TEXT = entities.MAX_TEXT  # characters of a request read for slots, the device's and the cloud's
MAX_CLOUD_SLOTS = 32  # slots read from a cloud reply; the rest are ignored

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

_SLOT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


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


_ROWS = [np.arange(n) for n in range(64)]
_ONES = [np.ones(k) for k in range(64)]
_NUMERIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
# Forward-backward is a Python loop over the words: an utterance (a home command is refused over 512
# characters) gets it; a text longer than this keeps the emission reading, so a 16 KiB request of
# numbers stays inside tests/test_budget.py's CPU budget.
_MARGINAL_WORDS = 128


def slot_dict(name: str, entity: str, raw: str, value: Any, start: int, end: int, confidence: float) -> dict:
    """One result slot as interface.md has it. An amount with a unit (money, temperature) resolves
    to ``{"value": 50, "unit": "USD"}`` in edge.entities; on the wire ``value`` stays the number the
    spec promises and the unit goes beside it as ``"unit"`` (an extension)."""
    out = {"name": name, "entity": entity, "raw": raw, "value": value, "start": start, "end": end,
           "confidence": confidence}
    if isinstance(value, dict) and "unit" in value:
        out["value"] = value.get("value")
        out["unit"] = value["unit"]
    return out

class SlotExtractor:
    """Slots of one model: `extract(text, intent)` -> list of the result's slot dicts."""

    def __init__(self, intents: dict[str, dict[str, str]], taggers: dict[str, _IntentTagger] | None = None,
                 feature_ids: dict[str, int] | None = None, synonyms: dict[str, dict[str, str]] | None = None,
                 tz: Any = None) -> None:
        self.intents = intents
        self._taggers = taggers or {}
        self._fid = feature_ids
        self._fast = None
        if self._taggers:
            from edge.slot_features import FastFeatures  # only with a tagger (see the imports)
            from edge.tagger import FeatureIds

            self._fid = feature_ids if feature_ids is not None else FeatureIds()
            self._fast = FastFeatures(self._fid)
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
        from edge.tagger import read_file  # only with a tagger (see the imports)

        fid, taggers, synonyms = read_file(Path(model_dir) / tagger)
        for intent, t in taggers.items():  # the slots the tagger learned, typed by their own names
            for slot in {tag[2:] for tag in t.tags if tag != "O"}:
                intents.setdefault(intent, {}).setdefault(slot, slot)
        synonyms = {k: {a.lower(): b for a, b in v.items()} for k, v in synonyms.items()}
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
        # Only the first MAX_TEXT characters, as for the device's own slots: a slot is found and
        # resolved in them, so a reply cannot make the daemon resolve 32 copies of a 16 KiB request.
        low = text[:MAX_TEXT].lower()
        for item in reply[:MAX_CLOUD_SLOTS]:
            if not (isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("text"), str)):
                problems.append("a slot is not {name: str, text: str}")
                continue
            name, said = item["name"], item["text"]
            if name not in known:
                problems.append(f"{intent!r} has no slot {name[:40]!r}")
                continue
            if len(said) > MAX_TEXT:  # longer than what is searched: it cannot be there
                problems.append(f"slot {name!r}: its text is not in the first {MAX_TEXT} characters of the request")
                continue
            said = said.strip()
            needle = said.lower()
            start = low.find(needle) if said else -1
            while start >= 0:
                clash = next((s for s in out if start < s["end"] and s["start"] < start + len(said)), None)
                if clash is None:
                    break
                # every start before the clashing slot's end overlaps it too: look on from there
                # (at most one jump per slot already taken, not one per character)
                start = low.find(needle, clash["end"])
            if start < 0:
                problems.append(f"slot {name!r}: its text is not in the request")
                continue
            end = start + len(said)
            raw = text[start:end]
            kind = known[name]
            out.append(slot_dict(name, kind, raw, self._value(name, kind, raw, now), start, end, 1.0))
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
                out.append(slot_dict(rules[e.kind], e.kind, e.raw, e.value, e.start, e.end, 1.0))
            if taken:
                out.sort(key=lambda s: s["start"])
        return out

    def _value(self, slot: str, kind: str, raw: str, now: Any) -> Any:
        """A built-in entity's resolved value (the raw text when it does not resolve), else the
        slot's canonical form from its synonyms."""
        if kind in entities.KINDS:
            v = entities.resolve(raw, kind, now=now, tz=self.tz)
            return v if v is not None else raw
        return self._synonyms.get(slot, {}).get(raw.lower(), raw)

    def _tag(self, tagger: _IntentTagger, text: str, intent: str, now: Any) -> list[dict]:
        from edge.slot_features import entity_tags, tokenize  # imported by __init__ already: a lookup
        from edge.tagger_decode import path_marginals

        spans = tokenize(text)
        if not spans:
            return []
        words = [text[a:b] for a, b in spans]
        low = [w.lower() for w in words]
        ids, offsets = self._fast.ids(words, low, tagger.gaz_ids(low), entity_tags(text, spans, low))
        path, E = tagger.scores(ids, offsets)
        out = []
        tags = tagger.tags
        kinds = self.intents.get(intent, {})
        i = 0
        n = len(path)
        if not any(path):  # tag 0 is "O": nothing marked
            return out
        # Two readings of how sure each word's tag is: the softmax of its own scores (emissions only),
        # and its marginal on the decoded path (forward-backward, transitions included: see
        # edge.tagger_decode.path_marginals). A number ("5", "five") is tagged by its context ("for 5
        # minutes"), which only the marginal sees; and its value is checked again downstream (ranges,
        # units). A word span (a name, an area) keeps the emission reading: measured through Wyoming
        # on the home model, the marginal alone let wrong intents through with their names
        # (bench/home_wyoming_eval.py: French template holdout wrong action 2.4 -> 4.5%).
        # (float64; argmax and a matrix product rather than numpy's max/sum reductions, which cost
        # more than the arithmetic at this size; the index rows are made once)
        E64 = E.astype(np.float64)
        K = E64.shape[1]
        at = _ROWS[n] if n < len(_ROWS) else np.arange(n)
        z = np.exp(E64 - E64[at, E64.argmax(axis=1)][:, None])
        word_conf = (z[at, path] / (z @ (_ONES[K] if K < len(_ONES) else np.ones(K)))).tolist()
        marginal: list[float] | None = None
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
            if n <= _MARGINAL_WORDS and (_NUMERIC.match(raw) or entities.resolve(raw, "number") is not None):
                if marginal is None:
                    marginal = path_marginals(E, tagger.trans, tagger.start, path)
                conf = sum(marginal[i:j]) / (j - i)
            else:
                conf = sum(word_conf[i:j]) / (j - i)
            kind = kinds.get(slot, slot)
            out.append(slot_dict(slot, kind, raw, self._value(slot, kind, raw, now), start, end, round(conf, 4)))
            i = j
        return out
