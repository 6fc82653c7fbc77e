"""The kinds of thing a command names in its words ("turn off the kitchen *lights*"), as said.

A leaf of the home rules: edge/home_words.py (which re-exports it) and edge/home_numbers.py both read it, and
neither may import the other for it (tests/test_import_graph.py: no import circle).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

_MAX_TEXT = 512  # as edge.home.MAX_TEXT: decide refuses longer text before it gets here
_WORD = re.compile(r"[^\W_]+")  # the words of a text, with their offsets (names_text.tokens' split)

# Kind words that are also the verb of Home Assistant's on/off sentences: followed by a particle or an article
# ("switch off the lights upstairs", "switch our lights on") one is the verb, not a second kind of thing
# (that was refused as ambiguous: switch and light); followed by anything else it is a thing ("how many
# library switch are on").
_VERB_KINDS: Mapping[str, frozenset[str]] = {"en": frozenset({"switch"})}
_PARTICLES = frozenset({"on", "off", "out", "each", "every", "my", "our", "your"})


def _noun_before(word: str, language: Any) -> bool:
    """Is `word` one a verb never follows ("each and *every* switch off", "is *the* switch off"): a one-word
    determiner or quantifier of the language, or "each"? Then the kind word after it is a thing, not the verb."""
    return word == "each" or word in language.quantifiers or any(p == (word,) for p in language.determiners)


def implied_domains(text: str, lang: str) -> list[tuple[str, int, int]]:
    """The kinds of thing a place-only command names in its words, as said ("turn off the kitchen
    *lights*": the model tags the area, and Home Assistant would switch off everything in the
    kitchen): (the words, start, end in `text`) of the language's domain words found, one a kind."""
    from edge.names import domain_word, language_of
    from edge.names_text import clean, fold

    language = language_of(lang)
    if language is None or clean(text) is None:
        return []
    # Each word cleaned and folded on its own, so the offsets stay those of `text` ("ß" -> "ss").
    words = [(fold(clean(m.group()) or ""), m.start(), m.end()) for m in _WORD.finditer(text[:_MAX_TEXT])][:64]
    kinds: dict[str, tuple[str, int, int]] = {}
    i = 0
    while i < len(words):
        for n in (3, 2, 1):  # "garage door" before "door"; "brasseur d air" is three words
            said = " ".join(w for w, _, _ in words[i:i + n]) if len(words) - i >= n else ""
            hit = domain_word(said, language) if said else None
            if hit is not None and n == 1 and said in _VERB_KINDS.get(language.code, ()) and i + 1 < len(words) \
                    and (words[i + 1][0] in _PARTICLES or any(words[i + 1][0] == p[0] for p in language.determiners)
                         or words[i + 1][0] in language.quantifiers) \
                    and not (i > 0 and _noun_before(words[i - 1][0], language)):
                hit = None  # "switch off the lights", "switch our lights on": the verb, not a kind
            if hit is not None:
                start, end = words[i][1], words[i + n - 1][2]
                kinds.setdefault(hit[0], (text[start:end], start, end))
                i += n
                break
        else:
            i += 1
    return list(kinds.values())
