"""Load a model package and classify text with it.

The only module of edge that imports a TFLite runtime (``ai_edge_litert``,
else ``tflite_runtime``; see RUNTIMES). A model package is a directory with
``model.tflite`` (full-integer int8), ``tokenizer.model`` (sentencepiece) and
``manifest.json``; see docs/model-card.md for the manifest keys.

Decision rule (also stated in every manifest under ``"decision"``): the
network outputs logits over the in-scope labels plus one trailing "oos"
class. ``confidence`` is the softmax probability, at the calibration
temperature, of the best in-scope label, computed over all classes (so mass
on the oos class lowers it). ``intent`` is "oos" when
``confidence < oos_threshold``, else the best in-scope label.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import sentencepiece as spm

from edge.digest import sha256_file
from edge.model_one import CodeSoftmax, ids_encoder
# re-exported: the training tools and tests import the text side from here
from edge.model_text import MAX_TEXT_CHARS, _encode, encode_ids, normalize_text  # noqa: F401

# Which TFLite runtime runs the model. ai-edge-litert (x86_64 and aarch64 wheels) applies
# XNNPACK's int8 kernels by default: about 7x faster here than tflite-runtime 2.14, whose
# wheels have no int8 XNNPACK path; tflite-runtime is what armv7l (32-bit Raspberry Pi OS)
# can install. pyproject.toml installs one per platform; with both installed, ai-edge-litert
# wins unless EDGE_TFLITE_RUNTIME names the other (the cross-runtime tests use both).
# Outputs differ between them by at most one int8 step in some rows (top-1 agreement
# >= 99.9% on CLINC150 val is tested: tests/test_runtime.py).
RUNTIMES = ("ai_edge_litert", "tflite_runtime")


def _load_runtime(name: str):
    if name == "ai_edge_litert":
        from ai_edge_litert import interpreter as mod
    elif name == "tflite_runtime":
        from tflite_runtime import interpreter as mod
    else:
        raise ImportError(f"unknown TFLite runtime {name!r} (one of {', '.join(RUNTIMES)})")
    return mod


def _pick_runtime():
    wanted = os.environ.get("EDGE_TFLITE_RUNTIME", "").strip()
    if wanted:
        return wanted, _load_runtime(wanted)
    for name in RUNTIMES:
        try:
            return name, _load_runtime(name)
        except ImportError:
            continue
    raise ImportError("no TFLite runtime: install ai-edge-litert (x86_64, aarch64) or tflite-runtime (armv7l)")


RUNTIME, _rt = _pick_runtime()
Interpreter = _rt.Interpreter
OpResolverType = _rt.OpResolverType

log = logging.getLogger(__name__)


def runtime_version(name: str | None = None) -> str:
    """``"ai_edge_litert 2.3.0"``: the runtime's package name and version."""
    name = name or RUNTIME
    pkg = __import__(name)
    return f"{name} {getattr(pkg, '__version__', '?')}"


def runtime_module(name: str | None = None):
    """The interpreter module of runtime ``name`` (default: the one in use)."""
    return _rt if name in (None, RUNTIME) else _load_runtime(name)


def make_interpreter(model_content: bytes, threads: int = 1, runtime: str | None = None,
                     delegates: bool = True):
    """An interpreter under ``runtime`` (default: RUNTIME). ``delegates``: let the runtime
    apply its default delegate (XNNPACK); False forces the built-in kernels."""
    mod = runtime_module(runtime)
    kw = {} if delegates else {"experimental_op_resolver_type": mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    return mod.Interpreter(model_content=model_content, num_threads=max(1, int(threads)), **kw)


__all__ = ["Model", "ModelError", "Prediction", "default_model_path", "normalize_text",
           "encode_ids", "OOS", "MANIFEST", "MODEL_FILE", "TOKENIZER_FILE", "sha256_file"]

OOS = "oos"
MANIFEST = "manifest.json"
MODEL_FILE = "model.tflite"
TOKENIZER_FILE = "tokenizer.model"
PAD_ID = 0
# A batch larger than this is run in chunks of this many rows. The interpreter's arena grows
# with the largest shape it has run (batch 32 at length 32: +1.9 MB RSS against batch 8), and
# XNNPACK gains little per utterance beyond 8 rows (docs/performance.md).
_MAX_BATCH = 8
# Sequence-length buckets for variable-length packages: a batch runs at the smallest bucket
# that holds its longest utterance (the pooling is masked, so this is exact). Few distinct
# shapes keep the interpreter's resizes rare (a resize costs 10-40 us; an invoke at length
# 8 about half of one at 32).
_LEN_BUCKETS = (8, 16, 32, 64, 128)
# A single utterance (a batch of one: every request at 1 in flight) runs at this length at least.
# Consecutive requests fall in the 8 and the 16 bucket about equally often (CLINC150's val
# utterances: 46% and 49%), so alternating buckets resized the interpreter on about half of them:
# a resize and allocate_tensors cost about 28 us warm (more on cold caches), an invoke at 16
# about 3 us more than at 8. The outputs are the same bit for bit (the pooling is masked; tested).
_ONE_MIN_LEN = 16

class ModelError(Exception):
    """A model package is missing, malformed or does not match its hashes."""


@dataclass(frozen=True, slots=True)
class Prediction:
    intent: str        # one of model.labels, or "oos"
    confidence: float  # calibrated probability of the best in-scope label (0..1)
    top_intent: str    # best in-scope label even when intent == "oos"


def default_model_path() -> Path:
    installed = Path(__file__).parent / "models" / "clinc150"
    if installed.exists():
        return installed
    return Path(__file__).resolve().parent.parent / "models" / "clinc150"


def _require(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise ModelError(f"{path}: {what}")


def _check_manifest(m: object, path: Path) -> dict:
    _require(isinstance(m, dict), path, "manifest must be a JSON object")
    assert isinstance(m, dict)
    for key in ("name", "version", "labels", "max_len", "thresholds", "calibration", "files"):
        _require(key in m, path, f"missing key {key!r}")
    _require(isinstance(m["name"], str) and m["name"] != "", path, "'name' must be a non-empty string")
    _require(isinstance(m["version"], str) and m["version"] != "", path,
             "'version' must be a non-empty string")
    langs = m.get("languages", ["en"])
    _require(isinstance(langs, list) and langs and all(isinstance(x, str) and x for x in langs),
             path, "'languages' must be a non-empty list of language tags")
    labels = m["labels"]
    _require(isinstance(labels, list) and labels and all(isinstance(x, str) and x for x in labels),
             path, "'labels' must be a non-empty list of strings")
    _require(len(set(labels)) == len(labels), path, "'labels' has duplicates")
    _require(OOS not in labels, path, "'labels' must not contain 'oos' (in-scope labels only)")
    _require(isinstance(m["max_len"], int) and not isinstance(m["max_len"], bool) and m["max_len"] > 0,
             path, "'max_len' must be a positive integer")
    th = m["thresholds"]
    _require(isinstance(th, dict), path, "'thresholds' must be an object with 'oos' and 'escalation'")
    for k in ("oos", "escalation"):
        v = th.get(k)
        _require(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0,
                 path, f"'thresholds.{k}' must be a number in [0, 1]")
    _require(th["escalation"] >= th["oos"], path, "'thresholds.escalation' must be >= 'thresholds.oos'")
    cal = m["calibration"]
    t = cal.get("temperature") if isinstance(cal, dict) else None
    _require(isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0, path,
             "'calibration.temperature' must be a positive number")
    files = m["files"]
    _require(isinstance(files, dict), path, "'files' must map file names to sha256 hex digests")
    for f in (MODEL_FILE, TOKENIZER_FILE):
        _require(f in files, path, f"'files' must list {f!r}")
    for f, digest in files.items():
        _require(isinstance(f, str) and "/" not in f and "\\" not in f and f not in ("", ".", ".."),
                 path, f"'files' entry {f!r} is not a plain file name")
        _require(isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) is not None,
                 path, f"'files.{f}' must be a lower-case sha256 hex digest")
    return m


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Model:
    """A loaded model package. ``classify`` is thread-safe (one lock)."""

    def __init__(self, path: Path, manifest: dict, model_bytes: bytes,
                 sp: spm.SentencePieceProcessor, threads: int = 1, runtime: str | None = None) -> None:
        self.path = path
        self.runtime: str = runtime or RUNTIME
        self.manifest = manifest
        self.name: str = manifest["name"]
        self.version: str = manifest["version"]
        self.labels: tuple[str, ...] = tuple(manifest["labels"])
        self.max_len: int = int(manifest["max_len"])
        self.oos_threshold: float = float(manifest["thresholds"]["oos"])
        self.escalation_threshold: float = float(manifest["thresholds"]["escalation"])
        self.temperature: float = float(manifest["calibration"]["temperature"])
        # BCP 47 primary tags the model serves, first = the default; packages from before the
        # field existed (clinc150 and `edge train` models) are English.
        self.languages: tuple[str, ...] = tuple(manifest.get("languages") or ("en",))
        self._sp = sp
        self._ids = ids_encoder(sp)
        self._bytes = model_bytes
        # TFLite's worker threads spin while they wait: with more of them than CPUs one
        # utterance took 16 ms instead of 2 (4 threads on 2 cores), so cap at the CPUs
        # this process can use. A profile's count is a ceiling, not a demand.
        self._threads = min(max(1, int(threads)), usable_cpus())
        if self._threads < int(threads):
            log.info("model.threads %d capped at %d, the CPUs this process may use",
                     int(threads), self._threads)
        self._lock = threading.Lock()
        # One interpreter, resized to each batch's (rows, length bucket) when that changes:
        # a second interpreter would hold its own arena and, under XNNPACK, its own packed
        # weights (about +2 MB RSS each) for no measurable speed.
        self._it = make_interpreter(model_bytes, self._threads, self.runtime)
        inp = self._it.get_input_details()[0]
        sig = [int(x) for x in inp.get("shape_signature", inp["shape"])]
        if len(sig) != 2 or inp["dtype"] != np.int32:
            raise ModelError(f"{path / MODEL_FILE}: expected an int32 [batch, length] input")
        # A variable-length export ([-1, -1]) runs each batch at its length bucket; an older
        # fixed-length one ([-1, max_len]) always at max_len.
        self.variable_length = sig[1] == -1
        if not self.variable_length and sig[1] != self.max_len:
            raise ModelError(f"{path / MODEL_FILE}: input length {sig[1]} "
                             f"!= manifest max_len {self.max_len}")
        self._lengths = tuple(b for b in _LEN_BUCKETS if b < self.max_len) + (self.max_len,) \
            if self.variable_length else (self.max_len,)
        self._i_in = inp["index"]
        self._shape: tuple[int, int] | None = None
        self._resize(1, self._lengths[-1])
        out = self._it.get_output_details()[0]
        self._i_out = out["index"]
        scale, zero = out["quantization"]
        self._scale, self._zero = float(scale) or 1.0, int(zero)
        n_out = int(out["shape"][-1])
        if n_out not in (len(self.labels), len(self.labels) + 1):
            raise ModelError(f"{path / MODEL_FILE}: output has {n_out} classes but the manifest "
                             f"lists {len(self.labels)} labels")
        self._has_oos_class = n_out == len(self.labels) + 1
        # A one-byte output's softmax for one row from tables of its 256 codes (edge/model_one.py);
        # None for a float output.
        dtype = np.dtype(out["dtype"])
        self._codes = CodeSoftmax(dtype, self._zero, self._scale, self.temperature) \
            if dtype.kind in "iu" and dtype.itemsize == 1 else None
        self._pad = [PAD_ID] * self.max_len
        self._one_lengths = tuple(b for b in self._lengths if b >= _ONE_MIN_LEN) or self._lengths[-1:]
        self.classify(["warm up"])

    @property
    def ident(self) -> str:
        return f"{self.name}@{self.version}"

    # -- loading ---------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 1, runtime: str | None = None) -> "Model":
        """Load and verify a package. ``runtime``: one of RUNTIMES (default: RUNTIME)."""
        path = Path(path) if path is not None else default_model_path()
        if not path.is_dir():
            raise ModelError(f"{path}: model package directory not found")
        mpath = path / MANIFEST
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{mpath}: missing") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelError(f"{mpath}: not valid JSON ({e})") from None
        _check_manifest(manifest, mpath)
        for fname, digest in manifest["files"].items():
            fpath = path / fname
            if not fpath.is_file():
                raise ModelError(f"{fpath}: missing (listed in {MANIFEST})")
            actual = sha256_file(fpath)
            if actual != digest:
                raise ModelError(f"{fpath}: sha256 mismatch (manifest {digest[:12]}..., "
                                 f"file {actual[:12]}...): the file was changed or corrupted")
        sp = spm.SentencePieceProcessor()
        try:
            sp.load(str(path / TOKENIZER_FILE))
        except Exception as e:  # sentencepiece raises OSError/RuntimeError
            raise ModelError(f"{path / TOKENIZER_FILE}: not a sentencepiece model ({e})") from None
        model_bytes = (path / MODEL_FILE).read_bytes()
        try:
            return cls(path, manifest, model_bytes, sp, threads, runtime)
        except ModelError:
            raise
        except Exception as e:
            raise ModelError(f"{path / MODEL_FILE}: cannot run the model ({e})") from None

    def _resize(self, rows: int, length: int) -> None:
        if self._shape != (rows, length):
            self._it.resize_tensor_input(self._i_in, [rows, length], strict=False)
            self._it.allocate_tensors()
            self._shape = (rows, length)

    def length_bucket(self, n_tokens: int) -> int:
        """The input length a batch whose longest row has ``n_tokens`` tokens runs at."""
        return next((b for b in self._lengths if b >= n_tokens), self._lengths[-1])

    # -- inference -------------------------------------------------------
    def logits(self, ids: np.ndarray, lengths: Sequence[int] | None = None) -> np.ndarray:
        """Dequantized logits [n, classes] for an int32 id array [n, max_len] (pad 0,
        left-aligned; `lengths`: each row's token count, when the caller knows them).
        Call with the lock held, or from one thread."""
        n = ids.shape[0]
        res = []
        for start in range(0, n, _MAX_BATCH):
            chunk = ids[start:start + _MAX_BATCH]
            length = self._lengths[-1]
            if self.variable_length:
                if lengths is not None:
                    longest = max(lengths[start:start + _MAX_BATCH], default=0)
                else:
                    longest = int(np.count_nonzero(chunk, axis=1).max()) if len(chunk) else 0
                length = self.length_bucket(longest)
            self._resize(len(chunk), length)
            self._it.set_tensor(self._i_in, np.ascontiguousarray(chunk[:, :length], dtype=np.int32))
            self._it.invoke()
            q = self._it.get_tensor(self._i_out)
            res.append((q.astype(np.float32) - self._zero) * self._scale if q.dtype != np.float32 else q.copy())
        if len(res) == 1:
            return res[0]
        return np.concatenate(res) if res else np.zeros((0, len(self.labels)), np.float32)

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(confidence [n], best in-scope index [n], empty [n]); a text with no
        tokens after normalisation gets confidence 0 and is always "oos"."""
        ids, lengths = _encode(self._sp, texts, self.max_len)
        with self._lock:
            logits = self.logits(ids, lengths)
        # Softmax in place, and only the best in-scope label's share of it: fewer numpy calls
        # and arrays, which is most of the cost at a batch of one (about 10 against 60 us invoke).
        z = logits / self.temperature  # the same arithmetic as at calibration, bit for bit
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        k = len(self.labels)
        best = z[:, :k].argmax(axis=1)
        conf = z[np.arange(len(texts)), best] / z.sum(axis=1)
        empty = np.fromiter((n == 0 for n in lengths), dtype=bool, count=len(lengths))
        conf[empty] = 0.0
        return conf, best, empty

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            return []
        if len(texts) == 1:
            return [self._classify_one(texts[0])]
        conf, best, empty = self.scores(texts)
        th = self.oos_threshold
        labels = self.labels
        return [Prediction(OOS if (c < th or e) else labels[b], float(c), labels[b])
                for c, b, e in zip(conf.tolist(), best.tolist(), empty.tolist())]

    def _classify_one(self, text: str) -> Prediction:
        """`classify` of one text (every request at 1 in flight), the same Prediction bit for bit as
        `scores` gives (tests/test_model.py compares them on the shipped packages' lines): one row
        built directly, no resize between the 8 and 16 length buckets, sentencepiece called without
        its Python wrapper, the softmax from tables of the output codes (edge/model_one.py):
        about 12 numpy calls where `scores` makes about 25 for a batch of one (each 0.5-2 us warm,
        several times that on the cold caches a request arrives to)."""
        ids = self._ids(normalize_text(text[:MAX_TEXT_CHARS]))[:self.max_len]
        n = len(ids)
        if self.variable_length:
            length = next((b for b in self._one_lengths if b >= n), self._lengths[-1])
        else:
            length = self.max_len
        row = np.array([ids + self._pad[:length - n]], dtype=np.int32)  # [1, length], padded with PAD_ID
        with self._lock:
            self._resize(1, length)
            self._it.set_tensor(self._i_in, row)
            self._it.invoke()
            q = self._it.get_tensor(self._i_out)[0]  # a copy: the interpreter's buffer is not kept
        k = len(self.labels)
        if self._codes is not None:
            best, z = self._codes.probs(q, k)
        else:  # a float output: the arithmetic of `logits` and `scores`
            z = ((q.astype(np.float32) - self._zero) * self._scale if q.dtype != np.float32 else q) / self.temperature
            z -= z.max()
            np.exp(z, out=z)
            best = int(z[:k].argmax())
        label = self.labels[best]
        if n == 0:  # no tokens after normalisation: always out of scope
            return Prediction(OOS, 0.0, label)
        conf = float(z[best] / z.sum())
        return Prediction(OOS if conf < self.oos_threshold else label, conf, label)

    def __repr__(self) -> str:
        return f"Model({self.ident!r}, path={str(self.path)!r}, labels={len(self.labels)})"
