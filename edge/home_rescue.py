"""The model unsure, but the sentence is word for word one of Home Assistant's own templates of one intent.

Free text the model never saw (a list item, a broadcast, a search) lowers its confidence: "füge
Hafermilch zur Einkaufsliste hinzu" is refused as `unsure` although its top intent is right and the
sentence is one of HA's templates for it, which HA's own matcher would run. `rescue` takes such a
sentence: where exactly one intent with carrier patterns (edge/home_wildcards.py, the package's
`home_schema.wildcards`) has one that matches the WHOLE text, every name it frames is exactly a name of
the names file (no slip corrected), and the carrier's reading is the spans decide goes on with. That
intent may be another than the model's top one (`family`): the model's top is then often the sibling list
intent ("schreib X in Liste Haushalt": HassShoppingListAddItem on top, but "Haushalt" is a to-do list of the
file, which only HassListAddItem's templates name), and the file's list, word for word, is the anchor
Home Assistant's own matcher decides on. Everything decide checks after the model still applies.

A sure answer is handed over in two families only (`overrule`): a list intent to the sibling list intent Home
Assistant's ranking puts first, and an on/off or state answer (`STATE_FAMILY`) to the other intent of that family
whose templates alone read the whole text ("every single lights on Dining Room": a question, not HassTurnOn); and a
sure state question that dropped the state its one template reads is completed or refused
(edge/home_agree.py's `completed`).

What keeps it from acting on what is no home command, or on the wrong reading (each rule measured on the
in-template proxy's unsure lines, bench/home_proxy.py, and bench/home_proxy_other.py; docs/model-card-home-history.md):
- the carrier's own words (the template's words outside every capture) plus the names it frames must be
  at least `MIN_OWN_WORDS`: "play {search_query}" takes "play a game with me", "tell everyone {message}"
  takes "tell everyone I'm home": a verb and a wildcard say nothing a sentence does not;
- each name it frames is the names file's word for word (`said_exactly`: no slip corrected, no "Einkaufs
  Liste" for "Einkaufsliste");
- no template of another intent with carriers matches the whole text as well ("mettre X à la liste
  Tâches" is also "mettre {search_query} à {name}"), unless it frames no name where this one frames one
  (Home Assistant ranks a reading with the home's list named first);
- the tagger does not read the words otherwise (home_wildcards' `_disputed`), decide's free-text widening
  (edge/home_freetext.py) leaves the carrier's wildcard as it is, and no word of the carrier's own is a
  media class it does not capture ("lied", "playlist"), nor glued to the query in German
  ("Daviswiedergabeliste"): else Home Assistant's reply would have a slot this one lacks.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

from edge import home_agree, home_freetext, home_rivals, home_templates, home_wildcards
# re-exported: callers ask home_rescue whether the tagger disagrees with a reading
from edge.home_agree import STATE_FAMILY, tagger_disagrees
from edge.names_values_data import VALUES

__all__ = ["LIST_INTENTS", "MIN_OWN_WORDS", "REREAD", "STATE_FAMILY", "after_refusal", "family", "overrule", "ranked", "reread", "rescue",
           "tagger_disagrees"]

Read = tuple[str, list[Mapping[str, Any]], str]   # (intent, the spans to decide on, what decided it)

# The least number of the carrier's own words (the template's words outside every capture) plus the names it
# frames that a rescue stands on. Measured on the in-template proxy's unsure lines (2026-12-06, en/de/fr/es
# together, bench/home_proxy.py --failures, replies compared with the expected intent and slots): 0 -> 114 taken
# right, 1 wrong ("spiele die Nachrichten Stube ab": the query swallows the
# room); 2 -> 112 / 1; 3 -> 106 / 0; 4 -> 82 / 0. Below 3 a verb and a wildcard also take "play something".
MIN_OWN_WORDS = 3


def rescue(schema: Mapping[str, Any] | None, top_intent: str, lang: str, text: str,
           found: Sequence[Mapping[str, Any]], names: Any, templates: bool = True
           ) -> tuple[str, list[Mapping[str, Any]], str] | None:
    """(the intent, the spans to decide on, what decided it) where exactly one intent of `family` (the model's top
    intent, or another intent with carrier patterns) can stand on one of its carrier patterns although the model
    is unsure; None where none or several can (the refusal stands).

    Why a sibling may overrule the model's top intent here: the model never saw the free text (an item, a list's
    name it was not trained on), and the to-do and shopping-list intents of one act differ only in the list the
    sentence names. The anchor is the one Home Assistant's own matcher uses: the names file's list, word for word,
    inside one of the sibling's templates read whole ("schreib Bücher zurückbringen in Liste Haushalt": the model's
    top is HassShoppingListAddItem, but "Haushalt" is a to-do list of the file, which only HassListAddItem's
    templates name); likewise a list intent said where the model's top is a timer's or a light's. Every other
    rule of `_carried` holds for another intent as for the top one, and a sentence two intents' carriers read
    is refused (`_carried`'s check of every other carrier intent, and `taken` of one intent only). `templates`: where
    no carrier reads it, try the templates without a wildcard too (edge/home_templates.py); off for a sure model,
    whose own intent's templates `reread` reads with its guards."""
    got = _rescued(schema, top_intent, lang, text, found, names, templates)
    if got is None:   # several intents read it: Home Assistant's ranking, where one is strictly first
        got = ranked(schema, lang, text, found, names, tagger=False)
    if got is None:
        return None
    intent, spans, decided = got
    return intent, spans, decided if intent == top_intent else f"{decided} (over {top_intent})"


def _rescued(schema: Mapping[str, Any] | None, top_intent: str, lang: str, text: str,
             found: Sequence[Mapping[str, Any]], names: Any, templates: bool) -> Read | None:
    """`rescue` where exactly one intent reads the text (a carrier, else a template)."""
    taken = [(intent, got) for intent in family(schema, top_intent, lang)
             if (got := _carried(schema, intent, lang, text, found, names)) is not None]
    if not taken and templates:   # no carrier: a template of any intent without a wildcard, read whole
        read = home_templates.read(schema, lang, text, names)
        if read is None:
            return None
        return read.intent, read.spans, "template: " + " ".join(read.own)
    if len(taken) != 1:
        return None
    intent, (spans, decided) = taken[0]
    return intent, spans, decided


def ranked(schema: Mapping[str, Any] | None, lang: str, text: str, found: Sequence[Mapping[str, Any]], names: Any,
           tagger: bool = True) -> tuple[str, list[Mapping[str, Any]], str] | None:
    """(intent, spans, what decided it) where several intents' templates read the whole text and Home Assistant's
    ranking (edge/home_rivals.py's `rank`: a name of the file first, then fewer wildcards, more literal text, a full
    tie on the intent's name, as hassil breaks it) puts first; None for one reading or none (the callers' own rules),
    or a first reading that fails the guards of its kind (a tie's first too: no second reading is tried): a
    carrier's (`_carried`, all but its check of rival intents, which the ranking answers), a template's
    (`home_templates.anchored`, reread's), and with `tagger` the tagger's check (`tagger_disagrees`)."""
    order = home_rivals.rank(schema, lang, text, names)
    best = home_rivals.first(order)
    return None if best is None else _guarded(schema, order, lang, text, found, names, tagger)


# The list intents whose sure answers `overrule` may hand to a sibling: one act each on a to-do list of the file or
# the shopping list, told apart by the template's structure alone (HA's own ranking: the list named first)
LIST_INTENTS = frozenset({"HassListAddItem", "HassListCompleteItem", "HassListRemoveItem", "HassShoppingListAddItem",
                          "HassShoppingListCompleteItem"})


def overrule(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, found: Sequence[Mapping[str, Any]],
             names: Any) -> tuple[str, list[Mapping[str, Any]], str] | None:
    """The reading that replaces a sure model's list answer (`intent` of `LIST_INTENTS`) where Home Assistant's
    ranking of the whole text (edge/home_rivals.py's `rank`, a full tie broken on the name) puts another list
    intent first, or that intent's templates alone read it: a home whose to-do list is called what the shopping
    list's templates say ("Lista de la compra"): "apunta arroz en Lista de la compra" is HassListAddItem's "en
    {name}", "pon X en mi lista de la compra" only HassShoppingListAddItem's (no template says "mi {name}"); the
    model reads the same words for both. None where the model's intent is first, or the reading fails its guards
    (`ranked`'s, the tagger's included): the answer stands. Out-of-template words have no such reading and keep
    the model's answer. A sure answer of `STATE_FAMILY` (on, off, a state question) goes to `_unread`; any other
    intent's stands."""
    if intent not in LIST_INTENTS:
        return _unread(schema, intent, lang, text, found, names)
    order = home_rivals.rank(schema, lang, text, names, LIST_INTENTS)
    if not order or order[0].intent == intent or order[0].intent not in LIST_INTENTS:
        return None
    return _guarded(schema, order, lang, text, found, names, True)


def _unread(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, found: Sequence[Mapping[str, Any]],
            names: Any) -> Read | None:
    """The reading that replaces a sure model's answer of `STATE_FAMILY` where Home Assistant's templates of that
    family read the whole text as another of its intents and none of the model's own intent reads it: "every single
    lights on Dining Room" is only HassGetState's template, and the model's sure HassTurnOn switched the lights on
    where the user asked. HA's ranking's first (edge/home_rivals.py's `rank`) through `_guarded`'s guards, the
    tagger's included; None where the model's intent reads it too (the model's answer and HA's agree on the intent:
    its slots are decide's), or where nothing does (out-of-template words keep the model's answer)."""
    if intent not in STATE_FAMILY:
        return None
    order = home_rivals.rank(schema, lang, text, names, STATE_FAMILY)
    if not order or any(r.intent == intent for r in order):
        return None
    return _guarded(schema, order, lang, text, found, names, True)


def _guarded(schema: Mapping[str, Any] | None, order: Sequence[home_rivals.Ranked], lang: str, text: str,
             found: Sequence[Mapping[str, Any]], names: Any, tagger: bool) -> Read | None:
    """`order`'s first reading through the guards of its kind (see `ranked`), or None."""
    best = order[0]
    got: tuple[str, list[Mapping[str, Any]], str] | None = None
    if best.kind == "carrier":
        carried = _carried(schema, best.intent, lang, text, found, names, rivals=False, got=best.got)
        if carried is not None:
            got = (best.intent, carried[0], carried[1])
    else:
        # that intent's templates alone: each intent's reading is its own, and a pass over all of them again cost as
        # much as the ranking's own
        read = next((r for r in home_templates.readings(schema, lang, text, names, (best.intent,))
                     if r.intent == best.intent), None)
        if read is not None and home_templates.anchored(read):
            got = home_agree.template_spans(read, lang, text, names, found, schema)
    if got is None or tagger and home_agree.tagger_disagrees(got[1], found, text, lang):
        return None
    # a full tie is broken as hassil breaks it (the intent's name): said so, a tie is no reason of the words
    if len(order) < 2:   # `_unread`: the one reading, of another intent than the model's
        return got[0], got[1], f"{got[2]} (the only reading)"
    how = "tied with, first by name over" if home_rivals.tied(list(order)) else "ranked over"
    return got[0], got[1], f"{got[2]} ({how} {', '.join(r.intent for r in order[1:])})"


def _off_own_words(spans: Sequence[Mapping[str, Any]], got: Any) -> list[Mapping[str, Any]]:
    """A ranked carrier's spans less the tagger's names, areas and floors that lie on the carrier's own words: in Home
    Assistant's reading those words are the template's ("pon X en mi lista de la *compra*": the tagger's list
    "compra" is the shopping list template's word, and HassShoppingListAddItem has no name: left, it refused the
    reading)."""
    caps, own = got
    taken = {(a, e) for _, a, e, _ in caps}
    return [s for s in spans if not (s.get("name") in ("name", "area", "floor")
                                     and (s.get("start"), s.get("end")) not in taken
                                     and any(a <= int(s.get("start", -1)) and int(s.get("end", -1)) <= e
                                             for _, a, e in _runs(own)))]


def _runs(own: Sequence[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The carrier's own words joined into runs of adjacent words (a name of several words lies in one run)."""
    out: list[tuple[str, int, int]] = []
    for w, a, e in sorted(own, key=lambda x: x[1]):
        if out and a - out[-1][2] <= 1:
            out[-1] = (out[-1][0] + " " + w, out[-1][1], e)
        else:
            out.append((w, a, e))
    return out


# The refusals of a sure model that a template of its own intent, read whole, decides again on (edge/home.py's
# `decide`), each measured on the in-template proxy (bench/home_proxy.py, docs/model-card-home-history.md)
REREAD = frozenset({"slot", "number", "dropped", "unknown", "nothing_matches", "conflict", "polarity", "ambiguous"})


def reread(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, names: Any,
           found: Sequence[Mapping[str, Any]] = (), other: bool = False) -> tuple[str, list[Mapping[str, Any]], str] | None:
    """(intent, the template's spans, what decided it) where the model is sure of `intent`, decide refused a slot, and
    exactly one intent's template reads the whole text (edge/home_templates.py's `read`), that same intent, or with
    `other` any intent (the model's reading was refused: a template then replaces a refusal, never an answer); None
    where none does, nor where the tagger (`found`) read a name the template frames as another slot. A template
    never overrules a sure model's answer (measured: docs/model-card-home-history.md)."""
    read = home_templates.read(schema, lang, text, names)
    if read is None or read.intent != intent and not other:
        return None
    return home_agree.template_spans(read, lang, text, names, found, schema)


def after_refusal(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str, names: Any,
                  found: Sequence[Mapping[str, Any]], carriers: bool = True) -> tuple[str, list[Mapping[str, Any]], str] | None:
    """The reading decide goes on with where the model is sure of `intent` but decide refused its reading (a `REREAD`
    reason): a template of its own intent, else of exactly one other (`reread`: the model's reading was refused, so
    a template of another intent overrules no answer; measured: proxy en/de/fr/es 96.6/93.6/94.1/91.8 ->
    96.9/94.1/94.5/92.5%, wrong lines and the template holdouts' unchanged; docs/model-card-home-history.md); else, with
    `carriers` (a Home Assistant intent), exactly one intent's carrier (German list and media lines: proxy de 94.1
    -> 94.8%), on the rescue's rules and reread's tagger check. None: the refusal stands."""
    read = reread(schema, intent, lang, text, names, found, other=True)
    if read is None and carriers:
        read = rescue(schema, intent, lang, text, found, names, templates=False)
        if read is not None and home_agree.tagger_disagrees(read[1], found, text, lang):
            read = None
    return read


def family(schema: Mapping[str, Any] | None, top_intent: str, lang: str) -> list[str]:
    """The intents a rescue considers for the model's top intent: itself first, then every other intent of `lang`
    with carrier patterns (edge/home_wildcards.py's `carrier_intents`: the list, timer, broadcast and media search
    intents). Not the top intent's siblings alone (the to-do and shopping list intents of one act): where the model
    is unsure of free text its top intent is as often a timer's, a light's or a vacuum's ("retira en quehaceres
    limpiar los canalones": HassVacuumStart on top). Measured on the in-template proxy's unsure lines
    (bench/home_proxy.py --failures, 2026-12-06, en/de/fr/es together): the top intent alone took 0 sibling lines;
    its list siblings of one act 20 right, 0 wrong; all five list intents 27 / 0; every carrier intent 55 / 0, and
    bench/home_proxy_other.py's acted-on count stayed 17 of 4,280 (docs/model-card-home-history.md)."""
    return [top_intent, *(i for i in home_wildcards.carrier_intents(schema, lang) if i != top_intent)]


def _carried(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
             found: Sequence[Mapping[str, Any]], names: Any, rivals: bool = True,
             got: tuple[Any, Any] | None = None) -> tuple[list[Mapping[str, Any]], str] | None:
    """(the spans to decide on, what decided it) where `intent` (the model's top intent or another, `family`) can
    stand on one of its carrier patterns read whole; None where not. `rivals`: refuse where another intent's
    template reads it too (off where `ranked` put this reading strictly first); `got`: the carrier's reading (captures,
    own words) ranked (edge/home_rivals.py), else the intent's first (`home_wildcards.reading`)."""
    got = got or home_wildcards.reading(schema, intent, lang, text, names)
    if got is None:
        return None
    caps, own = got
    # a name framed is an anchor as good as a word: "put fix the bike in Chores" (2 words + a list of the file)
    if len(own) + sum(1 for _, _, _, wild in caps if not wild) < MIN_OWN_WORDS:
        return None
    if _glued(schema, lang, text, caps) or _blurred(schema, lang, text, caps):
        return None
    # the names the carrier frames: exactly names of the file, of their own kind (a list's {name} is a thing)
    for slot, a, e, wild in caps:
        if not wild and (names is None or not names.said_exactly(slot, text[a:e], lang)):
            return None
    # one of HA's templates of another intent says it too (whatever the names file holds): the words do not decide
    # which. Except where this reading frames a name of the file and the other's frames none ("add X to Shopping
    # List": HassListAddItem's list named, over HassShoppingListAddItem's "add {item} to my shopping list"):
    # Home Assistant ranks the reading with a name of the home's lists first
    framed = sum(1 for _, _, _, wild in caps if not wild)
    for other in home_wildcards.carrier_intents(schema, lang) if rivals else ():
        n = home_rivals.most_names(schema, other, lang, text) if other != intent else None
        # ... and where this reading frames none, the other's counts only if it can frame names of the file: a list
        # the home has not ("put coffee filters in my *list*") is no reading Home Assistant's matcher takes
        if n is not None and not (n == 0 < framed) and (
                framed or not n or home_rivals.reads_with_home_names(schema, other, lang, text, names)):
            return None
    # the tagger's names on the carrier's own words are the template's words in Home Assistant's reading ("add X to my
    # *shopping* list" where the home has no list "Shopping List": the model's HassListAddItem named "shopping")
    found = _command_for_name(schema, intent, lang, text, found, caps)
    spans = _off_own_words(home_wildcards.apply(schema, intent, lang, text, found, names, caps), got)
    # `apply` keeps the tagger's spans where it reads the words otherwise ("play the artist Miles Davis" with
    # the query tagged "artist Miles Davis"): then the carrier decided nothing, and the refusal stands
    taken = {(s.get("name"), s.get("start"), s.get("end")) for s in spans}
    if any((slot, a, e) not in taken for slot, a, e, wild in caps if not wild or slot in home_wildcards.FREE_SLOTS):
        return None
    # decide widens free text over words no template says (edge/home_freetext.py); a word the carrier read as
    # its own, widened into the query, is a slot the carrier does not capture ("play the *artist* Miles Davis":
    # media_class, a small list): the reading would lose it, so no rescue
    wide = {(s.get("name"), s.get("start"), s.get("end")) for s in home_freetext.extend(text, lang, intent, spans, names)}
    if any((slot, a, e) not in wide for slot, a, e, wild in caps if wild and slot in home_wildcards.FREE_SLOTS):
        return None
    # nothing left unexplained: a word of the carrier's own that is a value of a list Home Assistant's templates of
    # these intents read as a slot (the carrier matches it, never captures it) must be inside a span decided on:
    # a media class ("lied", "playlist": media_class, tagged as such). Else Home Assistant's reply has a slot this
    # one lacks
    spans_at = [(int(s.get("start", 0)), int(s.get("end", 0))) for s in spans]
    if any(_list_value(intent, lang, w) and not any(sa <= a and e <= se for sa, se in spans_at) for w, a, e in own):
        return None
    return spans, "carrier: " + " ".join(w for w, _, _ in own)


def _command_for_name(schema: Mapping[str, Any] | None, intent: str, lang: str, text: str,
                      found: Sequence[Mapping[str, Any]], caps: Sequence[tuple[str, int, int, bool]]
                      ) -> Sequence[Mapping[str, Any]]:
    """The tagger's spans with its timer `name` inside the carrier's `conversation_command` capture replaced by that
    capture ("*turn off the desk lamp* in 77 minutes": the tagger's name "desk lamp"), where decide refuses the name as
    a command (edge/home_durations.py's `delay_misfit`: no timer noun said, and every Home Assistant template naming
    a timer says its noun). The carrier never overrules the tagger's reading otherwise (home_wildcards' `_disputed`);
    here the tagger's reading is one decide already rejects, and the carrier's is Home Assistant's. `found` as it is
    where anything else lies in the capture, or no such capture."""
    from edge.home_durations import delay_misfit

    cap = next(((a, e) for slot, a, e, wild in caps if slot == "conversation_command" and wild), None)
    if intent != "HassStartTimer" or cap is None:
        return found
    a, e = cap
    inside = [s for s in found if int(s.get("start", 0)) < e and a < int(s.get("end", 0))]
    if not inside or any(s.get("name") != "name" or int(s.get("start", -1)) < a or e < int(s.get("end", -1))
                         for s in inside) or delay_misfit(intent, lang, text, found, schema) is None:
        return found
    command = {"name": "conversation_command", "entity": "conversation_command", "raw": text[a:e],
               "value": text[a:e], "start": a, "end": e, "confidence": 1.0}
    return sorted([*(s for s in found if s not in inside), command], key=lambda s: int(s.get("start", 0)))


def _list_value(intent: str, lang: str, word: str) -> bool:
    """Whether a folded word of the carrier's own is a media class word of HassMediaSearchAndPlay, the one carrier
    intent whose templates read a small list of words as a slot (media_class) besides numbers (timers' minutes
    and seconds lists: read by decide after the carrier, edge/names_schema.py's number_runs; measured on the
    in-template proxy). A media class said in several words ("die tv show") counts by its last word."""
    return intent == "HassMediaSearchAndPlay" and word in _media_words(lang)


@lru_cache(maxsize=16)
def _media_words(lang: str) -> frozenset[str]:
    classes = (VALUES.get(lang) or {}).get("media_class") or {}
    return frozenset(k.split()[-1] for k in classes if k.split())


def _glued(schema: Mapping[str, Any] | None, lang: str, text: str, caps: Sequence[tuple[str, int, int, bool]]) -> bool:
    """Whether a free capture has a German compound ending in one of the templates' own words ("Miles
    Daviswiedergabeliste": HA reads "{search_query}[ ]{media_class}" with the class glued on; a carrier
    capture never splits a word, so it would take "wiedergabeliste" into the query). German only: it glues
    nouns; elsewhere a word's ending is no word of its own ("devolver" ends in "volver", measured on the
    in-template proxy)."""
    if lang != "de":
        return False
    words = {w for w in home_wildcards.template_words(schema, lang) if len(w) >= _GLUED_MIN}
    folded = home_wildcards.fold(text)
    for slot, a, e, wild in caps:
        if wild and slot in home_wildcards.FREE_SLOTS:
            for w in folded[a:e].split():
                if any(len(w) > len(t) and w.endswith(t) for t in words):
                    return True
    return False


_GLUED_MIN = 5   # letters ("liste", "timer"): a shorter template word ("an", "ab") ends too many words


def _blurred(schema: Mapping[str, Any] | None, lang: str, text: str,
             caps: Sequence[tuple[str, int, int, bool]]) -> bool:
    """Whether a free capture right beside a name the carrier frames has a template word at that edge: "füge
    Fahrrad reparieren *zu* Einkaufsliste hinzu" read as item "Fahrrad reparieren zu" (the carrier's readings
    share words out as few or as many, none of them "the optional 'zu' is the template's"): Home Assistant's
    reading has the word as the template's, so the item would differ. Measured: one German wrong action on the
    in-template proxy without it (2026-12-06)."""
    # a short word only (a preposition, an article: "zu", "de", "dans"): a longer one at that edge is the free
    # text's own ("cocher de les corvées *Nettoyer* les gouttières": "nettoyer" is a vacuum template's word too,
    # and refusing it cost a French rescue, measured)
    words = {w for w in home_wildcards.template_words(schema, lang) if len(w) <= _BLUR_MAX}
    folded = home_wildcards.fold(text)
    named = [(a, e) for _, a, e, wild in caps if not wild]
    for slot, a, e, wild in caps:
        if not (wild and slot in home_wildcards.FREE_SLOTS):
            continue
        said = folded[a:e].split()
        if not said:
            continue
        if any(not folded[e:na].strip() for na, _ in named if na >= e) and said[-1] in words:
            return True
        if any(not folded[ne:a].strip() for _, ne in named if ne <= a) and said[0] in words:
            return True
    return False


_BLUR_MAX = 4   # letters of a template word `_blurred` looks for at a free capture's edge
