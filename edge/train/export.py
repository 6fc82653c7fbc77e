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


ALLOWED_OPS = {"GATHER", "MUL", "CONV_2D", "EXPAND_DIMS", "RESHAPE", "SQUEEZE", "REDUCE_MAX", "SUM",
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


def tflite_logits(model_bytes: bytes, ids: np.ndarray, delegates: bool = True) -> np.ndarray:
    """Dequantized logits of the int8 model (batch resized to len(ids)), under the default
    runtime (its default delegate unless ``delegates`` is False)."""
    it = make_interpreter(model_bytes, 2, delegates=delegates)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], list(ids.shape), strict=False)
    it.allocate_tensors()
    out = it.get_output_details()[0]
    it.set_tensor(inp["index"], ids.astype(np.int32))
    it.invoke()
    q = it.get_tensor(out["index"]).astype(np.float32)
    scale, zero = out["quantization"]
    return (q - zero) * scale


def variable_length(model_bytes: bytes) -> bytes:
    """A fixed-length export ([-1, max_len] in, RESHAPE to [-1, max_len, filters] after each
    convolution) turned into a variable-length one: each such RESHAPE becomes a SQUEEZE of
    axis 1 and max_len becomes -1 in every shape signature. Same weights, same ops otherwise,
    so the int8 logits at max_len are unchanged (checked by the caller)."""
    from tensorflow.lite.python import schema_py_generated as S  # noqa: N812
    from tensorflow.lite.tools import flatbuffer_utils as fu

    m = fu.convert_bytearray_to_object(bytearray(model_bytes))
    sg = m.subgraphs[0]
    inp = sg.tensors[sg.inputs[0]]
    sig = list(inp.shapeSignature if inp.shapeSignature is not None else inp.shape)
    if len(sig) != 2 or sig[1] == -1:
        return model_bytes  # already variable length (or not this network)
    L = int(sig[1])

    def code_index(builtin: int) -> int:
        for i, c in enumerate(m.operatorCodes):
            if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin:
                return i
        c = S.OperatorCodeT()
        c.builtinCode = builtin
        c.deprecatedBuiltinCode = min(builtin, 127)
        c.version = 1
        m.operatorCodes.append(c)
        return len(m.operatorCodes) - 1

    reshape = [i for i, c in enumerate(m.operatorCodes)
               if max(c.builtinCode, c.deprecatedBuiltinCode) == S.BuiltinOperator.RESHAPE]
    squeeze = None
    for op in sg.operators:
        if op.opcodeIndex not in reshape:
            continue
        src, dst = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
        s_in = list(src.shapeSignature if src.shapeSignature is not None else src.shape)
        s_out = list(dst.shapeSignature if dst.shapeSignature is not None else dst.shape)
        if not (len(s_in) == 4 and s_in[1] == 1 and s_out == [s_in[0], s_in[2], s_in[3]] and s_in[2] == L):
            raise ValueError(f"a RESHAPE {s_in} -> {s_out} that is not a squeeze of axis 1: not this network")
        if squeeze is None:
            squeeze = code_index(S.BuiltinOperator.SQUEEZE)
        op.opcodeIndex = squeeze
        op.inputs = [op.inputs[0]]
        op.builtinOptionsType = S.BuiltinOptions.SqueezeOptions
        op.builtinOptions = S.SqueezeOptionsT()
        op.builtinOptions.squeezeDims = [1]
    for t in sg.tensors:
        s = t.shapeSignature if t.shapeSignature is not None else None
        if s is not None and len(s) >= 2 and s[0] == -1:
            t.shapeSignature = [-1 if (d == L and k >= 1) else d for k, d in enumerate(s)]
    return bytes(fu.convert_object_to_bytearray(m))


def dequantize(it, t: dict) -> np.ndarray:
    """A quantized tensor of an allocated interpreter as float32: (q - zero) * scale, per channel
    along its quantized dimension. ValueError for a tensor that is not quantized."""
    q = it.get_tensor(t["index"]).astype(np.float64)
    qp = t["quantization_parameters"]
    scales, zeros, dim = np.asarray(qp["scales"]), np.asarray(qp["zero_points"]), qp["quantized_dimension"]
    if scales.size == 0:
        raise ValueError(f"tensor {t['name']} is not quantized")
    shape = [1] * q.ndim
    if scales.size > 1:
        shape[dim] = scales.size
    return ((q - zeros.reshape(shape)) * scales.reshape(shape)).astype(np.float32)


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


def convert_package(pkg: Path, out: Path | None = None, check_texts: list[str] | None = None) -> dict:
    """Rewrite a fixed-length package as variable-length (``variable_length``), in place or to
    ``out``; with ``check_texts`` the int8 logits of every text at its length bucket must equal
    the original's at max_len, under the built-in kernels and under the runtime's default
    delegate (XNNPACK), else ValueError and nothing is written."""
    from edge.model import Model, encode_ids

    pkg = Path(pkg)
    blob = (pkg / MODEL_FILE).read_bytes()
    new = variable_length(blob)
    if check_texts:
        import sentencepiece as spm

        manifest = json.loads((pkg / MANIFEST).read_text(encoding="utf-8"))
        sp = spm.SentencePieceProcessor()
        sp.load(str(pkg / TOKENIZER_FILE))
        ids = encode_ids(sp, check_texts, int(manifest["max_len"]))
        buckets = sorted({b for b in (8, 16, 32, 64, 128) if b < ids.shape[1]} | {ids.shape[1]})
        at = np.array([next(b for b in buckets if b >= n) for n in (ids != 0).sum(axis=1)])
        for delegates in (False, True):  # built-in kernels, and the runtime's XNNPACK
            want = tflite_logits(blob, ids, delegates=delegates)
            got = np.zeros_like(want)
            for b in buckets:
                sel = np.where(at == b)[0]
                if len(sel):
                    got[sel] = tflite_logits(new, ids[sel, :b], delegates=delegates)
            if not np.array_equal(got, want):
                raise ValueError(f"{pkg}: the variable-length conversion changes "
                                 f"{int((got != want).any(axis=1).sum())} of {len(ids)} rows; not written")
    out = Path(out) if out is not None else pkg
    if out != pkg:
        out.mkdir(parents=True, exist_ok=True)
        for f in pkg.iterdir():
            if f.is_file() and f.name != MODEL_FILE:
                shutil.copyfile(f, out / f.name)
    (out / MODEL_FILE).write_bytes(new)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"] = {**manifest["files"], MODEL_FILE: sha256_file(out / MODEL_FILE)}
    if isinstance(manifest.get("input"), dict):
        manifest["input"] = {**manifest["input"], "shape": input_signature(new)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    Model.load(out)  # loads, hashes match, runs
    return manifest


def main(argv: list[str] | None = None) -> int:
    """``python -m edge.train.export PKG [--out DIR] [--check DATA.json]``: make a fixed-length
    package variable-length (same weights; checked bit-identical on DATA's val texts)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m edge.train.export", description=main.__doc__.splitlines()[0])
    ap.add_argument("pkg", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--check", type=Path, help="CLINC150-format JSON: its val (+ oos_val) texts are checked")
    a = ap.parse_args(argv)
    texts = None
    if a.check:
        d = json.loads(a.check.read_text(encoding="utf-8"))
        texts = [t for split in ("val", "oos_val") for t, _ in d.get(split, [])]
    m = convert_package(a.pkg, a.out, texts)
    print(f"{a.out or a.pkg}: input {m.get('input', {}).get('shape')}, model.tflite {m['files'][MODEL_FILE][:12]}"
          + (f"; {len(texts)} texts bit-identical at their length buckets" if texts else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
