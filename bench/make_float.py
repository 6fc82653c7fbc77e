"""Make the float32 counterpart of a shipped int8 model, for the raw-latency comparison (one-off; needs TensorFlow).

    .venv-train/bin/python bench/make_float.py [--model models/clinc150] [--out bench/assets]

With ``--student FILE.npz`` (the float weights ``edge train --save-student``
wrote, kept for clinc150@2.0.0 and later) the float model is those weights.
Otherwise the float model is rebuilt from the int8 file itself: every weight tensor is dequantized (q - zero) *
scale, per channel where the int8 file is per channel, loaded into the same
`edge.train.student.Student` network (its shape read off the int8 tensors),
and exported to TFLite without quantization. It is the same network with the
same (rounded) weights, computed in float: the run prints the arg-max
agreement with the int8 model as the proof. Written next to it: a
`.float.json` naming the int8 file's sha256, so bench/run.py only uses a float
file made from the model it is benchmarking. Over 5 MB of float32 weights the
file stores them as float16 (TFLite turns them back into float32 once, at
load, so the kernels that run are the float32 ones) to keep the repository
small; the JSON says which.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tensorflow as tf  # noqa: E402

from edge.train import export  # noqa: E402
from edge.train.student import Student, StudentConfig  # noqa: E402

MAX_BYTES = 5 * 2**20


def dequantize(it: tf.lite.Interpreter, t: dict) -> np.ndarray:
    try:
        return export.dequantize(it, t)
    except ValueError as e:
        raise SystemExit(f"{e}; cannot rebuild") from None


def read_int8(model_bytes: bytes, max_len: int | None = None) -> tuple[StudentConfig, dict[str, np.ndarray | list], tf.lite.Interpreter]:
    it = tf.lite.Interpreter(model_content=model_bytes)
    it.allocate_tensors()
    td = {t["index"]: t for t in it.get_tensor_details()}
    ops = it._get_ops_details()  # noqa: SLF001 - the only way to walk the graph from Python
    ids_index = it.get_input_details()[0]["index"]
    if max_len is None:  # a variable-length export ([-1, -1]) says nothing: take the manifest's
        max_len = int(it.get_input_details()[0]["shape"][1])
    emb = None
    convs: list[tuple[np.ndarray, np.ndarray]] = []
    fcs: list[tuple[np.ndarray, np.ndarray | None]] = []
    for op in ops:
        ins = [i for i in op["inputs"]]
        if op["op_name"] == "GATHER" and ins[1] == ids_index and len(td[ins[0]]["shape"]) == 2 \
                and td[ins[0]]["shape"][1] > 1:
            emb = dequantize(it, td[ins[0]])
        elif op["op_name"] == "CONV_2D":
            w = dequantize(it, td[ins[1]])  # [filters, 1, k, dim]
            b = dequantize(it, td[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else np.zeros(w.shape[0], np.float32)
            convs.append((np.transpose(w[:, 0], (1, 2, 0)), b))  # -> [k, dim, filters]
        elif op["op_name"] == "FULLY_CONNECTED":
            w = dequantize(it, td[ins[1]])  # [out, in]
            b = dequantize(it, td[ins[2]]) if len(ins) > 2 and ins[2] >= 0 else None
            fcs.append((w.T, b))
    if emb is None or not convs or len(fcs) != 2:
        raise SystemExit("the int8 model is not the Student network (embedding, convolutions, two dense layers)")
    cfg = StudentConfig(vocab=emb.shape[0], n_classes=fcs[1][0].shape[1], max_len=max_len, dim=emb.shape[1],
                        filters=convs[0][0].shape[2], kernels=tuple(int(w.shape[0]) for w, _ in convs),
                        hidden=fcs[0][0].shape[1])
    return cfg, {"emb": emb, "convs": convs, "fcs": fcs}, it


def build(cfg: StudentConfig, w: dict) -> Student:
    s = Student(cfg)
    s.emb.assign(w["emb"])
    for (wv, bv), (kw, kb) in zip(s.convs, w["convs"]):
        wv.assign(kw)
        bv.assign(kb)
    (w1, b1), (w2, b2) = w["fcs"]
    s.w1.assign(w1)
    s.w2.assign(w2)
    s.b1.assign(b1 if b1 is not None else np.zeros(cfg.hidden, np.float32))
    s.b2.assign(b2 if b2 is not None else np.zeros(cfg.n_classes, np.float32))
    return s


def export_float(s: Student, half: bool) -> bytes:
    fn = tf.function(lambda ids: s(ids, training=False),
                     input_signature=[tf.TensorSpec([None, s.cfg.max_len], tf.int32, name="ids")])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], s)
    if half:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


def logits(it_bytes: bytes, ids: np.ndarray) -> np.ndarray:
    it = tf.lite.Interpreter(model_content=it_bytes)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(inp["index"], list(ids.shape), strict=False)
    it.allocate_tensors()
    it.set_tensor(inp["index"], ids)
    it.invoke()
    q = it.get_tensor(out["index"]).astype(np.float32)
    scale, zero = out["quantization"]
    return (q - zero) * scale if out["dtype"] != np.float32 else q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "clinc150")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "assets")
    ap.add_argument("--student", type=Path, default=None,
                    help="the float weights saved by edge train --save-student (.npz)")
    args = ap.parse_args()
    manifest = json.loads((args.model / "manifest.json").read_text())
    int8 = (args.model / "model.tflite").read_bytes()
    if args.student is not None:
        s = Student.load(args.student)
        cfg = s.cfg
        print(f"loaded float weights {args.student}: {cfg}")
    else:
        cfg, weights, _ = read_int8(int8, int(manifest["max_len"]))
        print(f"rebuilt {cfg}")
        s = build(cfg, weights)
    import sentencepiece as spm

    from edge.model import encode_ids

    sp = spm.SentencePieceProcessor()
    sp.load(str(args.model / "tokenizer.model"))
    data = ROOT.parent / "shared" / "datasets" / "clinc150" / "data.json"
    texts = [t for t, _ in json.loads(data.read_text())["val"]][:1000] if data.exists() else ["set an alarm"] * 8
    ids = encode_ids(sp, texts, cfg.max_len)
    half = False
    blob = export_float(s, half)
    if len(blob) > MAX_BYTES:
        half = True
        blob = export_float(s, half)
    agree = float((logits(blob, ids).argmax(1) == logits(int8, ids).argmax(1)).mean())
    print(f"float export: {len(blob) / 2**20:.2f} MB ({'float16 storage' if half else 'float32'}); "
          f"arg-max agreement with int8 on {len(ids)} utterances: {agree:.4f}")
    if agree < 0.9:
        raise SystemExit("float and int8 disagree too often: the rebuild does not match the int8 graph")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{manifest['name']}-{manifest['version']}"
    for old in args.out.glob("*.float.json"):  # one float counterpart: the shipped model's; drop stale ones
        if old.name != f"{stem}.float.json":
            stale = json.loads(old.read_text()).get("file", "")
            (args.out / stale).unlink(missing_ok=True)
            old.unlink()
            print(f"removed stale {old.name} and {stale}")
    (args.out / f"{stem}.float.tflite").write_bytes(blob)
    note = ("float32 weights" if not half else
            "weights stored as float16, dequantized once at load: float32 kernels run")
    meta = {"file": f"{stem}.float.tflite", "int8_sha256": hashlib.sha256(int8).hexdigest(),
            "weights": (f"float weights saved by the training run ({args.student.name})" if args.student
                        else "dequantized from the int8 file"),
            "config": cfg.to_dict(), "argmax_agreement_with_int8": agree, "n_checked": len(ids), "note": note}
    (args.out / f"{stem}.float.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out / meta['file']}")


if __name__ == "__main__":
    main()
