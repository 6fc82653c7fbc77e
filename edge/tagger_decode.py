"""Decoding a linear chain over words: `viterbi` (the best tag path) and `path_marginals` (how sure each
word's tag on that path is, by forward-backward). Pure numpy over score arrays: emissions [T, K],
transitions [K, K] (from, to), start scores [K].

The run-time tagger (edge/tagger.py, which re-exports both) and training (edge/train/slots.py) decode
with the same functions, so a trained tagger's path is the one the device finds.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["viterbi", "path_marginals"]

_ARANGE = [np.arange(k) for k in range(64)]  # row indices of a [K, K] step, by K


def viterbi(E: np.ndarray, trans: np.ndarray, start: np.ndarray) -> list[int]:
    """Best tag path for emissions E [T, K], transitions [K, K] (from, to) and start scores [K].

    The scores of every step (transitions plus the step's emissions) are made in one numpy call;
    each word then costs an add, an argmax (the back pointers) and a gather of the maxima:
    numpy's argmax is several times cheaper than its max-reduction on arrays this small."""
    T, K = E.shape
    delta = start + E[0]
    if T == 1:
        return [int(delta.argmax())]
    rows = _ARANGE[K] if K < len(_ARANGE) else np.arange(K)
    backs = []
    for m in trans.T + E[1:, :, None]:  # [to, from] of each step
        s = m + delta
        best = s.argmax(axis=1)
        backs.append(best)
        delta = s[rows, best]
    k = int(delta.argmax())
    path = [k]
    for b in reversed(backs):
        k = int(b[k])
        path.append(k)
    path.reverse()
    return path


def path_marginals(E: np.ndarray, trans: np.ndarray, start: np.ndarray, path: Sequence[int]) -> list[float]:
    """P(word t has tag path[t] | the words) for each t, by forward-backward over the same scores
    Viterbi decodes (emissions E [T, K], transitions [K, K] from -> to, start [K]), as log-potentials.

    A slot's confidence is the mean of its words' marginals. The softmax of a word's emissions alone
    ignores the transitions, which often carry the decision: "set a timer for 5 minutes" had its
    `minutes` span at emission-softmax 0.0 (the word "5" scores as a bare number; the preceding "for"
    and the following "minutes" pick the tag), so every English timer was refused as unsure."""
    T = E.shape[0]
    if T == 0:
        return []
    E = E.astype(np.float64)
    tr = trans.astype(np.float64)
    alpha = np.empty_like(E)
    beta = np.zeros_like(E)
    alpha[0] = start + E[0]
    for t in range(1, T):
        m = alpha[t - 1][:, None] + tr  # [from, to]
        top = m.max(axis=0)
        alpha[t] = top + np.log(np.exp(m - top).sum(axis=0)) + E[t]
    for t in range(T - 2, -1, -1):
        m = tr + (E[t + 1] + beta[t + 1])[None, :]  # [from, to]
        top = m.max(axis=1)
        beta[t] = top + np.log(np.exp(m - top[:, None]).sum(axis=1))
    last = alpha[T - 1]
    top = last.max()
    log_z = top + np.log(np.exp(last - top).sum())
    at = np.arange(T)
    return np.exp(alpha[at, path] + beta[at, path] - log_z).clip(0.0, 1.0).tolist()
