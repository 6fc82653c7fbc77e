"""The int8 export: variable sequence length, exact against a fixed-length export."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from edge.model import make_interpreter  # noqa: E402
from edge.train import export as X  # noqa: E402
from edge.train.student import Student, StudentConfig  # noqa: E402

VOCAB, L = 300, 32


def _ids(rng, n):
    ids = np.zeros((n, L), np.int32)
    for i in range(n):
        k = int(rng.integers(1, L + 1))
        ids[i, :k] = rng.integers(1, VOCAB, k)
    return ids


def _run(blob, rows, length):
    it = make_interpreter(blob)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], [len(rows), length], strict=False)
    it.allocate_tensors()
    it.set_tensor(inp["index"], np.ascontiguousarray(rows[:, :length]))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


@pytest.fixture(scope="module")
def exports():
    cfg = StudentConfig(vocab=VOCAB, n_classes=7, max_len=L, dim=16, filters=24, hidden=32)
    student = Student(cfg, seed=3)
    rep = _ids(np.random.default_rng(0), 120)
    return X.to_tflite(student, rep), X.to_tflite(student, rep, variable_length=False)


def test_variable_length_export_is_int8_and_exact(exports):
    var, fixed = exports
    assert X.input_signature(var) == [-1, -1]
    assert X.input_signature(fixed) == [-1, L]
    ops, problems = X.op_report(var)
    assert problems == []
    assert "RESHAPE" not in ops and "CONV_2D" in ops
    ids = _ids(np.random.default_rng(1), 60)
    full_var, full_fixed = _run(var, ids, L), _run(fixed, ids, L)
    # same quantisation parameters: identical int8 logits at max_len
    assert np.array_equal(full_var, full_fixed)
    # masked pooling: cutting a row to its length bucket changes nothing
    lengths = (ids != 0).sum(axis=1)
    for row, n in zip(ids, lengths):
        for bucket in (8, 16, 32):
            if n <= bucket:
                assert np.array_equal(_run(var, row[None], bucket)[0], _run(var, row[None], L)[0])
                break


def test_fixed_export_converts_to_variable_length_exactly(exports):
    var, fixed = exports
    conv = X.variable_length(fixed)
    assert X.input_signature(conv) == [-1, -1]
    ops, problems = X.op_report(conv)
    assert problems == [] and "RESHAPE" not in ops and "SQUEEZE" in ops
    assert X.variable_length(var) == var  # already variable length: unchanged
    ids = _ids(np.random.default_rng(2), 40)
    full = _run(fixed, ids, L)
    for row, want in zip(ids, full):
        n = int((row != 0).sum())
        b = next(b for b in (8, 16, 32) if b >= n)
        assert np.array_equal(_run(conv, row[None], b)[0], want)


def test_convert_package_checks_and_rewrites(tmp_path):
    """A fixed-length package (as every package before 2.0.0 was) becomes variable-length with
    the same outputs. The shipped package is variable-length already, so a fixed-length one is
    made here: the shipped tokenizer and manifest around a small fixed-length student."""
    import hashlib
    import json
    import shutil

    import sentencepiece as spm

    from edge.model import MANIFEST, Model, default_model_path

    src = default_model_path()
    fixed = tmp_path / "fixed"
    shutil.copytree(src, fixed)
    manifest = json.loads((fixed / MANIFEST).read_text())
    sp = spm.SentencePieceProcessor()
    sp.load(str(fixed / "tokenizer.model"))
    cfg = StudentConfig(vocab=sp.get_piece_size(), n_classes=len(manifest["labels"]) + 1,
                        max_len=int(manifest["max_len"]), dim=16, filters=24, hidden=32)
    rep = np.random.default_rng(4).integers(1, cfg.vocab, (120, cfg.max_len)).astype(np.int32)
    blob = X.to_tflite(Student(cfg, seed=5), rep, variable_length=False)
    (fixed / "model.tflite").write_bytes(blob)
    manifest["files"]["model.tflite"] = hashlib.sha256(blob).hexdigest()
    manifest["input"]["shape"] = [-1, cfg.max_len]
    (fixed / MANIFEST).write_text(json.dumps(manifest))
    assert not Model.load(fixed).variable_length

    texts = ["set an alarm for 7 am", "what is the weather like in paris tomorrow", "",
             "how do i say thank you in french and then in german and in italian please " * 3]
    m = X.convert_package(fixed, tmp_path / "v", texts)
    assert m["input"]["shape"] == [-1, -1]
    a, b = Model.load(fixed), Model.load(tmp_path / "v")
    assert b.variable_length
    assert [(p.intent, p.confidence) for p in a.classify(texts)] == [(p.intent, p.confidence) for p in b.classify(texts)]
    assert json.loads((fixed / MANIFEST).read_text())["files"] != m["files"]
