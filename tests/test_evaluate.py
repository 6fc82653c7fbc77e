import json

import pytest

from edge.evaluate import METRIC_KEYS, auroc, compute_metrics, format_table, load_pairs, wilson
from edge.model import Prediction


def P(intent, conf, top=None):
    return Prediction(intent, conf, top or (intent if intent != "oos" else "a"))


def test_compute_metrics_hand_made():
    golds = ["a", "a", "b", "b", "oos", "oos"]
    preds = [
        P("a", 0.9),            # right, kept
        P("b", 0.6, "b"),       # wrong, escalated (0.6 < 0.7)
        P("b", 0.95),           # right, kept
        P("oos", 0.2, "b"),     # in-scope predicted oos: wrong, escalated
        P("oos", 0.1, "a"),     # oos caught
        P("a", 0.8),            # oos given an intent: wrong, kept -> silent error
    ]
    m = compute_metrics(golds, preds, threshold=0.3, escalation_threshold=0.7)
    assert m["n"] == 6
    assert m["in_scope_accuracy"] == 0.5
    assert m["oos_recall"] == 0.5
    assert m["oos_precision"] == 0.5
    assert m["threshold"] == 0.3
    assert m["escalation_rate"] == 0.5            # items 2, 4, 5
    assert m["escalation_rate_in_scope"] == 0.5   # items 2, 4 of 4
    assert m["selective_accuracy"] == round(2 / 3, 6)
    assert m["silent_error_rate"] == round(1 / 6, 6)
    # in-scope confidences 0.9 0.6 0.95 0.2 vs oos 0.1 0.8: 6 of 8 pairs ordered right
    assert m["auroc"] == 0.75


def test_compute_metrics_empty_denominators():
    m = compute_metrics(["a"], [P("a", 0.9)], 0.5, 0.5)
    assert m["oos_recall"] is None and m["oos_precision"] is None and m["auroc"] is None
    assert m["in_scope_accuracy"] == 1.0 and m["silent_error_rate"] == 0.0


def test_compute_metrics_length_mismatch():
    with pytest.raises(ValueError):
        compute_metrics(["a", "b"], [P("a", 0.9)], 0.5, 0.5)


def test_auroc_ties_and_extremes():
    assert auroc([1, 2, 3], [0, 0]) == 1.0
    assert auroc([0, 0], [1, 2]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5
    assert auroc([0.5, 0.7], [0.5, 0.1]) == 0.875  # (1 tie*0.5 + 1) + (1 + 1) over 4
    assert auroc([], [1.0]) is None


def test_load_pairs_splits(tmp_path):
    f = tmp_path / "d.json"
    f.write_text(json.dumps({
        "train": [["t1", "a"]], "val": [["v1", "a"], ["v2", "b"]],
        "oos_val": [["o1", "oos"]], "oos_train": [["o2", "oos"]],
    }))
    assert len(load_pairs(f)) == 5
    assert load_pairs(f, "val") == [("v1", "a"), ("v2", "b"), ("o1", "oos")]
    assert load_pairs(f, "train") == [("t1", "a"), ("o2", "oos")]
    with pytest.raises(ValueError, match="available keys: train, val, oos_val, oos_train"):
        load_pairs(f, "test")


def test_load_pairs_malformed(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"val": [["only text"]]}))
    with pytest.raises(ValueError, match=r"val\[0\]"):
        load_pairs(f)
    f.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_pairs(f)
    with pytest.raises(ValueError, match="not found"):
        load_pairs(tmp_path / "missing.json")


def test_format_table_has_every_metric():
    m = compute_metrics(["a", "oos"], [P("a", 0.9), P("oos", 0.1)], 0.5, 0.6)
    m["latency_ms"] = {"p50": 1.0, "p95": 2.0}
    m["model"] = "x@1"
    assert set(METRIC_KEYS) <= set(m)  # the spec's keys, plus counts and intervals
    t = format_table(m)
    for word in ("in-scope accuracy", "AUROC", "silent error", "x@1", "1.0000 / 2.0000", "95% CI",
                 "kept on device"):
        assert word in t


def test_load_pairs_reads_every_training_format(tmp_path):
    """edge eval reads what edge train reads: intents text (with ## oos), intents JSON,
    slot markup stripped."""
    t = tmp_path / "mine.txt"
    t.write_text("# my intents\n## lights_on\nturn on the [kitchen](room) light\n\n"
                 "## lights_off\nlights off\n## oos\nwhat is my balance\n", encoding="utf-8")
    assert load_pairs(t) == [("turn on the kitchen light", "lights_on"), ("lights off", "lights_off"),
                             ("what is my balance", "oos")]
    j = tmp_path / "mine.json"
    j.write_text(json.dumps({"lights_on": ["turn on the [kitchen](room) light"],
                             "oos": ["tell me a joke"]}), encoding="utf-8")
    assert load_pairs(j) == [("turn on the kitchen light", "lights_on"), ("tell me a joke", "oos")]
    with pytest.raises(ValueError, match="applies to"):
        load_pairs(t, "val")


def test_wilson_interval():
    assert wilson(0, 0) is None
    lo, hi = wilson(95, 100)
    assert 0.888 < lo < 0.889 and 0.978 < hi < 0.979    # the textbook 0.8882-0.9785
    lo, hi = wilson(0, 50)
    assert lo == 0.0 and 0.07 < hi < 0.072              # zero events still give an upper bound
    assert wilson(10, 10)[1] == 1.0


def test_metrics_carry_counts_and_intervals():
    golds = ["a"] * 8 + ["oos"] * 2
    preds = [P("a", 0.9)] * 7 + [P("oos", 0.1, "a")] + [P("oos", 0.1, "a"), P("a", 0.95)]
    m = compute_metrics(golds, preds, 0.5, 0.5)
    assert (m["n_in_scope"], m["n_oos"]) == (8, 2)
    assert m["oos_kept_rate"] == 0.5
    lo, hi = m["ci95"]["in_scope_accuracy"]
    assert lo < m["in_scope_accuracy"] < hi
    assert set(m["ci95"]) >= {"in_scope_accuracy", "oos_recall", "escalation_rate_in_scope",
                              "silent_error_rate", "oos_kept_rate"}


def test_eval_reports_slots_when_the_data_mark_them(tmp_path):
    """Markup in eval data: slot precision/recall/F1 end to end (shipped model, real runtime)."""
    from edge.evaluate import evaluate
    from edge.model import Model

    f = tmp_path / "slots.txt"
    f.write_text("## alarm\nset an alarm for [7 am](time)\nwake me up at [6:30](time)\n"
                 "## oos\nwhat is the meaning of a cat\n", encoding="utf-8")
    m = evaluate(Model.load(), load_pairs(f), latency_samples=0)
    assert m["n"] == 3 and m["n_in_scope"] == 2
    assert m["slots"]["support"] == 2 and set(m["slots"]) >= {"precision", "recall", "f1", "per_slot"}
    assert "slots: precision / recall / F1" in format_table({**m, "latency_ms": {}})
    plain = evaluate(Model.load(), [(t, l) for t, l in load_pairs(f)], latency_samples=0)
    assert "slots" not in plain
