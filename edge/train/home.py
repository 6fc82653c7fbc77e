"""The home model's training data: Home Assistant's sentence templates, sampled with slots.

Source: the ``home-assistant-intents`` package (Home Assistant's intent sentence
templates, CC BY 4.0: https://github.com/OHF-Voice/intents; the package metadata says
Apache-2.0) parsed by ``hassil`` (its template language and parser). For each language:

1. Every intent of the package and every sentence template of it (one template = one
   line of a block's ``sentences``) becomes a :class:`Template` with a stable id.
2. Whole templates are held out for validation (:func:`split_templates`): sentences from
   one template are near-duplicates, so a sentence-level split would measure memory.
3. Each template is *sampled*, never enumerated (some expand to millions of sentences):
   :func:`sample` walks hassil's parsed expression tree choosing one branch at random
   at every alternative, optional and permutation, so its cost is the size of the
   template, not of its expansion. hassil's own ``hassil.sample`` enumerates products
   and drops which words filled which slot; this walker keeps them, as spans under
   Home Assistant's slot names (``{cover_classes:device_class}`` -> ``device_class``).
4. Lists Home Assistant fills at run time (``{name}``, ``{area}``, ``{floor}``, the
   wildcards) take values from edge/train/home_lists.py (our own writing); number
   ranges become digits or words (hassil's number speller, unicode-rbnf).

Out of scope: our own negatives per language (edge/train/negatives/home_<lang>.txt)
and, for English, the shipped negatives of the custom recipe (CLINC150, Wikipedia).

The fixed slots of a block (``domain: light`` for "turn on the lights") are not in the
text; they are kept in each :class:`Template` (``fixed``) and not learned as spans.

Training side only: needs ``hassil`` and ``home-assistant-intents`` (the ``train`` extra).
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.markup import Span, render
from edge.train.home_lists import DOMAIN_NAMES, LISTS

__all__ = ["LANGUAGES", "Template", "templates", "sample", "split_templates", "generate",
           "negatives", "write_intents", "CREDIT", "POLARITY"]

LANGUAGES = ("en", "de", "fr", "es")
CREDIT = ("Home Assistant intents (home-assistant-intents, https://github.com/OHF-Voice/intents): "
          "sentence templates, licensed CC BY 4.0 (the package metadata says Apache-2.0); "
          "expanded with hassil's parser")
NEGATIVES_DIR = Path(__file__).parent / "negatives"
# Pairs of intents that do opposite things: confusing them is the worst error
# (on<->off, open<->close and lock<->unlock are all HassTurnOn/HassTurnOff in Home Assistant).
POLARITY = {("HassTurnOn", "HassTurnOff"), ("HassMediaPause", "HassMediaUnpause"),
            ("HassMediaPlayerMute", "HassMediaPlayerUnmute"), ("HassLawnMowerDock",
            "HassLawnMowerStartMowing"), ("HassVacuumStart", "HassVacuumReturnToBase"),
            ("HassPauseTimer", "HassUnpauseTimer"), ("HassIncreaseTimer", "HassDecreaseTimer")}
MAX_DEPTH = 40            # rule references nest a few levels; deeper means a cycle
DIGIT_SHARE = 0.6         # numbers as digits this often, else as words
POLITE_SHARE = 0.25       # sentences with one of the language's skip words added


@dataclass
class Template:
    """One sentence template of one intent's block."""

    id: str                         # "<intent>/<block>/<line>": stable across runs
    intent: str
    text: str                       # the template as written
    sentence: Any = field(repr=False)   # hassil.expression.Sentence
    rules: dict = field(repr=False, default_factory=dict)  # expansion rules in scope
    fixed: dict = field(default_factory=dict)   # the block's slots not in the text
    domains: tuple = ()             # the domains the block applies to (requires_context)


class _Lang:
    """A language's parsed intents and the lists used to fill templates."""

    def __init__(self, lang: str):
        from hassil.intents import Intents
        from home_assistant_intents import get_intents

        data = get_intents(lang)
        if data is None:
            raise ValueError(f"home-assistant-intents has no language {lang!r}")
        self.lang = lang
        self.intents = Intents.from_dict(data)
        self.fill = LISTS.get(lang) or LISTS["en"]
        self.domain_names = DOMAIN_NAMES.get(lang) or DOMAIN_NAMES["en"]
        self._engine = None

    def spell(self, n: float, rng: random.Random) -> str:
        """``n`` as words (hassil's speller), or None where it cannot."""
        if n != int(n):
            return None
        if self._engine is None:
            from hassil.numbers import get_rbnf_engine
            self._engine = get_rbnf_engine(self.lang)
        words = sorted(set(self._engine.format_number(int(n)).text_by_ruleset.values()))
        w = rng.choice(words) if words else None
        if w and "-" in w and rng.random() < 0.5:   # "twenty-one" and "twenty one" both occur
            w = w.replace("-", " ")
        return w


def templates(lang: str) -> list[Template]:
    """Every sentence template of every intent in ``lang``, in the package's order."""
    L = _Lang(lang)
    out = []
    for name, intent in L.intents.intents.items():
        for b, block in enumerate(intent.data):
            rules = {**L.intents.expansion_rules, **block.expansion_rules}
            lists = block.slot_lists or {}
            for k, (sent, text) in enumerate(zip(block.sentences, block.sentence_texts)):
                dom = (block.requires_context or {}).get("domain") or (block.slots or {}).get("domain")
                dom = tuple(dom) if isinstance(dom, (list, tuple)) else ((dom,) if dom else ())
                t = Template(f"{name}/{b}/{k}", name, text, sent, rules, dict(block.slots or {}), dom)
                t.lists = lists  # type: ignore[attr-defined]
                out.append(t)
    return out


def sample(t: Template, lang: "_Lang | str", rng: random.Random) -> tuple[str, list[Span]]:
    """One random sentence of template ``t``: (plain text, slot spans)."""
    L = lang if isinstance(lang, _Lang) else _Lang(lang)
    pieces: list[tuple[str, str | None]] = []
    # names for a block of one or two domains come from those domains' names (a vacuum's
    # for HassVacuumStart); a block for many domains, or one we have no names for: any
    pool = None
    if 0 < len(t.domains) <= 2 and all(d in L.domain_names for d in t.domains):
        pool = [n for d in t.domains for n in L.domain_names[d]]
    _walk(t.sentence.expression, t.rules, {**L.intents.slot_lists, **getattr(t, "lists", {})},
          L, rng, pieces, None, 0, pool)
    return _assemble(pieces)


def _walk(e, rules: dict, lists: dict, L: _Lang, rng: random.Random,
          out: list[tuple[str, str | None]], slot: str | None, depth: int,
          names: list[str] | None = None) -> None:
    from hassil.expression import (Alternative, ListReference, Permutation, RuleReference,
                                   Sequence, TextChunk)
    from hassil.intents import RangeSlotList, TextSlotList

    if depth > MAX_DEPTH:
        raise ValueError("template nests too deep (a rule that refers to itself?)")
    if isinstance(e, TextChunk):
        out.append((e.original_text, slot))
    elif isinstance(e, Alternative):
        _walk(rng.choice(e.items), rules, lists, L, rng, out, slot, depth + 1, names)
    elif isinstance(e, Permutation):
        items = list(e.items)
        rng.shuffle(items)
        for i, it in enumerate(items):
            if i:
                out.append((" ", slot))
            _walk(it, rules, lists, L, rng, out, slot, depth + 1, names)
    elif isinstance(e, Sequence):
        for it in e.items:
            _walk(it, rules, lists, L, rng, out, slot, depth + 1, names)
    elif isinstance(e, RuleReference):
        _walk(rules[e.rule_name].expression, rules, lists, L, rng, out, slot, depth + 1, names)
    elif isinstance(e, ListReference):
        name = e.slot_name if slot is None else slot   # a value's own words stay in its slot
        lst = lists.get(e.list_name)
        if isinstance(lst, TextSlotList) and lst.values:
            v = rng.choice(lst.values)
            _walk(v.text_in, rules, lists, L, rng, out, name, depth + 1, names)
        elif isinstance(lst, RangeSlotList):
            lo, hi = lst.start, lst.stop
            n = rng.randrange(lo, hi + 1, lst.step)
            if lst.fraction_type is not None and rng.random() < 0.2:
                n = n + 0.5
            words = L.spell(n, rng) if lst.words and rng.random() > DIGIT_SHARE else None
            out.append((words or (str(n) if lst.digits or not words else words), name))
        else:  # a wildcard, or a list the home fills ({name}, {area}, {floor})
            pool = (names if names and e.list_name == "name" else None) \
                or L.fill.get(e.list_name) or L.fill.get(e.slot_name) or L.fill["name"]
            v = rng.choice(pool)
            if rng.random() < 0.15:
                v = v[:1].upper() + v[1:]     # people and speech-to-text capitalise names
            out.append((v, name))
    else:
        raise ValueError(f"unexpected hassil expression {type(e).__name__}")


_WS = re.compile(r"\s+")


def _assemble(pieces: list[tuple[str, str | None]]) -> tuple[str, list[Span]]:
    """Join the walk's pieces, whitespace collapsed, each slot's words one span."""
    text = ""
    spans: list[list] = []   # [start, end, name]
    cur: str | None = None
    for s, name in pieces:
        s = _WS.sub(" ", s)
        if text.endswith(" ") or not text:
            s = s.lstrip(" ")
        if not s:
            continue
        if name != cur and s[:1].isalnum() and text[-1:].isalnum():
            # a slot glued to a word ("{floor}geschoss", "{name}er Wetter"): the words stay
            # apart, so a span is whole words (what the tagger labels)
            text += " "
        if name != cur:
            cur = name
            if name is not None:
                spans.append([len(text), len(text), name])
        text += s
        if name is not None:
            spans[-1][1] = len(text)
    # trim the spans' blanks and drop empty ones; trim the text
    lead = len(text) - len(text.lstrip(" "))
    text = text.strip(" ")
    out = []
    for a, b, name in spans:
        a, b = max(0, a - lead), min(len(text), b - lead)
        raw = text[a:b]
        a += len(raw) - len(raw.lstrip())
        b -= len(raw) - len(raw.rstrip())
        if b > a:
            out.append(Span(a, b, name, text[a:b]))
    return text, out


def _polite(plain: str, spans: list[Span], skip: list[str], rng: random.Random
            ) -> tuple[str, list[Span]]:
    """``plain`` with one of the language's skip words ("please", "could you", "bitte"):
    Home Assistant's matcher ignores them, so people say them; the templates rarely do."""
    if not skip:
        return plain, spans
    w = rng.choice(skip).lower()
    if rng.random() < 0.6:
        k = len(w) + 1
        return f"{w} {plain}", [Span(a + k, b + k, n, r) for a, b, n, r in spans]
    return f"{plain} {w}", spans


def split_templates(ts: list[Template], holdout: float, seed: int) -> tuple[set[str], set[str]]:
    """(train ids, held-out ids): about ``holdout`` of each intent's templates held out,
    never all of them (an intent keeps at least one training template)."""
    rng = random.Random(seed)
    train, held = set(), set()
    by: dict[str, list[str]] = {}
    for t in ts:
        by.setdefault(t.intent, []).append(t.id)
    for intent in sorted(by):
        ids = sorted(by[intent])
        rng.shuffle(ids)
        k = min(len(ids) - 1, round(len(ids) * holdout))
        held.update(ids[:k])
        train.update(ids[k:])
    return train, held


def generate(lang: str, per_intent: int, seed: int, holdout: float = 0.15,
             per_template_min: int = 3, held_per_template: int = 4,
             time_limit_s: float = 120.0) -> dict[str, list[tuple[str, str, str]]]:
    """{"train": [...], "holdout": [...]}: (marked text, intent, template id), deduplicated.

    About ``per_intent`` training sentences per intent, spread over its training
    templates (at least ``per_template_min`` each); ``held_per_template`` per held-out
    template. Bounded in time: raises TimeoutError past ``time_limit_s``."""
    L = _Lang(lang)
    ts = templates(lang)
    train_ids, held_ids = split_templates(ts, holdout, seed)
    rng = random.Random(f"{seed}/{lang}")
    n_train: dict[str, int] = {}
    for t in ts:
        if t.id in train_ids:
            n_train[t.intent] = n_train.get(t.intent, 0) + 1
    out: dict[str, list[tuple[str, str, str]]] = {"train": [], "holdout": []}
    seen: set[str] = set()
    t0 = time.monotonic()
    for t in ts:
        split = "train" if t.id in train_ids else "holdout"
        n = (max(per_template_min, -(-per_intent // n_train[t.intent])) if split == "train"
             else held_per_template)
        got = 0
        for _ in range(n * 4):            # duplicates are likely for small templates
            if got >= n:
                break
            if time.monotonic() - t0 > time_limit_s:
                raise TimeoutError(f"sampling {lang} took over {time_limit_s}s")
            plain, spans = sample(t, L, rng)
            if rng.random() < POLITE_SHARE:
                plain, spans = _polite(plain, spans, L.intents.skip_words, rng)
            key = plain.lower()
            if not plain or key in seen:
                continue
            seen.add(key)
            out[split].append((render(plain, spans), t.intent, t.id))
            got += 1
    return out


def negatives(lang: str) -> list[str]:
    """Our own out-of-scope sentences for ``lang`` (one a line; '#' lines are comments)."""
    p = NEGATIVES_DIR / f"home_{lang}.txt"
    if not p.is_file():
        return []
    return [s.strip() for s in p.read_text(encoding="utf-8").splitlines()
            if s.strip() and not s.startswith("#")]


def write_intents(path: Path, rows: list[tuple[str, str, str]], oos: list[str] = ()) -> None:
    """An intents text file (``## intent`` headers) as ``edge train`` reads it."""
    by: dict[str, list[str]] = {}
    for marked, intent, _ in rows:
        by.setdefault(intent, []).append(marked)
    lines = []
    for intent in sorted(by):
        lines += [f"## {intent}", *by[intent], ""]
    if oos:
        lines += ["## oos", *[render(s, []) for s in oos], ""]
    path.write_text("\n".join(lines), encoding="utf-8")
