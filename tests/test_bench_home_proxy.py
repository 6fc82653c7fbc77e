"""bench/home_proxy.py's in-template set: its expected answers are well-formed Home Assistant readings of
our own fixture homes, and bench/home_proxy_other.py reads only the allowed splits.

Needs the train extra (hassil, home-assistant-intents): skipped cleanly without it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("hassil")
pytest.importorskip("home_assistant_intents")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
INTENTS = {"HassTurnOn", "HassTurnOff", "HassLightSet", "HassSetPosition", "HassStartTimer", "HassListAddItem"}


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def hp():
    return _load("home_proxy")


@pytest.fixture(scope="module")
def en_set(hp):
    path = Path(str(hp.FIXTURES).format(lang="en"))
    lines, excluded = hp.template_set("en", path, INTENTS, per_intent=6, seed=hp.SEED)
    return path, lines, excluded


@pytest.mark.parametrize("lang", ["en", "en2", "de", "fr", "es"])
def test_fixture_homes_load_and_name_each_thing_once(hp, lang):
    from edge import names

    path = Path(str(hp.FIXTURES).format(lang=lang))
    loaded = names.load(path)          # the daemon's own reader accepts it
    assert len(loaded.entities) >= 25 and not loaded.warnings
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    hp.check_unique(data)
    domains = {e["id"].split(".")[0] for e in data["entities"]}
    assert {"light", "switch", "fan", "cover", "lock", "climate", "media_player", "vacuum", "lawn_mower",
            "sensor", "todo"} <= domains


def test_a_word_said_of_two_things_is_refused(hp, tmp_path):
    data = {"areas": [{"id": "kitchen", "name": "Kitchen"}],
            "entities": [{"id": "light.a", "name": "Lamp", "aliases": ["kitchen"]}]}
    with pytest.raises(SystemExit, match="kitchen"):
        hp.check_unique(data)
    (tmp_path / "n.yaml").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SystemExit):
        hp.template_set("en", tmp_path / "n.yaml", {"HassTurnOn"}, per_intent=2)


def test_expected_answers_are_home_assistants_reading_of_our_home(hp, en_set):
    from hassil.intents import Intents
    from hassil.recognize import recognize_best
    from home_assistant_intents import get_intents

    path, lines, excluded = en_set
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    home = hp.hwe.Home(data=data)
    assert {i for _, i, _, _, _ in lines} == INTENTS
    assert len(lines) == 6 * len(INTENTS)
    assert len({t.casefold() for t, *_ in lines}) == len(lines)     # no sentence twice
    assert sum(excluded.values()) > 0                                # some lines have no one answer, counted
    intents = Intents.from_dict(get_intents("en"))
    lists = hp.home_lists(data)
    for text, intent, exp, tid, held in lines:
        assert exp.intent == intent and tid.startswith(intent + "/") and isinstance(held, bool)
        best = recognize_best(text, intents, slot_lists=lists, language="en", best_slot_name="name")
        assert best is not None and best.intent.name == intent, text
        said = {k: v.value for k, v in best.entities.items()}
        for k, v in exp.required.items():                           # every required slot is HA's value
            assert k in said and (said[k].strip() if isinstance(said[k], str) else said[k]) == v, (text, k)
        for k in ("area", "floor"):                                  # exact names, never an alias
            if k in exp.required:
                assert exp.required[k] in home.exact[k], text
        if "name" in exp.required and intent != "HassStartTimer":
            e = next(x for x in home.entities if x["name"] == exp.required["name"])
            assert exp.optional["domain"] == e["id"].split(".")[0]
            if "area" in exp.required:                               # the thing is where the sentence says
                assert home.areas[e["area"]]["name"] == exp.required["area"]
        elif intent in ("HassTurnOn", "HassTurnOff") and not {"name", "device_class"} & exp.required.keys():
            assert "domain" in exp.required, text                    # a place alone: HA's template says lights
            assert hp.targets(home, exp.required), text             # and there is one there to act on
        if intent == "HassLightSet":
            assert {"brightness", "color", "temperature"} & exp.required.keys(), text
        if intent == "HassStartTimer":
            assert {"hours", "minutes", "seconds"} & exp.required.keys(), text
            assert all(isinstance(exp.required[k], (int, float)) for k in ("hours", "minutes", "seconds")
                       if k in exp.required)


def test_same_seed_same_set_other_seed_other_set(hp, en_set):
    path, lines, _ = en_set
    again, _ = hp.template_set("en", path, INTENTS, per_intent=6, seed=hp.SEED)
    assert [t for t, *_ in again] == [t for t, *_ in lines]
    other, _ = hp.template_set("en", path, INTENTS, per_intent=6, seed=hp.SEED + 1)
    assert [t for t, *_ in other] != [t for t, *_ in lines]


def test_held_out_templates_are_the_recipes(hp, en_set):
    from edge.train.home import split_templates, templates

    _, lines, _ = en_set
    _, held = split_templates(templates("en"), 0.15, 13)
    assert all((tid in held) == h for _, _, _, tid, h in lines)


def test_targets_is_what_home_assistant_would_act_on(hp):
    data = yaml.safe_load(Path(str(hp.FIXTURES).format(lang="en")).read_text(encoding="utf-8"))
    home = hp.hwe.Home(data=data)
    assert hp.targets(home, {"name": "Garage Door"}) == {"cover.garage_door"}
    assert hp.targets(home, {"area": "Garage", "device_class": "garage"}, ("cover",)) == {"cover.garage_door"}
    assert hp.targets(home, {"area": "Living Room", "domain": "light"}) == {"light.ceiling", "light.floor_lamp"}
    assert hp.targets(home, {"floor": "Upstairs", "domain": "fan"}) == {"fan.ceiling_fan", "fan.desk_fan"}
    assert hp.targets(home, {"area": "Garden", "domain": "light"}) == frozenset()


def test_other_requests_read_only_allowed_splits_and_no_home_intent():
    if not (ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json").is_file():
        pytest.skip("../shared/datasets not here")
    hpo = _load("home_proxy_other")
    manifest = json.loads((ROOT / "models" / "home" / "manifest.json").read_text(encoding="utf-8"))
    shipped, given = hpo.negatives(manifest)
    assert len(shipped) == 90 and given <= shipped
    todo = hpo.lines(shipped, given)
    sources = {s for _, s, _ in todo}
    assert not sources & set(hpo.DROPPED) and not sources & set(hpo.SNIPS_DROPPED)
    clinc = json.loads((ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json").read_text(encoding="utf-8"))
    val = {t for t, _ in clinc["val"]} | {t for t, _ in clinc["oos_val"]}
    assert all(t in val for t, _, g in todo if g.startswith("clinc"))   # only the val split (no test split here)
    assert len(todo) > 2000
