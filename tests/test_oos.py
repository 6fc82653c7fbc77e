"""Out-of-scope data (edge.train.oos), the threshold rules (edge.train.operating)
and the refit's starting point (edge.train.refit.student_from_int8)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edge.model import normalize_text
from edge.train import operating as op
from edge.train.oos import VERBS, _GROUP, _content, extra_oos, keywords, near_misses

needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow (train extra)")

TRAIN = [
    ("send a text to mom", "text"), ("send a message to john saying hi", "text"),
    ("text my wife that i am late", "text"), ("read my new messages", "read_messages"),
    ("read me the latest message", "read_messages"), ("book a table at olive garden", "restaurant_reservation"),
    ("book me a table for two", "restaurant_reservation"), ("cancel my reservation at nobu", "cancel_reservation"),
    ("cancel the reservation for tonight", "cancel_reservation"), ("confirm my reservation at nobu", "confirm_reservation"),
    ("freeze my bank account", "freeze_account"), ("please freeze my savings account", "freeze_account"),
    ("what's the capital of peru", "oos"),
] * 3


def test_extra_oos_adds_new_texts_and_holds_some_out(tmp_path):
    f = tmp_path / "oos_plus.json"
    texts = [f"out of scope request number {i}" for i in range(30)]
    f.write_text(json.dumps({"oos_train": [[t, "oos"] for t in texts + ["What's the capital of Peru?"]]}))
    use, held = extra_oos(f, [t for t, _ in TRAIN], 10, seed=13)
    assert len(use) == 20 and len(held) == 10
    assert not set(use) & set(held)
    assert "What's the capital of Peru?" not in use + held  # already in the training data (normalised)
    assert (use, held) == extra_oos(f, [t for t, _ in TRAIN], 10, seed=13)
    assert held != extra_oos(f, [t for t, _ in TRAIN], 10, seed=14)[1]


def test_extra_oos_refuses_a_malformed_file(tmp_path):
    from edge.train.data import DataError

    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"train": []}))
    with pytest.raises(DataError, match="oos_train"):
        extra_oos(f, [], 5, 13)


def test_near_misses_swap_verbs_across_groups_only_where_they_never_meet_the_object():
    out = near_misses(TRAIN, 40, seed=3, frame_share=0.0)
    assert out == near_misses(TRAIN, 40, seed=3, frame_share=0.0)
    assert len(out) == len(set(out))
    known = {normalize_text(t) for t, _ in TRAIN}
    cooc = {(v, c) for t, l in TRAIN if l != "oos" for w in [normalize_text(t).split()]
            for v in w if v in VERBS for c in _content(w)}
    by_frame = {}
    for t, _ in TRAIN:
        by_frame.setdefault(tuple(x if x not in VERBS else "_" for x in normalize_text(t).split()), []).append(
            normalize_text(t).split())
    checked = 0
    for text in out:
        assert text not in known
        words = text.split()
        frame = tuple(x if x not in VERBS else "_" for x in words)
        srcs = by_frame.get(frame)
        if not srcs:  # only one verb was swapped, so some training utterance differs in one verb
            continue
        for src in srcs:
            diff = [(a, b) for a, b in zip(src, words) if a != b]
            if len(diff) == 1:
                old, new = diff[0]
                assert _GROUP.get(new, new) != _GROUP.get(old, old)
                assert not any((new, c) in cooc for c in _content(words))
                checked += 1
                break
    assert out and checked >= len(out) // 2


def test_near_misses_keyword_frames():
    out = near_misses(TRAIN, 10, seed=1, frame_share=1.0)
    kws = {w for ws in keywords(TRAIN, min_count=3).values() for w in ws}
    assert out and all(any(k in o.split() for k in kws) for o in out)


def test_oos_threshold_keeps_the_in_scope_budget():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 3000)
    correct = rng.uniform(0, 1, 3000) < 0.96
    th = op.oos_threshold(conf, correct, 0.005)
    base = correct.mean()
    assert ((conf >= th) & correct).mean() >= base - 0.005
    assert ((conf >= th + 0.005) & correct).mean() < base - 0.005  # the largest such threshold
    assert op.oos_threshold(conf, correct, 0.0) <= th


def test_escalation_threshold_for_a_stated_share():
    conf_in = np.linspace(0.0, 1.0, 1000)
    correct = conf_in > 0.1          # wrong only at the very bottom
    conf_oos = np.linspace(0.0, 0.6, 100)
    esc = op.escalation_threshold(conf_in, correct, conf_oos, 0.1, share=0.25, silent=0.02, max_escalation=0.9)
    assert op.silent_at_share(conf_in, correct, conf_oos, esc, 0.25) <= 0.02
    assert op.silent_at_share(conf_in, correct, conf_oos, esc - 0.005, 0.25) > 0.02
    capped = op.escalation_threshold(conf_in, correct, conf_oos, 0.1, share=0.25, silent=0.02, max_escalation=0.3)
    assert (conf_in < capped).mean() <= 0.3 < (conf_in < capped + 0.005).mean()
    # share 0: only in-scope mistakes count, which the oos threshold already removes
    assert op.escalation_threshold(conf_in, correct, conf_oos, 0.1, share=0.0) == 0.1


def test_silent_at_share_is_the_mix_of_both_parts():
    conf_in = np.array([0.9, 0.9, 0.2, 0.9])
    correct = np.array([True, False, False, True])
    conf_oos = np.array([0.9, 0.1])
    # in scope: 1 of 4 kept and wrong; out of scope: 1 of 2 kept
    assert op.silent_at_share(conf_in, correct, conf_oos, 0.5, 0.2) == pytest.approx(0.8 * 0.25 + 0.2 * 0.5)


@needs_tf
def test_student_round_trip(tmp_path):
    from edge.train.student import Student, StudentConfig

    s = Student(StudentConfig(vocab=50, n_classes=5, dim=8, filters=8, hidden=16), seed=3)
    s.save(tmp_path / "s.npz")
    t = Student.load(tmp_path / "s.npz")
    x = np.random.default_rng(1).integers(0, 50, (4, 32)).astype(np.int32)
    assert np.array_equal(s.predict(x), t.predict(x))


@needs_tf
def test_refit_starts_from_the_int8_weights():
    """The float network rebuilt from the shipped int8 file gives the int8 model's
    arg-max (it is what edge.train.refit trains further)."""
    from edge.model import MODEL_FILE, Model, encode_ids, default_model_path
    from edge.train.refit import student_from_int8

    pkg = default_model_path()
    m = Model.load(pkg)
    data = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "clinc150" / "data.json"
    texts = ([t for t, _ in json.loads(data.read_text())["val"]][::15] if data.is_file()
             else ["set an alarm for 7 am", "what's my balance", "play some music"])
    s = student_from_int8((pkg / MODEL_FILE).read_bytes(), m.max_len)
    float_top = s.predict(encode_ids(m._sp, texts, m.max_len))[:, :-1].argmax(1)  # noqa: SLF001
    int8_top = [m.labels.index(p.top_intent) for p in m.classify(texts)]
    assert np.mean(float_top == np.array(int8_top)) >= 0.98
