"""The words of a span read against a language's tables (edge/names_lang.py), before any home is looked at:
which language's tables a language tag names (`language_of`), a kind word or phrase -> its Home Assistant
domain and device class (`domain_word`: plurals, and phrases said without their inner connector), and a
German compound's readings as place + kind word (`compound_splits`).

edge/names.py resolves spans against a home with these; edge.home_words, home_guard, home_numbers and
home_cloud_prompt read kind words and languages with them too (through edge.names, which re-exports
`language_of` and `domain_word`).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping

from edge.names_lang import COMMON, DEVICE_CLASSES, LANGUAGES, OTHER, DomainClass, Language

__all__ = ["compound_splits", "domain_word", "language_of"]

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def language_of(language: Any) -> Language | None:
    """"en", "de-CH", "fr_FR" -> the language's tables; "it", "nl-BE" -> OTHER (exact names only);
    None for anything that is no language tag."""
    if not isinstance(language, str) or not 2 <= len(language) <= 16:
        return None
    if language in LANGUAGES:
        return LANGUAGES[language]
    if not _LANGUAGE_TAG.match(language):
        return None
    return LANGUAGES.get(language.replace("_", "-").split("-")[0].lower(), OTHER)


def _loose_phrases(lang: Language) -> Mapping[str, DomainClass]:
    """The language's domain phrases said without their inner connector ("portes garage" for "portes de
    garage", "puerta garaje": Home Assistant's templates make that word optional). A loose form two phrases of
    different kinds share, or that is itself a word of the list, is left out: no guess."""
    if lang.code in _LOOSE:
        return _LOOSE[lang.code]
    inner = {c[0] for c in lang.connectors if len(c) == 1}
    out: dict[str, set[DomainClass]] = {}
    for phrase, hit in lang.domain_words.items():
        words = phrase.split()
        loose = " ".join(w for w in words if w not in inner)
        if len(words) > 2 and loose != phrase and loose not in lang.domain_words:
            out.setdefault(loose, set()).add(hit)
    return _LOOSE.setdefault(lang.code, MappingProxyType({k: next(iter(v)) for k, v in out.items() if len(v) == 1}))


_LOOSE: dict[str, Mapping[str, DomainClass]] = {}  # per language code, built on first use (a few dozen phrases)


def domain_word(words: str, lang: Language) -> DomainClass | None:
    """A domain word or phrase ("lights", "Rollläden", "garage door", "media_player") -> (domain, class)."""
    hit = lang.domain_words.get(words) or COMMON.get(words) or _loose_phrases(lang).get(words)
    if hit is None and words in DEVICE_CLASSES:
        hit = (DEVICE_CLASSES[words], words)
    for suffix in lang.plural_suffixes if hit is None else ():  # generic plural: "fenstern" -> "fenster"
        if words.endswith(suffix) and len(words) > len(suffix) + 2:
            hit = lang.domain_words.get(words[: -len(suffix)])
            if hit:
                break
    return hit


def compound_splits(toks: list[str], lang: Language) -> list[tuple[list[str], str]]:
    """German compounds: "wohnzimmerlampe" -> ("wohnzimmer", "lampe"), "kuchenlicht" -> ("kuche", "licht")."""
    last, out = toks[-1], []
    for w in lang.domain_words:
        if " " not in w and last.endswith(w) and len(last) - len(w) >= 3:
            stem = last[: -len(w)]
            out.append((toks[:-1] + [stem], w))
            out += [(toks[:-1] + [stem[: -len(s)]], w) for s in lang.compound_links
                    if stem.endswith(s) and len(stem) - len(s) >= 3]
    return out
