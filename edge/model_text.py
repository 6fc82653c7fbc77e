"""Text -> the ids the model reads: the one normalisation used at training and at run time, and
sentencepiece's ids padded into a batch. Split from edge/model.py (which re-exports `normalize_text`,
`encode_ids` and `MAX_TEXT_CHARS` for the training tools and tests that import them from there); no
TFLite here.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

import numpy as np
import sentencepiece as spm

_KEEP = re.compile(r"[^0-9a-z' ]+")
_SPACES = re.compile(r"\s+")
# Latin letters that do not decompose into a base letter and accents (after lower case)
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d",
                       "þ": "th", "ı": "i"})


# What can become a letter the model reads: ASCII, the Latin blocks up to the combining
# diacritical marks, Latin Extended Additional, curly quotes. Anything else (another script,
# emoji, symbols) would end as a space anyway, so whole runs of it become one space first, in
# one regex pass, before the per-character work of folding accents (33 ms for a 16 KiB text
# that NFKC expands, before; issue 21). The one difference from folding everything: a combining
# mark of another script right after a Latin letter now splits the word instead of vanishing.
_NOT_LATIN = re.compile("[^\x00-\u036f\u1e00-\u1eff\u2018\u2019]+")


def normalize_text(text: str) -> str:
    """The one text normalisation used at training and at run time.

    NFKC, lower case, accents folded (küche -> kuche, ß -> ss: German, French and
    Spanish keep their words instead of losing every accented letter; ASCII text is
    untouched), curly quotes to ', anything but [0-9a-z' ] to a space, runs of
    spaces collapsed.
    """
    text = unicodedata.normalize("NFKC", str(text)).lower()
    if not text.isascii():
        text = _NOT_LATIN.sub(" ", text)
        text = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c)).translate(_FOLD)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = _KEEP.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


# The model reads MAX_TEXT_CHARS of a text at most: its max_len pieces come from the first few
# dozen words, and normalising all of a 16 KiB request cost up to 33 ms of CPU when NFKC expands
# it (U+FDFA is 18 characters; issue 21's budget is 20 ms a request). A text whose first 2,048
# characters hold no words (emoji, another script) reads as empty: out of scope.
MAX_TEXT_CHARS = 2048


def encode_ids(sp: spm.SentencePieceProcessor, texts: Sequence[str], max_len: int) -> np.ndarray:
    """Normalise, tokenize and pad/truncate to an int32 [len(texts), max_len] array (pad 0)."""
    return _encode(sp, texts, max_len)[0]


def _encode(sp: spm.SentencePieceProcessor, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, list[int]]:
    """`encode_ids` and each row's token count (what the length bucket needs, without a numpy pass)."""
    out = np.zeros((len(texts), max_len), dtype=np.int32)
    lengths: list[int] = []
    for i, text in enumerate(texts):
        # One call per text: sentencepiece's list form starts a thread pool on every
        # call (20-30 us for one utterance against 3 us; bench/profile/hotpath.txt).
        ids = sp.encode(normalize_text(text[:MAX_TEXT_CHARS]), out_type=int)[:max_len]
        if ids:
            out[i, : len(ids)] = ids
        lengths.append(len(ids))
    return out, lengths
