"""Raw model latency: the TFLite interpreter alone (int8 vs float, 1 vs 2 threads), then edge.model's full path.

"Raw" rows time `set_tensor + invoke + get_tensor` on pre-tokenized ids, so
int8 and float compare like for like. The `Model.classify` rows add what the
daemon really pays per call: normalisation, sentencepiece, padding, the
dequantize and the softmax in numpy.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __name__ == "__main__":  # run as a worker under another interpreter: find edge/ and bench/ next door
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge.model import Model, encode_ids, make_interpreter, runtime_version  # noqa: E402

# The runtime edge.model picked (EDGE_TFLITE_RUNTIME chooses when both are installed), so these
# rows time what the daemon would run.
RUNTIME_LABEL = runtime_version()
# A row stops after this long (at least 200 samples): on a shared CPU the slow rows (two threads
# on two busy cores: 10-100 ms an invoke) would otherwise take minutes each.
ROW_BUDGET_NS = 8_000_000_000


@dataclass
class RawRow:
    runtime: str
    model: str
    threads: int
    p50_us: float
    p95_us: float
    batch32_per_s: float
    note: str = ""


def _interp(model_bytes: bytes, threads: int, batch: int, length: int, xnnpack: bool) -> tuple:
    it = make_interpreter(model_bytes, threads, delegates=xnnpack)
    inp = it.get_input_details()[0]
    if [int(x) for x in inp["shape"]] != [batch, length]:
        it.resize_tensor_input(inp["index"], [batch, length], strict=False)
    it.allocate_tensors()
    return it, inp["index"], it.get_output_details()[0]["index"]


def time_interpreter(model_bytes: bytes, ids: np.ndarray, threads: int, n_single: int, batch_s: float,
                     xnnpack: bool = True) -> tuple[float, float, float]:
    """(p50 µs, p95 µs) of single-utterance invokes and batch-32 utterances/s."""
    max_len = ids.shape[1]
    it, i_in, i_out = _interp(model_bytes, threads, 1, max_len, xnnpack)
    rows = [np.ascontiguousarray(ids[i:i + 1]) for i in range(len(ids))]
    for r in rows[:50]:  # warm-up: first invokes allocate and pack weights
        it.set_tensor(i_in, r)
        it.invoke()
    times = np.empty(n_single)
    clock = time.perf_counter_ns
    stop = clock() + ROW_BUDGET_NS
    k = 0
    while k < n_single and (k < 200 or clock() < stop):
        r = rows[k % len(rows)]
        t = clock()
        it.set_tensor(i_in, r)
        it.invoke()
        it.get_tensor(i_out)
        times[k] = clock() - t
        k += 1
    p50, p95 = np.percentile(times[:k], [50, 95]) / 1000
    it32, i32, o32 = _interp(model_bytes, threads, 32, max_len, xnnpack)
    batches = [np.ascontiguousarray(np.resize(ids[i:i + 32], (32, max_len))) for i in range(0, len(ids), 32)]
    for b in batches[:5]:
        it32.set_tensor(i32, b)
        it32.invoke()
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < batch_s:
        it32.set_tensor(i32, batches[n % len(batches)])
        it32.invoke()
        it32.get_tensor(o32)
        n += 1
    return float(p50), float(p95), n * 32 / (time.perf_counter() - t0)


def time_classify(model: Model, texts: list[str], n_single: int, batch_s: float) -> tuple[float, float, float]:
    for t in texts[:50]:
        model.classify([t])
    times = np.empty(n_single)
    clock = time.perf_counter_ns
    stop = clock() + ROW_BUDGET_NS
    k = 0
    while k < n_single and (k < 200 or clock() < stop):
        batch = [texts[k % len(texts)]]
        t = clock()
        model.classify(batch)
        times[k] = clock() - t
        k += 1
    p50, p95 = np.percentile(times[:k], [50, 95]) / 1000
    chunks = [texts[i:i + 32] for i in range(0, len(texts) - 31, 32)] or [(texts * 32)[:32]]
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < batch_s:
        model.classify(chunks[n % len(chunks)])
        n += 1
    return float(p50), float(p95), n * 32 / (time.perf_counter() - t0)


def classify_by_bucket(model: Model, texts: list[str], n_single: int) -> dict[int, dict[str, float]]:
    """Single-utterance `Model.classify` p50/p95 (µs) by the input length it runs at (a variable-length
    export runs at the smallest bucket holding the utterance; a fixed-length one always at max_len),
    with each bucket's share of the texts."""
    groups: dict[int, list[str]] = {}
    ids = encode_ids(model._sp, texts, model.max_len)  # noqa: SLF001
    for t, n in zip(texts, (ids != 0).sum(axis=1)):
        groups.setdefault(model.length_bucket(int(n)) if model.variable_length else model.max_len, []).append(t)
    out = {}
    clock = time.perf_counter_ns
    for bucket, group in sorted(groups.items()):
        k_n = max(200, n_single // max(1, len(groups)))
        for t in group[:20]:
            model.classify([t])
        times = np.empty(k_n)
        for k in range(k_n):
            t = group[k % len(group)]
            a = clock()
            model.classify([t])
            times[k] = clock() - a
        p50, p95 = np.percentile(times, [50, 95]) / 1000
        out[bucket] = {"p50_us": float(p50), "p95_us": float(p95), "share": len(group) / len(texts)}
    return out


def classify_breakdown(model: Model, texts: list[str], n: int) -> dict[str, float]:
    """Median µs of each stage of one single-utterance classify, measured stage by stage."""
    import edge.model as em  # looked up at call time: bench/variant.py levers may have replaced encode_ids

    sp, L = model._sp, model.max_len  # noqa: SLF001 - the benchmark looks inside on purpose
    clock = time.perf_counter_ns
    tok, inv, post = np.empty(n), np.empty(n), np.empty(n)
    for k in range(n):
        batch = [texts[k % len(texts)]]
        t0 = clock()
        ids = em.encode_ids(sp, batch, L)
        t1 = clock()
        logits = model.logits(ids)
        t2 = clock()
        z = logits / model.temperature
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        best = p[:, : len(model.labels)].argmax(axis=1)
        float(p[0, best[0]])
        t3 = clock()
        tok[k], inv[k], post[k] = t1 - t0, t2 - t1, t3 - t2
    return {"tokenize": float(np.median(tok)) / 1000, "interpreter": float(np.median(inv)) / 1000,
            "softmax": float(np.median(post)) / 1000}


def float_counterpart(model_dir: Path, assets: Path) -> tuple[bytes | None, str]:
    """The float export of the shipped network made by bench/make_float.py, if it matches this int8 model."""
    int8_sha = hashlib.sha256((model_dir / "model.tflite").read_bytes()).hexdigest()
    for meta_path in sorted(assets.glob("*.float.json")):
        meta = json.loads(meta_path.read_text())
        tfl = meta_path.with_name(meta["file"])
        if meta.get("int8_sha256") == int8_sha and tfl.exists():
            return tfl.read_bytes(), meta.get("note", "")
    return None, (f"no float counterpart of this int8 model (sha256 {int8_sha[:12]}) in {assets}: run "
                  "`.venv-train/bin/python bench/make_float.py` (needs TensorFlow)")


def run(model_dir: Path, assets: Path, texts: list[str], quick: bool, log=print, levers: str = "") -> dict:
    """All rows; with `levers` (bench/variant.py names) only the Model.classify rows, with the levers applied."""
    n_single = 300 if quick else 3000
    batch_s = 0.3 if quick else 1.5
    if levers:
        import variant

        variant.apply(set(levers.split(",")))
    model1 = Model.load(model_dir, threads=1)
    ids = encode_ids(model1._sp, texts, model1.max_len)  # noqa: SLF001
    int8 = (model_dir / "model.tflite").read_bytes()
    flt, note = float_counterpart(model_dir, assets)
    rows: list[RawRow] = []
    variants: list[tuple[str, bytes, bool]] = [("int8", int8, True)]
    if flt is not None:
        variants.append(("float32", flt, True))
    if levers:
        variants = []
    for name, blob, xnn in variants:
        for threads in (1, 2):
            log(f"  raw {name}, {threads} thread(s)...")
            rows.append(RawRow(RUNTIME_LABEL, name, threads,
                               *time_interpreter(blob, ids, threads, n_single, batch_s, xnn)))
    # The same without the XNNPACK delegate that tflite_runtime applies by default: which kernels win?
    for name, blob, _ in variants:
        log(f"  raw {name}, built-in kernels only...")
        rows.append(RawRow(RUNTIME_LABEL, name, 1, *time_interpreter(blob, ids, 1, n_single, batch_s, False),
                           note="built-in kernels (no XNNPACK)"))
    for threads in (1, 2):
        log(f"  Model.classify, {threads} thread(s)...")
        m = model1 if threads == 1 else Model.load(model_dir, threads=2)
        rows.append(RawRow(RUNTIME_LABEL, "int8 Model.classify" + (f" + {levers}" if levers else ""), threads,
                           *time_classify(m, texts, n_single, batch_s), note="tokenize + invoke + softmax"))
    log("  Model.classify by length bucket...")
    return {"runtime": RUNTIME_LABEL + (f" + {levers}" if levers else ""), "rows": rows, "float_note": note,
            "float_found": flt is not None, "breakdown": classify_breakdown(model1, texts, n_single),
            "buckets": {str(k): v for k, v in classify_by_bucket(model1, texts, n_single).items()},
            "variable_length": model1.variable_length, "model": model1.ident,
            "int8_bytes": len(int8), "float_bytes": len(flt) if flt else None}


def run_elsewhere(python: str, model_dir: Path, assets: Path, texts: list[str], quick: bool, levers: str = "",
                  runtime: str = "") -> dict:
    """The same measurements in another process: another Python (a venv), levers, or the other TFLite runtime
    (EDGE_TFLITE_RUNTIME), via JSON."""
    import os
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(texts, f)
    cmd = [python, __file__, "--model", str(model_dir), "--assets", str(assets), "--texts", f.name]
    cmd += ["--levers", levers] if levers else []
    env = dict(os.environ, EDGE_TFLITE_RUNTIME=runtime) if runtime else None
    r = subprocess.run(cmd + (["--quick"] if quick else []), capture_output=True, text=True, timeout=900, env=env)
    Path(f.name).unlink()
    if r.returncode:
        raise RuntimeError(f"{python} bench/rawmodel.py failed:\n{r.stderr[-2000:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["rows"] = [RawRow(**x) for x in d["rows"]]
    return d


def _main() -> None:
    import argparse
    from dataclasses import asdict

    ap = argparse.ArgumentParser(description="raw model timings as one JSON line (a worker for bench/run.py)")
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--assets", type=Path, required=True)
    ap.add_argument("--texts", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--levers", default="")
    a = ap.parse_args()
    d = run(a.model, a.assets, json.loads(a.texts.read_text()), a.quick, log=lambda *_: None, levers=a.levers)
    d["rows"] = [asdict(x) for x in d["rows"]]
    print(json.dumps(d))


if __name__ == "__main__":
    _main()
