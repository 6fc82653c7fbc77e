"""End-to-end training on a tiny hand-made intents file (needs the train extra)."""

import argparse
import importlib.util
import json

import pytest

from edge.model import Model

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


def _args(**kw):
    from edge.train.cli import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    argv = []
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [flag, str(v)]
    a = p.parse_args(argv)
    a.argv = argv
    return a


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
    rc = run(_args(data=f, out=out, quick=True, epochs=30, wiki="none", name="tiny", version="0.0.1",
                   oos_recall=0.0, recipe="distil"))
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


@needs_tf
def test_train_rejects_bad_data(tmp_path, capsys):
    from edge.train.cli import run

    f = tmp_path / "bad.txt"
    f.write_text("## only\none\ntwo\n")
    assert run(_args(data=f, out=tmp_path / "o", quick=True, wiki="none")) == 2
    assert "at least 2 intents" in capsys.readouterr().err


def test_teacher_seeds_parsing(tmp_path):
    from edge.train.cli import _teacher_seeds
    from edge.train.data import DataError

    base = dict(data=tmp_path / "d.json", out=tmp_path / "o")
    assert _teacher_seeds(_args(**base)) == [13]
    assert _teacher_seeds(_args(**base, seed=5)) == [5]
    assert _teacher_seeds(_args(**base, teacher_seeds="13,2")) == [13, 2]
    for bad in ("13,13", "x", ","):
        with pytest.raises(DataError, match="--teacher-seeds"):
            _teacher_seeds(_args(**base, teacher_seeds=bad))


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
