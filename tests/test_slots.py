"""Slots: the tagger trained from `[value](slot)` markup, built-in slots of a manifest, slot metrics,
and slots end to end through the daemon (a copy of the shipped model with a learned tagger added)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.dataset import parse_text
from edge.markup import Span
from edge.slots import CLINC150_SLOTS, SlotError, SlotExtractor, slot_metrics, validate_section
from edge.train.slots import infer_entity_types, package, train_tagger

ROOT = Path(__file__).resolve().parents[1]
CLINC = ROOT / "models" / "clinc150"
KEYS = {"name", "entity", "raw", "value", "start", "end", "confidence"}
TZ = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 11, 28, 9, 30, tzinfo=TZ)

TINY = """
## alarm
wake me at [7 am](time) [tomorrow](day)
set an alarm for [6:30 am](time)
wake me up at [noon](time) [on friday](day)
alarm for [8 pm](time) please
can you wake me at [half past six](time) [tomorrow](day)
i need an alarm at [5 am](time) [on monday](day)
set my alarm for [9 am](time)
wake me [tomorrow](day) at [10 am](time)
please set an alarm for [quarter to seven](time)
get me up at [4 am](time) [on saturday](day)

## play_music
play [jazz](genre) by [Miles Davis](artist)
put on some [rock](genre)
play [Bohemian Rhapsody](song) by [Queen](artist)
i want to hear [Hey Jude](song)
play something by [Adele](artist)
play [blues](genre) music
let me hear [Yesterday](song) by [the Beatles](artist)
play songs by [Nina Simone](artist)
play [classical](genre) music please
put on [Thriller](song) by [Michael Jackson](artist)
play [hip hop](genre)
play [Imagine](song) by [John Lennon](artist)

## greeting
hello there
hi
good morning to you
"""


@pytest.fixture(scope="module")
def tiny_examples():
    return parse_text(TINY, "tiny.txt")


@pytest.fixture(scope="module")
def tiny_pkg(tmp_path_factory, tiny_examples) -> Path:
    d = tmp_path_factory.mktemp("pkg")
    (d / "manifest.json").write_text(json.dumps({"name": "tiny", "files": {}}))
    package(d, tiny_examples, synonyms={"genre": {"hip hop": "hip-hop", "rap": "hip-hop"}})
    return d


def load(pkg: Path) -> SlotExtractor:
    return SlotExtractor.load(pkg, json.loads((pkg / "manifest.json").read_text()))


def test_package_records_the_tagger_in_the_manifest(tiny_pkg):
    m = json.loads((tiny_pkg / "manifest.json").read_text())
    assert m["slots"]["tagger"] == "slots.json" and len(m["files"]["slots.json"]) == 64
    # entity types: time and day values resolve as datetimes; the others are the user's own
    assert m["slots"]["intents"]["alarm"] == {"day": "datetime", "time": "datetime"}
    assert m["slots"]["intents"]["play_music"] == {"artist": "artist", "genre": "genre", "song": "song"}
    assert "greeting" not in m["slots"]["intents"]
    validate_section(m["slots"])


def test_tagger_on_new_phrasings(tiny_pkg):
    x = load(tiny_pkg)
    text = "wake me at 8 am tomorrow"
    got = x.extract(text, "alarm", now=NOW)
    assert [(s["name"], s["raw"]) for s in got] == [("time", "8 am"), ("day", "tomorrow")]
    time_slot = got[0]
    assert set(time_slot) == KEYS and time_slot["entity"] == "datetime"
    assert time_slot["value"].endswith("T08:00:00+01:00")
    for s in got:
        assert text[s["start"] : s["end"]] == s["raw"] and 0 < s["confidence"] <= 1
    got = x.extract("play rock by Queen", "play_music")
    assert [(s["name"], s["raw"], s["value"]) for s in got] == [("genre", "rock", "rock"), ("artist", "Queen", "Queen")]
    # a synonym gives the canonical value; the raw text stays as said
    (genre,) = [s for s in x.extract("play hip hop", "play_music") if s["name"] == "genre"]
    assert (genre["raw"], genre["value"], genre["entity"]) == ("hip hop", "hip-hop", "genre")


def test_no_slots_for_intents_without_any(tiny_pkg):
    x = load(tiny_pkg)
    assert x.extract("hello there", "greeting") == []
    assert x.extract("wake me at 7 am", "oos") == []
    assert x.extract("", "alarm") == []
    assert x.extract("   ", "alarm") == []


def test_training_is_deterministic(tiny_examples):
    a, _ = train_tagger(tiny_examples, seed=3)
    b, _ = train_tagger(tiny_examples, seed=3)
    assert a == b


def test_no_markup_no_tagger(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "x", "files": {}}))
    assert package(tmp_path, parse_text("## a\nhello\n## b\nbye\n")) is None
    assert not (tmp_path / "slots.json").exists()
    assert "slots" not in json.loads((tmp_path / "manifest.json").read_text())


def test_infer_entity_types():
    got = infer_entity_types({"when": ["7 am", "tomorrow", "at noon"], "n": ["3", "four", "12"],
                              "room": ["kitchen", "hall"], "one": ["5"]})
    assert got == {"when": "datetime", "n": "number", "room": "room", "one": "one"}


# --- built-ins from the manifest ------------------------------------------------------------------


def test_clinc150_defaults_when_the_manifest_has_no_slots():
    m = json.loads((CLINC / "manifest.json").read_text())
    m.pop("slots", None)
    x = SlotExtractor.load(CLINC, m)
    assert x.intents["alarm"] == {"time": "datetime"} and x.intents == CLINC150_SLOTS
    (s,) = x.extract("set an alarm for 7 am tomorrow", "alarm", now=NOW)
    assert s == {"name": "time", "entity": "datetime", "raw": "7 am tomorrow", "value": "2026-11-29T07:00:00+01:00",
                 "start": 17, "end": 30, "confidence": 1.0}
    (s,) = x.extract("transfer $250 from checking to savings", "transfer")
    assert (s["name"], s["entity"], s["value"], s["unit"]) == ("amount", "money", 250, "USD")
    (s,) = x.extract("set a timer for 20 minutes", "timer")
    assert (s["name"], s["value"]) == ("duration", 1200)
    assert x.extract("what is my balance", "balance") == []
    assert x.extract("set an alarm for 7 am", "tell_joke") == []  # only the intent's own slots
    got = x.extract("book a table for four at 8 pm", "restaurant_reservation", now=NOW)
    assert [(s["name"], s["raw"]) for s in got] == [("party_size", "four"), ("time", "8 pm")]


def test_labels_of_the_defaults_are_clinc150_labels():
    labels = set(json.loads((CLINC / "manifest.json").read_text())["labels"])
    assert set(CLINC150_SLOTS) <= labels


def test_manifest_slots_section_wins_and_other_models_get_none():
    m = {"name": "clinc150", "slots": {"intents": {"weather": {"when": "datetime"}}}}
    x = SlotExtractor.load(CLINC, m)
    assert x.intents == {"weather": {"when": "datetime"}}
    assert x.extract("set an alarm for 7 am", "alarm") == []
    assert SlotExtractor.load(CLINC, {"name": "other"}).empty


@pytest.mark.parametrize(
    "section, words",
    [
        ([], "must be an object"),
        ({"intents": []}, "must map intents"),
        ({"intents": {"a": ["x"]}}, "must map slot names"),
        ({"intents": {"a": {"1x": "number"}}}, "invalid slot name"),
        ({"intents": {"a": {"x": ""}}}, "entity type"),
        ({"tagger": "../x"}, "file name"),
    ],
)
def test_bad_sections(section, words):
    with pytest.raises(SlotError, match=words):
        SlotExtractor.load(CLINC, {"name": "m", "slots": section})


def test_bad_tagger_files(tmp_path):
    m = {"name": "m", "slots": {"tagger": "slots.json"}}
    with pytest.raises(SlotError, match="cannot read"):
        SlotExtractor.load(tmp_path, m)
    (tmp_path / "slots.json").write_text('{"format": "other"}')
    with pytest.raises(SlotError, match="format"):
        SlotExtractor.load(tmp_path, m)
    (tmp_path / "slots.json").write_text('{"format": "edge-slots/1", "features": [], "intents": {"a": {}}}')
    with pytest.raises(SlotError, match="malformed"):
        SlotExtractor.load(tmp_path, m)


# --- metrics ----------------------------------------------------------------------------------------


def test_slot_metrics():
    gold = [[Span(0, 4, "time", "7 am"), Span(5, 13, "day", "tomorrow")], [Span(5, 9, "genre", "jazz")], []]
    pred = [
        [{"name": "time", "start": 0, "end": 4}, {"name": "day", "start": 5, "end": 12}],  # span off by one
        [("genre", 5, 9), ("artist", 13, 18)],  # a spurious artist
        [],
    ]
    m = slot_metrics(gold, pred, ["alarm", "play", "greeting"])
    assert (m["precision"], m["recall"], m["support"]) == (0.5, 0.6667, 3)
    assert m["per_slot"]["time"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["per_slot"]["day"]["f1"] == 0.0 and m["per_slot"]["artist"]["support"] == 0
    assert m["macro_f1"] == round((1 + 0 + 1) / 3, 4)  # over slot names with gold items
    assert m["macro_f1_intent_slot"] == m["macro_f1"]
    with pytest.raises(ValueError):
        slot_metrics(gold, pred[:2])
    assert slot_metrics([], [])["f1"] == 0.0


# --- end to end: markup -> trained tagger in a model package -> the daemon's results ------------------

E2E = """
## play_music
play [jazz](genre) by [Miles Davis](artist)
put on some [rock](genre)
play [Bohemian Rhapsody](song) by [Queen](artist)
play something by [Adele](artist)
play [blues](genre) music
let me hear [Yesterday](song) by [the Beatles](artist)
play songs by [Nina Simone](artist)
put on [Thriller](song) by [Michael Jackson](artist)
play [Imagine](song) by [John Lennon](artist)
"""


@pytest.mark.slow
def test_daemon_results_carry_learned_and_builtin_slots(tmp_path, broker, daemon_factory, client_factory):
    from conftest import daemon_config

    pkg = tmp_path / "model"
    shutil.copytree(CLINC, pkg)
    m = json.loads((pkg / "manifest.json").read_text())
    m.pop("slots", None)
    (pkg / "manifest.json").write_text(json.dumps(m))
    section = package(pkg, parse_text(E2E))
    assert section is not None and "play_music" in section["intents"]
    # the built-ins of the shipped model stay: the manifest lists them next to the learned ones
    m = json.loads((pkg / "manifest.json").read_text())
    m["slots"]["intents"] = {**CLINC150_SLOTS, **m["slots"]["intents"]}
    (pkg / "manifest.json").write_text(json.dumps(m))

    d = daemon_factory(daemon_config(broker, tmp_path / "state", device_id="slots", model={"path": str(pkg)}))
    c = client_factory(broker)
    r = c.request("edge/slots", {"text": "play some jazz by John Coltrane", "id": "s1"})
    assert r["intent"] == "play_music"
    assert [(s["name"], s["raw"]) for s in r["slots"]] == [("genre", "jazz"), ("artist", "John Coltrane")]
    for s in r["slots"]:
        assert set(s) == KEYS and r["text"][s["start"] : s["end"]] == s["raw"]
    r = c.request("edge/slots", {"text": "wake me up at 6 am tomorrow", "id": "s2"})
    assert r["intent"] == "alarm"
    (s,) = r["slots"]
    assert (s["name"], s["entity"], s["raw"]) == ("time", "datetime", "6 am tomorrow")
    assert dt.datetime.fromisoformat(s["value"]).hour == 6
    r = c.request("edge/slots", {"text": "tell me a joke", "id": "s3"})
    assert r["slots"] == []
    assert d.stop() == 0


def test_edge_infer_json_carries_slots():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "edge", "infer", "--json", "set an alarm for 7 am tomorrow", "hello"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    alarm, hello = [json.loads(line) for line in out.stdout.splitlines()]
    assert alarm["intent"] == "alarm" and [s["raw"] for s in alarm["slots"]] == ["7 am tomorrow"]
    assert hello["slots"] == []


def test_cloud_slots_are_validated_and_resolved_here():
    x = SlotExtractor.load(CLINC, {"name": "clinc150"})
    assert "alarm: time (datetime)" in x.cloud_prompt() and '"slots"' in x.cloud_prompt()
    assert SlotExtractor.load(CLINC, {"name": "other"}).cloud_prompt() == ""
    text = "Wake me at 7 AM tomorrow and again at 9"
    got, problems = x.cloud_slots(text, "alarm", [
        {"name": "time", "text": "7 am tomorrow"},  # case aside
        {"name": "colour", "text": "red"},  # not a slot of alarm
        {"name": "time", "text": "at noon"},  # not in the request
        {"name": "time"},  # malformed
        {"name": "time", "text": "at 9"},
    ], now=NOW)
    assert [(s["raw"], s["start"], s["end"]) for s in got] == [("7 AM tomorrow", 11, 24), ("at 9", 35, 39)]
    assert got[0]["value"] == "2026-11-29T07:00:00+01:00" and got[0]["entity"] == "datetime"
    assert got[1]["value"] == "2026-11-28T21:00:00+01:00"
    assert len(problems) == 3 and set(got[0]) == KEYS
    assert x.cloud_slots(text, "alarm", None) == ([], [])
    assert x.cloud_slots(text, "alarm", "7 am")[1] == ["slots is a str, not a list"]
    assert x.cloud_slots(text, "greeting", [{"name": "time", "text": "7 AM"}])[0] == []


def test_edge_eval_slot_scores(tmp_path):
    import subprocess
    import sys

    data = tmp_path / "eval.txt"
    data.write_text("## alarm\nset an alarm for [7 am tomorrow](time)\nwake me up at [6 am](time)\n"
                    "## transfer\ntransfer [$20](amount) to savings\n## greeting\nhello there\n")

    def run(*extra):
        out = subprocess.run([sys.executable, "-m", "edge", "eval", "--data", str(data), *extra],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        return out.stdout

    overall = json.loads(run("--json"))["slots"]
    assert (overall["precision"], overall["recall"], overall["support"]) == (1.0, 1.0, 3) and "per_slot" not in overall
    per = json.loads(run("--json", "--per-slot"))["slots"]["per_slot"]
    assert per["time"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    table = run("--per-slot")
    assert "slots: precision / recall / F1" in table and "F1 averaged over slot types" in table
    assert any(line.split()[:1] == ["amount"] for line in table.splitlines())


def test_long_texts_are_read_up_to_a_limit():
    import time

    from edge.slots import MAX_TEXT

    x = SlotExtractor.load(CLINC, {"name": "clinc150"})
    text = "set an alarm for 7 am tomorrow " + "twenty " * 2300
    t0 = time.perf_counter()
    got = x.extract(text, "calculator")
    assert time.perf_counter() - t0 < 2.0
    assert all(s["end"] <= MAX_TEXT and text[s["start"] : s["end"]] == s["raw"] for s in got)


# --- the cloud fallback is asked for slots, and its slots are checked on the device -----------------


@pytest.mark.slow
def test_cloud_results_carry_checked_cloud_slots(tmp_path, broker, daemon_factory, client_factory):
    from cloud_server import FakeCloud
    from conftest import daemon_config

    reply = {"intent": "reminder", "answer": "ok",
             "slots": [{"name": "time", "text": "7 AM"}, {"name": "colour", "text": "blue"},
                       {"name": "time", "text": "at midnight"}]}
    with FakeCloud(content=json.dumps(reply)) as fake:
        cloud = {"base_url": fake.base_url, "model": "m", "mode": "cloud_preferred", "timeout_s": 2.0}
        d = daemon_factory(daemon_config(broker, tmp_path / "state", device_id="cs", cloud=cloud),
                           env={"EDGE_CLOUD_API_KEY": ""})
        c = client_factory(broker)
        r = c.request("edge/cs", {"text": "nudge me at 7 am about the blue bin", "id": "c1"})
        assert (r["source"], r["intent"]) == ("cloud", "reminder")
        # only the slot the intent has and the request says; offsets and value found here
        (s,) = r["slots"]
        assert (s["name"], s["entity"], s["raw"]) == ("time", "datetime", "7 am")
        assert r["text"][s["start"] : s["end"]] == "7 am" and s["value"][11:19] == "07:00:00"
        system = next(m["content"] for m in fake.chat_requests[0].body["messages"] if m["role"] == "system")
        assert "reminder: time (datetime)" in system and '"slots"' in system
        assert d.stop() == 0


def test_fast_feature_ids_equal_the_reference_features(tiny_pkg):
    """The run-time path (FastFeatures, ids without strings) scores the same features as
    token_features, which training uses, and decodes the same path."""
    import numpy as np

    from edge.slot_features import entity_tags, gazetteer_tags, token_features, tokenize
    x = load(tiny_pkg)
    texts = ["play some hip hop by Miles Davis", "wake me at 7 am tomorrow in New York", "Play | the NY || Jazz",
             "set an alarm for 6:30 on friday, please!", "x", "unknownword zzz qqq 2026 ²", "play play play"]
    for intent, tagger in x._taggers.items():
        for text in texts:
            spans = tokenize(text)
            words = [text[a:b] for a, b in spans]
            low = [w.lower() for w in words]
            ents = entity_tags(text, spans)
            gaz = gazetteer_tags(low, tagger.gaz, tagger.max_gaz, (), tagger.gaz_words) if tagger.gaz \
                else [()] * len(words)
            ref = [sorted(i for i in map(x._fid.__getitem__, f) if i >= 0) for f in token_features(words, gaz, ents)]
            ids, offsets = x._fast.ids(words, low, tagger.gaz_ids(low), ents)
            got = [sorted(i for i in ids[a:b] if i >= 0) for a, b in zip(offsets, offsets[1:] + [len(ids)])]
            assert got == ref, (intent, text)
            path, E = tagger.scores(ids, offsets)
            ref_path, ref_E = tagger.decode(words, x._fid, ents)
            assert path == ref_path and np.allclose(E, ref_E, atol=1e-4), (intent, text)
