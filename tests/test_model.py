import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edge.model import (MANIFEST, MODEL_FILE, TOKENIZER_FILE, Model, ModelError, Prediction, _encode,
                        default_model_path, normalize_text)
from edge.model_one import ids_encoder

PKG = default_model_path()
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "clinc150" / "data.json"

# Issue 13's targets are for the held-out test split (not here); these val-side bars
# are what the shipped model must clear on val and the held-out real out-of-scope
# texts (docs/model-card.md, "Against the targets").
GATE = {
    "in_scope_accuracy": 0.950,   # at the shipped oos threshold (target on test: 0.950)
    "auroc_val": 0.980,           # val's 100 oos (target on test: 0.978)
    "auroc_all_oos": 0.978,       # all 150 real oos not trained on
    "oos_recall_low": 0.60,       # lower end of the 95% interval over those 150
    "held_recall": 0.60,          # the 50 held-out OOS+ texts alone (test-like)
    "silent_at_18": 0.0185,       # silent errors at an 18% oos share, all 150 (target: 2.0%)
    "silent_at_18_held": 0.020,   # the same with the 50 held-out OOS+ texts alone
    "escalation_in_scope": 0.095, # in-scope items escalated (target: 10%)
}

# (text, intent) pairs a shipped CLINC150 model must get right
KNOWN = [
    ("how do you say thank you in french", "translate"),
    ("what's the balance in my checking account", "balance"),
    ("set an alarm for 7 am tomorrow", "alarm"),
    ("what is the weather like today", "weather"),
    ("please add milk to my shopping list", "shopping_list_update"),
    ("i need to report my card as lost", "report_lost_card"),
    ("play some music", "play_music"),
]


@pytest.fixture(scope="module")
def model():
    return Model.load()


@pytest.fixture()
def pkg_copy(tmp_path):
    dst = tmp_path / "pkg"
    shutil.copytree(PKG, dst)
    return dst


def test_shipped_package_loads(model):
    assert model.path == PKG
    assert model.ident == f"{model.name}@{model.version}"
    assert len(model.labels) == 150 and "oos" not in model.labels
    assert 0.0 <= model.oos_threshold <= model.escalation_threshold <= 1.0
    assert model.max_len > 0
    size = sum(p.stat().st_size for p in PKG.iterdir() if p.is_file())
    assert size <= 4 * 1024 * 1024
    m = model.manifest
    for key in ("name", "version", "labels", "max_len", "thresholds", "calibration", "files",
                "training", "metrics", "license"):
        assert key in m
    assert "Larson" in m["training"]["source"] and "CC BY 3.0" in m["training"]["source"]
    assert "in_scope_accuracy" in m["metrics"]["val"]


def test_model_is_full_int8():
    from edge.model import Interpreter

    it = Interpreter(model_path=str(PKG / MODEL_FILE))
    it.allocate_tensors()
    assert it.get_input_details()[0]["dtype"] == np.int32
    assert it.get_output_details()[0]["dtype"] == np.int8
    for t in it.get_tensor_details():
        assert np.dtype(t["dtype"]) != np.float32, t["name"]
    ops = {op["op_name"] for op in it._get_ops_details()}
    assert not ops & {"QUANTIZE", "DEQUANTIZE", "DIV"}


def test_known_utterances(model):
    preds = model.classify([t for t, _ in KNOWN])
    for (text, gold), p in zip(KNOWN, preds):
        assert p.intent == gold, (text, p)
        assert p.top_intent == gold


def test_val_sample_accuracy(model):
    if not DATA.is_file():
        pytest.skip(f"CLINC150 data not found at {DATA}")
    val = json.loads(DATA.read_text())["val"][::15]  # 200 items over all intents
    preds = model.classify([t for t, _ in val])
    acc = np.mean([p.intent == g for p, (_, g) in zip(preds, val)])
    assert acc >= 0.85


OOS_PLUS = DATA.parent / "oos_plus_train.json"


@pytest.fixture(scope="module")
def operating(model):
    """The shipped model's confidences on val and on the held-out real out-of-scope
    texts, through the runtime (what the daemon computes)."""
    if not (DATA.is_file() and OOS_PLUS.is_file()):
        pytest.skip(f"CLINC150 data not found next to {DATA}")
    from edge.train.oos import extra_oos

    data = json.loads(DATA.read_text())
    h = model.manifest["tuning"]["held_out_oos"]
    _, held = extra_oos(OOS_PLUS, [t for t, _ in data["train"]] + [t for t, _ in data["oos_train"]],
                        h["n"], h["seed"])
    assert len(held) == h["n"] >= 50
    val = [tuple(x) for x in data["val"]]
    preds = model.classify([t for t, _ in val])
    conf_in = np.array([p.confidence for p in preds])
    correct_in = np.array([p.top_intent == g for p, (_, g) in zip(preds, val)])
    conf_val_oos = np.array([p.confidence for p in model.classify([t for t, _ in data["oos_val"]])])
    conf_held = np.array([p.confidence for p in model.classify(held)])
    return conf_in, correct_in, conf_val_oos, conf_held


def test_shipped_model_meets_its_targets_on_val(model):
    """The whole validation split, through the same code as `edge eval`: issue 13's
    targets (AUROC with a margin for val's optimism: the held-out test split gave
    1.1.0 0.005 less than val; in-scope accuracy only at the target itself, although
    the test split gave 1.1.0 0.5 point less than val: see the model card), and the
    manifest's recorded metrics are what the shipped files really give."""
    if not DATA.is_file():
        pytest.skip(f"CLINC150 data not found at {DATA}")
    from edge.evaluate import evaluate, load_pairs

    m = evaluate(model, load_pairs(DATA, "val"))
    assert m["n"] == 3100
    assert m["in_scope_accuracy"] >= GATE["in_scope_accuracy"]
    assert m["oos_recall"] >= 0.60
    assert m["auroc"] >= GATE["auroc_val"]
    assert m["escalation_rate_in_scope"] <= GATE["escalation_in_scope"]
    recorded = model.manifest["metrics"]["val"]
    for key in ("in_scope_accuracy", "oos_recall", "auroc", "silent_error_rate",
                "escalation_rate_in_scope", "oos_kept_rate"):
        assert m[key] == pytest.approx(recorded[key], abs=1e-6), key
    assert recorded["ci95"]["in_scope_accuracy"][0] <= m["in_scope_accuracy"] <= recorded["ci95"]["in_scope_accuracy"][1]


def test_thresholds_follow_the_written_rules(model, operating):
    """The manifest's thresholds are what edge.train.operating's rules give on the
    shipped files: oos from the in-scope budget, escalation for the stated share."""
    from edge.train import operating as op

    conf_in, correct_in, conf_val_oos, conf_held = operating
    t = model.manifest["tuning"]
    th = op.oos_threshold(conf_in, correct_in, t["in_scope_budget"])
    esc = op.escalation_threshold(conf_in, correct_in, np.concatenate([conf_val_oos, conf_held]), th,
                                  t["oos_share"], t["target_silent_error"], t["max_escalation_in_scope"])
    assert (model.oos_threshold, model.escalation_threshold) == (th, esc)
    assert t["in_scope_budget"] <= 0.005 and t["oos_share"] >= 0.20 and t["max_escalation_in_scope"] <= 0.10


def test_out_of_scope_recall_on_real_requests_not_trained_on(model, operating):
    """Recall on every real out-of-scope request the model was not trained on
    (val's 100 + the held-out OOS+ texts): the lower end of its 95% interval, not
    the point estimate, clears the target; and the held-out OOS+ texts, which
    look like the test split's (median confidence under 1.1.0: 0.09, as on test,
    against val's 0.03), clear it on their own."""
    from edge.evaluate import auroc, wilson

    conf_in, _, conf_val_oos, conf_held = operating
    conf_oos = np.concatenate([conf_val_oos, conf_held])
    k = int((conf_oos < model.oos_threshold).sum())
    assert len(conf_oos) >= 150
    assert wilson(k, len(conf_oos))[0] >= GATE["oos_recall_low"]
    assert (conf_held < model.oos_threshold).mean() >= GATE["held_recall"]
    assert auroc(conf_in, conf_oos) >= GATE["auroc_all_oos"]


def test_silent_errors_with_a_fifth_out_of_scope(model, operating):
    """Silent errors (kept on the device and wrong) with 18% of the traffic out of
    scope, as in the test split (val is 3%), at the shipped escalation threshold,
    with the out-of-scope part from all 150 held-out real requests and from the
    test-like 50 alone; in-scope escalation with half a point to spare."""
    from edge.train.operating import silent_at_share

    conf_in, correct_in, conf_val_oos, conf_held = operating
    conf_oos = np.concatenate([conf_val_oos, conf_held])
    esc = model.escalation_threshold
    assert silent_at_share(conf_in, correct_in, conf_oos, esc, 0.18) <= GATE["silent_at_18"]
    assert silent_at_share(conf_in, correct_in, conf_held, esc, 0.18) <= GATE["silent_at_18_held"]
    assert (conf_in < esc).mean() <= GATE["escalation_in_scope"]


def test_batch_equals_single(model):
    texts = [t for t, _ in KNOWN] + ["what's the capital of peru", "", "zzzz qqqq", "a" * 500]
    batch = model.classify(texts)
    single = [model.classify([t])[0] for t in texts]
    assert batch == single
    # and across bucket sizes
    assert model.classify(texts * 5) == batch * 5


def _written_rule(model: Model, text: str) -> Prediction:
    """The decision rule computed as `Model.scores` computes it for a batch (and computed it for one
    text before `Model._classify_one`): float32 logits at the row's own length bucket, divided by
    the temperature, softmax over every class, the best in-scope label's share."""
    ids, lengths = _encode(model._sp, [text], model.max_len)
    z = model.logits(ids, lengths) / model.temperature
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    best = int(z[0, :len(model.labels)].argmax())
    conf = 0.0 if lengths[0] == 0 else float(z[0, best] / z.sum(axis=1)[0])
    intent = "oos" if lengths[0] == 0 or conf < model.oos_threshold else model.labels[best]
    return Prediction(intent, conf, model.labels[best])


@pytest.mark.parametrize("package", ["clinc150", "home"])
def test_one_text_path_gives_the_written_rule_bit_for_bit(package):
    """One text (every request at 1 in flight) takes its own path: no resize between the 8 and 16
    buckets, the calibrated logits from a table of the 256 codes, the softmax on one row. Its
    predictions must be the batch arithmetic's exactly: same intent, same confidence to the last bit,
    same top intent, on the package's self-test lines, CLINC150's val and out-of-scope val lines,
    and what a careless client sends (empty, symbols only, over-long, another script)."""
    m = Model.load(PKG.parent / package)
    texts = [e["text"] for e in m.manifest.get("selftest", [])]
    if package == "clinc150" and DATA.is_file():
        data = json.loads(DATA.read_text())
        texts += [t for split in ("val", "oos_val") for t, _ in data[split]]
    texts += ["", "   ", "?!.,", "\u4f60\u597d", "word " * 200, "ß" * 5000, "\U0001F600 lights"]
    assert len(texts) > (3000 if package == "clinc150" and DATA.is_file() else 100)
    lengths = set()
    for t in texts:
        got = m.classify([t])[0]
        want = _written_rule(m, t)
        assert (got.intent, got.confidence, got.top_intent) == (want.intent, want.confidence, want.top_intent), t
        lengths.add(m.length_bucket(_encode(m._sp, [t], m.max_len)[1][0]))
    assert len(lengths) >= 2  # the lines span buckets, so the skipped resizes are covered


def test_one_text_fallbacks_give_the_written_rule_too(model, monkeypatch):
    """The one-text path's fallbacks, forced on the shipped model: argmax where exp could tie two codes
    (`CodeSoftmax.strict` false), numpy's arithmetic for a float output (no code tables), and
    sentencepiece's own wrapper where the direct call is not the installed version's."""
    texts = [t for t, _ in KNOWN] + ["what's the capital of peru", "", "zzzz qqqq", "a" * 500]
    want = [_written_rule(model, t) for t in texts]
    assert model._codes is not None and all(model._codes.strict)
    monkeypatch.setattr(model._codes, "strict", [False] * 256)
    assert [model.classify([t])[0] for t in texts] == want
    monkeypatch.setattr(model, "_codes", None)
    assert [model.classify([t])[0] for t in texts] == want
    monkeypatch.setattr(model, "_ids", ids_encoder(SimpleNamespace(encode=model._sp.encode)))
    assert model._ids.__name__ == "slow"
    assert [model.classify([t])[0] for t in texts] == want
    if hasattr(model._sp, "_processor"):  # sentencepiece 0.2's direct call (0.1.97, which pyproject allows, has none)
        assert ids_encoder(model._sp).__name__ == "fast"


def test_one_text_keeps_the_interpreter_shape():
    """Texts of 8 tokens or fewer and of 9-16 tokens, one at a time, run at one shape: no resize."""
    m = Model.load()
    m.classify(["play some music"])
    shape = m._shape
    for t in ["play music", "what's the weather like in paris tomorrow afternoon please", "hi"] * 3:
        m.classify([t])
        assert m._shape == shape == (1, 16)


def test_empty_and_odd_text(model):
    odd = ["", "   ", "?!.,", "\u00e9\u00e8\u00ea \u4f60\u597d", "\x00\x01", "NUMBERS 1234567890",
           "word " * 200, "\U0001F600"]
    preds = model.classify(odd)
    assert len(preds) == len(odd)
    for p in preds:
        assert isinstance(p, Prediction)
        assert 0.0 <= p.confidence <= 1.0
        assert p.intent == "oos" or p.intent in model.labels
        assert p.top_intent in model.labels
    for p in preds[:3]:
        assert p.intent == "oos" and p.confidence == 0.0
    assert model.classify([]) == []


def test_prediction_rule(model):
    preds = model.classify(["what is the meaning of life for a penguin in the antarctic",
                            "set an alarm for 6"])
    for p in preds:
        assert (p.intent == "oos") == (p.confidence < model.oos_threshold)


def test_normalize_text():
    assert normalize_text("  What\u2019s   UP?! ") == "what's up"
    assert normalize_text("ﬁne") == "fine"


def test_tampered_file_is_refused(pkg_copy):
    data = bytearray((pkg_copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (pkg_copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"model\.tflite.*sha256 mismatch"):
        Model.load(pkg_copy)


def test_tampered_tokenizer_is_refused(pkg_copy):
    with open(pkg_copy / TOKENIZER_FILE, "ab") as f:
        f.write(b"x")
    with pytest.raises(ModelError, match=r"tokenizer\.model"):
        Model.load(pkg_copy)


def test_missing_file_is_refused(pkg_copy):
    (pkg_copy / TOKENIZER_FILE).unlink()
    with pytest.raises(ModelError, match=r"tokenizer\.model: missing"):
        Model.load(pkg_copy)


@pytest.mark.parametrize("mutate, msg", [
    (lambda m: m.pop("labels"), "missing key 'labels'"),
    (lambda m: m.__setitem__("labels", ["a", "a"]), "duplicates"),
    (lambda m: m.__setitem__("max_len", "32"), "max_len"),
    (lambda m: m["thresholds"].__setitem__("oos", 1.5), "thresholds.oos"),
    (lambda m: m["thresholds"].__setitem__("escalation", -0.1), "thresholds.escalation"),
    (lambda m: m["calibration"].__setitem__("temperature", 0), "temperature"),
    (lambda m: m["files"].__setitem__(MODEL_FILE, "abc"), "sha256"),
    (lambda m: m["files"].pop(TOKENIZER_FILE), "tokenizer.model"),
    (lambda m: m.__setitem__("labels", m["labels"][:-1]), "classes"),
])
def test_malformed_manifest_is_refused(pkg_copy, mutate, msg):
    mpath = pkg_copy / MANIFEST
    m = json.loads(mpath.read_text())
    mutate(m)
    mpath.write_text(json.dumps(m))
    with pytest.raises(ModelError, match=msg) as e:
        Model.load(pkg_copy)
    assert "manifest.json" in str(e.value) or "model.tflite" in str(e.value)


def test_unreadable_manifest_is_refused(pkg_copy, tmp_path):
    (pkg_copy / MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match="manifest.json: not valid JSON"):
        Model.load(pkg_copy)
    with pytest.raises(ModelError, match="not found"):
        Model.load(tmp_path / "nowhere")


def test_threads_option():
    m = Model.load(PKG, threads=2)
    assert m.classify(["play some music"])[0].intent == "play_music"


def test_threads_capped_at_usable_cpus():
    """More interpreter threads than CPUs makes TFLite's spinning workers fight
    (16 ms an utterance instead of 2 with 4 threads on 2 cores)."""
    import os

    from edge.model import usable_cpus

    assert usable_cpus() == len(os.sched_getaffinity(0))
    m = Model.load(PKG, threads=64)
    assert m._threads == usable_cpus()
    assert m.classify(["play some music"])[0].intent == "play_music"
