"""What slots each Home Assistant intent takes, read from its templates: the package's `home_schema`.

A reply is an action, so an intent answered with a set of slots none of Home Assistant's
templates gives it is no ground to act: HassSetVolume without a volume ("pon el volumen"),
HassLightSet with neither brightness, colour nor colour temperature ("allume le
lampadaire" read as a light setting), HassStartTimer with no duration, HassTurnOn with a
brightness. For every intent this records

- ``signatures``: the sets of *value* slots (anything but the target slots name, area,
  floor, domain, device_class) its training sentences carry, as sorted lists;
- ``place_domains``: the domain every template of an intent fixes when a place and no
  thing is said (HassLightSet: `light`);
- ``unit_words``: the words that follow a duration's number (hour/Stunden/heures/horas ...),
  so a number tagged as minutes but followed by "hour" is refused;
- ``ranges``: for each number slot, the range of Home Assistant's range lists the
  intent's templates use (HassLightSet's ``temperature`` is a colour temperature,
  1000..10000 K: "80 percent" tagged as it is refused, not sent).

edge/names_schema.py checks a reply against it at run time; the recipe writes it into
the manifest (``home_schema``), so the daemon needs neither hassil nor the intents package.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from edge.markup import parse

TARGET_SLOTS = frozenset({"name", "area", "floor", "domain", "device_class"})


def signatures(rows_by_lang: Mapping[str, Iterable[tuple[str, str, str]]]) -> dict[str, list[list[str]]]:
    """{intent: sorted list of the value-slot sets its (marked text, intent, template id) rows carry}, the
    template's fixed slots counted (HassSetVolumeRelative's "turn it up" fixes `volume_step: up`: a
    reply without one is none of Home Assistant's sentences)."""
    from edge.train.home import templates

    out: dict[str, set[tuple[str, ...]]] = {}
    for lang, rows in rows_by_lang.items():
        fixed = {t.id: set(t.fixed) for t in templates(lang)}
        for marked, intent, tid in rows:
            _, spans = parse(marked)
            got = ({s.name for s in spans} | fixed.get(tid, set())) - TARGET_SLOTS
            out.setdefault(intent, set()).add(tuple(sorted(got)))
    return {i: [list(s) for s in sorted(sigs)] for i, sigs in sorted(out.items())}


def place_domains(rows_by_lang: Mapping[str, Iterable[tuple[str, str, str]]]) -> dict[str, str]:
    """{intent: domain} where every sentence of the intent that names a place and no thing has its
    template fix that one domain ("set the kitchen lights to 50%": HassLightSet, `domain: light`).
    Such a reply gets the domain, as Home Assistant's matcher gives it."""
    from edge.train.home import templates

    seen: dict[str, set[Any]] = {}
    for lang, rows in rows_by_lang.items():
        fixed = {t.id: t.fixed for t in templates(lang)}
        for marked, intent, tid in rows:
            names = {s.name for s in parse(marked)[1]}
            if names & {"area", "floor"} and not names & {"name", "device_class"}:
                d = fixed.get(tid, {}).get("domain")
                seen.setdefault(intent, set()).add(d if isinstance(d, str) else None)
    return {i: next(iter(d)) for i, d in sorted(seen.items()) if len(d) == 1 and None not in d}


def ranges(langs: Iterable[str]) -> dict[str, dict[str, list[float]]]:
    """{intent: {slot: [lo, hi]}} over the range lists each intent's templates refer to, in any of
    `langs` (the union: a language's template may allow what another's does not)."""
    from hassil.expression import Alternative, ListReference, Permutation, RuleReference, Sequence
    from hassil.intents import RangeSlotList

    from edge.train.home import MAX_DEPTH, _Lang, templates

    out: dict[str, dict[str, list[float]]] = {}

    def walk(e: Any, rules: dict, lists: dict, intent: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(e, (Alternative, Permutation, Sequence)):
            for it in e.items:
                walk(it, rules, lists, intent, depth + 1)
        elif isinstance(e, RuleReference) and e.rule_name in rules:
            walk(rules[e.rule_name].expression, rules, lists, intent, depth + 1)
        elif isinstance(e, ListReference) and isinstance(lists.get(e.list_name), RangeSlotList):
            lst = lists[e.list_name]
            r = out.setdefault(intent, {}).setdefault(e.slot_name, [lst.start, lst.stop])
            r[0], r[1] = min(r[0], lst.start), max(r[1], lst.stop)

    for lang in langs:
        L = _Lang(lang)
        for t in templates(lang):
            walk(t.sentence.expression, t.rules, {**L.intents.slot_lists, **getattr(t, "lists", {})}, t.intent, 0)
    return out


UNIT_SLOTS = ("hours", "minutes", "seconds")   # and their start_* twins (the same unit words)


def unit_words(rows_by_lang: Mapping[str, Iterable[tuple[str, str, str]]]) -> dict[str, dict[str, list[str]]]:
    """{lang: {unit: words}}: the words that follow a duration's number in the training sentences
    ("hour", "hours", "h" for hours), those in at least POLAR_MIN_SHARE of that unit's spans."""
    from edge.names_schema import first_word, unit_base

    out: dict[str, dict[str, list[str]]] = {}
    for lang, rows in rows_by_lang.items():
        counts: dict[str, dict[str, int]] = {u: {} for u in UNIT_SLOTS}
        n = {u: 0 for u in UNIT_SLOTS}
        for marked, _, _ in rows:
            text, spans = parse(marked)
            for sp in spans:
                u = unit_base(sp.name)
                if u in counts:
                    n[u] += 1
                    w = first_word(text[sp.end:])
                    if w is not None:
                        counts[u][w] = counts[u].get(w, 0) + 1
        out[lang] = {u: sorted(w for w, c in counts[u].items() if c >= POLAR_MIN_SHARE * n[u])
                     for u in UNIT_SLOTS if n[u]}
    return out


POLAR_DOMAINS = ("lock",)   # domains whose on/off words are not a light's: "open" a lock = unlock
POLAR_SAMPLES = 60          # sentences sampled per template for the word lists
POLAR_MIN_SHARE = 0.02      # a word in fewer of one side's sentences than this is noise, not evidence


def polarity_words(langs: Iterable[str], seed: int = 13) -> dict[str, dict[str, dict[str, list[str]]]]:
    """{lang: {domain: {"HassTurnOn": words, "HassTurnOff": words}}}: the words (outside the slots) of
    HA's on/off templates for a lock that one side's sentences use and the other's never do
    ("ab", "zuschliessen", "verriegeln" / "aufschliessen", "entriegeln", "offnen")."""
    import random

    from edge.names_schema import words
    from edge.train.home import _Lang, sample, templates

    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for lang in langs:
        L, rng = _Lang(lang), random.Random(f"{seed}/{lang}/polarity")
        for domain in POLAR_DOMAINS:
            counts: dict[str, dict[str, int]] = {"HassTurnOn": {}, "HassTurnOff": {}}
            n = {"HassTurnOn": 0, "HassTurnOff": 0}
            for t in templates(lang):
                if t.intent not in counts or domain not in (*t.domains, t.fixed.get("domain")):
                    continue
                for _ in range(POLAR_SAMPLES):
                    text, spans = sample(t, L, rng)
                    for a, b, *_ in sorted(spans, key=lambda sp: -sp[0]):
                        text = text[:a] + " " + text[b:]
                    n[t.intent] += 1
                    for w in words(text):
                        counts[t.intent][w] = counts[t.intent].get(w, 0) + 1
            if not all(n.values()):
                continue
            on, off = counts["HassTurnOn"], counts["HassTurnOff"]
            out.setdefault(lang, {})[domain] = {
                "HassTurnOn": sorted(w for w, c in on.items() if w not in off and c >= POLAR_MIN_SHARE * n["HassTurnOn"]),
                "HassTurnOff": sorted(w for w, c in off.items() if w not in on and c >= POLAR_MIN_SHARE * n["HassTurnOff"])}
    return out


def schema(rows_by_lang: Mapping[str, list[tuple[str, str, str]]]) -> dict[str, Any]:
    """The manifest's `home_schema`: {"signatures": ..., "ranges": ..., "place_domains": ...} from each
    language's training rows (marked text, intent, template id)."""
    return {"signatures": signatures(rows_by_lang), "ranges": ranges(list(rows_by_lang)),
            "place_domains": place_domains(rows_by_lang), "polarity_words": polarity_words(list(rows_by_lang)),
            "unit_words": unit_words(rows_by_lang)}


def main(argv: list[str] | None = None) -> int:
    """Write (or rewrite) a home package's `home_schema` from the data its recipe sampled: the
    manifest's languages, per-intent count and seed, so the same sentences as its training."""
    import argparse
    import json
    from pathlib import Path

    from edge.train.home import generate

    p = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    p.add_argument("--package", required=True, help="a home package folder (its manifest.json is rewritten)")
    p.add_argument("--seed", type=int, default=None, help="default: the manifest's training seed, else 13")
    args = p.parse_args(argv)
    path = Path(args.package) / "manifest.json"
    man = json.loads(path.read_text(encoding="utf-8"))
    train = man.get("training", {})
    info = train.get("home", {})
    seed = args.seed if args.seed is not None else int(train.get("seed", 13))
    langs = man.get("languages") or list(info.get("languages", {}))
    by_lang = {lang: generate(lang, int(info.get("per_intent", 200)), seed, float(info.get("holdout", 0.15)))["train"]
               for lang in langs}
    man["home_schema"] = schema(by_lang)
    path.write_text(json.dumps(man, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
