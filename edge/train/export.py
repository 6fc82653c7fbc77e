"""Full-integer int8 TFLite conversion, op checks, and the model package.

The network is exported with a variable sequence length (input shape
``[-1, -1]``): the student's pooling is masked (padding contributes exactly
zero to every feature), so running an utterance at its own length, rounded up
to a length bucket, gives the same int8 logits as padding it to ``max_len``,
for a fraction of the convolution work (docs/performance.md). The
convolutions are written as 2-D convolutions over a ``[B, 1, L, D]`` view, so
the converter fuses bias and ReLU into ``CONV_2D`` and emits no ``RESHAPE`` to
a fixed length (``tf.nn.conv1d`` leaves a squeeze to ``[-1, max_len,
filters]`` behind). Calibration still feeds full ``max_len`` rows, so the
quantisation parameters, and the logits at ``max_len``, are those of a
fixed-length export of the same weights. ``edge.model`` runs fixed-length
packages (``clinc150@1.1.0`` and older) as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from edge.model import MANIFEST, MODEL_FILE, TOKENIZER_FILE, make_interpreter, runtime_version, sha256_file

# Ops that may legitimately carry int32/bool tensors (indices, lengths).
_INDEX_OPS = {"GATHER", "NOT_EQUAL", "CAST", "SUM"}
_CNN_ATTRS = ("mask_table", "recip_table", "emb", "convs", "w1", "b1", "w2", "b2")


def _variable_length_forward(student):
    """The student's inference graph with 2-D convolutions, or None when the
    student is not the masked CNN of edge.train.student (then the caller
    exports ``student`` itself at a fixed length)."""
    if not all(hasattr(student, a) for a in _CNN_ATTRS):
        return None

    def forward(ids):
        mask = tf.gather(student.mask_table, ids)                     # [B, L, 1]
        n = tf.reduce_sum(tf.cast(tf.not_equal(ids, 0), tf.int32), axis=1)
        recip = tf.gather(student.recip_table, n)                     # [B, 1]
        x4 = tf.expand_dims(tf.gather(student.emb, ids) * mask, 1)    # [B, 1, L, D]
        m4 = tf.expand_dims(mask, 1)                                  # [B, 1, L, 1]
        feats = []
        for w, b in student.convs:                                    # w: [k, D, F]
            hk = tf.nn.relu(tf.nn.conv2d(x4, tf.expand_dims(w, 0), strides=1, padding="SAME") + b) * m4
            feats.append(tf.reduce_max(hk, axis=[1, 2]))
            feats.append(tf.reduce_sum(hk, axis=[1, 2]) * recip)
        z = tf.nn.relu(tf.matmul(tf.concat(feats, axis=1), student.w1) + student.b1)
        return tf.matmul(z, student.w2) + student.b2

    return forward


def to_tflite(student, rep_ids: np.ndarray, batch: int = 1, variable_length: bool = True) -> bytes:
    """Convert with int8 weights and activations, int32 ids in, int8 logits out.

    ``variable_length``: input ``[-1, -1]`` (see the module doc) when the
    student is the masked CNN and its rewritten graph matches ``student`` on
    ``rep_ids`` in float; otherwise, or when False, ``[-1, max_len]``."""
    L = student.cfg.max_len
    fn = None
    if variable_length:
        fwd = _variable_length_forward(student)
        if fwd is not None:
            probe = tf.constant(np.asarray(rep_ids[:64], np.int32))
            want = student(probe, training=False).numpy()
            got = fwd(probe).numpy()
            if np.allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max()))):
                fn = tf.function(fwd, input_signature=[tf.TensorSpec([None, None], tf.int32, name="ids")])
    if fn is None:
        fn = tf.function(lambda ids: student(ids, training=False),
                         input_signature=[tf.TensorSpec([None, L], tf.int32, name="ids")])
    conc = fn.get_concrete_function()

    def rep():
        for i in range(len(rep_ids)):
            yield [rep_ids[i:i + 1].astype(np.int32)]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([conc], student)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # the int32 ids input is left as it is (inference_input_type applies to float inputs)
    conv.inference_output_type = tf.int8
    return conv.convert()


ALLOWED_OPS = {"GATHER", "MUL", "CONV_2D", "EXPAND_DIMS", "RESHAPE", "REDUCE_MAX", "SUM",
               "NOT_EQUAL", "CAST", "CONCATENATION", "FULLY_CONNECTED"}


def op_report(model_bytes: bytes) -> tuple[list[str], list[str]]:
    """(op names, problems). A problem: a float tensor anywhere, an op outside
    ALLOWED_OPS (e.g. QUANTIZE/DEQUANTIZE islands), or a non-int8 output of an
    op outside the index path (NOT_EQUAL -> CAST -> SUM of token counts)."""
    it = make_interpreter(model_bytes, delegates=False)  # the graph's own ops, not XNNPACK's DELEGATE
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    names, problems = [], []
    for t in tensors.values():
        if np.dtype(t["dtype"]) in (np.dtype(np.float32), np.dtype(np.float16)):
            problems.append(f"float tensor {t['name']}")
    for op in it._get_ops_details():
        name = op["op_name"]
        names.append(name)
        if name not in ALLOWED_OPS:
            problems.append(f"unexpected op {name}")
        if name in _INDEX_OPS and name != "GATHER":
            continue
        for idx in op["outputs"]:
            if idx >= 0 and np.dtype(tensors[idx]["dtype"]) != np.dtype(np.int8):
                problems.append(f"{name} outputs {np.dtype(tensors[idx]['dtype'])} ({tensors[idx]['name']})")
    return names, problems


def tflite_logits(model_bytes: bytes, ids: np.ndarray) -> np.ndarray:
    """Dequantized logits of the int8 model (batch resized to len(ids))."""
    it = make_interpreter(model_bytes, 2)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], list(ids.shape), strict=False)
    it.allocate_tensors()
    out = it.get_output_details()[0]
    it.set_tensor(inp["index"], ids.astype(np.int32))
    it.invoke()
    q = it.get_tensor(out["index"]).astype(np.float32)
    scale, zero = out["quantization"]
    return (q - zero) * scale


def input_signature(model_bytes: bytes) -> list[int]:
    """The input's shape signature: [-1, -1] for a variable-length export, [-1, max_len] otherwise."""
    it = make_interpreter(model_bytes, delegates=False)
    return [int(x) for x in it.get_input_details()[0]["shape_signature"]]


def write_package(out_dir: Path, model_bytes: bytes, tokenizer_path: Path, manifest: dict) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).write_bytes(model_bytes)
    if Path(tokenizer_path).resolve() != (out_dir / TOKENIZER_FILE).resolve():
        shutil.copyfile(tokenizer_path, out_dir / TOKENIZER_FILE)
    manifest = dict(manifest)
    if isinstance(manifest.get("input"), dict):  # what the file really takes: [-1, -1] when variable length
        manifest["input"] = {**manifest["input"], "shape": input_signature(model_bytes)}
    # the runtime this process calibrates and evaluates with (edge.model.RUNTIME): the
    # thresholds and val metrics are exact under it; others agree on >= 99.9% of top-1
    manifest["runtime"] = runtime_version()
    manifest["files"] = {MODEL_FILE: sha256_file(out_dir / MODEL_FILE),
                         TOKENIZER_FILE: sha256_file(out_dir / TOKENIZER_FILE)}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def package_size(out_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(out_dir).iterdir() if p.is_file())
