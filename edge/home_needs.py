"""What a compact pattern (edge/home_wildcards.py's carriers, edge/home_templates.py's templates) needs the text to
say before it is worth compiling: literal runs, one of each need.

A language has ~1,700 patterns; a sentence can be read by a few. Compiling each that might match costs time and
memory (a compiled template is tens of KB with its rules inlined), so both readers first check `required`'s needs
against the folded text with its blanks left out, which never rejects a pattern that matches (an optional part
or any alternative adds no need; tests/test_home_templates.py and tests/test_home_wildcards.py check it on the
package's tables).
"""

from __future__ import annotations

from typing import Any

__all__ = ["may_read", "required"]


def required(compact: str, rules: dict[str, str]) -> list[list[str]]:
    """What every sentence of a compact pattern says: a list of needs, each a few literal runs (blanks left out)
    one of which is in the text ("(?:schalte|mache)": one of the two). edge/home_templates.py and the carriers here
    try a pattern only where each need is met (in the text with its blanks left out too), so a sentence compiles the
    few patterns that can read it, not a language's 1,700."""
    needs, _ = _needs(compact, 0, rules, 0)
    return [sorted(set(n)) for n in needs if n]


def _needs(p: str, i: int, rules: dict[str, str], depth: int) -> tuple[list[list[str]], int]:
    """(needs, where it stopped) of the sequence starting at p[i], up to a `|` or `)` of its own level."""
    needs: list[list[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            needs.append(["".join(run)])
            run.clear()

    while i < len(p):
        ch = p[i]
        if ch in "|)":
            break
        if ch == "(":
            flush()
            j = i + 3 if p.startswith("(?:", i) else i + 1
            alts: list[list[list[str]]] = []
            while True:
                got, j = _needs(p, j, rules, depth)
                alts.append(got)
                if j >= len(p) or p[j] == ")":
                    break
                j += 1   # past "|"
            i = j + 1
            optional = i < len(p) and p[i] == "?"
            if optional:
                i += 1
            elif all(alts):   # one of the alternatives: each alternative's longest need stands for it
                needs.append([r for alt in alts for r in max(alt, key=lambda n: min(len(r) for r in n))])
            continue
        if ch == "{":
            flush()
            i = p.index("}", i) + 1
            continue
        if ch == "<":
            flush()
            end = p.index(">", i)
            name = p[i + 1:end]
            if depth < 10 and name in rules:
                needs.extend(_needs(rules[name], 0, rules, depth + 1)[0])
            i = end + 1
            continue
        if ch == "?":
            run[-1:] = []   # "hour" + "s?": the last letter is optional
            flush()
        elif ch.isalnum():
            run.append(ch)
        elif ch != " ":   # an optional blank leaves the run going ("what s" also reads "whats")
            flush()
        i += 1
    flush()
    return needs, i


def may_read(p: str, table: dict[str, Any], squeezed: str) -> bool:
    """Whether every need of carrier pattern `p` of the language's decoded `table` (`required`) is met in the text
    (folded, blanks out): only then is it compiled and matched. The needs are kept in the table itself, so they
    live and die with the package that has them. Measured: the Wyoming bench's twelve sentences compiled 676
    carrier patterns without this, every carrier intent's, for one unsure line (docs/model-card-home-history.md)."""
    cache = table.get(_NEEDS_KEY)
    if not isinstance(cache, dict):
        cache = table[_NEEDS_KEY] = {}
    needs = cache.get(p)
    if needs is None:
        rules = table.get("rules") or {}
        try:
            needs = required(p, rules if isinstance(rules, dict) else {})
        except (ValueError, IndexError, RecursionError):
            needs = []   # a pattern this cannot read: the regex decides, as before
        # kept as one string, needs blank-separated, each one's runs "|"-separated (runs are letters and digits),
        # as edge/home_templates.py's entries: a list of lists for each of a language's ~340-630 carriers was
        # ~130 KB of an English home daemon (docs/wyoming.md, "RSS")
        needs = cache[p] = " ".join("|".join(n) for n in needs)
    return all(any(r in squeezed for r in n.split("|")) for n in needs.split())


_NEEDS_KEY = "\0needs"   # no key of the stored table starts with a NUL
