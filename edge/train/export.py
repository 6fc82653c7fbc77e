"""Full-integer int8 TFLite conversion, op checks, and the model package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from edge.model import MANIFEST, MODEL_FILE, TOKENIZER_FILE, make_interpreter, sha256_file

# Ops that may legitimately carry int32/bool tensors (indices, lengths).
_INDEX_OPS = {"GATHER", "NOT_EQUAL", "CAST", "SUM"}


def to_tflite(student, rep_ids: np.ndarray, batch: int = 1) -> bytes:
    """Convert with int8 weights and activations, int32 ids in, int8 logits out."""
    L = student.cfg.max_len
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
    it = make_interpreter(model_bytes)
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


def write_package(out_dir: Path, model_bytes: bytes, tokenizer_path: Path, manifest: dict) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).write_bytes(model_bytes)
    if Path(tokenizer_path).resolve() != (out_dir / TOKENIZER_FILE).resolve():
        shutil.copyfile(tokenizer_path, out_dir / TOKENIZER_FILE)
    manifest = dict(manifest)
    manifest["files"] = {MODEL_FILE: sha256_file(out_dir / MODEL_FILE),
                         TOKENIZER_FILE: sha256_file(out_dir / TOKENIZER_FILE)}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def package_size(out_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(out_dir).iterdir() if p.is_file())
