"""End-to-end training on a tiny hand-made intents file (needs the train extra)."""

import importlib.util
import json

import pytest

from edge.model import Model
from train_args import train_args

INTENTS = """\
# A tiny intents file: '## name' starts an intent, one example a line.
## lights_on
turn on the lights
switch the light on
lights on please
can you turn the lamp on
put the lights on in the kitchen
turn on the bedroom light
make it bright in here
light up the living room

## lights_off
turn off the lights
switch the light off
lights off please
can you turn the lamp off
kill the lights in the kitchen
turn off the bedroom light
make it dark in here
shut the living room lights

## weather
what is the weather like
will it rain today
how hot is it outside
is it going to snow tomorrow
what's the forecast for the weekend
do i need an umbrella
how cold will it be tonight
is it sunny outside
"""


def _have_training_stack() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


needs_tf = pytest.mark.skipif(not _have_training_stack(),
                              reason="tensorflow is not installed (pip install '.[train]')")


def test_parse_intents_txt_errors(tmp_path):
    from edge.train.data import DataError, load_dataset

    f = tmp_path / "intents.txt"
    f.write_text("hello there\n## greet\nhi\n")
    with pytest.raises(DataError, match=r"intents.txt:1: example before"):
        load_dataset(f)
    f.write_text("## bad name!\nhi\n")
    with pytest.raises(DataError, match="intents.txt:1: intent name 'bad name!'"):
        load_dataset(f)
    f.write_text("## a\nhi\nhello\n## a\nyo\n")
    with pytest.raises(DataError, match="'## a' appears twice"):
        load_dataset(f)
    f.write_text("## a\nhi\nhello\n")
    with pytest.raises(DataError, match="at least 2 intents"):
        load_dataset(f)
    f.write_text("## a\nhi\nhello\n## b\nyo\n")
    with pytest.raises(DataError, match="fewer than 2 examples: b"):
        load_dataset(f)
    j = tmp_path / "intents.json"
    j.write_text(json.dumps({"a": ["x", "y"], "b": "not a list"}))
    with pytest.raises(DataError, match="'b' must map to a list"):
        load_dataset(j)


def test_intents_formats_agree(tmp_path):
    from edge.train.data import load_dataset

    f = tmp_path / "intents.txt"
    f.write_text(INTENTS)
    j = tmp_path / "intents.json"
    from edge.dataset import load_examples
    by = {}
    for e in load_examples(f):
        by.setdefault(e.label, []).append(e.text)
    j.write_text(json.dumps(by))
    a, b = load_dataset(f), load_dataset(j)
    assert a.labels == b.labels == ["lights_off", "lights_on", "weather"]
    assert sorted(a.train) == sorted(b.train) and sorted(a.val) == sorted(b.val)
    assert len(a.val) == 3 and len(a.train) == 21


@needs_tf
def test_train_tiny_end_to_end(tmp_path, capsys):
    from edge.train.cli import run

    f = tmp_path / "intents.txt"
    f.write_text(INTENTS)
    out = tmp_path / "pkg"
    rc = run(train_args(data=f, out=out, quick=True, epochs=30, wiki="none", name="tiny", version="0.0.1",
                        recipe="distil"))
    assert rc == 0
    model = Model.load(out)
    assert model.ident == "tiny@0.0.1"
    assert model.labels == ("lights_off", "lights_on", "weather")
    preds = model.classify(["turn on the lights", "what is the weather like", ""])
    assert preds[0].top_intent == "lights_on"
    assert preds[1].top_intent == "weather"
    assert preds[2].intent == "oos"
    m = model.manifest
    assert m["training"]["source"] == "user-supplied intents"
    assert m["metrics"]["val"]["n"] == 3
    assert "FULLY_CONNECTED" in m["architecture"]["ops"]
    assert m["tuning"]["in_scope_budget"] == 0.005 and m["tuning"]["oos_share"] == 0.25
    assert "target_oos_recall" not in m["tuning"]
    # what a device checks before it accepts the package (issue 23): the runtime it needs,
    # and training examples the package answers right (few or none from a --quick model)
    from edge import __version__
    from edge.selftest import check

    assert m["requires_runtime"] == __version__
    assert isinstance(m["selftest"], list) and check(model, m["selftest"]) == []


def _fake_package(monkeypatch, tmp_path, scores: dict):
    """A package directory whose 'model' answers ``scores[text] = (confidence, top
    intent)``: the threshold step runs on synthetic confidences, no training."""
    import edge.evaluate
    import edge.model

    class _Pred:
        def __init__(self, conf, top):
            self.confidence, self.top_intent = conf, top

    class _Fake:
        def classify(self, texts):
            return [_Pred(*scores[t]) for t in texts]

    monkeypatch.setattr(edge.model.Model, "load", classmethod(lambda cls, *a, **k: _Fake()))
    monkeypatch.setattr(edge.evaluate, "evaluate", lambda model, pairs: {"n": len(pairs)})
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"name": "x", "thresholds": {"oos": 0, "escalation": 0}}))
    return out


def test_distil_threshold_step_uses_the_in_scope_budget(monkeypatch, tmp_path):
    """The distil recipe's thresholds: the oos one gives up at most half a point of
    in-scope accuracy against arg-max on the tuning split (not a target oos recall);
    the escalation one keeps silent errors <= 2% at 25% out-of-scope traffic, measured
    on the tuning split's oos items and the held-out --oos-plus ones together."""
    import numpy as np

    from edge.train.distil import threshold_step

    rng = np.random.default_rng(3)
    conf_in = np.round(rng.beta(8, 1.5, 2000), 4)
    correct = rng.random(2000) < 0.5 + 0.5 * conf_in      # confident answers are more often right
    conf_val_oos = np.round(rng.beta(1.2, 6, 100), 4)     # the tuning split's oos: easy
    conf_held = np.round(rng.beta(2, 4, 50), 4)           # held-out real oos: harder
    scores, pairs, held = {}, [], []
    for i, (c, ok) in enumerate(zip(conf_in, correct)):
        scores[f"in {i}"] = (float(c), "a" if ok else "b")
        pairs.append((f"in {i}", "a"))
    for i, c in enumerate(conf_val_oos):
        scores[f"oos {i}"] = (float(c), "a")
        pairs.append((f"oos {i}", "oos"))
    for i, c in enumerate(conf_held):
        scores[f"held {i}"] = (float(c), "a")
        held.append(f"held {i}")
    out = _fake_package(monkeypatch, tmp_path, scores)
    args = train_args(data=tmp_path / "d.json", out=out, oos_plus=tmp_path / "oos_plus_train.json")
    metrics = threshold_step(out, pairs, held, args, "val", "edge train --data d.json")

    grid = np.round(np.arange(0.0, 1.0, 0.005), 3)
    acc = np.array([(correct & (conf_in >= t)).mean() for t in grid])
    th = float(grid[acc >= correct.mean() - 0.005 - 1e-12].max())
    conf_oos = np.concatenate([conf_val_oos, conf_held])
    esc = None
    for t in grid[grid >= th]:
        if (conf_in < t).mean() > 0.095 + 1e-12:
            break
        esc = float(t)
        if 0.75 * ((conf_in >= t) & ~correct).mean() + 0.25 * (conf_oos >= t).mean() <= 0.02:
            break
    m = json.loads((out / "manifest.json").read_text())
    assert m["thresholds"] == {"oos": th, "escalation": esc}
    # the old rule (smallest threshold with 65% recall on the tuning split's oos) differs
    assert float(grid[[(conf_val_oos < t).mean() >= 0.65 for t in grid]].min()) != th
    t = m["tuning"]
    assert (t["in_scope_budget"], t["oos_share"], t["target_silent_error"], t["max_escalation_in_scope"]) \
        == (0.005, 0.25, 0.02, 0.095)
    assert t["held_out_oos"]["n"] == 50 and t["held_out_oos"]["file"] == "oos_plus_train.json"
    assert t["operating_points"]["val+held_out_oos"]["oos_items"] == 150
    assert t["operating_points"]["held_out_oos_only"]["oos_items"] == 50
    assert "in-scope budget" in t["rules"] and t["command"] == "edge train --data d.json"
    assert m["metrics"] == {"val": {"n": 2100}} and metrics == {"n": 2100}


def test_oos_recall_is_a_deprecated_no_op(tmp_path, capsys):
    import argparse

    from edge.train.cli import OOS_RECALL_DEPRECATED, add_arguments, run

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert "--oos-recall" not in p.format_help()
    f = tmp_path / "bad.txt"
    f.write_text("## only\none\ntwo\n")
    assert run(train_args(data=f, out=tmp_path / "o", quick=True, wiki="none", oos_recall=0.65)) == 2
    assert OOS_RECALL_DEPRECATED in capsys.readouterr().err
    assert "--oos-budget" in OOS_RECALL_DEPRECATED


@needs_tf
def test_train_rejects_bad_data(tmp_path, capsys):
    from edge.train.cli import run

    f = tmp_path / "bad.txt"
    f.write_text("## only\none\ntwo\n")
    assert run(train_args(data=f, out=tmp_path / "o", quick=True, wiki="none")) == 2
    assert "at least 2 intents" in capsys.readouterr().err


def test_teacher_seeds_parsing(tmp_path):
    from edge.train.distil import _teacher_seeds
    from edge.train.data import DataError

    base = dict(data=tmp_path / "d.json", out=tmp_path / "o")
    assert _teacher_seeds(train_args(**base)) == [13]
    assert _teacher_seeds(train_args(**base, seed=5)) == [5]
    assert _teacher_seeds(train_args(**base, teacher_seeds="13,2")) == [13, 2]
    for bad in ("13,13", "x", ","):
        with pytest.raises(DataError, match="--teacher-seeds"):
            _teacher_seeds(train_args(**base, teacher_seeds=bad))


@needs_tf
def test_student_exports_the_moving_average():
    """With ``ema`` the exported weights are the moving average, not the last
    step's, and that average still fits the data."""
    import numpy as np

    from edge.train.student import Student, StudentConfig, TrainConfig, train_student

    rng = np.random.default_rng(0)
    n, L, V, C = 256, 6, 40, 4
    y = rng.integers(0, C, n).astype(np.int32)
    ids = rng.integers(C + 1, V, (n, L)).astype(np.int32)
    ids[:, 0] = y + 1  # the first token gives the class away
    cfg = StudentConfig(vocab=V, n_classes=C, max_len=L, dim=8, filters=8, hidden=16,
                        dropout=0.0, emb_dropout=0.0)
    weights = {}
    for ema in (0.0, 0.9):
        s = Student(cfg, seed=1)
        train_student(s, ids, None, y, TrainConfig(epochs=8, batch=32, lr=1e-2, word_dropout=0.0,
                                                   label_smoothing=0.0, ema=ema, log=False))
        assert (s.predict(ids).argmax(1) == y).mean() > 0.95
        weights[ema] = s.w2.numpy()
    assert not np.allclose(weights[0.0], weights[0.9])


def test_substitute_keeps_the_frame():
    """Substitutions swap content words (and numbers) for words of the
    unlabelled sentences and leave the function words that carry the intent."""
    from edge.train.data import _FRAME, substitute

    train = [("what is the balance of my checking account", "balance"),
             ("set an alarm for 7", "alarm")]
    wiki = ["The Zambezi flows through Mozambique", "Quartz crystals grow slowly"]
    out = substitute(train, wiki, 200, seed=3)
    assert len(out) == 200 and out == substitute(train, wiki, 200, seed=3)
    assert out != substitute(train, wiki, 200, seed=4)
    new_words = {"zambezi", "flows", "through", "mozambique", "quartz", "crystals", "grow", "slowly"}
    for text in out:
        words = text.split()
        kept = set(words) - new_words - {str(i) for i in range(10001)}
        assert kept <= {w for t, _ in train for w in t.split()}, text
        # the frame of one of the two sources survives
        assert any(all(w in words for w in t.split() if w in _FRAME) for t, _ in train), text
    assert any(set(t.split()) & new_words for t in out)
    assert any(any(w.isdigit() and w != "7" for w in t.split()) for t in out)
    assert substitute(train, [], 10, seed=1) == []
