"""The student: a CNN over sentencepiece token embeddings, written with plain
TensorFlow ops chosen so that the full-integer int8 conversion has no float
islands and no division.

ids [B, L] int32 (0 = padding)
  -> E[ids] * M[ids]                 (M: constant 0/1 mask table, row 0 = 0)
  -> for k in kernels: relu(conv1d_k) * mask -> max over L, sum over L * R[n]
     (n = number of non-padding tokens, R[n] = 1/n rounded to the int8 grid
      of the table, so training sees exactly what the int8 model computes)
  -> dense + relu -> dense -> logits over labels + "oos"
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import tensorflow as tf


@dataclass
class StudentConfig:
    vocab: int
    n_classes: int
    max_len: int = 32
    dim: int = 192
    filters: int = 384
    kernels: tuple[int, ...] = (1, 2, 3)
    hidden: int = 512
    dropout: float = 0.25
    emb_dropout: float = 0.1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kernels"] = list(self.kernels)
        return d


@dataclass
class TrainConfig:
    epochs: int = 20
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    kd_temperature: float = 2.0
    hard_weight: float = 0.3
    label_smoothing: float = 0.1
    word_dropout: float = 0.1
    seed: int = 13
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = off)
    log: bool = True
    extra: dict = field(default_factory=dict)


class Student(tf.Module):
    def __init__(self, cfg: StudentConfig, seed: int = 13, init_emb: np.ndarray | None = None) -> None:
        super().__init__(name="student")
        self.cfg = cfg
        g = tf.random.Generator.from_seed(seed)
        d, f, h = cfg.dim, cfg.filters, cfg.hidden

        def glorot(shape, fan_in, fan_out):
            lim = math.sqrt(6.0 / (fan_in + fan_out))
            return tf.Variable(g.uniform(shape, -lim, lim))

        if init_emb is not None:
            self.emb = tf.Variable(tf.constant(init_emb, tf.float32), name="emb")
        else:
            self.emb = tf.Variable(g.normal([cfg.vocab, d], stddev=0.1), name="emb")
        mask = np.ones([cfg.vocab, 1], np.float32)
        mask[0] = 0.0
        self.mask_table = tf.constant(mask)
        recip = np.zeros([cfg.max_len + 1, 1], np.float32)
        recip[1:, 0] = np.round(127.0 / np.arange(1, cfg.max_len + 1)) / 127.0
        self.recip_table = tf.constant(recip)
        self.convs = [(glorot([k, d, f], k * d, f), tf.Variable(tf.zeros([f]))) for k in cfg.kernels]
        n_feat = 2 * f * len(cfg.kernels)
        self.w1 = glorot([n_feat, h], n_feat, h)
        self.b1 = tf.Variable(tf.zeros([h]))
        self.w2 = glorot([h, cfg.n_classes], h, cfg.n_classes)
        self.b2 = tf.Variable(tf.zeros([cfg.n_classes]))

    def __call__(self, ids: tf.Tensor, training: bool = False, rng: tf.random.Generator | None = None):
        cfg = self.cfg
        mask = tf.gather(self.mask_table, ids)                       # [B, L, 1]
        n = tf.reduce_sum(tf.cast(tf.not_equal(ids, 0), tf.int32), axis=1)
        recip = tf.gather(self.recip_table, n)                        # [B, 1]
        x = tf.gather(self.emb, ids) * mask                           # [B, L, D]
        if training and cfg.emb_dropout > 0:
            keep = tf.cast(rng.uniform(tf.shape(x)) >= cfg.emb_dropout, tf.float32)
            x = x * keep / (1.0 - cfg.emb_dropout)
        feats = []
        for w, b in self.convs:
            hk = tf.nn.relu(tf.nn.conv1d(x, w, stride=1, padding="SAME") + b) * mask
            feats.append(tf.reduce_max(hk, axis=1))
            feats.append(tf.reduce_sum(hk, axis=1) * recip)
        z = tf.concat(feats, axis=1)
        if training and cfg.dropout > 0:
            z = z * tf.cast(rng.uniform(tf.shape(z)) >= cfg.dropout, tf.float32) / (1.0 - cfg.dropout)
        z = tf.nn.relu(tf.matmul(z, self.w1) + self.b1)
        if training and cfg.dropout > 0:
            z = z * tf.cast(rng.uniform(tf.shape(z)) >= cfg.dropout, tf.float32) / (1.0 - cfg.dropout)
        return tf.matmul(z, self.w2) + self.b2

    def save(self, path) -> None:
        """The float weights and the config (.npz), for a later re-export."""
        import json
        arrays = {f"v{i}": v.numpy() for i, v in enumerate(self.trainable_variables)}
        np.savez(path, config=np.array(json.dumps(self.cfg.to_dict())), **arrays)

    @classmethod
    def load(cls, path) -> "Student":
        import json
        z = np.load(path)
        d = json.loads(str(z["config"]))
        d["kernels"] = tuple(d["kernels"])
        st = cls(StudentConfig(**d))
        for i, v in enumerate(st.trainable_variables):
            v.assign(z[f"v{i}"])
        return st

    def n_params(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.trainable_variables))

    def predict(self, ids: np.ndarray, batch: int = 512) -> np.ndarray:
        f = getattr(self, "_predict_fn", None)
        if f is None:
            f = tf.function(lambda x: self(x, training=False),
                            input_signature=[tf.TensorSpec([None, None], tf.int32)])
            self._predict_fn = f
        return np.concatenate([f(tf.constant(ids[i:i + batch])).numpy()
                               for i in range(0, len(ids), batch)]) if len(ids) else np.zeros(
            (0, self.cfg.n_classes), np.float32)


def _log(msg: str) -> None:
    print(f"[student {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def set_threads(n: int) -> None:
    """TensorFlow's CPU threads for a training run: ``n`` for one op, one op at a time (what
    keeps 2 cores busy without oversubscribing them). TensorFlow fixes both once its runtime has
    started, so a second run in the same process (the tests, a notebook) keeps the first's
    setting instead of failing with RuntimeError."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        _log(f"TensorFlow already started in this process: keeping its {tf.config.threading.get_intra_op_parallelism_threads() or 'default'} threads (asked for {n})")


def _length_batches(lengths: np.ndarray, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of rows of similar length (sorted within chunks of 50 batches)."""
    order = rng.permutation(len(lengths))
    out = []
    for c in range(0, len(order), batch * 50):
        chunk = order[c:c + batch * 50]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[i:i + batch] for i in range(0, len(chunk), batch)]
    perm = rng.permutation(len(out))
    return [out[i] for i in perm]


def train_student(student: Student, ids: np.ndarray, soft: np.ndarray | None, hard: np.ndarray,
                  tc: TrainConfig, val_ids: np.ndarray | None = None, val_y: np.ndarray | None = None,
                  oos_index: int | None = None) -> list[dict]:
    """Train on ``ids`` [N, L]. ``soft``: teacher logits [N, C] or None;
    ``hard``: class index per row, -1 where only the teacher's label exists.
    Loss = hard_weight * CE(hard) + (1 - hard_weight) * T^2 * KL(teacher_T || student_T)
    (without a teacher: CE only)."""
    tf.random.set_seed(tc.seed)
    rng = tf.random.Generator.from_seed(tc.seed + 1)
    np_rng = np.random.default_rng(tc.seed)
    n = len(ids)
    steps = math.ceil(n / tc.batch)
    total = steps * tc.epochs
    warm = max(1, total // 30)
    sched = lambda s: tc.lr * min((s + 1) / warm, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    opt = tf.keras.optimizers.AdamW(learning_rate=tc.lr, weight_decay=tc.weight_decay, clipnorm=1.0)
    C = student.cfg.n_classes
    # the moving average smooths the last epochs' noisy steps; it is what gets exported
    shadow = [tf.Variable(v, trainable=False) for v in student.trainable_variables] if tc.ema > 0 else []
    T = tc.kd_temperature
    use_soft = soft is not None
    hw = tc.hard_weight if use_soft else 1.0
    ls = tc.label_smoothing
    wdrop = tc.word_dropout

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None, C], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def step(x, s, y):
        if wdrop > 0:  # token dropout: drop to padding, then left-pack is unnecessary for a CNN
            keep = tf.cast(rng.uniform(tf.shape(x)) >= wdrop, tf.int32)
            x2 = x * keep
            empty = tf.reduce_all(tf.equal(x2, 0), axis=1, keepdims=True)
            x = tf.where(empty, x, x2)
        with tf.GradientTape() as tape:
            logits = student(x, training=True, rng=rng)
            has = tf.cast(y >= 0, tf.float32)
            yo = tf.one_hot(tf.maximum(y, 0), C) * (1 - ls) + ls / C
            ce = -tf.reduce_sum(yo * tf.nn.log_softmax(logits), axis=1)
            loss = hw * tf.reduce_sum(ce * has) / tf.maximum(tf.reduce_sum(has), 1.0)
            if use_soft:
                pt = tf.nn.softmax(s / T)
                kl = tf.reduce_sum(pt * (tf.math.log(pt + 1e-9) - tf.nn.log_softmax(logits / T)), axis=1)
                loss += (1 - hw) * T * T * tf.reduce_mean(kl)
        grads = tape.gradient(loss, student.trainable_variables)
        opt.apply_gradients(zip(grads, student.trainable_variables))
        return loss

    @tf.function(autograph=False)
    def ema_update():
        for v, a in zip(student.trainable_variables, shadow):
            a.assign(tc.ema * a + (1.0 - tc.ema) * v)

    def swap() -> None:
        """Exchange the live weights and their moving averages."""
        for v, a in zip(student.trainable_variables, shadow):
            tmp = v.numpy()
            v.assign(a)
            a.assign(tmp)

    lengths = (ids != 0).sum(axis=1) if n else np.zeros(0, int)
    # ids are left-aligned (padding at the end), so a batch can be cut to its longest row
    history = []
    s_zero = np.zeros((1, C), np.float32)
    g = 0
    for ep in range(tc.epochs):
        t0 = time.time()
        batches = _length_batches(lengths, tc.batch, np_rng)
        tot = 0.0
        for idx in batches:
            opt.learning_rate.assign(sched(g))
            s_b = soft[idx] if use_soft else np.broadcast_to(s_zero, (len(idx), C))
            x_b = ids[idx, : max(1, int(lengths[idx].max()))]
            tot += float(step(tf.constant(x_b), tf.constant(s_b, tf.float32), tf.constant(hard[idx])))
            if shadow:
                ema_update()
            g += 1
        rec = {"epoch": ep + 1, "loss": tot / steps, "seconds": round(time.time() - t0, 1)}
        if val_ids is not None and val_y is not None:
            if shadow:
                swap()
            lg = student.predict(val_ids)
            if shadow:
                swap()
            ins = val_y != oos_index
            k = C - 1 if oos_index == C - 1 else C
            p = tf.nn.softmax(lg).numpy()
            best = p[:, :k].argmax(1)
            rec["val_acc_argmax"] = float((best[ins] == val_y[ins]).mean())
            conf = p[np.arange(len(p)), best]
            if (~ins).any():
                from edge.evaluate import auroc
                rec["val_auroc"] = auroc(conf[ins], conf[~ins])
        history.append(rec)
        if tc.log:
            _log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
    if shadow:
        swap()
    return history


def to_int8(student: Student, ids: np.ndarray | None = None, seed: int = 0,
            rep: np.ndarray | None = None) -> tuple[bytes, list[str]]:
    """(int8 TFLite model, its ops): full-integer conversion calibrated with ``rep``, or
    500 rows of ``ids`` drawn by ``seed``; fails if any non-int8 part is left."""
    from edge.train import export as X

    if rep is None:
        rng = np.random.default_rng(seed)
        rep = ids[rng.choice(len(ids), size=min(500, len(ids)), replace=False)]
    tfl = X.to_tflite(student, rep)
    ops, problems = X.op_report(tfl)
    if problems:
        raise RuntimeError("int8 conversion left non-int8 parts: " + "; ".join(problems[:10]))
    return tfl, ops
