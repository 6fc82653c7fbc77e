"""What `Model.classify` of one text (every request at 1 in flight) uses beyond the interpreter.

`ids_encoder`: sentencepiece's ids for a text without its Python wrapper's per-call argument
handling. `CodeSoftmax`: the softmax of one quantized output row, as `Model.scores` computes it,
in fewer numpy calls.

`Model.scores` dequantizes a batch's int8 logits in float32, divides them by the calibration
temperature, subtracts each row's max, exponentiates and divides the best in-scope label's share
by the row's sum. For a batch of one (every request at 1 in flight) that is about 10 numpy calls
on a 151-element row, and a numpy call costs 1-2 us warm but several times that in the running
daemon, whose caches other processes have walked over while it waited for the request.
`CodeSoftmax` gives the same floats, bit for bit (tests/test_model.py), from tables made once:
a one-byte output has only 256 codes, so the calibrated logit of each code is a table (the
dequantize-and-divide as one `take`), and the row's max and best in-scope label are found on the
codes' ranks with `bytes` methods (C, no numpy) instead of numpy's max and argmax.
Only numpy and sentencepiece: edge.model, the one module that imports a TFLite runtime, uses it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import sentencepiece as spm


class CodeSoftmax:
    """Softmax pieces of one int8 or uint8 output row; see the module docstring."""

    def __init__(self, dtype: np.dtype, zero: int, scale: float, temperature: float) -> None:
        codes = np.arange(256, dtype=np.uint8).view(dtype).reshape(1, 256)
        # The very arithmetic of Model.logits and Model.scores (float32, dequantize, then divide),
        # on all 256 codes at once: the same float for each code as in any row.
        self.ztab: np.ndarray = (((codes.astype(np.float32) - zero) * scale) / temperature)[0]
        # Codes by calibrated logit, lowest first (an int8 code's byte does not sort like its value),
        # and each code's rank as a bytes.translate table. (Python's sort and lists, not numpy's
        # argsort: numpy code the daemon never runs otherwise would be paged in, about 60 KB of RSS.)
        values = self.ztab.tolist()
        self.by_rank = sorted(range(256), key=values.__getitem__)
        rank = [0] * 256
        for r, c in enumerate(self.by_rank):
            rank[c] = r
        self.rank = bytes(rank)
        # For a row whose largest code has rank r: that code's calibrated logit (what z.max() gives),
        # and whether exp(z - it) keeps every lower rank strictly below the next. Then the first best
        # in-scope code is the first best probability, as argmax finds it; where exp would make two
        # codes equal (underflow, a huge scale) argmax decides instead.
        self.ztop = [self.ztab[c] for c in self.by_rank]
        self.strict: list[bool] = []
        for r in range(256):
            e = np.exp(self.ztab - self.ztop[r]).tolist()
            self.strict.append(all(e[a] < e[b] for a, b in zip(self.by_rank[:r], self.by_rank[1:r + 1])))

    def probs(self, q: np.ndarray, k: int) -> tuple[int, np.ndarray]:
        """(the best of the first `k` classes, exp(z - max z)) of one row of output codes `q` (1-D,
        a copy the caller owns); the best class's probability is `z[best] / z.sum()`."""
        raw = q.view(np.uint8)
        ranks = raw.tobytes().translate(self.rank)  # each code as its logit's rank, in C
        top = max(ranks)
        z = self.ztab.take(raw)  # == (dequantized logits) / temperature, bit for bit
        z -= self.ztop[top]  # their max, as z.max() gives it
        np.exp(z, out=z)
        in_scope = ranks[:k]
        best = in_scope.index(max(in_scope)) if self.strict[top] else int(z[:k].argmax())
        return best, z


def ids_encoder(sp: spm.SentencePieceProcessor) -> Callable[[str], list[int]]:
    """`sp.encode(text, out_type=int)` as one call into sentencepiece's C++ where the installed version
    allows it: sentencepiece 0.2's Python `Encode` resolves ten keyword arguments and picks its C++
    method on every call (3 us warm, 26 us in the running daemon, whose caches are cold when a request
    arrives). Used only when this processor's settings are the defaults the direct call passes (no
    sampling, no BOS/EOS, no reversal) and it gives `sp.encode`'s ids on probe texts; else `sp.encode`."""
    def slow(text: str) -> list[int]:
        return sp.encode(text, out_type=int)

    method = getattr(getattr(sp, "_processor", None), "_EncodeAsIds", None)
    defaults = tuple(getattr(sp, a, None) for a in ("_enable_sampling", "_add_bos", "_add_eos", "_reverse"))
    if method is None or defaults != (False, False, False, False):
        return slow

    def fast(text: str) -> list[int]:
        return method(text, False, -1, 0.1, False, False, False)  # text, sampling, nbest, alpha, bos, eos, reverse

    try:
        if all(fast(t) == slow(t) for t in ("", "warm up", "what's the weather like in paris tomorrow", "x" * 300)):
            return fast
    except Exception:  # another signature: the wrapper it is
        pass
    return slow
