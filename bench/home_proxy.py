"""Proxy of judge 1 (Home Assistant's own intent tests): in-template sentences, through Wyoming.

Home Assistant's intent tests are its maintainers' sentences, each one matched by the
package's templates, with a small home (their fixtures) as the names. We never read them.
This proxy makes a set of the same kind from what we may read:

- sentences sampled from ALL of the home-assistant-intents templates of the intents the
  model serves (the 15% the recipe holds out included: the judge's sentences come from
  every template), ~30 per intent, with a seed the training never uses (the recipe's is 13);
- `{name}` / `{area}` / `{floor}` filled from a names file of our own writing that looks
  like a real home (tests/data/home_fixture_names_<lang>.yaml), a `{name}` of a block that
  requires domains taking names of those domains; wildcards (timer names, items, search
  queries, messages) from small lists written here (`WILDCARDS`), not the training lists;
- the expected answer is Home Assistant's own matcher: hassil's `recognize_ranked` over the
  package's templates with that home's lists, ranked as Home Assistant's default agent ranks
  (`best_slot_name="name"`), its first result (this is the one place the labels follow HA's ranking: where
  a to-do list of the home is called what the shopping list's templates say, "Lista de la compra", the
  line is the named list's where a template frames it, "apunta X en Lista de la compra", and the shopping
  list's where none can, "pon X en mi lista de la compra"; hassil breaks a full tie on the intent's
  name, which edge refuses). Lines without one well-defined answer are left
  out and counted (`excluded`): Home Assistant's best reading is another intent; hassil finds
  no reading; a named thing that is not in the place the sentence says; a place with nothing
  of the kind there (Home Assistant would fail to act); a name glued to a word ("{area}s");
  a sentence already drawn (not counted as left out).

Every line is sent through the real Wyoming server as Home Assistant calls it, and scored by
bench/home_wyoming_eval.py's code (imported, not copied): intent, exact, wrong action, polarity
flips, names outside; and, of the wrong actions, how many would still act on exactly the things
Home Assistant's reading acts on (`targets`). Scores are given for all lines and, apart, for
lines whose template is in the recipe's holdout (edge.train.home.split_templates(..., 0.15,
seed 13)) and lines whose template was trained on: compare one column across models (a model
trained on all templates gains on the held-out one); the two columns' intent mixes differ.

    python bench/home_proxy.py                              # en, de, fr, es; models/home
    python bench/home_proxy.py --model /work/cand/X --languages en --json out.json
    python bench/home_proxy.py --failures /work/cand/reports   # + templates-<lang>.json of failures
    python bench/home_proxy.py --languages en --names tests/data/home_fixture_names_en2.yaml   # another home

Needs the train extra (hassil, home-assistant-intents).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
import importlib.util  # noqa: E402

_EVAL = Path(__file__).resolve().parent / "home_wyoming_eval.py"
_spec = importlib.util.spec_from_file_location("home_wyoming_eval", _EVAL)
hwe = importlib.util.module_from_spec(_spec)  # bench/ is no package: load the sibling by path
sys.modules["home_wyoming_eval"] = hwe
_spec.loader.exec_module(hwe)  # type: ignore[union-attr]

ROOT = hwe.ROOT
FIXTURES = ROOT / "tests" / "data" / "home_fixture_names_{lang}.yaml"
SEED = 2027                # the recipe samples with seed 13: a different stream
PER_INTENT = 30
RECIPE_SEED, RECIPE_HOLDOUT = 13, 0.15   # edge train --recipe home's template split

# Wildcard values, written for this proxy (not edge/train/home_lists.py's training values).
WILDCARDS: dict[str, dict[str, list[str]]] = {
    "en": {"timer_name": ["lasagna", "tea", "nap", "bread dough", "homework"],
           "search_query": ["miles davis", "the evening news", "rain sounds", "bohemian rhapsody",
                            "a podcast about history"],
           "shopping_list_item": ["oat milk", "dish soap", "tomatoes", "coffee filters", "rice"],
           "todo_list_item": ["clean the gutters", "return the library books", "fix the bike"],
           "message": ["the movie starts in ten minutes", "please feed the cat", "breakfast is ready"],
           "timer_command": ["turn off the desk lamp", "close the garage door"],
           "zone": ["the office"]},
    "de": {"timer_name": ["Lasagne", "Tee", "Mittagsschlaf", "Brotteig", "Hausaufgaben"],
           "search_query": ["Miles Davis", "die Nachrichten", "Regengeräusche", "Die Ärzte", "ein Hörbuch"],
           "shopping_list_item": ["Hafermilch", "Spülmittel", "Tomaten", "Kaffeefilter", "Reis"],
           "todo_list_item": ["Dachrinne reinigen", "Bücher zurückbringen", "Fahrrad reparieren"],
           "message": ["der Film fängt gleich an", "bitte die Katze füttern", "das Frühstück ist fertig"],
           "timer_command": ["schalte die Schreibtischlampe aus", "schließe das Garagentor"],
           "zone": ["das Büro"]},
    "fr": {"timer_name": ["lasagnes", "thé", "sieste", "pâte à pain", "devoirs"],
           "search_query": ["Miles Davis", "les informations", "bruit de pluie", "Édith Piaf", "un podcast"],
           "shopping_list_item": ["lait d'avoine", "liquide vaisselle", "tomates", "filtres à café", "riz"],
           "todo_list_item": ["nettoyer les gouttières", "rendre les livres", "réparer le vélo"],
           "message": ["le film commence dans dix minutes", "nourrissez le chat", "le petit déjeuner est prêt"],
           "timer_command": ["éteins la lampe de bureau", "ferme la porte du garage"],
           "zone": ["le bureau"]},
    "es": {"timer_name": ["lasaña", "té", "siesta", "masa de pan", "deberes"],
           "search_query": ["Miles Davis", "las noticias", "sonido de lluvia", "Rosalía", "un podcast de historia"],
           "shopping_list_item": ["leche de avena", "lavavajillas", "tomates", "filtros de café", "arroz"],
           "todo_list_item": ["limpiar los canalones", "devolver los libros", "arreglar la bici"],
           "message": ["la película empieza en diez minutos", "dad de comer al gato", "el desayuno está listo"],
           "timer_command": ["apaga la lámpara del escritorio", "cierra la puerta del garaje"],
           "zone": ["la oficina"]},
}
NO_PLACE_CHECK = hwe.TIMER_INTENTS | {"HassListAddItem", "HassListCompleteItem", "HassListRemoveItem",
                                      "HassShoppingListAddItem", "HassShoppingListCompleteItem", "HassBroadcast",
                                      "HassGetWeather", "HassGetCurrentDate", "HassGetCurrentTime",
                                      "HassNevermind", "HassRespond"}


PLACE_SLOTS = {"name", "area", "floor", "domain", "device_class"}


def _names(x: dict) -> list[str]:
    return [x["name"], *x.get("aliases", [])]


def check_unique(data: dict) -> None:
    """Every name and alias (case-folded) names one thing, area or floor: else a sentence saying it has
    no one expected answer. Stops with the words said twice."""
    seen: dict[str, str] = {}
    twice = []
    for kind in ("floors", "areas", "entities"):
        for x in data.get(kind, []):
            for n in _names(x):
                k = hwe._fold(n)
                if seen.setdefault(k, x["id"]) != x["id"]:
                    twice.append(f"{n!r} ({seen[k]}, {x['id']})")
    if twice:
        raise SystemExit("names file: said of two things: " + ", ".join(twice))


def home_lists(data: dict) -> dict[str, Any]:
    """hassil slot lists of a names file as Home Assistant's default agent builds them: every name and
    alias of a thing -> its name, with its domain (and device class) as context; areas and floors
    likewise (the reply must carry the exact names, so an alias reads as its name)."""
    from hassil.intents import TextSlotList

    def ctx(e: dict) -> dict:
        out = {"domain": e["id"].split(".")[0]}
        dc = (e.get("attributes") or {}).get("device_class")
        if dc:
            out["device_class"] = dc
        return out

    return {"name": TextSlotList.from_tuples([(n, e["name"], ctx(e)) for e in data["entities"] for n in _names(e)]),
            "area": TextSlotList.from_tuples([(n, a["name"]) for a in data.get("areas", []) for n in _names(a)]),
            "floor": TextSlotList.from_tuples([(n, f["name"]) for f in data.get("floors", []) for n in _names(f)])}


def _floor_of(home: Any, e: dict) -> str | None:
    fid = e.get("floor") or (home.areas.get(e.get("area")) or {}).get("floor")
    return (home.floors.get(fid) or {}).get("name")


def _area_of(home: Any, e: dict) -> str | None:
    return (home.areas.get(e.get("area")) or {}).get("name")


def _domains(t: Any, intent: str, said: dict) -> tuple[str, ...]:
    d = said.get("domain") or t.fixed.get("domain")
    if isinstance(d, str):
        return (d,)
    return tuple(t.domains) or ((hwe.INTENT_DOMAINS[intent],) if intent in hwe.INTENT_DOMAINS else ())


def targets(home: Any, slots: dict, domains: tuple[str, ...] = ()) -> frozenset[str]:
    """The entity ids a reply with these slots acts on in `home`: the named thing, else every thing of
    the domain(s) / device class in the place said (anywhere if none is said)."""
    if "name" in slots:
        return frozenset(x["id"] for x in home.entities if x["name"] == slots["name"])
    doms = (slots["domain"],) if isinstance(slots.get("domain"), str) else domains
    return frozenset(x["id"] for x in home.entities
                     if ("area" not in slots or _area_of(home, x) == slots["area"])
                     and ("floor" not in slots or _floor_of(home, x) == slots["floor"])
                     and (not doms or x["id"].split(".")[0] in doms)
                     and ("device_class" not in slots
                          or (x.get("attributes") or {}).get("device_class") == slots["device_class"]))


def judge_line(text: str, t: Any, intents: Any, lists: dict, home: Any, lang: str
               ) -> tuple[hwe.Expected | None, str]:
    """(expected answer, "") or (None, why the line has no one well-defined answer)."""
    from hassil.recognize import recognize_ranked

    ranked = recognize_ranked(text, intents, slot_lists=lists, language=lang, best_slot_name="name")
    if not ranked:
        return None, "no_match"
    best = ranked[0]
    if best.intent.name != t.intent:
        return None, "other_intent"
    said = {k: (v.value.strip() if isinstance(v.value, str) else v.value) for k, v in best.entities.items()}
    intent = t.intent
    e = None
    if "name" in said and intent not in hwe.TIMER_INTENTS and not best.entities["name"].is_wildcard:
        e = next((x for x in home.entities if x["name"] == said["name"]), None)
        if e is None:
            return None, "no_match"
        if ("area" in said and _area_of(home, e) != said["area"]) or \
                ("floor" in said and _floor_of(home, e) != said["floor"]):
            return None, "other_place"
    elif intent not in NO_PLACE_CHECK and not targets(home, said, _domains(t, intent, said)):
        return None, "nothing_there"   # Home Assistant would find nothing to act on (a person: none here)
    return hwe.hassil_expected(intent, dict(said), home, e), ""


def _sentence(t: Any, L: Any, rng: random.Random, pool: list[str]) -> str | None:
    """One sentence of template `t`, walked as edge.train.home.sample walks it; None where a name, area or
    floor is glued to a word ("{area}s", "{floor}geschoss"): with this home's names that gives "des
    Küches" or "erster StockGeschoss", which no maintainer writes, and the training sampler's parted
    form ("Küche s") no one says either, so such lines are left out (counted as `glued`)."""
    from edge.train.home import _walk

    pieces: list[tuple[str, str | None]] = []
    _walk(t.sentence.expression, t.rules, {**L.intents.slot_lists, **getattr(t, "lists", {})}, L, rng, pieces,
          None, 0, pool or None)
    pieces = [(p, n) for p, n in pieces if p]
    for (a, na), (b, nb) in zip(pieces, pieces[1:]):
        if na != nb and {na, nb} & {"name", "area", "floor"} and a[-1:].isalnum() and b[:1].isalnum():
            return None
    return _WS.sub(" ", "".join(p for p, _ in pieces)).strip()


_WS = re.compile(r"\s+")
excluded_examples: dict[str, dict[str, list[str]]] = {}   # per language, by template_set


def template_set(lang: str, names_path: Path, served: set[str], per_intent: int = PER_INTENT,
                 seed: int = SEED) -> tuple[list[tuple[str, str, hwe.Expected, str, bool]], dict[str, int]]:
    """(lines, excluded counts): each line (text, intent, expected, template id, template held out by
    the recipe). Per served intent, its templates in a seeded order, round robin, one sentence each,
    until `per_intent` lines have a well-defined answer (or 8x as many were tried)."""
    import yaml
    from hassil.intents import Intents
    from home_assistant_intents import get_intents

    from edge.train.home import _Lang, split_templates, templates

    data = yaml.safe_load(Path(names_path).read_text(encoding="utf-8"))
    check_unique(data)
    home = hwe.Home(data=data)
    lists = home_lists(data)
    intents = Intents.from_dict(get_intents(lang))
    ts = templates(lang)
    _, held = split_templates(ts, RECIPE_HOLDOUT, RECIPE_SEED)
    L = _Lang(lang)
    by_domain: dict[str, list[str]] = {}
    for e in data["entities"]:
        by_domain.setdefault(e["id"].split(".")[0], []).extend(_names(e))
    base = {**L.fill, **WILDCARDS.get(lang, WILDCARDS["en"]),
            "area": [n for a in data.get("areas", []) for n in _names(a)],
            "floor": [n for f in data.get("floors", []) for n in _names(f)],
            "name": [n for e in data["entities"] for n in _names(e)]}
    L.domain_names = by_domain
    out: list[tuple[str, str, hwe.Expected, str, bool]] = []
    excluded: dict[str, int] = {}
    examples: dict[str, list[str]] = {}   # a few left-out lines per reason, to check the reasons
    for intent in sorted(served):
        rng = random.Random(f"proxy/{seed}/{lang}/{intent}")   # per intent: a subset (--intents) draws the same lines
        mine = [t for t in ts if t.intent == intent]
        seen: set[str] = set()   # a sentence of two intents is left out anyway (Home Assistant's reading is one)
        rng.shuffle(mine)
        kept = tries = 0
        while mine and kept < per_intent and tries < 8 * per_intent:
            t = mine[tries % len(mine)]
            tries += 1
            pool = [n for d in t.domains for n in by_domain.get(d, [])]
            L.fill = {**base, "name": pool or base["name"]}  # a block's {name}: things of its domains
            text = _sentence(t, L, rng, pool)
            if text is None:
                excluded["glued"] = excluded.get("glued", 0) + 1
                continue
            if not text or text.casefold() in seen:
                excluded["duplicate"] = excluded.get("duplicate", 0) + 1
                continue
            seen.add(text.casefold())
            exp, why = judge_line(text, t, intents, lists, home, lang)
            if exp is None:
                excluded[why] = excluded.get(why, 0) + 1
                examples.setdefault(why, [])
                if len(examples[why]) < 5:
                    examples[why].append(f"{t.id}: {text}")
                continue
            out.append((text, intent, exp, t.id, t.id in held))
            kept += 1
    excluded_examples[lang] = examples
    return out, excluded


def _sub(rows: list[dict]) -> dict:
    """Scores of some rows (the latency is the whole run's: not per subset)."""
    s = hwe._score(rows, [0.0])
    for k in ("p50_ms", "p95_ms", "rows"):
        s.pop(k)
    return s


async def evaluate(languages: list[str], model_dir: Path, per_intent: int = PER_INTENT, seed: int = SEED,
                   only: set[str] | None = None, names_pattern: str = str(FIXTURES)) -> dict:
    """Load the model once; per language, the in-template set through Wyoming with its fixture home."""
    from edge import names
    from edge.home import HomeRecognizer
    from edge.model import Model
    from edge.slots import SlotExtractor

    model = Model.load(model_dir)
    slots = SlotExtractor.load(model.path, model.manifest)
    served = set(model.manifest["labels"]) - {"oos"}
    if only:
        served &= only
    report: dict[str, Any] = {"model": str(model_dir), "version": model.manifest.get("version"),
                              "seed": seed, "per_intent": per_intent, "dev_set": "templates", "languages": {}}
    for lang in languages:
        path = Path(names_pattern.format(lang=lang))
        lines, excluded = template_set(lang, path, served, per_intent, seed)
        home = hwe.Home(path)
        rec = HomeRecognizer(model, slots, names.load(path))
        got = await hwe._run(rec, lang, [(t, i, e) for t, i, e, _, _ in lines], home)
        for row, (_, intent, exp, tid, held) in zip(got["rows"], lines):
            row["template"], row["held_out"] = tid, held
            if row["wrong_action"] and row["intent"] == intent and intent not in NO_PLACE_CHECK:
                # wrong slots, but would it act on the same things? (name vs area + class of one thing)
                doms = (hwe.INTENT_DOMAINS[intent],) if intent in hwe.INTENT_DOMAINS else ()
                same = targets(home, exp.required, doms) == targets(home, row["entities"] or {}, doms)
                rest = {k: v for k, v in exp.required.items() if k not in PLACE_SLOTS} == \
                    {k: v for k, v in (row["entities"] or {}).items() if k not in PLACE_SLOTS}
                row["same_targets"] = same and rest
        got["same_targets_n"] = sum(bool(r.get("same_targets")) for r in got["rows"])
        got["excluded"] = excluded
        got["excluded_examples"] = excluded_examples.get(lang, {})
        got["held_out"] = _sub([r for r in got["rows"] if r["held_out"]])
        got["trained"] = _sub([r for r in got["rows"] if not r["held_out"]])
        report["languages"][lang] = got
    return report


def table(report: dict) -> str:
    head = ("| language | lines (held-out templates) | intent: all / held-out / trained | exact: all / held-out / "
            "trained | wrong action (lines): all / held-out / trained | of the wrong: same things acted on | "
            "polarity flips | names outside | left out | p50 / p95 |")
    out = [head, "|" + "---|" * 10]
    pc = hwe._pc
    for lang, s in report["languages"].items():
        h, tr = s["held_out"], s["trained"]
        out.append(f"| {lang} | {s['in_scope']} ({h['in_scope']}) | {pc(s['intent'])} / {pc(h['intent'])} / "
                   f"{pc(tr['intent'])} | {pc(s['exact'])} / {pc(h['exact'])} / {pc(tr['exact'])} | "
                   f"{pc(s['wrong_action'])} ({s['wrong_action_n']}) / {pc(h['wrong_action'])} "
                   f"({h['wrong_action_n']}) / {pc(tr['wrong_action'])} ({tr['wrong_action_n']}) | "
                   f"{s['same_targets_n']} | {s['polarity_flips']} of {s['polarity_items']} | {s['names_outside']} | "
                   f"{sum(v for k, v in s['excluded'].items() if k != 'duplicate')} | "
                   f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f} ms |")
    return "\n".join(out)


def per_intent(report: dict, lang: str) -> str:
    """intent / exact / wrong per intent for one language: where the misses are."""
    by: dict[str, list[dict]] = {}
    for r in report["languages"][lang]["rows"]:
        by.setdefault(r["gold"], []).append(r)
    out = [f"| {lang} intent | lines | intent | exact | wrong | refused |", "|---|---|---|---|---|---|"]
    for k in sorted(by, key=lambda k: sum(r["intent_ok"] for r in by[k]) / len(by[k])):
        rs = by[k]
        out.append(f"| {k} | {len(rs)} | {sum(r['intent_ok'] for r in rs)} | {sum(r['exact'] for r in rs)} | "
                   f"{sum(r['wrong_action'] for r in rs)} | {sum(r['intent'] is None for r in rs)} |")
    return "\n".join(out)


def failures(report: dict, lang: str) -> list[dict]:
    """Every wrong-action and refused line of a language, with the reply and the refusal's reason."""
    keep = ("text", "gold", "template", "held_out", "expected", "reply", "intent", "entities", "reason",
            "detail", "model_intent", "confidence", "wrong_action", "same_targets", "flip")
    return [{k: r[k] for k in keep if k in r} for r in report["languages"][lang]["rows"]
            if r["wrong_action"] or r["intent"] is None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--languages", default=",".join(hwe.LANGUAGES))
    p.add_argument("--model", default=str(hwe.MODEL))
    p.add_argument("--per-intent", type=int, default=PER_INTENT)
    p.add_argument("--names", default=str(FIXTURES),
                   help="the home, a path with {lang} for the language (default: our fixture homes)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--json", help="write the report (with every line's reply) here")
    p.add_argument("--failures", help="write templates-<lang>.json (wrong and refused lines) into this folder")
    p.add_argument("--by-intent", action="store_true", help="also a table per intent and language")
    p.add_argument("--intents", help="only these served intents (comma-separated): a quick look at a few")
    args = p.parse_args(argv)
    only = set(args.intents.split(",")) if args.intents else None
    report = asyncio.run(evaluate(args.languages.split(","), Path(args.model), args.per_intent, args.seed, only,
                                  args.names))
    print(f"in-template proxy, model {args.model} ({report['version']}), seed {args.seed}, "
          f"{args.per_intent} per intent, names {args.names}")
    print(table(report))
    print("left out (no one well-defined answer): "
          + "; ".join(f"{k}: {v['excluded']}" for k, v in report["languages"].items()))
    print("\nrefused lines by reason (edge.home.NotUnderstood.reason)")
    print(hwe.refusals(report))
    if args.by_intent:
        for lang in report["languages"]:
            print("\n" + per_intent(report, lang))
    if args.failures:
        d = Path(args.failures)
        d.mkdir(parents=True, exist_ok=True)
        for lang in report["languages"]:
            # another home than ours (--names) gets its own file: templates-<the file's tail>.json
            tag = lang if args.names == str(FIXTURES) else \
                Path(args.names.format(lang=lang)).stem.replace("home_fixture_names_", "")
            (d / f"templates-{tag}.json").write_text(
                json.dumps(failures(report, lang), indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
