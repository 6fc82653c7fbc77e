"""The home model through Wyoming on a paraphrase dev set: the safety property that matters most.

bench/home_wyoming_eval.py runs as a real process: it serves models/home with the dev names file
(tests/data/home_dev_names.yaml) on the real Wyoming server and sends every dev line as Home
Assistant does. Whatever the accuracy (not asserted: the model does not reach issue 22's targets
on paraphrases), no reply may name anything outside the names file, and on/off, open/close,
lock/unlock must never come out reversed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "tests" / "data" / "home_dev_names.yaml"
OPPOSITE = {"HassTurnOn": "HassTurnOff", "HassTurnOff": "HassTurnOn", "HassMediaPause": "HassMediaUnpause",
            "HassMediaUnpause": "HassMediaPause", "HassPauseTimer": "HassUnpauseTimer",
            "HassUnpauseTimer": "HassPauseTimer", "HassVacuumStart": "HassVacuumReturnToBase",
            "HassVacuumReturnToBase": "HassVacuumStart"}
TIMERS = {"HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassIncreaseTimer", "HassDecreaseTimer",
          "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus"}


def _run_eval(tmp_path: Path, language: str) -> dict:
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "home_wyoming_eval.py"), "--languages", language,
                           "--json", str(out), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text(encoding="utf-8"))["languages"][language]


def _exact_names() -> dict[str, set[str]]:
    data = yaml.safe_load(NAMES.read_text(encoding="utf-8"))
    return {"name": {e["name"] for e in data["entities"]}, "area": {a["name"] for a in data["areas"]},
            "floor": {f["name"] for f in data["floors"]}}


def _dev_lines(language: str) -> int:
    text = (ROOT / "tests" / "data" / f"home_dev_{language}.txt").read_text(encoding="utf-8")
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


@pytest.mark.slow
def test_english_dev_set_through_wyoming_names_nothing_outside_and_never_flips(tmp_path: Path) -> None:
    got = _run_eval(tmp_path, "en")
    rows = got["rows"]
    # every dev line was sent and answered through the server (no line skipped, no crash)
    assert len(rows) == _dev_lines("en") == got["in_scope"] + got["oos"]
    intents = [r for r in rows if r["reply"] == "Intent"]
    assert intents, "no intent came back at all: the server or the model is not answering"
    assert all(r["reply"] in ("Intent", "NotRecognized") for r in rows), {r["reply"] for r in rows}

    # checked here from the replies themselves, not from the script's own counts
    exact = _exact_names()
    outside = [(r["text"], k, v) for r in intents for k, v in r["entities"].items()
               if k in exact and not (k == "name" and r["intent"] in TIMERS) and v not in exact[k]]
    assert outside == []
    assert got["names_outside"] == 0
    flips = [(r["text"], r["intent"]) for r in intents if OPPOSITE.get(r["gold"]) == r["intent"]]
    assert flips == []
    assert got["polarity_flips"] == 0 and got["polarity_items"] > 20


def test_the_scorer_counts_a_name_outside_the_file_and_a_flip() -> None:
    """The script's own counts would catch a violation (so the eval's zeros mean something)."""
    sys.path.insert(0, str(ROOT))
    try:
        from bench.home_wyoming_eval import Home, _score, entities_ok, expected
        from edge.markup import parse
    finally:
        sys.path.remove(str(ROOT))
    home = Home(NAMES)
    text, spans = parse("turn off the [desk lamp](name)")
    exp = expected("HassTurnOff", spans, home)
    assert exp.required == {"name": "Desk Lamp"}
    assert entities_ok(exp, {"name": "Desk Lamp", "domain": "light", "area": "Office"})
    assert not entities_ok(exp, {"name": "Desk Lamp", "area": "Kitchen"})  # not where that lamp is
    assert not entities_ok(exp, {"name": "desk lamp"})  # an alias or other spelling: HA matches exact names
    _, spans = parse("lights off in the [hallway](area)")
    assert expected("HassTurnOff", spans, home).required == {"area": "Hallway", "domain": "light"}
    assert not entities_ok(expected("HassTurnOff", spans, home), {"area": "Hallway"})  # the whole hallway
    row = {"text": text, "gold": "HassTurnOff", "reply": "Intent", "intent": "HassTurnOn",
           "entities": {"name": "Garden Shed"}, "intent_ok": False, "exact": False, "wrong_action": True,
           "polar": True, "flip": True, "outside": ["name='Garden Shed'"]}
    s = _score([row], [1.0])
    assert (s["polarity_flips"], s["names_outside"], s["wrong_action_n"]) == (1, 1, 1)


# The most wrong actions per dev set the shipped package may make through Wyoming (docs/model-card-home.md).
# home@1.2.0 makes 2 / 0 / 2 / 1 lines; the two English ones name the very thing the sentence says
# ("change the thermostat to 68" -> name Thermostat) where the set's markup has no name: counted as wrong.
WRONG_LINES_AT_MOST = {"en": 2, "de": 1, "fr": 2, "es": 2}
HA_VALUES = {"color": {"white", "black", "red", "orange", "yellow", "green", "blue", "purple", "brown", "pink",
                       "turquoise"},
             "state": {"on", "off", "open", "closed", "opening", "closing", "locked", "unlocked"}}


@pytest.mark.slow
def test_every_language_through_wyoming_few_wrong_actions_and_home_assistants_values(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "home_wyoming_eval.py"), "--json", str(out),
                           "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))["languages"]
    for lang, most in WRONG_LINES_AT_MOST.items():
        got = report[lang]
        wrong = [(r["text"], r["intent"], r["entities"]) for r in got["rows"] if r.get("wrong_action")]
        assert len(wrong) <= most, (lang, wrong)
        assert got["polarity_flips"] == 0 and got["names_outside"] == 0, lang
        # colours and states go out as Home Assistant's values, never as the words said ("rot", "cerrada")
        said = [(r["text"], k, v) for r in got["rows"] if r["reply"] == "Intent"
                for k, v in (r["entities"] or {}).items() if k in HA_VALUES and v not in HA_VALUES[k]]
        assert said == [], said
        assert got["recognized"] >= 0.4, (lang, got["recognized"])   # refusing everything is no answer


@pytest.mark.parametrize("dev_set", ["dev3", "dev3check"])
def test_the_third_sets_have_one_answer_per_line_in_the_proxys_homes(dev_set: str) -> None:
    """Every span of tests/data/home_dev3*_<lang>.txt names one thing, area or floor of that language's proxy home
    (the script stops otherwise), every number and word has its gold value, and both halves keep other requests."""
    sys.path.insert(0, str(ROOT))
    try:
        from bench.home_wyoming_eval import FIXTURE_NAMES, LANGUAGES, Home, expected, load_lines
    finally:
        sys.path.remove(str(ROOT))
    for lang in LANGUAGES:
        home = Home(Path(str(FIXTURE_NAMES).format(lang=lang)))
        rows = load_lines(lang, dev_set)
        golds = [expected(i, s, home) for _, i, s in rows if i != "oos"]
        assert len(golds) >= 20 and sum(i == "oos" for _, i, _ in rows) >= 7, (lang, dev_set)
        assert all(g.intent.startswith("Hass") for g in golds)


def _eval_module():
    sys.path.insert(0, str(ROOT))
    try:
        import bench.home_wyoming_eval as ev
    finally:
        sys.path.remove(str(ROOT))
    return ev


def _names_file(ev, dev_set: str, lang: str) -> Path:
    """The names file a set's spans resolve against: the multilingual dev names for dev/dev2, else the proxy's."""
    return ev.NAMES if dev_set in ("dev", "dev2") else Path(str(ev.FIXTURE_NAMES).format(lang=lang))


# Slots whose gold value the script derives (a name/area/floor from the names file, a number or word from its
# tables, free text as said): any other slot name in a set would be compared as a raw string, a label error.
DERIVED = {"name", "area", "floor", "device_class", "color", "state", "item", "search_query", "volume_step"}


@pytest.mark.parametrize("dev_set", ["dev", "dev2", "dev3", "dev3check", "chat", "chatcheck", "dev4", "chat4"])
def test_every_line_of_every_set_has_one_expected_answer_without_the_model(dev_set: str) -> None:
    """Every line parses, every in-scope line's gold answer derives (each span names exactly one thing, area or
    floor of its names file, every number/colour/state/class word is in the gold tables), every intent is one the
    home model knows, and `oos` lines carry no slots. Reads the sets and the script's own functions only."""
    ev = _eval_module()
    assert dev_set in ev.SETS
    labels = set(json.loads((ROOT / "models" / "home" / "manifest.json").read_text(encoding="utf-8"))["labels"])
    for lang in ev.LANGUAGES:
        home = ev.Home(_names_file(ev, dev_set, lang))
        rows = ev.load_lines(lang, dev_set)
        assert rows, (dev_set, lang)
        for text, intent, spans in rows:
            if intent == "oos":
                assert spans == [], (lang, text)
                continue
            assert intent in labels, (lang, text, intent)
            assert {s.name for s in spans} <= DERIVED | ev.NUMBER_SLOTS, (lang, text)
            exp = ev.expected(intent, spans, home)   # SystemExit / KeyError / ValueError: no single answer
            for k in ("name", "area", "floor"):
                if k in exp.required and not (k == "name" and intent in ev.TIMER_INTENTS):
                    assert exp.required[k] in home.exact[k], (lang, text, k)
            for k in ev.NUMBER_SLOTS & exp.required.keys():
                assert isinstance(exp.required[k], float), (lang, text, k)


FRESH = ("dev4", "chat4")
# (in-scope, oos) lines each fresh set must keep at least (sets4's brief: en ~120 + ~60, others ~35 + ~20 for dev4;
# en ~30 + ~150, others ~10 + ~40 for chat4)
FRESH_SIZES = {("dev4", "en"): (120, 60), ("chat4", "en"): (30, 150)}
FRESH_SIZES_OTHER = {"dev4": (35, 20), "chat4": (10, 40)}


@pytest.mark.parametrize("dev_set", FRESH)
def test_the_fresh_check_sets_are_new_lines_marked_untuned_and_big_enough(dev_set: str) -> None:
    """dev4 / chat4 are blind checks: said so in each file's header, no line shared with a set tuned on or
    checked before (nor twice within them), and about the sizes the brief asked for in every language."""
    ev = _eval_module()
    data = ROOT / "tests" / "data"

    def key(text: str) -> str:
        return " ".join(text.casefold().split())

    older = {key(t) for s in ev.SETS if s not in FRESH for lang in ev.LANGUAGES for t, _, _ in ev.load_lines(lang, s)}
    for lang in ev.LANGUAGES:
        path = data / f"home_{dev_set}_{lang}.txt"
        head = path.read_text(encoding="utf-8").split("\n## ", 1)[0]
        assert "NOT TUNED ON" in head and "never run through the model" in head, path
        rows = ev.load_lines(lang, dev_set)
        texts = [key(t) for t, _, _ in rows]
        assert not set(texts) & older, sorted(set(texts) & older)
        assert len(texts) == len(set(texts)), lang
        other = {key(t) for t, _, _ in ev.load_lines(lang, next(s for s in FRESH if s != dev_set))}
        assert not set(texts) & other, sorted(set(texts) & other)   # a line in both would count twice
        n_in = sum(i != "oos" for _, i, _ in rows)
        want_in, want_oos = FRESH_SIZES.get((dev_set, lang), FRESH_SIZES_OTHER[dev_set])
        assert n_in >= want_in and len(rows) - n_in >= want_oos, (lang, n_in, len(rows) - n_in)


def test_a_fresh_set_with_an_unknown_name_or_word_has_no_expected_answer() -> None:
    """The check above can fail: a span naming nothing in the home, or a colour outside the gold table, stops."""
    ev = _eval_module()
    from edge.markup import parse

    home = ev.Home(_names_file(ev, "dev4", "en"))
    _, spans = parse("turn on the [attic fan](name)")
    with pytest.raises(SystemExit):
        ev.expected("HassTurnOn", spans, home)
    _, spans = parse("make the [floor lamp](name) [mauve](color)")
    with pytest.raises(KeyError):
        ev.expected("HassLightSet", spans, home)
    _, spans = parse("turn on the lights [downstairs](floor)")
    assert ev.expected("HassTurnOn", spans, home).required == {"floor": "Ground Floor", "domain": "light"}
