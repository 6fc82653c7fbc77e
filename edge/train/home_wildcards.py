"""The carrier phrases of Home Assistant's wildcard slots: the package's `home_schema.wildcards`.

A wildcard slot (a todo item, a broadcast message, a search query, a timer's name) takes any words,
so the slot tagger, which learnt spans from a few sampled values, cuts them ("oat milk" -> "milk") or
drops them. Home Assistant's matcher finds them by the words *around* them: "add {item} to my {name}
list". This writes, for every intent and language whose templates have a wildcard, those templates
compiled to patterns over folded text (edge/home_wildcards.py's `fold`): the wildcard and the names
the home fills ({name}, {area}, {floor}) as captures, a number as a few words, a small list as its
values, alternatives and optionals as regex alternatives. edge/home_wildcards.py matches them at
run time without hassil or the intents package.

    python -m edge.train.home_wildcards --package models/home      # rewrites manifest.json's key

Only the manifest changes; its own hash is in no `files` entry (edge/deploy verifies the files it
lists), so the package stays valid.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from edge.home_templates import encode as encode_templates, entry
from edge.home_needs import required  # noqa: F401 (re-exported: it moved to run time)
from edge.home_wildcards import RULE_REF, FREE_SLOTS, HOME_LISTS, compile_pattern, encode, expand, fold

# The intents with a FREE_SLOTS wildcard get carriers (a person's zone in HassGetState is left to the tagger)
SMALL_LIST = 40   # a list with more values than this is a bounded run of words, not an alternation
MAX_DEPTH = 40


class _Compiler:
    """One template -> its compact pattern (edge/home_wildcards.py's `compile_pattern` reads it): folded
    words, " " for an optional blank, `{item*}` a wildcard, `{name}` a name the home fills, `{}` other
    words, `{#}` a number, `(?:a|b)` / `(?:a)?` alternatives and optionals. `wild`: a wildcard was seen."""

    def __init__(self, rules: dict, lists: dict, shared: dict[str, str], wild_rules: dict[str, set[str]],
                 words: set[str] | None = None, values: dict[str, dict[str, Any]] | None = None) -> None:
        self.rules, self.lists = rules, lists
        # capture mode (`values` given: the templates table): numbers (`{slot@#}...{@}`) and small lists
        # (`{slot@list}...{@}`) are captured as their slot, each list's folded words -> HA's value in `values[list]`
        self.values = values
        self.words = set() if words is None else words   # the templates' own words (no list value's)
        self.shared, self.wild_rules = shared, wild_rules   # the language's compiled rules, by name
        self.wild: set[str] = set()   # the wildcard slots seen

    def rule(self, name: str, depth: int, in_value: bool) -> str:
        """`<key>`: a rule compiled once per language (a timer's duration is in 200 templates); a block's
        own rule of the same name but other words gets its own key."""
        inner = _Compiler(self.rules, self.lists, self.shared, self.wild_rules, self.words, self.values)
        body = inner.compile(self.rules[name].expression, depth + 1, in_value)
        key, k = name, 1
        while key in self.shared and self.shared[key] != body:
            k += 1
            key = f"{name}.{k}"
        self.shared[key] = body
        self.wild_rules[key] = self.wild_rules.get(key, set()) | inner.wild
        self.wild |= self.wild_rules[key]
        return f"<{key}>"

    def compile(self, e: Any, depth: int = 0, in_value: bool = False) -> str:
        from hassil.expression import (Alternative, ListReference, Permutation, RuleReference,
                                       Sequence, TextChunk)
        from hassil.intents import RangeSlotList, TextSlotList, WildcardSlotList

        if depth > MAX_DEPTH:
            raise ValueError("template nests too deep")
        if isinstance(e, TextChunk):
            lit = _literal(e.original_text)
            if not in_value:
                self.words.update(w for w in lit.split(" ") if w)
            return lit
        if isinstance(e, Alternative):
            parts = sorted({self.compile(it, depth + 1, in_value) for it in e.items}, key=lambda p: (-len(p), p))
            if "" in parts:   # an optional: the empty alternative last, so the words are tried first
                parts.remove("")
                if parts in ([" "], []):   # "[ ]": a blank is optional anyway
                    return " " if parts else ""
                if len(parts) == 1 and len(parts[0]) == 1:   # "hour[s]"
                    return parts[0] + "?"
                return f"(?:{'|'.join(parts)})?" if parts else ""
            if len(parts) == 1 and parts[0].isalnum() or parts == [" "]:
                return parts[0]
            return f"(?:{'|'.join(parts)})"
        if isinstance(e, Permutation):   # rare in wildcard templates: every order as an alternative
            import itertools
            orders = [" ".join(self.compile(it, depth + 1, in_value) for it in p)
                      for p in itertools.permutations(e.items)]
            return f"(?:{'|'.join(sorted(set(orders)))})"
        if isinstance(e, Sequence):
            return "".join(self.compile(it, depth + 1, in_value) for it in e.items)
        if isinstance(e, RuleReference):
            return self.rule(e.rule_name, depth, in_value)
        if isinstance(e, ListReference):
            lst = self.lists.get(e.list_name)
            if isinstance(lst, WildcardSlotList):
                self.wild.add(e.slot_name)
                # free text: whole words, at least one letter or digit, as many as said
                return "{" + e.slot_name + "*}"
            capture = self.values is not None and not in_value
            if isinstance(lst, RangeSlotList):
                return "{" + e.slot_name + "@#}{#}{@}" if capture else "{#}"
            if isinstance(lst, TextSlotList) and lst.values:
                if len(lst.values) > SMALL_LIST:
                    return "{}"
                vals = sorted({self.compile(v.text_in, depth + 1, True) for v in lst.values} - {""},
                              key=lambda p: (-len(p), p))
                if capture and self.values is not None and re.fullmatch(r"\w+", e.list_name):
                    # by list, not slot: "medio" is 30 seconds of "medio minuto", 30 minutes of "media hora"
                    known = self.values.setdefault(e.list_name, {})
                    for v in lst.values:
                        said = self.compile(v.text_in, depth + 1, True)
                        if isinstance(v.value_out, (str, int, float)) and said:
                            known.setdefault(said, v.value_out)
                    return "{" + e.slot_name + "@" + e.list_name + "}" + f"(?:{'|'.join(vals)})" + "{@}"
                return f"(?:{'|'.join(vals)})"
            if e.slot_name in HOME_LISTS and not in_value:   # names the home fills: captured, resolved later
                return "{" + e.slot_name + "}"
            return "{}"
        raise ValueError(f"unexpected hassil expression {type(e).__name__}")


def _literal(text: str) -> str:
    """A template's words as a pattern over folded text: blanks (and punctuation) optional, so
    "what's" matches "whats" and "what s", and "{name}s Liste" matches "Einkaufsliste"."""
    out = []
    for ch in fold(text):
        out.append(ch if ch.isalnum() else " ")
    return re.sub(" +", " ", "".join(out))


def carriers(lang: str) -> tuple[dict[str, list[str]], dict[str, str], list[str]]:
    """({intent: patterns}, {rule: pattern}) of every template of `lang`'s intents with a FREE_SLOTS wildcard;
    the rules are those the patterns refer to as `<rule>`; the words, those every template of the language
    says itself (not a list's values): the words a wildcard's capture is trimmed of."""
    from edge.train.home import _Lang, templates

    L = _Lang(lang)
    out: dict[str, set[str]] = {}
    shared: dict[str, str] = {}
    wild_rules: dict[str, set[str]] = {}
    every: dict[str, set[str]] = {}
    words: set[str] = set()
    for t in templates(lang):
        c = _Compiler(t.rules, {**L.intents.slot_lists, **getattr(t, "lists", {})}, shared, wild_rules, words)
        pat = re.sub(" +", " ", c.compile(t.sentence.expression)).strip(" ")
        every.setdefault(t.intent, set()).add(pat)
        if c.wild & FREE_SLOTS:
            out.setdefault(t.intent, set())
    # every template of such an intent, not only its wildcard ones: "cancel the 5 minute timer" is
    # HassCancelTimer's duration template, not its "cancel the {name} timer" with the name "5 minute"
    for intent in out:
        out[intent] = every[intent]
    used: dict[str, str] = {}
    todo = [r for ps in out.values() for p in ps for r in RULE_REF.findall(p)]
    while todo:
        r = todo.pop()
        if r not in used:
            used[r] = shared[r]
            todo.extend(RULE_REF.findall(shared[r]))
    carriers = {i: sorted(p) for i, p in sorted(out.items())}
    for ps in carriers.values():
        for p in ps:   # a template this cannot compile is a bug here, not a run-time surprise
            compile_pattern(expand(p, used))
    return carriers, dict(sorted(used.items())), sorted(words)


def skip_words(lang: str) -> list[str]:
    """The words Home Assistant's matcher ignores in `lang` ("please", "bitte"), folded, longest first."""
    from edge.train.home import _Lang

    words = {fold(w).strip() for w in (_Lang(lang).intents.skip_words or [])}
    return sorted((w for w in words if w), key=lambda w: (-len(w), w))


def wildcards(langs: Iterable[str]) -> dict[str, Any]:
    """{lang: {"skip": words, "words": template words, "rules": {name: pattern}, "carriers": {intent:
    patterns}}}: the manifest's
    `home_schema.wildcards` once edge/home_wildcards.py's `encode` has packed it."""
    out: dict[str, Any] = {}
    for lang in langs:
        pats, rules, words = carriers(lang)
        out[lang] = {"skip": skip_words(lang), "words": words, "rules": rules, "carriers": pats}
    return out


def templates_table(lang: str, intents: Iterable[str] | None = None) -> dict[str, Any]:
    """`lang`'s templates of every intent (of `intents`, else all) that has no wildcard, for
    edge/home_templates.py: {"skip", "rules", "values": {slot: {value pattern: HA's value}}, "contexts":
    [{"requires", "excludes", "slots"}], "intents": {intent: [entry, ...]}} (edge/home_templates.py's `entry`).
    A pattern with a wildcard is the carriers' (`carriers`), not repeated here."""
    from edge.train.home import _Lang

    L = _Lang(lang)
    keep = None if intents is None else set(intents)
    shared: dict[str, str] = {}
    wild_rules: dict[str, set[str]] = {}
    values: dict[str, dict[str, Any]] = {}
    contexts: list[dict[str, Any]] = []
    out: dict[str, set[tuple[str, int]]] = {}
    for name, intent in L.intents.intents.items():
        if keep is not None and name not in keep:
            continue
        for block in intent.data:
            ctx = {"requires": _plain(block.requires_context), "excludes": _plain(block.excludes_context),
                   "slots": _plain(block.slots)}
            if ctx not in contexts:
                contexts.append(ctx)
            ci = contexts.index(ctx)
            rules = {**L.intents.expansion_rules, **block.expansion_rules}
            lists = {**L.intents.slot_lists, **(block.slot_lists or {})}
            for sent in block.sentences:
                c = _Compiler(rules, lists, shared, wild_rules, None, values)
                pat = re.sub(" +", " ", c.compile(sent.expression)).strip(" ")
                if c.wild or not pat:
                    continue
                out.setdefault(name, set()).add((pat, ci))
    used: dict[str, str] = {}
    todo = [r for ps in out.values() for p, _ in ps for r in RULE_REF.findall(p)]
    while todo:
        r = todo.pop()
        if r not in used:
            used[r] = shared[r]
            todo.extend(RULE_REF.findall(shared[r]))
    # one string per pattern ("context<TAB>needs<TAB>pattern", edge/home_templates.py's `entry`): a list of lists
    # per pattern held ~730 KB for English's 747 patterns once decoded, one string each ~200 KB
    table = {i: [entry(ci, required(p, used), p) for p, ci in sorted(ps)] for i, ps in sorted(out.items())}
    for ps in out.values():
        for p, _ in ps:   # a template this cannot compile is a bug here, not a run-time surprise
            compile_pattern(expand(p, used))
    vals = {slot: {k: v for k, v in sorted(m.items())} for slot, m in sorted(values.items())}
    return {"skip": skip_words(lang), "rules": dict(sorted(used.items())), "values": vals, "contexts": contexts,
            "intents": table}


def _plain(x: Any) -> dict[str, Any]:
    """A block's `slots` / `requires_context` / `excludes_context` as JSON: lists for tuples and sets."""
    if not isinstance(x, dict):
        return {}
    out: dict[str, Any] = {}
    for k, v in sorted(x.items()):
        out[str(k)] = sorted(v) if isinstance(v, (list, tuple, set)) else _plain(v) if isinstance(v, dict) else v
    return out


def main(argv: list[str] | None = None) -> int:
    """Write (or rewrite) a home package's `home_schema.wildcards` from the installed intents package."""
    import argparse
    import json
    from pathlib import Path

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--package", required=True, help="a home package folder (its manifest.json is rewritten)")
    args = p.parse_args(argv)
    path = Path(args.package) / "manifest.json"
    man = json.loads(path.read_text(encoding="utf-8"))
    langs = man.get("languages") or list(man.get("training", {}).get("home", {}).get("languages", {})) or ["en"]
    man.setdefault("home_schema", {})["wildcards"] = encode(wildcards(langs))
    labels = man.get("labels") or None
    man["home_schema"]["templates"] = encode_templates({lang: templates_table(lang, labels) for lang in langs})
    path.write_text(json.dumps(man, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
